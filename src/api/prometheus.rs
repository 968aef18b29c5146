//! `/api/v1/allmetrics?format=prometheus[_all_hosts]` (`netdata-values.md` §5).

use std::fmt::Write as _;

use crate::model::{HostMeta, UnixTime};
use crate::storage::{HostId, Store};

use super::http::{Request, Response, CT_PROMETHEUS};
use super::numfmt::SimplePattern;
use super::{ApiContext, ApiError};

/// Seconds of data the first scrape of a scraper gets (`[prometheus:exporter] update every`).
const FIRST_SCRAPE_SECS: i64 = 10;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Average,
    Sum,
}

struct PromOpts {
    prefix: String,
    filter: Option<SimplePattern>,
    server: String,
    help: bool,
    types: bool,
    names: bool,
    timestamps: bool,
    hideunits: bool,
    source: Source,
}

fn yes(v: &str) -> bool {
    matches!(v, "yes" | "1" | "true")
}

fn parse_opts(req: &Request) -> Result<PromOpts, ApiError> {
    let mut o = PromOpts {
        prefix: "netdata".into(),
        filter: None,
        server: req.peer.map(|p| p.to_string()).unwrap_or_else(|| "localhost".into()),
        help: false,
        types: false,
        names: true,
        timestamps: true,
        hideunits: false,
        source: Source::Average,
    };
    for (k, v) in &req.query {
        match k.as_str() {
            "prefix" => o.prefix = v.chars().take(100).collect(),
            "filter" => o.filter = Some(SimplePattern::with_separators(v, &[' ', '|'])),
            "server" => o.server = v.chars().take(200).collect(),
            "help" => o.help = yes(v),
            "types" => o.types = yes(v),
            "names" => o.names = yes(v),
            "timestamps" => o.timestamps = yes(v),
            "hideunits" => o.hideunits = yes(v),
            "source" | "data" | "data source" | "data-source" | "data_source" | "datasource" => {
                o.source = match v.as_str() {
                    "average" => Source::Average,
                    "sum" | "volume" => Source::Sum,
                    "as-collected" | "as collected" | "as_collected" | "ascollected" | "raw" => {
                        return Err(ApiError::BadRequest("source=as-collected is not supported by this server; use average or sum.".into()))
                    }
                    other => return Err(ApiError::BadRequest(format!("Unknown source '{other}': use average or sum."))),
                }
            }
            _ => {}
        }
    }
    Ok(o)
}

/// Replaces every non-alphanumeric character by `_`.
fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}

fn units_part(units: &str) -> String {
    if units == "%" {
        return "_percent".into();
    }
    match units.strip_suffix("/s") {
        Some(base) => format!("_{}_persec", sanitize(base)),
        None => format!("_{}", sanitize(units)),
    }
}

/// Escapes `"`, `\` and newline in a label value; truncates to 256 bytes.
fn label_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if out.len() >= 256 {
            break;
        }
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A `system_info` value of a host, by any of `keys`.
pub(crate) fn sysinfo<'a>(h: &'a HostMeta, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| h.system_info.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v.as_str()))
}

/// Program name and version of a host (its stream `User-Agent`).
pub(crate) fn program(ctx: &ApiContext, h: &HostMeta, local: bool) -> (String, String) {
    let name = sysinfo(h, &["program_name", "application"]).map(str::to_string);
    let version = sysinfo(h, &["program_version", "version"]).map(str::to_string);
    if let Some(ua) = sysinfo(h, &["user-agent", "user_agent"]) {
        if let Some((n, v)) = ua.split_once('/') {
            return (name.unwrap_or_else(|| n.to_string()), version.unwrap_or_else(|| v.to_string()));
        }
    }
    let default_name = if local { ctx.settings.program_name.clone() } else { "netdata".into() };
    let default_version = if local { ctx.settings.version.clone() } else { "unknown".into() };
    (name.unwrap_or(default_name), version.unwrap_or(default_version))
}

/// Average of the tier-0 points of `[a, b]` after Netdata's window rules; `None` for no data.
fn dim_value(store: &dyn Store, s: crate::storage::SeriesId, ue: i64, after: i64, before: i64, buf: &mut Vec<crate::storage::TierPoint>) -> Option<(f64, i64)> {
    let mut a = after - 2 * ue;
    let mut b = before - 2 * ue;
    a -= a.rem_euclid(ue);
    b -= b.rem_euclid(ue);
    b -= ue;
    if a > b {
        a = b;
    }
    let r = store.retention(s, 0)?;
    a = a.max(r.first);
    b = b.min(r.last);
    if a > b {
        return None;
    }
    buf.clear();
    store.read(s, 0, a, b, buf).ok()?;
    if buf.is_empty() {
        return None;
    }
    let sum: f64 = buf.iter().map(|p| p.sum).sum();
    let n: u32 = buf.iter().map(|p| p.count).sum();
    Some((sum / f64::from(n.max(1)), b))
}

