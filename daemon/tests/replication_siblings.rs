//! Beyond Netdata (issue 5): a parent whose copy of a host has a hole that the host itself can
//! no longer fill gets it from its sibling parent (a `[stream] destination` that is our daemon).
//! Fake children (raw STREAM clients) provide the history through replication replies.
//! Every tier is checked through the parents' own `/api/v1/replicate` endpoint (`tier=N`).

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
    feed_values(d, guid, host, first, last, missing, 0.0)
}

/// [`feed`] with every value shifted by `offset` (a copy that disagrees with the others).
fn feed_values(d: &OurDaemon, guid: &str, host: &str, first: i64, last: i64, missing: Option<std::ops::RangeInclusive<i64>>, offset: f64) -> TcpStream {
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
                reply += &format!("RBEGIN '' {} {t} {n}\nRSET \"a\" {:.7} \"\"\n", t - 1, value(t) + offset);
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

/// Tier-0 points of `fake.one` of `host` held by `d` in `(after, before]`, from its
/// `/api/v1/replicate` answer.
fn tier0(d: &OurDaemon, host: &str, after: i64, before: i64) -> Vec<(i64, f64)> {
    let (status, body) = d.get(&format!("/api/v1/replicate?host={host}&chart=fake.one&after={after}&before={before}"));
    assert_eq!(status, 200, "{body}");
    let mut at = None;
    let mut out = Vec::new();
    for l in body.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        match w.first() {
            Some(&"RBEGIN") if w.get(1) == Some(&"''") => at = w.get(3).and_then(|t| t.parse().ok()),
            Some(&"RSET") => {
                if let (Some(t), Some(v)) = (at, w.get(2).and_then(|v| v.parse::<f64>().ok())) {
                    out.push((t, v));
                }
            }
            _ => {}
        }
    }
    out
}

/// One upper-tier point: (time, sum, min, max, count).
type Agg = (i64, f64, f64, f64, u64);

/// Tier `tier` points of `fake.one` of `host` held by `d` in `(after, before]`.
fn tier_n(d: &OurDaemon, host: &str, tier: usize, after: i64, before: i64) -> Vec<Agg> {
    let (status, body) = d.get(&format!("/api/v1/replicate?host={host}&chart=fake.one&after={after}&before={before}&tier={tier}"));
    assert_eq!(status, 200, "{body}");
    let mut lines = body.lines();
    let head: serde_json::Value = serde_json::from_str(lines.next().unwrap_or_default()).expect("header");
    assert_eq!(head["covered_to"], before, "{head}");
    lines
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            Some((v[1].as_i64()?, v[2].as_f64()?, v[3].as_f64()?, v[4].as_f64()?, v[5].as_u64()?))
        })
        .collect()
}

/// Every upper-tier slot `theirs` holds, `ours` holds too (no gap) and counts exactly the same
/// tier-0 values (nothing twice, nothing lost), except the slot straddling `partial_at` (our
/// first tier-0 point, when older slots came as aggregates), which may hold fewer. Where
/// `same_values` says so the sums, minima and maxima agree too.
fn assert_tier_matches(ours: &[Agg], theirs: &[Agg], width: i64, partial_at: Option<i64>, same_values: impl Fn(i64) -> bool, what: &str) {
    assert!(!theirs.is_empty(), "{what}: the sibling has no point");
    for &(t, sum, min, max, count) in theirs {
        let Some(&(_, s2, mn2, mx2, c2)) = ours.iter().find(|p| p.0 == t) else {
            panic!("{what}: slot {t} missing; ours {ours:?}; theirs {theirs:?}")
        };
        // The slot stamped t holds tier-0 points t - width + 2 ..= t + 1 (1 s charts).
        if partial_at.is_some_and(|f| t - width + 2 < f && f <= t + 1) {
            assert!(c2 <= count, "{what}: slot {t} counted twice: {c2} > {count}");
            continue;
        }
        assert_eq!(c2, count, "{what}: slot {t}: count {c2} != {count}");
        if same_values(t) {
            assert!((s2 - sum).abs() < 1e-3 * sum.abs().max(1.0) && (mn2 - min).abs() < 1e-6 && (mx2 - max).abs() < 1e-6, "{what}: slot {t}: ({s2}, {mn2}, {mx2}) != ({sum}, {min}, {max})");
        }
    }
    assert!(ours.iter().all(|p| theirs.iter().any(|q| q.0 == p.0)), "{what}: slots the sibling does not have: ours {ours:?}");
}

