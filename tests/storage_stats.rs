//! `DiskStore::stats()` keeps its in-memory point counts incrementally (it runs every second for
//! self-monitoring, and a walk over 100,000 series showed up as 10 % of a loaded parent's CPU).
//! These tests drive every kind of mutation — head appends, page seals, back-fills behind the
//! head, direct upper-tier aggregates, overlaps, checkpoints, WAL replay on reopen — and compare
//! the counters with a full walk after each phase.

use ndcluster::model::{ChartMeta, DimMeta, HostMeta};
use ndcluster::storage::disk::DiskStore;
use ndcluster::storage::number::StorageNumber;
use ndcluster::storage::*;

const T0: i64 = 1_700_000_000;

fn config() -> StoreConfig {
    let tier = |iterations| TierConfig { iterations, retention_bytes: 1 << 30, retention_secs: 0 };
    StoreConfig { tiers: vec![tier(1), tier(10), tier(6)], flush_interval_secs: 1 }
}

fn series(s: &DiskStore, n: usize) -> Vec<SeriesId> {
    let h = s.put_host(&HostMeta { guid: "stats".into(), hostname: "stats".into(), update_every: 1, ..Default::default() }).expect("host");
    let c = s.put_chart(h, &ChartMeta { id: "stats.test".into(), name: "stats.test".into(), update_every: 1, ..Default::default() }).expect("chart");
    (0..n).map(|k| s.put_dimension(c, &DimMeta { id: format!("d{k}"), name: format!("d{k}"), multiplier: 1, divisor: 1, ..Default::default() }).expect("dim")).collect()
}

fn check(s: &DiskStore, phase: &str) {
    let walk = s.mem_points_walk();
    assert_eq!(s.mem_points_counted(), walk, "{phase}: counted in-memory points differ from a walk");
    // stats() = on-disk points + the counters
    let st = s.stats();
    assert_eq!(st.tiers.len(), walk.len(), "{phase}");
}

#[test]
fn in_memory_point_counters_match_a_full_walk_through_every_mutation() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("db");
    let v = |i: i64, k: usize| StorageNumber::pack(((i * 31 + k as i64 * 977) % 4001) as f64 / 7.0, 0);
    {
        let s = DiskStore::open(&dir, config()).expect("open");
        let ids = series(&s, 6);
        check(&s, "empty");
        // Head appends, long enough to seal tier-0 pages and roll up many upper slots; leave
        // holes every 500 s.
        for i in 0..6000i64 {
            if i % 500 < 40 {
                continue;
            }
            for (k, id) in ids.iter().enumerate() {
                s.write(*id, T0 + i, v(i, k)).expect("write");
            }
        }
        check(&s, "appends");
        // Back-fill into the holes (behind the head): back maps and upper-tier back slots.
        for i in (0..6000i64).filter(|i| i % 500 < 40) {
            for (k, id) in ids.iter().enumerate().take(3) {
                assert_eq!(s.write(*id, T0 + i, v(i, k)).expect("backfill"), WriteOutcome::Stored);
            }
        }
        check(&s, "backfill");
        // Overlaps change nothing.
        for (k, id) in ids.iter().enumerate() {
            assert_eq!(s.write(*id, T0 + 100, v(100, k)).expect("overlap"), WriteOutcome::Overlap);
        }
        check(&s, "overlaps");
        // Direct upper-tier aggregates: before the first point (new slots) and on an existing slot.
        for id in &ids[3..] {
            for j in 1..20i64 {
                let p = TierPoint { time: T0 - 600 * j, sum: 5.0, min: 1.0, max: 3.0, count: 2, anomalous: 0, reset: false };
                s.write_aggregate(*id, 1, p).expect("aggregate");
            }
        }
        check(&s, "aggregates");
        s.checkpoint().expect("checkpoint");
        check(&s, "checkpoint");
        for i in 6000..6300i64 {
            for (k, id) in ids.iter().enumerate() {
                s.write(*id, T0 + i, v(i, k)).expect("write");
            }
        }
        check(&s, "after checkpoint");
        s.flush().expect("flush");
    }
    // Reopen: the WAL replay rebuilds the in-memory state and its counters.
    let s = DiskStore::open(&dir, config()).expect("reopen");
    check(&s, "reopen");
    let before = s.stats();
    let ids = series(&s, 6);
    for i in 6300..6400i64 {
        for (k, id) in ids.iter().enumerate() {
            s.write(*id, T0 + i, v(i, k)).expect("write");
        }
    }
    check(&s, "reopen + appends");
    assert_eq!(s.stats().tiers[0].points, before.tiers[0].points + 600, "tier-0 points grow by what was written");
}
