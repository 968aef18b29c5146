//! `GET /api/v1/streaming`: for every host this node holds, whether it is live and from which
//! peer, hops, negotiated capabilities, replication state, each tier's first/last time; and
//! the outbound side (destination in use, state, bytes queued). `netdatactl status` and
//! `quarantine --until-synced` read it. Shape (all times in seconds since the epoch):
//!
//! ```json
//! {"node": {"guid": "..", "hostname": "..", "version": ".."},
//!  "hosts": [{"hostname": "..", "guid": "..", "local": false, "live": true, "hops": 1,
//!             "source": "127.0.0.1:40312", "api_key": "..", "connected_at": 1732560000,
//!             "capabilities": ["VCAPS", ..], "compression": false,
//!             "replication": {"status": "done|in_progress|pending", "percent": 100.0,
//!                             "charts_total": 200, "charts_pending": 0, "charts_in_progress": 0,
//!                             "charts_done": 200, "missing_from": null, "missing_to": null,
//!                             "missing_seconds": 0, "points_replicated": 12000,
//!                             "rate_points_per_second": 4000.0, "eta_seconds": 0},
//!             "tiers": [{"tier": 0, "first_time": .., "last_time": ..}, ..],
//!             "upstream": {"destination": "tcp:..", "connected": true, "bytes_queued": 0,
//!                          "bytes_sent": 123, "connects": 1, "last_error": null,
//!                          "replication": {"requests": 210, "replies": 210, "pending": 0,
//!                                          "points": 9000}} | null}],
//!  "outbound": [{"hostname": "..", "guid": "..", "destination": .., "connected": .., ..}],
//!  "sibling_sync": {"state": "idle|running|done", "passes": 2, "last_pass_start": 1732560000,
//!                   "last_pass_end": 1732560003, "last_pass_seconds": 2.5,
//!                   "points_filled": 36000, "aggregates_filled": 1200, "points_skipped": 0,
//!                   "hosts_added": 1, "charts_added": 40, "dimensions_added": 120,
//!                   "requests": 90, "last_error": null,
//!                   "siblings": [{"destination": "10.0.0.2:19999",
//!                                 "state": "ok|self|upstream|not_ours|too_large|unreachable",
//!                                 "guid": "..", "failures": 0,
//!                                 "retry_at": null, "last_ok": 1732560003,
//!                                 "last_error": null, "resume_at_host": null}]}}
//! ```
//!
//! `sibling_sync` (beyond Netdata, [`crate::replication_sibling`]): the passes that fill this
//! node's holes from its sibling parents (the `[stream] destination`s that are our daemons).
//! `state` is `idle` before the first pass, `running` during one, `done` after; the counters
//! are totals since start: `points_filled` tier-0 points and `aggregates_filled` tier ≥ 1
//! points stored, `points_skipped` offered but not written (they would have been counted
//! twice in an upper tier, or were malformed), `hosts_added`/`charts_added`/
//! `dimensions_added` created from a sibling's inventory (archived), `requests` HTTP requests
//! made. Per destination, `state` is `ok`, `self` (this node), `upstream` (our daemon, but its
//! machine GUID — `guid` — is no host of ours: it never streamed to us, so it is a parent
//! higher up and its hosts are not copied; checked again at every pass), `not_ours` (not one
//! of our daemons, e.g. a real Netdata: asked again after 10 min, doubling up to 6 h),
//! `too_large` (its node inventory exceeded 64 MiB: again after 10 min, up to 1 h) or
//! `unreachable` (no answer, or an HTTP 5xx: again after 15 s, doubling up to 10 min);
//! `retry_at` is when. `resume_at_host` is the host GUID where a pass that used up its request
//! budget stopped; the follow-up pass resumes there.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use ndcluster::api::http::{Request, Response};
use ndcluster::proto::handshake::Capabilities;

use crate::Shared;

/// Replication progress of one host into this node (updated by its receiver).
#[derive(Clone, Debug, Default)]
pub struct ReplProgress {
    pub charts_total: usize,
    pub charts_pending: usize,
    pub charts_in_progress: usize,
    pub charts_done: usize,
    pub missing_from: Option<i64>,
    pub missing_to: Option<i64>,
    pub missing_seconds: i64,
    pub points_replicated: u64,
    pub started: Option<Instant>,
}

impl ReplProgress {
    pub fn status(&self) -> &'static str {
        if self.charts_in_progress > 0 {
            "in_progress"
        } else if self.charts_pending > 0 {
            "pending"
        } else {
            "done"
        }
    }
    fn rate(&self) -> f64 {
        let secs = self.started.map_or(0.0, |s| s.elapsed().as_secs_f64());
        if secs > 0.0 {
            self.points_replicated as f64 / secs
        } else {
            0.0
        }
    }
}

/// Progress of every host, by GUID.
#[derive(Default)]
pub struct ReplBoard {
    inner: Mutex<HashMap<String, ReplProgress>>,
    /// The sibling sync of this node (beyond Netdata; `sibling_sync` in the answer).
    pub siblings: crate::replication_sibling::SiblingSync,
}

impl ReplBoard {
    pub fn set(&self, guid: &str, p: ReplProgress) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).insert(guid.to_string(), p);
    }
    /// A session ended: nothing replicates from that peer any more (a disconnected host is not
    /// "replicating"; its next session plans again from what we hold).
    pub fn clear(&self, guid: &str) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).remove(guid);
    }

    pub fn get(&self, guid: &str) -> Option<ReplProgress> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).get(guid).cloned()
    }
}

fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn opt_i64(v: Option<i64>) -> String {
    v.map_or_else(|| "null".into(), |x| x.to_string())
}

