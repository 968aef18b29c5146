//! Live rows written with `Store::write_many` wait in a small per-series buffer of the disk
//! store before they reach the open tier-0 page. Nothing may tell: every reader (reads of each
//! tier, aggregates, retention), every other write (single points, runs, back-fills, overlaps)
//! and a reopen see exactly (bit for bit) what a disk store written point by point with
//! `Store::write` (no buffer) sees after the same writes, at any moment; and a `kill -9` loses
//! only the last seconds, as for point-by-point writes.

mod crash_common;

use std::time::{Duration, Instant};

use ndcluster::model::{ChartMeta, DimMeta, HostMeta};
use ndcluster::storage::disk::DiskStore;
use ndcluster::storage::number::StorageNumber;
use ndcluster::storage::*;

const T0: i64 = 1_700_000_000;
const ENV: &str = "NDCLUSTER_STORAGE_LIVE_CRASH_CHILD";

fn config() -> StoreConfig {
    let tier = |iterations| TierConfig { iterations, retention_bytes: 1 << 30, retention_secs: 0 };
    StoreConfig { tiers: vec![tier(1), tier(10), tier(6)], flush_interval_secs: 1 }
}

/// Charts of `dims` dimensions; every third chart collects every 2 s.
fn series(s: &dyn Store, charts: usize, dims: usize) -> Vec<(SeriesId, i64)> {
    let h = s.put_host(&HostMeta { guid: "live".into(), hostname: "live".into(), update_every: 1, ..Default::default() }).expect("host");
    let mut out = Vec::new();
    for c in 0..charts {
        let ue = if c % 3 == 2 { 2 } else { 1 };
        let cid = s.put_chart(h, &ChartMeta { id: format!("l.c{c}"), name: format!("l.c{c}"), update_every: ue, ..Default::default() }).expect("chart");
        for d in 0..dims {
            let id = s.put_dimension(cid, &DimMeta { id: format!("d{d}"), name: format!("d{d}"), multiplier: 1, divisor: 1, ..Default::default() }).expect("dim");
            out.push((id, i64::from(ue)));
        }
    }
    out
}

fn value(i: i64, k: usize) -> StorageNumber {
    StorageNumber::pack(((i * 37 + k as i64 * 1000) % 5003) as f64 / 10.0, 0)
}

/// Everything a reader can see of series `id`.
fn view(s: &dyn Store, id: SeriesId) -> Vec<String> {
    let mut out = Vec::new();
    for tier in 0..3 {
        let mut v = Vec::new();
        s.read(id, tier, i64::MIN / 4, i64::MAX / 4, &mut v).expect("read");
        out.push(format!("tier {tier} points {v:?}"));
        out.push(format!("tier {tier} retention {:?}", s.retention(id, tier)));
        let mut recent = Vec::new();
        s.read(id, tier, T0 + 100, T0 + 150, &mut recent).expect("read");
        out.push(format!("tier {tier} window {recent:?}"));
    }
    out.push(format!("aggregate {:?}", s.aggregate(id, 0, T0 + 40, T0 + 10_000).expect("aggregate")));
    out
}

fn same(a: &[String], b: &[String], what: &str) {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            let at = x.bytes().zip(y.bytes()).take_while(|(p, q)| p == q).count();
            let from = at.saturating_sub(200);
            panic!("{what}: disk {} … vs reference {} …", &x[from..(at + 200).min(x.len())], &y[from..(at + 200).min(y.len())]);
        }
    }
    assert_eq!(a.len(), b.len(), "{what}");
}

