//! Beyond Netdata (issue 5): a parent whose copy of a host has a hole that the host itself can
//! no longer fill gets it from its sibling parent (a `[stream] destination` that is our daemon).
//! Fake children (raw STREAM clients) provide the history through replication replies.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

fn key_section() -> String {
    format!("[{KEY}]\n  type = api\n  enabled = yes\n  allow from = *\n")
}

fn value(t: i64) -> f64 {
    (t % 1000) as f64 / 4.0
}

/// A fake child of `host` with chart `fake.one` (dimension `a`, 1 s) whose retention is
/// `(first, last]`, answering every request with its points except those in `missing`, then
/// switching to live. Returns when `d` reports the host's replication done (bounded).
fn feed(d: &OurDaemon, guid: &str, host: &str, first: i64, last: i64, missing: Option<std::ops::RangeInclusive<i64>>) -> TcpStream {
    let (mut s, greeting) = stream_connect(d.port, KEY, guid, host, 15352);
    assert!(greeting.starts_with("Hit me baby"), "{greeting}");
    write!(s, "CHART \"fake.one\" \"\" \"t\" \"u\" \"f\" \"fake.one\" \"line\" 1 1 \"   \" \"fake\" \"m\"\nDIMENSION \"a\" \"a\" \"absolute\" 1 1 \"  \"\nCHART_DEFINITION_END {first} {last} {}\n", now()).expect("definitions");
    s.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let end = Instant::now() + Duration::from_secs(30);
    let mut line = String::new();
    let mut answered = 0;
    while Instant::now() < end {
        line.clear();
        if r.read_line(&mut line).is_ok_and(|n| n > 0) && line.starts_with("REPLAY_CHART") {
            let w: Vec<&str> = line.split_whitespace().collect();
            let (after, before): (i64, i64) = (w[3].parse().expect("after"), w[4].parse().expect("before"));
            let n = now();
            let mut reply = String::from("RBEGIN \"fake.one\"\n");
            let to = if w[2] == "\"true\"" { last } else { before.min(last) };
            for t in (after.max(first) + 1..=to).filter(|t| !missing.as_ref().is_some_and(|m| m.contains(t))) {
                reply += &format!("RBEGIN '' {} {t} {n}\nRSET \"a\" {:.7} \"\"\n", t - 1, value(t));
            }
            reply += &format!("REND 1 {first} {last} true {after} {to} {n}\n");
            s.write_all(reply.as_bytes()).expect("reply");
            answered += 1;
            continue;
        }
        let (_, body) = d.get("/api/v1/streaming");
        let done = serde_json::from_str::<serde_json::Value>(&body).ok().and_then(|v| {
            let h = v["hosts"].as_array()?.iter().find(|h| h["hostname"] == host)?.clone();
            (h["replication"]["status"] == "done").then_some(())
        });
        if answered > 0 && done.is_some() {
            return s;
        }
    }
    panic!("replication of {host} never finished; log:\n{}", d.log_text());
}

fn rows(d: &OurDaemon, host: &str, after: i64, before: i64) -> Vec<(i64, String)> {
    let (_, body) = d.get(&format!("/host/{host}/api/v1/data?chart=fake.one&after={after}&before={before}&format=csv&options=seconds"));
    body.lines().skip(1).filter_map(|l| l.split_once(',').and_then(|(t, v)| Some((t.parse().ok()?, v.to_string())))).collect()
}

#[test]
fn a_hole_the_child_cannot_fill_is_backfilled_from_a_sibling_parent() {
    let sibling = OurDaemon::start("sibling", "", Some(&key_section()));
    let sc = format!("{}[stream]\n  enabled = yes\n  destination = tcp:127.0.0.1:{}\n  api key = {KEY}\n", key_section(), sibling.port);
    let restored = OurDaemon::start("restored", "", Some(&sc));
    let guid = "eeeeeeee-0000-0000-0000-000000000001";
    let t = now() - 5;
    // The sibling got the whole history while the host could still give it.
    let s1 = feed(&sibling, guid, "holeyhost", t - 300, t, None);
    drop(s1);
    // The restored parent gets the host later, when it no longer has (t-200, t-100].
    let _s2 = feed(&restored, guid, "holeyhost", t - 300, t, Some(t - 199..=t - 100));
    let (after, before) = (t - 290, t);
    let full = wait_for(Duration::from_secs(30), || {
        let r = rows(&restored, "holeyhost", after, before);
        let ok = (after + 1..=before).all(|tt| r.iter().any(|(x, v)| *x == tt && !v.is_empty() && v != "null"));
        ok.then_some(r)
    });
    let r = full.unwrap_or_else(|| {
        let r = rows(&restored, "holeyhost", after, before);
        let missing: Vec<i64> = (after + 1..=before).filter(|tt| !r.iter().any(|(x, v)| x == tt && !v.is_empty() && v != "null")).collect();
        panic!("restored parent still misses {} seconds {:?}…; log:\n{}", missing.len(), &missing[..missing.len().min(10)], restored.log_text())
    });
    // The filled values are the sibling's (the host's) values.
    for (tt, v) in r.iter().filter(|(tt, _)| (t - 199..=t - 100).contains(tt)) {
        let expected = value(*tt);
        let got: f64 = v.parse().unwrap_or(f64::NAN);
        assert!((got - expected).abs() < 1e-6, "at {tt}: {got} != {expected}");
    }
    assert!(restored.log_text().contains("sibling backfill done"), "{}", restored.log_text());
}
