//! The parent role: one task per incoming `STREAM` connection.
//!
//! Handshake (request, authentication in Netdata's order, clone guard, capabilities,
//! greeting), then the line loop: every command goes through the host's [`HostIngest`];
//! replication requests (`REPLAY_CHART`) are planned by [`ChartReplication`] and written
//! back on the same socket.
//!
//! **Invariant:** a misbehaving peer ends only its own session, with one log line naming
//! host, peer and reason; data already stored stays.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ndcluster::config::stream_conf::{self, HostStreamSettings, ParentState, Refusal, StreamConf};
use ndcluster::config::WebAcl;
use ndcluster::collect::compute::ReplayValue;
use ndcluster::ingest::{HostIngest, IngestError};
use ndcluster::model::{Algorithm, ChartMeta, ChartType, DimMeta, HostMeta, Label, UnixTime};
use ndcluster::proto::command::{begin_parts, rbegin_span_fast, rset_fixed7, rset_parts, set_parts, Command, ReplayChart};
use ndcluster::proto::number::{parse_f64, parse_fixed7, parse_strtoll};
use ndcluster::proto::handshake::{negotiate_parent, Capabilities, Reply};
use ndcluster::proto::reader::LineReader;
use ndcluster::proto::request::StreamRequest;
use ndcluster::replication::{ChartReplication, ReplicationSettings, SenderRetention};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::live::{AttachError, Attachment};
use crate::local::now_us;
use crate::Shared;

/// What we implement as a parent.
pub const PARENT_CAPABILITIES: Capabilities = Capabilities(
    Capabilities::VCAPS.0
        | Capabilities::HLABELS.0
        | Capabilities::CLAIM.0
        | Capabilities::CLABELS.0
        | Capabilities::COMPRESSION.0
        | Capabilities::REPLICATION.0
        | Capabilities::BINARY.0,
);

/// Netdata's receive timeout once streaming: 600 s without a byte ends the session.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// Bytes asked for per read of a live stream (a second of a big child fits).
const READ_CHUNK: usize = 64 * 1024;
/// Bytes asked for per read while reads come back full (a replication backlog arrives as fast
/// as we take it); back to [`READ_CHUNK`], and the buffer trimmed, once a read is short, so an
/// idle or live session does not keep a backlog-sized buffer resident.
const READ_CHUNK_BACKLOG: usize = 512 * 1024;

/// Longest a host's replication status (`/api/v1/streaming`) lags behind the points received
/// when no chart changed phase.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Is an attached stream still allowed by a (reloaded) stream.conf?
pub fn still_allowed(conf: &StreamConf, a: &Attachment) -> bool {
    // Netdata's defaults: an API key section is disabled unless `enabled = yes`; a machine
    // GUID section is enabled unless `enabled = no`.
    let key_ok = conf.section(&a.api_key).is_some_and(|s| s.enabled == Some(true) && s.kind.as_deref().is_none_or(|k| k == "api"));
    let guid_ok = conf.section(&a.guid).is_none_or(|s| s.enabled != Some(false));
    key_ok && guid_ok
}

async fn read_request(stream: &mut TcpStream, timeout: Duration) -> std::io::Result<Option<StreamRequest>> {
    let mut buf = Vec::with_capacity(2048);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match StreamRequest::parse(&buf) {
            Ok(Some((req, _used))) => return Ok(Some(req)),
            Ok(None) => {}
            Err(e) => {
                tracing::info!(error = %e, "malformed STREAM request");
                return Ok(None);
            }
        }
        let mut chunk = [0u8; 4096];
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(r) => r?,
            Err(_) => return Ok(None),
        };
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn host_meta_from(req: &StreamRequest, guid: &str, hostname: &str, settings: &HostStreamSettings) -> HostMeta {
    let mut info = req.system_info.clone();
    let mut push = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            info.push((k.to_string(), v));
        }
    };
    push("registry_hostname", req.registry_hostname.clone());
    push("os", req.os.clone());
    push("timezone", req.timezone.clone());
    push("abbrev_timezone", req.abbrev_timezone.clone());
    push("utc_offset", req.utc_offset.map(|v| v.to_string()));
    push("tags", req.tags.clone());
    if let Some((p, v)) = &req.user_agent {
        info.push(("program_name".into(), p.clone()));
        info.push(("program_version".into(), v.clone()));
    }
    HostMeta {
        guid: guid.to_string(),
        hostname: hostname.to_string(),
        system_info: info,
        labels: Vec::new(),
        hops: req.hops.map_or(1, |h| h.clamp(0, 1000) as u32),
        update_every: settings.update_every,
        claim_id: None,
    }
}

async fn refuse(stream: &mut TcpStream, reply: Option<&str>) {
    if let Some(r) = reply {
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.write_all(r.as_bytes())).await;
    }
    let _ = stream.shutdown().await;
}