/// Rows of live points second by second into both stores, with readers and other writes
/// in between; the disk store must answer as the reference after every step.
#[test]
fn every_reader_and_writer_sees_buffered_live_points_at_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let disk = DiskStore::open(tmp.path().join("db"), config()).expect("open");
    let reference = DiskStore::open(tmp.path().join("reference"), config()).expect("open");
    let ids = series(&disk, 5, 4);
    assert_eq!(ids, series(&reference, 5, 4));
    let (mut cd, mut cr) = (WriteCounts::default(), WriteCounts::default());
    for i in 0..400i64 {
        let mut row = Vec::new();
        for (k, &(id, ue)) in ids.iter().enumerate() {
            let t = T0 + i;
            if t % ue != 0 || (i + k as i64) % 29 == 5 {
                continue; // off its grid, or a missed collection: a hole in the buffer
            }
            let v = if (i * 7 + k as i64) % 53 == 0 { StorageNumber::EMPTY } else { value(i, k) };
            row.push((id, t, v));
        }
        disk.write_many(&row, &mut cd).expect("disk write_many");
        for &(id, t, v) in &row {
            cr.add(reference.write(id, t, v).expect("reference write"));
        }
        assert_eq!(cd, cr, "outcomes after second {i}");
        let (id, ue) = ids[(i as usize * 7) % ids.len()];
        match i % 10 {
            // a reader in the middle of the buffer's life
            3 | 8 => same(&view(&disk, id), &view(&reference, id), &format!("series {} after second {i}", id.0)),
            // an overlap with the newest (buffered) point, and a back-fill of a missed one
            5 => {
                let newest = T0 + i - (T0 + i) % ue;
                let o = (disk.write(id, newest, value(1, 1)).expect("w"), reference.write(id, newest, value(1, 1)).expect("w"));
                assert_eq!(o.0, o.1, "overlap at second {i}");
                for back in (T0.max(T0 + i - 20)..T0 + i).filter(|t| t % ue == 0) {
                    let o = (disk.write(id, back, value(2, 2)).expect("w"), reference.write(id, back, value(2, 2)).expect("w"));
                    assert_eq!(o.0, o.1, "back-fill at {back}");
                }
            }
            // a run on the grid before the next live row (replication-like) on another series,
            // by `write_run` or by `write_runs`
            7 => {
                let (other, oue) = ids[(i as usize * 3 + 1) % ids.len()];
                let vals: Vec<StorageNumber> = (0..3).map(|j| value(i + j, 9)).collect();
                let first = T0 + i - 40 - (T0 + i - 40) % oue;
                let (mut a, mut b) = (WriteCounts::default(), WriteCounts::default());
                if i % 20 == 7 {
                    disk.write_run(other, first, oue as u32, &vals, &mut a).expect("run");
                } else {
                    // the batched way (one reply's columns) must empty the buffer the same way
                    disk.write_runs(first, oue as u32, &[(other, &vals[..])], &mut a).expect("runs");
                }
                for (j, &v) in vals.iter().enumerate() {
                    b.add(reference.write(other, first + j as i64 * oue, v).expect("reference write"));
                }
                assert_eq!(a, b, "run at second {i}");
            }
            // a run right after the newest (buffered) point, into the seconds live rows will
            // then try again (a reply filling a gap while a chart is live): by either way
            9 => {
                let (other, oue) = ids[(i as usize * 5 + 2) % ids.len()];
                let vals: Vec<StorageNumber> = (0..3).map(|j| value(i + j, 11)).collect();
                let first = T0 + i - (T0 + i) % oue + oue;
                let (mut a, mut b) = (WriteCounts::default(), WriteCounts::default());
                if i % 20 == 9 {
                    disk.write_run(other, first, oue as u32, &vals, &mut a).expect("run");
                } else {
                    disk.write_runs(first, oue as u32, &[(other, &vals[..])], &mut a).expect("runs");
                }
                for (j, &v) in vals.iter().enumerate() {
                    b.add(reference.write(other, first + j as i64 * oue, v).expect("reference write"));
                }
                assert_eq!(a, b, "forward run at second {i}");
            }
            _ => {}
        }
    }
    assert!(cd.stored > 5000 && cd.gap > 0, "{cd:?}");
    for &(id, _) in &ids {
        same(&view(&disk, id), &view(&reference, id), &format!("series {} at the end", id.0));
    }
    assert_eq!(disk.mem_points_counted(), disk.mem_points_walk());
}

/// Buffered points are in the store's counters and files: they survive a close and reopen.
#[test]
fn buffered_live_points_survive_a_close_and_are_counted() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("db");
    let ids;
    let before;
    {
        let s = DiskStore::open(&dir, config()).expect("open");
        ids = series(&s, 2, 3);
        let mut c = WriteCounts::default();
        for i in 0..5i64 {
            let row: Vec<_> = ids.iter().enumerate().filter(|(_, &(_, ue))| (T0 + i) % ue == 0).map(|(k, &(id, _))| (id, T0 + i, value(i, k))).collect();
            s.write_many(&row, &mut c).expect("write_many");
        }
        assert_eq!(s.stats().points_written, c.stored);
        assert_eq!(s.stats().tiers[0].points, c.stored, "buffered points count as tier-0 points held");
        assert_eq!(s.mem_points_counted(), s.mem_points_walk());
        before = ids.iter().map(|&(id, _)| view(&s, id)).collect::<Vec<_>>();
        assert!(before.iter().all(|v| !v[0].ends_with("[]")), "every series shows its points");
    }
    let s = DiskStore::open(&dir, config()).expect("reopen");
    assert_eq!(series(&s, 2, 3), ids);
    let after: Vec<_> = ids.iter().map(|&(id, _)| view(&s, id)).collect();
    assert_eq!(before, after);
}

fn crash_series(s: &DiskStore) -> Vec<SeriesId> {
    series(s, 1, 10).into_iter().map(|(id, _)| id).collect()
}

