//! Real peers for the CLI's end-to-end tests: our daemon (`netdatad`, built beside
//! `netdatactl`) and real Netdata 1.37.1 agents (Debian's package, started with
//! shared/real-netdata/netdata-real). A missing peer skips the test loudly on a developer
//! machine and fails it when `CI` is set. Every process started here is stopped by its pid
//! (or its own stop script) when its handle drops.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netdatactl::http::{self, Url};

/// Skips (loudly) on a developer machine; fails when `CI` is set.
pub fn skip(msg: &str) {
    assert!(std::env::var_os("CI").is_none(), "SKIPPING: {msg} (CI is set, so this is a failure)");
    eprintln!("\n!!!!!!!! SKIPPING: {msg} !!!!!!!!\n");
}

/// `netdatad` beside the `netdatactl` under test (`cargo test --workspace` builds both).
pub fn netdatad() -> Option<PathBuf> {
    let p = PathBuf::from(super::BIN).with_file_name("netdatad");
    if p.exists() {
        return Some(p);
    }
    skip(&format!("{} not built (run `cargo build -p netdatad`)", p.display()));
    None
}

/// The netdata-real script, when Debian's netdata is installed: `NETDATA_REAL` or
/// shared/real-netdata/netdata-real found above this crate.
pub fn real_netdata() -> Option<PathBuf> {
    let installed = Command::new("sh").args(["-c", "command -v netdata"]).output().map(|o| o.status.success()).unwrap_or(false);
    let script = std::env::var_os("NETDATA_REAL").map(PathBuf::from).or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).ancestors().map(|a| a.join("shared/real-netdata/netdata-real")).find(|p| p.exists())
    });
    match script.filter(|_| installed) {
        Some(s) => Some(s),
        None => {
            skip("netdata (Debian's netdata-core) or shared/real-netdata/netdata-real not found");
            None
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

/// One of our daemons with its own directory, netdata.conf and log (`netdatad.log`).
pub struct Daemon {
    pub dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl Daemon {
    /// Writes `dir/netdata.conf` (hostname, directories under `dir`, `bind to` the port) plus
    /// `extra` (more sections); does not start it.
    pub fn new(dir: &Path, hostname: &str, port: u16, extra: &str) -> Self {
        std::fs::create_dir_all(dir).expect("mkdir");
        std::fs::write(
            dir.join("netdata.conf"),
            format!(
                "[global]\n\thostname = {hostname}\n[directories]\n\tconfig = {0}\n\tcache = {0}/cache\n\tlib = {0}/lib\n\tlog = {0}/log\n[web]\n\tbind to = 127.0.0.1:{port}\n{extra}",
                dir.display()
            ),
        )
        .expect("netdata.conf");
        Self { dir: dir.to_path_buf(), port, child: None }
    }

    pub fn conf(&self) -> String {
        self.dir.join("netdata.conf").display().to_string()
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> Url {
        Url::parse(&format!("{}{path}", self.base())).expect("url")
    }

    /// Starts `bin` on this directory and waits (at most 60 s) until its API answers.
    pub fn start(&mut self, bin: &Path) {
        let log = std::fs::File::create(self.dir.join("netdatad.log")).expect("log");
        let child = Command::new(bin).args(["-c", &self.conf()]).stdout(Stdio::null()).stderr(log).spawn().expect("netdatad");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if http::get_json(&self.url("/api/v1/info"), Duration::from_secs(2)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("netdatad on port {} did not answer; its log:\n{}", self.port, self.log());
    }

    /// SIGTERM, then SIGKILL if it has not exited within 30 s.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn uid(&self) -> String {
        http::get_json(&self.url("/api/v1/info"), Duration::from_secs(5)).expect("info")["uid"].as_str().expect("uid").to_string()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("netdatad.log")).unwrap_or_default()
    }

    fn data_path(host: &str, chart: &str, after: i64, before: i64) -> String {
        format!("/host/{host}/api/v1/data?chart={chart}&after={after}&before={before}&format=csv")
    }

    /// CSV of `chart` of `host` for the window; empty while it does not exist yet.
    pub fn try_csv(&self, host: &str, chart: &str, after: i64, before: i64) -> String {
        match http::get(&self.url(&Self::data_path(host, chart, after, before)), Duration::from_secs(5)) {
            Ok((200, body)) => String::from_utf8_lossy(&body).to_string(),
            _ => String::new(),
        }
    }

    /// CSV of `chart` of `host` for the window; the answer must be a 200.
    pub fn csv(&self, host: &str, chart: &str, after: i64, before: i64) -> String {
        let (status, body) = http::get(&self.url(&Self::data_path(host, chart, after, before)), Duration::from_secs(5)).expect("data");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        String::from_utf8_lossy(&body).to_string()
    }

    /// Waits (at most 60 s) until `chart` of `host` has at least `rows` data rows from `t`.
    pub fn wait_rows(&self, host: &str, chart: &str, t: i64, rows: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline && self.try_csv(host, chart, t, now()).lines().count() < rows + 1 {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A real Netdata agent started by netdata-real; stopped (by the script, which knows its
/// pid) when dropped.
pub struct RealAgent {
    script: PathBuf,
    dir: PathBuf,
}

impl RealAgent {
    /// `netdata-real ROLE DIR ARGS...` (e.g. `parent DIR PORT KEY`, `child DIR PORT DEST KEY
    /// --hostname NAME`).
    pub fn start(script: &Path, role: &str, dir: PathBuf, args: &[&str]) -> Self {
        let o = Command::new("bash").arg(script).arg(role).arg(&dir).args(args).output().expect("netdata-real");
        let agent = Self { script: script.to_path_buf(), dir };
        assert!(o.status.success(), "netdata-real {role} {args:?}: {}", String::from_utf8_lossy(&o.stderr));
        agent
    }
}

impl Drop for RealAgent {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(&self.script).arg("stop").arg(&self.dir).output();
    }
}
