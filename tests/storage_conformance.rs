//! One conformance suite for every `Store`: each behaviour is a generic function run against
//! the in-memory twin and the on-disk store (the latter also across reopen / checkpoints).

use std::path::{Path, PathBuf};

use ndcluster::model::{Algorithm, ChartMeta, ChartType, DimMeta, HostMeta, Label};
use ndcluster::storage::disk::{file_max, DiskStore};
use ndcluster::storage::mem::MemStore;
use ndcluster::storage::number::{StorageNumber, FLAG_NOT_ANOMALOUS, FLAG_RESET};
use ndcluster::storage::*;

const T0: i64 = 1_700_000_000;

fn config(iters: u32) -> StoreConfig {
    let tier = |iterations| TierConfig {
        iterations,
        retention_bytes: 1 << 30,
        retention_secs: 0,
    };
    StoreConfig {
        tiers: vec![tier(1), tier(iters), tier(iters)],
        flush_interval_secs: 1,
    }
}

fn host(n: u32) -> HostMeta {
    HostMeta {
        guid: format!("00000000-0000-0000-0000-{n:012}"),
        hostname: format!("host{n}"),
        system_info: vec![("NETDATA_SYSTEM_OS_NAME".into(), "Debian".into())],
        labels: vec![Label {
            name: "_os".into(),
            value: "linux".into(),
            source: 1,
        }],
        hops: 1,
        update_every: 1,
        claim_id: None,
    }
}

fn chart(id: &str, ue: u32) -> ChartMeta {
    ChartMeta {
        id: id.into(),
        name: id.into(),
        title: format!("{id} title"),
        units: "%".into(),
        family: "cpu".into(),
        context: format!("ctx.{id}"),
        chart_type: ChartType::Stacked,
        priority: 100,
        update_every: ue,
        options: String::new(),
        plugin: "proc.plugin".into(),
        module: "/proc/stat".into(),
        labels: vec![Label {
            name: "cpu".into(),
            value: "0".into(),
            source: 2,
        }],
    }
}

fn dim(id: &str) -> DimMeta {
    DimMeta {
        id: id.into(),
        name: format!("{id}-name"),
        algorithm: Algorithm::Incremental,
        multiplier: 1,
        divisor: 1000,
        options: String::new(),
    }
}

/// One series on host 0, chart `c.x` with the given update every.
fn series<S: Store>(s: &S, ue: u32, name: &str) -> SeriesId {
    let h = s.put_host(&host(0)).expect("host");
    let c = s
        .put_chart(h, &chart(&format!("c.{ue}"), ue))
        .expect("chart");
    s.put_dimension(c, &dim(name)).expect("dim")
}

fn value(i: i64) -> StorageNumber {
    let x = ((i * 7919) % 1000) as f64 / 7.0 - 30.0;
    let flags =
        if i % 97 == 0 { FLAG_RESET } else { 0 } | if i % 13 == 0 { 0 } else { FLAG_NOT_ANOMALOUS };
    StorageNumber::pack(x, flags)
}

fn read<S: Store>(s: &S, id: SeriesId, tier: usize, a: i64, b: i64) -> Vec<TierPoint> {
    let mut v = Vec::new();
    s.read(id, tier, a, b, &mut v).expect("read");
    v
}

/// Expected upper-tier points computed from tier-0 points (f32 rounding like the stores).
fn expected_tier(
    cfg: &StoreConfig,
    tier: usize,
    ue: u32,
    pts: &[(i64, StorageNumber)],
) -> Vec<TierPoint> {
    let w = cfg.tier_width(tier, ue);
    let mut out: Vec<TierPoint> = Vec::new();
    let mut sorted = pts.to_vec();
    sorted.sort_by_key(|p| p.0);
    for &(t, n) in &sorted {
        let Some(p) = TierPoint::from_number(t, n) else {
            continue;
        };
        let slot = tier_slot(t, ue, w);
        match out.iter_mut().find(|q| q.time == slot) {
            Some(q) => {
                q.sum += p.sum;
                q.min = q.min.min(p.min);
                q.max = q.max.max(p.max);
                q.count += 1;
                q.reset |= p.reset;
                q.anomalous += p.anomalous;
            }
            None => out.push(TierPoint { time: slot, ..p }),
        }
    }
    out.sort_by_key(|p| p.time);
    out
}

