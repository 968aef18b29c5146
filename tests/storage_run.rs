//! `Store::write_run` (a series' points on a grid, written in one pass: one append loop, one
//! WAL record per page, roll-ups slot by slot) stores exactly what `Store::write_many` of the
//! same non-empty points stores: same outcomes, same points in every tier, same retention,
//! before and after a reopen — on random runs with gaps, runs starting behind the head
//! (back-fills and overlaps), steps off the series' grid, page seals, and across several
//! series. A `kill -9` while writing runs loses only the last seconds (the WAL's run records
//! are replayed).

mod crash_common;

use std::time::{Duration, Instant};

use ndcluster::model::{ChartMeta, DimMeta, HostMeta};
use ndcluster::storage::disk::DiskStore;
use ndcluster::storage::mem::MemStore;
use ndcluster::storage::number::StorageNumber;
use ndcluster::storage::*;
use ndcluster::testkit::XorShift64;

const T0: i64 = 1_700_000_000;
const ENV: &str = "NDCLUSTER_STORAGE_RUN_CRASH_CHILD";

fn config() -> StoreConfig {
    let tier = |iterations| TierConfig { iterations, retention_bytes: 1 << 30, retention_secs: 0 };
    StoreConfig { tiers: vec![tier(1), tier(60), tier(60)], flush_interval_secs: 1 }
}

/// `charts` charts of `dims` dimensions; every third chart has `update_every` 2.
fn series(s: &dyn Store, charts: usize, dims: usize) -> Vec<(SeriesId, u32)> {
    let h = s.put_host(&HostMeta { guid: "run".into(), hostname: "run".into(), update_every: 1, ..Default::default() }).expect("host");
    let mut out = Vec::new();
    for c in 0..charts {
        let ue = if c % 3 == 2 { 2 } else { 1 };
        let cid = s.put_chart(h, &ChartMeta { id: format!("r.c{c}"), name: format!("r.c{c}"), update_every: ue, ..Default::default() }).expect("chart");
        for d in 0..dims {
            out.push((s.put_dimension(cid, &DimMeta { id: format!("d{d}"), name: format!("d{d}"), multiplier: 1, divisor: 1, ..Default::default() }).expect("dim"), ue));
        }
    }
    out
}

/// One run: series, first time, step, values (empty = none).
type Run = (SeriesId, i64, u32, Vec<StorageNumber>);

/// Random runs over the series: mostly continuing each series' grid (random walk values with
/// reset flags now and then, half of them not anomalous, gaps of random length), sometimes starting behind the series'
/// newest point (partly overlapping, partly into holes left earlier), sometimes with a step
/// that is not the series' `update_every`, sometimes all gaps, sometimes long enough to fill
/// several pages.
fn runs(ids: &[(SeriesId, u32)], n: usize, seed: u64) -> Vec<Run> {
    let mut rng = XorShift64::new(seed);
    let mut next: Vec<i64> = ids.iter().map(|_| T0).collect();
    let mut val: Vec<f64> = ids.iter().map(|_| 100.0).collect();
    let mut out = Vec::new();
    for _ in 0..n {
        let k = rng.below(ids.len() as u64) as usize;
        let (id, ue) = ids[k];
        let len = match rng.below(10) {
            0 => 1,
            1 => 3000 + rng.below(6000) as usize,
            _ => 1 + rng.below(700) as usize,
        };
        let step = match rng.below(12) {
            0 => ue * 2,
            1 if ue == 2 => 1,
            _ => ue,
        };
        let first = match rng.below(8) {
            // behind the head: overlaps what is there, fills what is not
            0 => next[k] - i64::from(ue) * (1 + rng.below(900) as i64),
            // a jump ahead leaves a hole to fill later
            1 => next[k] + i64::from(ue) * (1 + rng.below(200) as i64),
            _ => next[k],
        };
        let all_gaps = rng.below(40) == 0;
        let mut gap_left = 0u64;
        let mut values = Vec::with_capacity(len);
        for _ in 0..len {
            if gap_left == 0 && rng.below(25) == 0 {
                gap_left = 1 + rng.below(80);
            }
            if all_gaps || gap_left > 0 {
                gap_left = gap_left.saturating_sub(1);
                values.push(StorageNumber::EMPTY);
                continue;
            }
            val[k] += (rng.below(2001) as f64 - 1000.0) / 37.0;
            let flags = match rng.below(300) {
                0 => number::FLAG_RESET,
                1..=150 => number::FLAG_NOT_ANOMALOUS,
                _ => 0,
            };
            let v = if rng.below(50) == 0 { 0.0 } else { val[k] };
            values.push(StorageNumber::pack(v, flags));
        }
        let end = first + len as i64 * i64::from(step);
        next[k] = next[k].max(end);
        out.push((id, first, step, values));
    }
    out
}

