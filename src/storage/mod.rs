//! Tiered time-series storage: the [`Store`] trait, its in-memory twin ([`mem::MemStore`])
//! and the on-disk engine.
//!
//! Model: a store holds many hosts; each host has charts, each chart dimensions. Every
//! dimension is one *series* ([`SeriesId`]) with one point per chart `update_every` seconds in
//! tier 0 and aggregates in tiers 1.. (see [`tier_slot`] for the exact windows).
//!
//! Implementations: [`mem::MemStore`] (reference model, `[db] mode = ram`) and
//! [`disk::DiskStore`] (`dbengine`): per-tier append-only files of compressed pages
//! ([`codec`]), a write-ahead log, checkpoints and a self-describing metadata file; see the
//! [`disk`] module documentation for the file formats and guarantees. In short:
//!
//! * **Durability:** a `kill -9` loses at most the points accepted in the last
//!   `flush_interval_secs` (default 5 s; the WAL is written and fdatasync'ed every half
//!   interval); `flush()` and drop lose nothing.
//! * **Retention:** per tier, bytes on disk never exceed the size limit plus one data file;
//!   time retention drops whole files whose newest point is too old.
//! * **Unsafe:** only [`mmap`] (read-only maps of sealed, never-truncated files; `flock`; prefetch hints).
//!
//! **Invariant:** gaps are absence. NaN / empty values are never stored, in any tier, so a
//! gap can always be back-filled later. A write at a time that already holds a point is
//! rejected ([`WriteOutcome::Overlap`]) and counted, never overwrites history.

pub mod codec;
pub mod corpus;
pub mod mem;
pub mod mmap;
pub mod disk;
pub mod number;
pub mod query;

pub use number::StorageNumber;

use crate::model::{ChartMeta, DimMeta, HostMeta, UnixTime};

/// Index of a host in a store (stable for the life of the store, persisted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostId(pub u32);
/// Index of a chart in a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChartId(pub u32);
/// Index of a dimension (one time series) in a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesId(pub u32);

/// Maximum number of tiers (`[db] storage tiers`, 1..=5).
pub const MAX_TIERS: usize = 5;

/// Per-tier settings of a store.
#[derive(Clone, Debug, PartialEq)]
pub struct TierConfig {
    /// How many points of the previous tier one point of this tier aggregates (tier 0: 1).
    pub iterations: u32,
    /// Hard bound on the bytes this tier uses on disk (plus one data file).
    pub retention_bytes: u64,
    /// Points older than this many seconds are dropped; 0 = no time limit.
    pub retention_secs: u64,
}

/// Settings of a store.
#[derive(Clone, Debug, PartialEq)]
pub struct StoreConfig {
    pub tiers: Vec<TierConfig>,
    /// At most this many seconds of accepted points may be lost on `kill -9`.
    pub flush_interval_secs: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        let tier = |iterations| TierConfig { iterations, retention_bytes: 1 << 30, retention_secs: 0 };
        Self { tiers: vec![tier(1), tier(60), tier(60)], flush_interval_secs: 5 }
    }
}

impl StoreConfig {
    /// Seconds covered by one point of `tier` for a chart collected every `update_every` s.
    pub fn tier_width(&self, tier: usize, update_every: u32) -> i64 {
        let mut w = i64::from(update_every.max(1));
        for t in self.tiers.iter().take(tier + 1).skip(1) {
            w *= i64::from(t.iterations.max(1));
        }
        w
    }
}

/// The timestamp of the point of a tier of width `width` that aggregates the tier-0 point at
/// `t` of a chart with `update_every` seconds.
///
/// Netdata's window is shifted by one tier-0 point: the tier-1 point stamped `T` (a multiple of
/// `width`) aggregates tier-0 points `T - width + ue < t <= T + ue` (`netdata-values.md` §1.5).
/// For tier 0 (`width == ue`) this is `t` rounded up to the grid.
pub fn tier_slot(t: UnixTime, update_every: u32, width: i64) -> UnixTime {
    let ue = i64::from(update_every.max(1));
    if width <= ue {
        return t;
    }
    (t - ue).div_euclid(width) * width + if (t - ue).rem_euclid(width) == 0 { 0 } else { width }
}

