//! Replication with real Netdata 1.37.1 peers (issue 5): link cuts in both roles, a parent
//! restart, a fail-over. Every test checks, second by second, that the window of the outage
//! has no missing point and holds the collecting side's own values.
//! Need Debian's netdata-core + netdata-plugins-bash: under `CI` they fail without them.

mod common;
#[path = "common/relay.rs"]
mod relay;

use std::collections::BTreeMap;
use std::time::Duration;

use relay::Relay;
use common::*;

fn key_section() -> String {
    format!("[{KEY}]\n  type = api\n  enabled = yes\n  allow from = *\n")
}

fn upstream(dest: &str) -> String {
    format!("[stream]\n  enabled = yes\n  destination = {dest}\n  api key = {KEY}\n  reconnect delay seconds = 1\n")
}

/// `chart` over `(after, before]` as time → row text (CSV, `options=seconds`).
fn rows(get: &dyn Fn(&str) -> (u16, String), prefix: &str, chart: &str, after: i64, before: i64) -> BTreeMap<i64, String> {
    let (s, body) = get(&format!("{prefix}/api/v1/data?chart={chart}&after={after}&before={before}&format=csv&options=seconds"));
    if s != 200 {
        return BTreeMap::new();
    }
    body.lines()
        .skip(1)
        .filter_map(|l| {
            let (t, rest) = l.split_once(',')?;
            Some((t.trim().parse::<i64>().ok()?, rest.to_string()))
        })
        .collect()
}

/// The seconds of `(after, before]` missing or null in `r`.
fn missing(r: &BTreeMap<i64, String>, after: i64, before: i64) -> Vec<i64> {
    (after + 1..=before).filter(|t| r.get(t).is_none_or(|row| row.split(',').any(|c| c.is_empty() || c == "null"))).collect()
}

/// Waits until `ours` (under `prefix`) has every second of `(after, before]` of `chart`.
fn wait_no_gap(get: &dyn Fn(&str) -> (u16, String), prefix: &str, chart: &str, after: i64, before: i64, limit: Duration) -> Result<(), Vec<i64>> {
    let mut last = Vec::new();
    let ok = wait_for(limit, || {
        last = missing(&rows(get, prefix, chart, after, before), after, before);
        last.is_empty().then_some(())
    });
    ok.ok_or(last)
}

/// Same cells in both answers for `(after, before]`; returns the differing seconds. Within
/// `live_again` (the seconds where live collection resumes after a replication) a value may
/// differ by one unit of its last stored digit: `RDSTATE` carries the sender's incremental
/// remainder with 7 decimals (`%0.7f`), so the receiver's first live slots are computed from
/// a remainder rounded by up to 5e-8 — a real Netdata parent differs there the same way.
fn differing(a: &BTreeMap<i64, String>, b: &BTreeMap<i64, String>, after: i64, before: i64, live_again: &std::ops::RangeInclusive<i64>) -> Vec<(i64, String, String)> {
    (after + 1..=before)
        .filter_map(|t| {
            let (x, y) = (a.get(&t).cloned().unwrap_or_default(), b.get(&t).cloned().unwrap_or_default());
            let same = x == y || (live_again.contains(&t) && last_digit_apart(&x, &y));
            (!same).then_some((t, x, y))
        })
        .collect()
}

/// Every value of two CSV rows within one unit of the storage number's last digit (absolute
/// 1e-7 below 0.17, else 3e-7 relative: netdata-values.md §3.2), and at least one row non-empty.
fn last_digit_apart(x: &str, y: &str) -> bool {
    let (xs, ys): (Vec<&str>, Vec<&str>) = (x.split(',').collect(), y.split(',').collect());
    !x.is_empty()
        && xs.len() == ys.len()
        && xs.iter().zip(&ys).all(|(p, q)| match (p.parse::<f64>(), q.parse::<f64>()) {
            (Ok(p), Ok(q)) => (p - q).abs() <= (1.0e-7f64).max(3.0e-7 * p.abs().max(q.abs())) * 1.000_001,
            _ => p == q,
        })
}

