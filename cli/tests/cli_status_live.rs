//! `status` and `quarantine --keys --until-synced` against our real daemons (`netdatad`
//! built beside `netdatactl`) and a real Netdata 1.37.1 child (Debian's package, started
//! with shared/real-netdata/netdata-real). Skips loudly when either is missing; fails instead
//! when `CI` is set.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::peers::{free_port, netdatad, real_netdata, Daemon, RealAgent};
use netdatactl::http;

const CHILD_KEY: &str = "7b0c1d2e-aaaa-4bbb-8ccc-000000000001";
const PARENT_KEY: &str = "7b0c1d2e-aaaa-4bbb-8ccc-000000000002";

/// What these tests need of a daemon beyond the shared harness.
trait Sibling {
    /// stream.conf: the children key (role children, re-streamed upstream) and the parents key
    /// (role parents, not re-streamed: siblings stream their own hosts), and optionally an
    /// upstream sibling.
    fn stream_conf(&self, upstream: Option<u16>) -> String;
    fn streaming(&self) -> serde_json::Value;
}

impl Sibling for Daemon {
    fn stream_conf(&self, upstream: Option<u16>) -> String {
        let stream = match upstream {
            Some(p) => format!("[stream]\n\tenabled = yes\n\tdestination = tcp:127.0.0.1:{p}\n\tapi key = {PARENT_KEY}\n\treconnect delay seconds = 1\n"),
            None => "[stream]\n\tenabled = no\n".to_string(),
        };
        let text = format!(
            "{stream}\n# netdatactl role: children\n[{CHILD_KEY}]\n\ttype = api\n\tenabled = yes\n\n# netdatactl role: parents\n[{PARENT_KEY}]\n\ttype = api\n\tenabled = yes\n\tdefault proxy enabled = no\n"
        );
        std::fs::write(self.dir.join("stream.conf"), &text).expect("stream.conf");
        text
    }
    fn streaming(&self) -> serde_json::Value {
        http::get_json(&self.url("/api/v1/streaming"), Duration::from_secs(5)).unwrap_or(serde_json::Value::Null)
    }
}

fn real_child(script: &Path, dir: PathBuf, dest: u16, name: &str) -> RealAgent {
    let port = free_port().to_string();
    RealAgent::start(script, "child", dir, &[&port, &format!("tcp:127.0.0.1:{dest}"), CHILD_KEY, "--hostname", name])
}

