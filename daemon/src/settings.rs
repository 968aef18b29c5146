//! From `netdata.conf` / `stream.conf` (or built-in defaults) to what the daemon runs with.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use ndcluster::config::netdata_conf::{DbMode, NetdataConf};
use ndcluster::config::StreamConf;
use ndcluster::storage::Store;

/// Everything the daemon needs to start.
#[derive(Clone, Debug)]
pub struct Settings {
    pub netdata: NetdataConf,
    /// The netdata.conf read, if any.
    pub config_file: Option<PathBuf>,
    /// Where stream.conf is (it may not exist: streaming is then off and no key is accepted).
    pub stream_conf_path: PathBuf,
    pub hostname: String,
    pub cache_dir: PathBuf,
    pub lib_dir: PathBuf,
    pub bind: Vec<SocketAddr>,
    pub proc_enabled: bool,
    pub update_every: u32,
    pub limits: ndcluster::ingest::Limits,
    /// Time a stream peer gets to send its request after connecting.
    pub handshake_timeout: std::time::Duration,
    /// Streams received at once.
    pub max_streams: usize,
    /// Longest line accepted from a stream peer.
    pub max_line: usize,
    /// `[cluster] snapshot key`: the cache-snapshot endpoints are off without it.
    pub snapshot_key: Option<String>,
}

/// The per-user base directory used without `--config`.
pub fn user_base_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("netdatad");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(h).join(".local/share/netdatad");
    }
    PathBuf::from("netdatad-data")
}

/// Loads the configuration (`None`: defaults for a per-user instance).
pub fn load(config: Option<&Path>) -> Result<Settings> {
    let (netdata, config_file) = match config {
        Some(path) => {
            let (conf, warnings) = NetdataConf::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
            for w in warnings {
                tracing::warn!("{w}");
            }
            (conf, Some(path.to_path_buf()))
        }
        None => {
            let base = user_base_dir();
            eprintln!("netdatad: no --config given; using defaults, data under {}", base.display());
            (NetdataConf::user_defaults(&base), None)
        }
    };
    from_conf(netdata, config_file)
}

/// Builds settings from a parsed netdata.conf (tests construct one in memory).
pub fn from_conf(netdata: NetdataConf, config_file: Option<PathBuf>) -> Result<Settings> {
    let mut bind = Vec::new();
    for b in &netdata.web.bind_to {
        bind.extend(b.socket_addrs().with_context(|| format!("[web] bind to {}: cannot resolve", b.text))?);
    }
    if bind.is_empty() {
        anyhow::bail!("[web] bind to: no address to listen on; set e.g. `bind to = 127.0.0.1:19999`");
    }
    // stream.conf lives beside netdata.conf, else in [directories] config.
    let beside = config_file.as_ref().and_then(|p| p.parent()).map(|d| d.join("stream.conf"));
    let stream_conf_path = match beside {
        Some(p) if p.exists() => p,
        _ => netdata.directories.config.join("stream.conf"),
    };
    Ok(Settings {
        hostname: netdata.hostname.clone(),
        cache_dir: netdata.directories.cache.clone(),
        lib_dir: netdata.directories.lib.clone(),
        proc_enabled: netdata.proc_plugin,
        update_every: netdata.db.update_every.max(1),
        bind,
        stream_conf_path,
        config_file,
        limits: ndcluster::ingest::Limits {
            max_charts: netdata.web.stream_limits.max_charts_per_host,
            max_dimensions_per_chart: netdata.web.stream_limits.max_dimensions_per_chart,
        },
        max_line: netdata.web.stream_limits.max_line_bytes,
        handshake_timeout: std::time::Duration::from_secs(netdata.web.stream_limits.handshake_timeout_secs),
        max_streams: netdata.web.stream_limits.max_concurrent,
        snapshot_key: netdata.snapshot_key.clone(),
        netdata,
    })
}

/// Reads stream.conf; a missing file means "nothing enabled".
pub fn load_stream_conf(s: &Settings) -> Result<StreamConf> {
    if !s.stream_conf_path.exists() {
        let (conf, _) = StreamConf::parse_str("", &s.stream_conf_path.display().to_string()).map_err(|e| anyhow::anyhow!("{e}"))?;
        return Ok(conf);
    }
    let (conf, warnings) = StreamConf::load(&s.stream_conf_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    Ok(conf)
}

/// Opens the store `[db] mode` asks for.
pub fn open_store(s: &Settings) -> Result<Arc<dyn Store>> {
    let config = s.netdata.store_config();
    Ok(match s.netdata.db.mode {
        DbMode::Dbengine => {
            let dir = s.cache_dir.join("dbengine");
            eprintln!("netdatad: storing metrics under {}", dir.display());
            Arc::new(ndcluster::storage::disk::DiskStore::open(&dir, config).with_context(|| format!("opening the store in {}", dir.display()))?)
        }
        DbMode::Ram | DbMode::None => Arc::new(ndcluster::storage::mem::MemStore::new(config)),
    })
}
