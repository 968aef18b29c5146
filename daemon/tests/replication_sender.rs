//! Our daemon as a child, against a fake parent that speaks REPLICATION (§7.4): every chart
//! definition ends with `CHART_DEFINITION_END`; no live sample of a chart is sent before the
//! reply that switched it to live; replies carry our stored points; unknown charts are ignored.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::*;

/// Accepts our daemon's stream and greets it with REPLICATION (no compression).
fn accept_child(l: &TcpListener) -> TcpStream {
    l.set_nonblocking(false).expect("blocking");
    let (mut s, _) = l.accept().expect("accept");
    let text = read_stream_request(&mut s);
    let ver: u32 = text.split("ver=").nth(1).and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next()).and_then(|v| v.parse().ok()).unwrap_or(0);
    assert!(ver & 4096 != 0, "REPLICATION not offered: {text}");
    s.write_all(b"Hit me baby, push them over with the version=13248").expect("greeting");
    s.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    s
}

/// Reads lines for `d`.
fn read_for(s: &mut TcpStream, pending: &mut Vec<u8>, d: Duration) -> Vec<String> {
    let end = Instant::now() + d;
    let mut b = vec![0u8; 64 * 1024];
    while Instant::now() < end {
        match s.read(&mut b) {
            Ok(0) => break,
            Ok(n) => pending.extend_from_slice(&b[..n]),
            Err(_) => {}
        }
    }
    let cut = pending.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
    let text = String::from_utf8_lossy(&pending[..cut]).to_string();
    pending.drain(..cut);
    text.lines().map(str::to_string).collect()
}

#[test]
fn our_child_sends_retention_and_holds_live_data_until_the_replication_reply() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let sc = format!("[stream]\n  enabled = yes\n  destination = tcp:127.0.0.1:{port}\n  api key = {KEY}\n  reconnect delay seconds = 1\n");
    let ours = OurDaemon::start("oursender", "", Some(&sc));
    // Let a few seconds of data be stored before the connection (the first accept may come
    // at once: that is fine too, retention then starts at the first collection).
    let mut s = accept_child(&listener);
    let mut pending = Vec::new();
    let first = read_for(&mut s, &mut pending, Duration::from_secs(5));
    // Every CHART block ends with CHART_DEFINITION_END; no BEGIN yet.
    let mut charts = 0;
    let mut in_block = false;
    for (i, l) in first.iter().enumerate() {
        if l.starts_with("CHART ") {
            assert!(!in_block, "CHART without CHART_DEFINITION_END before line {i}: {first:#?}");
            in_block = true;
            charts += 1;
        } else if l.starts_with("CHART_DEFINITION_END ") {
            assert!(in_block, "stray CHART_DEFINITION_END at {i}");
            in_block = false;
            let w: Vec<i64> = l.split_whitespace().skip(1).map(|x| x.parse().expect("number")).collect();
            assert!(w[0] <= w[1] && w[1] <= w[2] && w[2] <= now() + 1, "bad retention {l}");
        } else if in_block {
            assert!(l.starts_with("DIMENSION ") || l.starts_with("CLABEL") || l.starts_with("VARIABLE "), "unexpected line inside a definition: {l}");
        }
        assert!(!l.starts_with("BEGIN "), "live data before any replication reply: {l}");
    }
    assert!(!in_block);
    assert!(charts > 20, "only {charts} charts defined: {first:#?}");
    assert!(first.iter().any(|l| l.starts_with("CHART \"system.cpu\"")));

    // Unknown chart: ignored. system.cpu: replicate the last 10 s and switch to live.
    let t = now();
    write!(s, "REPLAY_CHART \"no.such_chart\" \"true\" {} {t}\nREPLAY_CHART \"system.cpu\" \"true\" {} {t}\n", t - 10, t - 10).expect("request");
    let lines = read_for(&mut s, &mut pending, Duration::from_secs(4));
    assert!(!lines.iter().any(|l| l.contains("no.such_chart")), "answered an unknown chart");
    let rb = lines.iter().position(|l| l == "RBEGIN \"system.cpu\"").unwrap_or_else(|| panic!("no reply: {lines:#?}"));
    let rend = rb + lines[rb..].iter().position(|l| l.starts_with("REND ")).expect("REND");
    let reply = &lines[rb..=rend];
    let steps = reply.iter().filter(|l| l.starts_with("RBEGIN ''")).count();
    assert!(steps >= 3, "too few points replicated: {reply:#?}");
    let dims = reply.iter().filter(|l| l.starts_with("RDSTATE ")).count();
    assert!(dims >= 4, "{reply:#?}");
    assert_eq!(reply.iter().filter(|l| l.starts_with("RSET ")).count(), steps * dims, "one RSET per dimension per step");
    assert!(reply[reply.len() - 2].starts_with("RSSTATE "), "{reply:#?}");
    let w: Vec<&str> = reply[reply.len() - 1].split_whitespace().collect();
    assert_eq!(w[4], "true", "{}", reply[reply.len() - 1]);
    assert_eq!(w[5], (t - 10).to_string());
    // Live system.cpu only after its REND; other charts still held.
    assert!(!lines[..rb].iter().any(|l| l.starts_with("BEGIN \"system.cpu\"")), "live system.cpu before its reply");
    assert!(lines[rend..].iter().any(|l| l.starts_with("BEGIN \"system.cpu\"")), "no live system.cpu after its reply: {:#?}", &lines[rend..]);
    assert!(!lines.iter().any(|l| l.starts_with("BEGIN \"system.ram\"")), "system.ram sent live before any request");
    // The replicated values are our stored ones.
    let last_step = reply.iter().rposition(|l| l.starts_with("RBEGIN ''")).expect("a step");
    let step_t: i64 = reply[last_step].split_whitespace().nth(3).and_then(|x| x.parse().ok()).expect("time");
    let user = reply[last_step..].iter().find(|l| l.starts_with("RSET \"user\"")).expect("user dimension");
    let v: f64 = user.split_whitespace().nth(2).and_then(|x| x.parse().ok()).expect("value");
    let (_, csv) = ours.get(&format!("/api/v1/data?chart=system.cpu&dimensions=user&after={}&before={step_t}&format=csv&options=seconds", step_t - 1));
    let served: f64 = csv.lines().find(|l| l.starts_with(&step_t.to_string())).and_then(|l| l.split(',').nth(1)).and_then(|x| x.parse().ok()).unwrap_or(f64::NAN);
    assert!((served - v).abs() < 1e-6, "RSET user {v} at {step_t}, our API serves {served} ({csv})");

    // The empty request switches a chart to live without data.
    writeln!(s, "REPLAY_CHART \"system.ram\" \"true\" 0 0").expect("request");
    let lines = read_for(&mut s, &mut pending, Duration::from_secs(3));
    let rb = lines.iter().position(|l| l == "RBEGIN \"system.ram\"").unwrap_or_else(|| panic!("no reply: {lines:#?}"));
    let rend = rb + lines[rb..].iter().position(|l| l.starts_with("REND ")).expect("REND");
    assert!(!lines[rb..rend].iter().any(|l| l.starts_with("RBEGIN ''")));
    assert!(lines[rend].contains(" true 0 0 "), "{}", lines[rend]);
    assert!(lines[rend..].iter().any(|l| l.starts_with("BEGIN \"system.ram\"")), "no live system.ram after its reply");
}
