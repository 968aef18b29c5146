//! Our daemon as a parent of real Netdata 1.37.1 children (issue 4, parent role).
//! These need Debian's netdata-core + netdata-plugins-bash: under `CI` they fail without them.

mod common;

use std::time::Duration;

use common::*;

fn stream_conf_with_key() -> String {
    format!("[{KEY}]\n  type = api\n  enabled = yes\n  allow from = *\n")
}

/// Waits until the child has a full window of 8 seconds of `chart` (its very first point is
/// never replicated, by Netdata's design, so the window starts after it) and our parent has
/// its newest second, then compares that window as CSV, cell by cell.
fn assert_same_data(ours: &OurDaemon, child: &RealAgent, host: &str, chart: &str) {
    let full = |body: &str| body.lines().count() >= 9 && body.lines().skip(1).all(|l| !l.contains("null"));
    let ok = wait_for(Duration::from_secs(60), || {
        let (_, c) = child.get(&format!("/api/v1/data?chart={chart}&after=-12&before=-2&format=csv"));
        let (_, o) = ours.get(&format!("/host/{host}/api/v1/data?chart={chart}&after=-4&before=-2&format=csv"));
        (full(&c) && o.lines().nth(1).is_some_and(|l| !l.contains("null"))).then_some(())
    });
    assert!(ok.is_some(), "no full window of {chart} of {host}; our log:\n{}", ours.log_text());
    let t = now() - 3;
    let q = format!("chart={chart}&after={}&before={t}&format=csv&options=seconds", t - 8);
    // The same fixed window is asked again (bounded) while the two differ: under load a
    // second can reach our parent after the child's own answer has it.
    let mut last = (0, String::new(), 0, String::new());
    for attempt in 0..5 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_secs(2));
        }
        let (s1, a) = ours.get(&format!("/host/{host}/api/v1/data?{q}"));
        let (s2, b) = child.get(&format!("/api/v1/data?{q}"));
        if (s1, s2) == (200, 200) && a == b {
            return;
        }
        last = (s1, a, s2, b);
    }
    assert_eq!((last.0, last.2), (200, 200));
    assert_eq!(last.1, last.3, "{chart}: our parent and the child disagree");
}

#[test]
fn real_child_streams_into_our_parent_uncompressed() {
    if !real_netdata_available("real_child_streams_into_our_parent_uncompressed") {
        return;
    }
    let ours = OurDaemon::start("ourparent", "", Some(&stream_conf_with_key()));
    let child = RealAgent::child(&format!("tcp:127.0.0.1:{}", ours.port), KEY, "ndchild-plain", false);
    for chart in ["system.cpu", "system.ram", "system.ctxt", "netdata.server_cpu"] {
        assert_same_data(&ours, &child, "ndchild-plain", chart);
    }
    let (_, info) = ours.get("/api/v1/info");
    assert!(info.contains("\"ndchild-plain\""), "{info}");
    let (_, by_guid) = ours.get(&format!("/host/{}/api/v1/info", child.guid()));
    assert!(by_guid.contains("mirrored_hosts"));
    assert!(!child.error_log().contains("unknown command"), "child complained:\n{}", child.error_log());
    // /api/v1/streaming: the child is live, from a loopback peer, replication done, tier 0 set.
    let done = wait_for(Duration::from_secs(30), || {
        let (s, body) = ours.get("/api/v1/streaming");
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let h = v["hosts"].as_array()?.iter().find(|h| h["hostname"] == "ndchild-plain")?.clone();
        (s == 200 && h["live"] == true && h["replication"]["status"] == "done").then_some(h)
    });
    let h = done.unwrap_or_else(|| panic!("streaming status never showed the child synced:\n{}", ours.get("/api/v1/streaming").1));
    assert_eq!(h["hops"], 1);
    assert!(h["source"].as_str().is_some_and(|p| p.starts_with("127.0.0.1:")), "{h}");
    assert!(h["replication"]["charts_done"].as_u64().is_some_and(|n| n > 50), "{h}");
    assert!(h["tiers"][0]["last_time"].as_i64().is_some_and(|t| t > now() - 30), "{h}");
    assert!(h["capabilities"].as_array().is_some_and(|c| c.iter().any(|x| x == "REPLICATION")), "{h}");
}

