//! The child role: one upstream connection per host we send (this host, and every host we
//! re-stream as a parent), to the first working destination of its list.
//!
//! Data path: the ingest side (local collector, stream receiver) appends encoded lines to the
//! host's [`Outbox`] while a session is up; the session task writes them out (LZ4-framed when
//! negotiated). Nothing is buffered while disconnected: on (re)connect the definitions are
//! sent from the ingest state, and history is recovered by the upstream's replication.
//!
//! **Invariant:** the outbox never holds more than `buffer size bytes`; overflow ends the
//! session (as Netdata does) instead of growing.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ndcluster::config::stream_conf::Destination;
use ndcluster::model::HostMeta;
use ndcluster::outbound::{encode_definitions, Destinations, CHILD_CAPABILITIES};
use ndcluster::proto::compress::Compressor;
use ndcluster::proto::handshake::{negotiate_child, Capabilities, Reply};
use ndcluster::proto::request::ChildRequest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};

use crate::Shared;

/// Silent network loss is detected within this (TCP_USER_TIMEOUT + keepalive).
pub const DEAD_PEER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct OutboxInner {
    buf: Vec<u8>,
    connected: bool,
    overflowed: bool,
    caps: Capabilities,
}

/// Lines waiting to be sent upstream for one host.
pub struct Outbox {
    inner: Mutex<OutboxInner>,
    notify: Notify,
    limit: usize,
}