fn assert_close(got: &[TierPoint], want: &[TierPoint], what: &str) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: point count; got {:?}",
        got.iter().map(|p| p.time).collect::<Vec<_>>()
    );
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.time, w.time, "{what}");
        assert_eq!(
            (g.count, g.reset, g.anomalous),
            (w.count, w.reset, w.anomalous),
            "{what} at {}",
            g.time
        );
        for (a, b) in [(g.sum, w.sum), (g.min, w.min), (g.max, w.max)] {
            assert!(
                (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                "{what} at {}: {a} vs {b}",
                g.time
            );
        }
    }
}

fn check_all_tiers<S: Store>(
    s: &S,
    id: SeriesId,
    ue: u32,
    pts: &[(i64, StorageNumber)],
    what: &str,
) {
    let cfg = s.config().clone();
    let t0: Vec<TierPoint> = {
        let mut v: Vec<_> = pts
            .iter()
            .filter_map(|&(t, n)| TierPoint::from_number(t, n))
            .collect();
        v.sort_by_key(|p| p.time);
        v
    };
    let got0 = read(s, id, 0, i64::MIN / 4, i64::MAX / 4);
    assert_eq!(got0.len(), t0.len(), "{what}: tier 0 count");
    for (g, w) in got0.iter().zip(&t0) {
        // tier 0 is bit-exact: same f64 from the same storage number, same flags
        assert_eq!(g, w, "{what}: tier 0");
    }
    for tier in 1..cfg.tiers.len() {
        let want = expected_tier(&cfg, tier, ue, pts);
        assert_close(
            &read(s, id, tier, i64::MIN / 4, i64::MAX / 4),
            &want,
            &format!("{what}: tier {tier}"),
        );
        if let (Some(first), Some(last)) = (want.first(), want.last()) {
            assert_eq!(
                s.retention(id, tier),
                Some(Retention {
                    first: first.time,
                    last: last.time
                }),
                "{what}: retention tier {tier}"
            );
        }
    }
    if let (Some(first), Some(last)) = (t0.first(), t0.last()) {
        assert_eq!(
            s.retention(id, 0),
            Some(Retention {
                first: first.time,
                last: last.time
            }),
            "{what}: retention tier 0"
        );
        // a window in the middle
        let (a, b) = (
            first.time + (last.time - first.time) / 3,
            first.time + (last.time - first.time) / 2,
        );
        let want: Vec<_> = t0
            .iter()
            .filter(|p| p.time >= a && p.time <= b)
            .copied()
            .collect();
        assert_eq!(read(s, id, 0, a, b), want, "{what}: window");
        // aggregate scan agrees with the points
        let agg = s.aggregate(id, 0, a, b).expect("aggregate").expect("some");
        assert_eq!(agg.count as usize, want.len(), "{what}: aggregate count");
        let sum: f64 = want.iter().map(|p| p.sum).sum();
        assert!(
            (agg.sum - sum).abs() <= 1e-9 * sum.abs().max(1.0),
            "{what}: aggregate sum {} vs {sum}",
            agg.sum
        );
        assert_eq!(
            agg.min,
            want.iter().map(|p| p.min).fold(f64::INFINITY, f64::min)
        );
        assert_eq!(
            agg.max,
            want.iter().map(|p| p.max).fold(f64::NEG_INFINITY, f64::max)
        );
        assert_eq!(agg.anomalous, want.iter().map(|p| p.anomalous).sum::<u32>());
        assert_eq!(
            s.aggregate(id, 0, b + 1_000_000, b + 2_000_000)
                .expect("aggregate"),
            None
        );
    }
}

// ---- behaviours (generic) -------------------------------------------------------------------

/// `reopen` is identity for MemStore; for DiskStore it drops and reopens (or checkpoints).
fn round_trip_per_tier<S: Store>(mut s: S, reopen: &dyn Fn(S) -> S) {
    for ue in [1u32, 2] {
        let id = series(&s, ue, &format!("rt{ue}"));
        let pts: Vec<_> = (0..3000)
            .map(|i| (T0 + i * i64::from(ue), value(i)))
            .collect();
        for &(t, n) in &pts {
            assert_eq!(s.write(id, t, n).expect("write"), WriteOutcome::Stored);
        }
        check_all_tiers(&s, id, ue, &pts, "before reopen");
        s = reopen(s);
        check_all_tiers(&s, id, ue, &pts, "after reopen");
        assert_eq!(s.series_update_every(id), Some(ue));
    }
    assert_eq!(s.stats().tiers[0].points, 6000);
}

