//! A misbehaving peer never harms others (issue 4): each bad input closes that one connection
//! with a log line naming host, peer and reason; other streams and stored data stay intact.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

const DEF: &str = "CHART \"good.chart\" \"\" \"t\" \"u\" \"f\" \"good.chart\" \"line\" 1 1 \"   \" \"p\" \"m\"\nDIMENSION \"a\" \"a\" \"absolute\" 1 1 \"  \"\n";

fn closed_by_peer(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut b = [0u8; 256];
    // Drain anything (e.g. REPLAY_CHART) until EOF or reset.
    for _ in 0..100 {
        match s.read(&mut b) {
            Ok(0) | Err(_) => return true,
            Ok(_) => continue,
        }
    }
    false
}

#[test]
fn each_bad_input_closes_only_its_own_stream() {
    let d = OurDaemon::start("ours", "[plugins]\n  proc = no\n", Some(&format!("[{KEY}]\n  type = api\n  enabled = yes\n")));
    // A good stream that keeps sending throughout.
    let (mut good, g) = stream_connect(d.port, KEY, "aaaaaaaa-0000-0000-0000-00000000000a", "goodhost", 960);
    assert!(g.starts_with("Hit me baby"), "{g}");
    good.write_all(DEF.as_bytes()).expect("defs");
    let mut value = 0u64;
    let mut tick = |good: &mut TcpStream| {
        value += 1;
        good.write_all(format!("BEGIN \"good.chart\" {}\nSET \"a\" = {value}\nEND\n", if value == 1 { 0 } else { 1_000_000 }).as_bytes()).expect("good stream write");
    };
    let bad_inputs: Vec<(&str, String)> = vec![
        ("unknown keyword", format!("{DEF}NOT_A_KEYWORD 1 2 3\n")),
        ("malformed line", format!("{DEF}BEGIN \"good.chart\" notanumber\n")),
        ("over-long line", format!("{DEF}SET \"{}\" = 1\n", "x".repeat(70_000))),
        ("too many words", format!("{DEF}CHART {}\n", "w ".repeat(40))),
        ("undeclared chart", "BEGIN \"never.defined\" 0\nSET \"a\" = 1\nEND\n".to_string()),
        ("undeclared dimension", format!("{DEF}BEGIN \"good.chart\" 0\nSET \"zzz\" = 1\nEND\n")),
    ];
    for (i, (what, text)) in bad_inputs.iter().enumerate() {
        let guid = format!("bbbbbbbb-0000-0000-0000-{:012}", i + 1);
        let (mut bad, greet) = stream_connect(d.port, KEY, &guid, &format!("bad{i}"), 960);
        assert!(greet.starts_with("Hit me baby"), "{what}: {greet}");
        let _ = bad.write_all(text.as_bytes());
        assert!(closed_by_peer(&mut bad), "{what}: connection not closed");
        tick(&mut good);
        std::thread::sleep(Duration::from_millis(300));
    }
    // A silent handshake: connects, says nothing; closed after the handshake timeout while the
    // good stream goes on.
    let mut silent = TcpStream::connect(("127.0.0.1", d.port)).expect("connect");
    silent.write_all(b"STREAM key=").expect("partial request");
    // A flood of connections that send nothing.
    let flood: Vec<TcpStream> = (0..200).filter_map(|_| TcpStream::connect(("127.0.0.1", d.port)).ok()).collect();
    for _ in 0..4 {
        tick(&mut good);
        std::thread::sleep(Duration::from_millis(1000));
    }
    assert!(closed_by_peer(&mut silent), "silent handshake not closed");
    drop(flood);
    for _ in 0..3 {
        tick(&mut good);
        std::thread::sleep(Duration::from_millis(1000));
    }
    // The good host kept streaming and its data is intact; the API still answers.
    let (s, body) = d.get("/host/goodhost/api/v1/data?chart=good.chart&after=-8&format=csv&options=seconds");
    assert_eq!(s, 200, "{body}");
    let values = body.lines().skip(1).filter(|l| !l.contains("null")).count();
    assert!(values >= 5, "good stream lost data:\n{body}\nlog:\n{}", d.log_text());
    let (_, info) = d.get("/api/v1/info");
    let status = info.split('{').find(|o| o.contains("\"hostname\": \"goodhost\"")).unwrap_or_default().to_string();
    assert!(status.contains("\"reachable\": true"), "{status}");
    // One clear log line per bad stream, naming host and peer.
    let log = d.log_text();
    for (i, (what, _)) in bad_inputs.iter().enumerate() {
        let line = log.lines().find(|l| l.contains("stream closed") && l.contains(&format!("host=bad{i}")));
        let line = line.unwrap_or_else(|| panic!("no close line for bad{i} ({what}):\n{log}"));
        assert!(line.contains("peer=127.0.0.1:") && line.contains("reason="), "{line}");
    }
}
