//! Ingest of one host's metrics into a [`Store`]: chart and dimension definitions, labels,
//! live samples (`BEGIN/SET/END`) through the collection computation
//! ([`crate::collect::compute`]), built once for every source — received streams and the
//! local collectors alike.
//!
//! A `HostIngest` outlives a stream session (Netdata keeps a chart's collection state across
//! reconnects), so a reconnecting child continues its charts' clocks.
//!
//! **Invariant:** nothing here does network I/O; a bad command is a typed error for the
//! caller to log and act on (close that one stream), never a panic or a partial write of
//! another host's data.

use std::collections::HashMap;
use std::sync::Arc;

use crate::collect::compute::{ChartState, ComputeError, ComputedPoint, ReplayValue};
use crate::model::{ChartMeta, DimMeta, HostMeta, Label};
use crate::model::UnixTime;
use crate::storage::{ChartId, HostId, SeriesId, StorageNumber, Store, StoreError, WriteCounts};
use crate::storage::mmap;

/// Deferred points are written once this many are pending (and at every
/// [`HostIngest::flush_writes`]).
const DEFER_MAX: usize = 8192;

/// Bounds on what one host may define.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_charts: usize,
    pub max_dimensions_per_chart: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_charts: 20_000, max_dimensions_per_chart: 2_000 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("chart '{0}' is not defined")]
    UnknownChart(String),
    #[error("chart '{chart}' has no dimension '{dim}'")]
    UnknownDimension { chart: String, dim: String },
    #[error("{0} without a current chart")]
    NoCurrentChart(&'static str),
    #[error("{0} outside BEGIN/END")]
    NotInSample(&'static str),
    #[error("host defines more than {0} charts")]
    TooManyCharts(usize),
    #[error("chart '{chart}' defines more than {limit} dimensions")]
    TooManyDimensions { chart: String, limit: usize },
    #[error("chart id '{0}' is not of the form type.id")]
    BadChartId(String),
    #[error(transparent)]
    Compute(#[from] ComputeError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// Runtime state of one chart.
///
/// `repr(C)`, cache-line aligned: what every collection reads (the series ids' address and
/// the hot part of the state, [`crate::collect::compute::CHART_STATE_HOT_BYTES`]) is the
/// first two cache lines (see [`ChartRt::prefetch_head`]); the metadata follows.
#[repr(C, align(64))]
pub struct ChartRt {
    /// Series of each dimension, in the order of `state`'s dimensions (their definitions
    /// live in the store: [`HostIngest::dim_metas`]).
    pub series: Vec<SeriesId>,
    pub state: ChartState,
    pub id: ChartId,
    /// The stream receiver is still fetching this chart's history (replication in progress):
    /// a re-streaming sender does not switch it to live upstream before that ends (§9).
    pub replicating: bool,
    pub meta: ChartMeta,
    pending_labels: Option<Vec<Label>>,
}

/// Bytes at the start of a [`ChartRt`] that the live path reads.
const CHART_RT_HOT_BYTES: usize = std::mem::offset_of!(ChartRt, state) + crate::collect::compute::CHART_STATE_HOT_BYTES;
const _: () = assert!(CHART_RT_HOT_BYTES <= 128, "a chart's hot state outgrew two cache lines");

impl ChartRt {
    /// Cache prefetch hints for what a collection of this chart reads first (its hot lines).
    #[inline]
    fn prefetch_head(&self) {
        mmap::prefetch_slice(std::slice::from_ref(self), CHART_RT_HOT_BYTES.div_ceil(64));
    }
}

/// Counters of one host's ingest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestStats {
    pub samples: u64,
    pub points_stored: u64,
    pub points_rejected: u64,
}

pub struct HostIngest {
    store: Arc<dyn Store>,
    host: HostId,
    meta: HostMeta,
    limits: Limits,
    charts: Vec<ChartRt>,
    by_id: HashMap<String, usize>,
    /// Every chart id, concatenated in definition order (`chart_ends[i]` ends chart `i`), and
    /// the chart after the last `BEGIN`: senders send their charts in the same order every
    /// second, so a `BEGIN` is usually one comparison against this contiguous block.
    chart_names: String,
    chart_ends: Vec<u32>,
    chart_cursor: usize,
    current: Option<usize>,
    in_sample: Option<usize>,
    /// A chart that got dimensions since its vectors were last trimmed to size (done when
    /// its definition is over: the next `CHART` or `BEGIN`), so no chart keeps the spare
    /// capacity of a doubling `Vec` for its lifetime.
    unshrunk: Option<usize>,
    pending_host_labels: Vec<Label>,
    scratch: Vec<ComputedPoint>,
    /// Points computed but not yet handed to the store (see [`HostIngest::end_deferred`]).
    pending: Vec<(SeriesId, UnixTime, StorageNumber)>,
    /// Replicated points not yet handed to the store, column-wise; written after `pending`.
    block: ReplayBlock,
    pub stats: IngestStats,
}

/// Cells (dimensions × rows) a [`ReplayBlock`] holds at most: 64 KiB (unit tests: a few rows,
/// so that they cross block boundaries).
const BLOCK_CELLS: usize = if cfg!(test) { 64 } else { 16_384 };

/// The rows of a replication reply of one chart not yet written, column-wise. A reply is one
/// chart: per step an `RBEGIN ''` (the row's time) and one `RSET` per dimension, so each
/// dimension's values lie on a grid and go to the store as one run each ([`Store::write_runs`]) instead
/// of point by point. Row `r` is at `first + r * step`; an empty cell is no point (a gap, or
/// no `RSET`).
///
/// Written after the points of `pending` (which were accepted before them): a point of the
/// same chart that joins `pending` while a block is open first moves the block's points
/// there, in the order they were accepted (row by row), so every series gets its points in
/// the order they arrived, as without the block.
#[derive(Default)]
struct ReplayBlock {
    /// Chart of the block, `None` when no block is open.
    ci: Option<usize>,
    /// The chart's series when the block was opened (cell column `d` is dimension `d`).
    series: Vec<SeriesId>,
    first: UnixTime,
    step: u32,
    /// Rows in use (the last one is the row being filled).
    rows: usize,
    /// Rows per column in `cells` (`cells.len() == series.len() * cap`).
    cap: usize,
    cells: Vec<StorageNumber>,
}

impl ReplayBlock {
    /// Puts a point of chart `ci`; false when it does not fit the open block: another chart,
    /// off the grid, before the row being filled, past the block's rows, or a cell that
    /// already holds a value (the store would reject the second as an overlap: the caller
    /// writes the block, then the point goes again into a new one).
    #[inline]
    fn put(&mut self, ci: usize, dim: usize, time: UnixTime, value: StorageNumber) -> bool {
        if self.ci != Some(ci) || dim >= self.series.len() {
            return false;
        }
        let Some(row) = self.row_of(time) else { return false };
        let cell = &mut self.cells[dim * self.cap + row];
        if !cell.is_empty() {
            return false;
        }
        *cell = value;
        self.rows = self.rows.max(row + 1);
        true
    }

    /// The row of the open block a point at `time` goes to: on the grid, not before the row
    /// being filled, within the block's rows.
    #[inline(always)]
    fn row_of(&self, time: UnixTime) -> Option<usize> {
        // the row being filled or the next one (no division on the usual path)
        let step = i64::from(self.step);
        let last = self.first + (self.rows as i64 - 1) * step;
        let row = if time == last && self.rows > 0 {
            self.rows - 1
        } else if time == last + step {
            self.rows
        } else {
            let off = time.wrapping_sub(self.first);
            if off < 0 || off % step != 0 {
                return None;
            }
            let row = (off / step) as usize;
            if row + 1 < self.rows {
                return None;
            }
            row
        };
        (row < self.cap).then_some(row)
    }

    /// Opens a block for chart `ci` (none may be open) starting at `time`.
    fn open(&mut self, ci: usize, series: &[SeriesId], time: UnixTime, step: u32) {
        self.ci = Some(ci);
        self.series.clear();
        self.series.extend_from_slice(series);
        self.first = time;
        self.step = step.max(1);
        self.rows = 0;
        self.cap = (BLOCK_CELLS / series.len().max(1)).max(1);
        let n = self.cap * series.len();
        self.cells.clear();
        self.cells.resize(n, StorageNumber::EMPTY);
    }

    /// Closes the block, handing its points to `f` in the order they were accepted.
    fn drain_rows(&mut self, mut f: impl FnMut(SeriesId, UnixTime, StorageNumber)) {
        if self.ci.take().is_none() {
            return;
        }
        for r in 0..self.rows {
            let t = self.first + r as i64 * i64::from(self.step);
            for (d, &s) in self.series.iter().enumerate() {
                let v = self.cells[d * self.cap + r];
                if !v.is_empty() {
                    f(s, t, v);
                }
            }
        }
    }
}

/// Where the newline ending an `RSET` value and its flags is in `v` (what follows the id's
/// `" `): at most 21 bytes in. With 24 bytes to read, found eight bytes at a time without a
/// loop; otherwise (the end of the received bytes) byte by byte.
#[inline(always)]
fn line_end(v: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const NL: u64 = LO * b'\n' as u64;
    #[inline(always)]
    fn word(v: &[u8], at: usize) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&v[at..at + 8]);
        u64::from_le_bytes(b) ^ NL
    }
    #[inline(always)]
    fn zeros(x: u64) -> u64 {
        x.wrapping_sub(LO) & !x & HI
    }
    if v.len() < 24 {
        return crate::proto::tokenizer::find_byte(&v[..v.len().min(22)], b'\n');
    }
    // bit 7 of each byte that is the first newline (later bits may be false positives)
    let (m0, m1, m2) = (zeros(word(v, 0)), zeros(word(v, 8)), zeros(word(v, 16)));
    let m = u128::from(m1) | u128::from(m2) << 64;
    if m0 != 0 || m == 0 {
        // a line shorter than any value, or longer than 24 bytes: not this shape
        return (m0 != 0).then(|| (m0.trailing_zeros() / 8) as usize);
    }
    Some(8 + (m.trailing_zeros() / 8) as usize)
}

