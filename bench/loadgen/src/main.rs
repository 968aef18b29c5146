//! ndloadgen: many synthetic Netdata 1.37.1 stream children over TCP (loopback).
//!
//! Each child is one STREAM connection that speaks the 1.37.1 protocol with capabilities
//! VCAPS|HLABELS|CLAIM|CLABELS (`ver=960`, no replication, no compression): it sends host labels,
//! chart and dimension definitions, then every second one `BEGIN`/`SET`×n/`END` block per chart
//! with random-walk integer values. Runs for a fixed duration, then closes every connection and
//! prints a summary line (`SUMMARY ...`) on stdout.
//!
//! Usage:
//!   ndloadgen --port P --key KEY [--hosts 50] [--charts 200] [--dims 10] [--duration 180]
//!             [--name lg] [--seed 1] [--stats-file PATH]
//!
//! With `--stats-file`, the cumulative count of samples written is rewritten there every second
//! as `<unix_time_ms> <samples> <connected>` (the benchmark script reads it at window edges).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Debug)]
struct Opts {
    port: u16,
    key: String,
    hosts: usize,
    charts: usize,
    dims: usize,
    duration: u64,
    name: String,
    seed: u64,
    stats_file: Option<String>,
}

const MAX_HOSTS: usize = 1000;
const MAX_CHARTS: usize = 10_000;
const MAX_DIMS: usize = 1000;
const MAX_DURATION: u64 = 3600;

fn parse_opts() -> Result<Opts, String> {
    let mut o = Opts { port: 0, key: String::new(), hosts: 50, charts: 200, dims: 10, duration: 180, name: "lg".into(), seed: 1, stats_file: None };
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
            "--duration" => o.duration = num("--duration")?,
            "--name" => o.name = val.clone(),
            "--seed" => o.seed = num("--seed")?,
            "--stats-file" => o.stats_file = Some(val.clone()),
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
    if o.duration == 0 || o.duration > MAX_DURATION {
        return Err(format!("--duration must be 1..={MAX_DURATION} s"));
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
    bytes: AtomicU64,
    connected: AtomicU64,
    failed: AtomicU64,
    late_ticks: AtomicU64,
}

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn request(o: &Opts, host: usize, guid: &str) -> String {
    let h = format!("{}-{host:03}", o.name);
    format!(
        "STREAM key={key}&hostname={h}&registry_hostname={h}&machine_guid={guid}&update_every=1&os=linux\
&timezone=Etc/UTC&abbrev_timezone=UTC&utc_offset=0&hops=1&ml_capable=0&ml_enabled=0&mc_version=1&tags=&ver=960\
&NETDATA_INSTANCE_CLOUD_TYPE=unknown&NETDATA_INSTANCE_CLOUD_INSTANCE_TYPE=unknown&NETDATA_INSTANCE_CLOUD_INSTANCE_REGION=unknown\
&NETDATA_SYSTEM_OS_NAME=Debian+GNU%2fLinux&NETDATA_SYSTEM_OS_ID=debian&NETDATA_SYSTEM_OS_ID_LIKE=unknown\
&NETDATA_SYSTEM_OS_VERSION=12+%28bookworm%29&NETDATA_SYSTEM_OS_VERSION_ID=12&NETDATA_SYSTEM_OS_DETECTION=/etc/os-release\
&NETDATA_HOST_IS_K8S_NODE=false&NETDATA_SYSTEM_KERNEL_NAME=Linux&NETDATA_SYSTEM_KERNEL_VERSION=6.1.0-loadgen\
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

fn definitions(o: &Opts, guid: &str) -> String {
    let mut s = String::with_capacity(o.charts * (200 + o.dims * 60));
    s.push_str(&format!("CLAIMED_ID {guid} NULL\n"));
    s.push_str("LABEL \"_os_name\" = 1 \"Debian GNU/Linux\"\nLABEL \"_is_ephemeral\" = 2 \"false\"\nLABEL \"loadgen\" = 2 \"yes\"\nOVERWRITE labels\n");
    for c in 0..o.charts {
        let fam = c / 10;
        s.push_str(&format!(
            "CHART \"lg{fam}.c{c}\" \"\" \"Synthetic chart {c}\" \"units\" \"fam{fam}\" \"lg{fam}.ctx{}\" \"line\" {} 1 \"   \" \"loadgen.plugin\" \"\"\n",
            c % 10,
            1000 + c
        ));
        s.push_str(&format!("CLABEL \"family\" \"fam{fam}\" 1\nCLABEL_COMMIT\n"));
        for d in 0..o.dims {
            let algo = if d % 2 == 0 { "absolute" } else { "incremental" };
            s.push_str(&format!("DIMENSION \"d{d}\" \"d{d}\" \"{algo}\" 1 1 \"  \"\n"));
        }
    }
    s
}

/// One child: handshake, definitions, then one sample per chart per second until `end`.
fn run_child(o: &Opts, host: usize, start_at: Instant, end: Instant, stop: &AtomicBool, st: &Stats) -> Result<(), String> {
    let guid = format!("{:08x}-0000-4000-8000-{:012x}", (o.seed as u32) ^ 0x5eed_0000, host as u64 + 1);
    std::thread::sleep(start_at.saturating_duration_since(Instant::now()));
    let addr = SocketAddr::from(([127, 0, 0, 1], o.port));
    let mut sock = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| format!("host {host}: connect {addr}: {e}"))?;
    sock.set_nodelay(true).ok();
    sock.set_write_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(15))).map_err(|e| e.to_string())?;
    sock.write_all(request(o, host, &guid).as_bytes()).map_err(|e| format!("host {host}: send request: {e}"))?;
    let mut buf = [0u8; 8192];
    let n = sock.read(&mut buf).map_err(|e| format!("host {host}: read greeting: {e}"))?;
    let reply = String::from_utf8_lossy(&buf[..n]).to_string();
    if !reply.starts_with("Hit me baby, push them over") {
        return Err(format!("host {host}: parent refused: {reply:?}"));
    }
    st.connected.fetch_add(1, Ordering::Relaxed);
    // Drain whatever the parent sends (nothing expected without replication/functions).
    let mut rd = sock.try_clone().map_err(|e| e.to_string())?;
    rd.set_read_timeout(Some(Duration::from_millis(500))).ok();
    let drain = std::thread::spawn(move || {
        let mut b = [0u8; 4096];
        let hard_end = Instant::now() + Duration::from_secs(MAX_DURATION + 60);
        while Instant::now() < hard_end {
            match rd.read(&mut b) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
    });
    let defs = definitions(o, &guid);
    sock.write_all(defs.as_bytes()).map_err(|e| format!("host {host}: send definitions: {e}"))?;
    st.bytes.fetch_add(defs.len() as u64, Ordering::Relaxed);

    let mut rng = Rng(o.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (host as u64 + 1) | 1);
    let mut vals: Vec<i64> = (0..o.charts * o.dims).map(|_| (rng.next() % 1_000_000) as i64).collect();
    let mut out = String::with_capacity(o.charts * (30 + o.dims * 28));
    let mut first = true;
    // Spread hosts over the second so the parent sees a steady stream, like real children.
    let phase = Duration::from_micros((host as u64 * 1_000_000 / o.hosts as u64) % 1_000_000);
    let base = Instant::now();
    let mut tick: u64 = 0;
    let mut result = Ok(());
    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
        out.clear();
        let usec = if first { 0 } else { 1_000_000 };
        first = false;
        for c in 0..o.charts {
            let fam = c / 10;
            out.push_str(&format!("BEGIN \"lg{fam}.c{c}\" {usec}\n"));
            for d in 0..o.dims {
                let v = &mut vals[c * o.dims + d];
                if d % 2 == 0 {
                    // gauge: random walk, kept non-negative
                    let step = (rng.next() % 2001) as i64 - 1000;
                    *v = (*v + step).clamp(0, 10_000_000);
                } else {
                    // counter: monotonic increments
                    *v += (rng.next() % 5000) as i64;
                }
                out.push_str(&format!("SET \"d{d}\" = {}\n", *v));
            }
            out.push_str("END\n");
        }
        if let Err(e) = sock.write_all(out.as_bytes()) {
            if Instant::now() < end {
                result = Err(format!("host {host}: send samples (tick {tick}, t={}): {e}", now_s()));
            }
            break;
        }
        st.samples.fetch_add((o.charts * o.dims) as u64, Ordering::Relaxed);
        st.bytes.fetch_add(out.len() as u64, Ordering::Relaxed);
        tick += 1;
        let next = base + phase + Duration::from_secs(tick);
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            st.late_ticks.fetch_add(1, Ordering::Relaxed);
        }
    }
    let _ = sock.shutdown(Shutdown::Both);
    let _ = drain.join();
    result
}

