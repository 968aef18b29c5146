//! Local collection of this machine from /proc and /sys, with Netdata 1.37.1's chart and
//! dimension names (ids, titles, units, families, contexts, priorities, algorithms,
//! multipliers, divisors, labels), as its `proc.plugin` and `diskspace.plugin` declare them.
//!
//! The collectors hand out the RAW collected integers — exactly what a Netdata child sends in
//! its `SET` lines (jiffies for `system.cpu`, KiB for `system.ram`, sectors for `disk.DEV`...).
//! Turning them into stored values (algorithms, multiplier/divisor, interpolation) is the job
//! of `crate::collect::compute`.
//!
//! **Invariant:** no rates are computed here. The only derived numbers are those Netdata's own
//! collectors derive before `SET` (sums such as `system.io`, differences such as `used` RAM).
//!
//! Usage: build a [`ProcCollector`] once, call [`ProcCollector::collect`] every update every
//! seconds and feed every returned chart (definition + values) to the computation. A chart's
//! [`CollectedChart::version`] changes whenever its definition changed (new dimension, new
//! labels); a chart that disappeared (disk removed, interface gone) is returned once more with
//! the `obsolete` option and all values `None`, then never again.

mod diskspace;
mod diskstats;
mod loadavg;
mod meminfo;
mod netdev;
mod selfmon;
mod stat;
mod util;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::model::{ChartMeta, DimMeta, UnixTime};

pub use selfmon::{DaemonCounters, NetdataSelf, SELF_TIERS};

/// One chart as collected in a pass: definition and the raw values of its dimensions.
#[derive(Clone, Debug, PartialEq)]
pub struct CollectedChart {
    pub meta: ChartMeta,
    pub dims: Vec<DimMeta>,
    /// Raw collected values, same order as `dims`; `None` = not collected this pass (gap).
    pub values: Vec<Option<i64>>,
    /// Starts at 1, bumped each time `meta` or `dims` change.
    pub version: u64,
    last_emit: UnixTime,
}

impl CollectedChart {
    pub(crate) fn new(meta: ChartMeta, dims: Vec<DimMeta>) -> Self {
        let values = vec![None; dims.len()];
        Self { meta, dims, values, version: 1, last_emit: UnixTime::MIN }
    }

    /// The value of dimension `id`, if collected.
    pub fn value(&self, id: &str) -> Option<i64> {
        self.dims.iter().position(|d| d.id == id).and_then(|i| self.values[i])
    }

    /// Sets all values at once (same order as `dims`; missing trailing values read as None).
    pub(crate) fn set_all(&mut self, values: &[Option<i64>]) {
        for (i, slot) in self.values.iter_mut().enumerate() {
            *slot = values.get(i).copied().flatten();
        }
    }

    /// Marks the chart obsolete (its source went away): all values become gaps.
    pub(crate) fn make_obsolete(&mut self) {
        if !self.meta.is_obsolete() {
            if self.meta.options.is_empty() {
                self.meta.options = "obsolete".into();
            } else {
                self.meta.options.push_str(" obsolete");
            }
            self.version += 1;
        }
        self.values.iter_mut().for_each(|v| *v = None);
    }

    /// Whether a chart with a longer update every than the collector is due at `now`.
    fn due(&mut self, now: UnixTime, base_update_every: u32) -> bool {
        let ue = i64::from(self.meta.update_every.max(1));
        if self.meta.update_every <= base_update_every {
            self.last_emit = now;
            return true;
        }
        if now.rem_euclid(ue) == 0 || now.saturating_sub(self.last_emit) >= ue {
            self.last_emit = now;
            return true;
        }
        false
    }
}

/// The charts of one collection pass, borrowed from the collector until the next pass.
#[derive(Debug, Default)]
pub struct Collection<'a> {
    pub charts: Vec<&'a CollectedChart>,
}

impl<'a> Collection<'a> {
    pub fn get(&self, id: &str) -> Option<&'a CollectedChart> {
        self.charts.iter().copied().find(|c| c.meta.id == id)
    }
    /// Total number of dimensions in this pass.
    pub fn dimension_count(&self) -> usize {
        self.charts.iter().map(|c| c.dims.len()).sum()
    }
}

/// Collector of this machine (`proc.plugin` + `diskspace.plugin` of Netdata).
pub struct ProcCollector {
    root: PathBuf,
    update_every: u32,
    stat: stat::Stat,
    loadavg: loadavg::LoadAvg,
    meminfo: meminfo::MemInfo,
    netdev: netdev::NetDev,
    diskstats: diskstats::DiskStats,
    diskspace: diskspace::DiskSpace,
}

impl ProcCollector {
    /// `root` is `/` normally (Netdata's host prefix); tests point it at a fixture tree.
    pub fn new(root: impl Into<PathBuf>, update_every: u32) -> Self {
        let root = root.into();
        let update_every = update_every.max(1);
        Self {
            stat: stat::Stat::new(&root, update_every),
            loadavg: loadavg::LoadAvg::new(&root, update_every),
            meminfo: meminfo::MemInfo::new(&root, update_every),
            netdev: netdev::NetDev::new(&root, update_every),
            diskstats: diskstats::DiskStats::new(&root, update_every),
            diskspace: diskspace::DiskSpace::new(&root, update_every),
            root,
            update_every,
        }
    }

    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    pub fn update_every(&self) -> u32 {
        self.update_every
    }

    /// One collection pass at the wall clock time.
    pub fn collect(&mut self) -> Collection<'_> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        self.collect_at(now)
    }

    /// One collection pass at `now` (seconds): reads every source once and returns the charts
    /// collected (charts whose update every is longer than the collector's only when due).
    pub fn collect_at(&mut self, now: UnixTime) -> Collection<'_> {
        let ue = self.update_every;
        self.stat.collect();
        self.loadavg.collect();
        self.meminfo.collect();
        self.netdev.collect();
        self.diskspace.collect();
        self.diskstats.collect(self.diskspace.mounts());

        let mut all: Vec<&mut CollectedChart> = Vec::with_capacity(256);
        self.stat.charts(&mut all);
        self.loadavg.charts(&mut all);
        self.meminfo.charts(&mut all);
        self.netdev.charts(&mut all);
        self.diskstats.charts(&mut all);
        self.diskspace.charts(&mut all);
        let charts = all
            .into_iter()
            .filter_map(|c| if c.due(now, ue) { Some(&*c) } else { None })
            .collect();
        Collection { charts }
    }
}
