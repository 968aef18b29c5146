//! `netdatactl status`: every node against every parent.
//!
//! Reads `/api/v1/info` of each parent (any Netdata: `mirrored_hosts_status` gives `guid`,
//! `hostname`, `reachable`, `hops`) and, when the parent is one of ours, `/api/v1/streaming`
//! (replication state, percent, ETA, gap, tier ranges). A 404 on `/api/v1/streaming` marks a
//! real Netdata parent, shown with what its `/api/v1/info` tells.
//!
//! In sync means: every parent answered, every node is known to every parent, no parent is
//! replicating any node, and a node live on one parent is live on all.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::conf::{split_host_port, Doc, Paths};
use crate::error::{Error, Kind, Result};
use crate::http::{self, Url};
use crate::output;
use crate::streaming::{self, HostState, ReplStatus};
use crate::Ctx;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Parents to ask (default: this parent and the destinations in its stream.conf).
    #[arg(long, value_name = "URL[,URL...]", value_delimiter = ',')]
    pub parents: Vec<String>,
    /// Redraw the table every --interval seconds until interrupted (or --timeout).
    #[arg(long)]
    pub watch: bool,
    /// Wait until the cluster is in sync: exit 0 then, or 8 at --timeout.
    #[arg(long)]
    pub wait_synced: bool,
    /// Limit for --wait-synced and --watch (`90s`, `10m`, `2h`).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = super::quarantine::parse_duration)]
    pub timeout: Duration,
    /// Seconds between polls (--watch, --wait-synced).
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    pub interval: f64,
}

/// What one parent told.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ParentReport {
    pub url: String,
    pub reachable: bool,
    pub error: Option<String>,
    pub version: Option<String>,
    pub guid: Option<String>,
    /// True when the parent serves `/api/v1/streaming` (one of ours).
    pub ours: bool,
    pub hosts: Vec<HostState>,
}

/// One cell of the table.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Cell {
    Live { hops: Option<i64> },
    Replicating { percent: Option<f64>, eta_seconds: Option<f64>, missing_seconds: Option<f64>, hops: Option<i64> },
    Offline { hops: Option<i64> },
    Present,
    Missing,
    Unknown,
}

