//! This host: its ingest (local collection through the same computation as received
//! streams), the periodic store flush, and the HTTP API context.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// Flushes the store every `[db] dbengine flush interval` seconds (the kill -9 loss bound).
pub fn spawn_flusher(shared: Arc<Shared>, shutdown: watch::Receiver<bool>) -> std::thread::JoinHandle<()> {
    let every = Duration::from_secs(u64::from(shared.store.config().flush_interval_secs.max(1)));
    std::thread::Builder::new()
        .name("flusher".into())
        .spawn(move || {
            while !sleep_or_shutdown(every, &shutdown) {
                if let Err(e) = shared.store.flush() {
                    tracing::error!(error = %e, "periodic flush failed");
                }
            }
        })
        .expect("spawning the flusher thread")
}

/// Sleeps `d` in small steps; true when shutdown was requested.
fn sleep_or_shutdown(d: Duration, shutdown: &watch::Receiver<bool>) -> bool {
    let end = std::time::Instant::now() + d;
    loop {
        if *shutdown.borrow() {
            return true;
        }
        let now = std::time::Instant::now();
        if now >= end {
            return false;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(100)));
    }
}

/// Local collection: every `update every` seconds, /proc and /sys and the daemon's own
/// charts, through the same ingest path as a received stream.
pub fn spawn_collector(shared: Arc<Shared>, shutdown: watch::Receiver<bool>) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("proc.plugin".into())
        .spawn(move || collector_loop(shared, shutdown))
        .expect("spawning the collector thread")
}

fn collector_loop(shared: Arc<Shared>, shutdown: watch::Receiver<bool>) {
    let ue = shared.settings.update_every;
    let mut procs = ndcluster::collect::proc::ProcCollector::new("/", ue);
    let mut selfmon = ndcluster::collect::proc::NetdataSelf::new("/", ue);
    let Some(ing) = shared.ingest(&shared.guid) else { return };
    let outbox = shared.outbox(&shared.guid);
    let mut wire = Vec::with_capacity(16 * 1024);
    // What we last defined per chart, to redefine only on change.
    let mut defined: HashMap<String, (ChartMeta, Vec<DimMeta>)> = HashMap::new();
    let mut last_collect: HashMap<String, i64> = HashMap::new();
    loop {
        // Collect at the same phase of every second: ~ +0.5 s past the update_every boundary.
        let now = now_us();
        let period = i64::from(ue) * 1_000_000;
        let next = (now / period + 1) * period + 500_000 - period.min(1_000_000) / 2;
        let wait = Duration::from_micros((next - now).clamp(0, period) as u64);
        if sleep_or_shutdown(wait, &shutdown) {
            return;
        }
        let counters = crate::self_counters(&shared);
        let now = now_us();
        let proc_charts = procs.collect();
        let self_charts = selfmon.collect(&counters);
        let charts = proc_charts.charts.iter().chain(self_charts.charts.iter()).copied();
        let mut g = ing.lock().unwrap_or_else(|p| p.into_inner());
        let mut samples = 0u64;
        let upstream = outbox.as_ref().filter(|o| o.is_connected());
        wire.clear();
        for c in charts {
            let changed = defined.get(&c.meta.id).is_none_or(|(m, d)| *m != c.meta || *d != c.dims);
            if changed {
                if let Err(e) = define(&mut g, &c.meta, &c.dims) {
                    tracing::warn!(chart = %c.meta.id, error = %e, "local chart definition refused");
                    continue;
                }
                defined.insert(c.meta.id.clone(), (c.meta.clone(), c.dims.clone()));
            }
            let usec = last_collect.insert(c.meta.id.clone(), now).map_or(0, |prev| (now - prev).max(0) as u64);
            let r = g.begin(&c.meta.id, usec, now).and_then(|_| {
                for (i, v) in c.values.iter().enumerate() {
                    g.set_index(i, *v)?;
                }
                g.end(now)
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
