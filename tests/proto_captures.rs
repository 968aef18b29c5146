//! The protocol layer against real 1.37.1 traffic: every line of the captures parses, and
//! re-encodes to exactly the bytes the real agent wrote.
//!
//! The trimmed copies under `tests/fixtures/proto/` keep this self-contained; the full captures
//! in `/work/shared/protocol/captures/` are also checked when present.

use std::collections::BTreeMap;
use std::path::Path;

use ndcluster::proto::handshake::{negotiate_parent, Capabilities, Reply, GREETING_PREFIX};
use ndcluster::proto::request::StreamRequest;
use ndcluster::proto::{Command, Downstream, LineReader, MAX_LINE_LEN};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/proto");
const SHARED: &str = "/work/shared/protocol/captures";

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(FIXTURES).join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Parses a child → parent byte stream (optionally starting with the request); returns keyword
/// counts. Panics on the first line that does not parse or does not re-encode identically.
fn check_child_stream(name: &str, bytes: &[u8]) -> BTreeMap<&'static str, usize> {
    let mut body = bytes;
    if bytes.starts_with(b"STREAM ") {
        let (req, used) = StreamRequest::parse(bytes)
            .unwrap_or_else(|e| panic!("{name}: request: {e}"))
            .unwrap_or_else(|| panic!("{name}: incomplete request"));
        assert!(req.check_identity().is_ok(), "{name}: {req:?}");
        body = &bytes[used..];
    }
    let mut reader = LineReader::new(MAX_LINE_LEN);
    let mut counts = BTreeMap::new();
    let mut out = Vec::new();
    let mut lineno = 0usize;
    // feed in 64 KiB reads like a socket would deliver them
    for chunk in body.chunks(64 * 1024) {
        reader.feed(chunk).unwrap_or_else(|e| panic!("{name}: {e}"));
        while let Some(line) = reader.next_line() {
            let line = line.unwrap_or_else(|e| panic!("{name}: {e}"));
            lineno += 1;
            let cmd = Command::parse(line).unwrap_or_else(|e| panic!("{name}: line {lineno}: {e}"));
            out.clear();
            cmd.encode(&mut out);
            assert_eq!(
                String::from_utf8_lossy(&out[..out.len() - 1]),
                String::from_utf8_lossy(line),
                "{name}: line {lineno} does not re-encode identically"
            );
            *counts.entry(cmd.keyword()).or_insert(0) += 1;
        }
    }
    reader.finish().unwrap_or_else(|e| panic!("{name}: {e}"));
    counts
}

/// Parses a parent → child stream: greeting (no newline) then downstream lines.
fn check_parent_stream(name: &str, bytes: &[u8]) -> usize {
    assert!(bytes.starts_with(GREETING_PREFIX.as_bytes()), "{name}");
    let digits = bytes[GREETING_PREFIX.len()..].iter().take_while(|c| c.is_ascii_digit()).count();
    let greeting_len = GREETING_PREFIX.len() + digits;
    let reply = Reply::classify(&bytes[..greeting_len]);
    assert_eq!(reply, Reply::Capabilities(Capabilities(15296)), "{name}");
    let mut reader = LineReader::new(MAX_LINE_LEN);
    reader.feed(&bytes[greeting_len..]).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut n = 0;
    let mut out = Vec::new();
    while let Some(line) = reader.next_line() {
        let line = line.unwrap_or_else(|e| panic!("{name}: {e}"));
        let cmd = Downstream::parse(line).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(matches!(cmd, Downstream::ReplayChart(ref r) if r.start_streaming), "{name}: {cmd:?}");
        out.clear();
        cmd.encode(&mut out);
        assert_eq!(&out[..out.len() - 1], line, "{name}");
        n += 1;
    }
    // the captures may stop mid-line on this side; anything left must be a REPLAY_CHART prefix
    if let Err(e) = reader.finish() {
        assert!(matches!(e, ndcluster::proto::reader::ReadError::Truncated { .. }), "{name}: {e}");
    }
    n
}

#[test]
fn capture_fixture_head_parses_and_round_trips() {
    let counts = check_child_stream("c2p-head.raw", &fixture("c2p-head.raw"));
    assert_eq!(counts.get("CLAIMED_ID"), Some(&1));
    assert_eq!(counts.get("LABEL"), Some(&21));
    assert_eq!(counts.get("OVERWRITE"), Some(&1));
    assert!(counts.get("CHART").is_some_and(|&n| n > 10));
    let (charts, ends) = (counts["CHART"], counts["CHART_DEFINITION_END"]);
    assert!(charts == ends || charts == ends + 1, "the cut may end inside one definition");
}

#[test]
fn replication_fixture_parses_and_round_trips() {
    let counts = check_child_stream("c2p-replication.raw", &fixture("c2p-replication.raw"));
    assert_eq!(counts.get("REND"), Some(&3));
    assert!(counts.get("RSET").is_some_and(|&n| n > 1000));
    assert!(counts.contains_key("RDSTATE"));
    assert!(counts.contains_key("RSSTATE"));
}

#[test]
fn parent_fixture_greeting_and_replay_requests() {
    assert_eq!(check_parent_stream("p2c-head.raw", &fixture("p2c-head.raw")), 30);
}

#[test]
fn captured_request_negotiates_like_the_real_parent() {
    let bytes = fixture("c2p-head.raw");
    let (req, _) = StreamRequest::parse(&bytes).ok().flatten().expect("request");
    assert_eq!(req.ver, Some(15352));
    assert_eq!(req.hostname.as_deref(), Some("ndchild"));
    // the real parent answered 15296 (first bytes of parent-to-child.raw)
    let caps = negotiate_parent(req.ver, Capabilities::NETDATA_1_37_ALL, true);
    assert_eq!(Reply::greeting_for(caps).encode(), fixture("p2c-head.raw")[..50].to_vec());
}

#[test]
fn whole_shared_captures_parse_with_zero_errors() {
    let dir = Path::new(SHARED);
    if !dir.is_dir() {
        assert!(std::env::var_os("CI").is_none(), "{SHARED} missing in CI");
        eprintln!("skipping: {SHARED} not present");
        return;
    }
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap_or_else(|e| panic!("{n}: {e}"));
    let counts = check_child_stream("child-to-parent.raw", &read("child-to-parent.raw"));
    // the keyword counts the protocol notes report for this capture
    let want = [
        ("SET", 57049),
        ("BEGIN", 14081),
        ("END", 14081),
        ("DIMENSION", 894),
        ("RDSTATE", 894),
        ("CLABEL", 553),
        ("RBEGIN", 257),
        ("CHART", 226),
        ("CHART_DEFINITION_END", 226),
        ("CLABEL_COMMIT", 226),
        ("RSSTATE", 226),
        ("REND", 226),
        ("RSET", 100),
        ("LABEL", 21),
        ("VARIABLE", 11),
        ("OVERWRITE", 1),
        ("CLAIMED_ID", 1),
    ];
    for (k, n) in want {
        assert_eq!(counts.get(k), Some(&n), "{k}");
    }
    assert_eq!(counts.values().sum::<usize>(), 89_073, "89,077 lines minus the 4 request lines");
    check_child_stream("child-to-parent-after-link-cut.raw", &read("child-to-parent-after-link-cut.raw"));
    assert!(check_parent_stream("parent-to-child.raw", &read("parent-to-child.raw")) >= 222);
    assert!(check_parent_stream("parent-to-child-after-link-cut.raw", &read("parent-to-child-after-link-cut.raw")) >= 222);
}
