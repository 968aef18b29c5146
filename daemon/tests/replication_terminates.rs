//! Replication always terminates (issue 5): a fake child (raw STREAM client) answers our
//! parent's `REPLAY_CHART`s badly — empty answers forever, ranges it no longer has, a
//! disconnect in the middle of a reply, clocks that disagree. Each time our parent must end the
//! chart's replication ("done" in `/api/v1/streaming`) after a bounded number of requests, stop
//! asking, and keep the session usable for live data (or, after a disconnect, accept the child
//! again and finish).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

fn key_section() -> String {
    format!("[{KEY}]\n  type = api\n  enabled = yes\n  allow from = *\n")
}

/// A request as the fake child received it.
#[derive(Clone, Debug)]
struct Req {
    chart: String,
    start_streaming: bool,
    after: i64,
    before: i64,
}

fn parse_req(line: &str) -> Option<Req> {
    let mut w = line.split_whitespace();
    if w.next()? != "REPLAY_CHART" {
        return None;
    }
    let chart = w.next()?.trim_matches('"').to_string();
    let start_streaming = w.next()?.trim_matches('"') == "true";
    Some(Req { chart, start_streaming, after: w.next()?.parse().ok()?, before: w.next()?.parse().ok()? })
}

const CHARTS: [&str; 2] = ["fake.one", "fake.two"];

/// Connects a fake child offering REPLICATION (no compression) and defines [`CHARTS`], each
/// with the retention `(first, last)` and wall clock `child_now`.
fn connect(port: u16, guid: &str, host: &str, first: i64, last: i64, child_now: i64) -> (TcpStream, BufReader<TcpStream>) {
    let (mut s, greeting) = stream_connect(port, KEY, guid, host, 15352);
    assert!(greeting.starts_with("Hit me baby"), "{greeting}");
    let v: u32 = greeting.rsplit('=').next().and_then(|x| x.trim().parse().ok()).unwrap_or(0);
    assert!(v & 4096 != 0, "REPLICATION not negotiated: {greeting}");
    let mut defs = String::new();
    for c in CHARTS {
        defs += &format!("CHART \"{c}\" \"\" \"t\" \"u\" \"f\" \"{c}\" \"line\" 1 1 \"   \" \"fake\" \"m\"\nDIMENSION \"a\" \"a\" \"absolute\" 1 1 \"  \"\nCHART_DEFINITION_END {first} {last} {child_now}\n");
    }
    s.write_all(defs.as_bytes()).expect("definitions");
    s.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let r = BufReader::new(s.try_clone().expect("clone"));
    (s, r)
}

/// The replication status of `host` in `/api/v1/streaming`.
fn status(d: &OurDaemon, host: &str) -> Option<String> {
    let (_, body) = d.get("/api/v1/streaming");
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    let h = v["hosts"].as_array()?.iter().find(|h| h["hostname"] == host)?.clone();
    h["replication"]["status"].as_str().map(str::to_string)
}

/// Serves requests with `answer` until our parent reports the host "done" and stays quiet for
/// 2 s; returns every request received. Bounded by `limit` (and by the request count).
fn serve(d: &OurDaemon, host: &str, s: &mut TcpStream, r: &mut BufReader<TcpStream>, limit: Duration, mut answer: impl FnMut(&Req) -> String) -> (Vec<Req>, bool) {
    let end = Instant::now() + limit;
    let mut reqs = Vec::new();
    let mut done_since: Option<Instant> = None;
    let mut line = String::new();
    while Instant::now() < end && reqs.len() < 10_000 {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {
                if let Some(q) = parse_req(&line) {
                    let reply = answer(&q);
                    reqs.push(q);
                    if s.write_all(reply.as_bytes()).is_err() {
                        break;
                    }
                    done_since = None;
                }
                continue;
            }
            Err(_) => {} // timeout: check the status
        }
        if status(d, host).as_deref() == Some("done") {
            let since = *done_since.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_secs(2) {
                return (reqs, true);
            }
        } else {
            done_since = None;
        }
    }
    (reqs, false)
}

/// After replication ended: live samples of both charts are stored (the session is usable).
fn assert_live_works(d: &OurDaemon, host: &str, s: &mut TcpStream) {
    for i in 0..4 {
        let mut b = String::new();
        for c in CHARTS {
            b += &format!("BEGIN \"{c}\" {}\nSET \"a\" = {}\nEND\n", if i == 0 { 0 } else { 1_000_000 }, 40 + i);
        }
        s.write_all(b.as_bytes()).expect("live data");
        std::thread::sleep(Duration::from_secs(1));
    }
    let ok = wait_for(Duration::from_secs(10), || {
        let (st, body) = d.get(&format!("/host/{host}/api/v1/data?chart=fake.one&after=-5&format=csv"));
        (st == 200 && body.lines().skip(1).any(|l| l.split(',').nth(1).is_some_and(|v| v.starts_with("4")))).then_some(())
    });
    assert!(ok.is_some(), "live data not stored after replication ended; log:\n{}", d.log_text());
}

/// At most this many requests per chart for a retention of one hour and 600 s steps: the
/// planner's budget (steps + 4) plus the first one.
const MAX_REQUESTS_PER_CHART: usize = 3600 / 600 + 6;

fn per_chart(reqs: &[Req]) -> usize {
    CHARTS.iter().map(|c| reqs.iter().filter(|r| r.chart == *c).count()).max().unwrap_or(0)
}

