//! This host: its ingest (local collection through the same computation as received
//! streams) and the HTTP API context.
//!
//! There is no periodic flush here: the disk store writes its WAL itself often enough for the
//! `[db] dbengine flush interval` (the kill -9 loss bound, see `storage::disk`), the memory
//! store has nothing to flush, and [`crate::Daemon::stop`] flushes once at shutdown. (A second
//! flusher here used to repeat the store's write + fdatasync every 5 s.) Each pass hands its
//! points to the store as one batch (one store lock per pass, not one per chart).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use ndcluster::api::{http, HostStatusProvider, LiveStatus};
use ndcluster::ingest::HostIngest;
use ndcluster::model::{ChartMeta, DimMeta, HostMeta};
use tokio::sync::watch;

use crate::Shared;

pub fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}

pub fn now_s() -> i64 {
    now_us() / 1_000_000
}

/// Metadata of this host as we announce it (also upstream).
pub fn localhost_meta(shared: &Shared) -> HostMeta {
    let os = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let field = |k: &str| {
        os.lines()
            .find_map(|l| l.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            .map(|v| v.trim_matches('"').to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "unknown".to_string())
    };
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).unwrap_or_else(|_| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    HostMeta {
        guid: shared.guid.clone(),
        hostname: shared.hostname.clone(),
        system_info: vec![
            ("NETDATA_SYSTEM_OS_NAME".into(), field("NAME")),
            ("NETDATA_SYSTEM_OS_ID".into(), field("ID")),
            ("NETDATA_SYSTEM_OS_ID_LIKE".into(), field("ID_LIKE")),
            ("NETDATA_SYSTEM_OS_VERSION".into(), field("VERSION")),
            ("NETDATA_SYSTEM_OS_VERSION_ID".into(), field("VERSION_ID")),
            ("NETDATA_SYSTEM_OS_DETECTION".into(), "/etc/os-release".into()),
            ("NETDATA_SYSTEM_KERNEL_NAME".into(), "Linux".into()),
            ("NETDATA_SYSTEM_KERNEL_VERSION".into(), kernel),
            ("NETDATA_SYSTEM_ARCHITECTURE".into(), std::env::consts::ARCH.into()),
            ("NETDATA_SYSTEM_CPU_LOGICAL_CPU_COUNT".into(), cores.to_string()),
        ],
        labels: Vec::new(),
        hops: 0,
        update_every: shared.settings.update_every,
        claim_id: None,
    }
}

/// Registers this host in the store and the ingest registry.
pub fn register_localhost(shared: &Arc<Shared>) -> Result<()> {
    let meta = localhost_meta(shared);
    let ing = HostIngest::new(shared.store.clone(), meta, shared.settings.limits).map_err(|e| anyhow::anyhow!("registering this host in the store: {e}"))?;
    shared.ingests.lock().unwrap_or_else(|p| p.into_inner()).insert(shared.guid.clone(), Arc::new(Mutex::new(ing)));
    Ok(())
}

/// Shutdown as a std thread can wait for it without polling: a flag and a condvar, set by a
/// tiny async task that awaits the daemon's `watch` channel. The collector thread
/// sleeps on it until its next deadline, so an idle daemon wakes only when there is work (once
/// per update every for the collector) instead of every 100 ms.
pub struct StopSignal {
    stopped: Mutex<bool>,
    cv: Condvar,
    /// Also checked on every wake-up: the fallback when no async runtime could be found.
    watch: watch::Receiver<bool>,
}

impl StopSignal {
    /// Follows `shutdown` (a value `true` or the sender gone means stop). Needs a tokio runtime
    /// in the calling context to be woken at once; without one, waiters see the stop at their
    /// next deadline.
    pub fn follow(shutdown: watch::Receiver<bool>) -> Arc<Self> {
        let sig = Arc::new(Self { stopped: Mutex::new(false), cv: Condvar::new(), watch: shutdown.clone() });
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                let s = sig.clone();
                let mut rx = shutdown;
                rt.spawn(async move {
                    let _ = rx.wait_for(|stop| *stop).await;
                    s.stop();
                });
            }
            Err(_) => tracing::debug!("no async runtime: collector threads notice shutdown at their next tick"),
        }
        sig
    }

    /// Wakes every waiter; later waits return at once.
    pub fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
    }

    /// Blocks until `deadline` (false) or until stop (true), with no intermediate wake-ups.
    pub fn wait_until(&self, deadline: Instant) -> bool {
        let mut g = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if *g || *self.watch.borrow() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = self.cv.wait_timeout(g, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }
}

