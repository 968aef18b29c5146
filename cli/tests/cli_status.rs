//! `netdatactl status` and `quarantine --until-synced` against fake parents on 127.0.0.1:0.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{ctl, FakeServer, ParentDir};

const INFO_OURS: &str = r#"{"version":"v0.1.0","uid":"p1","mirrored_hosts":["p1host","c1"],
 "mirrored_hosts_status":[{"guid":"p1","hostname":"p1host","reachable":true,"hops":0},
                          {"guid":"g-c1","hostname":"c1","reachable":true,"hops":1}]}"#;
const INFO_REAL: &str = r#"{"version":"v1.37.1","uid":"p2","mirrored_hosts":["p2host","c1","p1host"],
 "mirrored_hosts_status":[{"guid":"p2","hostname":"p2host","reachable":true,"hops":0,"claim_id":null},
                          {"guid":"g-c1","hostname":"c1","reachable":true,"hops":2,"claim_id":null},
                          {"guid":"p1","hostname":"p1host","reachable":true,"hops":1,"claim_id":null}]}"#;

fn streaming(c1_status: &str) -> String {
    format!(
        r#"{{"hosts":[{{"hostname":"p1host","guid":"p1","live":true,"hops":0,"replication":{{"status":"done"}}}},
        {{"hostname":"c1","guid":"g-c1","live":true,"hops":1,"api_key":"k","replication":{{"status":"{c1_status}","percent":40,"eta_seconds":90,"missing_seconds":600}},
          "tiers":[{{"tier":0,"first_time":100,"last_time":200}}]}},
        {{"hostname":"p2host","guid":"p2","live":true,"hops":1,"replication":{{"status":"done"}}}}]}}"#
    )
}

/// Our parent: replicating c1 for the first `replicating_for` streaming requests.
fn ours(replicating_for: usize) -> FakeServer {
    let n = Arc::new(AtomicUsize::new(0));
    FakeServer::start(move |path, _| {
        if path.starts_with("/api/v1/info") {
            (200, INFO_OURS.replace("\"mirrored_hosts\":[\"p1host\",\"c1\"]", "\"mirrored_hosts\":[\"p1host\",\"c1\",\"p2host\"]").into_bytes())
        } else if path.starts_with("/api/v1/streaming") {
            let i = n.fetch_add(1, Ordering::SeqCst);
            (200, streaming(if i < replicating_for { "in_progress" } else { "done" }).into_bytes())
        } else {
            (404, b"not found".to_vec())
        }
    })
}

fn real() -> FakeServer {
    FakeServer::start(|path, _| {
        if path.starts_with("/api/v1/info") {
            (200, INFO_REAL.as_bytes().to_vec())
        } else {
            (404, b"not found".to_vec())
        }
    })
}

#[test]
fn status_table_shows_replicating_node_and_real_netdata_parent() {
    let (a, b) = (ours(usize::MAX), real());
    let parents = format!("{},{}", a.url(), b.url());
    let (code, out, err) = ctl(&["status", "--parents", &parents]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("replicating 40% ETA 1m30s gap 10m0s h1"), "{out}");
    assert!(out.contains("netdata v1.37.1"), "real parent shown with its version: {out}");
    assert!(out.contains("(netdatad)"), "{out}");
    assert!(out.contains("live h2"), "{out}");
    assert!(out.contains("RETENTION") && out.contains("t0 1m40s"), "tier retention shown: {out}");
    assert!(out.contains("not in sync") && out.contains("1 replicating"), "{out}");

    let (code, out, _) = ctl(&["--json", "status", "--parents", &parents]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["in_sync"], false);
    let c1 = v["nodes"].as_array().expect("nodes").iter().find(|n| n["hostname"] == "c1").expect("c1");
    assert_eq!(c1["cells"][0]["state"], "replicating");
    assert_eq!(c1["cells"][1]["state"], "live");
    assert_eq!(c1["tiers"][0]["last_time"], 200);
}

#[test]
fn status_reports_missing_nodes() {
    let b = real();
    let only_ours = FakeServer::start(|path, _| {
        if path.starts_with("/api/v1/info") {
            (200, INFO_OURS.as_bytes().to_vec())
        } else {
            (404, Vec::new())
        }
    });
    let (code, out, _) = ctl(&["status", "--parents", &format!("{},{}", only_ours.url(), b.url())]);
    assert_eq!(code, 0);
    assert!(out.contains("MISSING"), "{out}");
    assert!(out.contains("node copies missing"), "{out}");
}