fn dump(s: &dyn Store, ids: &[(SeriesId, u32)]) -> Vec<(usize, Vec<TierPoint>, Option<Retention>)> {
    let mut out = Vec::new();
    for tier in 0..3 {
        for (id, _) in ids {
            let mut v = Vec::new();
            s.read(*id, tier, i64::MIN / 4, i64::MAX / 4, &mut v).expect("read");
            out.push((tier, v, s.retention(*id, tier)));
        }
    }
    out
}

fn points_of(run: &Run) -> Vec<(SeriesId, i64, StorageNumber)> {
    let (id, first, step, values) = run;
    values.iter().enumerate().filter(|(_, v)| !v.is_empty()).map(|(i, &v)| (*id, first + i as i64 * i64::from(*step), v)).collect()
}

/// The counters of two stores holding the same pages: equal, but for the bytes on disk, which
/// depend a little on the order the pages were written in (a record header is coded against
/// the previous record of its file).
fn same_counters(mut a: StoreStats, mut b: StoreStats) {
    for (x, y) in a.tiers.iter_mut().zip(&mut b.tiers) {
        assert!(x.bytes.abs_diff(y.bytes) <= x.bytes / 100, "bytes on disk: {} vs {}", x.bytes, y.bytes);
        (x.bytes, y.bytes) = (0, 0);
    }
    assert_eq!(a, b, "store counters");
}

/// Writes the runs into `a` point-wise (`write_many`) and into `b` as runs; compares.
fn compare(a: &dyn Store, b: &dyn Store, seed: u64) -> Vec<(SeriesId, u32)> {
    let ia = series(a, 6, 5);
    let ib = series(b, 6, 5);
    assert_eq!(ia, ib);
    let (mut ca, mut cb) = (WriteCounts::default(), WriteCounts::default());
    for run in runs(&ia, 600, seed) {
        a.write_many(&points_of(&run), &mut ca).expect("write_many");
        b.write_run(run.0, run.1, run.2, &run.3, &mut cb).expect("write_run");
    }
    assert_eq!(ca, cb, "outcomes");
    assert_eq!(ca.gap, 0, "empty values are not points");
    assert!(ca.stored > 100_000 && ca.overlap > 1000, "the runs cover what they should: {ca:?}");
    let (da, db) = (dump(a, &ia), dump(b, &ib));
    for (x, y) in da.iter().zip(&db) {
        assert_eq!(x, y, "tier {} differs", x.0);
    }
    assert!(da.iter().any(|(t, v, _)| *t == 2 && v.len() > 10), "tier 2 got points");
    same_counters(a.stats(), b.stats());
    ia
}

#[test]
fn write_run_equals_write_many_on_disk_and_after_reopen() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for seed in [0x9E37_79B9_7F4A_7C15u64, 12345, 777] {
        let (pa, pb) = (tmp.path().join(format!("a{seed}")), tmp.path().join(format!("b{seed}")));
        let a = DiskStore::open(&pa, config()).expect("a");
        let b = DiskStore::open(&pb, config()).expect("b");
        let ids = compare(&a, &b, seed);
        assert_eq!(b.mem_points_counted(), b.mem_points_walk());
        drop((a, b));
        let a = DiskStore::open(&pa, config()).expect("reopen a");
        let b = DiskStore::open(&pb, config()).expect("reopen b");
        let (da, db) = (dump(&a, &ids), dump(&b, &ids));
        for (x, y) in da.iter().zip(&db) {
            assert_eq!(x, y, "tier {} differs after reopen", x.0);
        }
    }
}

#[test]
fn write_run_equals_write_many_in_memory() {
    compare(&MemStore::new(config()), &MemStore::new(config()), 4242);
}