pub async fn serve_stream(mut stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) -> std::io::Result<()> {
    let Some(req) = read_request(&mut stream, shared.settings.handshake_timeout).await? else {
        tracing::info!(%peer, "stream request not received or malformed; closing");
        shared.counters.streams_refused.fetch_add(1, Ordering::Relaxed);
        refuse(&mut stream, Some(stream_conf::REPLY_DENIED)).await;
        return Ok(());
    };
    let conf = shared.stream_conf();
    let guid = req.machine_guid.clone().unwrap_or_default().to_ascii_lowercase();
    let hostname = req.hostname.clone().unwrap_or_default();
    let existing_idle = shared.live.idle_secs(&guid);
    let auth = stream_conf::authorize(
        &conf,
        &shared.settings.netdata,
        &stream_conf::StreamRequest {
            key: req.key.as_deref(),
            hostname: req.hostname.as_deref(),
            machine_guid: req.machine_guid.as_deref(),
            update_every: req.update_every.and_then(|u| u32::try_from(u).ok()),
            peer_ip: peer.ip(),
        },
        &ParentState { own_machine_guid: &shared.guid, listener_acl: WebAcl::ALL, secs_since_last_accept: None, existing_receiver_idle_secs: existing_idle },
    );
    let accepted = match auth {
        Ok(a) => a,
        Err(refusal) => {
            shared.counters.streams_refused.fetch_add(1, Ordering::Relaxed);
            if refusal == Refusal::AlreadyStreaming {
                if let Some(other) = shared.live.get(&guid) {
                    tracing::warn!(
                        host = %hostname, %peer, guid = %guid, other_peer = %other.peer, other_host = %other.hostname,
                        "machine GUID is already streaming from another peer: refused. If these are two machines, one is a clone (copied /var/lib/netdata or VM image): give it a new machine GUID"
                    );
                }
            } else {
                tracing::info!(host = %hostname, %peer, guid = %guid, reason = refusal.log_reason(), "stream refused");
            }
            refuse(&mut stream, refusal.wire_reply()).await;
            return Ok(());
        }
    };
    let settings = accepted.settings;
    if shared.live.count() >= shared.settings.max_streams {
        shared.counters.streams_refused.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(host = %hostname, %peer, limit = shared.settings.max_streams, "too many concurrent streams; refused");
        refuse(&mut stream, Some(stream_conf::REPLY_TOO_BUSY)).await;
        return Ok(());
    }
    let caps = negotiate_parent(req.ver, PARENT_CAPABILITIES, settings.enable_compression && conf.stream.enable_compression);
    let attach = Attachment {
        guid: guid.clone(),
        hostname: hostname.clone(),
        peer,
        api_key: req.key.clone().unwrap_or_default(),
        hops: req.hops.map_or(1, |h| h.clamp(0, 1000) as u32),
        capabilities: caps.bits(),
        compression: caps.contains(Capabilities::COMPRESSION),
        connected_at: std::time::SystemTime::now(),
        session: 0,
    };
    let (session, mut kick) = match shared.live.attach(attach) {
        Ok(x) => x,
        Err(AttachError::AlreadyStreaming { other_peer, other_hostname }) => {
            shared.counters.streams_refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                host = %hostname, %peer, guid = %guid, other_peer = %other_peer, other_host = %other_hostname,
                "machine GUID is already streaming from another peer: refused. If these are two machines, one is a clone (copied /var/lib/netdata or VM image): give it a new machine GUID"
            );
            refuse(&mut stream, Some(stream_conf::REPLY_ALREADY_STREAMING)).await;
            return Ok(());
        }
    };
    // Host ingest (kept across sessions).
    let meta = host_meta_from(&req, &guid, &hostname, &settings);
    let ing = match host_ingest(&shared, meta) {
        Ok(i) => i,
        Err(e) => {
            tracing::error!(host = %hostname, %peer, error = %e, "cannot register host; closing");
            shared.live.detach(&guid, session);
            let _ = stream.shutdown().await;
            return Ok(());
        }
    };
    let greeting = Reply::greeting_for(caps).encode();
    if let Err(e) = tokio::time::timeout(Duration::from_secs(60), stream.write_all(&greeting)).await.unwrap_or(Err(std::io::ErrorKind::TimedOut.into())) {
        shared.live.detach(&guid, session);
        return Err(e);
    }
    shared.counters.streams_accepted.fetch_add(1, Ordering::Relaxed);
    tracing::info!(host = %hostname, %peer, guid = %guid, capabilities = caps.bits(), compression = caps.contains(Capabilities::COMPRESSION), "stream accepted");

    let repl = ReplicationSettings {
        enabled: settings.enable_replication,
        seconds_to_replicate: settings.seconds_to_replicate as i64,
        seconds_per_step: settings.seconds_per_replication_step.max(1) as i64,
    };
    let mut sess = Session::new(caps, repl);
    // Re-streaming upstream (Netdata's `default proxy *`: on by default when we stream).
    let came_from = req.unknown.iter().find(|(k, _)| k == "NETDATA_VIA_PARENT_GUID").map(|(_, v)| v.to_ascii_lowercase());
    let upstream = settings.proxy_active().then(|| {
        let cfg = crate::sender::SenderConfig {
            destinations: settings.proxy_destinations.clone(),
            api_key: settings.proxy_api_key.clone(),
            compression: conf.stream.enable_compression,
            timeout: Duration::from_secs(conf.stream.timeout_secs.clamp(1, 600)),
            reconnect_delay: Duration::from_secs(conf.stream.reconnect_delay_secs.clamp(1, 3600)),
            buffer_size: conf.stream.buffer_size_bytes.min(1 << 30) as usize,
        };
        let hops = req.hops.map_or(1, |h| h.clamp(0, 1000) as u32);
        let up = crate::sender::spawn(shared.clone(), guid.clone(), cfg, hops, came_from.clone(), shutdown.clone());
        if let Some(old) = shared.upstreams.lock().unwrap_or_else(|p| p.into_inner()).insert(guid.clone(), up.clone()) {
            old.stop();
        }
        up
    });
    let mut reader = LineReader::new(shared.settings.max_line);
    if caps.contains(Capabilities::COMPRESSION) {
        reader.enable_compression();
    }
    // compressed bytes are read here and fed through the decompressor; plain ones are read
    // straight into the line reader's buffer
    let mut chunk = if reader.is_compressed() { vec![0u8; READ_CHUNK] } else { Vec::new() };
    let mut out: Vec<u8> = Vec::new();
    let mut siblings_asked = false;
    let mut progress_at: Option<std::time::Instant> = None;
    let mut read_size = READ_CHUNK;
    // The end signals and the idle timer are set up once, not per read (a timer entry and two
    // watch registrations per chunk otherwise): the idle deadline follows the data, and the
    // timer is moved to it only when it fires.
    let kicked = kick.changed();
    tokio::pin!(kicked);
    let stopping = shutdown.changed();
    tokio::pin!(stopping);
    let idle = tokio::time::sleep(IDLE_TIMEOUT);
    tokio::pin!(idle);
    let mut last_data = tokio::time::Instant::now();
    let result: Result<(), String> = loop {
        let into = if reader.is_compressed() { &mut chunk[..] } else { reader.spare(read_size) };
        let n = tokio::select! {
            // (the end signals first: a stream that always has data must still see them)
            biased;
            _ = &mut kicked => break Err("session ended by the daemon (key disabled or replaced)".into()),
            _ = &mut stopping => break Ok(()),
            r = stream.read(into) => match r {
                Ok(0) => break match reader.finish() { Ok(()) => Ok(()), Err(e) => Err(e.to_string()) },
                Ok(n) => n,
                Err(e) => break Err(format!("read error: {e}")),
            },
            () = &mut idle => {
                let deadline = last_data + IDLE_TIMEOUT;
                if deadline > tokio::time::Instant::now() {
                    idle.as_mut().reset(deadline);
                    continue;
                }
                break Err(format!("no data for {} s", IDLE_TIMEOUT.as_secs()));
            }
        };
        last_data = tokio::time::Instant::now();
        if reader.is_compressed() {
            if let Err(e) = reader.feed(&chunk[..n]) {
                break Err(e.to_string());
            }
        } else {
            reader.commit(n);
            if n == read_size {
                read_size = READ_CHUNK_BACKLOG;
            } else if read_size != READ_CHUNK && n < READ_CHUNK {
                read_size = READ_CHUNK;
                reader.trim(READ_CHUNK);
            }
        }
        let r = {
            let mut h = ing.lock().unwrap_or_else(|p| p.into_inner());
            // Whether lines go upstream is decided under the ingest lock, like the sender's
            // definitions snapshot, so nothing is sent before its definition.
            let fwd_to = upstream.as_ref().map(|u| &u.outbox).filter(|o| o.is_connected());
            sess.forward_caps = fwd_to.map(|o| o.caps());
            sess.clock_us = None;
            let mut r = sess.apply_lines(&mut h, &mut reader, &mut out);
            // One store write for the whole chunk's points (and before anything below reads
            // the store: the forwarder, the replication status).
            if let Err(e) = h.flush_writes() {
                r = r.and(Err(e.to_string()));
            }
            if let Some(o) = fwd_to {
                if !sess.forward.is_empty() {
                    o.push(&h, &sess.forward);
                }
            }
            sess.forward.clear();
            // the status is refreshed when a chart's replication changed phase, else at most
            // every PROGRESS_EVERY (it walks every chart)
            if caps.contains(Capabilities::REPLICATION) && (std::mem::take(&mut sess.phase_changed) || progress_at.is_none_or(|t| t.elapsed() >= PROGRESS_EVERY)) {
                progress_at = Some(std::time::Instant::now());
                let p = sess.progress();
                // Beyond Netdata: once the sender has given what it has, siblings fill holes.
                if !siblings_asked && p.charts_total > 0 && p.status() == "done" {
                    siblings_asked = true;
                    crate::replication_sibling::spawn_backfill(shared.clone(), guid.clone(), repl.seconds_to_replicate);
                }
                shared.repl.set(&guid, p);
            }
            shared.counters.samples_ingested.fetch_add(std::mem::take(&mut sess.samples), Ordering::Relaxed);
            r
        };
        shared.live.touch(&guid, session);
        if !out.is_empty() {
            if let Err(e) = stream.write_all(&out).await {
                break Err(format!("write error: {e}"));
            }
            out.clear();
        }
        if let Err(e) = r {
            break Err(e);
        }
    };
    shared.live.detach(&guid, session);
    shared.repl.clear(&guid);
    if let Some(up) = upstream {
        up.stop();
        let mut map = shared.upstreams.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(&guid).is_some_and(|u| Arc::ptr_eq(u, &up)) {
            map.remove(&guid);
        }
    }
    match result {
        Ok(()) => tracing::info!(host = %hostname, %peer, "stream ended"),
        Err(reason) => tracing::info!(host = %hostname, %peer, %reason, "stream closed"),
    }
    let _ = stream.shutdown().await;
    Ok(())
}

/// A child's wall clock is used to validate its replicated points only when it agrees with ours
/// within a minute; otherwise ours is (so a child far in the future cannot store points ahead
/// of our clock, which would block its live data).
fn trusted_clock(child_now: Option<UnixTime>, now: UnixTime) -> Option<UnixTime> {
    child_now.filter(|n| (n - now).abs() <= 60)
}

fn host_ingest(shared: &Shared, meta: HostMeta) -> Result<Arc<Mutex<HostIngest>>, IngestError> {
    let mut map = shared.ingests.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(i) = map.get(&meta.guid) {
        let i = i.clone();
        drop(map);
        let mut g = i.lock().unwrap_or_else(|p| p.into_inner());
        g.update_host(meta)?;
        g.reset_session();
        drop(g);
        return Ok(i);
    }
    let guid = meta.guid.clone();
    let i = Arc::new(Mutex::new(HostIngest::new(shared.store.clone(), meta, shared.settings.limits)?));
    map.insert(guid, i.clone());
    Ok(i)
}

/// Per-connection protocol state.
struct Session {
    caps: Capabilities,
    repl: ReplicationSettings,
    /// Replication state per chart index.
    replication: HashMap<usize, ChartReplication>,
    /// Chart of the replication reply being received, and whether its RBEGIN span is valid.
    replay_chart: Option<usize>,
    /// Inside FUNCTION_RESULT_BEGIN .. END: lines skipped so far.
    in_function_result: Option<usize>,
    samples: u64,
    /// Capabilities of the upstream session lines are forwarded to (None: not forwarding).
    forward_caps: Option<Capabilities>,
    /// Lines to forward upstream from the current batch.
    forward: Vec<u8>,
    points_replicated: u64,
    started: std::time::Instant,
    /// Our wall clock (µs), read at most once per received chunk (see [`Session::now`]).
    clock_us: Option<i64>,
    /// A chart's replication changed phase since the status was last refreshed.
    phase_changed: bool,
}

fn label(name: &str, value: &str, source: u32) -> Label {
    Label { name: name.to_string(), value: value.to_string(), source }
}

fn chart_meta(c: &ndcluster::proto::command::Chart<'_>, host_ue: u32) -> ChartMeta {
    let id = c.id.to_string();
    let type_part = c.type_part().to_string();
    let raw_name = c.name.as_ref();
    let name = match raw_name {
        "" | "NULL" | "(NULL)" => id.clone(),
        n if n == id => id.clone(),
        n => {
            let n = n.strip_prefix(&format!("{type_part}.")).unwrap_or(n);
            format!("{type_part}.{n}")
        }
    };
    let ue = if c.update_every > 0 { c.update_every.min(86_400) as u32 } else { host_ue.max(1) };
    ChartMeta {
        name,
        title: c.title.to_string(),
        units: if c.units.is_empty() { "unknown".into() } else { c.units.to_string() },
        family: if c.family.is_empty() { c.id_part().to_string() } else { c.family.to_string() },
        context: if c.context.is_empty() { id.clone() } else { c.context.to_string() },
        chart_type: ChartType::parse(&c.chart_type),
        priority: c.priority,
        update_every: ue,
        options: c.options.trim().to_string(),
        plugin: c.plugin.to_string(),
        module: c.module.to_string(),
        labels: Vec::new(),
        id,
    }
}

impl Session {
    fn new(caps: Capabilities, repl: ReplicationSettings) -> Self {
        Self { caps, repl, replication: HashMap::new(), replay_chart: None, in_function_result: None, samples: 0, forward_caps: None, forward: Vec::new(), points_replicated: 0, started: std::time::Instant::now(), clock_us: None, phase_changed: false }
    }

