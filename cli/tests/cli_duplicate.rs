//! `netdatactl duplicate` end to end: local and HTTP sources, skip / append / delta, identity
//! excluded, retention preflight and --fix-config, the destination lock, bad inputs.

mod common;

use std::path::Path;

use common::{ctl, FakeServer, ParentDir};

/// Deterministic pseudo-random bytes.
fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

fn write(p: &Path, data: &[u8]) {
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, data).expect("write");
}

/// A source cache directory: two tiers, metadata, identity files that must not be copied.
fn source() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    let p = d.path();
    write(&p.join("dbengine/tier0/datafile-000001.ndf"), &bytes(1, 1 << 20));
    write(&p.join("dbengine/tier0/datafile-000002.ndf"), &bytes(2, 300_000));
    write(&p.join("dbengine/tier1/datafile-000001.ndf"), &bytes(3, 200_000));
    write(&p.join("metadata/hosts.db"), &bytes(4, 400_000));
    write(&p.join("registry/netdata.public.unique.id"), b"11111111-2222-3333-4444-555555555555");
    write(&p.join("netdatad.pid"), b"12345\n");
    d
}

fn report(args: &[&str]) -> serde_json::Value {
    let (code, out, err) = ctl(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn same(a: &Path, b: &Path, rel: &str) {
    assert_eq!(std::fs::read(a.join(rel)).expect("src"), std::fs::read(b.join(rel)).expect("dst"), "{rel} differs");
}

#[test]
fn local_duplicate_copies_then_moves_only_what_changed() {
    let src = source();
    let dst = ParentDir::new("");
    let to = dst.path().join("newcache");
    let (s, t) = (src.path().to_str().expect("utf8"), to.to_str().expect("utf8"));
    let conf = dst.conf();
    let args = ["-c", &conf, "--json", "duplicate", "--from", s, "--to", t];

    let r = report(&args);
    assert_eq!(r["copied"], 4, "{r}");
    let total = (1u64 << 20) + 300_000 + 200_000 + 400_000;
    assert_eq!(r["bytes_transferred"], total);
    for rel in ["dbengine/tier0/datafile-000001.ndf", "dbengine/tier0/datafile-000002.ndf", "dbengine/tier1/datafile-000001.ndf", "metadata/hosts.db"] {
        same(src.path(), &to, rel);
    }
    assert!(!to.join("registry/netdata.public.unique.id").exists(), "identity must never be copied");
    assert!(!to.join("netdatad.pid").exists(), "the pid/lock file must never be copied");
    assert_eq!(r["tiers"].as_array().expect("tiers").len(), 2);

    // Nothing changed: nothing moves.
    let r = report(&args);
    assert_eq!((r["skipped"].as_u64(), r["bytes_transferred"].as_u64()), (Some(4), Some(0)), "{r}");

    // An append-only file grew: only its tail moves. A rewritten file: only a delta moves.
    let mut grown = std::fs::read(src.path().join("dbengine/tier0/datafile-000002.ndf")).expect("read");
    grown.extend_from_slice(&bytes(9, 10_000));
    write(&src.path().join("dbengine/tier0/datafile-000002.ndf"), &grown);
    let mut meta = std::fs::read(src.path().join("metadata/hosts.db")).expect("read");
    meta[200_000..200_100].copy_from_slice(&[7u8; 100]);
    write(&src.path().join("metadata/hosts.db"), &meta);
    let r = report(&args);
    assert_eq!((r["appended"].as_u64(), r["delta"].as_u64(), r["skipped"].as_u64()), (Some(1), Some(1), Some(2)), "{r}");
    let moved = r["bytes_transferred"].as_u64().expect("bytes");
    assert!((10_000..60_000).contains(&moved), "tail + a small delta, moved {moved}");
    same(src.path(), &to, "dbengine/tier0/datafile-000002.ndf");
    same(src.path(), &to, "metadata/hosts.db");

    // Retention deleted a file at the source: the copy mirrors it; unrelated files stay.
    std::fs::remove_file(src.path().join("dbengine/tier1/datafile-000001.ndf")).expect("rm");
    write(&to.join("unrelated/notes.txt"), b"mine");
    let r = report(&args);
    assert_eq!(r["deleted"], serde_json::json!(["dbengine/tier1/datafile-000001.ndf"]), "{r}");
    assert!(!to.join("dbengine/tier1/datafile-000001.ndf").exists());
    assert!(to.join("unrelated/notes.txt").exists(), "only directories the source has are mirrored");
}

#[test]
fn interrupted_append_resumes() {
    let src = source();
    let dst = ParentDir::new("");
    let to = dst.path().join("c");
    let (s, t, conf) = (src.path().to_str().expect("utf8").to_string(), to.to_str().expect("utf8").to_string(), dst.conf());
    report(&["-c", &conf, "--json", "duplicate", "--from", &s, "--to", &t]);
    // As if a run was cut half-way through appending: a shorter prefix and a stale part file.
    let f = to.join("dbengine/tier0/datafile-000001.ndf");
    let full = std::fs::read(&f).expect("read");
    std::fs::write(&f, &full[..full.len() / 2]).expect("truncate");
    std::fs::write(to.join("dbengine/tier1/.datafile-000001.ndf.netdatactl-part"), b"junk").expect("part");
    let r = report(&["-c", &conf, "--json", "duplicate", "--from", &s, "--to", &t]);
    assert_eq!(r["appended"], 1, "{r}");
    assert_eq!(r["bytes_transferred"].as_u64(), Some((full.len() - full.len() / 2) as u64));
    same(src.path(), &to, "dbengine/tier0/datafile-000001.ndf");
    assert!(!to.join("dbengine/tier1/.datafile-000001.ndf.netdatactl-part").exists(), "stale part files are removed");
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let src = source();
    let dst = ParentDir::new("");
    let to = dst.path().join("c");
    let (code, out, err) =
        ctl(&["-c", &dst.conf(), "duplicate", "--from", src.path().to_str().expect("utf8"), "--to", to.to_str().expect("utf8"), "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dbengine/tier0/datafile-000001.ndf") && out.contains("4 to copy"), "{out}");
    assert!(!to.exists());
}

#[test]
fn preflight_refuses_small_destination_and_fix_config_makes_it_pass() {
    let src = source();
    let extra = "\n[db]\n    # keep tier 0 small\n    dbengine tier 0 retention size = 1MiB\n    dbengine tier 1 retention time = 1d\n";
    let dst = ParentDir::new(extra);
    let before = std::fs::read_to_string(dst.conf()).expect("conf");
    let to = dst.path().join("c");
    let (s, t) = (src.path().to_str().expect("utf8"), to.to_str().expect("utf8"));
    let (code, _, err) = ctl(&["-c", &dst.conf(), "duplicate", "--from", s, "--to", t]);
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("dbengine tier 0 retention size = 2MiB"), "the fix is shown: {err}");
    assert!(err.contains("NO"), "the tier table is shown: {err}");
    assert!(!to.exists(), "nothing copied before the preflight passes");

    let (code, _, err) = ctl(&["-c", &dst.conf(), "duplicate", "--from", s, "--to", t, "--fix-config"]);
    assert_eq!(code, 0, "{err}");
    let after = std::fs::read_to_string(dst.conf()).expect("conf");
    let changed: Vec<(&str, &str)> = before.lines().zip(after.lines()).filter(|(a, b)| a != b).collect();
    assert_eq!(changed, vec![("    dbengine tier 0 retention size = 1MiB", "    dbengine tier 0 retention size = 2MiB")]);
    assert_eq!(before.lines().count(), after.lines().count());
    same(src.path(), &to, "dbengine/tier0/datafile-000001.ndf");
}

#[test]
fn preflight_enables_missing_tiers() {
    let src = source();
    let dst = ParentDir::new("[db]\n\tstorage tiers = 1\n");
    let to = dst.path().join("c");
    let (code, _, err) = ctl(&["-c", &dst.conf(), "duplicate", "--from", src.path().to_str().expect("utf8"), "--to", to.to_str().expect("utf8")]);
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("storage tiers = 2"), "{err}");
}

