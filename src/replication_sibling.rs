//! Beyond Netdata (issue 5): a parent fills holes in a host's history from its sibling parents.
//!
//! Netdata only appends after the receiver's last point, and only from whoever streams to it.
//! Our parents also look for *missing ranges* (holes between points, history before our first
//! point, and for hosts nobody streams to us any more the tail) and ask the siblings that are
//! our daemons for exactly those ranges, over HTTP (the daemon does the I/O; this module is
//! pure: store reads and writes, encoding and parsing):
//!
//! * **Inventory** — `GET /api/v1/replicate/inventory` answers a [`NodeInventory`] (hosts with
//!   per-tier first/last), `…/inventory?host=<guid>` a [`HostInventory`] (host metadata, charts
//!   with their dimensions and per-tier first/last). A parent creates the hosts, charts and
//!   dimensions it lacks ([`ensure_host`], [`ensure_chart`]) — archived, nobody collects them
//!   here — and backfills them.
//! * **Tier 0** — `GET /api/v1/replicate?host=<guid>&chart=<id>&after=<s>&before=<s>` answers
//!   the same lines as a replication reply (`RBEGIN`, `RBEGIN ''` + `RSET`s, `REND false`),
//!   built by [`crate::replication_out::answer_range`]; [`apply_reply`] stores the points as
//!   they are (packed storage numbers, straight into the holes): no collection state and no
//!   chart clock is touched.
//! * **Tiers ≥ 1** — the same request with `&tier=N` answers aggregates as newline-delimited
//!   JSON ([`answer_tier`]): a [`TierHeader`] object, then one array per point
//!   `["<dim id>", time, sum, min, max, count, anomalous, reset]` (count and anomalous in
//!   tier-0 values; `time` is the slot of [`crate::storage::tier_slot`]). Only our daemons
//!   speak it. [`apply_aggregates`] checks the slot width matches ours, bounds every field and
//!   stores them with [`Store::write_aggregate`].
//!
//! **Tiers and double counting.** The store rolls every tier-0 point, also one written behind
//! the head, into the upper tiers' slots. So a sibling's aggregate and our own roll-up must
//! never both count the same tier-0 value:
//! * tier 0 is filled first; upper tiers are asked only for slots whose whole tier-0 window
//!   lies before our first tier-0 point, or, when we hold none, before the window tier 0 is
//!   replicated in ([`upper_limit`]) — history we do not get at tier 0, where no child's
//!   replication writes either — and a slot we already hold is refused by the store (never
//!   overwritten);
//! * a tier-0 point is written only where every upper tier is *consistent* with tier 0: the
//!   slot's `count` equals the tier-0 points stored in its window ([`blocked`]). A slot that
//!   holds more (a sibling's aggregate, or a window whose tier-0 points retention dropped)
//!   blocks tier-0 writes into its window, as they would be counted twice.
//!
//! **Invariant:** nothing stored is ever overwritten or double counted; every scan and every
//! answer is bounded ([`MAX_HOLES`], windows of at most a day of points, `max_points`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::model::{ChartMeta, DimMeta, HostMeta, UnixTime};
use crate::proto::command::Command;
use crate::storage::number::FLAG_RESET;
use crate::storage::{tier_slot, ChartId, HostId, SeriesId, StorageNumber, Store, StoreError, TierPoint, WriteOutcome};

/// Most missing ranges reported per series (and per chart after the union), the oldest first.
pub const MAX_HOLES: usize = 64;
/// Most hosts taken from one inventory.
pub const MAX_HOSTS: usize = 10_000;
/// Most charts taken from one host's inventory.
pub const MAX_CHARTS: usize = 50_000;
/// Most dimensions taken from one chart's inventory.
pub const MAX_DIMS: usize = 10_000;
/// Most windows (a day of points each) one [`missing`] scan reads.
pub const MAX_WINDOWS: usize = 4096;
/// Latest time (seconds since the epoch) any scan or answer considers; times from a sibling are
/// clamped to `[0, MAX_TIME]` before any grid arithmetic.
pub const MAX_TIME: UnixTime = 1 << 40;
/// Widest grid step considered (a slot of the widest tier of the slowest chart is far less).
const MAX_STEP: i64 = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum SiblingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("sibling answer for chart {chart} tier {tier}: {reason}")]
    BadAnswer { chart: String, tier: usize, reason: String },
    #[error("chart {chart} tier {tier}: the sibling's slots are {theirs} s wide, ours {ours} s (different [db] tier iterations); not replicated")]
    WidthMismatch { chart: String, tier: usize, ours: i64, theirs: i64 },
}

/// Which ends of the scanned range count as missing when the series has no point there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Edges {
    /// Before the series' first point (from `from`).
    pub leading: bool,
    /// After the series' last point (up to `to`); the normal replication's job for live hosts.
    pub trailing: bool,
}

fn ceil_to(t: i64, step: i64) -> i64 {
    t.div_euclid(step) * step + if t.rem_euclid(step) == 0 { 0 } else { step }
}

fn floor_to(t: i64, step: i64) -> i64 {
    t.div_euclid(step) * step
}

