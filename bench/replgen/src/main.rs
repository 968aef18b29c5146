//! ndreplgen: synthetic Netdata 1.37.1 children with a large replication backlog, for measuring
//! how fast a parent absorbs replication (bench/replication.sh).
//!
//! Each child is one STREAM connection offering `ver=5056` (VCAPS|HLABELS|CLAIM|CLABELS|REPLICATION,
//! no compression, no functions). It sends host labels, then for every chart `CHART`, `CLABEL`,
//! `DIMENSION`s and `CHART_DEFINITION_END <now-seconds> <now> <now>` (it claims `--seconds` of
//! per-second retention ending at connect time), and answers every
//! `REPLAY_CHART "<id>" "<true|false>" <after> <before>` as a 1.37.1 child does (protocol §7.4):
//! `RBEGIN "<id>"`, per second `RBEGIN '' <t-1> <t> <now>` + one `RSET "<dim>" <%0.7f> ""` per
//! dimension (random walk generated on the fly), `RDSTATE`×n + `RSSTATE` when switching to live,
//! then `REND 1 <first> <last> <true|false> <after> <before> <now>`. It sends no live data: the
//! retention ends at connect time and a chart is done when its `REND ... true` has been written.
//!
//! When every chart of every child got its `REND true` (or `--cap` seconds after the first request),
//! it writes the summary to `--done-file` (if given) and stdout, keeps the connections open
//! `--linger` seconds (so the parent can drain its socket without a disconnect), then closes.
//!
//! Usage:
//!   ndreplgen --port P --key KEY [--hosts 1] [--charts 1000] [--dims 10] [--seconds 3600]
//!             [--end-ago 0] [--cap 600] [--linger 5] [--name rg] [--seed 1] [--done-file PATH]
//!
//! `--end-ago N` makes the advertised retention end N seconds ago (`[now-N-seconds, now-N]`), to
//! leave a hole in a parent's history (sibling back-fill experiments).
//!
//! Summary line (stdout): `SUMMARY k=v ...` with unix-ms timestamps `t_connect_ms`,
//! `t_first_request_ms`, `t_last_write_ms`, and counts `samples` (RSET values written), `points`,
//! `requests`, `rend_true`, `rend_false`, `bytes`, `capped` (1 when --cap stopped it).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Debug)]
struct Opts {
    port: u16,
    key: String,
    hosts: usize,
    charts: usize,
    dims: usize,
    seconds: u64,
    end_ago: u64,
    cap: u64,
    linger: u64,
    name: String,
    seed: u64,
    done_file: Option<String>,
}

const MAX_HOSTS: usize = 100;
const MAX_CHARTS: usize = 100_000;
const MAX_DIMS: usize = 1000;
const MAX_SECONDS: u64 = 7 * 86_400;
const MAX_CAP: u64 = 7200;
const MAX_LINE: usize = 4096;
/// REPLICATION (4096) | CLABELS | CLAIM | HLABELS | VCAPS
const VER: u32 = 5056;
const REPLICATION: u32 = 4096;

fn parse_opts() -> Result<Opts, String> {
    let mut o = Opts {
        port: 0,
        key: String::new(),
        hosts: 1,
        charts: 1000,
        dims: 10,
        seconds: 3600,
        end_ago: 0,
        cap: 600,
        linger: 5,
        name: "rg".into(),
        seed: 1,
        done_file: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let flag = args[i].as_str();
        let val = args.get(i + 1).ok_or_else(|| format!("{flag}: missing value"))?;
        let num = |what: &str| val.parse::<u64>().map_err(|e| format!("{what} {val:?}: {e}"));
        match flag {
            "--port" => o.port = u16::try_from(num("--port")?).map_err(|e| format!("--port: {e}"))?,
            "--key" => o.key = val.clone(),
            "--hosts" => o.hosts = num("--hosts")? as usize,
            "--charts" => o.charts = num("--charts")? as usize,
            "--dims" => o.dims = num("--dims")? as usize,
            "--seconds" => o.seconds = num("--seconds")?,
            "--end-ago" => o.end_ago = num("--end-ago")?,
            "--cap" => o.cap = num("--cap")?,
            "--linger" => o.linger = num("--linger")?,
            "--name" => o.name = val.clone(),
            "--seed" => o.seed = num("--seed")?,
            "--done-file" => o.done_file = Some(val.clone()),
            _ => return Err(format!("unknown option {flag}")),
        }
        i += 2;
    }
    if o.port == 0 || o.key.is_empty() {
        return Err("--port and --key are required".into());
    }
    if o.hosts == 0 || o.hosts > MAX_HOSTS || o.charts == 0 || o.charts > MAX_CHARTS || o.dims == 0 || o.dims > MAX_DIMS {
        return Err(format!("bounds: 1..={MAX_HOSTS} hosts, 1..={MAX_CHARTS} charts, 1..={MAX_DIMS} dims"));
    }
    if o.end_ago > MAX_SECONDS || o.seconds < 2 || o.seconds > MAX_SECONDS || o.cap == 0 || o.cap > MAX_CAP || o.linger > 600 {
        return Err(format!("bounds: --seconds 2..={MAX_SECONDS}, --cap 1..={MAX_CAP}, --linger ..=600"));
    }
    if !o.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err("--name: only [A-Za-z0-9_-]".into());
    }
    Ok(o)
}

