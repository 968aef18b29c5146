//! The child role: one upstream connection per host we send (this host, and every host we
//! re-stream as a parent), to the first working destination of its list.
//!
//! Data path: the ingest side (local collector, stream receiver) appends encoded lines to the
//! host's [`Outbox`] while a session is up; the session task writes them out (LZ4-framed when
//! negotiated). Nothing is buffered while disconnected: on (re)connect the definitions are
//! sent from the ingest state, and history is recovered by the upstream's replication.
//!
//! Replication (when REPLICATION is negotiated, §7.4): everything queued passes through the
//! session's [`LiveGate`], which appends `CHART_DEFINITION_END` (our tier-0 retention) after
//! each chart definition and holds back a chart's live samples until the reply that switches
//! it to live has been queued. `REPLAY_CHART`s from the parent are queued one per chart and
//! answered from the store oldest first, one reply per loop turn and only while the outbox is
//! below a quarter of its size, so live data keeps flowing and the buffer never overflows
//! because of replication. A reply is built and queued under the host's ingest lock, the same
//! lock the ingest side holds while queueing samples, so the reply's collection state
//! (`RDSTATE`/`RSSTATE`) is exactly the state before the first live sample that follows it.
//!
//! **Invariant:** the outbox never holds more than `buffer size bytes`; overflow ends the
//! session (as Netdata does) instead of growing.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ndcluster::config::stream_conf::Destination;
use ndcluster::ingest::HostIngest;
use ndcluster::model::HostMeta;
use ndcluster::outbound::{encode_definitions, Destinations, CHILD_CAPABILITIES};
use ndcluster::proto::compress::Compressor;
use ndcluster::proto::command::Downstream;
use ndcluster::proto::handshake::{negotiate_child, Capabilities, Reply};
use ndcluster::proto::request::ChildRequest;
use ndcluster::replication_out::{LiveGate, ReplayRequest, ReplyLimits, ReplyOutcome, RequestQueue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};

use crate::local::now_s;
use crate::Shared;

/// Silent network loss is detected within this (TCP_USER_TIMEOUT + keepalive).
pub const DEAD_PEER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct OutboxInner {
    buf: Vec<u8>,
    connected: bool,
    overflowed: bool,
    caps: Capabilities,
    gate: LiveGate,
}