fn gaps_stay_gaps<S: Store>(mut s: S, reopen: &dyn Fn(S) -> S) {
    let id = series(&s, 1, "gaps");
    let mut pts = Vec::new();
    for i in 0..2000i64 {
        let t = T0 + i;
        if (300..700).contains(&i) || i % 10 == 3 {
            assert_eq!(
                s.write(id, t, StorageNumber::EMPTY).expect("write"),
                WriteOutcome::Gap
            );
            continue;
        }
        if (1000..1050).contains(&i) {
            continue; // nothing written at all
        }
        s.write(id, t, value(i)).expect("write");
        pts.push((t, value(i)));
    }
    check_all_tiers(&s, id, 1, &pts, "gaps");
    s = reopen(s);
    check_all_tiers(&s, id, 1, &pts, "gaps after reopen");
    // the hole is empty in every tier
    for tier in 0..3 {
        let w = s.config().tier_width(tier, 1);
        let inner: Vec<_> = read(&s, id, tier, T0 + 300 + w + 1, T0 + 699 - w)
            .into_iter()
            .collect();
        assert!(inner.is_empty(), "tier {tier}: {inner:?}");
    }
}

fn backfill_into_hole<S: Store>(mut s: S, reopen: &dyn Fn(S) -> S) {
    let id = series(&s, 1, "backfill");
    let all: Vec<_> = (0..3000i64).map(|i| (T0 + i, value(i))).collect();
    let (a, b) = (1000, 2100);
    for &(t, n) in all[..a].iter().chain(&all[b..]) {
        s.write(id, t, n).expect("write");
    }
    s = reopen(s);
    // fill the hole in the middle, out of order in two halves
    for &(t, n) in all[1500..b].iter().chain(&all[a..1500]) {
        assert_eq!(
            s.write(id, t, n).expect("write"),
            WriteOutcome::Stored,
            "t={t}"
        );
    }
    check_all_tiers(&s, id, 1, &all, "backfill");
    s = reopen(s);
    check_all_tiers(&s, id, 1, &all, "backfill after reopen");
}

fn overlap_rejected<S: Store>(mut s: S, reopen: &dyn Fn(S) -> S) {
    let id = series(&s, 1, "overlap");
    let pts: Vec<_> = (0..1500i64).map(|i| (T0 + i, value(i))).collect();
    for &(t, n) in &pts {
        s.write(id, t, n).expect("write");
    }
    let before = s.stats().points_overlap;
    let other = StorageNumber::pack(123456.0, 0);
    for t in [T0, T0 + 700, T0 + 1499] {
        assert_eq!(s.write(id, t, other).expect("write"), WriteOutcome::Overlap);
    }
    assert_eq!(s.stats().points_overlap, before + 3);
    s = reopen(s);
    for t in [T0 + 1, T0 + 1000, T0 + 1499] {
        assert_eq!(
            s.write(id, t, other).expect("write"),
            WriteOutcome::Overlap,
            "after reopen t={t}"
        );
    }
    // ready-made aggregates: an existing slot is rejected, a hole accepted
    let w = s.config().tier_width(1, 1);
    let existing = read(&s, id, 1, T0, T0 + 1500)[3];
    let agg = TierPoint {
        sum: 1.0,
        min: 1.0,
        max: 1.0,
        count: 1,
        reset: false,
        anomalous: 0,
        time: existing.time,
    };
    assert_eq!(
        s.write_aggregate(id, 1, agg).expect("agg"),
        WriteOutcome::Overlap
    );
    check_all_tiers(&s, id, 1, &pts, "overlap: nothing changed");
    let hole = TierPoint {
        time: existing.time - 100 * w,
        ..agg
    };
    assert_eq!(
        s.write_aggregate(id, 1, hole).expect("agg"),
        WriteOutcome::Stored
    );
    let t1 = read(&s, id, 1, hole.time, hole.time);
    assert_eq!(t1, vec![hole]);
}

