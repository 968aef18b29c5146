//! Sibling sync (issue 5, beyond Netdata), the daemon side of
//! [`ndcluster::replication_sibling`] (formats and the no-double-counting rules are there):
//!
//! * `GET /api/v1/replicate?host=<guid|hostname>&chart=<id>&after=<s>&before=<s>[&tier=N]`:
//!   our stored points of `(after, before]` for a sibling parent. Tier 0 (the default) as
//!   replication-reply lines (text/plain, at most 3600 steps; `REND`'s `before` tells how far
//!   it got); tiers ≥ 1 as newline-delimited JSON aggregates (at most [`MAX_AGG_POINTS`]; the
//!   header's `covered_to` tells how far).
//! * `GET /api/v1/replicate/inventory[?host=<guid|hostname>]`: the hosts we hold (with
//!   per-tier first/last), or one host's metadata, charts, dimensions and per-tier first/last.
//! * A **sync pass** ([`spawn_backfill`] once a host's replication from its sender is done,
//!   for that host; [`start`] at daemon start, for every host the siblings hold): for each
//!   `[stream] destination` that is our daemon *and a sibling* (its machine GUID is a host of
//!   ours: it streamed to us at least once; else it is `upstream`, a parent higher up whose
//!   fleet is not ours to copy), read its inventory, create the hosts, charts
//!   and dimensions we lack (archived: nobody collects them here), then per chart fill tier 0
//!   (holes of any dimension, history before our first point within `seconds to replicate`,
//!   and the tail of hosts not live here), then tiers ≥ 1 for slots older than our tier 0.
//!
//! **Invariants:** a pass only ever writes into holes (the store refuses overlaps and the
//! library refuses double counting); one pass at a time (requests during a pass are merged
//! into one next pass; `running` is reset by a drop guard); bounded requests per pass
//! ([`MAX_REQUESTS`]; a pass out of them queues one that resumes at the same host), each
//! within [`REQUEST_DEADLINE`], none once the daemon stops; every time a request or a sibling
//! gives is clamped (served ranges to the stored range, at most [`MAX_ASK_STEPS`] steps, else
//! 400; a sibling's first/last to our retention and now); a destination that is
//! not our daemon (a real Netdata answers 404 or something else) or is unreachable is left
//! alone for a growing while. State and totals are in `GET /api/v1/streaming` (`sibling_sync`).

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use ndcluster::api::http::{Request, Response};
use ndcluster::replication_out::{answer_range, ReplyLimits};
use ndcluster::replication_sibling::{
    answer_tier, apply_aggregates, apply_reply, Asked, clip, ensure_chart, ensure_host, host_inventory, missing, node_inventory, union, upper_limit, Edges, HostInventory, NodeInventory, SiblingError, MAX_HOLES, MAX_HOSTS,
};
use ndcluster::storage::{SeriesId, Store};

use crate::local::now_s;
use crate::Shared;

/// Largest tier-0 range asked in one request (steps of the chart).
const CHUNK_STEPS: i64 = 3600;
/// Most aggregates in one tier answer.
pub const MAX_AGG_POINTS: usize = 200_000;
/// Largest answer read from a sibling.
const MAX_BODY: u64 = 64 << 20;
/// Most requests of one pass, over all siblings.
pub const MAX_REQUESTS: u64 = 100_000;
/// Most siblings asked.
const MAX_SIBLINGS: usize = 16;
/// Most passes one runner thread does back to back (requests merged while one runs).
const MAX_PASSES_PER_RUN: u32 = 64;
/// Longest one request to a sibling may take, its whole answer read.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(120);
/// Wait before the passes left over by a runner that did [`MAX_PASSES_PER_RUN`] go on.
const RESUME_DELAY: Duration = Duration::from_secs(30);
/// Widest tier-0 range one `GET /api/v1/replicate` may ask (steps of the chart).
pub const MAX_ASK_STEPS: i64 = 86_400;
/// Oldest upper-tier history asked of a sibling when the tier has no time-based retention.
const MAX_UPPER_SECS: i64 = 10 * 365 * 86_400;

/// The longest `seconds to replicate` of `netdata.conf` and every `stream.conf` section (a
/// child's replication may write tier 0 that far back).
fn max_replicate_secs(shared: &Shared) -> i64 {
    let sc = shared.stream_conf();
    let per_section = sc.sections.values().flat_map(|s| [s.as_api_key.seconds_to_replicate, s.as_machine.seconds_to_replicate]).flatten();
    let m = per_section.chain(sc.stream.seconds_to_replicate).fold(shared.settings.netdata.db.seconds_to_replicate, u64::max);
    m.min(MAX_UPPER_SECS as u64) as i64
}

fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn find_host(store: &dyn Store, host: &str) -> Option<ndcluster::storage::HostId> {
    store.hosts().into_iter().find(|(_, m)| m.guid.eq_ignore_ascii_case(host) || m.hostname == host).map(|(h, _)| h)
}

fn is_live(shared: &Shared, guid: &str) -> bool {
    guid.eq_ignore_ascii_case(&shared.guid) || shared.live.get(guid).is_some()
}

pub fn handle(shared: &Shared, req: &Request) -> Response {
    let store = &shared.store;
    if req.path == "/api/v1/replicate/inventory" {
        let body = match req.param("host") {
            None => serde_json::to_vec(&node_inventory(store.as_ref(), &shared.guid, &|g| is_live(shared, g))),
            Some(host) => {
                let Some(inv) = find_host(store.as_ref(), host).and_then(|h| {
                    let guid = store.host(h)?.guid;
                    host_inventory(store.as_ref(), h, is_live(shared, &guid))
                }) else {
                    return Response::text(404, format!("no host {host}"));
                };
                serde_json::to_vec(&inv)
            }
        };
        return match body {
            Ok(b) => Response::json(b),
            Err(e) => Response::text(500, format!("encoding the inventory: {e}")),
        };
    }
    if req.path != "/api/v1/replicate" {
        return Response::text(404, format!("no such endpoint {}", req.path));
    }
    let num = |k: &str| req.param(k).and_then(|v| v.parse::<i64>().ok());
    let (Some(host), Some(chart), Some(after), Some(before)) = (req.param("host"), req.param("chart"), num("after"), num("before")) else {
        return Response::text(400, "host, chart, after and before are required");
    };
    if before <= after {
        return Response::text(400, format!("before ({before}) must be later than after ({after})"));
    }
    let tier = match req.param("tier").map(str::parse::<usize>) {
        None => 0,
        Some(Ok(t)) if t < store.config().tiers.len() => t,
        Some(_) => return Response::text(400, format!("tier must be 0..{}", store.config().tiers.len())),
    };
    let Some(hid) = find_host(store.as_ref(), host) else {
        return Response::text(404, format!("no host {host}"));
    };
    let Some((cid, meta)) = store.charts(hid).into_iter().find(|(_, m)| m.id == chart) else {
        return Response::text(404, format!("host {host} has no chart {chart}"));
    };
    let dims = store.dimensions(cid);
    let series: Vec<SeriesId> = dims.iter().map(|(s, _)| *s).collect();
    let metas: Vec<_> = dims.into_iter().map(|(_, m)| m).collect();
    let mut out = Vec::with_capacity(64 * 1024);
    if tier > 0 {
        return match answer_tier(store.as_ref(), chart, &series, &metas, tier, meta.update_every, after, before, MAX_AGG_POINTS, &mut out) {
            Ok(_) => Response::new(200, "application/x-ndjson", out),
            Err(e) => Response::text(500, format!("reading tier {tier} of {chart}: {e}")),
        };
    }
    let ue = i64::from(meta.update_every.max(1));
    if before.checked_sub(after).is_none_or(|span| span > MAX_ASK_STEPS * ue) {
        return Response::text(400, format!("at most {MAX_ASK_STEPS} steps of {ue} s may be asked at once"));
    }
    answer_range(store.as_ref(), chart, &series, &metas, ue, after, before, now_s(), ReplyLimits { max_steps: CHUNK_STEPS as usize, max_bytes: 8 << 20 }, &mut out);
    Response::new(200, "text/plain; charset=utf-8", out)
}

/// What to sync in a pass.
#[derive(Clone, Debug, PartialEq)]
enum Scope {
    /// Every host the siblings hold (daemon start).
    All,
    /// These hosts (their replication from their sender is done).
    Hosts(BTreeSet<String>),
}

impl Scope {
    fn merge(self, other: Scope) -> Scope {
        match (self, other) {
            (Scope::Hosts(mut a), Scope::Hosts(b)) => {
                a.extend(b);
                if a.len() > MAX_HOSTS {
                    Scope::All
                } else {
                    Scope::Hosts(a)
                }
            }
            _ => Scope::All,
        }
    }
}

/// What we know of one sibling.
#[derive(Clone, Debug, Default)]
struct Peer {
    /// `ok`, `self`, `upstream`, `not_ours`, `unreachable`.
    state: &'static str,
    /// Its machine GUID, once it answered.
    guid: Option<String>,
    failures: u32,
    /// Not asked again before this (seconds since the epoch).
    retry_at: Option<i64>,
    last_ok: Option<i64>,
    last_error: Option<String>,
    /// A pass over this scope ran out of requests at this host: the next one resumes there.
    cursor: Option<(Scope, String)>,
}