/// The child: runs only when re-executed with the env var set. Live rows, one batch a step.
#[test]
fn live_crash_child_writer() {
    let Ok(dir) = std::env::var(ENV) else { return };
    let s = DiskStore::open(&dir, config()).expect("child open");
    let ids = crash_series(&s);
    let started = Instant::now();
    let mut c = WriteCounts::default();
    for i in 0..1_000_000i64 {
        let row: Vec<_> = ids.iter().enumerate().map(|(k, &id)| (id, T0 + i, value(i, k))).collect();
        s.write_many(&row, &mut c).expect("child write_many");
        if i % 1500 == 1499 {
            s.checkpoint().expect("child checkpoint");
        }
        if i % 100 == 0 {
            println!("{i}");
        }
        if started.elapsed() > Duration::from_secs(60) {
            break;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

#[test]
fn kill_9_during_live_rows_loses_only_the_last_seconds() {
    if std::env::var(ENV).is_ok() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("db");
    // everything up to `mark` was accepted; the child writes on for five flush intervals
    let grace = Duration::from_secs(u64::from(config().flush_interval_secs) * 5);
    let mark = crash_common::run_and_kill("live_crash_child_writer", ENV, &dir, 4000, grace);

    let s = DiskStore::open(&dir, config()).expect("reopen after kill -9");
    let ids = crash_series(&s);
    let cfg = config();
    for (k, &id) in ids.iter().enumerate() {
        let mut pts = Vec::new();
        s.read(id, 0, T0, T0 + 2_000_000, &mut pts).expect("read");
        assert!(pts.len() as i64 > mark, "series {k}: {} points, expected more than {mark}", pts.len());
        for (i, p) in pts.iter().enumerate() {
            assert_eq!(p.time, T0 + i as i64, "series {k}: hole");
            assert_eq!(p.sum, value(i as i64, k).value(), "series {k} at {i}");
        }
        // upper tiers count every surviving tier-0 point once
        for tier in 1..3 {
            let mut up = Vec::new();
            s.read(id, tier, T0, T0 + 2_000_000, &mut up).expect("read");
            let w = cfg.tier_width(tier, 1);
            let last_t0 = pts.last().map_or(T0, |p| p.time);
            assert!(!up.is_empty(), "series {k} tier {tier} is empty");
            for a in &up {
                if a.time + 1 > last_t0 {
                    continue; // the window the crash cut
                }
                let want = pts.iter().filter(|p| tier_slot(p.time, 1, w) == a.time).count();
                assert_eq!(a.count as usize, want, "series {k} tier {tier} slot {}", a.time);
            }
        }
    }
}

/// A chart whose update every changes while its series hold buffered points: they stay on the
/// grid they were written on.
#[test]
fn an_update_every_change_keeps_the_buffered_points_on_their_grid() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let disk = DiskStore::open(tmp.path().join("db"), config()).expect("open");
    let reference = DiskStore::open(tmp.path().join("reference"), config()).expect("open");
    let mut views = Vec::new();
    for (k, s) in [&disk, &reference].into_iter().enumerate() {
        let h = s.put_host(&HostMeta { guid: "ue".into(), hostname: "ue".into(), update_every: 1, ..Default::default() }).expect("host");
        let meta = |ue| ChartMeta { id: "ue.c".into(), name: "ue.c".into(), update_every: ue, ..Default::default() };
        let c = s.put_chart(h, &meta(1)).expect("chart");
        let ids: Vec<SeriesId> = (0..3)
            .map(|d| s.put_dimension(c, &DimMeta { id: format!("d{d}"), name: format!("d{d}"), multiplier: 1, divisor: 1, ..Default::default() }).expect("dim"))
            .collect();
        let mut counts = WriteCounts::default();
        let mut put = |t: i64| {
            let row: Vec<_> = ids.iter().enumerate().map(|(d, &id)| (id, t, value(t - T0, d))).collect();
            if k == 0 {
                s.write_many(&row, &mut counts).expect("write_many");
            } else {
                for (id, t, v) in row {
                    counts.add(s.write(id, t, v).expect("write"));
                }
            }
        };
        for i in 0..7 {
            put(T0 + i);
        }
        s.put_chart(h, &meta(2)).expect("chart again");
        for i in 4..12 {
            put(T0 + 2 * i);
        }
        views.push((counts, ids.iter().map(|&id| view(s, id)).collect::<Vec<_>>()));
    }
    assert_eq!(views[0].0, views[1].0, "outcomes");
    assert!(views[0].0.stored >= 3 * 14, "{:?}", views[0].0);
    for (a, b) in views[0].1.iter().zip(&views[1].1) {
        same(a, b, "after the update every change");
    }
}