/// A chart's runs for `write_runs`: [`runs`] drawn for each chart's first dimension, the
/// other dimensions on the same grid with their own values and gaps.
fn chart_runs(ids: &[(SeriesId, u32)], dims: usize, n: usize, seed: u64) -> Vec<(i64, u32, Vec<Run>)> {
    let firsts: Vec<(SeriesId, u32)> = ids.iter().step_by(dims).copied().collect();
    let mut rng = XorShift64::new(seed ^ 0x5555);
    runs(&firsts, n, seed)
        .into_iter()
        .map(|(id0, first, step, v0)| {
            let c = firsts.iter().position(|&(i, _)| i == id0).expect("a chart's first dimension");
            let mut cols = vec![(id0, first, step, v0.clone())];
            for d in 1..dims {
                let mut v = 50.0 * d as f64;
                let vals = v0
                    .iter()
                    .map(|_| {
                        v += (rng.below(2001) as f64 - 1000.0) / 41.0;
                        if rng.below(30) == 0 { StorageNumber::EMPTY } else { StorageNumber::pack(v, 0) }
                    })
                    .collect();
                cols.push((ids[c * dims + d].0, first, step, vals));
            }
            (first, step, cols)
        })
        .collect()
}

/// `write_runs` (a reply's columns under one lock, the sealed pages written after the WAL at
/// the end) stores what `write` of the same points one by one stores (`write_many` buffers
/// live points, so its pages reach the data files later and size retention may pick other
/// pages), also with data files small
/// enough that the active file is sealed and retention deletes files while pages are held
/// back; and after a reopen.
#[test]
fn write_runs_equals_write_on_disk_with_small_files_and_after_reopen() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut cfg = config();
    cfg.tiers[0].retention_bytes = 64 << 10; // 8 KiB files
    for seed in [31u64, 0xDEAD_BEEF] {
        let (pa, pb) = (tmp.path().join(format!("a{seed}")), tmp.path().join(format!("b{seed}")));
        let a = DiskStore::open(&pa, cfg.clone()).expect("a");
        let b = DiskStore::open(&pb, cfg.clone()).expect("b");
        let ia = series(&a, 6, 5);
        assert_eq!(ia, series(&b, 6, 5));
        let (mut ca, mut cb) = (WriteCounts::default(), WriteCounts::default());
        for (first, step, cols) in chart_runs(&ia, 5, 300, seed) {
            for run in &cols {
                for (id, t, v) in points_of(run) {
                    ca.add(a.write(id, t, v).expect("write"));
                }
            }
            let batch: Vec<(SeriesId, &[StorageNumber])> = cols.iter().map(|r| (r.0, r.3.as_slice())).collect();
            b.write_runs(first, step, &batch, &mut cb).expect("write_runs");
        }
        assert_eq!(ca, cb, "outcomes");
        assert!(ca.stored > 100_000 && ca.overlap > 1000, "the runs cover what they should: {ca:?}");
        let (da, db) = (dump(&a, &ia), dump(&b, &ia));
        assert_eq!(da, db, "points and retention");
        same_counters(a.stats(), b.stats());
        let files = std::fs::read_dir(pb.join("tier0")).expect("tier0").count();
        assert!(files > 2, "the active file was sealed while pages were held back ({files} files)");
        assert!(db.iter().any(|(t, _, r)| *t == 0 && r.is_some_and(|r| r.first > T0 + 100)), "retention deleted files");
        drop((a, b));
        let a = DiskStore::open(&pa, cfg.clone()).expect("reopen a");
        let b = DiskStore::open(&pb, cfg.clone()).expect("reopen b");
        assert_eq!(dump(&a, &ia), dump(&b, &ia), "after reopen");
    }
}