#[derive(Default)]
struct SyncState {
    running: bool,
    /// The daemon is stopping: no request is made any more.
    stopping: bool,
    queued: Option<(Scope, i64)>,
    passes: u64,
    last_pass_start: Option<i64>,
    last_pass_end: Option<i64>,
    last_pass_seconds: f64,
    points_filled: u64,
    aggregates_filled: u64,
    points_skipped: u64,
    hosts_added: u64,
    charts_added: u64,
    dimensions_added: u64,
    requests: u64,
    last_error: Option<String>,
    peers: HashMap<String, Peer>,
}

/// State of the sibling sync of this node (in `GET /api/v1/streaming` as `sibling_sync`).
#[derive(Default)]
pub struct SiblingSync {
    inner: Mutex<SyncState>,
}

impl SiblingSync {
    fn lock(&self) -> std::sync::MutexGuard<'_, SyncState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The daemon is stopping: a running pass ends before its next request, none starts.
    pub fn stop(&self) {
        self.lock().stopping = true;
    }

    fn stopping(&self) -> bool {
        self.lock().stopping
    }

    /// The `sibling_sync` object of `/api/v1/streaming`.
    pub fn status_json(&self, out: &mut String) {
        let g = self.lock();
        let opt = |v: Option<i64>| v.map_or_else(|| "null".to_string(), |x| x.to_string());
        let state = if g.running { "running" } else if g.passes == 0 { "idle" } else { "done" };
        let _ = write!(
            out,
            "{{\"state\": \"{state}\", \"passes\": {}, \"last_pass_start\": {}, \"last_pass_end\": {}, \"last_pass_seconds\": {:.3}, \"points_filled\": {}, \"aggregates_filled\": {}, \"points_skipped\": {}, \"hosts_added\": {}, \"charts_added\": {}, \"dimensions_added\": {}, \"requests\": {}, \"last_error\": {}, \"siblings\": [",
            g.passes,
            opt(g.last_pass_start),
            opt(g.last_pass_end),
            g.last_pass_seconds,
            g.points_filled,
            g.aggregates_filled,
            g.points_skipped,
            g.hosts_added,
            g.charts_added,
            g.dimensions_added,
            g.requests,
            g.last_error.as_deref().map_or_else(|| "null".into(), js)
        );
        let mut peers: Vec<_> = g.peers.iter().collect();
        peers.sort_by(|a, b| a.0.cmp(b.0));
        for (i, (dest, p)) in peers.into_iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(
                out,
                "{{\"destination\": {}, \"state\": \"{}\", \"guid\": {}, \"failures\": {}, \"retry_at\": {}, \"last_ok\": {}, \"last_error\": {}, \"resume_at_host\": {}}}",
                js(dest),
                p.state,
                p.guid.as_deref().map_or_else(|| "null".into(), js),
                p.failures,
                opt(p.retry_at),
                opt(p.last_ok),
                p.last_error.as_deref().map_or_else(|| "null".into(), js),
                p.cursor.as_ref().map_or_else(|| "null".into(), |c| js(&c.1))
            );
        }
        out.push_str("]}");
    }
}

/// What one GET got.
enum Got {
    Answer(u16, Vec<u8>),
    /// The answer is larger than [`MAX_BODY`].
    TooLarge,
}

fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<Got> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: sibling\r\nConnection: close\r\n\r\n")?;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        if Instant::now() > deadline {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, format!("no complete answer within {} s", REQUEST_DEADLINE.as_secs())));
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        if buf.len() as u64 + n as u64 > MAX_BODY {
            return Ok(Got::TooLarge);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| bad("no HTTP header"))?;
    let status = std::str::from_utf8(&buf[..head_end]).ok().and_then(|h| h.split_whitespace().nth(1)?.parse().ok()).ok_or_else(|| bad("bad status line"))?;
    Ok(Got::Answer(status, buf[head_end + 4..].to_vec()))
}

/// Percent-encodes a query value.
fn q(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            s.push(b as char);
        } else {
            let _ = write!(s, "%{b:02X}");
        }
    }
    s
}

/// Why a sibling is given up for this pass.
enum PeerFailure {
    Unreachable(String),
    NotOurs(String),
    /// An answer over [`MAX_BODY`] (one host's inventory: that host is left out).
    TooLarge(String),
    /// This pass made [`MAX_REQUESTS`] requests; the next pass goes on.
    Budget,
    /// The daemon is stopping.
    Stopping,
}