#[test]
fn real_child_streams_into_our_parent_compressed() {
    if !real_netdata_available("real_child_streams_into_our_parent_compressed") {
        return;
    }
    let ours = OurDaemon::start("ourparent", "", Some(&stream_conf_with_key()));
    let child = RealAgent::child(&format!("tcp:127.0.0.1:{}", ours.port), KEY, "ndchild-lz4", true);
    for chart in ["system.cpu", "system.io", "mem.available"] {
        assert_same_data(&ours, &child, "ndchild-lz4", chart);
    }
    assert!(ours.log_text().contains("compression=true"), "compression was not negotiated:\n{}", ours.log_text());
}

#[test]
fn disconnected_child_stays_queryable_and_unreachable() {
    if !real_netdata_available("disconnected_child_stays_queryable_and_unreachable") {
        return;
    }
    let ours = OurDaemon::start("ourparent", "", Some(&stream_conf_with_key()));
    let child = RealAgent::child(&format!("tcp:127.0.0.1:{}", ours.port), KEY, "ndchild-gone", false);
    assert_same_data(&ours, &child, "ndchild-gone", "system.cpu");
    drop(child);
    let gone = wait_for(Duration::from_secs(20), || {
        let (_, info) = ours.get("/api/v1/info");
        let i = info.find("\"ndchild-gone\", \"reachable\": false").or_else(|| {
            // tolerate key order: find the host's status object and check reachable=false
            info.split('{').find(|o| o.contains("\"hostname\": \"ndchild-gone\"") && o.contains("\"reachable\": false")).map(|_| 0)
        });
        i.map(|_| ())
    });
    assert!(gone.is_some(), "host not reported unreachable:\n{}", ours.get("/api/v1/info").1);
    let (s, b) = ours.get("/host/ndchild-gone/api/v1/data?chart=system.cpu&after=-60&format=csv");
    assert_eq!(s, 200);
    assert!(b.lines().skip(1).any(|l| !l.contains("null")), "{b}");
}

#[test]
fn refusals_are_netdata_exact() {
    let guid = "bbbbbbbb-0000-0000-0000-000000000002";
    let disabled = "22222222-2222-3333-4444-555555555555";
    let ipkey = "33333333-2222-3333-4444-555555555555";
    let sc = format!("{}[{disabled}]\n  type = api\n  enabled = no\n[{ipkey}]\n  type = api\n  enabled = yes\n  allow from = 10.*\n", stream_conf_with_key());
    let ours = OurDaemon::start("ourparent", "", Some(&sc));
    let denied = "You are not permitted to access this. Check the logs for more info.";
    assert_eq!(stream_connect(ours.port, "99999999-2222-3333-4444-555555555555", guid, "x", 15352).1, denied, "unknown key");
    assert_eq!(stream_connect(ours.port, disabled, guid, "x", 15352).1, denied, "disabled key");
    assert_eq!(stream_connect(ours.port, ipkey, guid, "x", 15352).1, denied, "disallowed IP");
    assert_eq!(stream_connect(ours.port, "not-a-uuid", guid, "x", 15352).1, denied, "malformed key");
    let own = std::fs::read_to_string(ours.dir.join("lib/registry/netdata.public.unique.id")).expect("guid");
    assert_eq!(
        stream_connect(ours.port, KEY, own.trim(), "x", 15352).1,
        "Don't hit me baby, you are trying to stream my localhost back",
        "own GUID"
    );
    // A live GUID from a second connection: Netdata's reply, and one clone warning in our log.
    let (mut first, g) = stream_connect(ours.port, KEY, guid, "first", 960);
    assert!(g.starts_with("Hit me baby"), "{g}");
    use std::io::Write;
    first.write_all(b"CHART \"a.b\" \"\" \"t\" \"u\" \"f\" \"a.b\" \"line\" 1 1 \"   \" \"p\" \"m\"\n").expect("write");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(stream_connect(ours.port, KEY, guid, "second", 960).1, "This GUID is already streaming to this server");
    let log = ours.log_text();
    assert!(log.contains("already streaming from another peer") && log.contains("first") && log.contains("second"), "{log}");
    // Greeting exactness: a 1.37.1 child's offer gets the capture's answer minus what we lack.
    let (_, g) = stream_connect(ours.port, KEY, "cccccccc-0000-0000-0000-000000000003", "y", 15352);
    assert_eq!(g, "Hit me baby, push them over with the version=13248");
}