/// Missing ranges of `series` in `tier` within `[from, to]`, on the grid of `step` seconds
/// (the chart's `update_every` for tier 0, the tier's slot width above): ranges `(after,
/// before]` (after exclusive, like a `REPLAY_CHART`) with no point, between points and, per
/// `edges`, before the first and after the last point of the series (an end of the range with
/// stored points beyond it is a hole, whatever `edges` says). An empty series is missing
/// entirely when either edge is asked. At most [`MAX_HOLES`], oldest first; reads at most a day of points
/// at a time.
pub fn missing(store: &dyn Store, series: SeriesId, tier: usize, step: i64, from: UnixTime, to: UnixTime, edges: Edges) -> Result<Vec<(UnixTime, UnixTime)>, StoreError> {
    let step = step.clamp(1, MAX_STEP);
    // Times from a sibling are bounded here too: no grid arithmetic overflows.
    let (from, to) = (from.clamp(0, MAX_TIME), to.clamp(0, MAX_TIME));
    let mut out = Vec::new();
    if from > to {
        return Ok(out);
    }
    let (c0, cn) = (ceil_to(from, step), floor_to(to, step));
    if c0 > cn {
        return Ok(out);
    }
    // A range cut out of the middle of our history: its ends are holes, not edges.
    let ret = store.retention(series, tier);
    // With no point in the range: all of it is missing when it lies between points, or at an
    // asked edge (either one for an empty series).
    let empty_missing = match ret {
        None => edges.leading || edges.trailing,
        Some(r) => (edges.leading || r.first < c0) && (edges.trailing || r.last > cn),
    };
    let edges = Edges { leading: edges.leading || ret.is_some_and(|r| r.first < c0), trailing: edges.trailing || ret.is_some_and(|r| r.last > cn) };
    // Cheap first (tier 0): when the stored points between our first and last one in the
    // range are exactly as many as grid steps, only the edges can be missing.
    if tier == 0 {
        if let Some(r) = ret {
            let (lo, hi) = (ceil_to(r.first.max(c0), step), floor_to(r.last.min(cn), step));
            let full = lo > hi || store.aggregate(series, 0, lo, hi)?.is_some_and(|a| i64::from(a.count) == (hi - lo) / step + 1);
            if full && lo <= hi {
                if edges.leading && lo > c0 {
                    out.push((c0 - step, lo - step));
                }
                if edges.trailing && cn > hi {
                    out.push((hi, cn));
                }
                return Ok(out);
            }
        }
    }
    let window = 86_400i64.saturating_mul(step);
    let mut pts: Vec<TierPoint> = Vec::new();
    let mut prev: Option<UnixTime> = None;
    // Only the stored part of the range is read (nothing is stored outside it), in at most
    // MAX_WINDOWS windows; the rest of a longer range is left for a later scan.
    let (mut start, scan_end) = match ret {
        Some(r) => (c0.max(floor_to(r.first, step)), cn.min(r.last)),
        None => (1, 0),
    };
    let mut windows = 0;
    let mut complete = true;
    'scan: while start <= scan_end {
        if windows >= MAX_WINDOWS {
            complete = false;
            break;
        }
        windows += 1;
        let end = start.saturating_add(window - 1).min(scan_end);
        pts.clear();
        store.read(series, tier, start, end, &mut pts)?;
        for p in &pts {
            let gap_after = match prev {
                Some(t) => Some(t),
                None if edges.leading => Some(c0 - step),
                None => None,
            };
            if let Some(a) = gap_after {
                if p.time - a > step {
                    out.push((a, p.time - step));
                    if out.len() >= MAX_HOLES {
                        break 'scan;
                    }
                }
            }
            prev = Some(p.time.max(prev.unwrap_or(i64::MIN)));
        }
        if end >= scan_end {
            break;
        }
        start = end + 1;
    }
    if out.len() < MAX_HOLES && complete {
        match prev {
            Some(t) if edges.trailing && cn > t => out.push((t, cn)),
            None if empty_missing => out.push((c0 - step, cn)),
            _ => {}
        }
    }
    Ok(out)
}

/// Holes of a chart within `[from, to]` on the `ue` grid where `series` has no tier-0 point:
/// between points, and with `leading` also before its first point (from `from`). The tail
/// after the last point is not reported. See [`missing`].
pub fn holes(store: &dyn Store, series: SeriesId, ue: i64, from: UnixTime, to: UnixTime, leading: bool) -> Result<Vec<(UnixTime, UnixTime)>, StoreError> {
    missing(store, series, 0, ue, from, to, Edges { leading, trailing: false })
}

/// Sorted union of `(after, before]` ranges (overlapping or touching ranges merge).
pub fn union(mut ranges: Vec<(UnixTime, UnixTime)>) -> Vec<(UnixTime, UnixTime)> {
    ranges.retain(|(a, b)| a < b);
    ranges.sort_unstable();
    let mut out: Vec<(UnixTime, UnixTime)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// `ranges` cut to `(lo, hi]`.
pub fn clip(ranges: &[(UnixTime, UnixTime)], lo: UnixTime, hi: UnixTime) -> Vec<(UnixTime, UnixTime)> {
    ranges.iter().map(|&(a, b)| (a.max(lo), b.min(hi))).filter(|(a, b)| a < b).collect()
}

/// Tier-0 ranges `(after, before]` within `(after, before]` where writing a tier-0 point of
/// `series` would be counted twice: some upper-tier slot there holds more (or fewer) values
/// than the tier-0 points stored in its window — a sibling's aggregate, or a window whose
/// tier-0 points retention has dropped. Writing there is refused by [`apply_reply`].
pub fn blocked(store: &dyn Store, series: SeriesId, after: UnixTime, before: UnixTime) -> Result<Vec<(UnixTime, UnixTime)>, StoreError> {
    let Some(ue) = store.series_update_every(series) else {
        return Err(StoreError::UnknownId { kind: "series", id: series.0 });
    };
    let uei = i64::from(ue.max(1));
    let cfg = store.config();
    let mut out = Vec::new();
    if after >= before {
        return Ok(out);
    }
    let mut pts = Vec::new();
    for k in 1..cfg.tiers.len() {
        let width = cfg.tier_width(k, ue);
        if width <= uei {
            continue;
        }
        // From the slot of the first time after `after`, on the grid or not (with ue > 1 the
        // slot of `after + ue` can be one too late).
        let (lo, hi) = (tier_slot(after.saturating_add(1), ue, width), tier_slot(before, ue, width));
        pts.clear();
        store.read(series, k, lo, hi, &mut pts)?;
        for p in &pts {
            // The slot stamped T holds tier-0 points T - width + ue < t <= T + ue.
            let (wa, wb) = (p.time - width + uei, p.time + uei);
            let n0 = store.aggregate(series, 0, wa + 1, wb)?.map_or(0, |a| a.count);
            if n0 != p.count {
                out.push((wa, wb));
            }
        }
    }
    Ok(union(out))
}

fn inside(ranges: &[(UnixTime, UnixTime)], t: UnixTime) -> bool {
    ranges.iter().any(|&(a, b)| t > a && t <= b)
}

/// What applying a sibling's answer did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Points (tier 0) or aggregates (tiers ≥ 1) stored.
    pub stored: usize,
    /// Refused by the store: a point was already there, or out of our retention.
    pub refused: usize,
    /// Not written because it would be counted twice ([`blocked`], [`upper_limit`]) or was
    /// malformed.
    pub skipped: usize,
    /// How far the answer got (`REND`'s `before`, the header's `covered_to`): ask again from
    /// there.
    pub covered_to: Option<UnixTime>,
}