fn main() {
    let o = match parse_opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ndloadgen: {e}");
            std::process::exit(2);
        }
    };
    let st = Arc::new(Stats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs(o.duration);
    let mut threads = Vec::new();
    for h in 0..o.hosts {
        let (o2, st2, stop2) = (o.clone(), st.clone(), stop.clone());
        // Connect 20 per second at most, like children starting over a short period.
        let start_at = t0 + Duration::from_millis(h as u64 * 50);
        threads.push(std::thread::Builder::new().name(format!("child{h}")).spawn(move || run_child(&o2, h, start_at, end, &stop2, &st2)));
    }
    // stats file every second, progress every 10 s
    let mut last = 0u64;
    let mut secs = 0u64;
    while Instant::now() < end {
        std::thread::sleep(Duration::from_secs(1).min(end.saturating_duration_since(Instant::now())));
        secs += 1;
        let s = st.samples.load(Ordering::Relaxed);
        if let Some(path) = &o.stats_file {
            let ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
            let tmp = format!("{path}.tmp");
            let line = format!("{ms} {s} {}\n", st.connected.load(Ordering::Relaxed));
            if std::fs::write(&tmp, line).and_then(|()| std::fs::rename(&tmp, path)).is_err() {
                eprintln!("ndloadgen: cannot write {path}");
            }
        }
        if secs % 10 != 0 {
            continue;
        }
        eprintln!(
            "ndloadgen: t={:>4}s connected={} failed={} samples/s(last 10s)={} late_ticks={}",
            t0.elapsed().as_secs(),
            st.connected.load(Ordering::Relaxed),
            st.failed.load(Ordering::Relaxed),
            (s - last) / 10,
            st.late_ticks.load(Ordering::Relaxed)
        );
        last = s;
    }
    stop.store(true, Ordering::Relaxed);
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
    st.failed.store(errors.len() as u64, Ordering::Relaxed);
    for e in errors.iter().take(10) {
        eprintln!("ndloadgen: {e}");
    }
    println!(
        "SUMMARY hosts={} charts={} dims={} metrics={} duration_s={:.1} connected={} failed={} samples={} bytes={} late_ticks={}",
        o.hosts,
        o.charts,
        o.dims,
        o.hosts * o.charts * o.dims,
        t0.elapsed().as_secs_f64(),
        st.connected.load(Ordering::Relaxed),
        errors.len(),
        st.samples.load(Ordering::Relaxed),
        st.bytes.load(Ordering::Relaxed),
        st.late_ticks.load(Ordering::Relaxed)
    );
    if !errors.is_empty() {
        std::process::exit(1);
    }
}