fn push_host(ctx: &ApiContext, out: &mut String, id: HostId, h: &HostMeta, o: &PromOpts, now: UnixTime, all_hosts: bool) {
    let store = ctx.store.as_ref();
    let key = (o.server.clone(), id);
    let last_seen = ctx.prom_last_scrape(&key);
    let after = last_seen.unwrap_or(now - FIRST_SCRAPE_SECS);
    let before = now;
    let local = h.guid == ctx.local_guid;
    let (app, ver) = program(ctx, h, local);
    let instance = label_value(&h.hostname);
    let source_name = match o.source {
        Source::Average => "average",
        Source::Sum => "sum",
    };
    if o.help {
        let seen = match last_seen {
            Some(t) => format!("last seen {} seconds ago", now - t),
            None => "last seen 0 never".into(),
        };
        let first = if last_seen.is_none() { "FIRST SEEN " } else { "" };
        let _ = write!(
            out,
            "# COMMENT netdata \"{instance}\" to {first}prometheus \"{}\", source \"{source_name}\", {seen}, time range {after} to {before}\n\n",
            label_value(&o.server)
        );
    }
    let _ = write!(out, "netdata_info{{instance=\"{instance}\",application=\"{}\",version=\"{}\"", label_value(&app), label_value(&ver));
    for l in h.labels.iter().filter(|l| l.source & 2 != 0) {
        let _ = write!(out, ",{}=\"{}\"", sanitize(&l.name), label_value(&l.value));
    }
    out.push_str("} 1");
    if o.timestamps {
        let _ = write!(out, " {}", now.saturating_mul(1000));
    }
    out.push('\n');
    if o.help {
        out.push('\n');
    }
    let inst = if all_hosts { format!(",instance=\"{instance}\"") } else { String::new() };
    let suffix = match o.source {
        Source::Average => "_average",
        Source::Sum => "_sum",
    };
    let mut buf = Vec::new();
    for (cid, c) in store.charts(id) {
        if c.is_obsolete() {
            continue;
        }
        let shown = if o.names { &c.name } else { &c.id };
        if let Some(f) = &o.filter {
            if !f.matches(shown) {
                continue;
            }
        }
        let ue = i64::from(c.update_every.max(1));
        let units = if o.hideunits { String::new() } else { units_part(&c.units) };
        let metric = format!("{}_{}{}{}", sanitize(&o.prefix), sanitize(&c.context), units, suffix);
        let mut chart_header_done = false;
        for (sid, d) in store.dimensions(cid) {
            if d.has_option("obsolete") {
                continue;
            }
            let Some((v, t)) = dim_value(store, sid, ue, after, before, &mut buf) else { continue };
            if o.help && !chart_header_done {
                chart_header_done = true;
                let _ = writeln!(
                    out,
                    "# COMMENT homogeneous chart \"{}\", context \"{}\", family \"{}\", units \"{}\"",
                    label_value(shown),
                    label_value(&c.context),
                    label_value(&c.family),
                    label_value(&c.units)
                );
            }
            let dim = if o.names { &d.name } else { &d.id };
            if o.help {
                let _ = writeln!(
                    out,
                    "# COMMENT {metric}: dimension \"{}\", value is {}, gauge, dt {after} to {t} inclusive",
                    label_value(dim),
                    label_value(&c.units)
                );
            }
            if o.types {
                let _ = writeln!(out, "# TYPE {metric} gauge");
            }
            let _ = write!(
                out,
                "{metric}{{chart=\"{}\",family=\"{}\",dimension=\"{}\"{inst}}} {v:.7}",
                label_value(shown),
                label_value(&c.family),
                label_value(dim)
            );
            if o.timestamps {
                let _ = write!(out, " {}", t.saturating_mul(1000));
            }
            out.push('\n');
        }
        if o.help && chart_header_done {
            out.push('\n');
        }
    }
    ctx.set_prom_last_scrape(key, now);
}

/// Answers `/api/v1/allmetrics` for `host` (the addressed host).
pub fn allmetrics(ctx: &ApiContext, host: (HostId, HostMeta), req: &Request, now: UnixTime) -> Result<Response, ApiError> {
    let format = req.param("format").unwrap_or("shell");
    let all = match format {
        "prometheus" => false,
        "prometheus_all_hosts" => true,
        "shell" | "json" => {
            return Err(ApiError::BadRequest(format!("format={format} is not supported by this server; use 'prometheus' or 'prometheus_all_hosts'.")))
        }
        _ => {
            return Err(ApiError::BadRequest(
                "Which format? 'shell', 'prometheus', 'prometheus_all_hosts' and 'json' are currently supported.".into(),
            ))
        }
    };
    let o = parse_opts(req)?;
    let mut out = String::with_capacity(64 * 1024);
    if all {
        for (id, h) in ctx.hosts_local_first() {
            push_host(ctx, &mut out, id, &h, &o, now, true);
        }
    } else {
        push_host(ctx, &mut out, host.0, &host.1, &o, now, false);
    }
    Ok(Response::new(200, CT_PROMETHEUS, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_name_parts() {
        assert_eq!(units_part("KiB/s"), "_KiB_persec");
        assert_eq!(units_part("%"), "_percent");
        assert_eq!(units_part("MiB"), "_MiB");
        assert_eq!(units_part("connected clients"), "_connected_clients");
        assert_eq!(sanitize("live.ctx_abs"), "live_ctx_abs");
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