    /// Replication progress of this session, for `/api/v1/streaming`.
    fn progress(&self) -> crate::status::ReplProgress {
        use ndcluster::replication::Phase;
        let mut p = crate::status::ReplProgress { charts_total: self.replication.len(), points_replicated: self.points_replicated, started: Some(self.started), ..Default::default() };
        for r in self.replication.values() {
            match r.phase() {
                Phase::Idle => p.charts_pending += 1,
                Phase::Done => p.charts_done += 1,
                Phase::InFlight(_) => {
                    p.charts_in_progress += 1;
                    if let (Some(a), Some(b)) = (r.missing_from, r.missing_to) {
                        p.missing_from = Some(p.missing_from.map_or(a, |m| m.min(a)));
                        p.missing_to = Some(p.missing_to.map_or(b, |m| m.max(b)));
                        p.missing_seconds += (b - a).max(0);
                    }
                }
            }
        }
        p
    }

    /// Our last stored time of a chart (max over its dimensions, tier 0), after writing the
    /// points still pending.
    fn our_last(h: &mut HostIngest, ci: usize) -> Result<Option<UnixTime>, String> {
        h.flush_writes().map_err(|e| e.to_string())?;
        let Some(c) = h.chart(ci) else { return Ok(None) };
        Ok(c.series.iter().filter_map(|s| h.store().retention(*s, 0)).map(|r| r.last).max())
    }

    fn write_replay(out: &mut Vec<u8>, chart: &str, r: ndcluster::replication::Request) {
        ndcluster::proto::command::Downstream::ReplayChart(ReplayChart { id: chart.into(), start_streaming: r.start_streaming, after: r.after, before: r.before }).encode(out);
    }

    /// Our wall clock in seconds, read once per received chunk: a chunk is applied in far less
    /// than a second, and a replication reply has a row (`RBEGIN ''`) every few lines.
    fn now(&mut self) -> UnixTime {
        self.now_us().div_euclid(1_000_000)
    }

    /// [`Session::now`] in microseconds (the parent clock of `BEGIN`/`END`).
    fn now_us(&mut self) -> i64 {
        *self.clock_us.get_or_insert_with(now_us)
    }

    /// One received line. The two lines that make up almost all of a replication reply,
    /// `RSET "<id>" <value> "<flags>"` and `RBEGIN '' <start> <end> <now>`, are handled here
    /// in their usual shape without building a [`Command`] (no UTF-8 check of the id, which is
    /// compared as bytes with the dimension expected next); anything else, and any line the
    /// fast path does not fully understand (other shapes, unknown dimension, no reply in
    /// progress), goes through [`Session::apply_command`], which gives the same result and the
    /// same errors.
    #[inline]
    fn apply(&mut self, h: &mut HostIngest, line: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        if let Some(applied) = self.apply_live(h, line) {
            return applied;
        }
        if self.in_function_result.is_none() && line.len() <= ndcluster::proto::MAX_LINE_LEN {
            if let (Some(_), Some(rest)) = (self.replay_chart, line.strip_prefix(b"RSET \"")) {
                let parts = match rset_fixed7(rest) {
                    Some((id, neg, m)) => Some((id, ReplayValue::Fixed7 { neg, m }, &b""[..])),
                    None => rset_parts(rest).map(|p| {
                        let value = match parse_fixed7(p.value) {
                            Some((neg, m)) => ReplayValue::Fixed7 { neg, m },
                            None => ReplayValue::F64(parse_f64(p.value).unwrap_or(f64::NAN)),
                        };
                        (p.id, value, p.flags)
                    }),
                };
                if let Some((id, value, flags)) = parts {
                    if let Some(applied) = self.apply_rset(h, id, value, flags) {
                        return applied;
                    }
                }
            } else if let (Some(ci), Some(rest)) = (self.replay_chart, line.strip_prefix(b"RBEGIN '' ")) {
                if let Some(span) = rbegin_span_fast(rest) {
                    let now = self.now();
                    if let Some(c) = h.chart_mut(ci) {
                        c.state.replay_begin(span.start, span.end, trusted_clock(span.child_now, now), now);
                        return Ok(());
                    }
                }
            }
        }
        self.apply_command(h, line, out)
    }

    /// The fast path of the live lines, `SET "<id>" = <int>`, `BEGIN "<id>" <usec>` and
    /// `END`, in the shape every sender writes them: no [`Command`], no UTF-8 check (ids are
    /// compared as bytes with the dimension expected next / the chart after the previous
    /// `BEGIN`), no error value built. `None` when this way cannot tell (inside a function
    /// result, another shape, an unknown chart or dimension, a `SET` outside `BEGIN`/`END`):
    /// nothing changed, the line must go the general way, which gives the same result and the
    /// same errors.
    #[inline(always)]
    fn apply_live(&mut self, h: &mut HostIngest, line: &[u8]) -> Option<Result<(), String>> {
        if self.in_function_result.is_some() || line.len() > ndcluster::proto::MAX_LINE_LEN {
            return None;
        }
        match line.first()? {
            b'S' => {
                let rest = line.strip_prefix(b"SET \"")?;
                let (id, value) = set_parts_usual(rest).or_else(|| set_parts(rest))?;
                h.set_by_id(id, value)?;
            }
            b'B' => {
                let (id, usec) = begin_parts(line.strip_prefix(b"BEGIN \"")?)?;
                let now = self.now_us();
                h.begin_by_id(id, usec, now)?;
            }
            b'E' if line == b"END" => {
                let now = self.now_us();
                if let Err(e) = h.end_deferred(now) {
                    // the general way: the line is forwarded before it is applied
                    self.forward_line(line);
                    return Some(Err(e.to_string()));
                }
                self.samples += 1;
            }
            _ => return None,
        }
        self.forward_line(line);
        Some(Ok(()))
    }

    /// Queues a `BEGIN`/`SET`/`END` line for the upstream session, if lines are forwarded.
    #[inline(always)]
    fn forward_line(&mut self, line: &[u8]) {
        if self.forward_caps.is_some() {
            self.forward.extend_from_slice(line);
            self.forward.push(b'\n');
        }
    }