/// The machine GUID of `d` (its `/api/v1/info` `uid`).
fn node_guid(d: &OurDaemon) -> String {
    let v: serde_json::Value = serde_json::from_str(&d.get("/api/v1/info").1).expect("info");
    v["uid"].as_str().expect("uid").to_string()
}

/// `sibling` streamed to `ours` once (a destination is a sibling only then, else upstream):
/// `ours` holds a host with `sibling`'s machine GUID.
fn has_streamed_to(ours: &OurDaemon, sibling: &OurDaemon) {
    drop(feed(ours, &node_guid(sibling), &format!("node-{}", sibling.port), now() - 20, now() - 2, None));
}

fn streaming(d: &OurDaemon) -> serde_json::Value {
    serde_json::from_str(&d.get("/api/v1/streaming").1).unwrap_or_default()
}

#[test]
fn a_hole_the_child_cannot_fill_is_backfilled_from_a_sibling_parent() {
    let sibling = OurDaemon::start("sibling", "", Some(&key_section()));
    let sc = format!("{}[stream]\n  enabled = yes\n  destination = tcp:127.0.0.1:{}\n  api key = {KEY}\n", key_section(), sibling.port);
    let restored = OurDaemon::start("restored", "", Some(&sc));
    has_streamed_to(&restored, &sibling);
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
    // All tiers: both parents now hold the same tier-0 points, so every upper-tier slot is the
    // same (the back-filled points were rolled up once, nothing counted twice).
    assert_eq!(tier0(&restored, "holeyhost", t - 400, t), tier0(&sibling, "holeyhost", t - 400, t));
    for tier in 1..=2 {
        let width = if tier == 1 { 60 } else { 3600 };
        let (a, b) = (t - 4 * 3600, t + 3600);
        let (ours, theirs) = (tier_n(&restored, "holeyhost", tier, a, b), tier_n(&sibling, "holeyhost", tier, a, b));
        assert_tier_matches(&ours, &theirs, width, None, |_| true, &format!("tier {tier}"));
    }
    let ss = &streaming(&restored)["sibling_sync"];
    assert!(ss["points_filled"].as_u64().is_some_and(|n| n >= 100), "{ss}");
    assert_eq!(ss["siblings"][0]["state"], "ok", "{ss}");
}

const SMALL_TIERS: &str = "[db]\n  dbengine tier 1 update every iterations = 10\n  dbengine tier 2 update every iterations = 10\n";