/// What a tier-0 request asked: the points of an answer must lie in `(after, before]`, on the
/// `update_every` grid and not later than `now` (+ [`FUTURE_TOLERANCE`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Asked {
    pub after: UnixTime,
    pub before: UnixTime,
    pub update_every: u32,
    pub now: UnixTime,
}

/// Seconds a sibling's point may lie after our `now` (clock skew).
pub const FUTURE_TOLERANCE: i64 = 60;

impl Asked {
    fn fits(&self, t: UnixTime) -> bool {
        let ue = i64::from(self.update_every.max(1));
        t > self.after && t <= self.before && t.rem_euclid(ue) == 0 && t <= self.now.saturating_add(FUTURE_TOLERANCE)
    }
}

/// Stores the points of a replication reply (`RBEGIN ''`/`RSET` lines; everything else but
/// `REND` is ignored) into `series` by dimension id, except where [`blocked`]. Malformed lines
/// and points outside what was `asked` (see [`Asked`]) are skipped.
pub fn apply_reply(store: &dyn Store, series: &HashMap<String, SeriesId>, asked: Asked, text: &[u8]) -> Result<Applied, StoreError> {
    let mut res = Applied::default();
    let mut at: Option<UnixTime> = None;
    let mut points: Vec<(SeriesId, UnixTime, StorageNumber)> = Vec::new();
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
                if !asked.fits(t) {
                    res.skipped += 1;
                    continue;
                }
                points.push((s, t, StorageNumber::pack(rs.value, if rs.is_reset() { FLAG_RESET } else { 0 })));
            }
            Command::Rend(r) => {
                at = None;
                res.covered_to = Some(r.before);
            }
            _ => {}
        }
    }
    let mut guard: HashMap<SeriesId, Vec<(UnixTime, UnixTime)>> = HashMap::new();
    if let (Some(lo), Some(hi)) = (points.iter().map(|p| p.1).min(), points.iter().map(|p| p.1).max()) {
        for &(s, _, _) in &points {
            if let std::collections::hash_map::Entry::Vacant(e) = guard.entry(s) {
                e.insert(blocked(store, s, lo.saturating_sub(1), hi)?);
            }
        }
    }
    for (s, t, n) in points {
        if guard.get(&s).is_some_and(|b| inside(b, t)) {
            res.skipped += 1;
            continue;
        }
        match store.write(s, t, n)? {
            WriteOutcome::Stored => res.stored += 1,
            WriteOutcome::Overlap | WriteOutcome::Expired => res.refused += 1,
            WriteOutcome::Gap => {}
        }
    }
    Ok(res)
}

/// First line of a tier answer (`GET /api/v1/replicate?…&tier=N`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TierHeader {
    pub chart: String,
    pub tier: usize,
    /// Seconds covered by one point of this tier for this chart.
    pub width: i64,
    pub after: UnixTime,
    pub before: UnixTime,
    /// The answer holds every point of `(after, covered_to]`; ask again from there.
    pub covered_to: UnixTime,
}

/// One aggregate on the wire: `[dim id, time, sum, min, max, count, anomalous, reset]`.
type AggLine<'a> = (std::borrow::Cow<'a, str>, i64, f64, f64, f64, u32, u32, bool);

/// Our stored points of tier `tier` >= 1 of a chart in `(after, before]`, as
/// newline-delimited JSON (see the module documentation). At most `max_points` points: the
/// range is cut (at a slot boundary) so that every dimension fits, `covered_to` says where.
#[allow(clippy::too_many_arguments)]
pub fn answer_tier(store: &dyn Store, chart_id: &str, series: &[SeriesId], dims: &[DimMeta], tier: usize, ue: u32, after: UnixTime, before: UnixTime, max_points: usize, out: &mut Vec<u8>) -> Result<TierHeader, StoreError> {
    let width = store.config().tier_width(tier, ue).max(1);
    let per_dim = (max_points / series.len().max(1)).max(1) as i64;
    // Read only from just before the tier's first stored slot: a range starting long before it
    // is covered in one answer, not in many empty ones.
    let first = series.iter().filter_map(|s| store.retention(*s, tier)).map(|r| r.first).min();
    let from = match first {
        Some(f) => after.max(f.saturating_sub(width)).min(before),
        None => before,
    };
    let covered_to = if before > from { before.min(from.saturating_add(per_dim.saturating_mul(width))) } else { before.max(after) };
    let header = TierHeader { chart: chart_id.to_string(), tier, width, after, before, covered_to };
    out.extend_from_slice(serde_json::to_string(&header).unwrap_or_default().as_bytes());
    out.push(b'\n');
    let mut pts = Vec::new();
    for (s, d) in series.iter().zip(dims) {
        pts.clear();
        if covered_to > from {
            store.read(*s, tier, from + 1, covered_to, &mut pts)?;
        }
        for p in &pts {
            let line: AggLine = (d.id.as_str().into(), p.time, p.sum, p.min, p.max, p.count, p.anomalous, p.reset);
            if let Ok(js) = serde_json::to_string(&line) {
                out.extend_from_slice(js.as_bytes());
                out.push(b'\n');
            }
        }
    }
    Ok(header)
}