/// xorshift64*: small, deterministic per host.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[derive(Default)]
struct Stats {
    samples: AtomicU64,
    points: AtomicU64,
    requests: AtomicU64,
    rend_true: AtomicU64,
    rend_false: AtomicU64,
    bytes: AtomicU64,
    connected: AtomicU64,
    hosts_done: AtomicU64,
    capped: AtomicBool,
    t_connect_ms: AtomicU64,
    t_first_request_ms: AtomicU64,
    t_last_write_ms: AtomicU64,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
fn now_s() -> u64 {
    now_ms() / 1000
}

fn request(o: &Opts, host: usize, guid: &str) -> String {
    let h = format!("{}-{host:03}", o.name);
    format!(
        "STREAM key={key}&hostname={h}&registry_hostname={h}&machine_guid={guid}&update_every=1&os=linux\
&timezone=Etc/UTC&abbrev_timezone=UTC&utc_offset=0&hops=1&ml_capable=0&ml_enabled=0&mc_version=1&tags=&ver={VER}\
&NETDATA_INSTANCE_CLOUD_TYPE=unknown&NETDATA_INSTANCE_CLOUD_INSTANCE_TYPE=unknown&NETDATA_INSTANCE_CLOUD_INSTANCE_REGION=unknown\
&NETDATA_SYSTEM_OS_NAME=Debian+GNU%2fLinux&NETDATA_SYSTEM_OS_ID=debian&NETDATA_SYSTEM_OS_ID_LIKE=unknown\
&NETDATA_SYSTEM_OS_VERSION=12+%28bookworm%29&NETDATA_SYSTEM_OS_VERSION_ID=12&NETDATA_SYSTEM_OS_DETECTION=/etc/os-release\
&NETDATA_HOST_IS_K8S_NODE=false&NETDATA_SYSTEM_KERNEL_NAME=Linux&NETDATA_SYSTEM_KERNEL_VERSION=6.1.0-replgen\
&NETDATA_SYSTEM_ARCHITECTURE=x86_64&NETDATA_SYSTEM_VIRTUALIZATION=none&NETDATA_SYSTEM_VIRT_DETECTION=none\
&NETDATA_SYSTEM_CONTAINER=none&NETDATA_SYSTEM_CONTAINER_DETECTION=none\
&NETDATA_CONTAINER_OS_NAME=none&NETDATA_CONTAINER_OS_ID=none&NETDATA_CONTAINER_OS_ID_LIKE=none\
&NETDATA_CONTAINER_OS_VERSION=none&NETDATA_CONTAINER_OS_VERSION_ID=none&NETDATA_CONTAINER_OS_DETECTION=none\
&NETDATA_SYSTEM_CPU_LOGICAL_CPU_COUNT=4&NETDATA_SYSTEM_CPU_FREQ=2400000000&NETDATA_SYSTEM_TOTAL_RAM=8589934592\
&NETDATA_SYSTEM_TOTAL_DISK_SIZE=107374182400&NETDATA_PROTOCOL_VERSION=1.1 HTTP/1.1\r\n\
User-Agent: netdata/v1.37.1\r\nAccept: */*\r\n\r\n",
        key = o.key
    )
}

fn chart_id(c: usize) -> String {
    format!("rg{}.c{c}", c / 10)
}

fn definitions(o: &Opts, guid: &str, first: u64, last: u64, now: u64) -> String {
    let mut s = String::with_capacity(o.charts * (260 + o.dims * 60));
    s.push_str(&format!("CLAIMED_ID {guid} NULL\n"));
    s.push_str("LABEL \"_os_name\" = 1 \"Debian GNU/Linux\"\nLABEL \"_is_ephemeral\" = 2 \"false\"\nLABEL \"replgen\" = 2 \"yes\"\nOVERWRITE labels\n");
    for c in 0..o.charts {
        let fam = c / 10;
        s.push_str(&format!(
            "CHART \"{}\" \"\" \"Synthetic chart {c}\" \"units\" \"fam{fam}\" \"rg{fam}.ctx{}\" \"line\" {} 1 \"   \" \"replgen.plugin\" \"\"\n",
            chart_id(c),
            c % 10,
            1000 + c
        ));
        s.push_str(&format!("CLABEL \"family\" \"fam{fam}\" 1\nCLABEL_COMMIT\n"));
        for d in 0..o.dims {
            s.push_str(&format!("DIMENSION \"d{d}\" \"d{d}\" \"absolute\" 1 1 \"  \"\n"));
        }
        s.push_str(&format!("CHART_DEFINITION_END {first} {last} {now}\n"));
    }
    s
}

/// A parsed `REPLAY_CHART`.
struct Req {
    chart: usize,
    start_streaming: bool,
    after: u64,
    before: u64,
}

/// Strips one pair of surrounding quotes ('...' or "...").
fn unquote(w: &str) -> &str {
    let b = w.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        &w[1..w.len() - 1]
    } else {
        w
    }
}