/// A parent restored from maintenance: it held a little of host X (with values of its own)
/// and nothing of host Z; both stopped streaming (archived) and only the sibling has their
/// history. At start it creates Z, fills tier 0 within its `seconds to replicate` (200 s),
/// takes older history as the sibling's tier-1/2 aggregates, keeps its own points, and counts
/// nothing twice.
#[test]
fn a_restored_parent_gets_archived_hosts_and_all_tiers_from_its_sibling() {
    let sibling = OurDaemon::start("sib-b", SMALL_TIERS, Some(&key_section()));
    let (gx, gz) = ("eeeeeeee-0000-0000-0000-00000000000a", "eeeeeeee-0000-0000-0000-00000000000b");
    let t = now() - 2;
    drop(feed(&sibling, gx, "hostx", t - 600, t, None));
    drop(feed(&sibling, gz, "hostz", t - 600, t, None));
    // W stopped 400 s ago: all its history is older than the restored parent's tier-0 window.
    let gw = "eeeeeeee-0000-0000-0000-00000000000f";
    drop(feed(&sibling, gw, "hostw", t - 900, t - 400, None));
    let tmp = tempfile::tempdir().expect("tempdir");
    let extra = format!("{SMALL_TIERS}  seconds to replicate = 200\n");
    // Before maintenance: the parent got (t-100, t-50] of X, with values of its own.
    let mut restored = OurDaemon::start_in(tmp.path(), free_port(), "par-a", &extra, Some(&key_section()));
    drop(feed_values(&restored, gx, "hostx", t - 100, t - 50, None, 1000.0));
    has_streamed_to(&restored, &sibling);
    assert_eq!(restored.stop(), Some(0), "{}", restored.log_text());
    // Restored, now with the sibling as its stream destination.
    let sc = format!("{}[stream]\n  enabled = yes\n  destination = tcp:127.0.0.1:{}\n  api key = {KEY}\n", key_section(), sibling.port);
    let restored = OurDaemon::start_in(tmp.path(), free_port(), "par-a", &extra, Some(&sc));
    let ss = wait_for(Duration::from_secs(60), || {
        let v = streaming(&restored);
        let ss = v["sibling_sync"].clone();
        (ss["passes"].as_u64() >= Some(1) && ss["state"] == "done").then_some(v)
    })
    .unwrap_or_else(|| panic!("no sibling pass finished: {}; log:\n{}", streaming(&restored), restored.log_text()));
    let sync = &ss["sibling_sync"];
    assert!(sync["hosts_added"].as_u64() >= Some(1), "{sync}");
    assert!(sync["aggregates_filled"].as_u64() > Some(0), "{sync}");
    let hosts = ss["hosts"].as_array().expect("hosts");
    for g in [gx, gz] {
        let h = hosts.iter().find(|h| h["guid"] == g).unwrap_or_else(|| panic!("{g} not held: {ss}"));
        assert_eq!(h["live"], false, "{h}");
    }
    // W: no tier 0 (outside the window), every upper-tier slot exactly the sibling's.
    assert!(tier0(&restored, "hostw", t - 1000, t).is_empty());
    for (tier, width) in [(1usize, 10i64), (2, 100)] {
        let (a, b) = (t - 1200, t);
        assert_tier_matches(&tier_n(&restored, "hostw", tier, a, b), &tier_n(&sibling, "hostw", tier, a, b), width, None, |_| true, &format!("hostw tier {tier}"));
    }
    for (host, own) in [("hostx", true), ("hostz", false)] {
        // Tier 0: every second from the first one we took (within seconds to replicate) on.
        let ours = tier0(&restored, host, t - 700, t);
        let theirs = tier0(&sibling, host, t - 700, t);
        let first0 = ours.first().map(|p| p.0).unwrap_or_else(|| panic!("{host}: no tier 0"));
        assert!(first0 <= t - 190 && first0 >= t - 230, "{host}: tier 0 from {first0}, t = {t}");
        let mine = |tt: i64| own && (t - 99..=t - 50).contains(&tt);
        for tt in first0..=t {
            let got = ours.iter().find(|p| p.0 == tt).map(|p| p.1);
            let want = theirs.iter().find(|p| p.0 == tt).map(|p| p.1).map(|v| if mine(tt) { v + 1000.0 } else { v });
            assert!(got.is_some() && (got.unwrap_or(f64::NAN) - want.unwrap_or(f64::NAN)).abs() < 1e-3, "{host} at {tt}: {got:?}, want {want:?} (our own points are never overwritten)");
        }
        // Tiers 1 (10 s) and 2 (100 s): no gap anywhere in the sibling's history.
        for (tier, width) in [(1usize, 10i64), (2, 100)] {
            let (a, b) = (t - 1000, t + 200);
            let (o, th) = (tier_n(&restored, host, tier, a, b), tier_n(&sibling, host, tier, a, b));
            // The slot stamped s holds s - width + 2 ..= s + 1; ours are t - 99 ..= t - 50.
            let touches_mine = |s: i64| own && s - width + 2 <= t - 50 && s + 1 >= t - 99;
            assert_tier_matches(&o, &th, width, Some(first0), |s| !touches_mine(s), &format!("{host} tier {tier}"));
            assert!(o.iter().any(|p| p.0 + 1 < first0), "{host} tier {tier}: nothing older than tier 0 ({first0}): {o:?}");
        }
    }
}

