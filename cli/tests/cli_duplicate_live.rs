//! `duplicate --from http://127.0.0.1:PORT` from a RUNNING, ingesting `netdatad` (its
//! `/api/v1/cluster/*` snapshot endpoints): a new parent started on the copy serves the same
//! data for a past window and has its own machine GUID; a second run moves only the delta.
//! Uses the `netdatad` binary built beside `netdatactl`; skips loudly when it is missing,
//! fails instead when `CI` is set.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::peers::{free_port, netdatad, now, Daemon};
use netdatactl::http;

const KEY: &str = "6c1f0b9e-5d2a-4e7b-9a43-1f0e2d3c4b5a";

/// The running source's hostname: its data keeps it in the copy.
const HOST: &str = "livesrc";
const CHART: &str = "system.load";

fn duplicate(dst: &Daemon, from: &str, key: &str) -> (i32, serde_json::Value, String, Duration) {
    let to = dst.dir.join("cache").display().to_string();
    let t = Instant::now();
    let (code, out, err) = common::ctl(&["-c", &dst.conf(), "--json", "duplicate", "--from", from, "--key", key, "--to", &to]);
    let took = t.elapsed();
    (code, serde_json::from_str(&out).unwrap_or(serde_json::Value::Null), err, took)
}

#[test]
fn snapshot_endpoints_are_off_without_a_key_and_refuse_a_wrong_one() {
    let Some(bin) = netdatad() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut off = Daemon::new(&tmp.path().join("off"), "livesrc", free_port(), "");
    let mut on = Daemon::new(&tmp.path().join("on"), "livesrc", free_port(), &format!("[cluster]\n\tsnapshot key = {KEY}\n"));
    let dst = Daemon::new(&tmp.path().join("dst"), "livedst", free_port(), "");
    off.start(&bin);
    on.start(&bin);
    let status = |p: &Daemon, q: &str| http::get(&p.url(q), Duration::from_secs(10)).expect("get").0;
    assert_eq!(status(&off, &format!("/api/v1/cluster/snapshot?key={KEY}")), 404);
    assert_eq!(status(&on, "/api/v1/cluster/snapshot?key=wrong-key-wrong-key"), 403);
    assert_eq!(status(&on, "/api/v1/cluster/snapshot"), 403);
    assert_eq!(status(&on, &format!("/api/v1/cluster/file?key={KEY}&snapshot=nope&path=dbengine/metadata.ndm&offset=0")), 410);
    // A snapshot never lists identity, pid or lock files; an unknown path is 404, a bad offset 416.
    let m = http::get_json(&on.url(&format!("/api/v1/cluster/snapshot?key={KEY}")), Duration::from_secs(30)).expect("manifest");
    let files: Vec<&str> = m["files"].as_array().expect("files").iter().filter_map(|f| f["path"].as_str()).collect();
    assert!(files.contains(&"dbengine/metadata.ndm"), "{files:?}");
    assert!(!files.iter().any(|f| f.ends_with("netdatad.pid") || f.ends_with("LOCK") || f.ends_with("unique.id")), "{files:?}");
    let snap = m["snapshot"].as_str().expect("id");
    assert_eq!(status(&on, &format!("/api/v1/cluster/file?key={KEY}&snapshot={snap}&path=netdatad.pid&offset=0")), 404);
    assert_eq!(status(&on, &format!("/api/v1/cluster/file?key={KEY}&snapshot={snap}&path=dbengine/metadata.ndm&offset=999999999")), 416);
    assert_eq!(status(&on, &format!("/api/v1/cluster/file?key={KEY}&snapshot={snap}&path=../etc/passwd&offset=0")), 400);

    // The CLI's messages and exit codes.
    let (code, _, err, _) = duplicate(&dst, &off.base(), KEY);
    assert_eq!(code, 5, "not configured is 'unreachable': {err}");
    assert!(err.contains("no snapshot endpoint"), "{err}");
    let (code, _, err, _) = duplicate(&dst, &on.base(), "wrong-key-wrong-key");
    assert_eq!(code, 6, "a wrong key is a permission error: {err}");
    assert!(err.contains("refused the snapshot key"), "{err}");
    off.stop();
    on.stop();
}