/// Why a reply was not queued now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyDeferred {
    /// A sample is being queued (BEGIN without END yet): try again shortly.
    MidSample,
    /// No session.
    Closed,
    /// A live-switching request for a chart whose history our receiver is still fetching
    /// from its own child (re-streaming, §9): answered once that ends.
    SourceReplicating,
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

    /// Appends encoded lines of host `h` (whose ingest lock the caller holds); dropped when
    /// no session is up. With replication the lines pass the session's [`LiveGate`].
    pub fn push(&self, h: &HostIngest, bytes: &[u8]) {
        let mut g = self.lock();
        if !g.connected || g.overflowed {
            return;
        }
        let inner = &mut *g;
        inner.gate.filter(h, bytes, now_s(), &mut inner.buf);
        if inner.buf.len() > self.limit {
            inner.overflowed = true;
            inner.buf = Vec::new();
        }
        drop(g);
        self.notify.notify_one();
    }

    /// Starts a session: the buffer is replaced by `initial` (the definitions of `h`).
    fn open(&self, h: &HostIngest, initial: &[u8], caps: Capabilities) {
        let mut g = self.lock();
        g.buf = Vec::with_capacity(initial.len() + 16 * 1024);
        g.connected = true;
        g.overflowed = false;
        g.caps = caps;
        g.gate = LiveGate::new(caps.contains(Capabilities::REPLICATION));
        let inner = &mut *g;
        inner.gate.filter(h, initial, now_s(), &mut inner.buf);
    }

    /// A live-switching request arrived for `chart`: hold its samples until the reply.
    fn hold(&self, chart: &str) {
        self.lock().gate.hold(chart);
    }

    /// Charts whose live samples are held back (waiting for their replication reply).
    pub fn held_charts(&self) -> usize {
        self.lock().gate.held_count()
    }

    /// Builds the reply to `req` for `chart` of `h` (whose ingest lock the caller holds) and
    /// queues it; a reply that switches the chart to live releases its samples. `Ok(None)`:
    /// unknown chart (ignored, as Netdata does).
    fn queue_reply(&self, h: &HostIngest, chart: &str, req: ReplayRequest, limits: ReplyLimits, wait_for_source: bool) -> Result<Option<ReplyOutcome>, ReplyDeferred> {
        let mut g = self.lock();
        if !g.connected {
            return Err(ReplyDeferred::Closed);
        }
        if g.gate.in_sample() {
            return Err(ReplyDeferred::MidSample);
        }
        let Some(ci) = h.chart_index(chart) else { return Ok(None) };
        if wait_for_source && req.start_streaming && h.chart(ci).is_some_and(|c| c.replicating) {
            return Err(ReplyDeferred::SourceReplicating);
        }
        let inner = &mut *g;
        let outcome = ndcluster::replication_out::answer(h, ci, req, now_s(), limits, &mut inner.buf);
        if outcome.is_some_and(|o| o.start_streaming) {
            inner.gate.release(chart);
        }
        if inner.buf.len() > self.limit {
            inner.overflowed = true;
            inner.buf = Vec::new();
        }
        drop(g);
        self.notify.notify_one();
        Ok(outcome)
    }

    fn close(&self) {
        let mut g = self.lock();
        g.connected = false;
        g.buf = Vec::new();
        g.gate = LiveGate::default();
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
    /// `REPLAY_CHART`s received from the parent in this session / answered / still queued.
    pub replication_requests: u64,
    pub replication_replies: u64,
    pub replication_pending: usize,
    /// Points sent in replication replies (this session).
    pub replication_points: u64,
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
                if level_quiet && wait == ndcluster::outbound::STALE_SESSION_RETRY {
                    tracing::info!(host = %host_name, destination = %d.text, retry_in_s = wait.as_secs(), "the parent still holds our session that just ended; retrying soon");
                } else if level_quiet {
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
            dests.disconnected(i, Instant::now());
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

/// Longest line we accept from the parent (a `REPLAY_CHART` is ~100 bytes).
const MAX_DOWNSTREAM_LINE: usize = 16 * 1024;

/// Parses complete parent → child lines out of `inbox`: `REPLAY_CHART`s are queued (charts we
/// do not have are ignored, as Netdata does); anything else is logged and ignored.
fn take_downstream(inbox: &mut Vec<u8>, h: &HostIngest, outbox: &Outbox, queue: &mut RequestQueue, host: &str) -> u64 {
    let mut received = 0;
    let mut consumed = 0;
    while let Some(nl) = inbox[consumed..].iter().position(|&b| b == b'\n') {
        let line = &inbox[consumed..consumed + nl];
        consumed += nl + 1;
        match Downstream::parse(line) {
            Ok(Downstream::ReplayChart(r)) => {
                received += 1;
                if h.chart_index(&r.id).is_none() {
                    tracing::debug!(host, chart = %r.id, "REPLAY_CHART for a chart we do not have; ignored");
                    continue;
                }
                if r.start_streaming {
                    outbox.hold(&r.id);
                }
                if !queue.push(&r.id, ReplayRequest { start_streaming: r.start_streaming, after: r.after, before: r.before }) {
                    tracing::warn!(host, chart = %r.id, "too many pending replication requests; dropped");
                }
            }
            Ok(Downstream::Blank) => {}
            Ok(Downstream::Function(f)) => tracing::debug!(host, function = %f.function, "FUNCTION call ignored (not offered)"),
            Err(e) => tracing::info!(host, error = %e, "unexpected line from the parent; ignored"),
        }
    }
    inbox.drain(..consumed);
    if inbox.len() > MAX_DOWNSTREAM_LINE {
        tracing::info!(host, bytes = inbox.len(), "over-long line from the parent; discarded");
        inbox.clear();
    }
    received
}

/// One connected session: definitions first, then whatever the ingest side queues, with
/// replication replies interleaved.
async fn session(shared: &Arc<Shared>, up: &Arc<Upstream>, mut stream: TcpStream, caps: Capabilities, shutdown: &mut watch::Receiver<bool>, stop: &mut watch::Receiver<bool>) -> String {
    let Some(ing) = shared.ingest(&up.guid) else { return "host vanished".into() };
    let host_name;
    let charts;
    {
        let g = ing.lock().unwrap_or_else(|p| p.into_inner());
        let mut initial = Vec::with_capacity(64 * 1024);
        encode_definitions(&g, caps, &mut initial);
        up.outbox.open(&g, &initial, caps);
        host_name = g.meta().hostname.clone();
        charts = g.charts().len();
    }
    up.set_status(|s| {
        s.replication_requests = 0;
        s.replication_replies = 0;
        s.replication_pending = 0;
        s.replication_points = 0;
    });
    let replication = caps.contains(Capabilities::REPLICATION);
    let mut queue = RequestQueue::new(charts.max(1).saturating_mul(2).clamp(1_000, 100_000));
    // Replies are built only while the outbox is below a quarter of its size, and one reply
    // never exceeds a quarter either: live samples always have room.
    let reply_room = (up.outbox.limit / 4).max(16 * 1024);
    let limits = ReplyLimits { max_steps: 3600, max_bytes: reply_room.min(4 << 20) };
    let mut compressor = caps.contains(Capabilities::COMPRESSION).then(|| Compressor::new(caps.contains(Capabilities::BINARY)));
    let mut wire = Vec::with_capacity(64 * 1024);
    let mut inbuf = vec![0u8; 16 * 1024];
    let mut inbox: Vec<u8> = Vec::new();
    let mut idle_since = Instant::now();
    // Requests waiting for our receiver to finish fetching the chart: (retry at, since, chart, request).
    let mut parked: Vec<(Instant, Instant, String, ReplayRequest)> = Vec::new();
    let mut parked_since: std::collections::HashMap<String, Instant> = std::collections::HashMap::new();
    loop {
        // Parked requests come back when due (unless a newer one for the chart arrived).
        if !parked.is_empty() {
            let now = Instant::now();
            let mut i = 0;
            while i < parked.len() {
                if parked[i].0 <= now {
                    let (_, since, chart, req) = parked.swap_remove(i);
                    if !queue.contains(&chart) {
                        queue.push(&chart, req);
                        parked_since.insert(chart, since);
                    }
                } else {
                    i += 1;
                }
            }
        }
        // One replication reply per turn, when there is room.
        let mut deferred = false;
        if !queue.is_empty() && up.outbox.queued() < reply_room {
            if let Some((chart, req)) = queue.peek().map(|(c, r)| (c.to_string(), r)) {
                // Wait for the source at most two minutes; then answer with what we have.
                let since = parked_since.get(&chart).copied();
                let wait_for_source = since.is_none_or(|s| s.elapsed() < Duration::from_secs(120));
                let r = {
                    let g = ing.lock().unwrap_or_else(|p| p.into_inner());
                    up.outbox.queue_reply(&g, &chart, req, limits, wait_for_source)
                };
                match r {
                    Err(ReplyDeferred::MidSample) => deferred = true,
                    Err(ReplyDeferred::Closed) => return "outbox closed".into(),
                    Err(ReplyDeferred::SourceReplicating) => {
                        queue.pop();
                        parked.push((Instant::now() + Duration::from_millis(300), since.unwrap_or_else(Instant::now), chart, req));
                        continue;
                    }
                    Ok(outcome) => {
                        queue.pop();
                        parked_since.remove(&chart);
                        let pending = queue.len();
                        up.set_status(|s| {
                            s.replication_replies += 1;
                            s.replication_pending = pending;
                            s.replication_points += outcome.map_or(0, |o| o.points as u64);
                        });
                        if let Some(o) = outcome {
                            tracing::debug!(host = %host_name, %chart, after = req.after, before = req.before, steps = o.steps, live = o.start_streaming, "replication reply queued");
                        }
                    }
                }
            }
        }
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
        if !queue.is_empty() && !deferred {
            continue;
        }
        let deferred = deferred || !parked.is_empty();
        if idle_since.elapsed() > Duration::from_secs(600) && queue.is_empty() && parked.is_empty() {
            return "nothing to send for 600 s".into();
        }
        let wait = if !parked.is_empty() { Duration::from_millis(100) } else if deferred { Duration::from_millis(20) } else { Duration::from_secs(1) };
        tokio::select! {
            _ = up.outbox.notify.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            r = stream.read(&mut inbuf) => match r {
                Ok(0) => return "parent closed the connection".into(),
                Ok(n) => {
                    if replication {
                        inbox.extend_from_slice(&inbuf[..n]);
                        let received = {
                            let g = ing.lock().unwrap_or_else(|p| p.into_inner());
                            take_downstream(&mut inbox, &g, &up.outbox, &mut queue, &host_name)
                        };
                        let pending = queue.len();
                        up.set_status(|s| {
                            s.replication_requests += received;
                            s.replication_pending = pending;
                        });
                    }
                }
                Err(e) => return format!("read error: {e}"),
            },
            _ = shutdown.changed() => return "shutting down".into(),
            _ = stop.changed() => return "stopped".into(),
        }
    }
}