fn parse_replay(line: &str, ids: &HashMap<String, usize>) -> Option<Req> {
    let mut w = line.split_ascii_whitespace();
    if w.next()? != "REPLAY_CHART" {
        return None;
    }
    let chart = *ids.get(unquote(w.next()?))?;
    let start_streaming = unquote(w.next()?) == "true";
    let after = w.next()?.parse().ok()?;
    let before = w.next()?.parse().ok()?;
    Some(Req { chart, start_streaming, after, before })
}

fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// Fixed point with 7 decimals (units of 1e-7), printed like `%0.7f`; values are kept ≥ 0.
fn push_fixed7(buf: &mut Vec<u8>, v: u64) {
    push_u64(buf, v / 10_000_000);
    buf.push(b'.');
    let mut f = v % 10_000_000;
    let mut tmp = [b'0'; 7];
    for i in (0..7).rev() {
        tmp[i] = b'0' + (f % 10) as u8;
        f /= 10;
    }
    buf.extend_from_slice(&tmp);
}

/// Per-chart generator state: one random-walk value per dimension (1e-7 units).
struct ChartState {
    vals: Vec<u64>,
    done: bool,
}

struct Child {
    first: u64,
    last: u64,
    charts: Vec<ChartState>,
    rset_prefix: Vec<Vec<u8>>,
    rdstate_prefix: Vec<Vec<u8>>,
    rng: Rng,
}