/// Few points: the upper tiers' open pages stay small and are carried across checkpoints
/// and reopens (in the WAL) rather than written.
fn small_upper_pages_survive_reopens<S: Store>(mut s: S, reopen: &dyn Fn(S) -> S) {
    let id = series(&s, 1, "small");
    let mut pts = Vec::new();
    for round in 0..4i64 {
        for i in round * 37..(round + 1) * 37 {
            s.write(id, T0 + i, value(i)).expect("write");
            pts.push((T0 + i, value(i)));
        }
        s = reopen(s);
        check_all_tiers(&s, id, 1, &pts, &format!("round {round}"));
    }
}

// ---- instantiations -------------------------------------------------------------------------

fn mem() -> MemStore {
    MemStore::new(config(4))
}
fn same(s: MemStore) -> MemStore {
    s
}

struct Disk {
    _tmp: tempfile::TempDir,
    path: PathBuf,
}
fn disk_dir() -> Disk {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("db");
    Disk { _tmp: tmp, path }
}
fn disk_reopen(path: &Path) -> impl Fn(DiskStore) -> DiskStore + '_ {
    move |s| {
        drop(s);
        DiskStore::open(path, config(4)).expect("reopen")
    }
}
fn disk_checkpoint(s: DiskStore) -> DiskStore {
    s.checkpoint().expect("checkpoint");
    s
}

macro_rules! both {
    ($name:ident) => {
        mod $name {
            use super::*;
            #[test]
            fn mem_store() {
                super::$name(mem(), &same);
            }
            #[test]
            fn disk_store_reopen() {
                let d = disk_dir();
                let s = DiskStore::open(&d.path, config(4)).expect("open");
                super::$name(s, &disk_reopen(&d.path));
            }
            #[test]
            fn disk_store_checkpoint() {
                let d = disk_dir();
                let s = DiskStore::open(&d.path, config(4)).expect("open");
                super::$name(s, &disk_checkpoint);
            }
        }
    };
}

both!(round_trip_per_tier);
both!(gaps_stay_gaps);
both!(backfill_into_hole);
both!(overlap_rejected);
both!(small_upper_pages_survive_reopens);

// ---- disk-only behaviours -------------------------------------------------------------------

#[test]
fn metadata_survives_reopen() {
    let d = disk_dir();
    let s = DiskStore::open(&d.path, config(4)).expect("open");
    let h0 = s.put_host(&host(0)).expect("host");
    let h1 = s.put_host(&host(1)).expect("host");
    let mut c = chart("system.cpu", 1);
    let c0 = s.put_chart(h1, &c).expect("chart");
    let d0 = s.put_dimension(c0, &dim("user")).expect("dim");
    let d1 = s.put_dimension(c0, &dim("system")).expect("dim");
    c.title = "changed".into();
    assert_eq!(s.put_chart(h1, &c).expect("chart"), c0);
    s.flush().expect("flush");
    let before = (s.hosts(), s.charts(h1), s.dimensions(c0));
    drop(s);
    let s = DiskStore::open(&d.path, config(4)).expect("reopen");
    assert_eq!((s.hosts(), s.charts(h1), s.dimensions(c0)), before);
    assert_eq!(s.chart(c0).map(|c| c.title), Some("changed".to_string()));
    assert_eq!(s.put_host(&host(0)).expect("host"), h0);
    assert_eq!(s.put_dimension(c0, &dim("system")).expect("dim"), d1);
    assert_ne!(d0, d1);
    assert!(s.charts(h0).is_empty());
}

#[test]
fn second_opener_is_refused() {
    let d = disk_dir();
    let _s = DiskStore::open(&d.path, config(4)).expect("open");
    match DiskStore::open(&d.path, config(4)) {
        Err(StoreError::Locked { .. }) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("second open succeeded"),
    }
}