/// A point read from any tier. Tier 0 points have `count == 1` and `sum == min == max`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TierPoint {
    /// End of the interval the point covers (its timestamp).
    pub time: UnixTime,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// Number of tier-0 values aggregated (>= 1; empty windows are not stored).
    pub count: u32,
    /// Any aggregated value carried the RESET flag.
    pub reset: bool,
    /// Tier-0 values without the "not anomalous" bit.
    pub anomalous: u32,
}

impl TierPoint {
    pub fn from_number(time: UnixTime, n: StorageNumber) -> Option<Self> {
        let v = n.value();
        if !v.is_finite() {
            return None;
        }
        Some(Self {
            time,
            sum: v,
            min: v,
            max: v,
            count: 1,
            reset: n.is_reset(),
            anomalous: u32::from(n.flags() & number::FLAG_NOT_ANOMALOUS == 0),
        })
    }
    pub fn average(&self) -> f64 {
        self.sum / f64::from(self.count.max(1))
    }
}

/// What happened to a written point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    Stored,
    /// The point is a gap (NaN); nothing stored.
    Gap,
    /// A point at that time is already stored; the new one was dropped.
    Overlap,
    /// Older than the retention of the tier; dropped.
    Expired,
}

/// How many points of a [`Store::write_many`] batch had each [`WriteOutcome`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteCounts {
    pub stored: u64,
    pub gap: u64,
    pub overlap: u64,
    pub expired: u64,
}

impl WriteCounts {
    pub fn add(&mut self, o: WriteOutcome) {
        match o {
            WriteOutcome::Stored => self.stored += 1,
            WriteOutcome::Gap => self.gap += 1,
            WriteOutcome::Overlap => self.overlap += 1,
            WriteOutcome::Expired => self.expired += 1,
        }
    }
}

/// First and last timestamp stored in one tier of one series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub first: UnixTime,
    pub last: UnixTime,
}

/// Space used by a tier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TierUsage {
    pub bytes: u64,
    pub points: u64,
    pub first: Option<UnixTime>,
    pub last: Option<UnixTime>,
}

/// Counters of a store (served by the API and self-monitoring).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub points_written: u64,
    pub points_overlap: u64,
    pub tiers: Vec<TierUsage>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unknown {kind} id {id}")]
    UnknownId { kind: &'static str, id: u32 },
    #[error("{path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error("{path}: corrupt: {reason}")]
    Corrupt { path: std::path::PathBuf, reason: String },
    #[error("{path}: locked by another process ({detail}); stop it or use another cache directory")]
    Locked { path: std::path::PathBuf, detail: String },
    #[error("invalid argument: {0}")]
    Invalid(String),
}

/// The storage interface used by ingest, replication and the API.
///
/// Implementations are internally synchronized: writes and reads may run concurrently from
/// many threads. Metadata `put_*` calls are idempotent upserts keyed by GUID / chart id /
/// dimension id and return the same id for the same key.
pub trait Store: Send + Sync {
    fn config(&self) -> &StoreConfig;

    // --- metadata (persisted, survives restarts)
    fn put_host(&self, meta: &HostMeta) -> Result<HostId, StoreError>;
    fn put_chart(&self, host: HostId, meta: &ChartMeta) -> Result<ChartId, StoreError>;
    fn put_dimension(&self, chart: ChartId, meta: &DimMeta) -> Result<SeriesId, StoreError>;
    fn hosts(&self) -> Vec<(HostId, HostMeta)>;
    fn host(&self, id: HostId) -> Option<HostMeta>;
    fn charts(&self, host: HostId) -> Vec<(ChartId, ChartMeta)>;
    fn chart(&self, id: ChartId) -> Option<ChartMeta>;
    fn dimensions(&self, chart: ChartId) -> Vec<(SeriesId, DimMeta)>;
    /// `update_every` of the chart the series belongs to.
    fn series_update_every(&self, id: SeriesId) -> Option<u32>;

