//! Helpers shared by the CLI integration tests: a fake HTTP server on 127.0.0.1:0 and a
//! runner for the real binary.
#![allow(dead_code)]

pub mod peers;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

pub const BIN: &str = env!("CARGO_BIN_EXE_netdatactl");

pub type Handler = dyn Fn(&str, usize, &[u8]) -> (u16, Vec<u8>) + Send + Sync;

/// Serves `handler(path_and_query, request_number)`; stops on drop. At most 100,000 requests.
pub struct FakeServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    pub hits: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl FakeServer {
    pub fn start(handler: impl Fn(&str, usize) -> (u16, Vec<u8>) + Send + Sync + 'static) -> Self {
        Self::start_with_body(move |p, n, _| handler(p, n))
    }

    /// Like [`FakeServer::start`]; the handler also gets the request body (`Content-Length`).
    pub fn start_with_body(handler: impl Fn(&str, usize, &[u8]) -> (u16, Vec<u8>) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(AtomicUsize::new(0));
        let (s, h) = (stop.clone(), hits.clone());
        let thread = std::thread::spawn(move || {
            for _ in 0..100_000 {
                let Ok((conn, _)) = listener.accept() else { break };
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let n = h.fetch_add(1, Ordering::SeqCst);
                let _ = serve_one(conn, &handler, n);
            }
        });
        Self { addr, stop, hits, thread: Some(thread) }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn serve_one(conn: TcpStream, handler: &Handler, n: usize) -> std::io::Result<()> {
    conn.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let mut r = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0).min(64 << 20);
            }
        }
    }
    let mut req_body = vec![0u8; len];
    std::io::Read::read_exact(&mut r, &mut req_body)?;
    let (status, body) = handler(&path, n, &req_body);
    let mut w = conn;
    write!(w, "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())?;
    w.write_all(&body)?;
    w.flush()
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs the real binary; returns (exit code, stdout, stderr).
pub fn ctl(args: &[&str]) -> (i32, String, String) {
    let o = std::process::Command::new(BIN).args(args).output().expect("run netdatactl");
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).to_string(), String::from_utf8_lossy(&o.stderr).to_string())
}

/// A parent's config directory: netdata.conf pointing cache/lib/config into a temp dir.
pub struct ParentDir {
    pub dir: tempfile::TempDir,
}

impl ParentDir {
    pub fn new(extra_netdata_conf: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path();
        std::fs::create_dir_all(p.join("cache")).expect("cache");
        std::fs::write(
            p.join("netdata.conf"),
            format!("[directories]\n\tconfig = {0}\n\tcache = {0}/cache\n\tlib = {0}/lib\n{extra_netdata_conf}", p.display()),
        )
        .expect("conf");
        Self { dir }
    }
    pub fn conf(&self) -> String {
        self.dir.path().join("netdata.conf").display().to_string()
    }
    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// Environment variable that turns a test binary into a helper process (see [`helper_main`]).
pub const HELPER_ENV: &str = "NETDATACTL_TEST_HELPER";

/// Runs a helper role when this test binary was started as one, else does nothing. Each test
/// file that needs helpers has a `#[test] fn helper_process() { common::helper_main() }`, and
/// [`helper`] starts `current_exe helper_process --exact` with the role in [`HELPER_ENV`]:
/// * `listen:PORT` — accept and close TCP connections on 0.0.0.0:PORT;
/// * `lock:PATH` — flock PATH exclusively and write our pid into it, like netdatad; exits with
///   [`HELPER_GOT_SIGHUP`] on SIGHUP.
///
/// Each prints `ready` once set up, then lives at most 120 s (killed by the test before).
/// Exit code of a `lock:` helper that received SIGHUP.
pub const HELPER_GOT_SIGHUP: i32 = 129;

pub fn helper_main() {
    let Ok(role) = std::env::var(HELPER_ENV) else { return };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    if let Some(port) = role.strip_prefix("listen:") {
        let l = TcpListener::bind(("0.0.0.0", port.parse::<u16>().expect("port"))).expect("bind");
        println!("ready");
        l.set_nonblocking(true).expect("nonblocking");
        while std::time::Instant::now() < deadline {
            match l.accept() {
                Ok((c, _)) => drop(c),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
            }
        }
    } else if let Some(path) = role.strip_prefix("lock:") {
        let mut f = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).expect("open");
        f.lock().expect("lock");
        f.set_len(0).expect("truncate");
        writeln!(f, "{}", std::process::id()).expect("write");
        f.flush().expect("flush");
        // SIGHUP (what `netdatactl keys` sends the daemon) is caught and ends us with code 129,
        // set up before `ready`: under `nohup` (SIGHUP ignored, inherited across exec) the
        // default action would never come.
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let got_hup = rt.block_on(async {
            use tokio::signal::unix::{signal, SignalKind};
            let mut hup = signal(SignalKind::hangup()).expect("SIGHUP handler");
            println!("ready");
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            tokio::time::timeout(left, hup.recv()).await.is_ok()
        });
        std::process::exit(if got_hup { HELPER_GOT_SIGHUP } else { 0 });
    }
    std::process::exit(0);
}

/// Starts this test binary as a helper (optionally under a command prefix such as
/// `ip netns exec NS`) and waits for its `ready` line.
pub fn helper(prefix: &[&str], role: &str) -> std::process::Child {
    let exe = std::env::current_exe().expect("current_exe");
    let mut argv: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
    argv.push(exe.display().to_string());
    argv.extend(["helper_process", "--exact", "--nocapture", "--test-threads=1"].map(String::from));
    let mut child = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .env(HELPER_ENV, role)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn helper");
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    for _ in 0..100 {
        match lines.next() {
            Some(Ok(l)) if l.trim().ends_with("ready") => return child,
            Some(Ok(_)) => continue,
            _ => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("helper {role} did not get ready");
}
