//! Beyond Netdata (issue 5): a parent fills holes in a host's history from its sibling parents.
//!
//! Netdata only appends after the receiver's last point, and only from whoever streams to it.
//! Our parents also look for *holes* (ranges without any stored point, e.g. our own downtime
//! while the child's retention was too short to cover it) and ask the siblings that are our
//! daemons for exactly those ranges, over HTTP: `GET /api/v1/replicate?host=<guid>&chart=<id>
//! &after=<s>&before=<s>` answers with the same lines as a replication reply (`RBEGIN`, `RBEGIN
//! ''` + `RSET`s, `REND false`), built by [`crate::replication_out::answer_range`]. The
//! points are stored as they are (packed storage numbers, written straight into the holes):
//! no collection state and no chart clock is touched, and the store never overwrites a point.
//!
//! Pure: reading/writing the store only; the daemon does the HTTP.

use std::collections::HashMap;

use crate::model::UnixTime;
use crate::proto::command::Command;
use crate::storage::number::FLAG_RESET;
use crate::storage::{SeriesId, StorageNumber, Store, StoreError, TierPoint, WriteOutcome};

/// Most holes reported per chart (the oldest first).
pub const MAX_HOLES: usize = 64;

/// Holes of a chart within `[from, to]`: ranges `(after, before]` (after exclusive, like a
/// `REPLAY_CHART`) on the `ue` grid where `series` (the chart's first dimension, a proxy for
/// the chart) has no point: between points, and with `leading` also before its first point
/// (from `from`). The tail after the last point is the normal replication's job and is not
/// reported.
pub fn holes(store: &dyn Store, series: SeriesId, ue: i64, from: UnixTime, to: UnixTime, leading: bool) -> Result<Vec<(UnixTime, UnixTime)>, StoreError> {
    let ue = ue.max(1);
    let mut out = Vec::new();
    let mut pts: Vec<TierPoint> = Vec::new();
    // Read in windows of a day of points at most.
    let window = 86_400 * ue;
    let mut prev: Option<UnixTime> = None;
    let mut start = from;
    while start <= to && out.len() < MAX_HOLES {
        let end = start.saturating_add(window - 1).min(to);
        pts.clear();
        store.read(series, 0, start, end, &mut pts)?;
        for p in &pts {
            let gap_after = match prev {
                Some(t) => t,
                // Before the first point: everything from `from` on.
                None if leading => from - from.rem_euclid(ue) - ue,
                None => p.time - ue,
            };
            if p.time - gap_after > ue && p.time - ue > gap_after {
                out.push((gap_after, p.time - ue));
                if out.len() >= MAX_HOLES {
                    break;
                }
            }
            prev = Some(p.time);
        }
        start = end + 1;
    }
    Ok(out)
}

/// Stores the points of a replication reply (`RBEGIN ''`/`RSET` lines; everything else is
/// ignored) into `series` by dimension id. Returns (points stored, points refused because a
/// point was already there or out of retention). Malformed lines are skipped.
pub fn apply_reply(store: &dyn Store, series: &HashMap<String, SeriesId>, text: &[u8]) -> Result<(usize, usize), StoreError> {
    let (mut stored, mut refused) = (0, 0);
    let mut at: Option<UnixTime> = None;
    for line in text.split(|&b| b == b'\n') {
        let Ok(cmd) = Command::parse(line) else { continue };
        match cmd {
            Command::Rbegin(rb) => {
                at = rb.span.filter(|s| s.start < s.end && s.end > 0).map(|s| s.end);
            }
            Command::Rset(rs) => {
                let (Some(t), Some(&s)) = (at, series.get(rs.id.as_ref())) else { continue };
                if rs.is_empty_slot() {
                    continue;
                }
                let n = StorageNumber::pack(rs.value, if rs.is_reset() { FLAG_RESET } else { 0 });
                match store.write(s, t, n)? {
                    WriteOutcome::Stored => stored += 1,
                    WriteOutcome::Overlap | WriteOutcome::Expired => refused += 1,
                    WriteOutcome::Gap => {}
                }
            }
            Command::Rend(_) => at = None,
            _ => {}
        }
    }
    Ok((stored, refused))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChartMeta, DimMeta, HostMeta};
    use crate::replication_out::{answer_range, ReplyLimits};
    use crate::storage::mem::MemStore;

    const T: i64 = 1_800_000_000;

    fn one_series(store: &dyn Store) -> (SeriesId, DimMeta) {
        let h = store.put_host(&HostMeta { guid: "g".into(), hostname: "h".into(), ..Default::default() }).expect("host");
        let c = store.put_chart(h, &ChartMeta { id: "t.c".into(), name: "t.c".into(), update_every: 1, ..Default::default() }).expect("chart");
        let d = DimMeta { id: "a".into(), name: "a".into(), multiplier: 1, divisor: 1, ..Default::default() };
        (store.put_dimension(c, &d).expect("dim"), d)
    }

    #[test]
    fn holes_are_found_between_points_and_before_the_first() {
        let s = MemStore::new(Default::default());
        let (id, _) = one_series(&s);
        for t in (T..=T + 100).filter(|t| !(T + 40..T + 60).contains(t)) {
            s.write(id, t, StorageNumber::pack(1.0, 0)).expect("write");
        }
        let h = holes(&s, id, 1, T - 10, T + 200, true).expect("holes");
        assert_eq!(holes(&s, id, 1, T - 10, T + 200, false).expect("holes"), vec![(T + 39, T + 59)]);
        assert_eq!(h, vec![(T - 11, T - 1), (T + 39, T + 59)]);
        assert_eq!(holes(&s, id, 1, T, T + 200, true).expect("holes"), vec![(T + 39, T + 59)]);
    }

    #[test]
    fn a_sibling_reply_fills_exactly_the_hole() {
        let sibling = MemStore::new(Default::default());
        let (sid, dim) = one_series(&sibling);
        for t in T..=T + 100 {
            sibling.write(sid, t, StorageNumber::pack(t as f64 / 7.0, 0)).expect("write");
        }
        let ours = MemStore::new(Default::default());
        let (oid, _) = one_series(&ours);
        for t in (T..=T + 100).filter(|t| !(T + 40..T + 60).contains(t)) {
            ours.write(oid, t, StorageNumber::pack(1.0, 0)).expect("write");
        }
        let (a, b) = holes(&ours, oid, 1, T, T + 100, false).expect("holes")[0];
        let mut reply = Vec::new();
        answer_range(&sibling, "t.c", &[sid], std::slice::from_ref(&dim), 1, a, b, T + 200, ReplyLimits::default(), &mut reply);
        let map: HashMap<String, SeriesId> = [("a".to_string(), oid)].into();
        assert_eq!(apply_reply(&ours, &map, &reply).expect("apply"), (20, 0));
        assert!(holes(&ours, oid, 1, T, T + 100, false).expect("holes").is_empty());
        let mut p = Vec::new();
        ours.read(oid, 0, T + 45, T + 45, &mut p).expect("read");
        assert_eq!(p[0].sum, StorageNumber::pack((T + 45) as f64 / 7.0, 0).value());
        // Applying again changes nothing (no overwrite).
        assert_eq!(apply_reply(&ours, &map, &reply).expect("apply"), (0, 20));
    }
}