/// Stores a sibling's tier answer ([`answer_tier`]) into tier `tier` of our series (by
/// dimension id), except points `allowed` refuses (see [`upper_limit`]). The header must name
/// `tier` and our slot `width`; points off the slot grid, outside the header's range, with
/// non-finite values, `min > max`, or counts beyond what one slot can hold are skipped.
pub fn apply_aggregates(store: &dyn Store, chart: &str, tier: usize, width: i64, series: &HashMap<String, SeriesId>, allowed: &dyn Fn(SeriesId, UnixTime) -> bool, text: &[u8]) -> Result<Applied, SiblingError> {
    let bad = |reason: String| SiblingError::BadAnswer { chart: chart.to_string(), tier, reason };
    let mut lines = text.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    let head = lines.next().ok_or_else(|| bad("empty answer".into()))?;
    let h: TierHeader = serde_json::from_slice(head).map_err(|e| bad(format!("header: {e}")))?;
    if h.tier != tier {
        return Err(bad(format!("header names tier {}", h.tier)));
    }
    if h.width != width {
        return Err(SiblingError::WidthMismatch { chart: chart.to_string(), tier, ours: width, theirs: h.width });
    }
    let mut res = Applied { covered_to: Some(h.covered_to), ..Default::default() };
    for line in lines {
        let Ok((id, t, sum, min, max, count, anomalous, reset)) = serde_json::from_slice::<AggLine>(line) else {
            res.skipped += 1;
            continue;
        };
        let Some(&s) = series.get(id.as_ref()) else {
            res.skipped += 1;
            continue;
        };
        let per_slot = store.series_update_every(s).map_or(0, |ue| width / i64::from(ue.max(1)));
        let sane = t.rem_euclid(width) == 0
            && t > h.after
            && t <= h.covered_to
            && [sum, min, max].iter().all(|v| v.is_finite())
            && min <= max
            && count >= 1
            && i64::from(count) <= per_slot
            && anomalous <= count;
        if !sane || !allowed(s, t) {
            res.skipped += 1;
            continue;
        }
        let p = TierPoint { time: t, sum, min, max, count, reset, anomalous };
        match store.write_aggregate(s, tier, p)? {
            WriteOutcome::Stored => res.stored += 1,
            WriteOutcome::Overlap | WriteOutcome::Expired => res.refused += 1,
            WriteOutcome::Gap => res.skipped += 1,
        }
    }
    Ok(res)
}

/// The newest slot of a tier of width `width` whose whole tier-0 window lies before `first0`
/// (our first tier-0 point): only such slots may take a sibling's aggregate, every later one
/// is (or will be) our own roll-up of tier-0 points.
pub fn upper_limit(first0: UnixTime, ue: u32, width: i64) -> UnixTime {
    let uei = i64::from(ue.max(1));
    // Slot T holds tier-0 points up to T + ue: T + ue < first0.
    floor_to(first0 - uei - 1, width.max(1))
}

/// First and last time of one tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierSpan {
    pub first: UnixTime,
    pub last: UnixTime,
}

/// One host in a [`NodeInventory`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostSummary {
    pub guid: String,
    pub hostname: String,
    /// Streaming to (or collected by) the answering node now.
    pub live: bool,
    pub charts: usize,
    /// Per tier, over all the host's series; `null` for an empty tier.
    pub tiers: Vec<Option<TierSpan>>,
}

/// `GET /api/v1/replicate/inventory`: what a node holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeInventory {
    pub guid: String,
    /// `[db] dbengine tier N update every iterations` of each tier (tier 0: 1).
    pub iterations: Vec<u32>,
    pub hosts: Vec<HostSummary>,
}

/// One chart in a [`HostInventory`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChartInventory {
    pub chart: ChartMeta,
    pub dimensions: Vec<DimMeta>,
    /// Per tier, over the chart's dimensions.
    pub tiers: Vec<Option<TierSpan>>,
}

/// `GET /api/v1/replicate/inventory?host=<guid>`: one host's metadata and charts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostInventory {
    pub host: HostMeta,
    pub live: bool,
    pub iterations: Vec<u32>,
    pub charts: Vec<ChartInventory>,
}

fn iterations(store: &dyn Store) -> Vec<u32> {
    store.config().tiers.iter().enumerate().map(|(i, t)| if i == 0 { 1 } else { t.iterations.max(1) }).collect()
}

fn spans(store: &dyn Store, series: impl IntoIterator<Item = SeriesId>, acc: &mut [Option<TierSpan>]) {
    for s in series {
        for (t, span) in acc.iter_mut().enumerate() {
            if let Some(r) = store.retention(s, t) {
                *span = Some(match *span {
                    Some(x) => TierSpan { first: x.first.min(r.first), last: x.last.max(r.last) },
                    None => TierSpan { first: r.first, last: r.last },
                });
            }
        }
    }
}

/// Every host of `store` (at most [`MAX_HOSTS`]); `live` tells whether a GUID is live here.
pub fn node_inventory(store: &dyn Store, guid: &str, live: &dyn Fn(&str) -> bool) -> NodeInventory {
    let ntiers = store.config().tiers.len();
    let hosts = store
        .hosts()
        .into_iter()
        .take(MAX_HOSTS)
        .map(|(hid, m)| {
            let charts = store.charts(hid);
            let mut tiers = vec![None; ntiers];
            for (cid, _) in &charts {
                spans(store, store.dimensions(*cid).into_iter().map(|(s, _)| s), &mut tiers);
            }
            HostSummary { live: live(&m.guid), guid: m.guid, hostname: m.hostname, charts: charts.len(), tiers }
        })
        .collect();
    NodeInventory { guid: guid.to_string(), iterations: iterations(store), hosts }
}

/// One host's charts (at most [`MAX_CHARTS`]) with dimensions and per-tier spans.
pub fn host_inventory(store: &dyn Store, host: HostId, live: bool) -> Option<HostInventory> {
    let meta = store.host(host)?;
    let ntiers = store.config().tiers.len();
    let charts = store
        .charts(host)
        .into_iter()
        .take(MAX_CHARTS)
        .map(|(cid, chart)| {
            let dims = store.dimensions(cid);
            let mut tiers = vec![None; ntiers];
            spans(store, dims.iter().map(|(s, _)| *s), &mut tiers);
            ChartInventory { chart, dimensions: dims.into_iter().map(|(_, d)| d).collect(), tiers }
        })
        .collect();
    Some(HostInventory { host: meta, live, iterations: iterations(store), charts })
}

