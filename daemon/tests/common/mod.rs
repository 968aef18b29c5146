//! Test harness: our daemon as a real process, real Netdata agents, tiny HTTP/stream clients.
//! Every process started here is stopped by pid when its guard drops.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const KEY: &str = "11111111-2222-3333-4444-555555555555";

/// A free loopback port (bound then released; the race is acceptable for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// `GET path` on 127.0.0.1:port → (status, body). Bounded by a 10 s timeout.
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    // A server may answer (and stop reading) before a huge request is sent: still read.
    let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text.split_whitespace().nth(1).and_then(|x| x.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

/// Polls `f` every 200 ms until it returns Some, at most `limit`.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

/// Our daemon, started as the real binary on its own directory and port.
pub struct OurDaemon {
    pub child: Option<Child>,
    pub port: u16,
    pub dir: PathBuf,
    pub log: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

pub fn netdata_conf(dir: &Path, port: u16, hostname: &str, extra: &str) -> String {
    format!(
        "[global]\n  hostname = {hostname}\n[directories]\n  config = {d}\n  cache = {d}/cache\n  lib = {d}/lib\n  log = {d}/log\n[web]\n  bind to = 127.0.0.1:{port}\n{extra}\n",
        d = dir.display()
    )
}

impl OurDaemon {
    /// Starts with `netdata.conf` = the standard one plus `extra`, and `stream_conf` if given.
    pub fn start(hostname: &str, extra: &str, stream_conf: Option<&str>) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut d = Self::start_in(&dir, free_port(), hostname, extra, stream_conf);
        d._tmp = Some(tmp);
        d
    }

    pub fn start_in(dir: &Path, port: u16, hostname: &str, extra: &str, stream_conf: Option<&str>) -> Self {
        std::fs::create_dir_all(dir).expect("mkdir");
        std::fs::write(dir.join("netdata.conf"), netdata_conf(dir, port, hostname, extra)).expect("netdata.conf");
        if let Some(sc) = stream_conf {
            std::fs::write(dir.join("stream.conf"), sc).expect("stream.conf");
        }
        let log = dir.join("netdatad.log");
        let logf = std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_netdatad"))
            .arg("-c")
            .arg(dir.join("netdata.conf"))
            .env("NETDATAD_LOG", "info")
            .stdout(logf.try_clone().expect("log"))
            .stderr(logf)
            .spawn()
            .expect("spawn netdatad");
        let d = Self { child: Some(child), port, dir: dir.to_path_buf(), log, _tmp: None };
        let ok = wait_for(Duration::from_secs(20), || http_get(port, "/api/v1/info").ok().filter(|(s, _)| *s == 200));
        assert!(ok.is_some(), "netdatad did not answer on {port}; log:\n{}", d.log_text());
        d
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// SIGTERM, wait (bounded) for exit; returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        signal(child.id(), "TERM");
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return st.code();
            }
            if Instant::now() > end {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.port, path).unwrap_or((0, String::new()))
    }
}

impl Drop for OurDaemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status();
}

/// Path of the real-Netdata launcher shipped in ../shared.
pub fn netdata_real_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/real-netdata/netdata-real")
}

/// True when a real Netdata 1.37.1 can be started. Under `CI` its absence fails the test;
/// elsewhere the test is skipped with a loud message.
pub fn real_netdata_available(test: &str) -> bool {
    let ok = netdata_real_script().exists()
        && Command::new("sh").arg("-c").arg("command -v netdata >/dev/null && test -x /usr/lib/netdata/plugins.d/system-info.sh").status().is_ok_and(|s| s.success());
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("{test}: real Netdata 1.37.1 is required under CI (apt-get install netdata-core netdata-plugins-bash; ../shared/real-netdata/netdata-real)");
        }
        eprintln!("\n!!!!! SKIPPING {test}: real Netdata 1.37.1 not installed (apt-get install netdata-core netdata-plugins-bash) !!!!!\n");
    }
    ok
}