#[test]
fn helper_process() {
    common::helper_main();
}

#[test]
fn refuses_a_destination_in_use_and_bad_inputs() {
    let src = source();
    let dst = ParentDir::new("");
    let to = dst.path().join("cache");
    let pidfile = to.join("netdatad.pid");
    std::fs::create_dir_all(&to).expect("mkdir");
    let mut child = common::helper(&[], &format!("lock:{}", pidfile.display()));
    let (code, _, err) = ctl(&["-c", &dst.conf(), "duplicate", "--from", src.path().to_str().expect("utf8"), "--to", to.to_str().expect("utf8")]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code, 7, "{err}");
    assert!(err.contains("is running on the destination"), "{err}");

    let (code, _, err) = ctl(&["-c", &dst.conf(), "duplicate", "--from", "/nonexistent/cache", "--to", to.to_str().expect("utf8")]);
    assert_eq!(code, 4, "{err}");
    let (code, _, err) = ctl(&["-c", &dst.conf(), "duplicate", "--from", "http://127.0.0.1:1", "--to", to.to_str().expect("utf8")]);
    assert_eq!(code, 2, "no key: {err}");
    let (code, _, err) = ctl(&["-c", &dst.conf(), "duplicate", "--from", "http://127.0.0.1:1", "--key", "k", "--to", to.to_str().expect("utf8")]);
    assert_eq!(code, 5, "unreachable: {err}");
}