fn dir_bytes(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn retention_by_size_is_a_hard_bound() {
    retention_by_size_bound(false);
}

/// The same bound when points arrive as live rows (`write_many`, buffered per series).
#[test]
fn retention_by_size_is_a_hard_bound_for_live_rows() {
    retention_by_size_bound(true);
}

fn retention_by_size_bound(rows: bool) {
    let d = disk_dir();
    let limit = 64 << 10;
    let mut cfg = config(4);
    for t in &mut cfg.tiers {
        t.retention_bytes = limit;
    }
    let s = DiskStore::open(&d.path, cfg).expect("open");
    let ids: Vec<_> = (0..20).map(|i| series(&s, 1, &format!("d{i}"))).collect();
    let mut total_written = 0;
    let noisy = |t: i64, k: usize| {
        StorageNumber::pack(((t * 2_654_435_761 + k as i64 * 97) % 1_000_003) as f64 / 3.0, 0)
    };
    let mut counts = WriteCounts::default();
    for batch in 0..60i64 {
        if rows {
            for i in 0..200i64 {
                let t = T0 + batch * 200 + i;
                let row: Vec<_> = ids.iter().enumerate().map(|(k, &id)| (id, t, noisy(t, k))).collect();
                s.write_many(&row, &mut counts).expect("write_many");
                total_written += ids.len() as i64;
            }
        } else {
            for (k, &id) in ids.iter().enumerate() {
                for i in 0..200i64 {
                    let t = T0 + batch * 200 + i;
                    s.write(id, t, noisy(t, k)).expect("write");
                    total_written += 1;
                }
            }
        }
        if batch % 7 == 0 {
            s.checkpoint().expect("checkpoint");
        }
        for tier in 0..3 {
            let on_disk = dir_bytes(&d.path.join(format!("tier{tier}")));
            assert!(
                on_disk <= limit + file_max(limit),
                "batch {batch} tier {tier}: {on_disk} bytes on disk"
            );
            assert!(s.stats().tiers[tier].bytes <= limit + file_max(limit));
        }
    }
    // the oldest data went first, the newest is there
    let r = s.retention(ids[0], 0).expect("retention");
    assert!(r.first > T0, "oldest data should be gone: {r:?}");
    assert_eq!(r.last, T0 + 60 * 200 - 1);
    let pts = read(&s, ids[0], 0, r.first, r.last);
    assert!(!pts.is_empty() && (pts.len() as i64) < total_written);
    assert!(pts.windows(2).all(|w| w[0].time < w[1].time));
}

#[test]
fn retention_by_time_drops_old_files() {
    let d = disk_dir();
    let mut cfg = config(4);
    cfg.tiers[0].retention_secs = 3600;
    cfg.tiers[0].retention_bytes = 1 << 20; // small files so old ones can go
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let start = now - 4 * 3600;
    let s = DiskStore::open(&d.path, cfg).expect("open");
    let ids: Vec<_> = (0..10).map(|i| series(&s, 1, &format!("t{i}"))).collect();
    for t in (start..now).step_by(1) {
        for (k, &id) in ids.iter().enumerate() {
            s.write(
                id,
                t,
                StorageNumber::pack(((t * 2_654_435_761 + k as i64) % 1_000_003) as f64 / 7.0, 0),
            )
            .expect("write");
        }
    }
    s.checkpoint().expect("checkpoint");
    let r = s.retention(ids[0], 0).expect("retention");
    // whole files go, so up to a file's span of older points may remain; an hour is gone
    assert!(
        r.first > start + 3600,
        "old points kept: first={} now={now}",
        r.first
    );
    for &id in &ids {
        assert_eq!(
            read(&s, id, 0, now - 3600, now).len(),
            3600,
            "points inside the retention window"
        );
    }
    assert_eq!(r.last, now - 1);
    // a write into the expired past is refused
    assert_eq!(
        s.write(ids[0], start + 5, StorageNumber::pack(1.0, 0))
            .expect("write"),
        WriteOutcome::Expired
    );
}

#[test]
fn flipped_byte_sets_file_aside_rest_readable() {
    let d = disk_dir();
    let mut cfg = config(4);
    cfg.tiers[0].retention_bytes = 4 << 20; // 512 KiB files
    let ids;
    let n = 40_000i64;
    {
        let s = DiskStore::open(&d.path, cfg.clone()).expect("open");
        ids = (0..20)
            .map(|i| series(&s, 1, &format!("f{i}")))
            .collect::<Vec<_>>();
        for i in 0..n {
            for (k, &id) in ids.iter().enumerate() {
                s.write(
                    id,
                    T0 + i,
                    StorageNumber::pack(
                        ((i * 2_654_435_761 + k as i64) % 1_000_003) as f64 / 7.0,
                        0,
                    ),
                )
                .expect("write");
            }
        }
    }
    let tier0 = d.path.join("tier0");
    let mut files: Vec<_> = std::fs::read_dir(&tier0)
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "need several data files, got {files:?}");
    let victim = &files[1];
    let mut bytes = std::fs::read(victim).expect("read");
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(victim, &bytes).expect("write");
    let s = DiskStore::open(&d.path, cfg).expect("reopen after corruption");
    assert!(!victim.exists(), "corrupt file still in place");
    let aside = std::fs::read_dir(&tier0)
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".corrupt"))
        .count();
    assert_eq!(aside, 1);
    // the newest data (other files) is fully readable and exact
    for (k, &id) in ids.iter().enumerate() {
        let pts = read(&s, id, 0, T0 + n - 1000, T0 + n);
        assert_eq!(pts.len(), 1001 - 1, "series {k}");
        for p in &pts {
            let i = p.time - T0;
            assert_eq!(
                p.sum,
                StorageNumber::pack(((i * 2_654_435_761 + k as i64) % 1_000_003) as f64 / 7.0, 0)
                    .value()
            );
        }
        // the first file's data is still there too
        assert_eq!(s.retention(id, 0).map(|r| r.first), Some(T0));
    }
}