#[test]
fn last_digit_tolerance_is_one_unit() {
    assert!(last_digit_apart("6.967154,0.3929176", "6.967154,0.3929175"));
    assert!(last_digit_apart("1200.001,0.0000001", "1200.001,0"));
    assert!(!last_digit_apart("6.967154,0.3929178", "6.967154,0.3929175"));
    assert!(!last_digit_apart("6.967154,0.39", "6.967154"));
    assert!(!last_digit_apart("", ""));
    let a = BTreeMap::from([(10, "0.3929176".to_string()), (20, "0.3929176".to_string())]);
    let b = BTreeMap::from([(10, "0.3929175".to_string()), (20, "0.3929175".to_string())]);
    assert_eq!(differing(&a, &b, 0, 30, &(8..=12)).iter().map(|d| d.0).collect::<Vec<_>>(), [20]);
}

/// Waits until `get(prefix…)` shows `chart` with a non-null newest second.
fn wait_live(get: &dyn Fn(&str) -> (u16, String), prefix: &str, chart: &str, limit: Duration) -> bool {
    wait_for(limit, || {
        let t = now() - 2;
        let r = rows(get, prefix, chart, t - 3, t);
        missing(&r, t - 3, t).is_empty().then_some(())
    })
    .is_some()
}

const CHARTS: [&str; 4] = ["system.cpu", "system.ram", "system.net", "netdata.server_cpu"];