/// A destination that is a real Netdata (not one of our daemons) is not a sibling: the start
/// pass finds out from its answer, leaves it alone for a while, and streaming to it goes on.
#[test]
fn a_real_netdata_destination_is_not_asked_as_a_sibling() {
    if !real_netdata_available("a_real_netdata_destination_is_not_asked_as_a_sibling") {
        return;
    }
    let real = RealAgent::parent(KEY, "real-parent");
    let up = wait_for(Duration::from_secs(30), || real.get("/api/v1/info").0.eq(&200).then_some(()));
    assert!(up.is_some(), "the real parent did not start: {}", real.error_log());
    // A parent of ours (it accepts children) whose upstream is a real Netdata.
    let sc = format!("{}[stream]\n  enabled = yes\n  destination = tcp:127.0.0.1:{}\n  api key = {KEY}\n", key_section(), real.port);
    let ours = OurDaemon::start("child-of-real", "", Some(&sc));
    let ss = wait_for(Duration::from_secs(30), || {
        let ss = streaming(&ours)["sibling_sync"].clone();
        (ss["state"] == "done").then_some(ss)
    })
    .unwrap_or_else(|| panic!("no sibling pass: {}; log:\n{}", streaming(&ours), ours.log_text()));
    let peer = &ss["siblings"][0];
    assert_eq!(peer["state"], "not_ours", "{ss}");
    assert!(peer["retry_at"].as_i64() > Some(now() + 60), "{ss}");
    assert_eq!(ss["hosts_added"], 0, "{ss}");
    // Streaming to the real parent is not disturbed: it shows our host.
    let seen = wait_for(Duration::from_secs(60), || {
        let (_, body) = real.get("/api/v1/info");
        body.contains("child-of-real").then_some(())
    });
    assert!(seen.is_some(), "the real parent never got our host; log:\n{}", ours.log_text());
}

/// A leaf child (it accepts no stream) streams to our parent: its destination is not a sibling,
/// so it does not copy the parent's other hosts.
#[test]
fn a_leaf_child_does_not_copy_its_parents_hosts() {
    let parent = OurDaemon::start("the-parent", "", Some(&key_section()));
    drop(feed(&parent, "eeeeeeee-0000-0000-0000-00000000000c", "otherhost", now() - 100, now() - 2, None));
    let sc = format!("[stream]\n  enabled = yes\n  destination = tcp:127.0.0.1:{}\n  api key = {KEY}\n", parent.port);
    let leaf = OurDaemon::start("leaf", "", Some(&sc));
    let streamed = wait_for(Duration::from_secs(30), || {
        let v = streaming(&parent);
        v["hosts"].as_array()?.iter().any(|h| h["hostname"] == "leaf" && h["live"] == true).then_some(())
    });
    assert!(streamed.is_some(), "the leaf never streamed; log:\n{}", leaf.log_text());
    let v = streaming(&leaf);
    // A pass would be running or done: it is requested before the daemon answers HTTP.
    assert_eq!(v["sibling_sync"]["state"], "idle", "{v}");
    assert!(v["hosts"].as_array().is_some_and(|h| h.iter().all(|h| h["hostname"] != "otherhost")), "{v}");
}