impl Child {
    /// Appends the full reply to one request to `out`; returns (points, samples, rend_true).
    fn answer(&mut self, r: &Req, out: &mut Vec<u8>) -> (u64, u64, bool) {
        let now = now_s();
        let id = chart_id(r.chart);
        out.extend_from_slice(format!("RBEGIN \"{id}\"\n").as_bytes());
        let empty = r.after == 0 && r.before == 0;
        // query window (§7.4 step 2)
        let mut a = r.after.max(self.first);
        let mut b = if r.start_streaming { self.last } else { r.before.min(self.last) };
        if a > b {
            std::mem::swap(&mut a, &mut b);
        }
        let enable = r.start_streaming || b >= self.last || empty;
        let (mut points, mut samples) = (0u64, 0u64);
        if !empty {
            let st = &mut self.charts[r.chart];
            for t in a + 1..=b {
                out.extend_from_slice(b"RBEGIN '' ");
                push_u64(out, t - 1);
                out.push(b' ');
                push_u64(out, t);
                out.push(b' ');
                push_u64(out, now);
                out.push(b'\n');
                for (d, v) in st.vals.iter_mut().enumerate() {
                    // random walk, ±0.1 per second, kept within [0, 1e6]
                    let step = (self.rng.next() % 2_000_001) as i64 - 1_000_000;
                    *v = (*v as i64 + step).clamp(0, 10_000_000_000_000) as u64;
                    out.extend_from_slice(&self.rset_prefix[d]);
                    push_fixed7(out, *v);
                    out.extend_from_slice(b" \"\"\n");
                }
                points += 1;
                samples += st.vals.len() as u64;
            }
        }
        let st = &mut self.charts[r.chart];
        if enable {
            let usec = self.last * 1_000_000;
            for (d, v) in st.vals.iter().enumerate() {
                out.extend_from_slice(&self.rdstate_prefix[d]);
                push_u64(out, usec);
                out.push(b' ');
                push_u64(out, v / 10_000_000);
                out.push(b' ');
                push_fixed7(out, *v);
                out.push(b' ');
                push_fixed7(out, *v);
                out.push(b'\n');
            }
            out.extend_from_slice(format!("RSSTATE {usec} {usec}\n").as_bytes());
        }
        let (ea, eb) = if empty { (0, 0) } else { (r.after, if r.start_streaming { r.before.max(self.last) } else { r.before }) };
        out.extend_from_slice(
            format!("REND 1 {} {} {} {ea} {eb} {now}\n", self.first, self.last, if enable { "true" } else { "false" }).as_bytes(),
        );
        let newly_done = enable && !st.done;
        if enable {
            st.done = true;
        }
        (points, samples, newly_done)
    }
}

