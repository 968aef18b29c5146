//! `Store::write_many` (one lock per batch, upper-tier roll-ups done tier by tier after the
//! batch's tier-0 writes) stores exactly what `Store::write` point by point stores: same
//! outcomes, same points in every tier, same retention — including a series written several
//! times in one batch, back-fills behind the head, overlaps, gaps and page seals.

use ndcluster::model::{ChartMeta, DimMeta, HostMeta};
use ndcluster::storage::disk::DiskStore;
use ndcluster::storage::mem::MemStore;
use ndcluster::storage::number::StorageNumber;
use ndcluster::storage::*;

const T0: i64 = 1_700_000_000;

fn config() -> StoreConfig {
    let tier = |iterations| TierConfig { iterations, retention_bytes: 1 << 30, retention_secs: 0 };
    StoreConfig { tiers: vec![tier(1), tier(60), tier(60)], flush_interval_secs: 1 }
}

fn series(s: &dyn Store, charts: usize, dims: usize) -> Vec<SeriesId> {
    let h = s.put_host(&HostMeta { guid: "batch".into(), hostname: "batch".into(), update_every: 1, ..Default::default() }).expect("host");
    let mut out = Vec::new();
    for c in 0..charts {
        let ue = if c % 3 == 2 { 2 } else { 1 };
        let cid = s.put_chart(h, &ChartMeta { id: format!("b.c{c}"), name: format!("b.c{c}"), update_every: ue, ..Default::default() }).expect("chart");
        for d in 0..dims {
            out.push(s.put_dimension(cid, &DimMeta { id: format!("d{d}"), name: format!("d{d}"), multiplier: 1, divisor: 1, ..Default::default() }).expect("dim"));
        }
    }
    out
}

/// The batches: rows of every series at increasing times, every 7th second also a back-fill of
/// an older hole and an overlap, every 11th a gap; sometimes two seconds in one batch.
fn batches(ids: &[SeriesId], seconds: i64) -> Vec<Vec<(SeriesId, i64, StorageNumber)>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for i in 0..seconds {
        if i % 50 == 10 {
            continue; // a hole, back-filled later
        }
        for (k, id) in ids.iter().enumerate() {
            let t = T0 + i * 2; // on both the 1 s and the 2 s grid
            let v = if (i + k as i64) % 11 == 0 { StorageNumber::EMPTY } else { StorageNumber::pack(((i * 13 + k as i64 * 101) % 997) as f64 / 3.0, 0) };
            cur.push((*id, t, v));
            if i % 7 == 0 && i > 60 {
                let back = T0 + ((i / 50) * 50 - 40) * 2; // inside the hole of an earlier 50 s
                cur.push((*id, back, StorageNumber::pack(k as f64, 0)));
                cur.push((*id, t, StorageNumber::pack(1.0, 0))); // overlap with the point just written
            }
        }
        if i % 3 != 0 {
            out.push(std::mem::take(&mut cur));
        }
    }
    out.push(cur);
    out
}

fn dump(s: &dyn Store, ids: &[SeriesId]) -> Vec<(usize, Vec<TierPoint>, Option<Retention>)> {
    let mut out = Vec::new();
    for tier in 0..3 {
        for id in ids {
            let mut v = Vec::new();
            s.read(*id, tier, i64::MIN / 4, i64::MAX / 4, &mut v).expect("read");
            out.push((tier, v, s.retention(*id, tier)));
        }
    }
    out
}

fn compare(a: &dyn Store, b: &dyn Store) {
    let ia = series(a, 7, 9);
    let ib = series(b, 7, 9);
    assert_eq!(ia, ib);
    let mut ca = WriteCounts::default();
    let mut cb = WriteCounts::default();
    for batch in batches(&ia, 4000) {
        for &(id, t, v) in &batch {
            ca.add(a.write(id, t, v).expect("write"));
        }
        b.write_many(&batch, &mut cb).expect("write_many");
    }
    assert_eq!(ca, cb, "outcomes");
    assert!(ca.stored > 100_000 && ca.overlap > 0 && ca.gap > 0, "{ca:?}");
    let (da, db) = (dump(a, &ia), dump(b, &ib));
    for (x, y) in da.iter().zip(&db) {
        assert_eq!(x, y, "tier {} differs", x.0);
    }
    assert!(da.iter().any(|(t, v, _)| *t == 2 && !v.is_empty()), "tier 2 got points");
}

#[test]
fn write_many_equals_point_by_point_on_disk() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = DiskStore::open(tmp.path().join("a"), config()).expect("a");
    let b = DiskStore::open(tmp.path().join("b"), config()).expect("b");
    compare(&a, &b);
    assert_eq!(b.mem_points_counted(), b.mem_points_walk());
}

#[test]
fn write_many_equals_point_by_point_in_memory() {
    compare(&MemStore::new(config()), &MemStore::new(config()));
}

#[test]
fn write_many_stops_at_an_unknown_series_and_keeps_what_came_before() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let s = DiskStore::open(tmp.path().join("db"), config()).expect("open");
    let ids = series(&s, 1, 2);
    let batch = vec![(ids[0], T0, StorageNumber::pack(1.0, 0)), (SeriesId(999), T0, StorageNumber::pack(2.0, 0)), (ids[1], T0, StorageNumber::pack(3.0, 0))];
    let mut c = WriteCounts::default();
    assert!(matches!(s.write_many(&batch, &mut c), Err(StoreError::UnknownId { id: 999, .. })));
    assert_eq!(c.stored, 1);
    let mut v = Vec::new();
    s.read(ids[0], 1, i64::MIN / 4, i64::MAX / 4, &mut v).expect("read");
    assert_eq!(v.len(), 1, "the stored point was rolled up into tier 1");
    v.clear();
    s.read(ids[1], 0, i64::MIN / 4, i64::MAX / 4, &mut v).expect("read");
    assert!(v.is_empty());
}