    /// Applies every complete line `reader` holds; stops at the first error (the session
    /// ends then).
    fn apply_lines(&mut self, h: &mut HostIngest, reader: &mut LineReader, out: &mut Vec<u8>) -> Result<(), String> {
        let max = reader.max_line().min(ndcluster::proto::MAX_LINE_LEN);
        while let Some(line) = reader.next_line() {
            let line = line.map_err(|e| e.to_string())?;
            self.apply(h, line, out)?;
            // the `RSET`s of a replication reply's row, matched against the chart's dimensions
            // in order without framing each line first (the rest goes the usual way)
            if let (Some(ci), None) = (self.replay_chart, self.in_function_result) {
                if reader.unread().first() == Some(&b'R') {
                    let now = self.now();
                    let (n, lines, produced, r) = h.replay_rows(ci, reader.unread(), max, now, |child| trusted_clock(child, now));
                    reader.consume(n, lines);
                    self.samples += produced;
                    self.points_replicated += produced;
                    r.map_err(|e| e.to_string())?;
                }
            }
            // live samples (`BEGIN`, the `SET`s matched against the chart's dimensions in
            // order, `END`) without framing each line first (the rest goes the usual way)
            if self.in_function_result.is_none() && matches!(reader.unread().first(), Some(b'B' | b'S' | b'E')) {
                let now = self.now_us();
                let (n, lines, ends, r) = h.live_run(reader.unread(), max, now);
                if n > 0 {
                    if self.forward_caps.is_some() {
                        self.forward.extend_from_slice(&reader.unread()[..n]);
                    }
                    reader.consume(n, lines);
                    self.samples += ends;
                }
                r.map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// An `RSET` of the reply in progress, from its parts (the fast path of [`Session::apply`]).
    /// `None` when this way cannot tell (inside a function result, no reply in progress, no
    /// dimension with exactly these id bytes): nothing changed, the line must go the general
    /// way.
    #[inline]
    fn apply_rset(&mut self, h: &mut HostIngest, id: &[u8], value: ReplayValue, flags: &[u8]) -> Option<Result<(), String>> {
        if self.in_function_result.is_some() {
            return None;
        }
        let produced = match h.replay_set_by_id(self.replay_chart?, id, value, flags)? {
            Ok(p) => p,
            Err(e) => return Some(Err(e.to_string())),
        };
        if produced {
            self.samples += 1;
            self.points_replicated += 1;
        }
        Some(Ok(()))
    }

    /// [`Session::apply`] for any line, through [`Command::parse`].
    #[inline(never)]
    fn apply_command(&mut self, h: &mut HostIngest, line: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        if let Some(n) = self.in_function_result.as_mut() {
            if line.split(|b| b.is_ascii_whitespace()).next() == Some(b"FUNCTION_RESULT_END".as_slice()) {
                self.in_function_result = None;
            } else {
                *n += 1;
                if *n > 1_000_000 {
                    return Err("function result longer than 1,000,000 lines".into());
                }
            }
            return Ok(());
        }
        let cmd = Command::parse(line).map_err(|e| e.to_string())?;
        let forward = self.forward_caps.is_some_and(|up| match &cmd {
            Command::ClaimedId(_) => up.contains(Capabilities::CLAIM),
            Command::Label(_) | Command::Overwrite(_) => up.contains(Capabilities::HLABELS),
            Command::Clabel(_) | Command::ClabelCommit => up.contains(Capabilities::CLABELS),
            Command::Chart(_) | Command::Dimension(_) | Command::Variable(_) | Command::Begin(_) | Command::Set(_) | Command::End => true,
            _ => false,
        });
        if forward {
            self.forward.extend_from_slice(line);
            self.forward.push(b'\n');
        }
        let e = |e: IngestError| e.to_string();
        match cmd {
            Command::Blank => {}
            Command::ClaimedId(c) => {
                if c.machine_guid.eq_ignore_ascii_case(&h.meta().guid) {
                    h.claimed_id(c.claim_id.map(|x| x.to_string())).map_err(e)?;
                }
            }
            Command::Label(l) => h.host_label(label(&l.name, &l.value, l.source)),
            Command::Overwrite(_) => h.host_labels_commit().map_err(e)?,
            Command::Variable(_) => {}
            Command::Chart(c) => {
                let meta = chart_meta(&c, h.meta().update_every);
                h.define_chart(meta).map_err(e)?;
            }
            Command::Clabel(l) => h.chart_label(label(&l.name, &l.value, l.source)).map_err(e)?,
            Command::ClabelCommit => h.chart_labels_commit().map_err(e)?,
            Command::Dimension(d) => {
                let nz = |v: i64| if v == 0 { 1 } else { v };
                let meta = DimMeta {
                    id: d.id.to_string(),
                    name: if d.name.is_empty() { d.id.to_string() } else { d.name.to_string() },
                    algorithm: Algorithm::parse(&d.algorithm),
                    multiplier: nz(d.multiplier),
                    divisor: nz(d.divisor),
                    options: d.options.trim().to_string(),
                };
                h.define_dimension(meta).map_err(e)?;
            }
            Command::Function(_) => {}
            Command::ChartDefinitionEnd(d) => {
                if !self.caps.contains(Capabilities::REPLICATION) {
                    return Ok(());
                }
                self.phase_changed = true;
                let ci = h.current_chart().ok_or("CHART_DEFINITION_END without a current chart")?;
                let ours = Self::our_last(h, ci)?;
                let now = self.now();
                let has_dims = h.chart(ci).is_some_and(|c| !c.series.is_empty());
                let repl = self.repl;
                let r = self.replication.entry(ci).or_insert_with(|| ChartReplication::new(repl));
                if r.is_done() {
                    *r = ChartReplication::new(repl);
                }
                let sender = SenderRetention { first: d.first_entry, last: d.last_entry, now: d.child_now };
                if let Some(req) = r.on_definition_end(sender, ours, has_dims, now) {
                    let id = h.chart(ci).map(|c| c.meta.id.clone()).unwrap_or_default();
                    Self::write_replay(out, &id, req);
                }
                let fetching = r.is_fetching();
                if let Some(c) = h.chart_mut(ci) {
                    c.replicating = fetching;
                }
            }
            Command::Begin(b) => {
                h.begin(&b.id, b.microseconds, self.now_us()).map_err(e)?;
            }
            Command::Set(s) => h.set(&s.id, s.value).map_err(e)?,
            Command::End => {
                h.end_deferred(self.now_us()).map_err(e)?;
                self.samples += 1;
            }
            Command::Rbegin(rb) => {
                if rb.id.is_empty() {
                    let ci = self.replay_chart.ok_or("RBEGIN '' without a chart")?;
                    if let Some(span) = rb.span {
                        let now = self.now();
                        let c = h.chart_mut(ci).ok_or("replay chart vanished")?;
                        c.state.replay_begin(span.start, span.end, trusted_clock(span.child_now, now), now);
                    }
                } else {
                    let ci = h.chart_index(&rb.id).ok_or_else(|| format!("RBEGIN for undefined chart '{}'", rb.id))?;
                    self.replay_chart = Some(ci);
                    let now = self.now();
                    let c = h.chart_mut(ci).ok_or("replay chart vanished")?;
                    c.state.replay_start();
                    if let Some(span) = rb.span {
                        c.state.replay_begin(span.start, span.end, trusted_clock(span.child_now, now), now);
                    }
                }
            }
            Command::Rset(rs) => {
                let ci = self.replay_chart.ok_or("RSET outside a replication reply")?;
                let c = h.chart_mut(ci).ok_or("replay chart vanished")?;
                let di = c.state.dim_index_next(&rs.id).ok_or_else(|| format!("RSET for undefined dimension '{}'", rs.id))?;
                if let Some(p) = c.state.replay_set_value(di, rs.value, &rs.flags).map_err(|x| x.to_string())? {
                    h.defer_points(ci, &[p]);
                    if h.pending_writes() >= 8192 {
                        h.flush_writes().map_err(e)?;
                    }
                    self.samples += 1;
                    self.points_replicated += 1;
                }
            }
            Command::Rdstate(d) => {
                let ci = self.replay_chart.ok_or("RDSTATE outside a replication reply")?;
                let c = h.chart_mut(ci).ok_or("replay chart vanished")?;
                let di = c.state.dim_index(&d.id).ok_or_else(|| format!("RDSTATE for undefined dimension '{}'", d.id))?;
                c.state
                    .replay_dim_state(di, d.last_collected_us.min(i64::MAX as u64) as i64, d.last_collected_value, d.last_calculated_value, d.last_stored_value)
                    .map_err(|x| x.to_string())?;
            }
            Command::Rsstate(s) => {
                let ci = self.replay_chart.ok_or("RSSTATE outside a replication reply")?;
                let c = h.chart_mut(ci).ok_or("replay chart vanished")?;
                c.state.replay_chart_state(s.last_collected_us.min(i64::MAX as u64) as i64, s.last_updated_us.min(i64::MAX as u64) as i64);
            }
            Command::Rend(r) => {
                self.phase_changed = true;
                let ci = self.replay_chart.take().ok_or("REND outside a replication reply")?;
                let ue = r.update_every.clamp(1, 86_400) as u32;
                let c = h.chart_mut(ci).ok_or("replay chart vanished")?;
                c.state.replay_end(ue, r.start_streaming);
                let ours = Self::our_last(h, ci)?;
                let now = self.now();
                let sender = SenderRetention { first: r.first_entry_child, last: r.last_entry_child, now: r.child_now.unwrap_or(0) };
                if let Some(rep) = self.replication.get_mut(&ci) {
                    if let Some(req) = rep.on_reply_end(sender, r.start_streaming, r.after, r.before, ours, now) {
                        let id = h.chart(ci).map(|c| c.meta.id.clone()).unwrap_or_default();
                        Self::write_replay(out, &id, req);
                    }
                    let fetching = rep.is_fetching();
                    if let Some(c) = h.chart_mut(ci) {
                        c.replicating = fetching;
                    }
                }
            }
            Command::FunctionResultBegin(_) => self.in_function_result = Some(0),
            Command::FunctionResultEnd => {}
            Command::Flush => {
                self.replay_chart = None;
            }
            Command::Disable => return Err("peer sent DISABLE".into()),
        }
        Ok(())
    }
}

/// `<id>" = <number>` (what follows `SET "`), the shape every sender writes: the id up to the
/// first quote (no backslash, not empty), then exactly `" = ` and a number word that ends the
/// line. `None` for anything else (then [`set_parts`] decides). Where this gives `Some`,
/// `set_parts` gives the same: a word [`parse_strtoll`] accepts holds no separator, quote or
/// backslash, so `set_parts` splits the same id and word (a test compares both).
#[inline(always)]
fn set_parts_usual(rest: &[u8]) -> Option<(&[u8], Option<i64>)> {
    let k = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
    if k == 0 {
        return None;
    }
    let word = rest[k..].strip_prefix(b"\" = ")?;
    Some((&rest[..k], Some(parse_strtoll(word)?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndcluster::ingest::Limits;
    use ndcluster::storage::mem::MemStore;
    use ndcluster::storage::{Store, TierPoint};

    #[test]
    fn usual_set_shape_splits_as_set_parts() {
        let ids: [&[u8]; 8] = [b"d0", b"a", b"", b"x\\y", b"a b", b"a=b", b"\xff\xfe", b"a-very-long-dimension-id-0123456789"];
        let words: [&[u8]; 22] = [
            b"0", b"7", b"123456", b"-5", b"+5", b"010", b"0x1F", b"0X", b"9223372036854775807", b"9223372036854775808", b"-9223372036854775809",
            b"123456789012345678", b"1234567890123456789", b"", b"12 ", b" 12", b"1\r", b"1e3", b"\"1\"", b"1\\", b"--1", b"12=",
        ];
        let (mut usual, mut total) = (0, 0);
        for id in ids {
            for sep in [&b"\" = "[..], b"\"=", b"\" ", b"\"  = ", b"\" =\t", b"\"\t= ", b"\"= "] {
                for word in words {
                    let rest = [id, sep, word].concat();
                    total += 1;
                    if let Some(got) = set_parts_usual(&rest) {
                        usual += 1;
                        assert_eq!(Some(got), set_parts(&rest), "{:?}", String::from_utf8_lossy(&rest));
                        // and what the general parser makes of the whole line
                        let line = [&b"SET \""[..], &rest].concat();
                        match Command::parse(&line) {
                            Ok(Command::Set(s)) => assert_eq!((s.id.as_bytes(), s.value), (String::from_utf8_lossy(got.0).as_bytes(), got.1)),
                            other => assert!(std::str::from_utf8(got.0).is_err(), "{other:?}"),
                        }
                    }
                }
            }
        }
        assert!(usual > 50 && usual < total, "{usual} of {total}");
    }

    /// How a transcript is applied.
    #[derive(Clone, Copy)]
    enum Way {
        /// Every line through [`Session::apply_command`] (the general parser).
        General,
        /// Line by line through [`Session::apply`] (with its fast paths).
        Lines,
        /// Received in pieces of pseudo-random sizes (this seed) and applied with
        /// [`Session::apply_lines`], as the receiver loop does.
        Chunks(u64),
        /// [`Way::Chunks`] in pieces of up to 8 KiB (many whole lines per piece).
        BigChunks(u64),
    }

    /// Applies `lines` to a fresh host; returns the errors (in order), the bytes written back,
    /// the sample count and every stored point.
    fn run(lines: &[Vec<u8>], way: Way) -> (Vec<String>, Vec<u8>, u64, Vec<Vec<TierPoint>>) {
        let store: Arc<dyn Store> = Arc::new(MemStore::new(Default::default()));
        let meta = HostMeta { guid: "g".into(), hostname: "h".into(), update_every: 1, ..Default::default() };
        let mut h = HostIngest::new(store.clone(), meta, Limits::default()).expect("host");
        let repl = ReplicationSettings { enabled: true, seconds_to_replicate: 86_400, seconds_per_step: 600 };
        let mut s = Session::new(PARENT_CAPABILITIES, repl);
        let mut out = Vec::new();
        let mut errors = Vec::new();
        match way {
            Way::General | Way::Lines => {
                for l in lines {
                    let r = if matches!(way, Way::Lines) { s.apply(&mut h, l, &mut out) } else { s.apply_command(&mut h, l, &mut out) };
                    errors.extend(r.err());
                }
            }
            Way::Chunks(seed) | Way::BigChunks(seed) => {
                let mut rng = ndcluster::testkit::XorShift64::new(seed);
                let max = if matches!(way, Way::Chunks(_)) { 300 } else { 8192 };
                let bytes: Vec<u8> = lines.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect();
                let mut reader = LineReader::new(ndcluster::proto::MAX_LINE_LEN);
                let mut at = 0;
                while at < bytes.len() {
                    let x = rng.next_u64();
                    let n = (1 + x % max) as usize;
                    let piece = &bytes[at..(at + n).min(bytes.len())];
                    reader.spare(n)[..piece.len()].copy_from_slice(piece);
                    reader.commit(piece.len());
                    at += piece.len();
                    s.clock_us = None;
                    // an error ends a real session; here the next lines go on
                    while let Err(e) = s.apply_lines(&mut h, &mut reader, &mut out) {
                        errors.push(e);
                    }
                }
                assert_eq!(reader.finish(), Ok(()));
                assert_eq!(reader.lines(), lines.len() as u64);
            }
        }
        h.flush_writes().expect("flush");
        let mut points = Vec::new();
        for (cid, _) in store.charts(h.host_id()) {
            for (sid, _) in store.dimensions(cid) {
                let mut v = Vec::new();
                store.read(sid, 0, 0, i64::MAX / 2, &mut v).expect("read");
                points.push(v);
            }
        }
        (errors, out, s.samples, points)
    }

    /// [`run`] for live lines: our clock fixed at `now_us` in every way (live `BEGIN`s of a
    /// just-defined chart read it), lines forwarded upstream; also returns the forwarded bytes.
    fn run_live(lines: &[Vec<u8>], way: Way, now_us: i64) -> (Vec<String>, Vec<u8>, u64, Vec<Vec<TierPoint>>) {
        let store: Arc<dyn Store> = Arc::new(MemStore::new(Default::default()));
        let meta = HostMeta { guid: "g".into(), hostname: "h".into(), update_every: 1, ..Default::default() };
        let mut h = HostIngest::new(store.clone(), meta, Limits::default()).expect("host");
        let repl = ReplicationSettings { enabled: true, seconds_to_replicate: 86_400, seconds_per_step: 600 };
        let mut s = Session::new(PARENT_CAPABILITIES, repl);
        s.forward_caps = Some(PARENT_CAPABILITIES);
        s.clock_us = Some(now_us);
        let mut out = Vec::new();
        let mut errors = Vec::new();
        let mut forwarded = Vec::new();
        match way {
            Way::General | Way::Lines => {
                for l in lines {
                    let r = if matches!(way, Way::Lines) { s.apply(&mut h, l, &mut out) } else { s.apply_command(&mut h, l, &mut out) };
                    errors.extend(r.err());
                }
            }
            Way::Chunks(seed) | Way::BigChunks(seed) => {
                let mut rng = ndcluster::testkit::XorShift64::new(seed);
                let max = if matches!(way, Way::Chunks(_)) { 300 } else { 8192 };
                let bytes: Vec<u8> = lines.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect();
                let mut reader = LineReader::new(ndcluster::proto::MAX_LINE_LEN);
                let mut at = 0;
                while at < bytes.len() {
                    let x = rng.next_u64();
                    let n = (1 + x % max) as usize;
                    let piece = &bytes[at..(at + n).min(bytes.len())];
                    reader.spare(n)[..piece.len()].copy_from_slice(piece);
                    reader.commit(piece.len());
                    at += piece.len();
                    s.clock_us = Some(now_us);
                    while let Err(e) = s.apply_lines(&mut h, &mut reader, &mut out) {
                        errors.push(e);
                    }
                    h.flush_writes().expect("flush");
                    forwarded.append(&mut s.forward);
                }
                assert_eq!(reader.finish(), Ok(()));
                assert_eq!(reader.lines(), lines.len() as u64);
            }
        }
        forwarded.append(&mut s.forward);
        h.flush_writes().expect("flush");
        assert_eq!(out, b"", "live lines write nothing back");
        let mut points = Vec::new();
        for (cid, _) in store.charts(h.host_id()) {
            for (sid, _) in store.dimensions(cid) {
                let mut v = Vec::new();
                store.read(sid, 0, 0, i64::MAX / 2, &mut v).expect("read");
                points.push(v);
            }
        }
        (errors, forwarded, s.samples, points)
    }

    #[test]
    fn live_fast_paths_agree_with_the_general_parser() {
        let now_us = crate::local::now_us();
        let mut lines: Vec<Vec<u8>> = Vec::new();
        let mut l = |s: &str| lines.push(s.as_bytes().to_vec());
        // before any definition: errors
        l("SET \"a\" = 1");
        l("BEGIN \"t.one\" 1000000");
        l("END");
        let many: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
        for (c, dims) in [
            ("t.one", vec!["a", "b", "long_dimension_name_x", "long_dimension_name_y", "q\u{fffd}", "i"]),
            ("t.\u{fffd}", vec!["a"]),
            ("t.many", many.iter().map(String::as_str).collect()),
        ] {
            l(&format!("CHART {c} '' 'x' 'u' f c line 1 1 '' p m"));
            for (k, d) in dims.iter().enumerate() {
                let algorithm = if k % 2 == 0 { "absolute" } else { "incremental" };
                l(&format!("DIMENSION '{d}' '{d}' {algorithm} {} 1 ''", k + 1));
            }
        }
        for row in 0..40u64 {
            let usec = if row % 9 == 4 { 999_000 } else { 1_000_000 };
            l(&format!("BEGIN \"t.one\" {usec}"));
            l(&format!("SET \"a\" = {}", row * 7));
            l(&format!("SET \"b\" = {}", 1000 + row * row));
            l(&format!("SET \"long_dimension_name_y\" = -{}", row % 5)); // out of order
            l(&format!("SET \"long_dimension_name_x\" = 0x{:x}", row + 10)); // hex
            l("SET \"i\" = 010"); // octal
            l("SET \"q\u{1}\" = 3"); // \u{1} becomes an invalid byte below: U+FFFD the general way
            l("SET \"zz\" = 1"); // unknown dimension: the same error both ways
            l("SET \"b\" = 12x");
            l("SET  \"a\" = 1"); // another shape: the general way
            l("SET \"a\" =");
            l("SET \"a\" = \"\"");
            l(if row % 3 == 0 { "END" } else { "END " });
            l(&format!("BEGIN \"t.\u{1}\" {usec}")); // chart id with an invalid byte
            l(&format!("SET \"a\" = {}", row % 4));
            l("END\r");
            l(&format!("BEGIN \"t.many\" {usec}"));
            for i in (0..20).rev() {
                l(&format!("SET \"m{i}\" = {}", row * i));
            }
            l("END");
            match row % 8 {
                1 => l("BEGIN \"t.nope\" 1000000"), // unknown chart
                2 => l("BEGIN \"t.one\"  1000000"),
                3 => l("BEGIN \"t.one\" x"),
                4 => l("END"), // outside BEGIN/END
                5 => l("SET \"a\" = 1"), // idem
                6 => {
                    // a function result: its lines are not commands
                    l("FUNCTION_RESULT_BEGIN \"tx\" 200 \"application/json\" 0");
                    l("BEGIN \"t.one\" 1000000");
                    l("SET \"zz\" = 1");
                    l("END");
                    l("FUNCTION_RESULT_END");
                }
                7 => l("BEGIN \"t.one\""), // no microseconds (and no END)
                _ => {}
            }
        }
        for line in &mut lines {
            for c in line.iter_mut().filter(|c| **c == 1) {
                *c = 0xff;
            }
        }
        let general = run_live(&lines, Way::General, now_us);
        let key = |v: &Vec<TierPoint>| v.iter().map(|p| (p.time, p.sum.to_bits(), p.reset)).collect::<Vec<_>>();
        for way in [Way::Lines, Way::Chunks(1), Way::Chunks(0x9e37_79b9_7f4a_7c15), Way::Chunks(7), Way::BigChunks(5)] {
            let fast = run_live(&lines, way, now_us);
            assert_eq!(fast.0, general.0);
            assert_eq!(String::from_utf8_lossy(&fast.1), String::from_utf8_lossy(&general.1));
            assert_eq!(fast.2, general.2);
            assert_eq!(fast.3.iter().map(key).collect::<Vec<_>>(), general.3.iter().map(key).collect::<Vec<_>>());
        }
        // the transcript did what it says: 3 charts × 40 rows, points for every dimension
        // (the one SET only through its U+FFFD id too), errors for each bad line
        assert_eq!(general.2, 3 * 40, "{:?}", general.0);
        assert_eq!(general.3.len(), 6 + 1 + 20);
        assert!(general.3.iter().all(|v| v.len() >= 30), "{:?}", general.3.iter().map(Vec::len).collect::<Vec<_>>());
        let forwarded = String::from_utf8_lossy(&general.1);
        assert_eq!(forwarded.lines().filter(|l| l.starts_with("SET \"m")).count(), 40 * 20);
        assert!(!forwarded.contains("FUNCTION_RESULT"));
        // 3 before the definitions, 2 a row (`zz`, `12x`), 4 every 8 rows (unknown chart, bad
        // microseconds, END and SET outside BEGIN/END)
        assert_eq!(general.0.len(), 3 + 40 * 2 + 4 * 5, "{:#?}", general.0);
    }

    /// The run way of live samples ([`HostIngest::live_run`], taken by
    /// [`Session::apply_lines`] on the bytes after each line) gives what the general parser
    /// gives, line for line, on samples that stray from the usual shape in every way it
    /// checks: `BEGIN`s of other shapes or unknown charts, `END`s of other shapes, missing or
    /// outside a sample, dimensions skipped, repeated, swapped, unknown or named by a prefix or an
    /// extension of their id, empty values, extra spaces, `\r`, single quotes, values not in
    /// the usual integer shape (octal, hex, signs, leading zeros, 18 and 19 digits, garbage),
    /// wide counters, ids of 16 and 17 bytes and ids holding a quote or a backslash, a chart
    /// with more dimensions than are looked up by scanning, `SET`s outside `BEGIN`/`END` and
    /// inside a function result; in small and large pieces, with lines forwarded upstream.
    #[test]
    fn live_set_run_agrees_with_the_general_parser() {
        let now_us = crate::local::now_us();
        let mut lines: Vec<Vec<u8>> = Vec::new();
        let mut l = |s: String| lines.push(s.into_bytes());
        let odd = vec!["a", "b7", "id_of_16_bytes_x", "id_of_17_bytes_xy", "q\"r", "x\\y", "c"];
        let plain: Vec<String> = (0..10).map(|d| format!("d{d}")).chain(["id_of_16_bytes_x".to_string()]).collect();
        let many: Vec<String> = (0..20).map(|d| format!("m{d}")).collect();
        let charts: [(&str, Vec<&str>); 3] = [("t.odd", odd), ("t.plain", plain.iter().map(String::as_str).collect()), ("t.many", many.iter().map(String::as_str).collect())];
        for (c, dims) in &charts {
            l(format!("CHART {c} '' 'x' 'u' f c line 1 1 '' p m"));
            for (k, d) in dims.iter().enumerate() {
                // unquoted: a quote inside a word is an ordinary byte
                let algorithm = if k % 2 == 0 { "absolute" } else { "incremental" };
                l(format!("DIMENSION {d} {d} {algorithm} 1 1 ''"));
            }
        }
        let mut rng = ndcluster::testkit::XorShift64::new(0x2545_F491_4F6C_DD1D);
        let mut rnd = |n: u64| rng.below(n);
        let words = ["0", "-0", "00", "010", "0x1f", "+5", "-5", "123456789012345678", "-123456789012345678", "1234567890123456789", "", "12x", "1e3", "99999999999999999999", "4294967296", "4294967295"];
        let mut counter = 1_000u64;
        for row in 0..300 {
            let (chart, dims) = &charts[rnd(3) as usize];
            let usec = if row == 0 { 0 } else { 1_000_000 - rnd(2) * 1000 };
            l(match rnd(40) {
                0 => format!("BEGIN \"{chart}\"  {usec}"),
                1 => format!("BEGIN \"{chart}\" {usec}\r"),
                2 => format!("BEGIN '{chart}' {usec}"),
                3 => format!("BEGIN \"{chart}\""),
                4 => format!("BEGIN \"{chart}\" x{usec}"),
                5 => format!("BEGIN \"{chart}x\" {usec}\nBEGIN \"{chart}\" {usec}"), // unknown chart first
                6 => format!("BEGIN \"{chart}\" {usec}\nEND\r\nBEGIN \"{chart}\" {usec}"),
                _ => format!("BEGIN \"{chart}\" {usec}"),
            });
            let mut order: Vec<usize> = (0..dims.len()).collect();
            if rnd(6) == 0 {
                let (i, j) = (rnd(dims.len() as u64) as usize, rnd(dims.len() as u64) as usize);
                order.swap(i, j);
            }
            for &d in &order {
                let id = dims[d];
                counter += rnd(5_000);
                let v = match rnd(8) {
                    0 => words[rnd(words.len() as u64) as usize].to_string(),
                    1 => (counter << 20).to_string(), // wide
                    2 => format!("-{}", rnd(1 << 40)),
                    _ => counter.to_string(),
                };
                let line = match rnd(40) {
                    0 => continue, // dimension missing
                    1 => format!("SET \"{id}\" = {v}\r"),
                    2 => format!("SET \"{id}\"= {v}"),
                    3 => format!("SET  \"{id}\" = {v}"),
                    4 => format!("SET \"{id}\" =  {v}"),
                    5 => format!("SET \"{id}\" = {v} "),
                    6 => format!("SET \"zz\" = {v}"),
                    7 => format!("SET \"{id}\" = {v}\nSET \"{id}\" = 7{v}"), // repeated, another value
                    8 => format!("SET \"{}\" = {v}", &id[..id.len() - 1]),
                    9 => format!("SET \"{id}0\" = {v}"),
                    10 => format!("SET \"{id}\" = "),
                    11 => format!("SET '{id}' = {v}"),
                    12 => format!("SET \"{id}\" = {v}\nEND\nSET \"{id}\" = 1"), // outside BEGIN/END
                    13 => format!("SET \"{id}\" = {v}\nFUNCTION_RESULT_BEGIN \"tx\" 200 \"application/json\" 0\nSET \"{id}\" = 5\nSET \"zz\" = 1\nFUNCTION_RESULT_END"),
                    _ => format!("SET \"{id}\" = {v}"),
                };
                for part in line.split('\n') {
                    l(part.to_string());
                }
            }
            l(match rnd(30) {
                0 => "END ".into(),
                1 => "END\r".into(),
                2 => "END\nEND".into(), // the second outside BEGIN/END
                3 => "ENDX".into(),
                4 => continue, // no END: the next BEGIN starts over
                _ => "END".into(),
            });
        }
        let lines: Vec<Vec<u8>> = lines.iter().flat_map(|l| l.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect::<Vec<_>>()).collect();
        let general = run_live(&lines, Way::General, now_us);
        let key = |v: &Vec<TierPoint>| v.iter().map(|p| (p.time, p.sum.to_bits(), p.reset)).collect::<Vec<_>>();
        for way in [Way::Lines, Way::Chunks(3), Way::BigChunks(1), Way::BigChunks(0x9e37_79b9_7f4a_7c15), Way::BigChunks(77)] {
            let fast = run_live(&lines, way, now_us);
            assert_eq!(fast.0, general.0, "errors");
            assert_eq!(String::from_utf8_lossy(&fast.1), String::from_utf8_lossy(&general.1), "forwarded");
            assert_eq!(fast.2, general.2, "samples");
            assert_eq!(fast.3.iter().map(key).collect::<Vec<_>>(), general.3.iter().map(key).collect::<Vec<_>>());
        }
        assert!(general.3.iter().map(Vec::len).sum::<usize>() > 2000, "points were stored");
        assert!(general.0.len() > 100, "the odd lines were errors: {}", general.0.len());
    }

    #[test]
    fn replication_fast_paths_agree_with_the_general_parser() {
        let now = crate::local::now_s();
        let (b, e) = (now - 100, now - 90);
        let mut lines: Vec<Vec<u8>> = Vec::new();
        let mut l = |s: String| lines.push(s.into_bytes());
        l("RSET \"a\" 1.0000000 \"\"".into()); // before any reply: an error
        l(format!("RBEGIN '' {} {} {now}", b, b + 1)); // idem
        for c in ["t.one", "t.two"] {
            l(format!("CHART {c} '' 'x' 'u' f c line 1 1 '' p m"));
            for d in ["a", "b", "long_dimension_name_x", "long_dimension_name_y"] {
                l(format!("DIMENSION '{d}' '{d}' absolute 1 1 ''"));
            }
            l(format!("CHART_DEFINITION_END {b} {e} {now}"));
        }
        l("RBEGIN \"t.one\"".into());
        l("RSET \"a\" 5.0000000 \"\"".into()); // no timed RBEGIN yet: ignored
        for t in b + 1..=e {
            l(format!("RBEGIN '' {} {t} {now}", t - 1));
            l(format!("RSET \"a\" {}.1234567 \"\"", t % 1000));
            l("RSET \"b\" NAN \"E\"".into());
            l(format!("RSET \"long_dimension_name_y\" -{}.5000000 \"R\"", t % 7));
            // values at the edges of the storage-number packing (ties, scaling boundaries)
            let edge = ["7.0000000", "0.1677726", "16777215.5000000", "99999999.9999999", "2.5000000", "0.0000005", "-1677726.0000000", "16777200.0000000", "0.0000000", "-0.0000000"];
            l(format!("RSET \"long_dimension_name_x\" {} \"\"", edge[(t - b) as usize % edge.len()]));
            l("RSET  \"a\"  8.0000000  \"\"".into()); // another shape: the general way
            l("RSET \"zz\" 1.0000000 \"\"".into()); // unknown dimension: same error both ways
            l("RSET \"a\u{1}\" 1.0000000 \"\"".into()); // \u{1} becomes an invalid byte below
            l("RSET \"b\" 1.0000000".into());
            l("RSET \"b\" x \"\"".into());
        }
        // a function result in the middle of a reply: its lines are not commands
        l("FUNCTION_RESULT_BEGIN \"tx\" 200 \"application/json\" 0".into());
        l("RSET \"a\" 9.0000000 \"\"".into());
        l("RSET \"zz\" 9.0000000 \"\"".into());
        l("FUNCTION_RESULT_END".into());
        l(format!("RBEGIN '' {} {} {now}", now + 50, now + 51)); // in the child's future: rejected
        l("RSET \"a\" 1.0000000 \"\"".into());
        l(format!("RBEGIN '' {} x {now}", e));
        l(format!("RBEGIN '' {e}  {} {now}", e + 1));
        l(format!("RBEGIN '' {} {} {}", e, e + 1, now + 1000)); // untrusted child clock: ours
        l("RSET \"a\" 2.0000000 \"\"".into());
        l(format!("RDSTATE \"a\" {} 2 2.0 2.0", (e + 1) * 1_000_000));
        l(format!("RSSTATE {} {}", (e + 1) * 1_000_000, (e + 1) * 1_000_000));
        l(format!("REND 1 {b} {e} true {b} {e} {now}"));
        l("RSET \"a\" 1.0000000 \"\"".into()); // after REND: an error
        l("RBEGIN \"t.two\"".into());
        l(format!("RBEGIN '' {} {} {now}", b, b + 1));
        l("RSET \"long_dimension_name_x\" 3.0000000 \"\"".into());
        l("FLUSH".into());
        l("RSET \"a\" 1.0000000 \"\"".into());
        for line in &mut lines {
            for c in line.iter_mut().filter(|c| **c == 1) {
                *c = 0xff;
            }
        }
        let general = run(&lines, Way::General);
        let key = |v: &Vec<TierPoint>| v.iter().map(|p| (p.time, p.sum.to_bits(), p.reset)).collect::<Vec<_>>();
        for way in [Way::Lines, Way::Chunks(1), Way::Chunks(0x9e37_79b9_7f4a_7c15), Way::Chunks(7)] {
            let fast = run(&lines, way);
            assert_eq!(fast.0, general.0);
            assert_eq!(String::from_utf8_lossy(&fast.1), String::from_utf8_lossy(&general.1));
            assert_eq!(fast.2, general.2);
            assert_eq!(fast.3.iter().map(key).collect::<Vec<_>>(), general.3.iter().map(key).collect::<Vec<_>>());
        }
        // the transcript did what it says: 10 rows of 3 values (+ the late one) stored, errors
        assert_eq!(general.3.iter().map(Vec::len).sum::<usize>(), 10 * 3 + 1 + 1 + 10);
        assert_eq!(general.0.len(), 2 + 10 * 2 + 2 + 1, "{:?}", general.0);
        assert!(String::from_utf8_lossy(&general.1).contains("REPLAY_CHART \"t.one\""));
    }

    /// Not a check: the receive cost per replicated sample of a backlog shaped like
    /// `bench/replgen`'s (charts × 10 dimensions × 600 rows of `%0.7f` random walk), read in
    /// 256 KiB pieces, into a `DiskStore` (tiers 1/60/60), store included; prints ns per sample
    /// (best of 3). `cargo test --release -p netdatad --bins -- --ignored --nocapture receive_speed`
    #[test]
    #[ignore]
    fn replication_receive_speed() {
        use ndcluster::storage::disk::DiskStore;
        use ndcluster::storage::{StoreConfig, TierConfig};
        let charts: usize = std::env::var("RS_CHARTS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
        let (dims, rows) = (10usize, 600i64);
        let now = crate::local::now_us() / 1_000_000;
        let mut defs = String::new();
        for c in 0..charts {
            defs.push_str(&format!("CHART \"rg{}.c{c}\" \"\" \"t\" \"u\" \"f\" \"ctx\" \"line\" 1 1 \"\" \"p\" \"m\"\n", c / 10));
            for d in 0..dims {
                defs.push_str(&format!("DIMENSION \"d{d}\" \"d{d}\" \"absolute\" 1 1 \"\"\n"));
            }
        }
        let mut rng = ndcluster::testkit::XorShift64::new(0x9E37_79B9_7F4A_7C15);
        let mut vals: Vec<u64> = (0..charts * dims).map(|i| (i as u64 * 7919 % 1000) * 10_000_000).collect();
        let mut text = Vec::new();
        let first = now - 6 * rows - 10;
        for round in 0..6 {
            for c in 0..charts {
                text.extend_from_slice(format!("RBEGIN \"rg{}.c{c}\"\n", c / 10).as_bytes());
                for r in 0..rows {
                    let t = first + round * rows + r + 1;
                    text.extend_from_slice(format!("RBEGIN '' {} {t} {now}\n", t - 1).as_bytes());
                    for d in 0..dims {
                        let x = rng.next_u64();
                        let v = &mut vals[c * dims + d];
                        *v = (*v as i64 + (x % 2_000_001) as i64 - 1_000_000).clamp(0, 10_000_000_000_000) as u64;
                        text.extend_from_slice(format!("RSET \"d{d}\" {}.{:07} \"\"\n", *v / 10_000_000, *v % 10_000_000).as_bytes());
                    }
                }
                let (a, b) = (first + round * rows, first + (round + 1) * rows);
                text.extend_from_slice(format!("REND 1 {first} {b} false {a} {b} {now}\n").as_bytes());
            }
        }
        let samples = charts * dims * 6 * rows as usize;
        let mut best = f64::MAX;
        let mut best_cpu = f64::MAX;
        for _ in 0..3 {
            let tmp = tempfile::tempdir().expect("tempdir");
            let tier = |iterations| TierConfig { iterations, retention_bytes: 1 << 30, retention_secs: 0 };
            let cfg = StoreConfig { tiers: vec![tier(1), tier(60), tier(60)], flush_interval_secs: 5 };
            let store: Arc<dyn Store> = Arc::new(DiskStore::open(tmp.path().join("db"), cfg).expect("store"));
            let meta = HostMeta { guid: "g".into(), hostname: "h".into(), update_every: 1, ..Default::default() };
            let mut h = HostIngest::new(store.clone(), meta, Limits::default()).expect("host");
            let repl = ReplicationSettings { enabled: true, seconds_to_replicate: 86_400, seconds_per_step: 600 };
            let mut s = Session::new(PARENT_CAPABILITIES, repl);
            let mut out = Vec::new();
            for l in defs.lines() {
                s.apply(&mut h, l.as_bytes(), &mut out).expect("definition");
            }
            h.flush_writes().expect("flush");
            let mut reader = LineReader::new(ndcluster::proto::MAX_LINE_LEN);
            // time on the CPU too (from the scheduler, in ns): steadier than the wall clock
            // on a shared machine
            let on_cpu = || {
                std::fs::read_to_string("/proc/thread-self/schedstat")
                    .ok()
                    .and_then(|s| s.split_whitespace().next().and_then(|w| w.parse::<u64>().ok()))
            };
            let cpu0 = on_cpu();
            let started = std::time::Instant::now();
            for piece in text.chunks(256 << 10) {
                reader.spare(piece.len())[..piece.len()].copy_from_slice(piece);
                reader.commit(piece.len());
                s.clock_us = None;
                s.apply_lines(&mut h, &mut reader, &mut out).expect("apply");
                h.flush_writes().expect("flush");
                out.clear();
            }
            let ns = started.elapsed().as_secs_f64() * 1e9 / samples as f64;
            let cpu = on_cpu().zip(cpu0).map(|(b, a)| b.saturating_sub(a) as f64 / samples as f64);
            assert_eq!(s.samples, samples as u64);
            best = best.min(ns);
            best_cpu = best_cpu.min(cpu.unwrap_or(f64::NAN));
            println!("replication receive: {samples} samples, {ns:.1} ns/sample, on CPU {:.1}", cpu.unwrap_or(f64::NAN));
        }
        println!("replication receive: best {best:.1} ns/sample, on CPU {best_cpu:.1}");
    }

    /// Not a check: the receive cost per live sample under `bench/parent-load.sh`'s load
    /// (hosts × charts × 10 dimensions, one `BEGIN`/`SET`×10/`END` per chart per second, half
    /// the dimensions absolute random walks, half incremental counters, each host's second in
    /// one piece as the load generator writes it), every host into one `DiskStore` (tiers
    /// 1/60/60), store included; our clock advances one second per round. Prints ns per sample
    /// on the CPU (from the scheduler) over the measured rounds, and the part spent in
    /// [`Session::apply_lines`] (wall clock), best of 3.
    /// `LS_HOSTS=50 LS_CHARTS=200 cargo test --release -p netdatad --lib -- --ignored --nocapture live_receive_speed`
    #[test]
    #[ignore]
    fn live_receive_speed() {
        use ndcluster::storage::disk::DiskStore;
        use ndcluster::storage::{StoreConfig, TierConfig};
        let env = |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
        let (hosts, charts, dims) = (env("LS_HOSTS", 50), env("LS_CHARTS", 200), 10usize);
        let (warm, rounds) = (5usize, env("LS_ROUNDS", 30));
        let mut defs = String::new();
        for c in 0..charts {
            let fam = c / 10;
            defs.push_str(&format!("CHART \"lg{fam}.c{c}\" \"\" \"Synthetic chart {c}\" \"units\" \"fam{fam}\" \"lg{fam}.ctx{}\" \"line\" {} 1 \"   \" \"loadgen.plugin\" \"\"\n", c % 10, 1000 + c));
            defs.push_str(&format!("CLABEL \"family\" \"fam{fam}\" 1\nCLABEL_COMMIT\n"));
            for d in 0..dims {
                let algo = if d % 2 == 0 { "absolute" } else { "incremental" };
                defs.push_str(&format!("DIMENSION \"d{d}\" \"d{d}\" \"{algo}\" 1 1 \"  \"\n"));
            }
        }
        // every host's text of every round (built before timing)
        let mut rng = ndcluster::testkit::XorShift64::new(0x9E37_79B9_7F4A_7C15);
        let mut vals: Vec<Vec<i64>> = (0..hosts).map(|h| (0..charts * dims).map(|i| ((i * 7919 + h * 104_729) % 1_000_000) as i64).collect()).collect();
        let mut texts: Vec<Vec<Vec<u8>>> = Vec::new();
        for round in 0..warm + rounds {
            let usec = if round == 0 { 0 } else { 1_000_000 };
            let mut per_host = Vec::new();
            for v in vals.iter_mut() {
                let mut out = String::with_capacity(charts * (30 + dims * 28));
                for c in 0..charts {
                    out.push_str(&format!("BEGIN \"lg{}.c{c}\" {usec}\n", c / 10));
                    for d in 0..dims {
                        let x = rng.next_u64();
                        let v = &mut v[c * dims + d];
                        *v = if d % 2 == 0 { (*v + (x % 2001) as i64 - 1000).clamp(0, 10_000_000) } else { *v + (x % 5000) as i64 };
                        out.push_str(&format!("SET \"d{d}\" = {}\n", *v));
                    }
                    out.push_str("END\n");
                }
                per_host.push(out.into_bytes());
            }
            texts.push(per_host);
        }
        let on_cpu = || std::fs::read_to_string("/proc/thread-self/schedstat").ok().and_then(|s| s.split_whitespace().next().and_then(|w| w.parse::<u64>().ok()));
        let samples = (hosts * charts * dims * rounds) as f64;
        let (mut best, mut best_apply) = (f64::MAX, f64::MAX);
        for _ in 0..3 {
            let tmp = tempfile::tempdir().expect("tempdir");
            let tier = |iterations| TierConfig { iterations, retention_bytes: 1 << 30, retention_secs: 0 };
            let cfg = StoreConfig { tiers: vec![tier(1), tier(60), tier(60)], flush_interval_secs: 5 };
            let store: Arc<dyn Store> = Arc::new(DiskStore::open(tmp.path().join("db"), cfg).expect("store"));
            let repl = ReplicationSettings { enabled: false, seconds_to_replicate: 0, seconds_per_step: 600 };
            let mut conns = Vec::new();
            for hi in 0..hosts {
                let meta = HostMeta { guid: format!("g{hi}"), hostname: format!("h{hi}"), update_every: 1, ..Default::default() };
                let mut h = HostIngest::new(store.clone(), meta, Limits::default()).expect("host");
                let mut s = Session::new(Capabilities(Capabilities::VCAPS.0 | Capabilities::HLABELS.0 | Capabilities::CLAIM.0 | Capabilities::CLABELS.0), repl);
                let mut out = Vec::new();
                for l in defs.lines() {
                    s.apply(&mut h, l.as_bytes(), &mut out).expect("definition");
                }
                h.flush_writes().expect("flush");
                conns.push((h, s, LineReader::new(ndcluster::proto::MAX_LINE_LEN)));
            }
            let t0 = (crate::local::now_us() / 1_000_000 - (warm + rounds) as i64 - 10) * 1_000_000;
            let mut out = Vec::new();
            let (mut cpu0, mut started) = (on_cpu(), std::time::Instant::now());
            let mut in_apply = std::time::Duration::ZERO;
            for (round, per_host) in texts.iter().enumerate() {
                if round == warm {
                    (cpu0, started, in_apply) = (on_cpu(), std::time::Instant::now(), std::time::Duration::ZERO);
                }
                for (hi, ((h, s, reader), text)) in conns.iter_mut().zip(per_host).enumerate() {
                    reader.spare(text.len()).copy_from_slice(text);
                    reader.commit(text.len());
                    s.clock_us = Some(t0 + round as i64 * 1_000_000 + (hi * 1_000_000 / hosts) as i64);
                    let a = std::time::Instant::now();
                    s.apply_lines(h, reader, &mut out).expect("apply");
                    in_apply += a.elapsed();
                    h.flush_writes().expect("flush");
                }
            }
            let wall = started.elapsed().as_secs_f64() * 1e9 / samples;
            let cpu = on_cpu().zip(cpu0).map_or(f64::NAN, |(b, a)| b.saturating_sub(a) as f64 / samples);
            let apply = in_apply.as_secs_f64() * 1e9 / samples;
            let stored: u64 = conns.iter().map(|c| c.0.stats.points_stored).sum();
            assert!(stored as f64 >= samples, "points stored: {stored}");
            best = best.min(cpu);
            best_apply = best_apply.min(apply);
            println!("live receive: {samples} samples, {wall:.1} ns/sample wall, on CPU {cpu:.1}, in apply_lines {apply:.1}");
        }
        println!("live receive: best on CPU {best:.1} ns/sample, apply_lines {best_apply:.1}");
    }

    /// The row way of `RSET`s ([`HostIngest::replay_rows`], taken by [`Session::apply_lines`]
    /// on the bytes after each line) gives what the general parser gives, line for line, on
    /// replies that stray from the usual shape in every way it checks: dimensions skipped,
    /// repeated, swapped or unknown, flags, extra spaces, `\r`, values not in the `%0.7f`
    /// shape (integers, exponents, `nan`, 9 integer digits, bad digits, signs), ids of 16 and
    /// 17 bytes and ids holding a quote or a backslash, rows rejected or going back in time,
    /// a chart switch and `REND` in the middle; in small and large pieces.
    #[test]
    fn replication_row_fast_path_agrees_with_the_general_parser() {
        let now = crate::local::now_s();
        let b = now - 3000;
        let mut lines: Vec<Vec<u8>> = Vec::new();
        let mut l = |s: String| lines.push(s.into_bytes());
        // charts whose ids hold a quote or backslash go the usual way; the others take the
        // row way (and the rest of a row straight into the block's cells)
        let odd = ["a", "b7", "id_of_16_bytes_x", "id_of_17_bytes_xy", "q\"r", "x\\y", "c"];
        let plain = ["a", "b7", "id_of_16_bytes_x", "id_of_17_bytes_xy", "c", "d", "e8"];
        let dims_of = |c: &str| if c.ends_with("one") || c.ends_with("two") { odd } else { plain };
        for c in ["t.one", "t.two", "t.three", "t.four"] {
            l(format!("CHART {c} '' 'x' 'u' f c line 1 1 '' p m"));
            for d in dims_of(c) {
                // unquoted: a quote inside a word is an ordinary byte
                l(format!("DIMENSION {d} {d} absolute 1 1 ''"));
            }
            l(format!("CHART_DEFINITION_END {b} {now} {now}"));
        }
        let mut rng = ndcluster::testkit::XorShift64::new(0x2545_F491_4F6C_DD1D);
        let mut rnd = |n: u64| rng.below(n);
        let values = ["12.3456789", "-0.0000001", "99999999.9999999", "0.0000000", "123456789.0000000", "7", "1e3", "nan", "-nan", "12.34a6789", "+1.0000000", "1.000000", "--1.0000000", ".5000000", "16777216.0000000", "1677722.5000000"];
        let mut t = b;
        for chart in ["t.one", "t.three", "t.two", "t.four", "t.three", "t.one"] {
            let dims = dims_of(chart);
            l(format!("RBEGIN \"{chart}\""));
            for _ in 0..120 {
                match rnd(40) {
                    0 => t -= 5,                                   // back in time
                    3 => t -= 1,                                   // the same row again
                    1 => l(format!("RBEGIN '' {} {} {now}", t + 10, t + 5)), // rejected span
                    2 => l(format!("RBEGIN ''  {} {} {now}", t, t + 1)),  // other shape
                    _ => {}
                }
                t += 1;
                l(format!("RBEGIN '' {} {t} {now}", t - 1));
                let mut order: Vec<usize> = (0..dims.len()).collect();
                if rnd(6) == 0 {
                    let (i, j) = (rnd(dims.len() as u64) as usize, rnd(dims.len() as u64) as usize);
                    order.swap(i, j);
                }
                for &d in &order {
                    let id = dims[d];
                    let v = if rnd(5) == 0 { values[rnd(values.len() as u64) as usize].to_string() } else { format!("{}.{:07}", rnd(100_000), rnd(10_000_000)) };
                    let line = match rnd(30) {
                        0 => continue, // dimension missing
                        1 => format!("RSET \"{id}\" {v} \"R\""),
                        2 => format!("RSET \"{id}\" {v} \"E\""),
                        3 => format!("RSET \"{id}\"  {v} \"\""),
                        4 => format!("RSET \"{id}\" {v}  \"\""),
                        5 => format!("RSET \"{id}\" {v} \"\"\r"),
                        6 => format!("RSET \"{id}\" {v}"),
                        7 => format!("RSET \"zz\" {v} \"\""),
                        8 => format!("RSET \"{id}\" {v} \"\" extra"),
                        9 => format!("RSET  \"{id}\" {v} \"\""),
                        10 => format!("RSET \"{id}\" {v} \"\"\nRSET \"{id}\" 4{v} \"\""), // repeated, another value
                        11 => format!("RSET \"{}\" {v} \"\"", &id[..id.len().saturating_sub(1)]),
                        _ => format!("RSET \"{id}\" {v} \"\""),
                    };
                    for part in line.split('\n') {
                        l(part.to_string());
                    }
                }
            }
            l(format!("REND 1 {b} {t} false {b} {t} {now}"));
        }
        let general = run(&lines, Way::General);
        let key = |v: &Vec<TierPoint>| v.iter().map(|p| (p.time, p.sum.to_bits(), p.reset)).collect::<Vec<_>>();
        for way in [Way::Lines, Way::Chunks(3), Way::BigChunks(1), Way::BigChunks(0x9e37_79b9_7f4a_7c15), Way::BigChunks(77)] {
            let fast = run(&lines, way);
            assert_eq!(fast.0, general.0, "errors");
            assert_eq!(String::from_utf8_lossy(&fast.1), String::from_utf8_lossy(&general.1));
            assert_eq!(fast.2, general.2, "samples");
            assert_eq!(fast.3.iter().map(key).collect::<Vec<_>>(), general.3.iter().map(key).collect::<Vec<_>>());
        }
        assert!(general.3.iter().map(Vec::len).sum::<usize>() > 1500, "the rows were stored");
        assert!(general.0.len() > 50, "the odd lines were errors: {}", general.0.len());
    }
}