fn run_child(o: &Opts, host: usize, stop: &AtomicBool, st: &Stats) -> Result<(), String> {
    // the machine GUID depends on --name, --seed and the host index (a new name = a new host)
    let name_hash = o.name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let guid = format!("{:08x}-{:04x}-4000-8000-{:012x}", (o.seed as u32) ^ 0x4e91_0000, name_hash & 0xffff, host as u64 + 1);
    let addr = SocketAddr::from(([127, 0, 0, 1], o.port));
    let mut sock = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| format!("host {host}: connect {addr}: {e}"))?;
    sock.set_nodelay(true).ok();
    sock.set_write_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(15))).map_err(|e| e.to_string())?;
    let _ = st.t_connect_ms.compare_exchange(0, now_ms(), Ordering::Relaxed, Ordering::Relaxed);
    sock.write_all(request(o, host, &guid).as_bytes()).map_err(|e| format!("host {host}: send request: {e}"))?;
    // The greeting is not newline-terminated and the first REPLAY_CHART may follow only after our
    // definitions; read exactly the greeting bytes.
    let prefix = b"Hit me baby, push them over with the version=";
    let mut got = Vec::new();
    let mut b1 = [0u8; 1];
    let t_end = Instant::now() + Duration::from_secs(15);
    sock.set_read_timeout(Some(Duration::from_millis(300))).ok();
    while Instant::now() < t_end && got.len() < 128 {
        match sock.read(&mut b1) {
            Ok(0) => break,
            Ok(_) => got.push(b1[0]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if got.len() > prefix.len() {
                    break; // digits stopped coming
                }
            }
            Err(e) => return Err(format!("host {host}: read greeting: {e}")),
        }
    }
    let reply = String::from_utf8_lossy(&got).to_string();
    let caps: u32 = reply.strip_prefix(std::str::from_utf8(prefix).unwrap_or("")).and_then(|d| d.trim().parse().ok()).unwrap_or(0);
    if caps & REPLICATION == 0 {
        return Err(format!("host {host}: parent did not grant REPLICATION: {reply:?}"));
    }
    st.connected.fetch_add(1, Ordering::Relaxed);

    let ids: HashMap<String, usize> = (0..o.charts).map(|c| (chart_id(c), c)).collect();
    let (tx, rx) = mpsc::channel::<Req>();
    let mut rd = BufReader::with_capacity(1 << 16, sock.try_clone().map_err(|e| e.to_string())?);
    rd.get_ref().set_read_timeout(Some(Duration::from_millis(500))).ok();
    let reader_done = Arc::new(AtomicBool::new(false));
    let reader_done2 = reader_done.clone();
    let hard_end = Instant::now() + Duration::from_secs(o.cap + o.linger + 120);
    let t_first = Arc::new(AtomicU64::new(0));
    let t_first2 = t_first.clone();
    let reader = std::thread::spawn(move || {
        let mut line = String::new();
        let mut junk = 0u64;
        while Instant::now() < hard_end {
            // On a read timeout, read_line keeps the partial line in `line`: clear only after a
            // complete line was handled.
            match rd.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => {
                    if !line.ends_with('\n') && line.len() <= MAX_LINE {
                        continue;
                    }
                    if line.len() > MAX_LINE {
                        junk += 1;
                    } else {
                        match parse_replay(&line, &ids) {
                            Some(r) => {
                                let _ = t_first2.compare_exchange(0, now_ms(), Ordering::Relaxed, Ordering::Relaxed);
                                if tx.send(r).is_err() {
                                    break;
                                }
                            }
                            None => junk += 1,
                        }
                    }
                    line.clear();
                }
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
        reader_done2.store(true, Ordering::Relaxed);
        junk
    });

    let now = now_s();
    let last = now.saturating_sub(o.end_ago);
    let first = last.saturating_sub(o.seconds);
    let defs = definitions(o, &guid, first, last, now);
    sock.write_all(defs.as_bytes()).map_err(|e| format!("host {host}: send definitions: {e}"))?;
    st.bytes.fetch_add(defs.len() as u64, Ordering::Relaxed);

    let mut rng = Rng(o.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (host as u64 + 1) | 1);
    let charts = (0..o.charts)
        .map(|_| ChartState { vals: (0..o.dims).map(|_| (rng.next() % 1_000_000) * 10_000_000 / 1000).collect(), done: false })
        .collect();
    let mut child = Child {
        first,
        last,
        charts,
        rset_prefix: (0..o.dims).map(|d| format!("RSET \"d{d}\" ").into_bytes()).collect(),
        rdstate_prefix: (0..o.dims).map(|d| format!("RDSTATE \"d{d}\" ").into_bytes()).collect(),
        rng,
    };
    let mut out: Vec<u8> = Vec::with_capacity(1 << 20);
    let mut done_charts = 0usize;
    let mut result = Ok(());
    let cap_end = |tf: u64| tf != 0 && now_ms() > tf + o.cap * 1000;
    let flush = |out: &mut Vec<u8>, sock: &mut TcpStream| -> Result<(), String> {
        if out.is_empty() {
            return Ok(());
        }
        sock.write_all(out).map_err(|e| format!("host {host}: write replies: {e}"))?;
        st.bytes.fetch_add(out.len() as u64, Ordering::Relaxed);
        out.clear();
        Ok(())
    };
    'outer: while done_charts < o.charts && Instant::now() < hard_end && !stop.load(Ordering::Relaxed) {
        let r = match rx.try_recv() {
            Ok(r) => r,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                if let Err(e) = flush(&mut out, &mut sock) {
                    result = Err(e);
                    break;
                }
                loop {
                    if cap_end(t_first.load(Ordering::Relaxed)) {
                        st.capped.store(true, Ordering::Relaxed);
                        break 'outer;
                    }
                    match rx.recv_timeout(Duration::from_millis(200)) {
                        Ok(r) => break r,
                        Err(RecvTimeoutError::Timeout) => {
                            if Instant::now() >= hard_end || stop.load(Ordering::Relaxed) {
                                break 'outer;
                            }
                        }
                        Err(RecvTimeoutError::Disconnected) => break 'outer,
                    }
                }
            }
        };
        st.requests.fetch_add(1, Ordering::Relaxed);
        let (p, s, newly) = child.answer(&r, &mut out);
        st.points.fetch_add(p, Ordering::Relaxed);
        st.samples.fetch_add(s, Ordering::Relaxed);
        if newly {
            done_charts += 1;
            st.rend_true.fetch_add(1, Ordering::Relaxed);
        } else if !child.charts[r.chart].done {
            st.rend_false.fetch_add(1, Ordering::Relaxed);
        }
        if out.len() >= 1 << 20 {
            if let Err(e) = flush(&mut out, &mut sock) {
                result = Err(e);
                break;
            }
        }
        if cap_end(t_first.load(Ordering::Relaxed)) {
            st.capped.store(true, Ordering::Relaxed);
            break;
        }
    }
    if result.is_ok() {
        if let Err(e) = flush(&mut out, &mut sock) {
            result = Err(e);
        }
    }
    st.t_last_write_ms.fetch_max(now_ms(), Ordering::Relaxed);
    let tf = t_first.load(Ordering::Relaxed);
    if tf != 0 {
        let cur = st.t_first_request_ms.load(Ordering::Relaxed);
        if cur == 0 || tf < cur {
            st.t_first_request_ms.store(tf, Ordering::Relaxed);
        }
    }
    st.hosts_done.fetch_add(1, Ordering::Relaxed);
    // keep the socket open so the parent drains it without a disconnect in the measurement
    let linger_end = Instant::now() + Duration::from_secs(o.linger);
    while Instant::now() < linger_end && !reader_done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(rx);
    let _ = sock.shutdown(Shutdown::Both);
    let _ = reader.join();
    if result.is_ok() && done_charts < o.charts && !st.capped.load(Ordering::Relaxed) {
        result = Err(format!("host {host}: only {done_charts}/{} charts got REND true (parent closed or timed out)", o.charts));
    }
    result
}

