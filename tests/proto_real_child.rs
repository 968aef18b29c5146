//! Our parent-side protocol layer against a live real Netdata 1.37.1 child with compression:
//! request parsing, negotiation (with REPLICATION and COMPRESSION), the greeting, LZ4 decoding,
//! line framing and every command parse without a single error; `REPLAY_CHART` answers from our
//! encoder make the child switch its charts to live data.
//!
//! Needs `/work/shared/real-netdata/netdata-real` and the Debian `netdata` package; skipped
//! without them, except under `CI` where their absence fails the test.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command as Process;
use std::time::{Duration, Instant};

use ndcluster::proto::command::ReplayChart;
use ndcluster::proto::handshake::{negotiate_parent, Capabilities, Reply};
use ndcluster::proto::request::StreamRequest;
use ndcluster::proto::{Command, Downstream, LineReader, MAX_LINE_LEN};

const SCRIPT: &str = "/work/shared/real-netdata/netdata-real";
const KEY: &str = "5d8f6a3e-0b7c-4e21-9c4d-2a1e3f4b5c6d";

struct Child(std::path::PathBuf);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = Process::new(SCRIPT).args(["stop", self.0.to_str().unwrap_or_default()]).output();
    }
}

#[test]
fn live_real_child_with_compression_and_replication_parses_cleanly() {
    if !(Path::new(SCRIPT).exists() && Path::new("/usr/sbin/netdata").exists()) {
        assert!(std::env::var_os("CI").is_none(), "real Netdata missing in CI");
        eprintln!("skipping: real Netdata 1.37.1 not available");
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let web_port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("child");
    let out = Process::new(SCRIPT)
        .args([
            "child",
            dir.to_str().unwrap_or_default(),
            &web_port.to_string(),
            &format!("tcp:127.0.0.1:{port}"),
            KEY,
            "--compression",
        ])
        .output()
        .expect("run netdata-real");
    assert!(out.status.success(), "netdata-real child: {}", String::from_utf8_lossy(&out.stderr));
    let _child = Child(dir);

    // accept (bounded)
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut sock = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100))
            }
            Err(e) => panic!("no connection from the real child: {e}"),
        }
    };
    sock.set_nonblocking(false).expect("blocking");
    sock.set_read_timeout(Some(Duration::from_secs(1))).expect("timeout");

    // request
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let (req, used) = loop {
        assert!(Instant::now() < deadline, "request incomplete: {:?}", String::from_utf8_lossy(&buf));
        match sock.read(&mut chunk) {
            Ok(0) => panic!("child closed before the request ended"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) => panic!("{e}"),
        }
        if let Some(done) = StreamRequest::parse(&buf).expect("valid request") {
            break done;
        }
    };
    assert_eq!(used, buf.len(), "a 1.37.1 child sends nothing before the greeting");
    req.check_identity().expect("identity");
    assert_eq!(req.key.as_deref(), Some(KEY));
    assert_eq!(req.user_agent.as_ref().map(|(p, _)| p.as_str()), Some("netdata"));
    let caps = negotiate_parent(req.ver, Capabilities::NETDATA_1_37_ALL, true);
    assert!(caps.contains(Capabilities::COMPRESSION) && caps.contains(Capabilities::REPLICATION), "{caps}");
    sock.write_all(&Reply::greeting_for(caps).encode()).expect("greeting");

    // stream
    let mut reader = LineReader::new(MAX_LINE_LEN);
    reader.enable_compression();
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut current_chart = String::new();
    let mut out = Vec::new();
    let stop = Instant::now() + Duration::from_secs(15);
    while Instant::now() < stop {
        let n = match sock.read(&mut chunk) {
            Ok(0) => panic!("the real child disconnected (after {counts:?})"),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) => panic!("{e}"),
        };
        reader.feed(&chunk[..n]).expect("decompress");
        out.clear();
        while let Some(line) = reader.next_line() {
            let line = line.expect("frame");
            let cmd = Command::parse(line).unwrap_or_else(|e| panic!("{e}"));
            *counts.entry(cmd.keyword()).or_default() += 1;
            match cmd {
                Command::Chart(c) => current_chart = c.id.into_owned(),
                Command::ChartDefinitionEnd(_) => Downstream::ReplayChart(ReplayChart {
                    id: current_chart.as_str().into(),
                    start_streaming: true,
                    after: 0,
                    before: 0,
                })
                .encode(&mut out),
                _ => {}
            }
        }
        if !out.is_empty() {
            sock.write_all(&out).expect("replay requests");
        }
    }
    let get = |k: &str| counts.get(k).copied().unwrap_or(0);
    assert!(get("CHART") > 100, "{counts:?}");
    let (charts, ends) = (get("CHART"), get("CHART_DEFINITION_END"));
    assert!(charts == ends || charts == ends + 1, "{counts:?}");
    assert!(get("REND") > 100, "our REPLAY_CHART requests were answered: {counts:?}");
    let (begins, endings) = (get("BEGIN"), get("END"));
    assert!(begins == endings || begins == endings + 1, "{counts:?}");
    assert!(get("SET") > 1000, "live data flows after replication: {counts:?}");
    eprintln!("{} lines from the real child: {counts:?}", reader.lines());
}
