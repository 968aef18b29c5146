//! The in-memory twin of the on-disk store: same semantics, no files. Used by tests, by
//! `[db] mode = ram`, and as the reference model of the conformance suite.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use super::*;

#[derive(Default)]
struct Series {
    chart: u32,
    tier0: BTreeMap<UnixTime, StorageNumber>,
    /// Higher tiers, index 0 = tier 1; f64 accumulators, rounded to f32 when read.
    upper: Vec<BTreeMap<UnixTime, TierPoint>>,
}

#[derive(Default)]
struct Inner {
    hosts: Vec<HostMeta>,
    host_by_guid: HashMap<String, u32>,
    charts: Vec<(u32, ChartMeta)>,
    chart_by_key: HashMap<(u32, String), u32>,
    dims: Vec<(u32, DimMeta)>,
    dim_by_key: HashMap<(u32, String), u32>,
    series: Vec<Series>,
    written: u64,
    overlap: u64,
}

/// A [`Store`] that keeps everything in memory.
pub struct MemStore {
    config: StoreConfig,
    inner: RwLock<Inner>,
}

impl MemStore {
    pub fn new(config: StoreConfig) -> Self {
        Self { config, inner: RwLock::new(Inner::default()) }
    }

    fn read_lock(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }
    fn write_lock(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }
}

fn round_f32(p: &TierPoint) -> TierPoint {
    TierPoint { sum: p.sum as f32 as f64, min: p.min as f32 as f64, max: p.max as f32 as f64, ..*p }
}

fn fold(into: &mut TierPoint, p: &TierPoint) {
    into.sum += p.sum;
    into.min = into.min.min(p.min);
    into.max = into.max.max(p.max);
    into.count += p.count;
    into.reset |= p.reset;
    into.anomalous += p.anomalous;
}

impl Store for MemStore {
    fn config(&self) -> &StoreConfig {
        &self.config
    }

    fn put_host(&self, meta: &HostMeta) -> Result<HostId, StoreError> {
        let mut g = self.write_lock();
        if let Some(&id) = g.host_by_guid.get(&meta.guid) {
            g.hosts[id as usize] = meta.clone();
            return Ok(HostId(id));
        }
        let id = g.hosts.len() as u32;
        g.hosts.push(meta.clone());
        g.host_by_guid.insert(meta.guid.clone(), id);
        Ok(HostId(id))
    }

    fn put_chart(&self, host: HostId, meta: &ChartMeta) -> Result<ChartId, StoreError> {
        let mut g = self.write_lock();
        if host.0 as usize >= g.hosts.len() {
            return Err(StoreError::UnknownId { kind: "host", id: host.0 });
        }
        let key = (host.0, meta.id.clone());
        if let Some(&id) = g.chart_by_key.get(&key) {
            g.charts[id as usize].1 = meta.clone();
            return Ok(ChartId(id));
        }
        let id = g.charts.len() as u32;
        g.charts.push((host.0, meta.clone()));
        g.chart_by_key.insert(key, id);
        Ok(ChartId(id))
    }

    fn put_dimension(&self, chart: ChartId, meta: &DimMeta) -> Result<SeriesId, StoreError> {
        let mut g = self.write_lock();
        if chart.0 as usize >= g.charts.len() {
            return Err(StoreError::UnknownId { kind: "chart", id: chart.0 });
        }
        let key = (chart.0, meta.id.clone());
        if let Some(&id) = g.dim_by_key.get(&key) {
            g.dims[id as usize].1 = meta.clone();
            return Ok(SeriesId(id));
        }
        let id = g.dims.len() as u32;
        g.dims.push((chart.0, meta.clone()));
        g.dim_by_key.insert(key, id);
        let upper = (1..self.config.tiers.len()).map(|_| BTreeMap::new()).collect();
        g.series.push(Series { chart: chart.0, tier0: BTreeMap::new(), upper });
        Ok(SeriesId(id))
    }

