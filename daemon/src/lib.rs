//! The `netdatad` runtime: wires configuration, storage, local collection, the listener
//! (HTTP API + stream receiver), upstream senders and signal handling.
//!
//! `main.rs` only parses arguments; everything here can be started in-process by tests
//! ([`Daemon::start`]).

pub mod args;
pub mod identity;
pub mod live;
pub mod logging;
pub mod pidlock;
pub mod server;
pub mod receiver;
pub mod replication_sibling;
pub mod sender;
pub mod settings;
pub mod snapshot;
pub mod status;
pub mod local;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::{Context, Result};
use ndcluster::ingest::HostIngest;
use ndcluster::storage::Store;
use tokio::sync::watch;

pub use settings::Settings;

/// Command-line options of `netdatad`.
#[derive(Debug, Default, Clone)]
pub struct Options {
    pub config: Option<PathBuf>,
}

/// Counters for self-monitoring (`netdata.*` charts) and `/api/v1/streaming`.
#[derive(Debug, Default)]
pub struct Counters {
    pub samples_ingested: AtomicU64,
    pub api_requests: AtomicU64,
    pub api_clients: AtomicU64,
    pub api_bytes_in: AtomicU64,
    pub api_bytes_out: AtomicU64,
    pub streams_accepted: AtomicU64,
    pub streams_refused: AtomicU64,
}

/// State shared by every task of the daemon.
pub struct Shared {
    pub settings: Settings,
    pub guid: String,
    pub hostname: String,
    pub store: Arc<dyn Store>,
    pub stream_conf: RwLock<Arc<ndcluster::config::StreamConf>>,
    pub live: Arc<live::LiveHosts>,
    /// Ingest state per host (machine GUID), kept across stream sessions.
    pub ingests: Mutex<HashMap<String, Arc<Mutex<HostIngest>>>>,
    pub api: ndcluster::api::ApiContext,
    /// Upstream senders per host GUID (ours and re-streamed hosts).
    pub upstreams: Mutex<HashMap<String, Arc<sender::Upstream>>>,
    /// Replication progress per received host.
    pub repl: status::ReplBoard,
    /// Cache snapshots served to `netdatactl duplicate --from http://...`.
    pub snapshots: snapshot::Snapshots,
    pub counters: Counters,
    pub started: std::time::SystemTime,
}

impl Shared {
    /// The ingest of host `guid`, if it streamed (or is us) since we started.
    pub fn ingest(&self, guid: &str) -> Option<Arc<Mutex<HostIngest>>> {
        self.ingests.lock().unwrap_or_else(|p| p.into_inner()).get(guid).cloned()
    }

    /// The upstream outbox of host `guid`, when a session is up.
    pub fn outbox(&self, guid: &str) -> Option<Arc<sender::Outbox>> {
        self.upstreams.lock().unwrap_or_else(|p| p.into_inner()).get(guid).map(|u| u.outbox.clone())
    }