/// Local collection: every `update every` seconds, /proc and /sys and the daemon's own
/// charts, through the same ingest path as a received stream.
pub fn spawn_collector(shared: Arc<Shared>, shutdown: watch::Receiver<bool>) -> std::thread::JoinHandle<()> {
    let stop = StopSignal::follow(shutdown);
    std::thread::Builder::new()
        .name("proc.plugin".into())
        .spawn(move || collector_loop(shared, &stop))
        .expect("spawning the collector thread")
}

/// What the collector last told the ingest about one chart.
struct Sent {
    /// Where its id lies in [`SentCharts::ids`].
    id: std::ops::Range<usize>,
    /// `CollectedChart::version` last defined: unique per definition in the process, so an
    /// equal version means the same chart with an unchanged definition.
    version: u64,
    /// When it was last collected (µs), for the `usec` of the next sample.
    last_us: i64,
}

/// [`Sent`] of every chart, in the order the collectors hand them out (the same every pass),
/// so the next one is found at the cursor by comparing one integer: no hashing, no string
/// comparison per chart and pass. Searched only when the order changes (a chart added,
/// gone, or not due this pass) or a definition changed.
///
/// The ids are kept back to back in one string, so the id handed to `HostIngest::begin` (which
/// compares it with its own) is read from a few adjacent cache lines rather than from one
/// allocation per chart that nothing else touched since the last pass.
#[derive(Default)]
struct SentCharts {
    list: Vec<Sent>,
    ids: String,
    cursor: usize,
}

impl SentCharts {
    /// Called before the first chart of a pass.
    fn start_pass(&mut self) {
        self.cursor = 0;
    }

    /// The entry of chart `id` and whether its definition is new (`version` not seen).
    fn find(&mut self, id: &str, version: u64) -> (Option<usize>, bool) {
        let at = match self.list.get(self.cursor) {
            Some(s) if s.version == version => Some(self.cursor),
            _ => self.list.iter().position(|s| s.version == version),
        };
        if let Some(i) = at {
            self.cursor = i + 1;
            return (Some(i), false);
        }
        let i = self.list.iter().position(|s| self.ids.get(s.id.clone()) == Some(id));
        if let Some(i) = i {
            self.cursor = i + 1;
        }
        (i, true)
    }

    /// The id of entry `at` (empty when out of range).
    fn id(&self, at: usize) -> &str {
        self.list.get(at).and_then(|s| self.ids.get(s.id.clone())).unwrap_or("")
    }

    /// Records a collection at `now` (µs); returns the chart's entry and the µs since its
    /// previous collection (0 the first time).
    fn collected(&mut self, at: Option<usize>, id: &str, version: u64, now: i64) -> (usize, u64) {
        match at.filter(|&i| i < self.list.len()) {
            Some(i) => {
                let s = &mut self.list[i];
                s.version = version;
                let usec = (now - s.last_us).max(0) as u64;
                s.last_us = now;
                (i, usec)
            }
            None => {
                let start = self.ids.len();
                self.ids.push_str(id);
                self.list.push(Sent { id: start..self.ids.len(), version, last_us: now });
                self.cursor = self.list.len();
                (self.list.len() - 1, 0)
            }
        }
    }
}

/// Waits for the next multiple of the update every on the wall clock (a whole second for
/// `update every = 1`): one timed sleep, plus another short one only if the wake-up came early
/// (so a pass is never stamped in the second before its tick). True when stop was requested.
fn wait_tick(stop: &StopSignal, period_us: i64) -> bool {
    let target = (now_us() / period_us + 1) * period_us;
    loop {
        let left = target - now_us();
        if left <= 0 {
            return false;
        }
        if stop.wait_until(Instant::now() + Duration::from_micros(left.min(period_us) as u64)) {
            return true;
        }
    }
}