#[test]
fn duplicate_from_a_running_ingesting_parent() {
    let Some(bin) = netdatad() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut src = Daemon::new(&tmp.path().join("src"), "livesrc", free_port(), &format!("[cluster]\n\tsnapshot key = {KEY}\n"));
    let mut dst = Daemon::new(&tmp.path().join("dst"), "livedst", free_port(), "");
    src.start(&bin);
    let started = now();
    src.wait_rows(HOST, CHART, started, 4);
    let src_uid = src.uid();

    // First copy, while the source keeps collecting.
    let (after, before) = (started, now() - 1);
    let (code, first, err, took1) = duplicate(&dst, &src.base(), KEY);
    assert_eq!(code, 0, "{err}");
    let moved1 = first["bytes_transferred"].as_u64().expect("bytes_transferred");
    assert!(first["copied"].as_u64().unwrap_or(0) > 0, "{first}");
    assert!(moved1 > 0, "{first}");
    assert!(!dst.dir.join("cache/netdatad.pid").exists(), "the pid file is never copied");

    // The source goes on collecting; the second run (the catch-up just before the new parent
    // starts) moves only what changed: appended tails and deltas.
    let t = now();
    src.wait_rows(HOST, CHART, t, 3);
    let (code, second, err, took2) = duplicate(&dst, &src.base(), KEY);
    assert_eq!(code, 0, "{err}");
    let moved2 = second["bytes_transferred"].as_u64().expect("bytes_transferred");
    let total = second["bytes_total"].as_u64().unwrap_or(0);
    eprintln!(
        "duplicate from a running parent: first run {moved1} bytes in {:.2}s; second run {moved2} of {total} bytes in {:.2}s ({})",
        took1.as_secs_f64(),
        took2.as_secs_f64(),
        second
    );
    assert!(moved2 < moved1, "second run moved {moved2} bytes, first {moved1}: {second}");
    assert!(moved2 < total, "second run moved {moved2} of {total} bytes: {second}");
    assert!(second["appended"].as_u64().unwrap_or(0) + second["delta"].as_u64().unwrap_or(0) > 0, "{second}");
    let window = (t, now() - 1);

    // A new parent on the copy: the same values as the running source for both past windows,
    // and its own GUID.
    let original = src.csv(HOST, CHART, after, before);
    let fresh = src.csv(HOST, CHART, window.0, window.1);
    assert!(original.lines().count() >= 4, "the source has data: {original}");
    assert!(fresh.lines().count() >= 2, "the source has newer data: {fresh}");
    dst.start(&bin);
    assert_eq!(dst.csv(HOST, CHART, after, before), original, "the copy serves what the running source serves");
    assert_eq!(dst.csv(HOST, CHART, window.0, window.1), fresh, "including what the second run brought");
    assert_ne!(dst.uid(), src_uid, "the copy has its own machine GUID");
    dst.stop();
    src.stop();
}