fn summary(o: &Opts, st: &Stats, errors: usize) -> String {
    let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
    format!(
        "SUMMARY hosts={} charts={} dims={} seconds={} connected={} failed={} requests={} rend_true={} rend_false={} points={} samples={} bytes={} capped={} t_connect_ms={} t_first_request_ms={} t_last_write_ms={}",
        o.hosts,
        o.charts,
        o.dims,
        o.seconds,
        l(&st.connected),
        errors,
        l(&st.requests),
        l(&st.rend_true),
        l(&st.rend_false),
        l(&st.points),
        l(&st.samples),
        l(&st.bytes),
        u8::from(st.capped.load(Ordering::Relaxed)),
        l(&st.t_connect_ms),
        l(&st.t_first_request_ms),
        l(&st.t_last_write_ms),
    )
}

fn main() {
    let o = match parse_opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ndreplgen: {e}");
            std::process::exit(2);
        }
    };
    let st = Arc::new(Stats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for h in 0..o.hosts {
        let (o2, st2, stop2) = (o.clone(), st.clone(), stop.clone());
        threads.push(std::thread::Builder::new().name(format!("child{h}")).spawn(move || run_child(&o2, h, &stop2, &st2)));
    }
    let t0 = Instant::now();
    let hard_end = t0 + Duration::from_secs(o.cap + 180);
    let mut last_report = Instant::now();
    while st.hosts_done.load(Ordering::Relaxed) < o.hosts as u64 && Instant::now() < hard_end {
        if threads.iter().all(|t| t.as_ref().map(|j| j.is_finished()).unwrap_or(true)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        if last_report.elapsed() >= Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!(
                "ndreplgen: t={:>4}s requests={} rend_true={} samples={}",
                t0.elapsed().as_secs(),
                st.requests.load(Ordering::Relaxed),
                st.rend_true.load(Ordering::Relaxed),
                st.samples.load(Ordering::Relaxed)
            );
        }
    }
    let line = summary(&o, &st, 0);
    if let Some(p) = &o.done_file {
        let tmp = format!("{p}.tmp");
        if std::fs::write(&tmp, format!("{line}\n")).and_then(|()| std::fs::rename(&tmp, p)).is_err() {
            eprintln!("ndreplgen: cannot write {p}");
        }
    }
    let mut errors = Vec::new();
    for t in threads {
        match t {
            Ok(j) => match j.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.push(e),
                Err(_) => errors.push("a child thread panicked".into()),
            },
            Err(e) => errors.push(format!("spawn: {e}")),
        }
    }
    stop.store(true, Ordering::Relaxed);
    for e in errors.iter().take(10) {
        eprintln!("ndreplgen: {e}");
    }
    println!("{}", summary(&o, &st, errors.len()));
    if !errors.is_empty() {
        std::process::exit(1);
    }
}
