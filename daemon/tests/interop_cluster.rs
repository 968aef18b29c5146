//! Our daemon as a child of a real Netdata parent, as a re-streaming middle parent, in a
//! fail-over pair and in an active-active pair (issue 4). Need the real Netdata packages;
//! under `CI` they fail without them.

mod common;

use std::time::Duration;

use common::*;

fn key_section() -> String {
    format!("[{KEY}]\n  type = api\n  enabled = yes\n  allow from = *\n")
}

fn upstream(dest: &str) -> String {
    format!("[stream]\n  enabled = yes\n  destination = {dest}\n  api key = {KEY}\n  reconnect delay seconds = 1\n")
}

/// Waits until `get(path)` returns a CSV whose newest row is not null.
fn wait_csv(get: impl Fn(&str) -> (u16, String), path: &str, limit: Duration) -> bool {
    wait_for(limit, || {
        let (s, b) = get(path);
        (s == 200 && b.lines().nth(1).is_some_and(|l| !l.contains("null"))).then_some(())
    })
    .is_some()
}

#[test]
fn our_daemon_streams_into_a_real_parent() {
    if !real_netdata_available("our_daemon_streams_into_a_real_parent") {
        return;
    }
    let parent = RealAgent::parent(KEY, "realparent");
    let ours = OurDaemon::start("ourchild", "", Some(&upstream(&format!("tcp:127.0.0.1:{}", parent.port))));
    let path = "/host/ourchild/api/v1/data?chart=system.cpu&after=-4&before=-2&format=csv";
    assert!(wait_csv(|p| parent.get(p), path, Duration::from_secs(40)), "real parent has no data from us; our log:\n{}\nparent log:\n{}", ours.log_text(), parent.error_log());
    // Same seconds, same values (the real parent applies the same computation to our raw SETs,
    // except the first collections, which it anchors to its own clock).
    std::thread::sleep(Duration::from_secs(4));
    let t = now() - 3;
    let q = format!("chart=system.ram&after={}&before={t}&format=csv&options=seconds", t - 3);
    let (_, theirs) = parent.get(&format!("/host/ourchild/api/v1/data?{q}"));
    let (_, mine) = ours.get(&format!("/api/v1/data?{q}"));
    assert_eq!(theirs, mine, "system.ram differs between us and the real parent");
    let (_, info) = parent.get("/api/v1/info");
    assert!(info.contains("\"ourchild\""), "{info}");
    assert!(!parent.error_log().contains("unknown command") && !parent.error_log().contains("unknown keyword"), "real parent complained:\n{}", parent.error_log());
}

#[test]
fn real_child_is_restreamed_by_our_parent_into_a_real_parent_with_hops_2() {
    if !real_netdata_available("real_child_is_restreamed_by_our_parent_into_a_real_parent_with_hops_2") {
        return;
    }
    let top = RealAgent::parent(KEY, "realtop");
    let mid = OurDaemon::start("ourmid", "", Some(&format!("{}{}", key_section(), upstream(&format!("tcp:127.0.0.1:{}", top.port)))));
    let child = RealAgent::child(&format!("tcp:127.0.0.1:{}", mid.port), KEY, "leafchild", false);
    let path = "/host/leafchild/api/v1/data?chart=system.cpu&after=-4&before=-2&format=csv";
    assert!(wait_csv(|p| top.get(p), path, Duration::from_secs(60)), "top parent has no leafchild data; mid log:\n{}", mid.log_text());
    let (_, info) = top.get("/api/v1/info");
    let status = info.split('{').find(|o| o.contains("\"hostname\": \"leafchild\"")).unwrap_or_default().to_string();
    assert!(status.contains("\"hops\": 2"), "leafchild not at hops 2 on the top parent: {status}");
    drop(child);
}

#[test]
fn real_child_fails_over_between_our_two_parents() {
    if !real_netdata_available("real_child_fails_over_between_our_two_parents") {
        return;
    }
    let mut a = OurDaemon::start("parenta", "", Some(&key_section()));
    let b = OurDaemon::start("parentb", "", Some(&key_section()));
    let child = RealAgent::child(&format!("tcp:127.0.0.1:{} tcp:127.0.0.1:{}", a.port, b.port), KEY, "movingchild", false);
    let path = "/host/movingchild/api/v1/data?chart=system.cpu&after=-4&before=-2&format=csv";
    assert!(wait_csv(|p| a.get(p), path, Duration::from_secs(40)), "first parent never got the child");
    a.kill9();
    assert!(wait_csv(|p| b.get(p), path, Duration::from_secs(60)), "child did not fail over; child log:\n{}", child.error_log());
}

#[test]
fn active_active_pair_holds_everything_without_loops_or_churn() {
    if !real_netdata_available("active_active_pair_holds_everything_without_loops_or_churn") {
        return;
    }
    let (pa, pb) = (free_port(), free_port());
    let ta = tempfile::tempdir().expect("tmp");
    let tb = tempfile::tempdir().expect("tmp");
    let a = OurDaemon::start_in(ta.path(), pa, "pairA", "", Some(&format!("{}{}", key_section(), upstream(&format!("tcp:127.0.0.1:{pb}")))));
    let b = OurDaemon::start_in(tb.path(), pb, "pairB", "", Some(&format!("{}{}", key_section(), upstream(&format!("tcp:127.0.0.1:{pa}")))));
    let _child = RealAgent::child(&format!("tcp:127.0.0.1:{pa}"), KEY, "pairchild", false);
    for (name, d) in [("A", &a), ("B", &b)] {
        for host in ["pairA", "pairB", "pairchild"] {
            let path = format!("/host/{host}/api/v1/data?chart=system.cpu&after=-4&before=-2&format=csv");
            assert!(wait_csv(|p| d.get(p), &path, Duration::from_secs(60)), "parent {name} lacks {host}; log:\n{}", d.log_text());
        }
    }
    // Connection count stays stable for a minute: count accepted streams in both logs.
    let count = |d: &OurDaemon| d.log_text().matches("stream accepted").count();
    let (a0, b0) = (count(&a), count(&b));
    std::thread::sleep(Duration::from_secs(60));
    assert_eq!((count(&a), count(&b)), (a0, b0), "streams churned in an active-active pair\nA:\n{}\nB:\n{}", a.log_text(), b.log_text());
    // No loop: each parent sees its own host at hops 0, the other at 1, the child at 1 or 2.
    let (_, info) = a.get("/api/v1/info");
    let own = info.split('{').find(|o| o.contains("\"hostname\": \"pairA\"")).unwrap_or_default().to_string();
    assert!(own.contains("\"hops\": 0"), "{own}");
}