/// Binaries for the measurement: `NETDATA_BIN_DIR` (e.g. target/release) or those beside
/// the test's `netdatactl`.
fn bin_dir() -> PathBuf {
    std::env::var_os("NETDATA_BIN_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(common::BIN).parent().map(Path::to_path_buf).unwrap_or_default())
}

/// Fills `cache/dbengine` of a parent with `series` × `seconds` points of history of a host
/// `histhost` (a pseudo-random walk, so pages do not compress to nothing).
fn populate(cache: &Path, series: usize, seconds: i64) {
    use ndcluster::model::{ChartMeta, DimMeta, HostMeta};
    use ndcluster::storage::number::StorageNumber;
    use ndcluster::storage::Store;
    let conf = ndcluster::config::NetdataConf::default().store_config();
    let store = ndcluster::storage::disk::DiskStore::open(cache.join("dbengine"), conf).expect("open store");
    let host = store
        .put_host(&HostMeta { guid: "0d0e0f00-1111-4222-8333-444455556666".into(), hostname: "histhost".into(), update_every: 1, hops: 1, ..Default::default() })
        .expect("host");
    let mut ids = Vec::new();
    for c in 0..series.div_ceil(10) {
        let id = format!("hist.chart{c}");
        let chart = store
            .put_chart(host, &ChartMeta { id: id.clone(), name: id.clone(), title: "t".into(), units: "u".into(), family: "f".into(), context: "hist.c".into(), update_every: 1, ..Default::default() })
            .expect("chart");
        for d in 0..10 {
            if ids.len() < series {
                ids.push(store.put_dimension(chart, &DimMeta { id: format!("d{d}"), name: format!("d{d}"), multiplier: 1, divisor: 1, ..Default::default() }).expect("dim"));
            }
        }
    }
    let end = now() - 120;
    let mut rng = ndcluster::testkit::XorShift64::new(0x9e37_79b9_7f4a_7c15);
    let mut v = vec![1000.0f64; ids.len()];
    for t in (end - seconds)..end {
        for (i, id) in ids.iter().enumerate() {
            let x = rng.next_u64();
            v[i] = (v[i] + ((x % 2001) as f64 - 1000.0) / 100.0).abs();
            store.write(*id, t, StorageNumber::pack(v[i], 0)).expect("write");
        }
    }
    store.flush().expect("flush");
}

fn dir_bytes(p: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    total
}

/// Measurement (run by hand: `cargo test -p netdatactl --test cli_duplicate_live -- --ignored
/// --nocapture`; `MEASURE_SERIES`, `MEASURE_SECONDS`, `NETDATA_BIN_DIR` tune it): duplicate
/// of a populated parent while it keeps ingesting, first and second run.
#[test]
#[ignore]
fn measure_duplicate_of_a_populated_running_parent() {
    let dir = bin_dir();
    let (netdatad, ctl) = (dir.join("netdatad"), dir.join("netdatactl"));
    assert!(netdatad.exists() && ctl.exists(), "{} has no netdatad/netdatactl", dir.display());
    let env = |k: &str, d: i64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (series, seconds) = (env("MEASURE_SERIES", 2000) as usize, env("MEASURE_SECONDS", 7200));
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut src = Daemon::new(&tmp.path().join("src"), "livesrc", free_port(), &format!("[cluster]\n\tsnapshot key = {KEY}\n"));
    let dst = Daemon::new(&tmp.path().join("dst"), "livedst", free_port(), "");
    let t = Instant::now();
    populate(&src.dir.join("cache"), series, seconds);
    eprintln!("populated {series} series x {seconds} s: {} bytes in {:.1}s", dir_bytes(&src.dir.join("cache")), t.elapsed().as_secs_f64());
    src.start(&netdatad);
    src.wait_rows(HOST, CHART, now() - 1, 3);
    let run = || {
        let to = dst.dir.join("cache").display().to_string();
        let t = Instant::now();
        let o = Command::new(&ctl).args(["-c", &dst.conf(), "--json", "duplicate", "--from", &src.base(), "--key", KEY, "--to", &to]).output().expect("netdatactl");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        (v["bytes_transferred"].as_u64().unwrap_or(0), v["bytes_total"].as_u64().unwrap_or(0), t.elapsed().as_secs_f64(), v)
    };
    // rsync beside it (Debian's, `--no-whole-file` so that it uses its delta algorithm
    // locally too), from the same running source right after each of our runs.
    let rsync_to = tmp.path().join("rsync-copy");
    let rsync = || -> Option<(u64, u64, f64)> {
        let t = Instant::now();
        let o = Command::new("rsync")
            .args(["-a", "--no-whole-file", "--stats", "--exclude=netdatad.pid", "--exclude=LOCK"])
            .arg(format!("{}/", src.dir.join("cache").display()))
            .arg(format!("{}/", rsync_to.display()))
            .output()
            .ok()?;
        let secs = t.elapsed().as_secs_f64();
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        let field = |k: &str| -> Option<u64> { out.lines().find_map(|l| l.strip_prefix(k))?.trim().trim_end_matches(" bytes").replace(',', "").parse().ok() };
        Some((field("Total bytes sent: ")?, field("Literal data: ")?, secs))
    };
    let (b1, total1, s1, _) = run();
    let r1 = rsync();
    let t = now();
    src.wait_rows(HOST, CHART, t, 10);
    let (b2, total2, s2, v2) = run();
    let r2 = rsync();
    eprintln!("MEASURED duplicate from a running parent ({series} series x {seconds} s of history + live ingest):");
    eprintln!("  first run:  {b1} bytes transferred of {total1} in {s1:.2}s ({:.1} MB/s)", b1 as f64 / s1 / 1e6);
    eprintln!("  second run: {b2} bytes transferred of {total2} in {s2:.2}s: files {} skipped {} appended {} delta {} copied {}", v2["files"], v2["skipped"], v2["appended"], v2["delta"], v2["copied"]);
    match (r1, r2) {
        (Some((a, la, sa)), Some((b, lb, sb))) => eprintln!(
            "  rsync -a --no-whole-file (local): first {a} bytes sent ({la} literal) in {sa:.2}s, second {b} bytes sent ({lb} literal) in {sb:.2}s"
        ),
        _ => eprintln!("  rsync not available or its --stats unreadable"),
    }
    let log = std::fs::read_to_string(src.dir.join("netdatad.log")).unwrap_or_default();
    for l in log.lines().filter(|l| l.contains("cache snapshot taken")) {
        eprintln!("  source: {l}");
    }
    assert!(b2 < b1);
    src.stop();
}