    // --- data
    /// Stores a tier-0 point at `time` (a multiple of the chart's `update_every`) and folds it
    /// into the higher tiers. Works both at the head and into holes of the history.
    fn write(&self, id: SeriesId, time: UnixTime, value: StorageNumber) -> Result<WriteOutcome, StoreError>;
    /// [`Store::write`] of every point, in order, adding each outcome to `counts`; stops at the
    /// first error (the points before it stay written). Stores override it to take their lock
    /// once per batch instead of once per point (a parent writes ~100,000 points a second).
    fn write_many(&self, points: &[(SeriesId, UnixTime, StorageNumber)], counts: &mut WriteCounts) -> Result<(), StoreError> {
        for &(id, time, value) in points {
            counts.add(self.write(id, time, value)?);
        }
        Ok(())
    }
    /// A run of tier-0 points of one series: `values[i]` at `first + i * step`. Empty numbers
    /// are skipped and not counted (no point there). The same as [`Store::write_many`] of the
    /// non-empty points in order; stores override it to append the run in one pass and fold
    /// it into the higher tiers slot by slot (a replication reply is one chart's rows, which
    /// ingest turns into one run per dimension).
    fn write_run(&self, id: SeriesId, first: UnixTime, step: u32, values: &[StorageNumber], counts: &mut WriteCounts) -> Result<(), StoreError> {
        let step = i64::from(step.max(1));
        let points: Vec<(SeriesId, UnixTime, StorageNumber)> = values
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_empty())
            .map(|(i, &v)| (id, first.saturating_add((i as i64).saturating_mul(step)), v))
            .collect();
        self.write_many(&points, counts)
    }
    /// [`Store::write_run`] of each `(series, values)` in order, all runs from `first` with
    /// `step` (a replication reply's columns); stops at the first error (the runs before it
    /// stay written). Stores override it to take their lock once and batch their file writes.
    fn write_runs(&self, first: UnixTime, step: u32, runs: &[(SeriesId, &[StorageNumber])], counts: &mut WriteCounts) -> Result<(), StoreError> {
        for &(id, values) in runs {
            self.write_run(id, first, step, values, counts)?;
        }
        Ok(())
    }
    /// Stores a ready-made aggregate into a hole of tier `tier` >= 1 (sibling replication).
    fn write_aggregate(&self, id: SeriesId, tier: usize, point: TierPoint) -> Result<WriteOutcome, StoreError>;
    /// Appends to `out`, in increasing time, the points of `tier` with `after <= time <= before`.
    fn read(&self, id: SeriesId, tier: usize, after: UnixTime, before: UnixTime, out: &mut Vec<TierPoint>) -> Result<(), StoreError>;
    /// Folds the points of `tier` with `after <= time <= before` into one aggregate (sum, min,
    /// max, count, anomalous, reset; `time` = the last point's time), `None` if there are none.
    /// Stores may override this with a scan that does not materialize points.
    fn aggregate(&self, id: SeriesId, tier: usize, after: UnixTime, before: UnixTime) -> Result<Option<TierPoint>, StoreError> {
        let mut v = Vec::new();
        self.read(id, tier, after, before, &mut v)?;
        let mut it = v.into_iter();
        let Some(mut acc) = it.next() else { return Ok(None) };
        for p in it {
            acc.sum += p.sum;
            acc.min = acc.min.min(p.min);
            acc.max = acc.max.max(p.max);
            acc.count += p.count;
            acc.anomalous += p.anomalous;
            acc.reset |= p.reset;
            acc.time = p.time;
        }
        Ok(Some(acc))
    }
    /// First and last stored time of a series in a tier; cheap.
    fn retention(&self, id: SeriesId, tier: usize) -> Option<Retention>;
    /// Makes everything accepted so far durable.
    fn flush(&self) -> Result<(), StoreError>;
    fn stats(&self) -> StoreStats;
}
