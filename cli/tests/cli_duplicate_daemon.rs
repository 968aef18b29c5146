//! `duplicate` against our real daemon: a parent collects, stops, is copied; a new parent
//! started on the copy serves the same data under its own machine GUID; a second run moves
//! only what changed. Uses the `netdatad` binary built beside `netdatactl` (`cargo test
//! --workspace` builds it); skips loudly when it is missing, fails instead when `CI` is set.

mod common;

use common::peers::{free_port, netdatad, now, Daemon};

/// The collecting parent's hostname: its data keeps it in the copy.
const HOST: &str = "dupsrc";

fn load(p: &Daemon, after: i64, before: i64) -> String {
    p.csv(HOST, "system.load", after, before)
}

#[test]
fn new_parent_on_the_copy_serves_the_same_data_with_its_own_guid() {
    let Some(bin) = netdatad() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut src = Daemon::new(&tmp.path().join("src"), "dupsrc", free_port(), "");
    let mut dst = Daemon::new(&tmp.path().join("dst"), "dupdst", free_port(), "");
    src.start(&bin);
    // Let it collect a few points (bounded poll, no fixed sleep).
    let started = now();
    src.wait_rows(HOST, "system.load", started, 3);
    let (after, before) = (started, now() - 1);
    let src_uid = src.uid();
    src.stop();
    let original = {
        // What the source serves for that window, after a clean restart.
        src.start(&bin);
        let d = load(&src, after, before);
        src.stop();
        d
    };
    assert!(original.lines().count() >= 3, "the source has data: {original}");

    let from = src.dir.join("cache").display().to_string();
    let to = dst.dir.join("cache").display().to_string();
    let (code, out, err) = common::ctl(&["-c", &dst.conf(), "--json", "duplicate", "--from", &from, "--to", &to]);
    assert_eq!(code, 0, "{err}");
    let first: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(first["copied"].as_u64().unwrap_or(0) > 0, "{first}");

    dst.start(&bin);
    assert_eq!(load(&dst, after, before), original, "the copy serves the same values");
    assert_ne!(dst.uid(), src_uid, "the copy has its own machine GUID");
    // The destination is in use now: a duplicate into it is refused.
    let (code, _, err) = common::ctl(&["-c", &dst.conf(), "duplicate", "--from", &from, "--to", &to]);
    assert_eq!(code, 7, "{err}");
    dst.stop();

    // The source collects a little more; the second run moves only part of it.
    src.start(&bin);
    let t = now();
    src.wait_rows(HOST, "system.load", t, 2);
    src.stop();
    let (code, out, err) = common::ctl(&["-c", &dst.conf(), "--json", "duplicate", "--from", &from, "--to", &to]);
    assert_eq!(code, 0, "{err}");
    let second: serde_json::Value = serde_json::from_str(&out).expect("json");
    let (moved, total) = (second["bytes_transferred"].as_u64().expect("moved"), second["bytes_total"].as_u64().expect("total"));
    eprintln!("second run moved {moved} of {total} bytes");
    assert!(moved < total, "second run moved {moved} of {total} bytes: {second}");

    // The refreshed copy serves the new points too, the same as the source.
    let window = (t, now() - 1);
    src.start(&bin);
    let fresh = load(&src, window.0, window.1);
    src.stop();
    dst.start(&bin);
    assert_eq!(load(&dst, window.0, window.1), fresh, "after the second run");
    assert_eq!(load(&dst, after, before), original, "and the old window still matches");
    dst.stop();
}