/// A sibling in a pass.
struct Sibling<'a> {
    name: String,
    addr: SocketAddr,
    shared: &'a Shared,
    /// Requests left in this pass (shared by all siblings).
    budget: &'a mut u64,
    totals: Totals,
    /// Its machine GUID, once it answered.
    guid: Option<String>,
    /// The host being synced (where a pass out of requests resumes).
    at_host: Option<String>,
}

#[derive(Default, Clone, Copy)]
struct Totals {
    points: u64,
    aggregates: u64,
    skipped: u64,
    hosts: u64,
    charts: u64,
    dims: u64,
    requests: u64,
}

impl Sibling<'_> {
    /// GET `path`; `Ok(None)` for our daemon's 404 of an unknown host or chart.
    fn get(&mut self, path: &str) -> Result<Option<Vec<u8>>, PeerFailure> {
        if self.shared.repl.siblings.stopping() {
            return Err(PeerFailure::Stopping);
        }
        if *self.budget == 0 {
            return Err(PeerFailure::Budget);
        }
        *self.budget -= 1;
        self.totals.requests += 1;
        match http_get(self.addr, path) {
            Ok(Got::Answer(200, body)) => Ok(Some(body)),
            Ok(Got::Answer(404, body)) if body.starts_with(b"no host ") || body.windows(14).any(|w| w == b" has no chart ") => Ok(None),
            // Overloaded or failing for now: tried again soon, like an unreachable one.
            Ok(Got::Answer(status @ 500..=599, _)) => Err(PeerFailure::Unreachable(format!("GET {path} answered {status}"))),
            Ok(Got::Answer(status, _)) => Err(PeerFailure::NotOurs(format!("GET {path} answered {status}"))),
            Ok(Got::TooLarge) => Err(PeerFailure::TooLarge(format!("GET {path}: the answer is larger than {MAX_BODY} bytes"))),
            Err(e) => Err(PeerFailure::Unreachable(format!("GET {path}: {e}"))),
        }
    }

    fn host_inventory(&mut self, guid: &str) -> Result<Option<HostInventory>, PeerFailure> {
        let Some(body) = self.get(&format!("/api/v1/replicate/inventory?host={}", q(guid)))? else { return Ok(None) };
        serde_json::from_slice(&body).map(Some).map_err(|e| PeerFailure::NotOurs(format!("host inventory of {guid}: {e}")))
    }

    /// Fills one host from this sibling.
    fn sync_host(&mut self, inv: &HostInventory, seconds: i64) -> Result<(), PeerFailure> {
        // With no tier-0 point of ours, upper-tier slots are filled only before the longest
        // window any child's replication may write tier 0 in.
        let replicate_secs = max_replicate_secs(self.shared).max(seconds);
        let store: &dyn Store = self.shared.store.as_ref();
        let guid = inv.host.guid.clone();
        let (hid, added) = match ensure_host(store, &inv.host) {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(host = %inv.host.hostname, error = %e, "creating a sibling's host failed");
                return Ok(());
            }
        };
        if added {
            self.totals.hosts += 1;
            tracing::info!(host = %inv.host.hostname, guid = %guid, peer = %self.name, "host added from a sibling (archived)");
        }
        let live_here = is_live(self.shared, &guid);
        let cfg = store.config().clone();
        let ours: Vec<u32> = cfg.tiers.iter().enumerate().map(|(i, t)| if i == 0 { 1 } else { t.iterations.max(1) }).collect();
        // Upper tiers are comparable only while every tier up to them has the same iterations.
        let tiers = ours.iter().zip(&inv.iterations).take_while(|(a, b)| a == b).count();
        let now = now_s();
        for chart in &inv.charts {
            let ec = match ensure_chart(store, hid, chart) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(host = %inv.host.hostname, chart = %chart.chart.id, error = %e, "creating a sibling's chart failed");
                    continue;
                }
            };
            self.totals.charts += u64::from(ec.chart_added);
            self.totals.dims += ec.dims_added as u64;
            if ec.update_every != chart.chart.update_every.max(1) || ec.series.is_empty() {
                continue;
            }
            let ue = ec.update_every;
            let uei = i64::from(ue);
            let id = &chart.chart.id;
            // Tier 0: holes of any dimension, history before ours, the tail of archived hosts.
            let sib0 = chart.tiers.first().copied().flatten();
            // The sibling's times are clamped to what we may hold: the last `seconds`, not
            // later than now.
            let span0 = sib0.map(|sp| (sp.first.max(now.saturating_sub(seconds.max(0))), sp.last.min(now))).filter(|(a, b)| a <= b);
            if let Some((from, to)) = span0 {
                let mut all = Vec::new();
                for s in ec.series.values() {
                    if let Ok(m) = missing(store, *s, 0, uei, from, to, Edges { leading: true, trailing: !live_here }) {
                        all.extend(m);
                    }
                }
                let ranges = clip(&union(all), from - uei, to);
                for (a, b) in ranges.into_iter().take(MAX_HOLES) {
                    let mut after = a;
                    let mut rounds = 0;
                    while after < b && rounds < 10_000 {
                        rounds += 1;
                        let before = b.min(after + CHUNK_STEPS * uei);
                        let path = format!("/api/v1/replicate?host={}&chart={}&after={after}&before={before}", q(&guid), q(id));
                        let Some(body) = self.get(&path)? else { break };
                        if !body.starts_with(b"RBEGIN") {
                            return Err(PeerFailure::NotOurs(format!("GET {path}: not a replication reply")));
                        }
                        match apply_reply(store, &ec.series, Asked { after, before, update_every: ue, now: now_s() }, &body) {
                            Ok(r) => {
                                self.totals.points += r.stored as u64;
                                self.totals.skipped += r.skipped as u64;
                                after = r.covered_to.filter(|&c| c > after && c <= before).unwrap_or(before);
                            }
                            Err(e) => {
                                tracing::warn!(host = %inv.host.hostname, chart = %id, error = %e, "storing a sibling's points failed");
                                break;
                            }
                        }
                    }
                }
            }
            // Tiers >= 1: only slots whose whole window is before our first tier-0 point, or,
            // with none, before the window tier 0 is replicated in (a child's replication may
            // still write tier-0 points there, and those are not checked against aggregates).
            for k in 1..tiers {
                let Some(sp) = chart.tiers.get(k).copied().flatten() else { continue };
                let width = cfg.tier_width(k, ue);
                // Clamped to our retention of this tier (a sibling's first may be anything).
                let keep = cfg.tiers.get(k).map_or(0, |t| t.retention_secs);
                let keep = if keep == 0 { MAX_UPPER_SECS } else { (keep as i64).min(MAX_UPPER_SECS) };
                let first = sp.first.max(now.saturating_sub(keep));
                let limits: HashMap<SeriesId, i64> = ec
                    .series
                    .values()
                    .map(|&s| {
                        let first0 = store.retention(s, 0).map_or(now.saturating_sub(replicate_secs), |r| r.first);
                        (s, upper_limit(first0, ue, width))
                    })
                    .collect();
                let mut all = Vec::new();
                for (&s, &limit) in &limits {
                    if let Ok(m) = missing(store, s, k, width, first, sp.last.min(limit).min(now), Edges { leading: true, trailing: true }) {
                        all.extend(m);
                    }
                }
                let allowed = |s: SeriesId, t: i64| limits.get(&s).is_some_and(|&l| t <= l);
                for (a, b) in union(all).into_iter().take(MAX_HOLES) {
                    let mut after = a;
                    let mut rounds = 0;
                    while after < b && rounds < 10_000 {
                        rounds += 1;
                        let path = format!("/api/v1/replicate?host={}&chart={}&after={after}&before={b}&tier={k}", q(&guid), q(id));
                        let Some(body) = self.get(&path)? else { break };
                        match apply_aggregates(store, id, k, width, &ec.series, &allowed, &body) {
                            Ok(r) => {
                                self.totals.aggregates += r.stored as u64;
                                self.totals.skipped += r.skipped as u64;
                                after = r.covered_to.filter(|&c| c > after).unwrap_or(b);
                            }
                            Err(e @ (SiblingError::Store(_) | SiblingError::WidthMismatch { .. })) => {
                                tracing::warn!(host = %inv.host.hostname, chart = %id, tier = k, error = %e, "storing a sibling's aggregates failed");
                                break;
                            }
                            Err(e) => return Err(PeerFailure::NotOurs(e.to_string())),
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Requests a pass over `scope`; runs it on a thread, or merges it into the next pass when
/// one is running.
fn request(shared: &Arc<Shared>, scope: Scope, seconds: i64) {
    let sync = &shared.repl.siblings;
    {
        let mut g = sync.lock();
        if g.stopping {
            return;
        }
        if g.running {
            g.queued = Some(match g.queued.take() {
                Some((s, secs)) => (s.merge(scope), secs.max(seconds)),
                None => (scope, seconds),
            });
            return;
        }
        g.running = true;
    }
    let sh = shared.clone();
    let spawned = std::thread::Builder::new().name("sibling-sync".into()).spawn(move || {
        // `running` is reset however the thread ends (a panic included).
        let _running = Running(&sh.repl.siblings);
        let mut next = Some((scope, seconds));
        let mut runs = 0;
        while let Some((scope, secs)) = next.take() {
            runs += 1;
            pass(&sh, &scope, secs);
            let mut g = sh.repl.siblings.lock();
            if g.stopping {
                g.queued = None;
                return;
            }
            next = g.queued.take();
            if next.is_some() && runs >= MAX_PASSES_PER_RUN {
                // Left for a new runner after a while (the scope is kept, not dropped).
                g.queued = next.take();
                drop(g);
                resume_later(&sh);
                return;
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the sibling sync thread");
        sync.lock().running = false;
    }
}

/// Resets `running` when the runner thread ends.
struct Running<'a>(&'a SiblingSync);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.lock().running = false;
    }
}

/// The hosts of a pass in order (by GUID), from `cursor` on when a previous pass over the same
/// scope stopped there.
fn in_order(mut guids: Vec<String>, cursor: Option<&str>) -> Vec<String> {
    guids.sort();
    guids.retain(|g| cursor.is_none_or(|c| g.as_str() >= c));
    guids
}

/// After [`RESUME_DELAY`], runs the queued pass (if nobody did meanwhile). The thread holds no
/// reference to the daemon while it sleeps.
fn resume_later(shared: &Arc<Shared>) {
    let weak: Weak<Shared> = Arc::downgrade(shared);
    let _ = std::thread::Builder::new().name("sibling-resume".into()).spawn(move || {
        std::thread::sleep(RESUME_DELAY);
        let Some(sh) = weak.upgrade() else { return };
        let queued = {
            let mut g = sh.repl.siblings.lock();
            if g.running || g.stopping {
                return;
            }
            g.queued.take()
        };
        if let Some((scope, secs)) = queued {
            request(&sh, scope, secs);
        }
    });
}

/// Once a host's replication from its sender is done: fill its remaining holes (tier 0 within
/// the last `seconds`, older upper-tier slots) from the siblings.
pub fn spawn_backfill(shared: Arc<Shared>, guid: String, seconds: i64) {
    if shared.stream_conf().stream.destinations.is_empty() {
        return;
    }
    // A destination we took for upstream has streamed to us: it is a sibling now, and
    // everything it holds is synced.
    let became_sibling = shared.repl.siblings.lock().peers.values().any(|p| p.state == "upstream" && p.guid.as_deref().is_some_and(|g| g.eq_ignore_ascii_case(&guid)));
    let scope = if became_sibling { Scope::All } else { Scope::Hosts([guid].into()) };
    request(&shared, scope, seconds);
}

/// At daemon start (a restored parent): one pass over everything the siblings hold; while a
/// sibling is unreachable, again after 15 s, 30 s, … (at most 8 tries, then only the per-host
/// passes). The retry thread holds no reference to the daemon while it sleeps.
///
/// Only on a parent (a node with an enabled API key or machine section in `stream.conf`): a
/// leaf child's destination is its parent, whose other hosts it must not copy.
pub fn start(shared: &Arc<Shared>) {
    let sc = shared.stream_conf();
    if sc.stream.destinations.is_empty() || !sc.sections.values().any(|s| s.enabled == Some(true)) {
        return;
    }
    let seconds = shared.settings.netdata.db.seconds_to_replicate.min(10 * 365 * 86_400) as i64;
    request(shared, Scope::All, seconds);
    let weak: Weak<Shared> = Arc::downgrade(shared);
    let _ = std::thread::Builder::new().name("sibling-retry".into()).spawn(move || {
        let mut delay = Duration::from_secs(15);
        for _ in 0..8 {
            std::thread::sleep(delay);
            let Some(sh) = weak.upgrade() else { return };
            if sh.repl.siblings.stopping() {
                return;
            }
            let (running, unreachable) = {
                let g = sh.repl.siblings.lock();
                (g.running, g.peers.values().any(|p| p.state == "unreachable") || g.passes == 0)
            };
            if !unreachable && !running {
                return;
            }
            if !running {
                request(&sh, Scope::All, seconds);
            }
            delay = (delay * 2).min(Duration::from_secs(600));
        }
    });
}

fn resolve(shared: &Shared) -> Vec<(String, SocketAddr)> {
    shared
        .stream_conf()
        .stream
        .destinations
        .iter()
        .take(MAX_SIBLINGS)
        .filter_map(|d| {
            let hp = d.host_port();
            let a = hp.to_socket_addrs().ok()?.next()?;
            Some((hp, a))
        })
        .collect()
}

fn pass(shared: &Arc<Shared>, scope: &Scope, seconds: i64) {
    let started = Instant::now();
    let now = now_s();
    shared.repl.siblings.lock().last_pass_start = Some(now);
    let mut budget = MAX_REQUESTS;
    let mut total = Totals::default();
    let mut last_error = None;
    let mut resume = false;
    for (name, addr) in resolve(shared) {
        // Backing off: a destination that is not ours always; an unreachable one only for the
        // start pass (a host's replication just finished: worth one connection attempt).
        let (skip, cursor) = {
            let g = shared.repl.siblings.lock();
            let p = g.peers.get(&name);
            let skip = p.is_some_and(|p| {
                let waiting = p.retry_at.is_some_and(|t| t > now);
                p.state == "self" || (waiting && (p.state == "not_ours" || p.state == "too_large" || *scope == Scope::All))
            });
            (skip, p.and_then(|p| p.cursor.clone()).filter(|c| c.0 == *scope).map(|c| c.1))
        };
        if skip {
            continue;
        }
        if shared.repl.siblings.stopping() {
            break;
        }
        let mut sib = Sibling { name: name.clone(), addr, shared, budget: &mut budget, totals: Totals::default(), guid: None, at_host: None };
        let res = sync_sibling(&mut sib, scope, seconds, cursor.as_deref());
        let (t, guid, at_host) = (sib.totals, sib.guid.take(), sib.at_host.take());
        for (a, b) in [(&mut total.points, t.points), (&mut total.aggregates, t.aggregates), (&mut total.skipped, t.skipped), (&mut total.hosts, t.hosts), (&mut total.charts, t.charts), (&mut total.dims, t.dims), (&mut total.requests, t.requests)] {
            *a += b;
        }
        if t.points + t.aggregates + t.hosts > 0 {
            // "sibling backfill done" marks the pass after a host's replication (bench/ waits
            // for it); the start pass has its own message.
            match scope {
                Scope::Hosts(_) => tracing::info!(peer = %name, points = t.points, aggregates = t.aggregates, hosts_added = t.hosts, charts_added = t.charts, requests = t.requests, "sibling backfill done"),
                Scope::All => tracing::info!(peer = %name, points = t.points, aggregates = t.aggregates, hosts_added = t.hosts, charts_added = t.charts, requests = t.requests, "sibling sync at start done"),
            }
        }
        let mut g = shared.repl.siblings.lock();
        let p = g.peers.entry(name.clone()).or_default();
        if guid.is_some() {
            p.guid = guid;
        }
        match res {
            Ok(Role::Synced) => {
                *p = Peer { state: "ok", guid: p.guid.take(), last_ok: Some(now_s()), ..Default::default() };
            }
            Ok(Role::IsSelf) => {
                tracing::info!(peer = %name, "a stream destination is this node itself; not a sibling");
                *p = Peer { state: "self", guid: p.guid.take(), ..Default::default() };
            }
            Ok(Role::Upstream) => {
                if p.state != "upstream" {
                    tracing::info!(peer = %name, guid = ?p.guid, "a stream destination never streamed to us: upstream, not a sibling; its hosts are not copied");
                }
                *p = Peer { state: "upstream", guid: p.guid.take(), ..Default::default() };
            }
            Err(PeerFailure::Stopping) => break,
            Err(PeerFailure::Budget) => {
                let msg = format!("{name}: the pass's budget of {MAX_REQUESTS} requests is used up; a next pass resumes at host {}", at_host.as_deref().unwrap_or("?"));
                tracing::info!(peer = %name, "{msg}");
                p.cursor = at_host.map(|h| (scope.clone(), h));
                last_error = Some(msg);
                resume = true;
                break;
            }
            Err(f) => {
                let (state, msg, base, max) = match f {
                    PeerFailure::Unreachable(m) => ("unreachable", m, 15, 600),
                    PeerFailure::NotOurs(m) => ("not_ours", m, 600, 6 * 3600),
                    PeerFailure::TooLarge(m) => ("too_large", m, 600, 3600),
                    PeerFailure::Budget | PeerFailure::Stopping => continue,
                };
                p.failures = p.failures.saturating_add(1);
                let wait = (base << p.failures.min(10).saturating_sub(1)).min(max);
                p.retry_at = Some(now_s() + wait);
                if p.state != state {
                    tracing::info!(peer = %name, reason = %msg, retry_in_s = wait, "sibling sync: {}", if state == "not_ours" { "destination is not one of our daemons" } else { "sibling unreachable" });
                }
                p.state = state;
                p.last_error = Some(msg.clone());
                last_error = Some(format!("{name}: {msg}"));
            }
        }
    }
    let mut g = shared.repl.siblings.lock();
    g.passes += 1;
    g.last_pass_end = Some(now_s());
    g.last_pass_seconds = started.elapsed().as_secs_f64();
    g.points_filled += total.points;
    g.aggregates_filled += total.aggregates;
    g.points_skipped += total.skipped;
    g.hosts_added += total.hosts;
    g.charts_added += total.charts;
    g.dimensions_added += total.dims;
    g.requests += total.requests;
    if last_error.is_some() {
        g.last_error = last_error;
    }
    if resume && !g.stopping {
        // The follow-up pass (the runner picks it up; the cursor says where to go on).
        g.queued = Some(match g.queued.take() {
            Some((s, secs)) => (s.merge(scope.clone()), secs.max(seconds)),
            None => (scope.clone(), seconds),
        });
    }
}

/// What a destination turned out to be.
enum Role {
    /// A sibling; synced.
    Synced,
    /// This node itself.
    IsSelf,
    /// Our daemon that never streamed to us (its machine GUID is no host of ours): a parent
    /// higher up, whose fleet is not ours to copy.
    Upstream,
}

/// Whether `guid` is a host of our store (it streamed to us at least once).
fn held_here(shared: &Shared, guid: &str) -> bool {
    shared.store.hosts().iter().any(|(_, m)| m.guid.eq_ignore_ascii_case(guid))
}

/// One sibling over `scope`, from host `cursor` on (sorted by GUID) when given.
fn sync_sibling(sib: &mut Sibling<'_>, scope: &Scope, seconds: i64, cursor: Option<&str>) -> Result<Role, PeerFailure> {
    let (node, guids): (String, Vec<String>) = match scope {
        Scope::All => {
            let body = sib.get("/api/v1/replicate/inventory")?.ok_or_else(|| PeerFailure::NotOurs("inventory answered 404".into()))?;
            let inv: NodeInventory = serde_json::from_slice(&body).map_err(|e| PeerFailure::NotOurs(format!("inventory: {e}")))?;
            (inv.guid, inv.hosts.into_iter().take(MAX_HOSTS).map(|h| h.guid).collect())
        }
        Scope::Hosts(h) => {
            let body = sib.get("/api/v1/info")?.ok_or_else(|| PeerFailure::NotOurs("/api/v1/info answered 404".into()))?;
            let info: serde_json::Value = serde_json::from_slice(&body).map_err(|e| PeerFailure::NotOurs(format!("/api/v1/info: {e}")))?;
            let uid = info["uid"].as_str().ok_or_else(|| PeerFailure::NotOurs("/api/v1/info has no uid".into()))?;
            (uid.to_string(), h.iter().cloned().collect())
        }
    };
    sib.guid = Some(node.clone());
    if node.eq_ignore_ascii_case(&sib.shared.guid) {
        return Ok(Role::IsSelf);
    }
    if !held_here(sib.shared, &node) {
        return Ok(Role::Upstream);
    }
    for guid in in_order(guids, cursor) {
        sib.at_host = Some(guid.clone());
        let inv = match sib.host_inventory(&guid) {
            Ok(Some(inv)) => inv,
            Ok(None) => continue,
            Err(PeerFailure::TooLarge(m)) => {
                // That host alone is left out; the others go on.
                tracing::warn!(peer = %sib.name, host = %guid, reason = %m, "a sibling's host inventory is too large; host not synced");
                sib.shared.repl.siblings.lock().last_error = Some(format!("{}: {m}", sib.name));
                continue;
            }
            Err(e) => return Err(e),
        };
        sib.sync_host(&inv, seconds)?;
    }
    Ok(Role::Synced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_runner_does_not_leave_the_sync_running() {
        let sync = SiblingSync::default();
        sync.lock().running = true;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _running = Running(&sync);
            panic!("a pass failed");
        }));
        assert!(r.is_err());
        assert!(!sync.lock().running);
    }

    #[test]
    fn a_pass_resumes_at_the_host_where_the_last_one_stopped() {
        let g = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(in_order(g(&["c", "a", "b"]), None), g(&["a", "b", "c"]));
        assert_eq!(in_order(g(&["c", "a", "b"]), Some("b")), g(&["b", "c"]));
        let hosts = Scope::Hosts(["x".to_string()].into());
        assert_eq!(hosts.clone().merge(Scope::Hosts(["y".to_string()].into())), Scope::Hosts(["x".to_string(), "y".to_string()].into()));
        assert_eq!(hosts.merge(Scope::All), Scope::All);
    }

    #[test]
    fn stopping_is_remembered() {
        let sync = SiblingSync::default();
        assert!(!sync.stopping());
        sync.stop();
        assert!(sync.stopping());
    }
}