fn reads_run_while_writes_go_on<S: Store + 'static>(s: std::sync::Arc<S>) {
    let id = series(&*s, 1, "concurrent");
    let n = 20_000i64;
    let w = {
        let s = s.clone();
        std::thread::spawn(move || {
            for i in 0..n {
                s.write(id, T0 + i, value(i)).expect("write");
            }
        })
    };
    let mut reads = 0;
    loop {
        let done = w.is_finished();
        let pts = read(&*s, id, 0, T0, T0 + n);
        // whatever a read sees is a prefix of the history, exact and in order
        for (i, p) in pts.iter().enumerate() {
            assert_eq!(p.time, T0 + i as i64);
            assert_eq!(p.sum, value(i as i64).value());
        }
        reads += 1;
        if done || reads > 100_000 {
            break;
        }
    }
    w.join().expect("writer");
    assert_eq!(read(&*s, id, 0, T0, T0 + n).len() as i64, n);
}

#[test]
fn mem_reads_run_while_writes_go_on() {
    reads_run_while_writes_go_on(std::sync::Arc::new(mem()));
}

#[test]
fn disk_reads_run_while_writes_go_on() {
    let d = disk_dir();
    reads_run_while_writes_go_on(std::sync::Arc::new(
        DiskStore::open(&d.path, config(4)).expect("open"),
    ));
}

fn copy_dir(from: &Path, to: &Path, only_data: bool) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let p = e.path();
        let name = e.file_name();
        if p.is_dir() {
            copy_dir(&p, &to.join(&name), only_data);
        } else if !only_data || name.to_string_lossy().ends_with(".ndd") {
            std::fs::copy(&p, to.join(&name)).expect("copy");
        }
    }
}

/// A crash after a checkpoint wrote its records but before it committed: the records are
/// ignored, the old WAL is replayed, and every point is counted exactly once in every tier.
#[test]
fn crash_inside_a_checkpoint_counts_each_point_once() {
    let d = disk_dir();
    let crashed = d.path.with_file_name("crashed");
    let s = DiskStore::open(&d.path, config(4)).expect("open");
    // the series is declared after the last checkpoint: only the WAL knows it
    let id = series(&s, 1, "ckpt");
    let pts: Vec<_> = (0..3000i64).map(|i| (T0 + i, value(i))).collect();
    for &(t, n) in &pts {
        s.write(id, t, n).expect("write");
    }
    s.flush().expect("flush");
    copy_dir(&d.path, &crashed, false); // state before the checkpoint (WAL durable)
    s.checkpoint().expect("checkpoint");
    copy_dir(&d.path, &crashed, true); // ...plus the checkpoint's data records, uncommitted
    drop(s);
    let s = DiskStore::open(&crashed, config(4)).expect("open after the crash");
    check_all_tiers(&s, id, 1, &pts, "after a crash inside a checkpoint");
    drop(s);
    let s = DiskStore::open(&crashed, config(4)).expect("second open");
    check_all_tiers(&s, id, 1, &pts, "reopened again");
}