/// A hierarchy: regional parent P streams to central parent G, which holds other hosts. G never
/// streamed to P (its machine GUID is no host of P), so it is upstream, not a sibling: P copies
/// nothing of G's fleet, at start or after a child's replication.
#[test]
fn a_parent_does_not_copy_its_upstream_parents_fleet() {
    let g = OurDaemon::start("central", "", Some(&key_section()));
    drop(feed(&g, "eeeeeeee-0000-0000-0000-000000000010", "fleethost", now() - 100, now() - 2, None));
    let sc = format!("{}[stream]\n  enabled = yes\n  destination = tcp:127.0.0.1:{}\n  api key = {KEY}\n", key_section(), g.port);
    let p = OurDaemon::start("regional", "", Some(&sc));
    let _child = feed(&p, "eeeeeeee-0000-0000-0000-000000000011", "regionchild", now() - 50, now() - 2, None);
    let ss = wait_for(Duration::from_secs(30), || {
        let v = streaming(&p);
        let ss = v["sibling_sync"].clone();
        (ss["passes"].as_u64() >= Some(2) && ss["state"] == "done").then_some(v)
    })
    .unwrap_or_else(|| panic!("no sibling passes: {}; log:\n{}", streaming(&p), p.log_text()));
    let sync = &ss["sibling_sync"];
    assert_eq!(sync["siblings"][0]["state"], "upstream", "{sync}");
    assert_eq!(sync["siblings"][0]["guid"], node_guid(&g).as_str(), "{sync}");
    assert_eq!((sync["hosts_added"].as_u64(), sync["points_filled"].as_u64()), (Some(0), Some(0)), "{sync}");
    assert!(ss["hosts"].as_array().is_some_and(|h| h.iter().all(|h| h["hostname"] != "fleethost")), "{ss}");
    // The endpoint refuses empty, reversed and over-long ranges, and answers the widest
    // accepted one from the stored points (at once: it reads only the stored range).
    let ask = |a: i64, b: i64, tier: &str| g.get(&format!("/api/v1/replicate?host=fleethost&chart=fake.one&after={a}&before={b}{tier}")).0;
    assert_eq!(ask(now(), now(), ""), 400);
    assert_eq!(ask(now(), now() - 10, "&tier=1"), 400);
    assert_eq!(ask(i64::MIN, i64::MAX, ""), 400);
    assert_eq!(ask(now() - 86_400, now(), ""), 200);
    assert_eq!(ask(i64::MIN, i64::MAX, "&tier=1"), 200);
    let got = tier0(&g, "fleethost", now() - 86_400, now());
    assert!(got.len() >= 90, "{got:?}");
}