    pub fn stream_conf(&self) -> Arc<ndcluster::config::StreamConf> {
        self.stream_conf.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn handle_http(&self, req: &ndcluster::api::http::Request) -> ndcluster::api::http::Response {
        self.counters.api_requests.fetch_add(1, Ordering::Relaxed);
        crate::local::api_handle(self, req)
    }

    /// Re-reads stream.conf (SIGHUP). Streams whose key or GUID is no longer allowed are ended.
    pub fn reload_stream_conf(&self) {
        match settings::load_stream_conf(&self.settings) {
            Ok(conf) => {
                let conf = Arc::new(conf);
                *self.stream_conf.write().unwrap_or_else(|p| p.into_inner()) = conf.clone();
                let dropped = self.live.kick_where(|a| !receiver::still_allowed(&conf, a));
                tracing::info!(dropped_streams = dropped, "stream.conf reloaded");
            }
            Err(e) => tracing::error!(error = %format!("{e:#}"), "stream.conf reload failed; keeping the previous settings"),
        }
    }
}

/// A running daemon.
pub struct Daemon {
    pub shared: Arc<Shared>,
    addrs: Vec<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    _lock: pidlock::PidLock,
}

impl Daemon {
    /// Opens the store, binds the listeners and starts every task.
    pub async fn start(settings: Settings) -> Result<Self> {
        let lock = pidlock::PidLock::acquire(&settings.cache_dir)?;
        let guid = identity::load_or_create_guid(&settings.lib_dir)?;
        let hostname = settings.hostname.clone();
        let store = settings::open_store(&settings)?;
        let stream_conf = settings::load_stream_conf(&settings)?;
        let live = Arc::new(live::LiveHosts::default());
        let api_settings = ndcluster::api::ApiSettings {
            memory_mode: settings.netdata.db.mode.as_str().to_string(),
            disk_quota_mb: settings.netdata.db.tiers.first().map_or(0, |t| t.retention_bytes >> 20),
            stream_enabled: stream_conf.stream.enabled,
            ..Default::default()
        };
        let api = ndcluster::api::ApiContext::new(store.clone(), Arc::new(local::Status(live.clone())), guid.clone()).with_settings(api_settings);
        let shared = Arc::new(Shared {
            guid,
            hostname,
            store,
            stream_conf: RwLock::new(Arc::new(stream_conf)),
            live,
            ingests: Mutex::new(HashMap::new()),
            upstreams: Mutex::new(HashMap::new()),
            repl: status::ReplBoard::default(),
            snapshots: snapshot::Snapshots::default(),
            api,
            counters: Counters::default(),
            started: std::time::SystemTime::now(),
            settings,
        });
        local::register_localhost(&shared)?;
        let (tx, rx) = watch::channel(false);
        let mut tasks = Vec::new();
        let mut addrs = Vec::new();
        for addr in &shared.settings.bind {
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding [web] bind to {addr}"))?;
            let local = listener.local_addr()?;
            tracing::info!(listen = %local, "listening for HTTP and streams");
            addrs.push(local);
            tasks.push(tokio::spawn(server::serve(listener, shared.clone(), rx.clone())));
        }
        let mut threads = Vec::new();
        let sc = shared.stream_conf();
        if sc.stream.enabled {
            let cfg = sender::SenderConfig {
                destinations: sc.stream.destinations.clone(),
                api_key: sc.stream.api_key.clone(),
                compression: sc.stream.enable_compression,
                timeout: Duration::from_secs(sc.stream.timeout_secs.clamp(1, 600)),
                reconnect_delay: Duration::from_secs(sc.stream.reconnect_delay_secs.clamp(1, 3600)),
                buffer_size: sc.stream.buffer_size_bytes.min(1 << 30) as usize,
            };
            let up = sender::spawn(shared.clone(), shared.guid.clone(), cfg, 0, None, rx.clone());
            shared.upstreams.lock().unwrap_or_else(|p| p.into_inner()).insert(shared.guid.clone(), up);
        }
        if shared.settings.proc_enabled {
            threads.push(local::spawn_collector(shared.clone(), rx.clone()));
        }
        // Beyond Netdata: a restored parent fills what it lacks from its sibling parents.
        replication_sibling::start(&shared);
        Ok(Self { shared, addrs, shutdown: tx, tasks, threads, _lock: lock })
    }

    /// Addresses actually bound (useful with port 0).
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Stops accepting, ends every task, flushes the store.
    pub async fn stop(self) -> Result<()> {
        let _ = self.shutdown.send(true);
        // The sibling sync makes no request any more (its thread ends at its next one).
        self.shared.repl.siblings.stop();
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(3), t).await;
        }
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;
        self.shared.store.flush().context("flushing the store at shutdown")?;
        tracing::info!("stopped cleanly");
        Ok(())
    }
}

/// The daemon's own counters, as the self-monitoring collector wants them.
pub fn self_counters(shared: &Shared) -> ndcluster::collect::proc::DaemonCounters {
    let stats = shared.store.stats();
    let mut points_stored = [0u64; ndcluster::collect::proc::SELF_TIERS];
    for (slot, t) in points_stored.iter_mut().zip(&stats.tiers) {
        *slot = t.points;
    }
    ndcluster::collect::proc::DaemonCounters {
        api_clients: shared.counters.api_clients.load(Ordering::Relaxed),
        api_requests: shared.counters.api_requests.load(Ordering::Relaxed),
        api_bytes_in: shared.counters.api_bytes_in.load(Ordering::Relaxed),
        api_bytes_out: shared.counters.api_bytes_out.load(Ordering::Relaxed),
        points_stored,
        streams_connected: shared.live.count() as u64,
        samples_ingested: shared.counters.samples_ingested.load(Ordering::Relaxed),
    }
}

/// Runs the daemon until SIGTERM/SIGINT; SIGHUP reloads stream.conf.
pub fn run(opts: Options) -> Result<()> {
    let settings = settings::load(opts.config.as_deref())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("netdatad")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        let daemon = Daemon::start(settings).await?;
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => daemon.shared.reload_stream_conf(),
            }
        }
        tracing::info!("shutting down");
        daemon.stop().await
    })
}
