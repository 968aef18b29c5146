//! `kill -9` during writes: a child process (this test binary re-executed) writes
//! continuously and checkpoints now and then; it is SIGKILLed, the store is reopened and
//! every point accepted more than `flush_interval_secs` before the kill must be there, with
//! upper tiers counting each tier-0 point exactly once.

mod crash_common;

use std::time::{Duration, Instant};

use ndcluster::model::{ChartMeta, DimMeta, HostMeta};
use ndcluster::storage::disk::DiskStore;
use ndcluster::storage::number::StorageNumber;
use ndcluster::storage::*;

const T0: i64 = 1_700_000_000;
const SERIES: usize = 10;
const ENV: &str = "NDCLUSTER_STORAGE_CRASH_CHILD";

fn config() -> StoreConfig {
    let tier = |iterations| TierConfig {
        iterations,
        retention_bytes: 1 << 30,
        retention_secs: 0,
    };
    StoreConfig {
        tiers: vec![tier(1), tier(10), tier(10)],
        flush_interval_secs: 1,
    }
}

fn value(i: i64, k: usize) -> StorageNumber {
    StorageNumber::pack(((i * 37 + k as i64 * 1000) % 5003) as f64 / 10.0, 0)
}

fn open_series(s: &DiskStore) -> Vec<SeriesId> {
    let h = s
        .put_host(&HostMeta {
            guid: "crash".into(),
            hostname: "crash".into(),
            update_every: 1,
            ..Default::default()
        })
        .expect("host");
    let c = s
        .put_chart(
            h,
            &ChartMeta {
                id: "crash.test".into(),
                name: "crash.test".into(),
                update_every: 1,
                ..Default::default()
            },
        )
        .expect("chart");
    (0..SERIES)
        .map(|k| {
            s.put_dimension(
                c,
                &DimMeta {
                    id: format!("d{k}"),
                    name: format!("d{k}"),
                    multiplier: 1,
                    divisor: 1,
                    ..Default::default()
                },
            )
            .expect("dim")
        })
        .collect()
}

/// The child: runs only when re-executed with the env var set.
#[test]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(ENV) else { return };
    let s = DiskStore::open(&dir, config()).expect("child open");
    let ids = open_series(&s);
    let started = Instant::now();
    for i in 0..1_000_000i64 {
        for (k, &id) in ids.iter().enumerate() {
            s.write(id, T0 + i, value(i, k)).expect("child write");
        }
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
fn kill_9_during_writes_loses_only_the_last_seconds() {
    if std::env::var(ENV).is_ok() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("db");
    // the durability bound is `flush_interval_secs`: the child writes on for five times that
    // (the machine may be loaded) after `mark`, which it had reached
    let grace = Duration::from_secs(u64::from(config().flush_interval_secs) * 5);
    let mark = crash_common::run_and_kill("crash_child_writer", ENV, &dir, 4000, grace);

    let s = DiskStore::open(&dir, config()).expect("reopen after kill -9");
    // the data files the child wrote are of the current format (3) and none was set aside
    // (a record torn by the kill is cut, not taken for corruption)
    for k in 0..3 {
        for e in std::fs::read_dir(dir.join(format!("tier{k}"))).expect("tier dir").flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            assert!(name.ends_with(".ndd"), "tier {k}: {name} after the kill");
            let b = std::fs::read(e.path()).expect("read data file");
            assert_eq!(b.get(8..12), Some(&3u32.to_le_bytes()[..]), "tier {k}: {name} format");
        }
    }
    let ids = open_series(&s);
    let cfg = config();
    for (k, &id) in ids.iter().enumerate() {
        let mut pts = Vec::new();
        s.read(id, 0, T0, T0 + 2_000_000, &mut pts).expect("read");
        assert!(
            pts.len() as i64 > mark,
            "series {k}: {} points, expected more than {mark}",
            pts.len()
        );
        for (i, p) in pts.iter().enumerate() {
            assert_eq!(p.time, T0 + i as i64, "series {k}: hole");
            assert_eq!(p.sum, value(i as i64, k).value(), "series {k} at {i}");
        }
        // tier 1 / 2 count every surviving tier-0 point once
        for tier in 1..3 {
            let mut up = Vec::new();
            s.read(id, tier, T0, T0 + 2_000_000, &mut up).expect("read");
            let w = cfg.tier_width(tier, 1);
            let last_t0 = pts.last().map_or(T0, |p| p.time);
            for a in &up {
                let want: Vec<_> = pts
                    .iter()
                    .filter(|p| tier_slot(p.time, 1, w) == a.time)
                    .collect();
                if a.time + 1 > last_t0 {
                    continue; // the window the crash cut
                }
                assert_eq!(
                    a.count as usize,
                    want.len(),
                    "series {k} tier {tier} slot {}",
                    a.time
                );
                let sum: f64 = want.iter().map(|p| p.sum).sum();
                assert!(
                    (a.sum - sum).abs() <= 1e-4 * sum.abs().max(1.0),
                    "series {k} tier {tier} slot {}: {} vs {sum}",
                    a.time,
                    a.sum
                );
            }
        }
    }
}

#[test]
fn wal_is_written_often_enough_for_the_kill_9_bound() {
    use ndcluster::storage::disk::wal_write_period;
    for secs in 1..=10u32 {
        let p = wal_write_period(secs);
        let interval = Duration::from_secs(u64::from(secs));
        // A second of margin for a late wake-up, or half the interval when that is more.
        assert!(p + Duration::from_secs(1) <= interval || p <= interval / 2, "{secs} s: {p:?}");
        assert!(p >= interval / 2 && p >= Duration::from_millis(500), "{secs} s: {p:?}");
    }
    assert_eq!(wal_write_period(5), Duration::from_secs(4));
    assert_eq!(wal_write_period(1), Duration::from_millis(500));
    assert_eq!(wal_write_period(0), Duration::from_millis(500));
}
