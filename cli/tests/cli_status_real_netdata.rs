//! `netdatactl status` against real Netdata 1.37.1 agents (Debian's package, started with
//! shared/real-netdata/netdata-real): a parent and a child streaming to it. Skips loudly when
//! Netdata is not installed; fails instead when `CI` is set.

mod common;

use std::time::{Duration, Instant};

use common::peers::{free_port, real_netdata, RealAgent};

#[test]
fn status_shows_a_real_netdata_parent_and_its_child() {
    let Some(script) = real_netdata() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let (pport, cport) = (free_port(), free_port());
    let key = "5a1d5c3e-1111-2222-3333-444455556666";
    let _parent = RealAgent::start(&script, "parent", tmp.path().join("p"), &[&pport.to_string(), key]);
    let _child =
        RealAgent::start(&script, "child", tmp.path().join("c"), &[&cport.to_string(), &format!("tcp:127.0.0.1:{pport}"), key, "--hostname", "ctlchild"]);
    let url = format!("http://127.0.0.1:{pport}");
    // Poll (bounded) until the parent lists the child as live.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = String::new();
    while Instant::now() < deadline {
        let (code, out, _) = common::ctl(&["--json", "status", "--parents", &url]);
        if code == 0 {
            let v: serde_json::Value = serde_json::from_str(&out).expect("json");
            let child = v["nodes"].as_array().and_then(|n| n.iter().find(|n| n["hostname"] == "ctlchild").cloned());
            if let Some(c) = child {
                if c["cells"][0]["state"] == "live" {
                    assert_eq!(c["cells"][0]["hops"], 1, "{out}");
                    assert_eq!(v["parents"][0]["ours"], false, "a real Netdata has no /api/v1/streaming");
                    assert!(v["parents"][0]["version"].as_str().unwrap_or("").contains("1.37"), "{out}");
                    let (code, table, _) = common::ctl(&["status", "--parents", &url]);
                    assert_eq!(code, 0);
                    assert!(table.contains("netdata v1.37") && table.contains("ctlchild") && table.contains("live h1"), "{table}");
                    return;
                }
            }
        }
        last = out;
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("the real child never showed as live on the real parent: {last}");
}