#[test]
fn empty_answers_forever_end_replication() {
    let d = OurDaemon::start("ourparent", "", Some(&key_section()));
    let t = now();
    let (mut s, mut r) = connect(d.port, "dddddddd-0000-0000-0000-000000000001", "emptychild", t - 3600, t, t);
    let (reqs, done) = serve(&d, "emptychild", &mut s, &mut r, Duration::from_secs(40), |q| {
        // No data, never switching to live: REND false echoing the request.
        format!("RBEGIN \"{}\"\nREND 1 {} {} false {} {} {}\n", q.chart, t - 3600, now(), q.after, q.before, now())
    });
    assert!(done, "replication never ended; {} requests; log:\n{}", reqs.len(), d.log_text());
    assert!(per_chart(&reqs) <= MAX_REQUESTS_PER_CHART, "{} requests for one chart: {reqs:?}", per_chart(&reqs));
    assert!(reqs.iter().any(|q| q.after == 0 && q.before == 0 && q.start_streaming), "the last request is the empty 'switch to live' one: {reqs:?}");
    assert_live_works(&d, "emptychild", &mut s);
}

#[test]
fn ranges_the_child_no_longer_has_end_replication() {
    let d = OurDaemon::start("ourparent", "", Some(&key_section()));
    let t = now();
    let (mut s, mut r) = connect(d.port, "dddddddd-0000-0000-0000-000000000002", "shrinkchild", t - 3600, t, t);
    let (reqs, done) = serve(&d, "shrinkchild", &mut s, &mut r, Duration::from_secs(40), |q| {
        // Claimed an hour, now only has the last 10 s: nothing for the asked range.
        format!("RBEGIN \"{}\"\nREND 1 {} {} false {} {} {}\n", q.chart, now() - 10, now(), q.after, q.before, now())
    });
    assert!(done, "replication never ended; {} requests; log:\n{}", reqs.len(), d.log_text());
    assert!(per_chart(&reqs) <= MAX_REQUESTS_PER_CHART, "{} requests for one chart: {reqs:?}", per_chart(&reqs));
    assert_live_works(&d, "shrinkchild", &mut s);
}

#[test]
fn clocks_that_disagree_end_replication() {
    let d = OurDaemon::start("ourparent", "", Some(&key_section()));
    for (i, skew) in [100_000i64, -100_000].into_iter().enumerate() {
        let host = format!("skewchild{i}");
        let guid = format!("dddddddd-0000-0000-0000-00000000001{i}");
        let ct = now() + skew;
        let (mut s, mut r) = connect(d.port, &guid, &host, ct - 3600, ct, ct);
        let (reqs, done) = serve(&d, &host, &mut s, &mut r, Duration::from_secs(40), |q| {
            // Points on the child's clock, and a REND echoing nonsense.
            let c = now() + skew;
            format!("RBEGIN \"{}\"\nRBEGIN '' {} {} {c}\nRSET \"a\" 1.0000000 \"\"\nREND 1 {} {c} false 5 3 {c}\n", q.chart, c - 2, c - 1, c - 3600)
        });
        assert!(done, "skew {skew}: replication never ended; {} requests; log:\n{}", reqs.len(), d.log_text());
        assert!(per_chart(&reqs) <= MAX_REQUESTS_PER_CHART, "skew {skew}: {} requests for one chart: {reqs:?}", per_chart(&reqs));
        assert_live_works(&d, &host, &mut s);
    }
}

#[test]
fn disconnect_mid_reply_then_reconnect_finishes() {
    let d = OurDaemon::start("ourparent", "", Some(&key_section()));
    let guid = "dddddddd-0000-0000-0000-000000000003";
    let t = now();
    {
        let (mut s, mut r) = connect(d.port, guid, "cutreplychild", t - 3600, t, t);
        // Wait for the first request, answer half of it, vanish.
        let mut line = String::new();
        let end = Instant::now() + Duration::from_secs(10);
        let q = loop {
            assert!(Instant::now() < end, "no REPLAY_CHART received; log:\n{}", d.log_text());
            line.clear();
            if r.read_line(&mut line).is_ok() {
                if let Some(q) = parse_req(&line) {
                    break q;
                }
            }
        };
        let partial = format!("RBEGIN \"{}\"\nRBEGIN '' {} {} {}\nRSET \"a\" 7.0000000 \"\"\nRBEGIN '' {} {}", q.chart, q.after, q.after + 1, now(), q.after + 1, q.after + 2);
        s.write_all(partial.as_bytes()).expect("partial reply");
        let _ = s.shutdown(std::net::Shutdown::Both);
    }
    // Our parent ends that session cleanly and still serves its API.
    let gone = wait_for(Duration::from_secs(10), || {
        let (_, body) = d.get("/api/v1/streaming");
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let h = v["hosts"].as_array()?.iter().find(|h| h["hostname"] == "cutreplychild")?.clone();
        (h["live"] == false).then_some(())
    });
    assert!(gone.is_some(), "session not ended after the child vanished mid-reply; log:\n{}", d.log_text());
    // The child comes back and answers properly: replication finishes.
    let t = now();
    let (mut s, mut r) = connect(d.port, guid, "cutreplychild", t - 3600, t, t);
    let (reqs, done) = serve(&d, "cutreplychild", &mut s, &mut r, Duration::from_secs(40), |q| {
        let n = now();
        format!("RBEGIN \"{}\"\nRDSTATE \"a\" {} 40 40.0000000 40.0000000\nRSSTATE {} {}\nREND 1 {} {n} true {} {} {n}\n", q.chart, n * 1_000_000, n * 1_000_000, n * 1_000_000, t - 3600, q.after, q.before)
    });
    assert!(done, "replication never ended after the reconnect; {} requests; log:\n{}", reqs.len(), d.log_text());
    assert!(per_chart(&reqs) <= MAX_REQUESTS_PER_CHART, "{reqs:?}");
    assert_live_works(&d, "cutreplychild", &mut s);
}
