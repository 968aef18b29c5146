//! `netdatactl keys`: byte-exact edits of stream.conf and the SIGHUP to the running daemon.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{ctl, ParentDir};

const STREAM_CONF: &str = "# stream.conf of a parent\n[stream]\n    enabled = no\n    destination =\n    api key =\n\n[11111111-2222-3333-4444-555555555555]\n    # children of rack 1\n    type = api\n    enabled = yes\n    allow from = 10.*\n    default memory mode = dbengine\n\n[22222222-3333-4444-5555-666666666666]\n\ttype = api\n\tallow from = *\n";

fn parent() -> ParentDir {
    let p = ParentDir::new("");
    std::fs::write(p.path().join("stream.conf"), STREAM_CONF).expect("stream.conf");
    p
}

fn changed_lines(a: &str, b: &str) -> Vec<(String, String)> {
    assert_eq!(a.lines().count(), b.lines().count(), "line count changed:\n{a}\n---\n{b}");
    a.lines().zip(b.lines()).filter(|(x, y)| x != y).map(|(x, y)| (x.to_string(), y.to_string())).collect()
}

#[test]
fn disabling_a_key_changes_exactly_one_line() {
    let p = parent();
    let (code, out, err) = ctl(&["-c", &p.conf(), "keys", "disable", "11111111-2222-3333-4444-555555555555"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("disabled"), "{out}");
    let after = std::fs::read_to_string(p.path().join("stream.conf")).expect("read");
    assert_eq!(changed_lines(STREAM_CONF, &after), vec![("    enabled = yes".to_string(), "    enabled = no".to_string())]);
    // A second time is a no-op, and enabling restores the original bytes.
    let (code, out, _) = ctl(&["-c", &p.conf(), "keys", "disable", "11111111-2222-3333-4444-555555555555"]);
    assert_eq!(code, 0);
    assert!(out.contains("already disabled"), "{out}");
    let (code, _, err) = ctl(&["-c", &p.conf(), "keys", "enable", "11111111-2222-3333-4444-555555555555"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(p.path().join("stream.conf")).expect("read"), STREAM_CONF);
}

#[test]
fn enabling_a_key_without_enabled_line_adds_one_line_in_its_section() {
    let p = parent();
    let (code, _, err) = ctl(&["-c", &p.conf(), "keys", "enable", "22222222-3333-4444-5555-666666666666"]);
    assert_eq!(code, 0, "{err}");
    let after = std::fs::read_to_string(p.path().join("stream.conf")).expect("read");
    assert_eq!(after, format!("{STREAM_CONF}\tenabled = yes\n"));
}

#[test]
fn add_records_role_and_list_shows_it() {
    let p = parent();
    let (code, out, err) = ctl(&["-c", &p.conf(), "keys", "add", "--role", "children", "--allow-from", "10.1.*"]);
    assert_eq!(code, 0, "{err}");
    let key = out.trim().to_string();
    assert!(uuid::Uuid::parse_str(&key).is_ok(), "{out}");
    let after = std::fs::read_to_string(p.path().join("stream.conf")).expect("read");
    assert!(after.starts_with(STREAM_CONF), "existing bytes must be kept");
    assert!(after.contains(&format!("# netdatactl role: children\n[{key}]\n")), "{after}");
    let (code, out, err) = ctl(&["-c", &p.conf(), "--json", "keys", "list", "--url", "http://127.0.0.1:1"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let keys = v.as_array().expect("array");
    assert_eq!(keys.len(), 3);
    let new = keys.iter().find(|k| k["key"] == key.as_str()).expect("new key listed");
    assert_eq!(new["role"], "children");
    assert_eq!(new["allow_from"], "10.1.*");
    assert_eq!(new["enabled"], true);
    let second = keys.iter().find(|k| k["key"] == "22222222-3333-4444-5555-666666666666").expect("listed");
    assert_eq!(second["enabled"], false, "API keys default to disabled, as in Netdata");
    assert!(second["live_streams"].is_null(), "no daemon: live streams unknown");
    let (code, out, _) = ctl(&["-c", &p.conf(), "keys", "list", "--url", "http://127.0.0.1:1"]);
    assert_eq!(code, 0);
    assert!(out.contains("children") && out.contains("LIVE STREAMS"), "{out}");
}

#[test]
fn list_counts_live_streams_from_the_daemon() {
    let p = parent();
    let srv = common::FakeServer::start(|path, _| {
        if path.starts_with("/api/v1/streaming") {
            (200, br#"{"hosts":[{"hostname":"a","live":true,"api_key":"11111111-2222-3333-4444-555555555555"},
                                {"hostname":"b","live":true,"api_key":"11111111-2222-3333-4444-555555555555"},
                                {"hostname":"c","live":false,"api_key":"11111111-2222-3333-4444-555555555555"}]}"#.to_vec())
        } else {
            (404, b"no".to_vec())
        }
    });
    let (code, out, err) = ctl(&["-c", &p.conf(), "--json", "keys", "list", "--url", &srv.url()]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v[0]["live_streams"], 2);
    assert_eq!(v[1]["live_streams"], 0);
}

#[test]
fn bad_inputs_give_clear_messages_and_exit_codes() {
    let p = parent();
    let (code, _, err) = ctl(&["-c", &p.conf(), "keys", "disable", "99999999-2222-3333-4444-555555555555"]);
    assert_eq!(code, 4, "unknown key: {err}");
    assert!(err.contains("no such key") && err.contains("stream.conf"), "{err}");
    let (code, _, err) = ctl(&["-c", &p.conf(), "keys", "disable", "not-a-key"]);
    assert_eq!(code, 2, "{err}");
    let empty = ParentDir::new("");
    let (code, _, err) = ctl(&["-c", &empty.conf(), "keys", "list"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("stream.conf"), "{err}");
    let (code, _, _) = ctl(&["keys", "frobnicate"]);
    assert_eq!(code, 2);
}

#[test]
fn helper_process() {
    common::helper_main();
}

#[test]
fn disable_sends_sighup_to_the_daemon_holding_the_pid_file() {
    let p = parent();
    let pidfile = p.path().join("cache").join("netdatad.pid");
    // A stand-in daemon: locks the pid file like netdatad and writes its pid; it exits with
    // HELPER_GOT_SIGHUP when SIGHUP arrives.
    let mut child = common::helper(&[], &format!("lock:{}", pidfile.display()));
    assert_eq!(netdatactl::daemon::running_pid(&p.path().join("cache")).expect("pid"), Some(child.id()));
    let (code, _, err) = ctl(&["-c", &p.conf(), "keys", "disable", "11111111-2222-3333-4444-555555555555"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("pid {}", child.id())), "{err}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut status = None;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(s)) = child.try_wait() {
            status = Some(s);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status.and_then(|s| s.code()), Some(common::HELPER_GOT_SIGHUP), "the holder of the pid file got SIGHUP: {status:?}");
    // Once the holder is gone, the stale file names no daemon.
    assert_eq!(netdatactl::daemon::running_pid(&p.path().join("cache")).expect("pid"), None);
}

#[test]
fn broken_pipe_exits_quietly() {
    let p = ParentDir::new("");
    let mut text = String::new();
    for i in 0..4000u32 {
        text.push_str(&format!("[{i:08x}-2222-3333-4444-555555555555]\n\ttype = api\n\tenabled = yes\n"));
    }
    std::fs::write(p.path().join("stream.conf"), text).expect("write");
    let mut child = Command::new(common::BIN)
        .args(["-c", &p.conf(), "keys", "list", "--url", "http://127.0.0.1:1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take()); // the reader goes away, as with `| head -1`
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.is_empty(), "no noise on a broken pipe: {err}");
}