/// A stand-in for the daemon's snapshot endpoints, serving `root` with the crate's own helpers.
fn snapshot_server(root: std::path::PathBuf, key: &'static str) -> FakeServer {
    FakeServer::start_with_body(move |path, _, body| {
        let (p, q) = path.split_once('?').unwrap_or((path, ""));
        let params: std::collections::HashMap<String, String> = q
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.replace("%2F", "/").replace("%2f", "/")))
            .collect();
        if params.get("key").map(String::as_str) != Some(key) {
            return (403, b"bad key".to_vec());
        }
        let file = |params: &std::collections::HashMap<String, String>| std::fs::read(root.join(params.get("path").cloned().unwrap_or_default()));
        match p {
            "/api/v1/cluster/snapshot" => {
                let mut m = netdatactl::snapshot::scan_dir(&root, true).expect("scan");
                m.snapshot = "s1".into();
                m.guid = Some("11111111-2222-3333-4444-555555555555".into());
                (200, serde_json::to_vec(&m).expect("json"))
            }
            "/api/v1/cluster/file" => match file(&params) {
                Ok(d) => {
                    let off: usize = params.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
                    (200, d[off.min(d.len())..].to_vec())
                }
                Err(_) => (404, Vec::new()),
            },
            "/api/v1/cluster/hash" => match file(&params) {
                Ok(d) => {
                    let n: usize = params.get("length").and_then(|o| o.parse().ok()).unwrap_or(0);
                    let h = blake3::hash(&d[..n.min(d.len())]).to_hex().to_string();
                    (200, format!("{{\"blake3\":\"{h}\"}}").into_bytes())
                }
                Err(_) => (404, Vec::new()),
            },
            "/api/v1/cluster/delta" => match file(&params) {
                Ok(d) => match netdatactl::snapshot::delta_for(&d, body) {
                    Ok(delta) => (200, delta),
                    Err(e) => (400, e.to_string().into_bytes()),
                },
                Err(_) => (404, Vec::new()),
            },
            _ => (404, Vec::new()),
        }
    })
}

#[test]
fn http_source_copies_and_then_fetches_only_tails() {
    let src = source();
    let srv = snapshot_server(src.path().to_path_buf(), "sekrit");
    let dst = ParentDir::new("");
    let to = dst.path().join("c");
    let (t, conf, url) = (to.to_str().expect("utf8").to_string(), dst.conf(), srv.url());
    let (code, _, err) = ctl(&["-c", &conf, "duplicate", "--from", &url, "--key", "wrong", "--to", &t]);
    assert_eq!(code, 6, "wrong key: {err}");
    let r = report(&["-c", &conf, "--json", "duplicate", "--from", &url, "--key", "sekrit", "--to", &t]);
    assert_eq!(r["copied"], 4, "{r}");
    same(src.path(), &to, "dbengine/tier0/datafile-000001.ndf");
    same(src.path(), &to, "metadata/hosts.db");
    assert!(!to.join("registry/netdata.public.unique.id").exists());

    let mut grown = std::fs::read(src.path().join("dbengine/tier1/datafile-000001.ndf")).expect("read");
    grown.extend_from_slice(&bytes(5, 4096));
    write(&src.path().join("dbengine/tier1/datafile-000001.ndf"), &grown);
    let r = report(&["-c", &conf, "--json", "duplicate", "--from", &url, "--key", "sekrit", "--to", &t]);
    assert_eq!((r["appended"].as_u64(), r["bytes_transferred"].as_u64()), (Some(1), Some(4096)), "{r}");
    same(src.path(), &to, "dbengine/tier1/datafile-000001.ndf");

    // A file rewritten in the middle: only an rsync delta crosses the network.
    let mut meta = std::fs::read(src.path().join("metadata/hosts.db")).expect("read");
    meta[100_000..100_050].copy_from_slice(&[1u8; 50]);
    write(&src.path().join("metadata/hosts.db"), &meta);
    let r = report(&["-c", &conf, "--json", "duplicate", "--from", &url, "--key", "sekrit", "--to", &t]);
    assert_eq!(r["delta"], 1, "{r}");
    let moved = r["bytes_transferred"].as_u64().expect("bytes");
    assert!(moved > 0 && moved < 40_000, "a small delta, moved {moved}");
    same(src.path(), &to, "metadata/hosts.db");
}

#[test]
fn warns_when_the_destination_would_share_the_source_guid() {
    let src = source();
    let srv = snapshot_server(src.path().to_path_buf(), "k");
    let dst = ParentDir::new("");
    write(&dst.path().join("lib/registry/netdata.public.unique.id"), b"11111111-2222-3333-4444-555555555555\n");
    let to = dst.path().join("c");
    let (code, _, err) = ctl(&["-c", &dst.conf(), "duplicate", "--from", &srv.url(), "--key", "k", "--to", to.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("machine GUID") && err.contains("is the source's"), "{err}");
}
