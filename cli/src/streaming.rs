//! What the CLI reads from parents: `/api/v1/info` (every Netdata) and `/api/v1/streaming`
//! (our daemon only). Parsing is tolerant: missing fields become `None`, unknown fields are
//! ignored, and hosts may come as an array or as an object keyed by hostname.
//!
//! # `GET /api/v1/streaming` as the CLI reads it
//!
//! ```json
//! {"hosts": [
//!   {"hostname": "child1", "guid": "machine-guid", "live": true, "hops": 1,
//!    "source": "10.0.0.5:40312", "api_key": "the key its live stream used",
//!    "replication": {"status": "done|in_progress|pending", "percent": 42.5,
//!                    "eta_seconds": 90, "missing_seconds": 600,
//!                    "charts_pending": 3, "charts_in_progress": 1, "charts_done": 200},
//!    "tiers": [{"tier": 0, "first_time": 1732000000, "last_time": 1732560000}]}
//! ],
//!  "outbound": [...]}
//! ```
//! Accepted aliases: `reachable` for `live`; `machine_guid` for `guid`; `key` for `api_key`;
//! `peer`/`from` for `source`; `state` for `replication.status`, whose values may also be
//! `finished|complete|synced|idle|none` (done), `running|replicating|active` (in progress),
//! `waiting|queued` (pending); without a status, `charts_in_progress > 0` means in progress
//! and `charts_pending > 0` pending; `replication` may be a bare string or a boolean
//! (true = in progress). A host without `replication` has nothing to replicate (done).
//! `completion`/`progress` alias `percent`, `eta` aliases `eta_seconds`, `gap_seconds`
//! aliases `missing_seconds`; tiers take `first`/`last` too.

use serde_json::Value;

