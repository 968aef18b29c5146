//! Our child-side encoding against a real Netdata 1.37.1 parent: the request we build is
//! accepted, the parent's replies classify as expected, and LZ4 frames from our `Compressor`
//! plus commands from our encoder end up as a chart with our values in the parent's API.
//!
//! Needs `/work/shared/real-netdata/netdata-real` and the Debian `netdata` package; skipped
//! without them, except under `CI` where their absence fails the test.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::{Duration, Instant};

use ndcluster::proto::command::{Begin, Chart, Dimension, Label, Overwrite, Set};
use ndcluster::proto::compress::Compressor;
use ndcluster::proto::handshake::{negotiate_child, Capabilities, Reply};
use ndcluster::proto::request::ChildRequest;
use ndcluster::proto::Command;

const SCRIPT: &str = "/work/shared/real-netdata/netdata-real";
const KEY: &str = "2c0e7e5e-8d5a-4c1f-9a57-6f3b8b1c0d11";

fn available() -> bool {
    let ok = Path::new(SCRIPT).exists() && Path::new("/usr/sbin/netdata").exists();
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "real Netdata missing in CI");
        eprintln!("skipping: real Netdata 1.37.1 not available");
    }
    ok
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

/// A real parent in a temp dir, stopped on drop.
struct RealParent {
    dir: PathBuf,
    port: u16,
    _tmp: tempfile::TempDir,
}

impl RealParent {
    fn start() -> RealParent {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("parent");
        let port = free_port();
        let out = Process::new(SCRIPT)
            .args(["parent", dir.to_str().unwrap_or_default(), &port.to_string(), KEY])
            .output()
            .expect("run netdata-real");
        assert!(out.status.success(), "netdata-real parent: {}", String::from_utf8_lossy(&out.stderr));
        RealParent { dir, port, _tmp: tmp }
    }

    fn guid(&self) -> String {
        let p = self.dir.join("lib/registry/netdata.public.unique.id");
        std::fs::read_to_string(&p).unwrap_or_default().trim().to_owned()
    }

    fn get(&self, path: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect api");
        s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        let mut body = Vec::new();
        let _ = s.read_to_end(&mut body);
        String::from_utf8_lossy(&body).into_owned()
    }
}

impl Drop for RealParent {
    fn drop(&mut self) {
        let _ = Process::new(SCRIPT).args(["stop", self.dir.to_str().unwrap_or_default()]).output();
    }
}

fn request(key: &str, guid: &str, hostname: &str, caps: Capabilities) -> Vec<u8> {
    ChildRequest {
        key: key.into(),
        hostname: hostname.into(),
        registry_hostname: hostname.into(),
        machine_guid: guid.into(),
        update_every: 1,
        os: "linux".into(),
        timezone: "Etc/UTC".into(),
        abbrev_timezone: "UTC".into(),
        utc_offset: 0,
        hops: 1,
        ml_capable: false,
        ml_enabled: false,
        mc_version: 1,
        tags: String::new(),
        capabilities: caps,
        system_info: vec![("NETDATA_SYSTEM_OS_NAME".into(), "Proto Test OS".into())],
        user_agent: "ndcluster-proto-test/0.1".into(),
    }
    .encode()
    .expect("request fits")
}

/// Sends a request and returns the stream plus the parent's first reply (one read, as a 1.37.1
/// child does).
fn handshake(port: u16, req: &[u8]) -> (TcpStream, Reply) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15))).expect("timeout");
    s.write_all(req).expect("send request");
    let mut buf = [0u8; 8192];
    let n = s.read(&mut buf).unwrap_or(0);
    (s, Reply::classify(&buf[..n]))
}

#[test]
fn real_parent_accepts_our_request_frames_and_commands() {
    if !available() {
        return;
    }
    let parent = RealParent::start();

    // refusals, byte-exact
    let guid = uuid::Uuid::new_v4().to_string();
    let wrong_key = uuid::Uuid::new_v4().to_string();
    let (_, r) = handshake(parent.port, &request(&wrong_key, &guid, "protodenied", Capabilities(15352)));
    assert_eq!(r, Reply::Denied);
    assert_eq!(r.postpone_secs(), 60);
    let own = parent.guid();
    assert!(!own.is_empty(), "parent guid");
    let (_, r) = handshake(parent.port, &request(KEY, &own, "protoself", Capabilities(15352)));
    assert_eq!(r, Reply::Localhost);

    // a compressed session without replication: our frames, our commands
    let offer = Capabilities::NETDATA_1_37_ALL.without(Capabilities::REPLICATION);
    let hostname = format!("protochild{}", std::process::id());
    let (mut s, reply) = handshake(parent.port, &request(KEY, &guid, &hostname, offer));
    assert!(reply.is_success(), "{reply:?}");
    let caps = negotiate_child(reply.version_number().unwrap_or(0), offer);
    assert!(caps.contains(Capabilities::COMPRESSION), "{caps}");
    assert!(!caps.contains(Capabilities::REPLICATION), "{caps}");

    let mut comp = Compressor::new(caps.contains(Capabilities::BINARY));
    let mut send = |cmds: &[Command<'_>]| {
        let mut plain = Vec::new();
        for c in cmds {
            c.encode(&mut plain);
        }
        let mut wire = Vec::new();
        comp.compress(&plain, &mut wire).expect("compress");
        s.write_all(&wire).expect("send");
    };
    send(&[
        Command::Label(Label { name: "proto_test".into(), source: 2, value: "yes".into() }),
        Command::Overwrite(Overwrite { what: "labels".into() }),
        Command::Chart(Box::new(Chart {
            id: "prototest.values".into(),
            name: "".into(),
            title: "Proto test values".into(),
            units: "things".into(),
            family: "proto".into(),
            context: "prototest.values".into(),
            chart_type: "line".into(),
            priority: 1000,
            update_every: 1,
            options: Chart::options_field(false, false, false, false).into(),
            plugin: "proto.plugin".into(),
            module: "".into(),
        })),
        Command::Dimension(Box::new(Dimension {
            id: "answer".into(),
            name: "answer".into(),
            algorithm: "absolute".into(),
            multiplier: 1,
            divisor: 1,
            options: Dimension::options_field(false, false, false).into(),
        })),
    ]);
    // samples every second; check the parent's API after each one
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut found = false;
    let mut last = String::new();
    let mut i = 0u64;
    while Instant::now() < deadline && !found {
        send(&[
            Command::Begin(Begin { id: "prototest.values".into(), microseconds: if i == 0 { 0 } else { 1_000_000 } }),
            Command::Set(Set { id: "answer".into(), value: Some(42) }),
            Command::End,
        ]);
        i += 1;
        std::thread::sleep(Duration::from_secs(1));
        last = parent.get(&format!(
            "/host/{hostname}/api/v1/data?chart=prototest.values&after=-30&format=json&options=nonzero"
        ));
        found = last.contains("\"answer\"") && (last.contains(", 42]") || last.contains(",42]"));
    }
    assert!(found, "the real parent never showed our value; last answer: {last}");
    let info = parent.get("/api/v1/info");
    assert!(info.contains(&hostname), "{info}");
}