/// `a == b` for the short ids of charts, eight bytes at a time inline (no library call).
#[inline(always)]
fn eq_short(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |s: &[u8]| {
        let mut w = [0u8; 8];
        w.copy_from_slice(s);
        u64::from_le_bytes(w)
    };
    let (mut x, mut y) = (a.chunks_exact(8), b.chunks_exact(8));
    for (p, q) in x.by_ref().zip(y.by_ref()) {
        if word(p) != word(q) {
            return false;
        }
    }
    x.remainder() == y.remainder()
}

impl HostIngest {
    /// Registers (or updates) the host in the store.
    pub fn new(store: Arc<dyn Store>, meta: HostMeta, limits: Limits) -> Result<Self, IngestError> {
        let host = store.put_host(&meta)?;
        Ok(Self {
            store,
            host,
            meta,
            limits,
            charts: Vec::new(),
            by_id: HashMap::new(),
            chart_names: String::new(),
            chart_ends: Vec::new(),
            chart_cursor: 0,
            current: None,
            in_sample: None,
            unshrunk: None,
            pending_host_labels: Vec::new(),
            scratch: Vec::new(),
            pending: Vec::new(),
            block: ReplayBlock::default(),
            stats: IngestStats::default(),
        })
    }

    pub fn host_id(&self) -> HostId {
        self.host
    }
    pub fn meta(&self) -> &HostMeta {
        &self.meta
    }
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Updates host metadata (a new session's request: hops, system info...), keeping labels
    /// when the new meta has none.
    pub fn update_host(&mut self, mut meta: HostMeta) -> Result<(), IngestError> {
        if meta.labels.is_empty() {
            meta.labels = std::mem::take(&mut self.meta.labels);
        }
        if meta.claim_id.is_none() {
            meta.claim_id = self.meta.claim_id.take();
        }
        self.meta = meta;
        self.store.put_host(&self.meta)?;
        Ok(())
    }

    /// A new stream session starts: no current chart, no open sample.
    pub fn reset_session(&mut self) {
        self.current = None;
        self.in_sample = None;
        self.pending_host_labels.clear();
        for c in &mut self.charts {
            c.replicating = false;
        }
    }

    pub fn host_label(&mut self, label: Label) {
        if self.pending_host_labels.len() < 10_000 {
            self.pending_host_labels.push(label);
        }
    }

    /// `OVERWRITE labels`: the pending set replaces the host's labels.
    pub fn host_labels_commit(&mut self) -> Result<(), IngestError> {
        self.meta.labels = std::mem::take(&mut self.pending_host_labels);
        self.store.put_host(&self.meta)?;
        Ok(())
    }

    pub fn claimed_id(&mut self, claim_id: Option<String>) -> Result<(), IngestError> {
        self.meta.claim_id = claim_id;
        self.store.put_host(&self.meta)?;
        Ok(())
    }

    /// `CHART`: defines or redefines a chart and makes it current.
    pub fn define_chart(&mut self, meta: ChartMeta) -> Result<usize, IngestError> {
        if !meta.id.contains('.') || meta.id.starts_with('.') || meta.id.ends_with('.') {
            return Err(IngestError::BadChartId(meta.id));
        }
        self.in_sample = None;
        self.shrink_defined();
        let idx = if let Some(&i) = self.by_id.get(&meta.id) {
            let c = &mut self.charts[i];
            c.state.redefine(&meta);
            let labels = std::mem::take(&mut c.meta.labels);
            c.meta = meta;
            c.meta.labels = labels;
            c.id = self.store.put_chart(self.host, &c.meta)?;
            i
        } else {
            if self.charts.len() >= self.limits.max_charts {
                return Err(IngestError::TooManyCharts(self.limits.max_charts));
            }
            let id = self.store.put_chart(self.host, &meta)?;
            let state = ChartState::new(&meta);
            self.charts.push(ChartRt { id, meta, series: Vec::new(), state, replicating: false, pending_labels: None });
            let i = self.charts.len() - 1;
            self.by_id.insert(self.charts[i].meta.id.clone(), i);
            self.chart_names.push_str(&self.charts[i].meta.id);
            self.chart_ends.push(self.chart_names.len() as u32);
            i
        };
        self.current = Some(idx);
        Ok(idx)
    }

    /// `DIMENSION` for the current chart.
    pub fn define_dimension(&mut self, meta: DimMeta) -> Result<usize, IngestError> {
        let ci = self.current.ok_or(IngestError::NoCurrentChart("DIMENSION"))?;
        let limit = self.limits.max_dimensions_per_chart;
        let c = &mut self.charts[ci];
        let existing = c.state.dim_index(&meta.id);
        if existing.is_none() && c.series.len() >= limit {
            return Err(IngestError::TooManyDimensions { chart: c.meta.id.clone(), limit });
        }
        let di = c.state.define_dimension(&meta)?;
        let series = self.store.put_dimension(c.id, &meta)?;
        self.unshrunk = Some(ci);
        match existing {
            Some(i) => c.series[i] = series,
            None => c.series.push(series),
        }
        debug_assert_eq!(di, existing.unwrap_or(c.series.len() - 1));
        Ok(di)
    }

    /// Trims the vectors of the chart whose definition just ended (see `unshrunk`).
    fn shrink_defined(&mut self) {
        if let Some(c) = self.unshrunk.take().and_then(|i| self.charts.get_mut(i)) {
            c.series.shrink_to_fit();
            c.state.shrink_to_fit();
        }
    }

    /// The dimension definitions of chart `ci`, in the order of its state (read from the
    /// store, which keeps the one copy of them).
    pub fn dim_metas(&self, ci: usize) -> Vec<DimMeta> {
        let Some(c) = self.charts.get(ci) else { return Vec::new() };
        let mut stored: HashMap<SeriesId, DimMeta> = self.store.dimensions(c.id).into_iter().collect();
        c.series.iter().filter_map(|s| stored.remove(s)).collect()
    }

    /// `CLABEL` for the current chart.
    pub fn chart_label(&mut self, label: Label) -> Result<(), IngestError> {
        let ci = self.current.ok_or(IngestError::NoCurrentChart("CLABEL"))?;
        let p = self.charts[ci].pending_labels.get_or_insert_with(Vec::new);
        if p.len() < 1_000 {
            p.push(label);
        }
        Ok(())
    }

    /// `CLABEL_COMMIT`: the labels sent since the chart definition replace the chart's.
    pub fn chart_labels_commit(&mut self) -> Result<(), IngestError> {
        let ci = self.current.ok_or(IngestError::NoCurrentChart("CLABEL_COMMIT"))?;
        let c = &mut self.charts[ci];
        if let Some(labels) = c.pending_labels.take() {
            c.meta.labels = labels;
            c.id = self.store.put_chart(self.host, &c.meta)?;
        }
        Ok(())
    }

    /// The chart of the last CHART / BEGIN (target of DIMENSION, CLABEL, CHART_DEFINITION_END).
    pub fn current_chart(&self) -> Option<usize> {
        self.current
    }

    pub fn chart_index(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }
    pub fn chart(&self, index: usize) -> Option<&ChartRt> {
        self.charts.get(index)
    }
    pub fn chart_mut(&mut self, index: usize) -> Option<&mut ChartRt> {
        self.charts.get_mut(index)
    }
    pub fn charts(&self) -> &[ChartRt] {
        &self.charts
    }

    /// Id of chart `i` from the contiguous block (empty when out of range).
    fn chart_name(&self, i: usize) -> &str {
        let end = self.chart_ends.get(i).map_or(0, |&e| e as usize);
        let start = if i == 0 { 0 } else { self.chart_ends.get(i - 1).map_or(end, |&e| e as usize) };
        self.chart_names.get(start..end).unwrap_or("")
    }

    /// `BEGIN "<chart>" <usec>`.
    pub fn begin(&mut self, chart: &str, usec: u64, now_us: i64) -> Result<usize, IngestError> {
        let ci = match self.chart_at_cursor(chart.as_bytes()) {
            Some(ci) => ci,
            None => self.chart_index(chart).ok_or_else(|| IngestError::UnknownChart(chart.to_string()))?,
        };
        self.begin_at(ci, usec, now_us);
        Ok(ci)
    }

    /// [`HostIngest::begin`] with the chart id as read from the line (not checked for UTF-8:
    /// equal bytes are a valid id). `None` when no chart has exactly these bytes as its id —
    /// nothing changed; the caller then takes the general way (which reports the error).
    #[inline]
    pub fn begin_by_id(&mut self, chart: &[u8], usec: u64, now_us: i64) -> Option<usize> {
        let ci = match self.chart_at_cursor(chart) {
            Some(ci) => ci,
            None => self.chart_index(std::str::from_utf8(chart).ok()?)?,
        };
        self.begin_at(ci, usec, now_us);
        Some(ci)
    }

    /// The chart after the last `BEGIN`, if `chart` is its id (senders repeat their order).
    #[inline]
    fn chart_at_cursor(&self, chart: &[u8]) -> Option<usize> {
        let c = if self.chart_cursor < self.chart_ends.len() { self.chart_cursor } else { 0 };
        (eq_short(self.chart_name(c).as_bytes(), chart) && c < self.charts.len()).then_some(c)
    }

    /// `BEGIN` of the existing chart `ci`.
    #[inline]
    fn begin_at(&mut self, ci: usize, usec: u64, now_us: i64) {
        self.chart_cursor = ci + 1;
        if self.unshrunk.is_some() {
            self.shrink_defined();
        }
        // Senders go through their charts in the same order every interval: start loading the
        // next charts' state now (cold by then), overlapping the cache misses with this one.
        if let Some(c) = self.charts.get(ci + 2) {
            c.prefetch_head();
        }
        if let Some(c) = self.charts.get(ci + 1) {
            c.state.prefetch_dims();
            mmap::prefetch_slice(&c.series, 4);
        }
        self.charts[ci].state.begin(usec, now_us);
        self.in_sample = Some(ci);
        self.current = Some(ci);
    }

    /// `SET "<dim>" = <value>` inside BEGIN/END (`None` = empty value, dimension left unset).
    pub fn set(&mut self, dim: &str, value: Option<i64>) -> Result<(), IngestError> {
        let Some(ci) = self.in_sample else { return Err(IngestError::NotInSample("SET")) };
        let c = &mut self.charts[ci];
        let di = c.state.dim_index_next(dim).ok_or_else(|| IngestError::UnknownDimension { chart: c.meta.id.clone(), dim: dim.to_string() })?;
        c.state.set(di, value)?;
        Ok(())
    }

    /// [`HostIngest::set`] with the dimension id as read from the line (not checked for
    /// UTF-8). `None` when there is no sample in progress or its chart has no dimension with
    /// exactly these bytes as its id — nothing changed; the caller then takes the general way
    /// (which reports the error).
    #[inline]
    pub fn set_by_id(&mut self, dim: &[u8], value: Option<i64>) -> Option<()> {
        let c = self.charts.get_mut(self.in_sample?)?;
        c.state.set_by_id(dim, value)
    }

    /// The live lines at the start of `buf` (received bytes after a line) in exactly the shape
    /// every sender writes them, without framing each line first: `BEGIN "<id>" <usec>` of
    /// a defined chart (the one after the previous `BEGIN` first, see
    /// [`crate::proto::command::begin_parts`] and [`HostIngest::begin_by_id`]), the `SET`s of
    /// the sample in progress in the usual shape and order ([`ChartState::live_sets`]) and
    /// `END` of a sample in progress ([`HostIngest::end_deferred`] at `now_us`). Each line
    /// does what the general way does for it. Stops before the first other line (another
    /// command or shape, an unknown chart, a `SET` of another dimension or value shape,
    /// `SET`/`END` outside a sample, a line longer than `max_line` or not complete yet): the
    /// caller takes it the usual way. Returns the bytes and lines taken (all of them `BEGIN`,
    /// `SET` or `END`), the `END`s among them, and the error of writing the pending points
    /// (the `END` that hit it is taken).
    pub fn live_run(&mut self, buf: &[u8], max_line: usize, now_us: i64) -> (usize, u64, u64, Result<(), IngestError>) {
        let (mut pos, mut lines, mut ends) = (0usize, 0u64, 0u64);
        loop {
            let rest = &buf[pos..];
            match rest.first() {
                Some(b'S') => {
                    let Some(c) = self.in_sample.and_then(|ci| self.charts.get_mut(ci)) else { break };
                    let (n, k) = c.state.live_sets(rest, max_line);
                    if n == 0 {
                        break;
                    }
                    pos += n;
                    lines += k;
                }
                Some(b'E') => {
                    if !rest.starts_with(b"END\n") || max_line < 3 || self.in_sample.is_none() {
                        break;
                    }
                    pos += 4;
                    lines += 1;
                    if let Err(e) = self.end_deferred(now_us) {
                        return (pos, lines, ends, Err(e));
                    }
                    ends += 1;
                }
                Some(b'B') => {
                    let Some(body) = rest.strip_prefix(b"BEGIN \"") else { break };
                    let Some(nl) = crate::proto::tokenizer::find_byte(&rest[..rest.len().min(max_line + 1)], b'\n') else { break };
                    let Some((id, usec)) = crate::proto::command::begin_parts(&body[..nl - 7]) else { break };
                    if self.begin_by_id(id, usec, now_us).is_none() {
                        break;
                    }
                    pos += nl + 1;
                    lines += 1;
                }
                _ => break,
            }
        }
        (pos, lines, ends, Ok(()))
    }

    /// `SET` by dimension index (local collectors).
    pub fn set_index(&mut self, di: usize, value: Option<i64>) -> Result<(), IngestError> {
        let Some(ci) = self.in_sample else { return Err(IngestError::NotInSample("SET")) };
        self.charts[ci].state.set(di, value)?;
        Ok(())
    }

    /// `END`: computes the chart's slots and stores them. Returns the number of points stored.
    pub fn end(&mut self, now_us: i64) -> Result<usize, IngestError> {
        let Some(ci) = self.in_sample.take() else { return Err(IngestError::NotInSample("END")) };
        self.scratch.clear();
        let c = &mut self.charts[ci];
        c.state.end(now_us, &mut self.scratch);
        self.stats.samples += 1;
        let points = std::mem::take(&mut self.scratch);
        let r = self.store_points(ci, &points);
        self.scratch = points;
        r
    }

    /// [`HostIngest::end`] without writing: the points join the pending batch, written at the
    /// next [`HostIngest::flush_writes`] (or when [`DEFER_MAX`] are pending). A stream receiver
    /// flushes once per chunk read — one store lock for thousands of points — and before
    /// anything that reads this host's store. Returns the number of points deferred.
    pub fn end_deferred(&mut self, now_us: i64) -> Result<usize, IngestError> {
        let Some(ci) = self.in_sample.take() else { return Err(IngestError::NotInSample("END")) };
        self.scratch.clear();
        self.charts[ci].state.end(now_us, &mut self.scratch);
        self.stats.samples += 1;
        let points = std::mem::take(&mut self.scratch);
        let n = self.defer_points(ci, &points);
        self.scratch = points;
        if self.pending.len() >= DEFER_MAX {
            self.flush_writes()?;
        }
        Ok(n)
    }

    /// Adds computed points of chart `ci` to the pending batch (see
    /// [`HostIngest::end_deferred`]); the caller flushes.
    pub fn defer_points(&mut self, ci: usize, points: &[ComputedPoint]) -> usize {
        if self.block.ci == Some(ci) {
            self.spill_block();
        }
        let Some(c) = self.charts.get(ci) else { return 0 };
        let before = self.pending.len();
        for p in points {
            if p.value.is_empty() {
                continue;
            }
            if let Some(&series) = c.series.get(p.dim) {
                self.pending.push((series, p.time, p.value));
            }
        }
        self.pending.len() - before
    }

    /// `RSET` of a replication reply of chart `ci`, with the dimension id as read from the line
    /// (see [`ChartState::replay_set_by_id`]): the point joins the chart's [`ReplayBlock`]
    /// (written by [`HostIngest::flush_writes`]; a point that does not fit the open block
    /// writes it first). `None` when the chart or a dimension with exactly these id bytes
    /// does not exist — nothing changed; the caller then takes the general way (which reports
    /// the error). `Some(Ok(true))` when a point was produced (stored or a gap),
    /// `Some(Ok(false))` when the `RSET` was ignored (no accepted timed `RBEGIN`), an error
    /// when writing the previous block failed.
    #[inline]
    pub fn replay_set_by_id(&mut self, ci: usize, id: &[u8], value: ReplayValue, flags: &[u8]) -> Option<Result<bool, IngestError>> {
        let c = self.charts.get_mut(ci)?;
        let Some(p) = c.state.replay_set_by_id(id, value, flags)? else { return Some(Ok(false)) };
        Some(self.replay_store(ci, p).map(|()| true))
    }

    /// The rows of a replication reply of chart `ci` at the start of `buf`: as many complete
    /// lines as are in exactly the shape a 1.37.1 sender writes them, `RBEGIN '' <start>
    /// <end> <child_now>\n` (see [`crate::proto::command::rbegin_span_fast`]; the span is
    /// accepted or not by [`ChartState::replay_begin`] with `now` and the child clock
    /// `clock` makes of the line's) and `RSET "<id>" <%0.7f> ""\n` for the dimension
    /// expected next (the one after the previous `RSET`: senders list a chart's dimensions
    /// in the same order every row) while a timed `RBEGIN` is active. An `RSET` is matched
    /// by comparing its bytes with the expected id — no line split, tokenizing or lookup —
    /// and gives what [`HostIngest::replay_set_by_id`] gives for it. Stops before the first
    /// other line (another command, another shape, another dimension, flags, a value not in
    /// the `%0.7f` shape, a line longer than `max_line` or not complete yet): the caller
    /// takes it the usual way. Returns the bytes and lines taken, the points produced, and
    /// the error of writing a block (the line that hit it is taken).
    pub fn replay_rows(
        &mut self,
        ci: usize,
        buf: &[u8],
        max_line: usize,
        now: UnixTime,
        clock: impl Fn(Option<UnixTime>) -> Option<UnixTime>,
    ) -> (usize, u64, u64, Result<(), IngestError>) {
        let (mut pos, mut lines, mut produced) = (0usize, 0u64, 0u64);
        let Some(c) = self.charts.get(ci) else { return (0, 0, 0, Ok(())) };
        // an id with a quote or backslash is split otherwise by the tokenizer: such charts
        // go the usual way
        if (0..c.state.dimensions().len()).any(|d| c.state.dim_id(d).bytes().any(|b| b == b'"' || b == b'\\')) {
            return (0, 0, 0, Ok(()));
        }
        loop {
            let rest = &buf[pos..];
            if let Some(body) = rest.strip_prefix(b"RSET \"") {
                // the rest of the row straight into its cells of the open block
                let (n, k, p) = self.replay_row_cells(ci, rest, max_line);
                if k > 0 {
                    (pos, lines, produced) = (pos + n, lines + k, produced + p);
                    continue;
                }
                let c = &mut self.charts[ci];
                // `<id>" `
                let Some((dim, k)) = c.state.replay_match_next(body) else { break };
                // the value (at most 18 bytes) and ` ""`, then the newline
                let v = &body[k + 2..];
                let Some(nl) = line_end(v) else { break };
                let Some(word) = v[..nl].strip_suffix(b" \"\"") else { break };
                let Some((neg, m)) = crate::proto::number::parse_fixed7(word) else { break };
                if 6 + k + 2 + nl > max_line {
                    break;
                }
                pos += 6 + k + 2 + nl + 1;
                lines += 1;
                let Some(p) = c.state.replay_set_next(dim, neg, m) else { continue };
                if let Err(e) = self.replay_store(ci, p) {
                    return (pos, lines, produced, Err(e));
                }
                produced += 1;
            } else if let Some(r) = rest.strip_prefix(b"RBEGIN '' ") {
                let Some(nl) = crate::proto::tokenizer::find_byte(&r[..r.len().min(64)], b'\n') else { break };
                let Some(span) = crate::proto::command::rbegin_span_fast(&r[..nl]) else { break };
                if 10 + nl > max_line {
                    break;
                }
                self.charts[ci].state.replay_begin(span.start, span.end, clock(span.child_now), now);
                pos += 10 + nl + 1;
                lines += 1;
            } else {
                break;
            }
        }
        (pos, lines, produced, Ok(()))
    }

    /// The `RSET` lines at the start of `buf` that [`HostIngest::replay_rows`] takes for chart
    /// `ci`, while their points go to empty cells of one row of the open block (the block is
    /// the chart's, with a column per dimension, and the row of the active `RBEGIN` time fits
    /// it): the cells written directly, no [`ComputedPoint`] or per-point block checks. The
    /// same state changes and cells as `replay_rows`' way line by line; stops before any
    /// line that way would treat otherwise (a point for a cell already filled, another
    /// shape, fewer than 64 bytes left). Returns the bytes and lines taken and the points
    /// produced.
    #[inline]
    fn replay_row_cells(&mut self, ci: usize, buf: &[u8], max_line: usize) -> (usize, u64, u64) {
        let (mut pos, mut lines, mut produced) = (0usize, 0u64, 0u64);
        let b = &mut self.block;
        let Some(c) = self.charts.get_mut(ci) else { return (0, 0, 0) };
        let Some(time) = c.state.replay_time() else { return (0, 0, 0) };
        let ndims = b.series.len();
        if b.ci != Some(ci) || c.series.len() != ndims || c.state.dimensions().len() != ndims || b.cells.len() < ndims * b.cap {
            return (0, 0, 0);
        }
        let Some(row) = b.row_of(time) else { return (0, 0, 0) };
        let cap = b.cap;
        let mut wrote = false;
        while buf.len() - pos >= 64 {
            let Some(body) = buf[pos..].strip_prefix(b"RSET \"") else { break };
            let Some((dim, k)) = c.state.replay_match_next(body) else { break };
            // the value, ` ""` and the newline (at least 40 bytes left: k <= 16)
            let Some((neg, m, nl)) = crate::proto::number::rset_tail_fixed7(&body[k + 2..]) else { break };
            if 6 + k + 2 + nl > max_line {
                break;
            }
            let Some(cell) = b.cells.get_mut(dim * cap + row) else { break };
            if !cell.is_empty() {
                break; // the line-by-line way writes the block and opens another
            }
            pos += 6 + k + 2 + nl + 1;
            lines += 1;
            let Some(p) = c.state.replay_set_next(dim, neg, m) else { continue };
            produced += 1;
            if !p.value.is_empty() {
                *cell = p.value;
                wrote = true;
            }
        }
        if wrote {
            b.rows = b.rows.max(row + 1);
        }
        (pos, lines, produced)
    }

    /// A replicated point of chart `ci` into the open [`ReplayBlock`] (a point that does not
    /// fit writes the block and opens a new one).
    #[inline]
    fn replay_store(&mut self, ci: usize, p: ComputedPoint) -> Result<(), IngestError> {
        let Some(c) = self.charts.get(ci) else { return Ok(()) };
        if p.value.is_empty() || p.dim >= c.series.len() || self.block.put(ci, p.dim, p.time, p.value) {
            return Ok(());
        }
        let step = c.state.update_every();
        let r = if self.block.ci.is_some() { self.flush_writes().map(|_| ()) } else { Ok(()) };
        let c = &self.charts[ci];
        self.block.open(ci, &c.series, p.time, step);
        let fits = self.block.put(ci, p.dim, p.time, p.value);
        debug_assert!(fits, "a new block takes its first point");
        r
    }

    /// Points deferred and not written yet (the open replication block excluded: it is
    /// bounded by itself).
    pub fn pending_writes(&self) -> usize {
        self.pending.len()
    }

    /// Moves the open replication block's points to the end of `pending`.
    fn spill_block(&mut self) {
        let pending = &mut self.pending;
        self.block.drain_rows(|s, t, v| pending.push((s, t, v)));
    }

    /// Writes the pending batch. Returns the number of points stored.
    pub fn flush_writes(&mut self) -> Result<usize, IngestError> {
        let mut counts = WriteCounts::default();
        let mut r = Ok(());
        if !self.pending.is_empty() {
            r = self.store.write_many(&self.pending, &mut counts);
            self.pending.clear();
        }
        if let Some(_ci) = self.block.ci.take() {
            if r.is_ok() {
                let b = &self.block;
                let runs: Vec<(SeriesId, &[StorageNumber])> = b.series.iter().enumerate().map(|(d, &s)| (s, &b.cells[d * b.cap..d * b.cap + b.rows])).collect();
                r = self.store.write_runs(b.first, b.step, &runs, &mut counts);
            }
        } else if self.block.cells.capacity() > 0 {
            // a flush with no block since the last one: the replies are over for now, the
            // 64 KiB are not kept (a parent has many children)
            self.block.cells = Vec::new();
        }
        self.stats.points_stored += counts.stored;
        self.stats.points_rejected += counts.overlap + counts.expired;
        r?;
        Ok(counts.stored as usize)
    }

    /// Stores computed points of chart `ci` (live or replicated), after any pending ones.
    pub fn store_points(&mut self, ci: usize, points: &[ComputedPoint]) -> Result<usize, IngestError> {
        let before = self.stats.points_stored;
        self.defer_points(ci, points);
        self.flush_writes()?;
        Ok((self.stats.points_stored - before) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Algorithm;
    use crate::storage::mem::MemStore;

    fn setup() -> (Arc<dyn Store>, HostIngest) {
        let store: Arc<dyn Store> = Arc::new(MemStore::new(Default::default()));
        let host = HostMeta { guid: "g".into(), hostname: "h".into(), ..Default::default() };
        let ing = HostIngest::new(store.clone(), host, Limits::default()).expect("host");
        (store, ing)
    }

    fn chart(id: &str) -> ChartMeta {
        ChartMeta { id: id.into(), name: id.into(), update_every: 1, ..Default::default() }
    }

    #[test]
    fn incremental_dimension_stores_rates_after_first_collection() {
        let (store, mut ing) = setup();
        ing.define_chart(chart("t.inc")).expect("chart");
        ing.define_dimension(DimMeta { id: "a".into(), name: "a".into(), algorithm: Algorithm::Incremental, multiplier: 1, divisor: 1, options: String::new() }).expect("dim");
        // Collections exactly on second + 0.5 s, counter growing by 100 per second.
        let base: i64 = 1_700_000_000;
        for i in 0..6i64 {
            ing.begin("t.inc", if i == 0 { 0 } else { 1_000_000 }, (base + i) * 1_000_000 + 500_000).expect("begin");
            ing.set("a", Some(1000 + 100 * i)).expect("set");
            ing.end((base + i) * 1_000_000 + 500_000).expect("end");
        }
        let (cid, _) = store.charts(ing.host_id())[0].clone();
        let (sid, _) = store.dimensions(cid)[0].clone();
        let mut out = Vec::new();
        store.read(sid, 0, base, base + 10, &mut out).expect("read");
        let values: Vec<f64> = out.iter().map(|p| p.sum).collect();
        assert!(values.len() >= 3, "{values:?}");
        // Steady state: 100 per second.
        assert!((values.last().expect("last") - 100.0).abs() < 1e-9, "{values:?}");
    }

    /// Replication rows through the column block (`replay_set_by_id`) store what the general
    /// way (a point at a time through `defer_points`) stores, with the same counters, on
    /// irregular replies: rows repeated, going back, jumping ahead, `update_every` changing,
    /// dimensions missing, repeated or out of order, gaps, live points of the same chart and
    /// of another one in between, flushes anywhere, and more rows than a block holds.
    #[test]
    fn replay_block_stores_what_point_by_point_stores() {
        let base: i64 = 1_700_000_000;
        for seed in [1u64, 2, 3, 0xDEAD_BEEF] {
            let mut results = Vec::new();
            for fast in [true, false] {
                let (store, mut ing) = setup();
                let mut ids = Vec::new();
                for c in ["r.a", "r.b"] {
                    let ci = ing.define_chart(chart(c)).expect("chart");
                    for d in ["x", "y", "z", "w"] {
                        ing.define_dimension(DimMeta { id: d.into(), name: d.into(), algorithm: Algorithm::Absolute, multiplier: 1, divisor: 1, options: String::new() }).expect("dim");
                    }
                    ids.push(ci);
                }
                let mut rng = crate::testkit::XorShift64::new(seed);
                let mut next = || rng.next_u64();
                let (ca, cb) = (ids[0], ids[1]);
                ing.chart_mut(ca).expect("chart").state.replay_start();
                let mut t = base;
                for _ in 0..20_000 {
                    match next() % 100 {
                        // a row: mostly the next second
                        0..=14 => {
                            t += match next() % 20 {
                                0 => 0,
                                1 => -((next() % 30) as i64),
                                2 => 2 + (next() % 500) as i64,
                                _ => 1,
                            };
                            let span = if next() % 50 == 0 { 2 } else { 1 };
                            let c = ing.chart_mut(ca).expect("chart");
                            c.state.replay_begin(t - span, t, Some(base + 1_000_000), 0);
                        }
                        // a live point of the same chart or of the other one
                        15 | 16 => {
                            let (ci, dim) = (if next() % 2 == 0 { ca } else { cb }, (next() % 4) as usize);
                            let p = ComputedPoint { dim, time: t + (next() % 5) as i64 - 2, value: StorageNumber::pack((next() % 1000) as f64, 0) };
                            ing.defer_points(ci, &[p]);
                        }
                        17 => {
                            ing.flush_writes().expect("flush");
                        }
                        _ => {
                            let dim = ["x", "y", "z", "w"][if next() % 8 == 0 { (next() % 4) as usize } else { 0 }.max((next() % 4) as usize)];
                            let (v, f) = match next() % 10 {
                                0 => (f64::NAN, "E"),
                                1 => ((next() % 100) as f64, "R"),
                                _ => ((next() % 100_000) as f64 / 7.0, ""),
                            };
                            if fast {
                                ing.replay_set_by_id(ca, dim.as_bytes(), ReplayValue::F64(v), f.as_bytes()).expect("known dimension").expect("written");
                            } else {
                                let c = ing.chart_mut(ca).expect("chart");
                                let di = c.state.dim_index_next(dim).expect("known dimension");
                                if let Some(p) = c.state.replay_set_value(di, v, f).expect("rset") {
                                    ing.defer_points(ca, &[p]);
                                }
                            }
                        }
                    }
                }
                ing.flush_writes().expect("flush");
                let mut all = Vec::new();
                for ci in &ids {
                    for &sid in &ing.chart(*ci).expect("chart").series {
                        for tier in 0..store.config().tiers.len() {
                            let mut out = Vec::new();
                            store.read(sid, tier, 0, i64::MAX / 4, &mut out).expect("read");
                            all.push(out.iter().map(|p| (p.time, p.sum.to_bits(), p.count, p.reset)).collect::<Vec<_>>());
                        }
                    }
                }
                results.push((all, ing.stats, store.stats()));
            }
            assert!(results[0].1.points_stored > 1000 && results[0].1.points_rejected > 10, "{:?}", results[0].1);
            assert_eq!(results[0], results[1], "seed {seed}");
        }
    }

    #[test]
    fn replayed_rows_by_id_bytes_store_what_the_general_way_stores() {
        let base: i64 = 1_700_000_000;
        let mut stored = Vec::new();
        for fast in [true, false] {
            let (store, mut ing) = setup();
            let ci = ing.define_chart(chart("r.c")).expect("chart");
            for id in ["a", "b", "c"] {
                ing.define_dimension(DimMeta { id: id.into(), name: id.into(), algorithm: Algorithm::Absolute, multiplier: 1, divisor: 1, options: String::new() }).expect("dim");
            }
            assert!(ing.replay_set_by_id(ci + 1, b"a", ReplayValue::F64(1.0), b"").is_none(), "no such chart");
            assert!(ing.replay_set_by_id(ci, b"zz", ReplayValue::F64(1.0), b"").is_none(), "no such dimension");
            let c = ing.chart_mut(ci).expect("chart");
            c.state.replay_start();
            assert!(matches!(ing.replay_set_by_id(ci, b"a", ReplayValue::Fixed7 { neg: false, m: 1 }, b""), Some(Ok(false))), "no timed RBEGIN yet");
            let mut produced = 0;
            for t in 1..=20i64 {
                let c = ing.chart_mut(ci).expect("chart");
                assert!(c.state.replay_begin(base + t - 1, base + t, Some(base + 30), 0));
                for (id, v, f) in [("a", t as f64 * 1.25, ""), ("b", f64::NAN, "E"), ("c", -(t as f64), if t % 4 == 0 { "R" } else { "" })] {
                    if fast {
                        let value = if t % 2 == 0 { ReplayValue::F64(v) } else { ReplayValue::Fixed7 { neg: v < 0.0, m: (v.abs() * 1e7) as u64 } };
                        produced += usize::from(ing.replay_set_by_id(ci, id.as_bytes(), value, f.as_bytes()).expect("known dimension").expect("no write error"));
                    } else {
                        let c = ing.chart_mut(ci).expect("chart");
                        let di = c.state.dim_index_next(id).expect("known dimension");
                        if let Some(p) = c.state.replay_set_value(di, v, f).expect("rset") {
                            produced += 1;
                            ing.defer_points(ci, &[p]);
                        }
                    }
                }
            }
            assert_eq!(produced, 60, "gaps count as produced points");
            if !fast {
                assert_eq!(ing.pending_writes(), 40, "gaps are not written");
            }
            assert_eq!(ing.flush_writes().expect("flush"), 40);
            let (cid, _) = store.charts(ing.host_id())[0].clone();
            let mut all = Vec::new();
            for (sid, _) in store.dimensions(cid) {
                let mut out = Vec::new();
                store.read(sid, 0, base, base + 100, &mut out).expect("read");
                all.push(out.iter().map(|p| (p.time, p.sum.to_bits(), p.reset)).collect::<Vec<_>>());
            }
            stored.push(all);
        }
        assert_eq!(stored[0], stored[1]);
        assert_eq!(stored[0][0].len(), 20);
        assert!(stored[0][1].is_empty());
        assert_eq!(stored[0][2].iter().filter(|p| p.2).count(), 5);
    }

    #[test]
    fn undeclared_chart_and_dimension_are_errors() {
        let (_s, mut ing) = setup();
        assert!(matches!(ing.begin("nope.x", 0, 0), Err(IngestError::UnknownChart(_))));
        ing.define_chart(chart("a.b")).expect("chart");
        ing.begin("a.b", 0, 1_000_000).expect("begin");
        assert!(matches!(ing.set("zz", Some(1)), Err(IngestError::UnknownDimension { .. })));
        assert!(matches!(ing.define_chart(chart("nodot")), Err(IngestError::BadChartId(_))));
    }

    #[test]
    fn definitions_leave_no_spare_capacity_and_dimension_metas_come_from_the_store() {
        let (_s, mut ing) = setup();
        for c in ["a.one", "a.two"] {
            ing.define_chart(chart(c)).expect("chart");
            for d in 0..10 {
                let mut m = DimMeta { id: format!("d{d}"), name: format!("n{d}"), multiplier: 1, divisor: 1, ..Default::default() };
                m.multiplier = d + 1;
                ing.define_dimension(m).expect("dim");
            }
        }
        // "a.one" was trimmed when "a.two" began; "a.two" at its first BEGIN
        assert_eq!(ing.chart(0).expect("a.one").series.capacity(), 10);
        ing.begin("a.two", 0, 1_000_000).expect("begin");
        assert_eq!(ing.chart(1).expect("a.two").series.capacity(), 10);
        let metas = ing.dim_metas(1);
        assert_eq!(metas.iter().map(|m| m.multiplier).collect::<Vec<_>>(), (1..=10).collect::<Vec<i64>>());
        assert_eq!(metas[3].name, "n3");
    }

    #[test]
    fn begin_finds_charts_in_any_order() {
        let (_s, mut ing) = setup();
        let ids = ["a.one", "a.two", "a.three", "b.one"];
        for id in ids {
            ing.define_chart(chart(id)).expect("chart");
        }
        let order = [0usize, 1, 2, 3, 0, 1, 2, 3, 3, 2, 1, 0, 2, 0, 3];
        for &i in &order {
            assert_eq!(ing.begin(ids[i], 0, 1_000_000).expect("begin"), i, "{}", ids[i]);
            assert_eq!(ing.current_chart(), Some(i));
            ing.end(1_000_000).expect("end");
        }
        assert!(matches!(ing.begin("a.on", 0, 0), Err(IngestError::UnknownChart(_))));
        // redefining keeps the index; a new chart is found too
        ing.define_chart(chart("a.two")).expect("redefine");
        ing.define_chart(chart("c.new")).expect("new");
        assert_eq!(ing.begin("c.new", 0, 1_000_000).expect("begin"), 4);
        assert_eq!(ing.begin("a.one", 0, 1_000_000).expect("begin"), 0);
    }

    #[test]
    fn short_id_comparison_is_slice_equality() {
        let ids: Vec<Vec<u8>> = ["", "a", "lg1.c12", "lg1.c13", "lg1.c1", "system.cpu", "system.cpx", "disk_util.nvme0n1", "disk_util.nvme0n2", "xisk_util.nvme0n1"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        for a in &ids {
            for b in &ids {
                assert_eq!(eq_short(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn chart_limit_is_enforced() {
        let store: Arc<dyn Store> = Arc::new(MemStore::new(Default::default()));
        let host = HostMeta { guid: "g".into(), hostname: "h".into(), ..Default::default() };
        let mut ing = HostIngest::new(store, host, Limits { max_charts: 2, max_dimensions_per_chart: 1 }).expect("host");
        ing.define_chart(chart("a.1")).expect("1");
        ing.define_chart(chart("a.2")).expect("2");
        assert!(matches!(ing.define_chart(chart("a.3")), Err(IngestError::TooManyCharts(2))));
        ing.define_dimension(DimMeta { id: "x".into(), name: "x".into(), multiplier: 1, divisor: 1, ..Default::default() }).expect("x");
        assert!(matches!(
            ing.define_dimension(DimMeta { id: "y".into(), name: "y".into(), multiplier: 1, divisor: 1, ..Default::default() }),
            Err(IngestError::TooManyDimensions { .. })
        ));
    }
}