impl Cell {
    fn text(&self) -> String {
        let hops = |h: &Option<i64>| h.map(|h| format!(" h{h}")).unwrap_or_default();
        match self {
            Cell::Live { hops: h } => format!("live{}", hops(h)),
            Cell::Replicating { percent, eta_seconds, missing_seconds, hops: h } => {
                let mut s = "replicating".to_string();
                if let Some(p) = percent {
                    s.push_str(&format!(" {p:.0}%"));
                }
                if let Some(e) = eta_seconds {
                    s.push_str(&format!(" ETA {}", output::human_secs(*e)));
                }
                if let Some(m) = missing_seconds {
                    s.push_str(&format!(" gap {}", output::human_secs(*m)));
                }
                s.push_str(&hops(h));
                s
            }
            Cell::Offline { hops: h } => format!("offline{}", hops(h)),
            Cell::Present => "present".into(),
            Cell::Missing => "MISSING".into(),
            Cell::Unknown => "?".into(),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeRow {
    pub hostname: String,
    pub guid: Option<String>,
    /// One cell per parent, in the order of `parents`.
    pub cells: Vec<Cell>,
    /// Tier ranges as the first parent that knows them tells.
    pub tiers: Vec<streaming::TierRange>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub parents: Vec<ParentReport>,
    pub nodes: Vec<NodeRow>,
    pub in_sync: bool,
    pub summary: String,
}

/// Asks one parent.
pub fn probe(url: &str, timeout: Duration) -> ParentReport {
    let mut r = ParentReport { url: url.to_string(), reachable: false, error: None, version: None, guid: None, ours: false, hosts: Vec::new() };
    let base = match Url::parse(url) {
        Ok(u) => u,
        Err(e) => {
            r.error = Some(e.to_string());
            return r;
        }
    };
    r.url = base.base();
    let info = match http::get_json(&base.with_path("/api/v1/info"), timeout) {
        Ok(v) => streaming::parse_info(&v),
        Err(e) => {
            r.error = Some(e.to_string());
            return r;
        }
    };
    r.reachable = true;
    r.version = info.version;
    r.guid = info.guid;
    r.hosts = info.hosts;
    if let Ok((200, body)) = http::get(&base.with_path("/api/v1/streaming"), timeout) {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
            r.ours = true;
            for s in streaming::parse_streaming(&v) {
                let pos = r.hosts.iter().position(|h| match (&h.guid, &s.guid) {
                    (Some(a), Some(b)) => a == b,
                    _ => h.hostname == s.hostname,
                });
                match pos {
                    Some(i) => {
                        let h = &mut r.hosts[i];
                        h.replication = s.replication.clone().or(h.replication.take());
                        h.live = s.live.or(h.live);
                        h.hops = s.hops.or(h.hops);
                        h.guid = h.guid.take().or(s.guid.clone());
                        h.api_key = s.api_key.clone();
                        h.source = s.source.clone();
                        h.tiers = s.tiers.clone();
                    }
                    None => r.hosts.push(s),
                }
            }
        }
    }
    r
}

fn cell_for(p: &ParentReport, node_key: &str) -> Cell {
    if !p.reachable {
        return Cell::Unknown;
    }
    let Some(h) = p.hosts.iter().find(|h| key_of(h) == node_key) else { return Cell::Missing };
    if let Some(r) = &h.replication {
        if r.status != ReplStatus::Done {
            return Cell::Replicating { percent: r.percent, eta_seconds: r.eta_seconds, missing_seconds: r.missing_seconds, hops: h.hops };
        }
    }
    match h.live {
        Some(true) => Cell::Live { hops: h.hops },
        Some(false) => Cell::Offline { hops: h.hops },
        None => Cell::Present,
    }
}

fn key_of(h: &HostState) -> String {
    h.guid.clone().unwrap_or_else(|| format!("name:{}", h.hostname))
}

/// Builds the node × parent matrix and the summary.
pub fn build(parents: Vec<ParentReport>) -> Report {
    let mut nodes: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
    for p in &parents {
        for h in &p.hosts {
            nodes.entry(key_of(h)).or_insert_with(|| (h.hostname.clone(), h.guid.clone()));
        }
    }
    let mut rows: Vec<NodeRow> = nodes
        .into_iter()
        .map(|(k, (hostname, guid))| NodeRow {
            cells: parents.iter().map(|p| cell_for(p, &k)).collect(),
            tiers: parents.iter().flat_map(|p| p.hosts.iter()).find(|h| key_of(h) == k && !h.tiers.is_empty()).map(|h| h.tiers.clone()).unwrap_or_default(),
            hostname,
            guid,
        })
        .collect();
    rows.sort_by(|a, b| a.hostname.cmp(&b.hostname));
    let mut problems = Vec::new();
    for p in parents.iter().filter(|p| !p.reachable) {
        problems.push(format!("{} unreachable", p.url));
    }
    let (mut missing, mut repl, mut split) = (0, 0, 0);
    for r in &rows {
        let any_live = r.cells.iter().any(|c| matches!(c, Cell::Live { .. }));
        for c in &r.cells {
            match c {
                Cell::Missing => missing += 1,
                Cell::Replicating { .. } => repl += 1,
                Cell::Offline { .. } if any_live => split += 1,
                _ => {}
            }
        }
    }
    if missing > 0 {
        problems.push(format!("{missing} node copies missing"));
    }
    if repl > 0 {
        problems.push(format!("{repl} replicating"));
    }
    if split > 0 {
        problems.push(format!("{split} offline on a parent while live on another"));
    }
    if rows.is_empty() && problems.is_empty() {
        problems.push("no nodes reported".into());
    }
    let in_sync = problems.is_empty();
    let summary = if in_sync {
        format!("in sync: {} nodes on {} parents", rows.len(), parents.len())
    } else {
        format!("not in sync: {}", problems.join("; "))
    };
    Report { parents, nodes: rows, in_sync, summary }
}

/// The default parent list: this parent, then its stream.conf destinations.
pub fn default_parents(paths: &Paths) -> Vec<String> {
    let mut v = vec![paths.local_url()];
    if let Ok(doc) = Doc::load(&paths.stream_conf()) {
        for d in doc.get("stream", "destination").unwrap_or_default().split_whitespace() {
            let (h, p) = split_host_port(d, 19999);
            let u = format!("http://{h}:{p}");
            if !v.contains(&u) {
                v.push(u);
            }
        }
    }
    v
}

pub fn collect(urls: &[String], timeout: Duration) -> Report {
    let handles: Vec<_> = urls
        .iter()
        .take(64)
        .cloned()
        .map(|u| std::thread::spawn(move || probe(&u, timeout)))
        .collect();
    let parents = handles
        .into_iter()
        .zip(urls)
        .map(|(h, u)| {
            h.join().unwrap_or_else(|_| ParentReport {
                url: u.clone(),
                reachable: false,
                error: Some("probe failed".into()),
                version: None,
                guid: None,
                ours: false,
                hosts: Vec::new(),
            })
        })
        .collect();
    build(parents)
}

fn print(ctx: &mut Ctx<'_>, r: &Report) -> Result<()> {
    if ctx.json {
        return output::print_json(ctx.out, r);
    }
    let mut header: Vec<String> = vec!["NODE".into()];
    for p in &r.parents {
        let kind = if !p.reachable {
            "unreachable".to_string()
        } else if p.ours {
            "netdatad".to_string()
        } else {
            format!("netdata {}", p.version.clone().unwrap_or_default())
        };
        header.push(format!("{} ({})", p.url.trim_start_matches("http://"), kind.trim()));
    }
    let with_tiers = r.nodes.iter().any(|n| !n.tiers.is_empty());
    if with_tiers {
        header.push("RETENTION".into());
    }
    let hdr: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut t = output::table(&hdr);
    for n in &r.nodes {
        let mut row = vec![n.hostname.clone()];
        row.extend(n.cells.iter().map(Cell::text));
        if with_tiers {
            row.push(retention_text(&n.tiers));
        }
        t.add_row(row);
    }
    output::print_table(ctx.out, t)?;
    for p in r.parents.iter().filter(|p| !p.reachable) {
        writeln!(ctx.out, "{}: {}", p.url, p.error.clone().unwrap_or_default())?;
    }
    writeln!(ctx.out, "{}", r.summary)?;
    Ok(())
}

/// `t0 2d4h t1 30d`: how far back each tier goes.
fn retention_text(tiers: &[streaming::TierRange]) -> String {
    let v: Vec<String> = tiers
        .iter()
        .map(|t| match (t.first_time, t.last_time) {
            (Some(f), Some(l)) if l >= f => format!("t{} {}", t.tier, output::human_secs((l - f) as f64)),
            _ => format!("t{} -", t.tier),
        })
        .collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(" ")
    }
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<()> {
    let urls = if args.parents.is_empty() {
        default_parents(&Paths::load_or_default(&ctx.config)?)
    } else {
        for p in &args.parents {
            Url::parse(p)?;
        }
        args.parents.clone()
    };
    let http_timeout = Duration::from_secs(5);
    let interval = Duration::from_secs_f64(args.interval.clamp(0.05, 3600.0));
    let deadline = Instant::now() + args.timeout;
    if args.watch && !args.wait_synced {
        while Instant::now() < deadline {
            let r = collect(&urls, http_timeout);
            if ctx.tty && !ctx.json {
                write!(ctx.out, "\x1b[2J\x1b[H")?;
            }
            print(ctx, &r)?;
            ctx.out.flush()?;
            std::thread::sleep(interval);
        }
        return Ok(());
    }
    loop {
        let r = collect(&urls, http_timeout);
        if !args.wait_synced {
            let all_down = r.parents.iter().all(|p| !p.reachable);
            print(ctx, &r)?;
            if all_down {
                return Err(Error::new(Kind::Unreachable, format!("no parent answered ({})", urls.join(", "))));
            }
            return Ok(());
        }
        if r.in_sync {
            print(ctx, &r)?;
            return Ok(());
        }
        if args.watch {
            if ctx.tty && !ctx.json {
                write!(ctx.out, "\x1b[2J\x1b[H")?;
            }
            print(ctx, &r)?;
            ctx.out.flush()?;
        }
        if Instant::now() + interval > deadline {
            print(ctx, &r)?;
            return Err(Error::new(Kind::NotSynced, format!("timed out after {:?}: {}", args.timeout, r.summary)));
        }
        std::thread::sleep(interval);
    }
}