#[test]
fn write_runs_equals_write_many_in_memory_and_stops_at_an_unknown_series() {
    let (a, b) = (MemStore::new(config()), MemStore::new(config()));
    let ia = series(&a, 6, 5);
    series(&b, 6, 5);
    let (mut ca, mut cb) = (WriteCounts::default(), WriteCounts::default());
    for (first, step, cols) in chart_runs(&ia, 5, 100, 5) {
        for run in &cols {
            a.write_many(&points_of(run), &mut ca).expect("write_many");
        }
        let batch: Vec<(SeriesId, &[StorageNumber])> = cols.iter().map(|r| (r.0, r.3.as_slice())).collect();
        b.write_runs(first, step, &batch, &mut cb).expect("write_runs");
    }
    assert_eq!(ca, cb);
    assert_eq!(dump(&a, &ia), dump(&b, &ia));
    let tmp = tempfile::tempdir().expect("tempdir");
    let s = DiskStore::open(tmp.path().join("db"), config()).expect("open");
    let ids = series(&s, 1, 2);
    let one = [StorageNumber::pack(1.0, 0)];
    let mut c = WriteCounts::default();
    let r = s.write_runs(T0, 1, &[(ids[0].0, &one[..]), (SeriesId(999), &one[..]), (ids[1].0, &one[..])], &mut c);
    assert!(matches!(r, Err(StoreError::UnknownId { id: 999, .. })), "{r:?}");
    assert_eq!(c.stored, 1, "the run before the error is written, the one after it not");
}

#[test]
fn write_run_of_an_unknown_series_is_an_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let s = DiskStore::open(tmp.path().join("db"), config()).expect("open");
    let mut c = WriteCounts::default();
    let r = s.write_run(SeriesId(77), T0, 1, &[StorageNumber::pack(1.0, 0)], &mut c);
    assert!(matches!(r, Err(StoreError::UnknownId { id: 77, .. })), "{r:?}");
    assert_eq!(c, WriteCounts::default());
}

// ------------------------------------------------------------------------------ kill -9

fn crash_series(s: &DiskStore) -> Vec<SeriesId> {
    series(s, 1, 10).into_iter().map(|(id, _)| id).collect()
}

fn value(i: i64, k: usize) -> StorageNumber {
    if (i + k as i64) % 97 == 0 {
        return StorageNumber::EMPTY; // a gap stays a gap
    }
    StorageNumber::pack(((i * 37 + k as i64 * 1000) % 5003) as f64 / 10.0, 0)
}

