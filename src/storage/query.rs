//! Query helpers shared by every [`Store`]: Netdata's tier choice and row grouping
//! (`netdata-values.md` §4.3, §4.5). The HTTP layer computes the window and row times (§4.2)
//! and calls these.

use super::{SeriesId, Store, TierPoint};
use crate::model::UnixTime;

/// How the points of one row are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grouping {
    Average,
    /// The value with the smallest absolute value (sign kept), like Netdata.
    Min,
    /// The value with the largest absolute value (sign kept), like Netdata.
    Max,
    Sum,
}

/// Netdata's tier choice for one series (§4.5): for each tier, the share of `[after, before]`
/// its retention covers, reduced in proportion when it has fewer points there than `points`;
/// the highest weight wins, ties go to the higher tier. Tier 0 if nothing is stored.
pub fn best_tier(
    store: &dyn Store,
    id: SeriesId,
    after: UnixTime,
    before: UnixTime,
    points: usize,
) -> usize {
    let cfg = store.config();
    let ue = store.series_update_every(id).unwrap_or(1);
    let duration = (before - after + 1).max(1);
    let mut best = (0usize, 0.0f64);
    for tier in 0..cfg.tiers.len() {
        let Some(r) = store.retention(id, tier) else {
            continue;
        };
        let width = cfg.tier_width(tier, ue);
        let covered = (before.min(r.last) - after.max(r.first - width + 1) + 1).max(0);
        if covered == 0 {
            continue;
        }
        let mut weight = covered as f64 / duration as f64;
        let have = covered / width;
        if points > 0 && (have as usize) < points {
            weight *= have as f64 / points as f64;
        }
        if weight >= best.1 {
            best = (tier, weight);
        }
    }
    best.0
}

/// Groups `points` (increasing time, of one tier) into `rows` rows: row `i` ends at
/// `first_end + i * span` and takes the points with time in `(end - span, end]`. Empty rows
/// are `None` (gaps stay gaps). Tier points (count > 1) contribute their average, min, max or
/// sum according to `g`.
pub fn group_rows(
    points: &[TierPoint],
    first_end: UnixTime,
    span: i64,
    rows: usize,
    g: Grouping,
) -> Vec<Option<f64>> {
    let span = span.max(1);
    let mut out: Vec<Option<f64>> = vec![None; rows];
    let mut n = vec![0u32; rows];
    for p in points {
        let off = p.time - (first_end - span + 1);
        if off < 0 {
            continue;
        }
        let row = (off / span) as usize;
        let Some(cell) = out.get_mut(row) else { break };
        let v = match g {
            Grouping::Average => p.sum / f64::from(p.count.max(1)),
            Grouping::Min => p.min,
            Grouping::Max => p.max,
            Grouping::Sum => p.sum,
        };
        *cell = Some(match (*cell, g) {
            (None, _) => v,
            (Some(a), Grouping::Average | Grouping::Sum) => a + v,
            (Some(a), Grouping::Min) => {
                if v.abs() < a.abs() {
                    v
                } else {
                    a
                }
            }
            (Some(a), Grouping::Max) => {
                if v.abs() > a.abs() {
                    v
                } else {
                    a
                }
            }
        });
        n[row] += 1;
    }
    if g == Grouping::Average {
        for (c, k) in out.iter_mut().zip(n) {
            if let Some(v) = c {
                *v /= f64::from(k.max(1));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChartMeta, DimMeta, HostMeta};
    use crate::storage::mem::MemStore;
    use crate::storage::{StorageNumber, StoreConfig};

    fn pt(time: i64, v: f64) -> TierPoint {
        TierPoint {
            time,
            sum: v,
            min: v,
            max: v,
            count: 1,
            reset: false,
            anomalous: 0,
        }
    }

    #[test]
    fn grouping_like_netdata() {
        let pts = [pt(1, -300.0), pt(2, -330.0), pt(3, -360.0), pt(5, 4.0)];
        assert_eq!(
            group_rows(&pts, 3, 3, 2, Grouping::Min),
            vec![Some(-300.0), Some(4.0)]
        );
        assert_eq!(
            group_rows(&pts, 3, 3, 2, Grouping::Max),
            vec![Some(-360.0), Some(4.0)]
        );
        assert_eq!(
            group_rows(&pts, 3, 3, 2, Grouping::Sum),
            vec![Some(-990.0), Some(4.0)]
        );
        assert_eq!(
            group_rows(&pts, 3, 3, 3, Grouping::Average),
            vec![Some(-330.0), Some(4.0), None]
        );
    }

    #[test]
    fn tier_choice_prefers_enough_points_then_the_higher_tier() {
        let s = MemStore::new(StoreConfig::default());
        let h = s
            .put_host(&HostMeta {
                guid: "g".into(),
                ..Default::default()
            })
            .expect("host");
        let c = s
            .put_chart(
                h,
                &ChartMeta {
                    id: "a.b".into(),
                    update_every: 1,
                    ..Default::default()
                },
            )
            .expect("chart");
        let d = s
            .put_dimension(
                c,
                &DimMeta {
                    id: "x".into(),
                    ..Default::default()
                },
            )
            .expect("dim");
        let t0 = 1_700_000_000;
        for t in t0..t0 + 10_000 {
            s.write(d, t, StorageNumber::pack(1.0, 0)).expect("write");
        }
        // 6000 s at 10 points: tier 1 has 100 points there, ties with tier 0 -> tier 1 (lab T)
        assert_eq!(best_tier(&s, d, t0 + 2000, t0 + 7999, 10), 1);
        // 600 points over 6000 s: tier 1 has only 100
        assert_eq!(best_tier(&s, d, t0 + 2000, t0 + 7999, 600), 0);
        // nothing stored there
        assert_eq!(best_tier(&s, d, t0 + 50_000, t0 + 60_000, 10), 0);
    }
}