pub fn handle(shared: &Shared, _req: &Request) -> Response {
    let store = &shared.store;
    let tiers = store.config().tiers.len();
    let mut out = String::with_capacity(4096);
    let _ = write!(
        out,
        "{{\"node\": {{\"guid\": {}, \"hostname\": {}, \"version\": {}}},\n \"hosts\": [",
        js(&shared.guid),
        js(&shared.hostname),
        js(env!("CARGO_PKG_VERSION"))
    );
    let upstreams: HashMap<String, std::sync::Arc<crate::sender::Upstream>> = shared.upstreams.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut first = true;
    for (hid, host) in store.hosts() {
        if !first {
            out.push(',');
        }
        first = false;
        let local = host.guid == shared.guid;
        let att = shared.live.get(&host.guid);
        let live = local || att.is_some();
        let hops = att.as_ref().map_or(host.hops, |a| a.hops);
        let _ = write!(out, "\n  {{\"hostname\": {}, \"guid\": {}, \"local\": {local}, \"live\": {live}, \"hops\": {hops}", js(&host.hostname), js(&host.guid));
        match &att {
            Some(a) => {
                let caps = Capabilities(a.capabilities).names().iter().map(|n| js(n)).collect::<Vec<_>>().join(", ");
                let since = a.connected_at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                let _ = write!(
                    out,
                    ", \"source\": {}, \"api_key\": {}, \"connected_at\": {since}, \"capabilities\": [{caps}], \"compression\": {}",
                    js(&a.peer.to_string()),
                    js(&a.api_key),
                    a.compression
                );
            }
            None => out.push_str(", \"source\": null, \"api_key\": null, \"connected_at\": null, \"capabilities\": [], \"compression\": null"),
        }
        let p = shared.repl.get(&host.guid).unwrap_or_default();
        let percent = if p.charts_total == 0 { 100.0 } else { 100.0 * p.charts_done as f64 / p.charts_total as f64 };
        let rate = p.rate();
        let remaining_points = (p.missing_seconds.max(0) as f64) * (p.charts_in_progress.max(1) as f64);
        let eta = if p.charts_in_progress == 0 { 0.0 } else if rate > 0.0 { remaining_points / rate } else { -1.0 };
        let _ = write!(
            out,
            ", \"replication\": {{\"status\": \"{}\", \"percent\": {percent:.1}, \"charts_total\": {}, \"charts_pending\": {}, \"charts_in_progress\": {}, \"charts_done\": {}, \"missing_from\": {}, \"missing_to\": {}, \"missing_seconds\": {}, \"points_replicated\": {}, \"rate_points_per_second\": {rate:.1}, \"eta_seconds\": {}}}",
            p.status(),
            p.charts_total,
            p.charts_pending,
            p.charts_in_progress,
            p.charts_done,
            opt_i64(p.missing_from),
            opt_i64(p.missing_to),
            p.missing_seconds,
            p.points_replicated,
            if eta < 0.0 { "null".to_string() } else { format!("{eta:.0}") }
        );
        // Tier ranges over every series of the host.
        let mut ranges: Vec<(Option<i64>, Option<i64>)> = vec![(None, None); tiers];
        for (cid, _) in store.charts(hid) {
            for (sid, _) in store.dimensions(cid) {
                for (t, r) in ranges.iter_mut().enumerate() {
                    if let Some(ret) = store.retention(sid, t) {
                        r.0 = Some(r.0.map_or(ret.first, |f: i64| f.min(ret.first)));
                        r.1 = Some(r.1.map_or(ret.last, |l: i64| l.max(ret.last)));
                    }
                }
            }
        }
        out.push_str(", \"tiers\": [");
        for (t, (f, l)) in ranges.iter().enumerate() {
            if t > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{{\"tier\": {t}, \"first_time\": {}, \"last_time\": {}}}", opt_i64(*f), opt_i64(*l));
        }
        out.push(']');
        out.push_str(", \"upstream\": ");
        write_upstream(&mut out, upstreams.get(&host.guid).map(|u| u.as_ref()));
        out.push('}');
    }
    out.push_str("\n ],\n \"outbound\": [");
    let mut first = true;
    for (guid, up) in &upstreams {
        if !first {
            out.push(',');
        }
        first = false;
        let name = shared.ingest(guid).map(|i| i.lock().unwrap_or_else(|p| p.into_inner()).meta().hostname.clone()).unwrap_or_default();
        let _ = write!(out, "\n  {{\"hostname\": {}, \"guid\": {}, \"state\": ", js(&name), js(guid));
        write_upstream(&mut out, Some(up));
        out.push('}');
    }
    out.push_str("\n ],\n \"sibling_sync\": ");
    shared.repl.siblings.status_json(&mut out);
    out.push_str("\n}\n");
    Response::json(out)
}

fn write_upstream(out: &mut String, up: Option<&crate::sender::Upstream>) {
    let Some(up) = up else {
        out.push_str("null");
        return;
    };
    let s = up.status();
    let _ = write!(
        out,
        "{{\"destination\": {}, \"connected\": {}, \"bytes_queued\": {}, \"bytes_sent\": {}, \"connects\": {}, \"last_error\": {}, \"replication\": {{\"requests\": {}, \"replies\": {}, \"pending\": {}, \"points\": {}}}}}",
        s.destination.as_deref().map_or_else(|| "null".into(), js),
        s.connected,
        up.outbox.queued(),
        s.bytes_sent,
        s.connects,
        s.last_error.as_deref().map_or_else(|| "null".into(), js),
        s.replication_requests,
        s.replication_replies,
        s.replication_pending,
        s.replication_points
    );
}