/// A real Netdata agent started by `netdata-real`; stopped on drop.
pub struct RealAgent {
    pub dir: PathBuf,
    pub port: u16,
    _tmp: tempfile::TempDir,
}

impl RealAgent {
    fn run(args: &[&str]) -> std::process::Output {
        Command::new(netdata_real_script()).args(args).stdin(Stdio::null()).output().expect("netdata-real")
    }

    pub fn child(dest: &str, key: &str, hostname: &str, compression: bool) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("agent");
        let port = free_port();
        let p = port.to_string();
        let d = dir.to_string_lossy().to_string();
        let mut args = vec!["child", &d, &p, dest, key, "--hostname", hostname];
        if compression {
            args.push("--compression");
        }
        let out = Self::run(&args);
        assert!(out.status.success(), "netdata-real child failed: {}", String::from_utf8_lossy(&out.stderr));
        Self { dir, port, _tmp: tmp }
    }

    pub fn parent(key: &str, hostname: &str) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("agent");
        let port = free_port();
        let p = port.to_string();
        let d = dir.to_string_lossy().to_string();
        let out = Command::new(netdata_real_script())
            .args(["parent", &d, &p, key])
            .env("HOSTNAME_OVERRIDE", hostname)
            .stdin(Stdio::null())
            .output()
            .expect("netdata-real");
        assert!(out.status.success(), "netdata-real parent failed: {}", String::from_utf8_lossy(&out.stderr));
        Self { dir, port, _tmp: tmp }
    }

    pub fn guid(&self) -> String {
        std::fs::read_to_string(self.dir.join("lib/registry/netdata.public.unique.id")).unwrap_or_default().trim().to_string()
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.port, path).unwrap_or((0, String::new()))
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log/error.log")).unwrap_or_default()
    }
}

impl Drop for RealAgent {
    fn drop(&mut self) {
        let d = self.dir.to_string_lossy().to_string();
        let _ = Self::run(&["stop", &d]);
    }
}

/// A raw `STREAM` client: sends the request, returns the socket and the parent's first reply.
pub fn stream_connect(port: u16, key: &str, guid: &str, hostname: &str, ver: u32) -> (TcpStream, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(
        s,
        "STREAM key={key}&hostname={hostname}&registry_hostname={hostname}&machine_guid={guid}&update_every=1&os=linux&timezone=UTC&abbrev_timezone=UTC&utc_offset=0&hops=1&ml_capable=0&ml_enabled=0&mc_version=1&tags=&ver={ver}&NETDATA_SYSTEM_OS_NAME=Test&NETDATA_SYSTEM_OS_ID=test&NETDATA_SYSTEM_OS_VERSION=1&NETDATA_SYSTEM_KERNEL_NAME=Linux&NETDATA_SYSTEM_KERNEL_VERSION=6 HTTP/1.1\r\nUser-Agent: fake/0.1\r\nAccept: */*\r\n\r\n"
    )
    .expect("send request");
    let mut buf = vec![0u8; 8192];
    let n = s.read(&mut buf).unwrap_or(0);
    (s, String::from_utf8_lossy(&buf[..n]).to_string())
}

/// The fake parent's side: reads our daemon's `STREAM` request up to its blank line (10 s and
/// 64 KiB at most) and returns it.
pub fn read_stream_request(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut req = Vec::new();
    let mut b = [0u8; 4096];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut b).expect("request");
        assert!(n > 0, "closed during the request");
        req.extend_from_slice(&b[..n]);
        assert!(req.len() < 64 * 1024, "request over 64 KiB");
    }
    String::from_utf8_lossy(&req).to_string()
}

/// Rows of a CSV `/api/v1/data` answer as (time text, rest).
pub fn csv_rows(body: &str) -> Vec<String> {
    body.lines().skip(1).map(str::to_string).collect()
}