fn collector_loop(shared: Arc<Shared>, stop: &StopSignal) {
    let ue = shared.settings.update_every;
    let period_us = i64::from(ue.max(1)) * 1_000_000;
    let mut procs = ndcluster::collect::proc::ProcCollector::new("/", ue);
    let mut selfmon = ndcluster::collect::proc::NetdataSelf::new("/", ue);
    let Some(ing) = shared.ingest(&shared.guid) else { return };
    let outbox = shared.outbox(&shared.guid);
    let mut wire = Vec::with_capacity(16 * 1024);
    // What we last defined per chart, to redefine only on change.
    let mut sent = SentCharts::default();
    while !wait_tick(stop, period_us) {
        let counters = crate::self_counters(&shared);
        let now = now_us();
        let proc_charts = procs.collect();
        let self_charts = selfmon.collect(&counters);
        let charts = proc_charts.charts.iter().chain(self_charts.charts.iter()).copied();
        let mut g = ing.lock().unwrap_or_else(|p| p.into_inner());
        let mut samples = 0u64;
        let upstream = outbox.as_ref().filter(|o| o.is_connected());
        wire.clear();
        sent.start_pass();
        for c in charts {
            let (at, changed) = sent.find(&c.meta.id, c.version);
            if changed {
                if let Err(e) = define(&mut g, &c.meta, &c.dims) {
                    tracing::warn!(chart = %c.meta.id, error = %e, "local chart definition refused");
                    continue;
                }
            }
            let (entry, usec) = sent.collected(at, &c.meta.id, c.version, now);
            // The points join one batch, stored below with one store lock for the pass.
            let r = g.begin(sent.id(entry), usec, now).and_then(|_| {
                for (i, v) in c.values.iter().enumerate() {
                    g.set_index(i, *v)?;
                }
                g.end_deferred(now)
            });
            if let Some(o) = upstream {
                if changed {
                    ndcluster::outbound::encode_chart(&c.meta, &c.dims, o.caps(), &mut wire);
                }
                ndcluster::outbound::encode_sample(&c.meta.id, usec, &c.dims, &c.values, &mut wire);
            }
            match r {
                Ok(_) => samples += c.values.len() as u64,
                Err(e) => tracing::warn!(chart = %c.meta.id, error = %e, "local collection failed"),
            }
        }
        if let Err(e) = g.flush_writes() {
            tracing::warn!(error = %e, "storing local collection failed");
        }
        if let Some(o) = upstream {
            o.push(&g, &wire);
        }
        drop(g);
        shared.counters.samples_ingested.fetch_add(samples, Ordering::Relaxed);
    }
}

fn define(g: &mut HostIngest, meta: &ChartMeta, dims: &[DimMeta]) -> Result<(), ndcluster::ingest::IngestError> {
    g.define_chart(meta.clone())?;
    for d in dims {
        g.define_dimension(d.clone())?;
    }
    Ok(())
}

/// Live status for the API: hosts attached by a stream are reachable.
pub struct Status(pub Arc<crate::live::LiveHosts>);

impl HostStatusProvider for Status {
    fn status(&self, guid: &str) -> Option<LiveStatus> {
        self.0.get(guid).map(|a| LiveStatus { reachable: true, hops: Some(a.hops), claim_id: None, node_id: None })
    }
}

pub fn api_handle(shared: &Shared, req: &http::Request) -> http::Response {
    if req.path == "/api/v1/streaming" {
        return crate::status::handle(shared, req);
    }
    if req.path.starts_with("/api/v1/cluster/") {
        return crate::snapshot::handle(shared, req, None);
    }
    if req.path == "/api/v1/replicate" || req.path == "/api/v1/replicate/inventory" {
        return crate::replication_sibling::handle(shared, req);
    }
    ndcluster::api::handle(&shared.api, req, now_s())
}

#[cfg(test)]
mod tests {
    use super::SentCharts;

    #[test]
    fn sent_charts_flag_new_and_changed_definitions_and_time_each_chart() {
        let mut s = SentCharts::default();
        // First pass: both new, no previous collection.
        let (at, new) = s.find("a", 10);
        assert!(new);
        assert_eq!(s.collected(at, "a", 10, 1_000_000), (0, 0));
        let (at, new) = s.find("b", 20);
        assert!(new);
        assert_eq!(s.collected(at, "b", 20, 1_000_000), (1, 0));
        // Second pass, same order and definitions: known, usec since the last pass.
        s.start_pass();
        let (at, new) = s.find("a", 10);
        assert!(!new);
        assert_eq!(s.collected(at, "a", 10, 2_000_000), (0, 1_000_000));
        // "b" changed its definition (new version) and is collected out of order.
        s.start_pass();
        let (at, new) = s.find("b", 21);
        assert!(new);
        assert_eq!(s.collected(at, "b", 21, 3_000_000), (1, 2_000_000));
        let (at, new) = s.find("a", 10);
        assert!(!new);
        assert_eq!(s.collected(at, "a", 10, 3_000_000), (0, 1_000_000));
        // The new version is now known.
        let (_, new) = s.find("b", 21);
        assert!(!new);
        assert_eq!(s.list.len(), 2);
        // Ids are kept for `HostIngest::begin`, each at its entry.
        assert_eq!((s.id(0), s.id(1), s.id(2)), ("a", "b", ""));
    }
}
