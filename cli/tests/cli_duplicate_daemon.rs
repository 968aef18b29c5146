//! `duplicate` against our real daemon: a parent collects, stops, is copied; a new parent
//! started on the copy serves the same data under its own machine GUID; a second run moves
//! only what changed. Uses the `netdatad` binary built beside `netdatactl` (`cargo test
//! --workspace` builds it); skips loudly when it is missing, fails instead when `CI` is set.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use netdatactl::http::{self, Url};

fn netdatad() -> Option<PathBuf> {
    let p = PathBuf::from(common::BIN).with_file_name("netdatad");
    if p.exists() {
        return Some(p);
    }
    let msg = format!("SKIPPING duplicate-with-daemon test: {} not built (run `cargo build -p netdatad`)", p.display());
    assert!(std::env::var_os("CI").is_none(), "{msg} (CI is set, so this is a failure)");
    eprintln!("\n!!!!!!!! {msg} !!!!!!!!\n");
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

struct Parent {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Parent {
    fn new(dir: &Path, hostname: &str) -> Self {
        std::fs::create_dir_all(dir).expect("mkdir");
        let port = free_port();
        std::fs::write(
            dir.join("netdata.conf"),
            format!(
                "[global]\n\thostname = {hostname}\n[directories]\n\tconfig = {0}\n\tcache = {0}/cache\n\tlib = {0}/lib\n\tlog = {0}/log\n[web]\n\tbind to = 127.0.0.1:{port}\n",
                dir.display()
            ),
        )
        .expect("conf");
        Self { dir: dir.to_path_buf(), port, child: None }
    }
    fn conf(&self) -> String {
        self.dir.join("netdata.conf").display().to_string()
    }
    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://127.0.0.1:{}{path}", self.port)).expect("url")
    }
    fn start(&mut self, bin: &Path) {
        let child = Command::new(bin).args(["-c", &self.conf()]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("netdatad");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if http::get_json(&self.url("/api/v1/info"), Duration::from_secs(2)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("netdatad on port {} did not answer", self.port);
    }
    fn stop(&mut self) {
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
    fn uid(&self) -> String {
        http::get_json(&self.url("/api/v1/info"), Duration::from_secs(5)).expect("info")["uid"].as_str().expect("uid").to_string()
    }
    /// CSV of system.load for the window; empty while the chart does not exist yet.
    fn try_data(&self, after: i64, before: i64) -> String {
        match http::get(&self.url(&format!("/host/dupsrc/api/v1/data?chart=system.load&after={after}&before={before}&format=csv")), Duration::from_secs(5)) {
            Ok((200, body)) => String::from_utf8_lossy(&body).to_string(),
            _ => String::new(),
        }
    }
    fn data(&self, after: i64, before: i64) -> String {
        let (status, body) =
            http::get(&self.url(&format!("/host/dupsrc/api/v1/data?chart=system.load&after={after}&before={before}&format=csv")), Duration::from_secs(5))
                .expect("data");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        String::from_utf8_lossy(&body).to_string()
    }
}

impl Drop for Parent {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

#[test]
fn new_parent_on_the_copy_serves_the_same_data_with_its_own_guid() {
    let Some(bin) = netdatad() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut src = Parent::new(&tmp.path().join("src"), "dupsrc");
    let mut dst = Parent::new(&tmp.path().join("dst"), "dupdst");
    src.start(&bin);
    // Let it collect a few points (bounded poll, no fixed sleep).
    let started = now();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && src.try_data(started, now()).lines().count() < 4 {
        std::thread::sleep(Duration::from_millis(200));
    }
    let (after, before) = (started, now() - 1);
    let src_uid = src.uid();
    src.stop();
    let original = {
        // What the source serves for that window, after a clean restart.
        src.start(&bin);
        let d = src.data(after, before);
        src.stop();
        d
    };
    assert!(original.lines().count() >= 3, "the source has data: {original}");

    let from = src.dir.join("cache").display().to_string();
    let to = dst.dir.join("cache").display().to_string();
    let (code, out, err) = common::ctl(&["-c", &dst.conf(), "--json", "duplicate", "--from", &from, "--to", &to]);
    assert_eq!(code, 0, "{err}");
    let first: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(first["copied"].as_u64().unwrap_or(0) > 0, "{first}");

    dst.start(&bin);
    assert_eq!(dst.data(after, before), original, "the copy serves the same values");
    assert_ne!(dst.uid(), src_uid, "the copy has its own machine GUID");
    // The destination is in use now: a duplicate into it is refused.
    let (code, _, err) = common::ctl(&["-c", &dst.conf(), "duplicate", "--from", &from, "--to", &to]);
    assert_eq!(code, 7, "{err}");
    dst.stop();

    // The source collects a little more; the second run moves only part of it.
    src.start(&bin);
    let t = now();
    while Instant::now() < deadline && src.try_data(t, now()).lines().count() < 3 {
        std::thread::sleep(Duration::from_millis(200));
    }
    src.stop();
    let (code, out, err) = common::ctl(&["-c", &dst.conf(), "--json", "duplicate", "--from", &from, "--to", &to]);
    assert_eq!(code, 0, "{err}");
    let second: serde_json::Value = serde_json::from_str(&out).expect("json");
    let (moved, total) = (second["bytes_transferred"].as_u64().expect("moved"), second["bytes_total"].as_u64().expect("total"));
    eprintln!("second run moved {moved} of {total} bytes");
    assert!(moved < total, "second run moved {moved} of {total} bytes: {second}");

    // The refreshed copy serves the new points too, the same as the source.
    let window = (t, now() - 1);
    src.start(&bin);
    let fresh = src.data(window.0, window.1);
    src.stop();
    dst.start(&bin);
    assert_eq!(dst.data(window.0, window.1), fresh, "after the second run");
    assert_eq!(dst.data(after, before), original, "and the old window still matches");
    dst.stop();
}