#[test]
fn wait_synced_exits_zero_once_replication_is_done() {
    let (a, b) = (ours(2), real());
    let parents = format!("{},{}", a.url(), b.url());
    let (code, out, err) = ctl(&["status", "--parents", &parents, "--wait-synced", "--interval", "0.05", "--timeout", "60s"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("in sync: 3 nodes on 2 parents"), "{out}");
}

#[test]
fn wait_synced_times_out_with_exit_8() {
    let (a, b) = (ours(usize::MAX), real());
    let parents = format!("{},{}", a.url(), b.url());
    let (code, _, err) = ctl(&["status", "--parents", &parents, "--wait-synced", "--interval", "0.05", "--timeout", "0.3s"]);
    assert_eq!(code, 8, "{err}");
    assert!(err.contains("timed out"), "{err}");
}

#[test]
fn unreachable_parents_exit_5_and_bad_urls_exit_2() {
    let (code, _, err) = ctl(&["status", "--parents", "http://127.0.0.1:1"]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("no parent answered"), "{err}");
    let (code, _, err) = ctl(&["status", "--parents", "https://127.0.0.1:1"]);
    assert_eq!(code, 2, "{err}");
    let garbage = FakeServer::start(|_, _| (200, b"<html>not json</html>".to_vec()));
    let (code, out, _) = ctl(&["status", "--parents", &garbage.url()]);
    assert_eq!(code, 5);
    assert!(out.contains("not JSON"), "{out}");
}

#[test]
fn status_defaults_to_this_parent_and_its_stream_destinations() {
    let (a, b) = (ours(0), real());
    let p = ParentDir::new(&format!("[web]\n\tbind to = {}\n", a.addr));
    std::fs::write(p.path().join("stream.conf"), format!("[stream]\n\tenabled = yes\n\tdestination = tcp:{} \n", b.addr)).expect("write");
    let (code, out, err) = ctl(&["-c", &p.conf(), "--json", "status"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["parents"].as_array().expect("parents").len(), 2);
    assert_eq!(v["in_sync"], true, "{out}");
}

#[test]
fn quarantine_by_keys_until_synced_restores_stream_conf() {
    let a = ours(3);
    let p = ParentDir::new("");
    let text = "[stream]\n\tenabled = no\n\n# netdatactl role: children\n[11111111-2222-3333-4444-555555555555]\n\ttype = api\n\tenabled = yes\n\n# netdatactl role: parents\n[22222222-2222-3333-4444-555555555555]\n\ttype = api\n\tenabled = yes\n";
    let sc = p.path().join("stream.conf");
    std::fs::write(&sc, text).expect("write");
    // --print shows what would change and changes nothing.
    let (code, out, _) = ctl(&["-c", &p.conf(), "quarantine", "on", "--keys", "--print"]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), "netdatactl keys disable 11111111-2222-3333-4444-555555555555");
    assert_eq!(std::fs::read_to_string(&sc).expect("read"), text);
    let (code, out, err) =
        ctl(&["-c", &p.conf(), "quarantine", "on", "--keys", "--until-synced", "--url", &a.url(), "--interval", "0.05", "--timeout", "60s"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("waiting: replicating: c1 (40%)"), "{err}");
    assert!(err.contains("lifting the quarantine"), "{err}");
    assert!(out.contains("quarantine off"), "{out}");
    assert_eq!(std::fs::read_to_string(&sc).expect("read"), text, "off must restore stream.conf byte for byte");
}

#[test]
fn quarantine_keys_stays_on_at_timeout_then_off_restores() {
    let a = ours(usize::MAX);
    let p = ParentDir::new("");
    let text = "# netdatactl role: children\n[11111111-2222-3333-4444-555555555555]\n\tenabled = yes\n";
    let sc = p.path().join("stream.conf");
    std::fs::write(&sc, text).expect("write");
    let (code, _, err) = ctl(&["-c", &p.conf(), "quarantine", "on", "--keys", "--until-synced", "--url", &a.url(), "--interval", "0.05", "--timeout", "0.3s"]);
    assert_eq!(code, 8, "{err}");
    assert!(std::fs::read_to_string(&sc).expect("read").contains("enabled = no"));
    let (code, out, _) = ctl(&["-c", &p.conf(), "quarantine", "show"]);
    assert_eq!(code, 0);
    assert!(out.contains("keys disabled: 11111111"), "{out}");
    let (code, _, err) = ctl(&["-c", &p.conf(), "quarantine", "off"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(&sc).expect("read"), text);
}

#[test]
fn quarantine_without_root_or_parents_fails_clearly() {
    let p = ParentDir::new("");
    let (code, _, err) = ctl(&["-c", &p.conf(), "quarantine", "on"]);
    assert_eq!(code, 2, "--parents is required without --keys: {err}");
    let (code, _, err) = ctl(&["-c", &p.conf(), "quarantine", "on", "--keys"]);
    assert_eq!(code, 3, "no stream.conf: {err}");
}