/// Two of our parents streaming to each other (their own hosts), a real child on the first
/// (re-streamed to the second): `status` shows the child live on both and "in sync";
/// `--wait-synced` exits 0.
#[test]
fn status_of_two_real_parents_and_a_real_netdata_child_is_in_sync() {
    let Some(bin) = netdatad() else { return };
    let Some(script) = real_netdata() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let (port1, port2) = (free_port(), free_port());
    let mut p1 = Daemon::new(&tmp.path().join("p1"), "stp1", port1, "");
    let mut p2 = Daemon::new(&tmp.path().join("p2"), "stp2", port2, "");
    p1.stream_conf(Some(port2));
    p2.stream_conf(Some(port1));
    p1.start(&bin);
    p2.start(&bin);
    let _child = real_child(&script, tmp.path().join("child"), port1, "stchild");
    let parents = format!("{},{}", p1.base(), p2.base());

    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = String::new();
    let mut ok = false;
    while Instant::now() < deadline {
        let (code, out, _) = common::ctl(&["--json", "status", "--parents", &parents]);
        if code == 0 {
            let v: serde_json::Value = serde_json::from_str(&out).expect("json");
            let child = v["nodes"].as_array().and_then(|n| n.iter().find(|n| n["hostname"] == "stchild").cloned());
            let live_on_both = child.as_ref().is_some_and(|c| c["cells"][0]["state"] == "live" && c["cells"][1]["state"] == "live");
            if live_on_both && v["in_sync"] == true {
                let c = child.expect("child");
                assert_eq!(c["cells"][0]["hops"], 1, "{out}");
                assert_eq!(c["cells"][1]["hops"], 2, "re-streamed by the first parent: {out}");
                assert_eq!(v["parents"][0]["ours"], true, "{out}");
                assert_eq!(v["nodes"].as_array().map(Vec::len), Some(3), "both parents and the child: {out}");
                ok = true;
                break;
            }
        }
        last = out;
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(ok, "never in sync with the child live on both parents: {last}\n--- p1 log:\n{}\n--- p2 log:\n{}", p1.log(), p2.log());

    let (code, table, err) = common::ctl(&["status", "--parents", &parents]);
    assert_eq!(code, 0, "{err}");
    eprintln!("{table}");
    assert!(table.contains("stchild") && table.contains("in sync"), "{table}");
    let (code, out, err) = common::ctl(&["status", "--parents", &parents, "--wait-synced", "--timeout", "60s"]);
    assert_eq!(code, 0, "{out}{err}");
}

/// `quarantine on --keys --until-synced` on our real daemon: the children key is disabled
/// (the daemon reloads stream.conf), the sibling parent replicates into it, and once
/// `/api/v1/streaming` says every host is done the quarantine lifts itself, restoring
/// stream.conf byte for byte; then the real child is let back in.
#[test]
fn quarantine_keys_until_synced_lifts_itself_on_our_daemon() {
    let Some(bin) = netdatad() else { return };
    let Some(script) = real_netdata() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let (port1, port2) = (free_port(), free_port());
    let mut restored = Daemon::new(&tmp.path().join("restored"), "qrestored", port1, "");
    let mut sibling = Daemon::new(&tmp.path().join("sibling"), "qsibling", port2, "");
    let text = restored.stream_conf(None);
    sibling.stream_conf(Some(port1));
    // The sibling collects alone first, so it has history the restored parent lacks.
    sibling.start(&bin);
    let t0 = std::time::SystemTime::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && t0.elapsed().map_or(true, |e| e < Duration::from_secs(5)) {
        std::thread::sleep(Duration::from_millis(200));
    }
    restored.start(&bin);
    let _child = real_child(&script, tmp.path().join("child"), port1, "qchild");
    // The sibling reaches the restored parent (bounded wait) before the quarantine starts.
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && !netdatactl::streaming::parse_streaming(&restored.streaming()).iter().any(|h| h.hostname == "qsibling") {
        std::thread::sleep(Duration::from_millis(200));
    }

    let (code, out, err) = common::ctl(&[
        "-c",
        &restored.conf(),
        "quarantine",
        "on",
        "--keys",
        "--until-synced",
        "--url",
        &restored.base(),
        "--interval",
        "0.2",
        "--timeout",
        "90s",
    ]);
    assert_eq!(code, 0, "{out}{err}\n--- log:\n{}", restored.log());
    assert!(err.contains("lifting the quarantine"), "{err}");
    assert!(out.contains("quarantine off"), "{out}");
    assert_eq!(std::fs::read_to_string(restored.dir.join("stream.conf")).expect("read"), text, "stream.conf restored byte for byte");
    // The daemon reloads on SIGHUP asynchronously: wait (bounded) for the second reload.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && restored.log().matches("stream.conf reloaded").count() < 2 {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = restored.log();
    assert!(log.matches("stream.conf reloaded").count() >= 2, "the daemon reloaded on and off: {log}");

    // What the daemon said when the CLI lifted it: every host done, the sibling among them.
    let v = restored.streaming();
    let hosts = netdatactl::streaming::parse_streaming(&v);
    assert!(hosts.iter().any(|h| h.hostname == "qsibling"), "{v}");
    assert!(netdatactl::cmd::quarantine::local_synced(&hosts).0, "{v}");

    // With the key enabled again the real child streams to the restored parent.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut live = false;
    while Instant::now() < deadline && !live {
        let hosts = netdatactl::streaming::parse_streaming(&restored.streaming());
        live = hosts.iter().any(|h| h.hostname == "qchild" && h.live == Some(true));
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(live, "the child is let back in after the quarantine: {}", restored.streaming());
}

#[path = "../../daemon/tests/common/relay.rs"]
mod relay;

fn now_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

/// Issue 6: `status` on two parents and a real Netdata child through a link cut shows the
/// child replicating (or its gap being replicated), then in sync; the cut window has no
/// missing second on the first parent; `--wait-synced` exits 0.
#[test]
fn status_through_a_link_cut_shows_replication_then_in_sync() {
    let Some(bin) = netdatad() else { return };
    let Some(script) = real_netdata() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let (port1, port2) = (free_port(), free_port());
    let mut p1 = Daemon::new(&tmp.path().join("p1"), "lcp1", port1, "");
    let mut p2 = Daemon::new(&tmp.path().join("p2"), "lcp2", port2, "");
    p1.stream_conf(Some(port2));
    p2.stream_conf(Some(port1));
    p1.start(&bin);
    p2.start(&bin);
    let link = relay::Relay::start(port1);
    let _child = real_child(&script, tmp.path().join("child"), link.port, "lcchild");
    let parents = format!("{},{}", p1.base(), p2.base());
    let status = || -> Option<serde_json::Value> {
        let (code, out, _) = common::ctl(&["--json", "status", "--parents", &parents]);
        (code == 0).then(|| serde_json::from_str(&out).ok()).flatten()
    };
    let child_cell = |v: &serde_json::Value| -> Option<serde_json::Value> {
        v["nodes"].as_array()?.iter().find(|n| n["hostname"] == "lcchild").map(|c| c["cells"][0].clone())
    };
    let replicated = || -> u64 {
        p1.streaming()["hosts"].as_array().and_then(|h| h.iter().find(|h| h["hostname"] == "lcchild").cloned()).map_or(0, |h| h["replication"]["points_replicated"].as_u64().unwrap_or(0))
    };
    // In sync first.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut synced = false;
    while Instant::now() < deadline && !synced {
        synced = status().is_some_and(|v| v["in_sync"] == true && child_cell(&v).is_some_and(|c| c["state"] == "live"));
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(synced, "never in sync before the cut; p1 log:\n{}", p1.log());
    // Cut the child's link for a minute while it keeps collecting.
    link.cut();
    let cut_at = now_s();
    std::thread::sleep(Duration::from_secs(60));
    let before = replicated();
    link.resume();
    let resumed_at = now_s();
    // Watch: the child is seen replicating, or its replicated point count grows; then in sync.
    let deadline = Instant::now() + Duration::from_secs(150);
    let (mut saw_replicating, mut in_sync_after) = (false, false);
    let mut last = serde_json::Value::Null;
    while Instant::now() < deadline && !(in_sync_after && (saw_replicating || replicated() > before)) {
        if let Some(v) = status() {
            if child_cell(&v).is_some_and(|c| c["state"] == "replicating") {
                saw_replicating = true;
            }
            in_sync_after = v["in_sync"] == true && child_cell(&v).is_some_and(|c| c["state"] == "live");
            last = v;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let grew = replicated() > before;
    assert!(saw_replicating || grew, "no replication seen after the link came back (points {before} -> {}): {last}", replicated());
    assert!(in_sync_after, "not in sync after the link came back: {last}\np1 log:\n{}", p1.log());
    // No missing second of the cut window on the first parent, once replication finished
    // (bounded wait: the status may read "in sync" a moment before the last reply is stored).
    let q = format!("/host/lcchild/api/v1/data?chart=system.cpu&after={}&before={}&format=csv&options=seconds", cut_at + 2, resumed_at - 2);
    let fetch = || http::get(&p1.url(&q), Duration::from_secs(10)).map(|(s, b)| (s, String::from_utf8_lossy(&b).to_string())).unwrap_or((0, String::new()));
    let full = |body: &str| {
        let rows: Vec<&str> = body.lines().skip(1).collect();
        rows.len() >= 50 && rows.iter().all(|l| !l.contains("null"))
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut code, mut body) = fetch();
    while Instant::now() < deadline && !(code == 200 && full(&body)) {
        std::thread::sleep(Duration::from_millis(500));
        (code, body) = fetch();
    }
    assert_eq!(code, 200, "{body}\np1 log:\n{}", p1.log());
    assert!(full(&body), "missing seconds in the cut window:\n{body}");
    let (code, out, err) = common::ctl(&["status", "--parents", &parents, "--wait-synced", "--timeout", "120s"]);
    assert_eq!(code, 0, "{out}{err}");
}