    fn hosts(&self) -> Vec<(HostId, HostMeta)> {
        self.read_lock().hosts.iter().enumerate().map(|(i, h)| (HostId(i as u32), h.clone())).collect()
    }
    fn host(&self, id: HostId) -> Option<HostMeta> {
        self.read_lock().hosts.get(id.0 as usize).cloned()
    }
    fn charts(&self, host: HostId) -> Vec<(ChartId, ChartMeta)> {
        let g = self.read_lock();
        g.charts.iter().enumerate().filter(|(_, (h, _))| *h == host.0).map(|(i, (_, c))| (ChartId(i as u32), c.clone())).collect()
    }
    fn chart(&self, id: ChartId) -> Option<ChartMeta> {
        self.read_lock().charts.get(id.0 as usize).map(|(_, c)| c.clone())
    }
    fn dimensions(&self, chart: ChartId) -> Vec<(SeriesId, DimMeta)> {
        let g = self.read_lock();
        g.dims.iter().enumerate().filter(|(_, (c, _))| *c == chart.0).map(|(i, (_, d))| (SeriesId(i as u32), d.clone())).collect()
    }
    fn series_update_every(&self, id: SeriesId) -> Option<u32> {
        let g = self.read_lock();
        let s = g.series.get(id.0 as usize)?;
        g.charts.get(s.chart as usize).map(|(_, c)| c.update_every.max(1))
    }

    fn write(&self, id: SeriesId, time: UnixTime, value: StorageNumber) -> Result<WriteOutcome, StoreError> {
        let ue = self.series_update_every(id).ok_or(StoreError::UnknownId { kind: "series", id: id.0 })?;
        let Some(point) = TierPoint::from_number(time, value) else {
            return Ok(WriteOutcome::Gap);
        };
        let widths: Vec<i64> = (1..self.config.tiers.len()).map(|t| self.config.tier_width(t, ue)).collect();
        let mut g = self.write_lock();
        let s = &mut g.series[id.0 as usize];
        if s.tier0.contains_key(&time) {
            g.overlap += 1;
            return Ok(WriteOutcome::Overlap);
        }
        s.tier0.insert(time, value);
        for (tier, width) in s.upper.iter_mut().zip(widths) {
            let slot = tier_slot(time, ue, width);
            tier.entry(slot).and_modify(|agg| fold(agg, &point)).or_insert(TierPoint { time: slot, ..point });
        }
        g.written += 1;
        Ok(WriteOutcome::Stored)
    }

    fn write_aggregate(&self, id: SeriesId, tier: usize, point: TierPoint) -> Result<WriteOutcome, StoreError> {
        if tier == 0 || tier >= self.config.tiers.len() {
            return Err(StoreError::Invalid(format!("tier {tier} is not an aggregate tier of this store")));
        }
        if point.count == 0 || !point.sum.is_finite() {
            return Ok(WriteOutcome::Gap);
        }
        let mut g = self.write_lock();
        let s = g.series.get_mut(id.0 as usize).ok_or(StoreError::UnknownId { kind: "series", id: id.0 })?;
        let t = &mut s.upper[tier - 1];
        if t.contains_key(&point.time) {
            g.overlap += 1;
            return Ok(WriteOutcome::Overlap);
        }
        t.insert(point.time, point);
        g.written += 1;
        Ok(WriteOutcome::Stored)
    }

    fn read(&self, id: SeriesId, tier: usize, after: UnixTime, before: UnixTime, out: &mut Vec<TierPoint>) -> Result<(), StoreError> {
        let g = self.read_lock();
        let s = g.series.get(id.0 as usize).ok_or(StoreError::UnknownId { kind: "series", id: id.0 })?;
        if after > before {
            return Ok(());
        }
        if tier == 0 {
            out.extend(s.tier0.range(after..=before).filter_map(|(&t, &n)| TierPoint::from_number(t, n)));
        } else if let Some(t) = s.upper.get(tier - 1) {
            out.extend(t.range(after..=before).map(|(_, p)| round_f32(p)));
        }
        Ok(())
    }

    fn retention(&self, id: SeriesId, tier: usize) -> Option<Retention> {
        let g = self.read_lock();
        let s = g.series.get(id.0 as usize)?;
        let (first, last) = if tier == 0 {
            (*s.tier0.keys().next()?, *s.tier0.keys().next_back()?)
        } else {
            let t = s.upper.get(tier - 1)?;
            (*t.keys().next()?, *t.keys().next_back()?)
        };
        Some(Retention { first, last })
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn stats(&self) -> StoreStats {
        let g = self.read_lock();
        let mut tiers = vec![TierUsage::default(); self.config.tiers.len()];
        for s in &g.series {
            tiers[0].points += s.tier0.len() as u64;
            for (i, t) in s.upper.iter().enumerate() {
                tiers[i + 1].points += t.len() as u64;
            }
        }
        StoreStats { points_written: g.written, points_overlap: g.overlap, tiers }
    }
}