/// A destination answering HTTP 5xx (overloaded, failing) is unreachable for now — asked
/// again soon — not "not one of our daemons" (left alone for hours).
#[test]
fn a_destination_answering_5xx_is_retried_soon() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let server = std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end && !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            match listener.accept() {
                Ok((mut c, _)) => {
                    let _ = c.set_read_timeout(Some(Duration::from_millis(500)));
                    let mut buf = [0u8; 4096];
                    let _ = std::io::Read::read(&mut c, &mut buf);
                    let _ = c.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy");
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    let sc = format!("{}[stream]\n  enabled = yes\n  destination = tcp:127.0.0.1:{port}\n  api key = {KEY}\n", key_section());
    let ours = OurDaemon::start("behind-busy", "", Some(&sc));
    let ss = wait_for(Duration::from_secs(30), || {
        let ss = streaming(&ours)["sibling_sync"].clone();
        (ss["state"] == "done").then_some(ss)
    })
    .unwrap_or_else(|| panic!("no sibling pass: {}; log:\n{}", streaming(&ours), ours.log_text()));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = server.join();
    let peer = &ss["siblings"][0];
    assert_eq!(peer["state"], "unreachable", "{ss}");
    assert!(peer["retry_at"].as_i64() <= Some(now() + 60), "{ss}");
}

/// The issue-5 scenario end to end: two of our parents streaming to each other; A is down while
/// the child streams to B; A comes back (its start pass asks B) and the child reconnects to A
/// with too little retention to cover A's downtime. A has no gap, in any tier.
#[test]
fn a_restarted_parent_of_an_active_active_pair_has_no_gap_in_any_tier() {
    let (tmp_a, tmp_b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let (pa, pb) = (free_port(), free_port());
    let sc = |peer: u16| format!("{}[stream]\n  enabled = yes\n  destination = tcp:127.0.0.1:{peer}\n  api key = {KEY}\n", key_section());
    let b = OurDaemon::start_in(tmp_b.path(), pb, "pair-b", SMALL_TIERS, Some(&sc(pa)));
    let mut a = OurDaemon::start_in(tmp_a.path(), pa, "pair-a", SMALL_TIERS, Some(&sc(pb)));
    let guid = "eeeeeeee-0000-0000-0000-00000000000d";
    let t = now() - 2;
    drop(feed(&a, guid, "pairhost", t - 400, t - 300, None));
    assert_eq!(a.stop(), Some(0), "{}", a.log_text());
    // While A is down the child streams to B (once B no longer has it live from A).
    let gone = wait_for(Duration::from_secs(30), || {
        let v = streaming(&b);
        let live = v["hosts"].as_array()?.iter().any(|h| h["guid"] == guid && h["live"] == true);
        (!live).then_some(())
    });
    assert!(gone.is_some(), "B still has the host live: {}", streaming(&b));
    drop(feed(&b, guid, "pairhost", t - 400, t, None));
    // A is back; the child reconnects to it with only its last 20 s.
    let a = OurDaemon::start_in(tmp_a.path(), pa, "pair-a", SMALL_TIERS, Some(&sc(pb)));
    let _s = feed(&a, guid, "pairhost", t - 20, t, None);
    let (after, before) = (t - 400, t);
    let whole = wait_for(Duration::from_secs(60), || {
        let got = tier0(&a, "pairhost", after, before);
        (got.len() as i64 == before - after).then_some(got)
    })
    .unwrap_or_else(|| panic!("A still misses seconds: has {} of {}; {}; log:\n{}", tier0(&a, "pairhost", after, before).len(), before - after, streaming(&a)["sibling_sync"], a.log_text()));
    assert_eq!(whole, tier0(&b, "pairhost", after, before));
    for (tier, width) in [(1usize, 10i64), (2, 100)] {
        let (x, y) = (t - 1000, t + 200);
        assert_tier_matches(&tier_n(&a, "pairhost", tier, x, y), &tier_n(&b, "pairhost", tier, x, y), width, None, |_| true, &format!("tier {tier}"));
    }
}

/// Regression (found by bench/replication-sibling.sh): a sibling whose history ends inside our
/// hole still fills its part of it (the end of its range is not "after our last point").
#[test]
fn a_sibling_whose_history_ends_inside_our_hole_fills_its_part() {
    let sibling = OurDaemon::start("short-sib", "", Some(&key_section()));
    let sc = format!("{}[stream]\n  enabled = yes\n  destination = tcp:127.0.0.1:{}\n  api key = {KEY}\n", key_section(), sibling.port);
    let restored = OurDaemon::start("restored2", "", Some(&sc));
    has_streamed_to(&restored, &sibling);
    let guid = "eeeeeeee-0000-0000-0000-00000000000e";
    let t = now() - 5;
    drop(feed(&sibling, guid, "shorthost", t - 300, t - 150, None));
    let _s = feed(&restored, guid, "shorthost", t - 300, t, Some(t - 199..=t - 21));
    let filled = wait_for(Duration::from_secs(30), || {
        let got = tier0(&restored, "shorthost", t - 300, t);
        (got.len() == 300 - 179 + 50).then_some(got)
    });
    let got = filled.unwrap_or_else(|| panic!("{} points; {}; log:\n{}", tier0(&restored, "shorthost", t - 300, t).len(), streaming(&restored)["sibling_sync"], restored.log_text()));
    let times: Vec<i64> = got.iter().map(|p| p.0).collect();
    let want: Vec<i64> = (t - 299..=t).filter(|x| !(t - 149..=t - 21).contains(x)).collect();
    assert_eq!(times, want);
}