impl Outbox {
    pub fn new(limit: usize) -> Self {
        Self { inner: Mutex::new(OutboxInner::default()), notify: Notify::new(), limit: limit.max(64 * 1024) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OutboxInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a session is up (callers skip encoding otherwise).
    pub fn is_connected(&self) -> bool {
        self.lock().connected
    }

    /// Capabilities of the current session.
    pub fn caps(&self) -> Capabilities {
        self.lock().caps
    }

    /// Appends encoded lines; dropped when no session is up.
    pub fn push(&self, bytes: &[u8]) {
        let mut g = self.lock();
        if !g.connected || g.overflowed {
            return;
        }
        if g.buf.len() + bytes.len() > self.limit {
            g.overflowed = true;
            g.buf.clear();
        } else {
            g.buf.extend_from_slice(bytes);
        }
        drop(g);
        self.notify.notify_one();
    }

    /// Starts a session: the buffer is replaced by `initial` (the definitions).
    fn open(&self, initial: Vec<u8>, caps: Capabilities) {
        let mut g = self.lock();
        g.buf = initial;
        g.connected = true;
        g.overflowed = false;
        g.caps = caps;
    }

    fn close(&self) {
        let mut g = self.lock();
        g.connected = false;
        g.buf = Vec::new();
    }

    /// Takes what is queued; Err when the buffer overflowed.
    fn take(&self) -> Result<Vec<u8>, ()> {
        let mut g = self.lock();
        if g.overflowed {
            return Err(());
        }
        Ok(std::mem::take(&mut g.buf))
    }

    pub fn queued(&self) -> usize {
        self.lock().buf.len()
    }
}

/// Settings of one upstream sender.
#[derive(Clone, Debug)]
pub struct SenderConfig {
    pub destinations: Vec<Destination>,
    pub api_key: String,
    pub compression: bool,
    pub timeout: Duration,
    pub reconnect_delay: Duration,
    pub buffer_size: usize,
}

/// State of an upstream connection, for `/api/v1/streaming`.
#[derive(Clone, Debug, Default)]
pub struct SenderStatus {
    pub destination: Option<String>,
    pub connected: bool,
    pub last_error: Option<String>,
    pub bytes_sent: u64,
    pub connects: u64,
}

/// One host's upstream sender.
pub struct Upstream {
    pub guid: String,
    pub outbox: Arc<Outbox>,
    pub status: Mutex<SenderStatus>,
    stop: watch::Sender<bool>,
}

impl Upstream {
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
    pub fn status(&self) -> SenderStatus {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    fn set_status(&self, f: impl FnOnce(&mut SenderStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// Starts the sender of host `guid` (its ingest must exist). `hops` is the host's distance
/// from us (0 for ourselves); `came_from` the GUID of the parent we received it from, never
/// offered back to.
pub fn spawn(shared: Arc<Shared>, guid: String, cfg: SenderConfig, hops: u32, came_from: Option<String>, shutdown: watch::Receiver<bool>) -> Arc<Upstream> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let up = Arc::new(Upstream { guid: guid.clone(), outbox: Arc::new(Outbox::new(cfg.buffer_size)), status: Mutex::new(SenderStatus::default()), stop: stop_tx });
    let task_up = up.clone();
    tokio::spawn(async move {
        run(shared, task_up, cfg, hops, came_from, shutdown, stop_rx).await;
    });
    up
}

fn resolve(d: &Destination) -> Option<SocketAddr> {
    d.host_port().to_socket_addrs().ok()?.next()
}

/// Connects with the dead-peer detection socket options set.
async fn connect(addr: SocketAddr, timeout: Duration) -> std::io::Result<TcpStream> {
    let sock = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    sock.set_nonblocking(true)?;
    sock.set_tcp_user_timeout(Some(DEAD_PEER_TIMEOUT))?;
    let ka = socket2::TcpKeepalive::new().with_time(Duration::from_secs(2)).with_interval(Duration::from_secs(2)).with_retries(3);
    sock.set_tcp_keepalive(&ka)?;
    sock.set_nodelay(true)?;
    let std_stream: std::net::TcpStream = sock.into();
    let socket = tokio::net::TcpSocket::from_std_stream(std_stream);
    match tokio::time::timeout(timeout, socket.connect(addr)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

async fn sleep_or_stop(d: Duration, shutdown: &mut watch::Receiver<bool>, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = shutdown.changed() => true,
        _ = stop.changed() => true,
    }
}

fn child_request(meta: &HostMeta, cfg: &SenderConfig, hops: u32, our_ue: u32, came_from: Option<&str>) -> ChildRequest {
    let info = |k: &str| meta.system_info.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut caps = CHILD_CAPABILITIES;
    if !cfg.compression {
        caps = caps.without(Capabilities::COMPRESSION);
    }
    let mut system_info: Vec<(String, String)> = meta.system_info.iter().filter(|(k, _)| k.starts_with("NETDATA_")).cloned().collect();
    if let Some(v) = came_from {
        system_info.push(("NETDATA_VIA_PARENT_GUID".into(), v.to_string()));
    }
    let ua = match (info("program_name"), info("program_version")) {
        (Some(p), Some(v)) => format!("{p}/{v}"),
        _ => format!("netdatad/{}", env!("CARGO_PKG_VERSION")),
    };
    ChildRequest {
        key: cfg.api_key.clone(),
        hostname: meta.hostname.clone(),
        registry_hostname: info("registry_hostname").unwrap_or_else(|| meta.hostname.clone()),
        machine_guid: meta.guid.clone(),
        update_every: i64::from(our_ue),
        os: info("os").unwrap_or_else(|| "linux".into()),
        timezone: info("timezone").unwrap_or_else(|| "UTC".into()),
        abbrev_timezone: info("abbrev_timezone").unwrap_or_else(|| "UTC".into()),
        utc_offset: info("utc_offset").and_then(|v| v.parse().ok()).unwrap_or(0),
        hops: i64::from(hops) + 1,
        ml_capable: false,
        ml_enabled: false,
        mc_version: 1,
        tags: info("tags").unwrap_or_default(),
        capabilities: caps,
        system_info,
        user_agent: ua,
    }
}

/// Asks a destination for its machine GUID (`/api/v1/info` `uid`), to avoid offering a host
/// back to the parent it came from. Bounded by 2 s; None when unknown.
async fn destination_guid(addr: SocketAddr) -> Option<String> {
    let fut = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(b"GET /api/v1/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.ok()?;
        let mut buf = Vec::new();
        s.take(1 << 20).read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf);
        let i = text.find("\"uid\"")?;
        let rest = &text[i + 5..];
        let start = rest.find('"')? + 1;
        let end = rest[start..].find('"')? + start;
        Some(rest[start..end].to_ascii_lowercase())
    };
    tokio::time::timeout(Duration::from_secs(2), fut).await.ok().flatten()
}

async fn run(shared: Arc<Shared>, up: Arc<Upstream>, cfg: SenderConfig, hops: u32, came_from: Option<String>, mut shutdown: watch::Receiver<bool>, mut stop: watch::Receiver<bool>) {
    let mut dests = Destinations::new(cfg.destinations.len());
    if dests.is_empty() {
        return;
    }
    let host_name = shared.ingest(&up.guid).map(|i| i.lock().unwrap_or_else(|p| p.into_inner()).meta().hostname.clone()).unwrap_or_default();
    loop {
        if *shutdown.borrow() || *stop.borrow() {
            return;
        }
        let now = Instant::now();
        let mut session_ran = false;
        for i in dests.candidates(now) {
            let d = &cfg.destinations[i];
            let Some(addr) = resolve(d) else {
                up.set_status(|s| s.last_error = Some(format!("cannot resolve {}", d.text)));
                continue;
            };
            if let Some(from) = came_from.as_deref() {
                if destination_guid(addr).await.as_deref() == Some(from) {
                    tracing::debug!(host = %host_name, destination = %d.text, "not offering a host back to the parent it came from");
                    dests.postpone(i, Duration::from_secs(600), Instant::now());
                    continue;
                }
            }
            let mut stream = match connect(addr, cfg.timeout.min(Duration::from_secs(10))).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(host = %host_name, destination = %d.text, error = %e, "cannot connect");
                    up.set_status(|s| s.last_error = Some(format!("{}: {e}", d.text)));
                    continue;
                }
            };
            let meta = match shared.ingest(&up.guid) {
                Some(i) => i.lock().unwrap_or_else(|p| p.into_inner()).meta().clone(),
                None => return,
            };
            let req = match child_request(&meta, &cfg, hops, shared.settings.update_every, came_from.as_deref()).encode() {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(host = %host_name, error = %e, "cannot build the stream request");
                    return;
                }
            };
            let reply = handshake(&mut stream, &req, cfg.timeout).await;
            if !reply.is_success() {
                let wait = dests.refused(i, reply, Instant::now());
                let level_quiet = reply == Reply::AlreadyStreaming;
                if level_quiet {
                    tracing::debug!(host = %host_name, destination = %d.text, retry_in_s = wait.as_secs(), "{}", reply.reason());
                } else {
                    tracing::info!(host = %host_name, destination = %d.text, retry_in_s = wait.as_secs(), "{}", reply.reason());
                }
                up.set_status(|s| s.last_error = Some(reply.reason().to_string()));
                continue;
            }
            let caps = negotiate_child(reply.version_number().unwrap_or(1), CHILD_CAPABILITIES.intersection(if cfg.compression { CHILD_CAPABILITIES } else { CHILD_CAPABILITIES.without(Capabilities::COMPRESSION) }));
            dests.connected(i);
            tracing::info!(host = %host_name, destination = %d.text, capabilities = caps.bits(), "streaming upstream");
            up.set_status(|s| {
                s.destination = Some(d.text.clone());
                s.connected = true;
                s.connects += 1;
                s.last_error = None;
            });
            let reason = session(&shared, &up, stream, caps, &mut shutdown, &mut stop).await;
            up.outbox.close();
            up.set_status(|s| {
                s.connected = false;
                s.last_error = Some(reason.clone());
            });
            tracing::info!(host = %host_name, destination = %d.text, %reason, "upstream session ended");
            dests.disconnected(i);
            session_ran = true;
            break;
        }
        if !session_ran && sleep_or_stop(cfg.reconnect_delay, &mut shutdown, &mut stop).await {
            return;
        }
    }
}

async fn handshake(stream: &mut TcpStream, req: &[u8], timeout: Duration) -> Reply {
    if tokio::time::timeout(timeout, stream.write_all(req)).await.map_or(true, |r| r.is_err()) {
        return Reply::NoReply;
    }
    let mut buf = vec![0u8; 8192];
    match tokio::time::timeout(timeout, stream.read(&mut buf)).await {
        Ok(Ok(n)) => Reply::classify(&buf[..n]),
        _ => Reply::NoReply,
    }
}

/// One connected session: definitions first, then whatever the ingest side queues.
async fn session(shared: &Arc<Shared>, up: &Arc<Upstream>, mut stream: TcpStream, caps: Capabilities, shutdown: &mut watch::Receiver<bool>, stop: &mut watch::Receiver<bool>) -> String {
    {
        let Some(ing) = shared.ingest(&up.guid) else { return "host vanished".into() };
        let g = ing.lock().unwrap_or_else(|p| p.into_inner());
        let mut initial = Vec::with_capacity(64 * 1024);
        encode_definitions(&g, caps, &mut initial);
        up.outbox.open(initial, caps);
    }
    let mut compressor = caps.contains(Capabilities::COMPRESSION).then(|| Compressor::new(caps.contains(Capabilities::BINARY)));
    let mut wire = Vec::with_capacity(64 * 1024);
    let mut inbuf = vec![0u8; 16 * 1024];
    let mut idle_since = Instant::now();
    loop {
        let data = match up.outbox.take() {
            Ok(d) => d,
            Err(()) => return "send buffer full ([stream] buffer size bytes)".into(),
        };
        if !data.is_empty() {
            idle_since = Instant::now();
            let bytes: &[u8] = match compressor.as_mut() {
                Some(c) => {
                    wire.clear();
                    if let Err(e) = c.compress(&data, &mut wire) {
                        return format!("compression failed: {e}");
                    }
                    &wire
                }
                None => &data,
            };
            if let Err(e) = stream.write_all(bytes).await {
                return format!("write error: {e}");
            }
            up.set_status(|s| s.bytes_sent += bytes.len() as u64);
            continue;
        }
        if idle_since.elapsed() > Duration::from_secs(600) {
            return "nothing to send for 600 s".into();
        }
        tokio::select! {
            _ = up.outbox.notify.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            r = stream.read(&mut inbuf) => match r {
                Ok(0) => return "parent closed the connection".into(),
                Ok(_) => {} // REPLAY_CHART / FUNCTION: not negotiated; ignored
                Err(e) => return format!("read error: {e}"),
            },
            _ = shutdown.changed() => return "shutting down".into(),
            _ = stop.changed() => return "stopped".into(),
        }
    }
}