/// Our host with `meta.guid`, created from the sibling's metadata (one hop further) when we
/// have none; `true` when created.
pub fn ensure_host(store: &dyn Store, meta: &HostMeta) -> Result<(HostId, bool), StoreError> {
    if let Some((hid, _)) = store.hosts().into_iter().find(|(_, m)| m.guid.eq_ignore_ascii_case(&meta.guid)) {
        return Ok((hid, false));
    }
    let mut m = meta.clone();
    m.hops = m.hops.saturating_add(1);
    Ok((store.put_host(&m)?, true))
}

/// A chart as we hold it, after [`ensure_chart`].
#[derive(Clone, Debug, PartialEq)]
pub struct EnsuredChart {
    pub id: ChartId,
    /// Our `update_every` of the chart (the existing chart's when we had it).
    pub update_every: u32,
    /// Series by dimension id (only the sibling's dimensions).
    pub series: HashMap<String, SeriesId>,
    pub chart_added: bool,
    pub dims_added: usize,
}

/// Our chart `inv.chart.id` of `host`, with every dimension of `inv`: what we lack is created
/// from the sibling's metadata; existing metadata is never changed. At most [`MAX_DIMS`]
/// dimensions.
pub fn ensure_chart(store: &dyn Store, host: HostId, inv: &ChartInventory) -> Result<EnsuredChart, StoreError> {
    let (id, update_every, chart_added) = match store.charts(host).into_iter().find(|(_, c)| c.id == inv.chart.id) {
        Some((cid, c)) => (cid, c.update_every.max(1), false),
        None => (store.put_chart(host, &inv.chart)?, inv.chart.update_every.max(1), true),
    };
    let have: HashMap<String, SeriesId> = store.dimensions(id).into_iter().map(|(s, d)| (d.id, s)).collect();
    let mut series = HashMap::new();
    let mut dims_added = 0;
    for d in inv.dimensions.iter().take(MAX_DIMS) {
        let s = match have.get(&d.id) {
            Some(&s) => s,
            None => {
                dims_added += 1;
                store.put_dimension(id, d)?
            }
        };
        series.insert(d.id.clone(), s);
    }
    Ok(EnsuredChart { id, update_every, series, chart_added, dims_added })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication_out::{answer_range, ReplyLimits};
    use crate::storage::mem::MemStore;
    use crate::storage::{StoreConfig, TierConfig};

    const T: i64 = 1_800_000_000;

    fn asked(after: i64, before: i64) -> Asked {
        Asked { after, before, update_every: 1, now: T + 2000 }
    }

    fn one_series(store: &dyn Store) -> (SeriesId, DimMeta) {
        let h = store.put_host(&HostMeta { guid: "g".into(), hostname: "h".into(), ..Default::default() }).expect("host");
        let c = store.put_chart(h, &ChartMeta { id: "t.c".into(), name: "t.c".into(), update_every: 1, ..Default::default() }).expect("chart");
        let d = DimMeta { id: "a".into(), name: "a".into(), multiplier: 1, divisor: 1, ..Default::default() };
        (store.put_dimension(c, &d).expect("dim"), d)
    }

    /// Tier 1 of 10 s, tier 2 of 100 s.
    fn small_config() -> StoreConfig {
        let tier = |iterations| TierConfig { iterations, retention_bytes: 1 << 30, retention_secs: 0 };
        StoreConfig { tiers: vec![tier(1), tier(10), tier(10)], flush_interval_secs: 5 }
    }

    fn small_tiers() -> MemStore {
        MemStore::new(small_config())
    }

    /// A store of each kind (the temporary directory lives as long as the store).
    fn both_kinds() -> Vec<(Box<dyn Store>, Option<tempfile::TempDir>)> {
        let dir = tempfile::tempdir().expect("tempdir");
        let disk = crate::storage::disk::DiskStore::open(dir.path(), small_config()).expect("disk store");
        vec![(Box::new(small_tiers()), None), (Box::new(disk), Some(dir))]
    }

    fn value(t: i64) -> f64 {
        (t % 97) as f64 / 8.0
    }

    fn fill(s: &dyn Store, id: SeriesId, times: impl Iterator<Item = i64>) {
        for t in times {
            assert_eq!(s.write(id, t, StorageNumber::pack(value(t), 0)).expect("write"), WriteOutcome::Stored);
        }
    }

    fn read(s: &dyn Store, id: SeriesId, tier: usize, a: i64, b: i64) -> Vec<TierPoint> {
        let mut v = Vec::new();
        s.read(id, tier, a, b, &mut v).expect("read");
        v
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
    fn missing_reports_the_tail_and_empty_series_only_when_asked() {
        let s = MemStore::new(Default::default());
        let (id, _) = one_series(&s);
        let both = Edges { leading: true, trailing: true };
        assert_eq!(missing(&s, id, 0, 1, T, T + 10, both).expect("m"), vec![(T - 1, T + 10)]);
        assert!(missing(&s, id, 0, 1, T, T + 10, Edges::default()).expect("m").is_empty());
        fill(&s, id, T + 3..=T + 5);
        assert_eq!(missing(&s, id, 0, 1, T, T + 10, both).expect("m"), vec![(T - 1, T + 2), (T + 5, T + 10)]);
        assert_eq!(missing(&s, id, 0, 1, T, T + 10, Edges { leading: false, trailing: true }).expect("m"), vec![(T + 5, T + 10)]);
        // Upper tiers on their slot grid.
        let w = s.config().tier_width(1, 1);
        let m = missing(&s, id, 1, w, T - 10 * w, T + 10 * w, both).expect("m");
        assert_eq!((w, T % w, tier_slot(T + 3, 1, w)), (60, 0, T + 60));
        assert_eq!(m, vec![(T - 660, T), (T + 60, T + 600)]);
    }

    #[test]
    fn the_ends_of_a_range_inside_our_history_are_holes_not_edges() {
        let s = MemStore::new(Default::default());
        let (id, _) = one_series(&s);
        fill(&s, id, (T..=T + 2).chain(T + 100..=T + 102));
        assert_eq!(missing(&s, id, 0, 1, T, T + 50, Edges::default()).expect("m"), vec![(T + 2, T + 50)]);
        assert_eq!(missing(&s, id, 0, 1, T + 50, T + 101, Edges::default()).expect("m"), vec![(T + 49, T + 99)]);
        assert_eq!(missing(&s, id, 0, 1, T + 10, T + 20, Edges::default()).expect("m"), vec![(T + 9, T + 20)]);
        assert!(missing(&s, id, 0, 1, T + 103, T + 120, Edges::default()).expect("m").is_empty());
    }

    #[test]
    fn union_merges_and_clip_cuts() {
        assert_eq!(union(vec![(5, 9), (1, 3), (3, 4), (8, 12), (20, 20)]), vec![(1, 4), (5, 12)]);
        assert_eq!(clip(&[(1, 4), (5, 12)], 2, 10), vec![(2, 4), (5, 10)]);
        assert!(clip(&[(1, 4)], 4, 10).is_empty());
    }

    #[test]
    fn upper_limit_keeps_the_whole_window_before_our_first_point() {
        // ue 1, width 10: slot T holds T-8..=T+1. First point at 1000: slot 990 holds 982..=991.
        assert_eq!(upper_limit(1000, 1, 10), 990);
        assert!(tier_slot(991, 1, 10) == 990 && tier_slot(1000, 1, 10) > 990);
        assert_eq!(upper_limit(1002, 1, 10), 1000);
        assert_eq!(tier_slot(1001, 1, 10), 1000);
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
        let r = apply_reply(&ours, &map, asked(a, b), &reply).expect("apply");
        assert_eq!((r.stored, r.refused, r.skipped, r.covered_to), (20, 0, 0, Some(b)));
        assert!(holes(&ours, oid, 1, T, T + 100, false).expect("holes").is_empty());
        let mut p = Vec::new();
        ours.read(oid, 0, T + 45, T + 45, &mut p).expect("read");
        assert_eq!(p[0].sum, StorageNumber::pack((T + 45) as f64 / 7.0, 0).value());
        // Applying again changes nothing (no overwrite).
        let r = apply_reply(&ours, &map, asked(a, b), &reply).expect("apply");
        assert_eq!((r.stored, r.refused), (0, 20));
    }

    /// The sibling holds 1000 s; we hold only the last 300 (our tier 0 starts later). Tier 0
    /// from the sibling's answer first, then tier 1 and 2 only before our first point: every
    /// slot ends up equal to the sibling's, none counted twice.
    #[test]
    fn tiers_are_filled_without_double_counting() {
        for (ours, _dir) in both_kinds() {
            tiers_case(ours.as_ref());
        }
    }

    fn tiers_case(ours: &dyn Store) {
        let sib = small_tiers();
        let (sid, dim) = one_series(&sib);
        fill(&sib, sid, T + 1..=T + 1000);
        let (oid, _) = one_series(ours);
        fill(ours, oid, T + 701..=T + 1000);
        let map: HashMap<String, SeriesId> = [("a".to_string(), oid)].into();
        // Tier 0 of (T+400, T+700] only (say the sibling's tier 0 were that short).
        let mut reply = Vec::new();
        answer_range(&sib, "t.c", &[sid], std::slice::from_ref(&dim), 1, T + 400, T + 700, T + 2000, ReplyLimits::default(), &mut reply);
        assert_eq!(apply_reply(ours, &map, asked(T + 400, T + 700), &reply).expect("apply").stored, 300);
        let first0 = ours.retention(oid, 0).expect("ret").first;
        assert_eq!(first0, T + 401);
        for tier in 1..=2 {
            let w = ours.config().tier_width(tier, 1);
            let limit = upper_limit(first0, 1, w);
            let mut text = Vec::new();
            answer_tier(&sib, "t.c", &[sid], std::slice::from_ref(&dim), tier, 1, T - w, T + 1000, 100_000, &mut text).expect("answer");
            let allowed = |_: SeriesId, t: i64| t <= limit;
            let r = apply_aggregates(ours, "t.c", tier, w, &map, &allowed, &text).expect("apply");
            assert!(r.stored > 0, "tier {tier}: {r:?}");
            // Every complete slot equals the sibling's; the slot straddling our first point
            // holds only our own roll-up (a partial slot, never a double count).
            let (a, b) = (read(&sib, sid, tier, T, T + 1000), read(ours, oid, tier, T, T + 1000));
            for p in &a {
                let q = b.iter().find(|q| q.time == p.time).unwrap_or_else(|| panic!("tier {tier}: slot {} missing", p.time));
                if p.time <= limit || p.time - w + 1 >= first0 {
                    assert_eq!((q.count, q.sum, q.min, q.max), (p.count, p.sum, p.min, p.max), "tier {tier} slot {}", p.time);
                } else {
                    assert!(q.count < p.count, "tier {tier} slot {}: {q:?} vs {p:?}", p.time);
                }
            }
        }
        // Tier-0 points now offered for the old range (another sibling) are blocked where they
        // would be counted a second time in the aggregates taken from the sibling; only the
        // straddling slot's own window (T+392..=T+400) takes them.
        let mut old = Vec::new();
        answer_range(&sib, "t.c", &[sid], std::slice::from_ref(&dim), 1, T, T + 400, T + 2000, ReplyLimits::default(), &mut old);
        let r = apply_reply(ours, &map, asked(T, T + 400), &old).expect("apply");
        assert_eq!((r.stored, r.skipped), (9, 391), "{r:?}");
        assert_eq!(read(ours, oid, 0, T, T + 400).iter().map(|p| p.time).collect::<Vec<_>>(), (T + 392..=T + 400).collect::<Vec<_>>());
        for tier in 1..=2 {
            for p in read(ours, oid, tier, T, T + 1000) {
                let q = read(&sib, sid, tier, p.time, p.time)[0];
                assert!(p.count <= q.count, "tier {tier} slot {} counted twice: {p:?} vs {q:?}", p.time);
            }
        }
    }

    #[test]
    fn a_partial_slot_of_ours_is_completed_by_tier_0_not_replaced_by_an_aggregate() {
        for (ours, _dir) in both_kinds() {
            partial_case(ours.as_ref());
        }
    }

    fn partial_case(ours: &dyn Store) {
        let sib = small_tiers();
        let (sid, dim) = one_series(&sib);
        fill(&sib, sid, T + 1..=T + 100);
        let (oid, _) = one_series(ours);
        // We hold half of slot T+50 (points T+42..=T+46 of T+42..=T+51).
        fill(ours, oid, T + 42..=T + 46);
        let map: HashMap<String, SeriesId> = [("a".to_string(), oid)].into();
        let w = 10;
        let mut text = Vec::new();
        answer_tier(&sib, "t.c", &[sid], std::slice::from_ref(&dim), 1, 1, T, T + 100, 1000, &mut text).expect("answer");
        let r = apply_aggregates(ours, "t.c", 1, w, &map, &|_, _| true, &text).expect("apply");
        assert_eq!(r.refused, 1, "{r:?}");
        let slot = tier_slot(T + 42, 1, w);
        assert_eq!(read(ours, oid, 1, slot, slot)[0].count, 5, "our slot is never overwritten");
        // Tier-0 points in windows now held as the sibling's aggregates are blocked; in our own
        // partial slot they complete it.
        let mut reply = Vec::new();
        answer_range(&sib, "t.c", &[sid], std::slice::from_ref(&dim), 1, T, T + 100, T + 200, ReplyLimits::default(), &mut reply);
        let r = apply_reply(ours, &map, asked(T, T + 100), &reply).expect("apply");
        // T+47..=T+51 complete our slot, T+1 (slot T, held by nobody) is new; 5 are ours.
        assert_eq!((r.stored, r.refused, r.skipped), (6, 5, 89), "{r:?}");
        let mine = read(ours, oid, 1, slot, slot)[0];
        let theirs = read(&sib, sid, 1, slot, slot)[0];
        assert_eq!((mine.count, mine.sum), (theirs.count, theirs.sum));
        for tier in 1..=2 {
            for p in read(ours, oid, tier, T, T + 100) {
                let q = read(&sib, sid, tier, p.time, p.time)[0];
                assert!(p.count <= q.count, "tier {tier} slot {} counted twice: {p:?} vs {q:?}", p.time);
            }
        }
    }

    #[test]
    fn aggregates_are_checked_before_they_are_stored() {
        let ours = small_tiers();
        let (oid, _) = one_series(&ours);
        let map: HashMap<String, SeriesId> = [("a".to_string(), oid)].into();
        let head = |w: i64| format!("{{\"chart\":\"t.c\",\"tier\":1,\"width\":{w},\"after\":{},\"before\":{},\"covered_to\":{}}}\n", T, T + 100, T + 100);
        assert!(matches!(apply_aggregates(&ours, "t.c", 1, 10, &map, &|_, _| true, head(60).as_bytes()), Err(SiblingError::WidthMismatch { theirs: 60, .. })));
        assert!(matches!(apply_aggregates(&ours, "t.c", 1, 10, &map, &|_, _| true, b"garbage\n"), Err(SiblingError::BadAnswer { .. })));
        let body = format!(
            "{}[\"a\",{},1,1,1,1,0,false]\n[\"a\",{},1,1,1,1,0,false]\n[\"a\",{},5,1,3,11,0,false]\n[\"a\",{},5,3,1,2,0,false]\n[\"zz\",{},1,1,1,1,0,false]\n[\"a\",{},1,1,1,1,0]\n[\"a\",{},6,1,3,3,0,false]\n",
            head(10),
            T + 5,
            T + 200,
            T + 10,
            T + 20,
            T + 30,
            T + 40,
            T + 50
        );
        let r = apply_aggregates(&ours, "t.c", 1, 10, &map, &|_, _| true, body.as_bytes()).expect("apply");
        assert_eq!((r.stored, r.skipped), (1, 6), "{r:?}");
        assert_eq!(read(&ours, oid, 1, T, T + 100).iter().map(|p| (p.time, p.count)).collect::<Vec<_>>(), vec![(T + 50, 3)]);
    }

    #[test]
    fn answer_tier_is_bounded_and_says_how_far_it_got() {
        let sib = small_tiers();
        let (sid, dim) = one_series(&sib);
        fill(&sib, sid, T + 1..=T + 1000);
        let mut text = Vec::new();
        let h = answer_tier(&sib, "t.c", &[sid], std::slice::from_ref(&dim), 1, 1, T, T + 1000, 20, &mut text).expect("answer");
        assert_eq!(h.covered_to, T + 200);
        assert_eq!(text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count(), 1 + 20);
    }

    #[test]
    fn inventory_lists_hosts_charts_dimensions_and_tier_spans_and_recreates_them() {
        let sib = small_tiers();
        let (sid, _) = one_series(&sib);
        fill(&sib, sid, T + 1..=T + 100);
        let node = node_inventory(&sib, "node", &|_| false);
        assert_eq!(node.iterations, vec![1, 10, 10]);
        assert_eq!(node.hosts.len(), 1);
        assert_eq!(node.hosts[0].tiers[0], Some(TierSpan { first: T + 1, last: T + 100 }));
        let js = serde_json::to_string(&node).expect("json");
        assert_eq!(serde_json::from_str::<NodeInventory>(&js).expect("parse"), node);
        let hid = sib.hosts()[0].0;
        let inv = host_inventory(&sib, hid, false).expect("host");
        assert_eq!(inv.charts.len(), 1);
        assert_eq!(inv.charts[0].dimensions[0].id, "a");
        let ours = small_tiers();
        let (h, added) = ensure_host(&ours, &inv.host).expect("host");
        assert!(added);
        assert_eq!(ours.host(h).expect("meta").hops, inv.host.hops + 1);
        assert!(!ensure_host(&ours, &inv.host).expect("host").1);
        let c = ensure_chart(&ours, h, &inv.charts[0]).expect("chart");
        assert!(c.chart_added && c.dims_added == 1);
        let again = ensure_chart(&ours, h, &inv.charts[0]).expect("chart");
        assert!(!again.chart_added && again.dims_added == 0 && again.series == c.series);
    }

    /// Times a sibling (or a request) sends are never trusted: the widest range ends, with no
    /// overflow, after reading only what is stored.
    #[test]
    fn extreme_ranges_end_and_do_not_overflow() {
        let s = small_tiers();
        let (id, dim) = one_series(&s);
        fill(&s, id, (T + 1..=T + 10).chain(T + 21..=T + 30));
        let both = Edges { leading: true, trailing: true };
        for step in [1, 7, 60] {
            let m = missing(&s, id, 0, step, i64::MIN, i64::MAX, both).expect("missing");
            assert!(!m.is_empty() && m.len() <= MAX_HOLES, "step {step}: {m:?}");
            assert!(m.iter().all(|&(a, b)| a < b && b <= MAX_TIME), "step {step}: {m:?}");
        }
        assert!(missing(&s, id, 1, 10, i64::MIN, i64::MIN + 5, both).expect("missing").len() <= 1);
        // The answer side: the whole i64 range is answered from the stored points only.
        let mut reply = Vec::new();
        let o = answer_range(&s, "t.c", &[id], std::slice::from_ref(&dim), 1, i64::MIN, i64::MAX, T + 100, ReplyLimits::default(), &mut reply);
        assert_eq!((o.points, o.truncated), (20, false));
        let mut reply = Vec::new();
        let o = answer_range(&s, "t.c", &[id], std::slice::from_ref(&dim), 1, T + 5, i64::MAX, T + 25, ReplyLimits::default(), &mut reply);
        assert_eq!(o.points, 10, "points later than now are not sent");
        let mut text = Vec::new();
        let h = answer_tier(&s, "t.c", &[id], std::slice::from_ref(&dim), 1, 1, i64::MIN, i64::MAX, 4, &mut text).expect("answer");
        assert!(text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count() > 1, "the first answer already holds points: {h:?}");
    }

    #[test]
    fn a_reply_is_stored_only_within_what_was_asked() {
        let sib = MemStore::new(Default::default());
        let (sid, dim) = one_series(&sib);
        fill(&sib, sid, T + 1..=T + 100);
        let ours = MemStore::new(Default::default());
        let (oid, _) = one_series(&ours);
        let map: HashMap<String, SeriesId> = [("a".to_string(), oid)].into();
        let mut reply = Vec::new();
        answer_range(&sib, "t.c", &[sid], std::slice::from_ref(&dim), 1, T, T + 100, T + 200, ReplyLimits::default(), &mut reply);
        // Asked (T+10, T+50], now T+40: 30 points fit.
        let r = apply_reply(&ours, &map, Asked { after: T + 10, before: T + 50, update_every: 1, now: T + 40 - FUTURE_TOLERANCE }, &reply).expect("apply");
        assert_eq!((r.stored, r.skipped), (30, 70), "{r:?}");
        assert_eq!(ours.retention(oid, 0).map(|r| (r.first, r.last)), Some((T + 11, T + 40)));
        // Off the grid of the chart (ue 3 asked): only multiples of 3.
        let r = apply_reply(&ours, &map, Asked { after: T + 50, before: T + 60, update_every: 3, now: T + 200 }, &reply).expect("apply");
        assert_eq!(r.stored, (T + 51..=T + 60).filter(|t| t % 3 == 0).count(), "{r:?}");
    }

    /// ue 2, tier 1 of 20 s: a slot taken from a sibling is not completed by a tier-0 point
    /// at the end of its window (the first point of a reply).
    #[test]
    fn a_siblings_slot_blocks_every_point_of_its_window_with_update_every_2() {
        let ours = small_tiers();
        let h = ours.put_host(&HostMeta { guid: "g".into(), hostname: "h".into(), ..Default::default() }).expect("host");
        let c = ours.put_chart(h, &ChartMeta { id: "t.c".into(), name: "t.c".into(), update_every: 2, ..Default::default() }).expect("chart");
        let oid = ours.put_dimension(c, &DimMeta { id: "a".into(), name: "a".into(), multiplier: 1, divisor: 1, ..Default::default() }).expect("dim");
        let w = ours.config().tier_width(1, 2);
        assert_eq!(w, 20);
        let slot = T + 100;
        assert_eq!(tier_slot(slot + 2, 2, w), slot);
        let full = TierPoint { time: slot, sum: 10.0, min: 1.0, max: 1.0, count: 10, reset: false, anomalous: 0 };
        assert_eq!(ours.write_aggregate(oid, 1, full).expect("agg"), WriteOutcome::Stored);
        // A reply from the last point of the slot's window (slot + 2) on.
        let mut reply = Vec::new();
        Command::Rbegin(crate::proto::command::Rbegin { id: "t.c".into(), span: None }).encode(&mut reply);
        for t in [slot + 2, slot + 4] {
            Command::Rbegin(crate::proto::command::Rbegin { id: "".into(), span: Some(crate::proto::command::RbeginSpan { start: t - 2, end: t, child_now: Some(t) }) }).encode(&mut reply);
            Command::Rset(crate::proto::command::Rset { id: "a".into(), value: 1.0, flags: "".into() }).encode(&mut reply);
        }
        let map: HashMap<String, SeriesId> = [("a".to_string(), oid)].into();
        let r = apply_reply(&ours, &map, Asked { after: slot, before: slot + 4, update_every: 2, now: T + 1000 }, &reply).expect("apply");
        assert_eq!((r.stored, r.skipped), (1, 1), "{r:?}");
        assert_eq!(read(&ours, oid, 1, slot, slot)[0].count, 10, "never an 11th value in the sibling's slot");
    }
}