/// The child: runs only when re-executed with the env var set. Writes runs of 50 s per series,
/// checkpointing once, printing the last second written.
#[test]
fn run_crash_child_writer() {
    let Ok(dir) = std::env::var(ENV) else { return };
    let s = DiskStore::open(&dir, config()).expect("child open");
    let ids = crash_series(&s);
    let started = Instant::now();
    let mut c = WriteCounts::default();
    for block in 0..100_000i64 {
        let first = block * 50;
        let cols: Vec<Vec<StorageNumber>> = (0..ids.len()).map(|k| (first..first + 50).map(|i| value(i, k)).collect()).collect();
        if block % 2 == 0 {
            for (&id, vals) in ids.iter().zip(&cols) {
                s.write_run(id, T0 + first, 1, vals, &mut c).expect("child write_run");
            }
        } else {
            let batch: Vec<(SeriesId, &[StorageNumber])> = ids.iter().zip(&cols).map(|(&id, v)| (id, v.as_slice())).collect();
            s.write_runs(T0 + first, 1, &batch, &mut c).expect("child write_runs");
        }
        if block == 20 {
            // one checkpoint; everything after it survives only through the WAL's run records
            s.checkpoint().expect("child checkpoint");
        }
        println!("{}", first + 49);
        if started.elapsed() > Duration::from_secs(60) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn kill_9_while_writing_runs_loses_only_the_last_seconds() {
    if std::env::var(ENV).is_ok() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("db");
    // the durability bound is `flush_interval_secs`: the child writes on for five times that
    // (the machine may be loaded) after `mark`, which it had reached
    let grace = Duration::from_secs(u64::from(config().flush_interval_secs) * 5);
    let mark = crash_common::run_and_kill("run_crash_child_writer", ENV, &dir, 5000, grace);

    let s = DiskStore::open(&dir, config()).expect("reopen after kill -9");
    let ids = crash_series(&s);
    let cfg = config();
    for (k, &id) in ids.iter().enumerate() {
        let mut pts = Vec::new();
        s.read(id, 0, T0, T0 + 10_000_000, &mut pts).expect("read");
        let want: Vec<(i64, f64)> = (0..=mark).filter(|&i| !value(i, k).is_empty()).map(|i| (T0 + i, value(i, k).value())).collect();
        let got: Vec<(i64, f64)> = pts.iter().map(|p| (p.time, p.sum)).collect();
        assert!(got.len() >= want.len(), "series {k}: {} points, expected at least {}", got.len(), want.len());
        assert_eq!(&got[..want.len()], &want[..], "series {k}: the points accepted before the bound");
        for &(t, v) in &got[want.len()..] {
            let i = t - T0;
            assert_eq!(v, value(i, k).value(), "series {k} at {i}");
        }
        // tiers 1 / 2 count every surviving tier-0 point once
        let last_t0 = pts.last().map_or(T0, |p| p.time);
        for tier in 1..3 {
            let mut up = Vec::new();
            s.read(id, tier, T0, T0 + 10_000_000, &mut up).expect("read");
            assert!(!up.is_empty(), "series {k} tier {tier} empty");
            let w = cfg.tier_width(tier, 1);
            for a in &up {
                if a.time + 1 > last_t0 {
                    continue; // the window the crash cut
                }
                let inside: Vec<_> = pts.iter().filter(|p| tier_slot(p.time, 1, w) == a.time).collect();
                assert_eq!(a.count as usize, inside.len(), "series {k} tier {tier} slot {}", a.time);
                let sum: f64 = inside.iter().map(|p| p.sum).sum();
                assert!((a.sum - sum).abs() <= 1e-4 * sum.abs().max(1.0), "series {k} tier {tier} slot {}: {} vs {sum}", a.time, a.sum);
            }
        }
    }
}

/// Not a check: prints the cost per point of `write_run` against `write_many` on a replication
/// backlog shaped like `bench/replgen`'s (random walk, 7 decimals; per chart 600 s of 10
/// dimensions). `cargo test --release --test storage_run -- --ignored --nocapture speed`
#[test]
#[ignore]
fn write_run_speed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (charts, dims, rounds, len) = (200usize, 10usize, 6usize, 600usize);
    let mut rng = XorShift64::new(99);
    let mut vals: Vec<u64> = vec![500_000_000_000; charts * dims];
    let mut data = Vec::new(); // per round, per chart: dims columns of len values
    for _ in 0..rounds {
        for c in 0..charts {
            let mut cols = vec![Vec::with_capacity(len); dims];
            for _ in 0..len {
                for (d, col) in cols.iter_mut().enumerate() {
                    let v = &mut vals[c * dims + d];
                    *v = (*v as i64 + (rng.below(2_000_001) as i64 - 1_000_000)).clamp(0, 10_000_000_000_000) as u64;
                    col.push(StorageNumber::pack(*v as f64 / 1e7, 0));
                }
            }
            data.push(cols);
        }
    }
    for mode in ["run", "many", "run"] {
        let s = DiskStore::open(tmp.path().join(format!("{mode}{}", rand_suffix(&mut rng))), config()).expect("open");
        let ids = series(&s, charts, dims);
        let mut counts = WriteCounts::default();
        let started = Instant::now();
        let cpu0 = thread_cpu_ns();
        for (i, cols) in data.iter().enumerate() {
            let (round, c) = (i / charts, i % charts);
            let ue = ids[c * dims].1;
            let first = T0 + (round * len) as i64 * i64::from(ue);
            if mode == "run" {
                for (d, col) in cols.iter().enumerate() {
                    s.write_run(ids[c * dims + d].0, first, ue, col, &mut counts).expect("run");
                }
            } else {
                let mut batch = Vec::with_capacity(len * dims);
                for r in 0..len {
                    for (d, col) in cols.iter().enumerate() {
                        batch.push((ids[c * dims + d].0, first + (r as i64) * i64::from(ue), col[r]));
                    }
                }
                s.write_many(&batch, &mut counts).expect("many");
            }
        }
        let (el, cpu) = (started.elapsed(), thread_cpu_ns() - cpu0);
        println!("{mode}: {} points, {:.1} ns/point wall, {:.1} ns/point CPU of this thread", counts.stored, el.as_nanos() as f64 / counts.stored as f64, cpu as f64 / counts.stored as f64);
    }
}

/// CPU time of this thread in ns (`/proc/thread-self/schedstat`), 0 where unavailable.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok().and_then(|s| s.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

fn rand_suffix(rng: &mut XorShift64) -> u64 {
    rng.below(1_000_000)
}