/// Checks every chart of [`CHARTS`] over `(after, before]`: no missing second on `holder`, and
/// from `compare_after` on the same cells as `source` (the collecting side's own API). (Before
/// an outage, live values of incremental charts may differ in phase: a real parent anchors a
/// chart's first collection to its own clock.)
#[allow(clippy::too_many_arguments)]
fn check_window(holder: &dyn Fn(&str) -> (u16, String), holder_prefix: &str, source: &dyn Fn(&str) -> (u16, String), after: i64, compare_after: i64, before: i64, live_again: std::ops::RangeInclusive<i64>, what: &str) -> Result<(), String> {
    let mut errors = String::new();
    for chart in CHARTS {
        if let Err(m) = wait_no_gap(holder, holder_prefix, chart, after, before, Duration::from_secs(60)) {
            errors += &format!("{what}: {chart}: {} missing seconds in ({after}, {before}]: {:?}\n", m.len(), &m[..m.len().min(20)]);
            continue;
        }
        // Both answers retried until complete: an agent's API can be briefly busy (a real
        // parent once answered this second query with nothing right after the full one).
        let complete = |get: &dyn Fn(&str) -> (u16, String), prefix: &str| wait_for(Duration::from_secs(15), || Some(rows(get, prefix, chart, after, before)).filter(|r| missing(r, after, before).is_empty())).unwrap_or_default();
        let a = complete(holder, holder_prefix);
        let b = complete(source, "");
        let d = differing(&a, &b, compare_after, before, &live_again);
        if !d.is_empty() {
            errors += &format!("{what}: {chart}: {} seconds differ from the source, e.g. {:?}\n", d.len(), &d[..d.len().min(5)]);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[test]
fn real_child_link_cut_for_a_minute_is_backfilled_into_our_parent() {
    if !real_netdata_available("real_child_link_cut_for_a_minute_is_backfilled_into_our_parent") {
        return;
    }
    let ours = OurDaemon::start("ourparent", "", Some(&key_section()));
    let relay = Relay::start(ours.port);
    let child = RealAgent::child(&format!("tcp:127.0.0.1:{}", relay.port), KEY, "cutchild", false);
    let o = |p: &str| ours.get(p);
    let c = |p: &str| child.get(p);
    for chart in CHARTS {
        assert!(wait_live(&o, "/host/cutchild", chart, Duration::from_secs(60)), "{chart} never arrived; our log:\n{}", ours.log_text());
    }
    // Past the first collections (which a real parent anchors to its own clock).
    std::thread::sleep(Duration::from_secs(12));
    let cut_at = now();
    relay.cut();
    std::thread::sleep(Duration::from_secs(60));
    relay.resume();
    let resumed_at = now();
    assert!(wait_live(&o, "/host/cutchild", "system.cpu", Duration::from_secs(60)), "child never came back; child log:\n{}", child.error_log());
    std::thread::sleep(Duration::from_secs(3));
    if let Err(e) = check_window(&o, "/host/cutchild", &c, cut_at - 5, cut_at - 5, resumed_at + 3, resumed_at..=resumed_at + 3, "our parent") {
        panic!("{}\nour log:\n{}", e, ours.log_text());
    }
    assert!(relay.accepted() >= 2, "the child did not reconnect through the relay");
}

#[test]
fn our_child_link_cut_for_a_minute_is_backfilled_into_a_real_parent() {
    if !real_netdata_available("our_child_link_cut_for_a_minute_is_backfilled_into_a_real_parent") {
        return;
    }
    let parent = RealAgent::parent(KEY, "realparent");
    let relay = Relay::start(parent.port);
    let ours = OurDaemon::start("ourcutchild", "", Some(&upstream(&format!("tcp:127.0.0.1:{}", relay.port))));
    let p = |q: &str| parent.get(q);
    let o = |q: &str| ours.get(q);
    for chart in CHARTS {
        assert!(wait_live(&p, "/host/ourcutchild", chart, Duration::from_secs(60)), "{chart} never reached the real parent; our log:\n{}\nparent log:\n{}", ours.log_text(), parent.error_log());
    }
    // Past the first collections (which a real parent anchors to its own clock).
    std::thread::sleep(Duration::from_secs(12));
    let cut_at = now();
    relay.cut();
    std::thread::sleep(Duration::from_secs(60));
    relay.resume();
    let resumed_at = now();
    assert!(wait_live(&p, "/host/ourcutchild", "system.cpu", Duration::from_secs(60)), "we never came back; our log:\n{}", ours.log_text());
    std::thread::sleep(Duration::from_secs(3));
    if let Err(e) = check_window(&p, "/host/ourcutchild", &o, cut_at - 5, cut_at, resumed_at + 3, resumed_at..=resumed_at + 3, "real parent") {
        panic!("{}\nour log:\n{}\nparent log:\n{}", e, ours.log_text(), parent.error_log());
    }
    let log = parent.error_log();
    assert!(!log.contains("unknown keyword") && !log.contains("unknown command"), "real parent complained:\n{log}");
}

#[test]
fn our_parent_restarted_after_downtime_backfills_the_real_child() {
    if !real_netdata_available("our_parent_restarted_after_downtime_backfills_the_real_child") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let mut ours = OurDaemon::start_in(tmp.path(), port, "ourparent", "", Some(&key_section()));
    let child = RealAgent::child(&format!("tcp:127.0.0.1:{port}"), KEY, "restartchild", false);
    let c = |p: &str| child.get(p);
    {
        let o = |p: &str| ours.get(p);
        for chart in CHARTS {
            assert!(wait_live(&o, "/host/restartchild", chart, Duration::from_secs(60)), "{chart} never arrived; our log:\n{}", ours.log_text());
        }
    }
    std::thread::sleep(Duration::from_secs(3));
    let stopped_at = now();
    assert_eq!(ours.stop(), Some(0), "clean stop; log:\n{}", ours.log_text());
    std::thread::sleep(Duration::from_secs(45));
    let ours = OurDaemon::start_in(tmp.path(), port, "ourparent", "", Some(&key_section()));
    let restarted_at = now();
    let o = |p: &str| ours.get(p);
    assert!(wait_live(&o, "/host/restartchild", "system.cpu", Duration::from_secs(60)), "child never came back; child log:\n{}", child.error_log());
    std::thread::sleep(Duration::from_secs(3));
    if let Err(e) = check_window(&o, "/host/restartchild", &c, stopped_at - 5, stopped_at - 5, restarted_at + 3, restarted_at..=restarted_at + 3, "restarted parent") {
        panic!("{}\nour log:\n{}", e, ours.log_text());
    }
}

#[test]
fn real_child_failing_over_to_our_second_parent_leaves_no_gap() {
    if !real_netdata_available("real_child_failing_over_to_our_second_parent_leaves_no_gap") {
        return;
    }
    let mut a = OurDaemon::start("parenta", "", Some(&key_section()));
    let b = OurDaemon::start("parentb", "", Some(&key_section()));
    let child = RealAgent::child(&format!("tcp:127.0.0.1:{} tcp:127.0.0.1:{}", a.port, b.port), KEY, "failchild", false);
    let c = |p: &str| child.get(p);
    {
        let ga = |p: &str| a.get(p);
        for chart in CHARTS {
            assert!(wait_live(&ga, "/host/failchild", chart, Duration::from_secs(60)), "{chart} never reached parent A; log:\n{}", a.log_text());
        }
    }
    // Long enough that the window checked below starts after the child's first point.
    std::thread::sleep(Duration::from_secs(20));
    let killed_at = now();
    a.kill9();
    let gb = |p: &str| b.get(p);
    assert!(wait_live(&gb, "/host/failchild", "system.cpu", Duration::from_secs(60)), "child did not fail over; child log:\n{}", child.error_log());
    std::thread::sleep(Duration::from_secs(3));
    let until = now() - 2;
    if let Err(e) = check_window(&gb, "/host/failchild", &c, killed_at - 15, killed_at - 15, until, killed_at..=until, "second parent") {
        panic!("{}\nB log:\n{}", e, b.log_text());
    }
}

#[test]
fn link_cut_below_our_middle_parent_is_backfilled_up_to_a_real_top_parent() {
    if !real_netdata_available("link_cut_below_our_middle_parent_is_backfilled_up_to_a_real_top_parent") {
        return;
    }
    let top = RealAgent::parent(KEY, "realtop");
    let mid = OurDaemon::start("ourmid", "", Some(&format!("{}{}", key_section(), upstream(&format!("tcp:127.0.0.1:{}", top.port)))));
    let relay = Relay::start(mid.port);
    let child = RealAgent::child(&format!("tcp:127.0.0.1:{}", relay.port), KEY, "leafcut", false);
    let t = |p: &str| top.get(p);
    let c = |p: &str| child.get(p);
    for chart in CHARTS {
        assert!(wait_live(&t, "/host/leafcut", chart, Duration::from_secs(90)), "{chart} never reached the top; mid log:\n{}\ntop log (end):\n{}", mid.log_text(), stream_tail(&top.error_log(), 60));
    }
    std::thread::sleep(Duration::from_secs(12));
    let cut_at = now();
    relay.cut();
    std::thread::sleep(Duration::from_secs(60));
    relay.resume();
    let resumed_at = now();
    assert!(wait_live(&t, "/host/leafcut", "system.cpu", Duration::from_secs(60)), "child never came back to the top; mid log:\n{}\ntop log (end):\n{}", mid.log_text(), stream_tail(&top.error_log(), 60));
    std::thread::sleep(Duration::from_secs(3));
    if let Err(e) = check_window(&t, "/host/leafcut", &c, cut_at - 5, cut_at, resumed_at + 3, resumed_at..=resumed_at + 3, "top parent") {
        panic!("{}\nmid log:\n{}\ntop log:\n{}", e, mid.log_text(), top.error_log());
    }
}

/// The last `n` lines of a real agent's log, without its collectors' start-up noise (what
/// is left says why a stream ended).
fn stream_tail(text: &str, n: usize) -> String {
    let noise = ["PLUGIN[", "set name of thread", "thread created with task id"];
    let lines: Vec<&str> = text.lines().filter(|l| !noise.iter().any(|x| l.contains(x))).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