/// One host as a parent reports it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct HostState {
    pub hostname: String,
    pub guid: Option<String>,
    /// `reachable` / `live`: the host streams (or is collected) right now.
    pub live: Option<bool>,
    pub hops: Option<i64>,
    /// Replication of this host into the reporting parent.
    pub replication: Option<Replication>,
    /// API key its live stream uses (only our daemon tells).
    pub api_key: Option<String>,
    /// Peer the live stream comes from.
    pub source: Option<String>,
    /// Per tier (first, last) time, seconds since the epoch.
    pub tiers: Vec<TierRange>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TierRange {
    pub tier: u32,
    pub first_time: Option<i64>,
    pub last_time: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplStatus {
    Done,
    InProgress,
    Pending,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Replication {
    pub status: ReplStatus,
    pub percent: Option<f64>,
    pub eta_seconds: Option<f64>,
    pub missing_seconds: Option<f64>,
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        Value::String(s) => crate::conf::parse_bool(s),
        _ => None,
    }
}

fn as_f64(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn as_str(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn parse_repl(v: &Value) -> Option<Replication> {
    let status_of = |s: &str| match s.to_ascii_lowercase().replace(['-', ' '], "_").as_str() {
        "done" | "finished" | "complete" | "completed" | "synced" | "in_sync" | "idle" | "none" => ReplStatus::Done,
        "in_progress" | "running" | "replicating" | "active" => ReplStatus::InProgress,
        "pending" | "waiting" | "queued" => ReplStatus::Pending,
        _ => ReplStatus::Unknown,
    };
    match v {
        Value::String(s) => Some(Replication { status: status_of(s), percent: None, eta_seconds: None, missing_seconds: None }),
        Value::Bool(b) => Some(Replication {
            status: if *b { ReplStatus::InProgress } else { ReplStatus::Done },
            percent: None,
            eta_seconds: None,
            missing_seconds: None,
        }),
        Value::Object(o) => {
            let mut status = o.get("status").or_else(|| o.get("state")).and_then(|s| s.as_str()).map(status_of);
            let pending = as_f64(o.get("charts_pending")).unwrap_or(0.0);
            let in_progress = as_f64(o.get("charts_in_progress")).unwrap_or(0.0);
            if status.is_none() {
                if let Some(b) = o.get("in_progress").or_else(|| o.get("replicating")).and_then(as_bool) {
                    status = Some(if b { ReplStatus::InProgress } else { ReplStatus::Done });
                } else if o.contains_key("charts_pending") || o.contains_key("charts_in_progress") {
                    status = Some(if in_progress > 0.0 {
                        ReplStatus::InProgress
                    } else if pending > 0.0 {
                        ReplStatus::Pending
                    } else {
                        ReplStatus::Done
                    });
                }
            }
            Some(Replication {
                status: status.unwrap_or(ReplStatus::Unknown),
                percent: as_f64(o.get("percent").or_else(|| o.get("completion")).or_else(|| o.get("progress"))),
                eta_seconds: as_f64(o.get("eta_seconds").or_else(|| o.get("eta"))),
                missing_seconds: as_f64(o.get("missing_seconds").or_else(|| o.get("gap_seconds"))),
            })
        }
        _ => None,
    }
}

fn parse_tiers(v: Option<&Value>) -> Vec<TierRange> {
    let Some(Value::Array(a)) = v else { return Vec::new() };
    a.iter()
        .take(16)
        .enumerate()
        .map(|(i, t)| TierRange {
            tier: as_f64(t.get("tier")).map(|x| x as u32).unwrap_or(i as u32),
            first_time: as_f64(t.get("first_time").or_else(|| t.get("first"))).map(|x| x as i64),
            last_time: as_f64(t.get("last_time").or_else(|| t.get("last"))).map(|x| x as i64),
        })
        .collect()
}

fn parse_host(name_hint: Option<&str>, v: &Value) -> Option<HostState> {
    let o = v.as_object()?;
    let hostname = as_str(o.get("hostname")).or_else(|| name_hint.map(str::to_string))?;
    Some(HostState {
        hostname,
        guid: as_str(o.get("guid").or_else(|| o.get("machine_guid"))),
        live: o.get("live").or_else(|| o.get("reachable")).and_then(as_bool),
        hops: as_f64(o.get("hops")).map(|h| h as i64),
        replication: o.get("replication").and_then(parse_repl),
        api_key: as_str(o.get("api_key").or_else(|| o.get("key"))),
        source: as_str(o.get("source").or_else(|| o.get("peer")).or_else(|| o.get("from"))),
        tiers: parse_tiers(o.get("tiers")),
    })
}

/// Parses `/api/v1/streaming`. Accepts `{"hosts": [...]}`, `{"hosts": {"name": {...}}}` or a
/// bare array. At most 100,000 hosts are read.
pub fn parse_streaming(v: &Value) -> Vec<HostState> {
    let hosts = v.get("hosts").unwrap_or(v);
    match hosts {
        Value::Array(a) => a.iter().take(100_000).filter_map(|h| parse_host(None, h)).collect(),
        Value::Object(o) => o.iter().take(100_000).filter_map(|(k, h)| parse_host(Some(k), h)).collect(),
        _ => Vec::new(),
    }
}

/// What `/api/v1/info` tells about a parent and the hosts it holds.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Info {
    pub guid: Option<String>,
    pub version: Option<String>,
    pub hosts: Vec<HostState>,
}

/// Parses `/api/v1/info`: `uid`, `version`, `mirrored_hosts_status` (`guid`, `hostname`,
/// `reachable`, `hops`), falling back to the bare `mirrored_hosts` name list.
pub fn parse_info(v: &Value) -> Info {
    let mut hosts: Vec<HostState> = match v.get("mirrored_hosts_status") {
        Some(Value::Array(a)) => a.iter().take(100_000).filter_map(|h| parse_host(None, h)).collect(),
        _ => Vec::new(),
    };
    if hosts.is_empty() {
        if let Some(Value::Array(a)) = v.get("mirrored_hosts") {
            hosts = a
                .iter()
                .take(100_000)
                .filter_map(|n| n.as_str())
                .map(|n| HostState { hostname: n.to_string(), ..Default::default() })
                .collect();
        }
    }
    Info { guid: as_str(v.get("uid")), version: as_str(v.get("version")), hosts }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn streaming_array_and_object_forms() {
        let a = json!({"hosts": [{"hostname": "c1", "guid": "g1", "live": true, "hops": 1,
            "replication": {"status": "in_progress", "percent": 42.5, "eta_seconds": 10},
            "tiers": [{"tier": 0, "first_time": 1, "last_time": 2}]}]});
        let h = parse_streaming(&a);
        assert_eq!(h.len(), 1);
        let r = h[0].replication.clone().expect("repl");
        assert_eq!(r.status, ReplStatus::InProgress);
        assert_eq!(r.percent, Some(42.5));
        assert_eq!(h[0].tiers[0].last_time, Some(2));
        let b = json!({"hosts": {"c2": {"reachable": "yes", "replication": {"charts_pending": 0, "charts_in_progress": 0}}}});
        let h = parse_streaming(&b);
        assert_eq!(h[0].hostname, "c2");
        assert_eq!(h[0].live, Some(true));
        assert_eq!(h[0].replication.as_ref().map(|r| r.status), Some(ReplStatus::Done));
    }

    #[test]
    fn netdatad_streaming_shape() {
        // Exactly what daemon/src/status.rs writes (a local host, a live child replicating, a
        // host that is no longer connected).
        let v: Value = serde_json::from_str(r#"{"node": {"guid": "p", "hostname": "p1", "version": "0.1.0"},
 "hosts": [
  {"hostname": "p1", "guid": "p", "local": true, "live": true, "hops": 0, "source": null, "api_key": null, "connected_at": null, "capabilities": [], "compression": null, "replication": {"status": "done", "percent": 100.0, "charts_total": 0, "charts_pending": 0, "charts_in_progress": 0, "charts_done": 0, "missing_from": null, "missing_to": null, "missing_seconds": 0, "points_replicated": 0, "rate_points_per_second": 0.0, "eta_seconds": 0}, "tiers": [{"tier": 0, "first_time": 10, "last_time": 20}, {"tier": 1, "first_time": null, "last_time": null}], "upstream": null},
  {"hostname": "c1", "guid": "g1", "local": false, "live": true, "hops": 1, "source": "127.0.0.1:40312", "api_key": "k", "connected_at": 1732560000, "capabilities": ["VCAPS", "REPLICATION"], "compression": false, "replication": {"status": "in_progress", "percent": 42.5, "charts_total": 200, "charts_pending": 100, "charts_in_progress": 15, "charts_done": 85, "missing_from": 100, "missing_to": 700, "missing_seconds": 600, "points_replicated": 12000, "rate_points_per_second": 4000.0, "eta_seconds": null}, "tiers": [], "upstream": {"destination": "tcp:127.0.0.1:19999", "connected": true, "bytes_queued": 0, "bytes_sent": 123, "connects": 1, "last_error": null}},
  {"hostname": "c2", "guid": "g2", "local": false, "live": false, "hops": 1, "source": null, "api_key": null, "connected_at": null, "capabilities": [], "compression": null, "replication": {"status": "done", "percent": 100.0, "charts_total": 0, "charts_pending": 0, "charts_in_progress": 0, "charts_done": 0, "missing_from": null, "missing_to": null, "missing_seconds": 0, "points_replicated": 0, "rate_points_per_second": 0.0, "eta_seconds": 0}, "tiers": [], "upstream": null}
 ],
 "outbound": []
}"#).expect("json");
        let h = parse_streaming(&v);
        assert_eq!(h.len(), 3);
        assert_eq!((h[0].live, h[0].hops, h[0].source.as_deref()), (Some(true), Some(0), None));
        assert_eq!(h[0].replication.as_ref().map(|r| r.status), Some(ReplStatus::Done));
        assert_eq!(h[0].tiers[0].first_time, Some(10));
        assert_eq!(h[0].tiers[1].last_time, None);
        let r = h[1].replication.clone().expect("repl");
        assert_eq!((r.status, r.percent, r.eta_seconds, r.missing_seconds), (ReplStatus::InProgress, Some(42.5), None, Some(600.0)));
        assert_eq!((h[1].api_key.as_deref(), h[1].source.as_deref()), (Some("k"), Some("127.0.0.1:40312")));
        assert_eq!((h[2].live, h[2].replication.as_ref().map(|r| r.status)), (Some(false), Some(ReplStatus::Done)));
    }

    #[test]
    fn garbage_gives_no_hosts_not_a_panic() {
        for v in [json!(null), json!(3), json!({"hosts": 5}), json!([1, "x", {"nohostname": 1}])] {
            assert!(parse_streaming(&v).is_empty());
        }
    }

    #[test]
    fn info_of_a_real_netdata() {
        let v = json!({"version": "v1.37.1", "uid": "u", "mirrored_hosts": ["p", "c"],
            "mirrored_hosts_status": [{"guid": "u", "hostname": "p", "reachable": true, "hops": 0, "claim_id": null},
                                      {"guid": "g", "hostname": "c", "reachable": false, "hops": 1}]});
        let i = parse_info(&v);
        assert_eq!(i.hosts.len(), 2);
        assert_eq!(i.hosts[1].live, Some(false));
        assert_eq!(i.version.as_deref(), Some("v1.37.1"));
    }
}
