//! The collection computation of a Netdata 1.37.1 parent, as a pure state machine.
//!
//! One [`ChartState`] per chart turns collected integers (`BEGIN`/`SET`/`END`, or a local
//! collector) and replicated values (`RBEGIN`/`RSET`/`RDSTATE`/`RSSTATE`/`REND`) into the
//! tier-0 points Netdata would store: chart clock, trusted durations, algorithms, wrap
//! detection, interpolation onto the `update_every` grid, gaps, RESET flags and storage-number
//! packing. Every rule is described in `netdata-values.md` §1 and §2; comments below cite the
//! section.
//!
//! **Invariant:** no I/O, no store access, no clock reads. "Now" is always an argument (µs
//! since the epoch), so a test can replay a lab transcript deterministically. Points are
//! appended to a caller-provided `Vec`; the caller writes them to the store.
//!
//! Order of calls for a stream receiver:
//! * `CHART` → [`ChartState::new`] (first time) or [`ChartState::redefine`] (again);
//!   `DIMENSION` → [`ChartState::define_dimension`].
//! * live: [`ChartState::begin`], [`ChartState::set`] per `SET` (text via
//!   [`parse_set_value`]), [`ChartState::end`].
//! * replication reply: `RBEGIN "<id>"` → [`ChartState::replay_start`]; `RBEGIN '' s e now` →
//!   [`ChartState::replay_begin`]; `RSET` → [`ChartState::replay_set`] (or, with the id as
//!   read from the line and the `%0.7f` value as its exact decimal,
//!   [`ChartState::replay_set_by_id`]); `RDSTATE` →
//!   [`ChartState::replay_dim_state`]; `RSSTATE` → [`ChartState::replay_chart_state`]; `REND` →
//!   [`ChartState::replay_end`].

mod parse;


pub use parse::{strtod, strtoll0};

use std::collections::HashMap;

use crate::model::{Algorithm, ChartMeta, DimMeta, UnixTime};
use crate::storage::number::{FLAG_NOT_ANOMALOUS, FLAG_RESET};
use crate::storage::StorageNumber;

const USEC_PER_SEC: i64 = 1_000_000;

/// Most dimensions one chart may have (bounds what a peer can make us allocate).
pub const MAX_DIMENSIONS: usize = 10_000;

/// Largest `update_every` accepted (seconds); larger values are clamped.
pub const MAX_UPDATE_EVERY: u32 = 86_400;

/// Latest time accepted from a peer (seconds, year ~36 800): keeps all µs arithmetic far from
/// `i64` overflow.
pub const MAX_TIME_S: i64 = 1 << 40;
const MAX_TIME_US: i64 = MAX_TIME_S * USEC_PER_SEC;
/// Longest `BEGIN` duration accepted (µs); anything longer resets the chart anyway.
const MAX_DURATION_US: i64 = 1 << 50;

/// `[db] gap when lost iterations above` default (Netdata adds 2 to it).
pub const DEFAULT_GAP_WHEN_LOST_ITERATIONS_ABOVE: i64 = 1;

/// dbengine resets a chart whose clock jumps more than one page of points (`4096 / 4`).
const PAGE_POINTS: i64 = 1024;

/// `MAX_INCREMENTAL_PERCENT_RATE`: an incremental counter going down by less than this
/// percentage of its range is an overflow, otherwise a reset.
const MAX_INCREMENTAL_PERCENT_RATE: u64 = 10;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ComputeError {
    #[error("chart '{chart}': no dimension with index {index} (chart has {count})")]
    UnknownDimension { chart: String, index: usize, count: usize },
    #[error("chart '{chart}': too many dimensions (limit {limit})")]
    TooManyDimensions { chart: String, limit: usize },
}

/// One tier-0 point produced by the computation: dimension index in the chart, slot time
/// (seconds, a multiple of `update_every`) and the packed value with its flags. A gap is
/// [`StorageNumber::EMPTY`] (the store may ignore it, but it still advances the dimension's
/// "last stored time", like dbengine).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ComputedPoint {
    pub dim: usize,
    pub time: UnixTime,
    pub value: StorageNumber,
}

/// Collection state of one dimension (Netdata's `RRDDIM` collection fields).
#[derive(Clone, Debug)]
pub struct DimState {
    /// The id's first bytes and its length: a `SET` is matched against the dimension it
    /// touches anyway, without reading the chart's id block (ids of up to 16 bytes).
    key: IdKey,
    /// The id is not empty and holds no quote or backslash: a `SET` line naming it splits at
    /// the quote after it (only such ids are matched by [`ChartState::live_sets`]).
    plain_id: bool,
    algorithm: Algorithm,
    multiplier: i64,
    divisor: i64,
    /// `noreset` or `nooverflow`: do not raise the RESET flag.
    dont_detect_resets: bool,
    /// SET in this iteration.
    updated: bool,
    /// `C` is NaN between iterations (else 0): Netdata keeps `C` in the dimension, and a slot
    /// loop over a zero-length collection interval (`LC = P`) leaves NaN in the `C` of a
    /// dimension not SET, which its next incremental `C += …` carries on. `C` itself lives only
    /// during [`ChartState::end`].
    calc_nan: bool,
    /// `v`: the value SET in this iteration.
    collected: i64,
    /// `v'`.
    last_collected: i64,
    /// `C'` (absolute, percentages) or the carried remainder `R` (incremental).
    last_calculated: f64,
    /// `n`: values ever collected (SET or RSET) since the last chart reset.
    /// (Saturates at `u32::MAX`: only `n ≤ 1` matters.)
    collections: u32,
    /// Some |v| ever SET was above 32 bits (wrap detection: the counter is 64-bit).
    wide: bool,
    /// Last value written to a slot, unquantized (NaN after a gap): jsonwrap `latest_values`.
    last_stored_value: f64,
    /// Time of the newest point emitted (value or gap), [`NEVER`] before the first; older
    /// points are dropped.
    last_stored_time: UnixTime,
    /// When the last value was collected, µs (parent clock at `END`, or `RDSTATE`/`RSET`).
    last_collected_time_us: i64,
}

/// The first 16 bytes of an id and its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct IdKey {
    head: [u8; 16],
    len: u32,
}

impl IdKey {
    fn of(id: &str) -> Self {
        let mut head = [0u8; 16];
        let n = id.len().min(16);
        head[..n].copy_from_slice(&id.as_bytes()[..n]);
        Self { head, len: id.len().min(u32::MAX as usize) as u32 }
    }
    /// Whether `id` is the id this key was made of; `full` is that id, read only when the key
    /// alone cannot tell (ids longer than 16 bytes).
    fn matches(&self, id: &str, full: impl FnOnce() -> bool) -> bool {
        // Whole fixed-size arrays compare inline (two words), not through memcmp.
        *self == Self::of(id) && (id.len() <= 16 || full())
    }
    /// [`Self::matches`] on bytes, without building a key (no copy of the id).
    #[inline]
    fn matches_bytes(&self, id: &[u8], full: impl FnOnce() -> bool) -> bool {
        if self.len as usize != id.len() {
            return false;
        }
        let n = id.len().min(16);
        let mut i = 0;
        while i < n {
            if self.head[i] != id[i] {
                return false;
            }
            i += 1;
        }
        id.len() <= 16 || full()
    }
}

impl DimState {
    fn new(meta: &DimMeta, collections: u32) -> Self {
        Self {
            key: IdKey::of(&meta.id),
            plain_id: !meta.id.is_empty() && !meta.id.bytes().any(|b| b == b'"' || b == b'\\'),
            algorithm: meta.algorithm,
            multiplier: nonzero(meta.multiplier),
            divisor: nonzero(meta.divisor),
            dont_detect_resets: meta.has_option("noreset") || meta.has_option("nooverflow"),
            updated: false,
            calc_nan: false,
            collected: 0,
            last_collected: 0,
            last_calculated: 0.0,
            collections,
            wide: false,
            last_stored_value: f64::NAN,
            last_stored_time: NEVER,
            last_collected_time_us: 0,
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
    /// Last raw collected integer `v'` (Prometheus "as collected").
    pub fn last_collected_value(&self) -> i64 {
        self.last_collected
    }
    /// When `v'` was collected, µs since the epoch; 0 = never.
    pub fn last_collected_time_us(&self) -> i64 {
        self.last_collected_time_us
    }
    /// The last value written to a slot before quantization (NaN after a gap or never).
    pub fn last_stored_value(&self) -> f64 {
        self.last_stored_value
    }
    /// `C'` for absolute/percentage dimensions, the carried remainder `R` for incremental.
    pub fn last_calculated_value(&self) -> f64 {
        self.last_calculated
    }
    /// Number of values collected since the chart's last reset (`n`).
    pub fn collections(&self) -> u64 {
        u64::from(self.collections)
    }
    pub fn multiplier(&self) -> i64 {
        self.multiplier
    }
    pub fn divisor(&self) -> i64 {
        self.divisor
    }
}

fn nonzero(x: i64) -> i64 {
    if x == 0 {
        1
    } else {
        x
    }
}

/// What the current replication block accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Replay {
    /// No timed `RBEGIN` accepted: `RSET`s are ignored.
    Off,
    /// `RSET`s are stored at this time (seconds).
    At(UnixTime),
}

/// Collection state of one chart (Netdata's `RRDSET` collection fields), see the module docs.
///
/// `repr(C)`, the fields every `BEGIN`/`SET`/`END` reads first (96 bytes), then the ones
/// only definitions and unusual lookups read: a chart's state is cold at every collection, so
/// its hot part is two cache lines (see [`ChartState::prefetch_head`]).
#[derive(Clone, Debug)]
#[repr(C)]
pub struct ChartState {
    dims: Vec<DimState>,
    /// `LC`, µs; 0 = never collected.
    last_collected_us: i64,
    /// `LU`, µs; 0 = never updated.
    last_updated_us: i64,
    /// Duration of the running iteration (set by `begin`).
    usec_since_last_update: i64,
    /// Iterations completed on this parent (live `END`s and replication replies).
    counter_done: u64,
    /// A slot gets a value only while its counter `K` is below this (default 1 + 2).
    gap_limit: i64,
    /// The dimension after the last one looked up by [`ChartState::dim_index_next`]: senders
    /// `SET` in definition order, so the next lookup is usually one comparison.
    cursor: usize,
    replay: Replay,
    update_every: u32,
    store_first: bool,
    /// `RRDSET_FLAG_SYNC_CLOCK`.
    sync_clock: bool,
    // ---- cold
    id: String,
    /// Every dimension id, concatenated in definition order (`name_ends[i]` ends id `i`): one
    /// contiguous block to compare against, instead of a heap string per dimension.
    names: String,
    name_ends: Vec<u32>,
    /// Dimension id → index in `dims`, built only for charts with more than
    /// [`LINEAR_LOOKUP_MAX`] dimensions (smaller ones scan `names`).
    index: HashMap<String, usize>,
}

/// Bytes at the start of a [`ChartState`] that the live path reads.
pub const CHART_STATE_HOT_BYTES: usize = std::mem::offset_of!(ChartState, id);
const _: () = assert!(CHART_STATE_HOT_BYTES <= 96, "the hot part of ChartState grew");

/// `last_stored_time` of a dimension that never emitted a point.
const NEVER: UnixTime = UnixTime::MIN;

/// Charts with at most this many dimensions keep their `C`s on the stack during `END`.
const CALC_ON_STACK: usize = 64;

/// Charts with at most this many dimensions find a dimension by scanning their ids.
const LINEAR_LOOKUP_MAX: usize = 16;

impl ChartState {
    /// A new chart object. The sync-clock flag is set (§1.2): the first duration after the
    /// first collection comes from the parent's clock unless a replication `REND true` clears
    /// it.
    pub fn new(meta: &ChartMeta) -> Self {
        Self {
            id: meta.id.clone(),
            update_every: clamp_ue(meta.update_every),
            store_first: has_word(&meta.options, "store_first"),
            sync_clock: true,
            last_collected_us: 0,
            last_updated_us: 0,
            usec_since_last_update: 0,
            counter_done: 0,
            gap_limit: DEFAULT_GAP_WHEN_LOST_ITERATIONS_ABOVE + 2,
            dims: Vec::new(),
            names: String::new(),
            name_ends: Vec::new(),
            cursor: 0,
            index: HashMap::new(),
            replay: Replay::Off,
        }
    }

    /// A chart with its dimensions, in order.
    pub fn with_dimensions(meta: &ChartMeta, dims: &[DimMeta]) -> Result<Self, ComputeError> {
        let mut c = Self::new(meta);
        for d in dims {
            c.define_dimension(d)?;
        }
        Ok(c)
    }

    /// `[db] gap when lost iterations above` (Netdata's default 1).
    pub fn set_gap_when_lost_iterations_above(&mut self, n: i64) {
        self.gap_limit = n.saturating_add(2);
    }

    /// `CHART` received again for an existing chart: sets the sync-clock flag and takes the
    /// new `update_every` and `store_first` option.
    pub fn redefine(&mut self, meta: &ChartMeta) {
        self.sync_clock = true;
        self.update_every = clamp_ue(meta.update_every);
        self.store_first = has_word(&meta.options, "store_first");
    }

    /// `DIMENSION`: adds a dimension (by id) or updates it. A new dimension, or a change of
    /// algorithm / multiplier / divisor, sets the sync-clock flag. Returns its index.
    pub fn define_dimension(&mut self, meta: &DimMeta) -> Result<usize, ComputeError> {
        if let Some(i) = self.dim_index(&meta.id) {
            let d = &mut self.dims[i];
            let (m, dv) = (nonzero(meta.multiplier), nonzero(meta.divisor));
            if d.algorithm != meta.algorithm || d.multiplier != m || d.divisor != dv {
                d.algorithm = meta.algorithm;
                d.multiplier = m;
                d.divisor = dv;
                self.sync_clock = true;
            }
            d.dont_detect_resets = meta.has_option("noreset") || meta.has_option("nooverflow");
            return Ok(i);
        }
        if self.dims.len() >= MAX_DIMENSIONS {
            return Err(ComputeError::TooManyDimensions { chart: self.id.clone(), limit: MAX_DIMENSIONS });
        }
        // With `store_first` a dimension starts as if already collected once (§1.6).
        self.dims.push(DimState::new(meta, u32::from(self.store_first)));
        self.names.push_str(&meta.id);
        self.name_ends.push(self.names.len() as u32);
        if self.dims.len() > LINEAR_LOOKUP_MAX {
            if self.index.is_empty() {
                for i in 0..self.dims.len() - 1 {
                    let id = self.dim_id(i).to_string();
                    self.index.insert(id, i);
                }
            }
            self.index.insert(meta.id.clone(), self.dims.len() - 1);
        }
        self.sync_clock = true;
        Ok(self.dims.len() - 1)
    }

    pub fn id(&self) -> &str {
        &self.id
    }
    pub fn update_every(&self) -> u32 {
        self.update_every
    }
    pub fn dim_index(&self, id: &str) -> Option<usize> {
        if self.dims.len() > LINEAR_LOOKUP_MAX {
            return self.index.get(id).copied();
        }
        (0..self.name_ends.len()).find(|&i| self.dim_id(i) == id)
    }

    /// [`ChartState::dim_index`] for a stream of `SET`/`RSET`s: tries the dimension after
    /// the previous lookup first.
    pub fn dim_index_next(&mut self, id: &str) -> Option<usize> {
        let c = if self.cursor < self.dims.len() { self.cursor } else { 0 };
        let hit = self.dims.get(c).is_some_and(|d| d.key.matches(id, || self.dim_id(c) == id));
        let i = if hit { c } else { self.dim_index(id)? };
        self.cursor = i + 1;
        Some(i)
    }

    /// Gives back the spare capacity of the per-dimension vectors (after a definition).
    pub fn shrink_to_fit(&mut self) {
        self.dims.shrink_to_fit();
        self.names.shrink_to_fit();
        self.name_ends.shrink_to_fit();
        self.index.shrink_to_fit();
    }

    /// Cache prefetch hints for this chart's scalar state (first stage, see
    /// [`crate::ingest::HostIngest::begin`]): its hot part.
    #[inline]
    pub fn prefetch_head(&self) {
        crate::storage::mmap::prefetch_slice(std::slice::from_ref(self), CHART_STATE_HOT_BYTES.div_ceil(64) + 1);
    }
    /// Second stage: the dimensions' state (reads `self.dims`, loaded by the first stage).
    #[inline]
    pub fn prefetch_dims(&self) {
        crate::storage::mmap::prefetch_slice(&self.dims, 40);
    }

    /// Id of dimension `i` (empty when out of range).
    pub fn dim_id(&self, i: usize) -> &str {
        let end = self.name_ends.get(i).map_or(0, |&e| e as usize);
        let start = if i == 0 { 0 } else { self.name_ends.get(i - 1).map_or(end, |&e| e as usize) };
        self.names.get(start..end).unwrap_or("")
    }
    pub fn dimensions(&self) -> &[DimState] {
        &self.dims
    }
    pub fn dimension(&self, index: usize) -> Option<&DimState> {
        self.dims.get(index)
    }
    /// `LC`, µs since the epoch (0 = not collected yet).
    pub fn last_collected_us(&self) -> i64 {
        self.last_collected_us
    }
    /// `LU`, µs since the epoch (0 = nothing stored yet).
    pub fn last_updated_us(&self) -> i64 {
        self.last_updated_us
    }
    pub fn sync_clock(&self) -> bool {
        self.sync_clock
    }

    fn ue_us(&self) -> i64 {
        i64::from(self.update_every) * USEC_PER_SEC
    }

    // ------------------------------------------------------------------ live path

    /// `BEGIN "<chart>" <usec>` (§1.2). `usec` is the child's duration since its previous
    /// collection; `now_us` the parent's wall clock. Durations are trusted unless `usec` is 0
    /// or the sync-clock flag is set, in which case the duration is `|now − LC|`. Does
    /// nothing before the chart's first completed iteration. Local collectors pass the
    /// duration they measured (or 0).
    pub fn begin(&mut self, usec: u64, now_us: i64) {
        let now_us = now_us.clamp(0, MAX_TIME_US);
        if self.counter_done == 0 {
            return;
        }
        let mut usec = i64::try_from(usec).unwrap_or(MAX_DURATION_US).min(MAX_DURATION_US);
        if self.sync_clock {
            self.sync_clock = false;
            usec = 0;
        }
        if self.last_collected_us == 0 {
            usec = self.ue_us();
        } else if usec == 0 {
            usec = now_us.saturating_sub(self.last_collected_us).saturating_abs().min(MAX_DURATION_US);
        }
        self.usec_since_last_update = usec;
    }

    /// `SET "<dim>" = <value>`; `None` (empty text) leaves the dimension unset (§1.1).
    pub fn set(&mut self, dim: usize, value: Option<i64>) -> Result<(), ComputeError> {
        let count = self.dims.len();
        let d = self.dims.get_mut(dim).ok_or_else(|| ComputeError::UnknownDimension { chart: self.id.clone(), index: dim, count })?;
        let Some(v) = value else { return Ok(()) };
        d.collected = v;
        d.updated = true;
        d.collections = d.collections.saturating_add(1);
        d.wide |= v.unsigned_abs() > 0xFFFF_FFFF;
        Ok(())
    }

    /// [`Self::set`] with the dimension given by its id's bytes (as read from the line, not
    /// checked for UTF-8), the dimension after the previous lookup tried first. `None` when no
    /// dimension has exactly these bytes as its id (nothing changed; the caller goes the
    /// general way, [`Self::dim_index_next`] + [`Self::set`]).
    #[inline]
    pub fn set_by_id(&mut self, id: &[u8], value: Option<i64>) -> Option<()> {
        let dim = self.dim_index_next_bytes(id)?;
        let d = self.dims.get_mut(dim)?;
        if let Some(v) = value {
            d.collected = v;
            d.updated = true;
            d.collections = d.collections.saturating_add(1);
            d.wide |= v.unsigned_abs() > 0xFFFF_FFFF;
        }
        Some(())
    }

    /// The `SET "<id>" = <integer>` lines at the start of `buf` (`buf` holds received bytes
    /// after a line), in exactly the shape every sender writes them, each naming the dimension
    /// [`Self::dim_index_next`] tries first (senders `SET` in definition order): the id's
    /// bytes compared with that dimension's key (no line framing, no lookup), the value as
    /// [`crate::proto::number::strtoll_line`] reads it; each line does what [`Self::set_by_id`]
    /// does for it. Stops before the first line that is not so (another command or shape,
    /// another dimension, an id of more than 16 bytes or holding a quote or backslash, a value
    /// that is not the usual integer, a line longer than `max_line`) and when fewer than 48
    /// bytes are left (the last lines of a read, which may be incomplete): the caller takes
    /// those the usual way. Returns the bytes and lines taken.
    #[inline]
    pub fn live_sets(&mut self, buf: &[u8], max_line: usize) -> (usize, u64) {
        let (mut pos, mut lines) = (0usize, 0u64);
        let n = self.dims.len();
        // the longest line taken: `SET "` + 16 + `" = ` + `-` + 18 digits + newline = 44
        while buf.len() - pos >= 48 {
            let b = &buf[pos..];
            let c = if self.cursor < n { self.cursor } else { 0 };
            let Some(d) = self.dims.get_mut(c) else { break };
            let k = d.key.len as usize;
            if !d.plain_id || k > 16 || b[..5] != *b"SET \"" {
                break;
            }
            // the first k bytes of the id against the key's (16 bytes, the rest masked to 0)
            let mut w = [0u8; 16];
            w.copy_from_slice(&b[5..21]);
            let mask = if k == 16 { u128::MAX } else { (1u128 << (8 * k)) - 1 };
            if u128::from_le_bytes(w) & mask != u128::from_le_bytes(d.key.head) || b[5 + k..9 + k] != *b"\" = " {
                break;
            }
            let Some((v, nl)) = crate::proto::number::strtoll_line(&b[9 + k..]) else { break };
            if 9 + k + nl > max_line {
                break;
            }
            d.collected = v;
            d.updated = true;
            d.collections = d.collections.saturating_add(1);
            d.wide |= v.unsigned_abs() > 0xFFFF_FFFF;
            self.cursor = c + 1;
            pos += 9 + k + nl + 1;
            lines += 1;
        }
        (pos, lines)
    }

    /// `END` (§1.2–1.4): computes this iteration and appends the points to write, in time
    /// order per slot. `now_us` is the parent's wall clock (used only to anchor a first
    /// collection and to stamp the dimensions' collection time).
    pub fn end(&mut self, now_us: i64, out: &mut Vec<ComputedPoint>) {
        self.end_with(now_us, out, true);
    }

    /// [`Self::end`] always the general way (tests compare both ways).
    #[cfg(test)]
    pub(crate) fn end_general(&mut self, now_us: i64, out: &mut Vec<ComputedPoint>) {
        self.end_with(now_us, out, false);
    }

    /// [`Self::end`]; `fast`: the usual iteration (every dimension SET, none a percentage,
    /// the chart running, one slot to fill) takes [`Self::end_one_slot`], which gives the
    /// same points and state in one pass instead of two.
    #[inline]
    fn end_with(&mut self, now_us: i64, out: &mut Vec<ComputedPoint>, fast: bool) {
        let now_us = now_us.clamp(0, MAX_TIME_US);
        let running = self.counter_done > 0;
        let ue = i64::from(self.update_every);
        let ue_us = self.ue_us();
        let mut store_this_entry = true;
        let mut first_entry = false;

        let (mut all_updated, mut no_pct) = (true, true);
        for d in self.dims.iter_mut() {
            if d.updated {
                d.last_collected_time_us = now_us;
            } else {
                all_updated = false;
            }
            no_pct &= matches!(d.algorithm, Algorithm::Absolute | Algorithm::Incremental);
        }

        // 1.2.1 / 1.2.2: the chart clock.
        let mut last_collect_ut;
        if self.last_collected_us == 0 {
            let now_s = now_us.div_euclid(USEC_PER_SEC);
            let sec = now_s - now_s.rem_euclid(ue);
            self.last_collected_us = sec * USEC_PER_SEC + if self.store_first { 0 } else { 500_000 };
            last_collect_ut = self.last_collected_us - ue_us;
            store_this_entry = false;
            first_entry = true;
        } else {
            last_collect_ut = self.last_collected_us;
            self.last_collected_us = self.last_collected_us.saturating_add(self.usec_since_last_update);
        }
        if self.last_updated_us == 0 {
            self.init_last_updated();
            store_this_entry = false;
            first_entry = true;
        }
        // 1.2.3: dbengine resets a chart whose clock jumped more than one page.
        if self.last_collected_us.saturating_sub(self.last_updated_us).saturating_abs() > PAGE_POINTS.saturating_mul(ue_us) {
            self.reset();
            self.init_last_updated();
            self.usec_since_last_update = ue_us;
            store_this_entry = false;
            first_entry = true;
        }

        let now_collect_ut = self.last_collected_us;
        let mut last_stored_ut = self.last_updated_us;
        let mut next_store_ut = (self.last_updated_us.div_euclid(USEC_PER_SEC) + ue) * USEC_PER_SEC;
        if self.counter_done == 0 {
            self.init_last_updated();
            last_stored_ut = self.last_updated_us;
            next_store_ut = (self.last_updated_us.div_euclid(USEC_PER_SEC) + ue) * USEC_PER_SEC;
            if self.store_first {
                store_this_entry = true;
                last_collect_ut = next_store_ut - ue_us;
            } else {
                store_this_entry = false;
            }
        }
        self.counter_done += 1;

        // 1.3: totals (percentage-of-incremental-row resets adjust v' first).
        let mut has_reset = false;
        let mut total: i64 = 0;
        let mut last_total: i64 = 0;
        // (only percentages read the totals)
        for d in self.dims.iter_mut().filter(|d| d.updated && !no_pct) {
            if d.algorithm == Algorithm::PercentageOfIncrementalRow && d.last_collected > d.collected {
                if !d.dont_detect_resets {
                    has_reset = true;
                }
                d.last_collected = d.collected;
            }
            last_total = last_total.wrapping_add(d.last_collected);
            total = total.wrapping_add(d.collected);
        }

        // 1.3: per-dimension calculation. `C` lives only during this call (0 before and after).
        let mut on_stack = [0f64; CALC_ON_STACK];
        let mut on_heap = Vec::new();
        let calc: &mut [f64] = match self.dims.len() {
            n if n <= CALC_ON_STACK => &mut on_stack[..n],
            n => {
                on_heap.resize(n, 0.0);
                &mut on_heap
            }
        };
        for (d, calculated) in self.dims.iter_mut().zip(calc.iter_mut()) {
            if !d.updated {
                continue;
            }
            if d.calc_nan {
                *calculated = f64::NAN;
            }
            let (m, dv) = (d.multiplier as f64, d.divisor as f64);
            match d.algorithm {
                Algorithm::Absolute => *calculated = d.collected as f64 * m / dv,
                Algorithm::PercentageOfAbsoluteRow => {
                    *calculated = if total == 0 { 0.0 } else { 100.0 * d.collected as f64 / total as f64 };
                }
                Algorithm::Incremental => {
                    if d.collections <= 1 {
                        *calculated = 0.0;
                        continue;
                    }
                    if (d.last_collected as u64) > (d.collected as u64) {
                        if !d.dont_detect_resets {
                            has_reset = true;
                        }
                        let last = d.last_collected as u64;
                        let new = d.collected as u64;
                        let cap: u64 = if d.wide { u64::MAX } else { 0xFFFF_FFFF };
                        let delta = cap.wrapping_sub(last).wrapping_add(new);
                        let max_acceptable = (cap / 100) * MAX_INCREMENTAL_PERCENT_RATE;
                        if delta < max_acceptable {
                            *calculated += delta as f64 * m / dv;
                        }
                    } else {
                        *calculated += d.collected.wrapping_sub(d.last_collected) as f64 * m / dv;
                    }
                }
                Algorithm::PercentageOfIncrementalRow => {
                    if d.collections <= 1 {
                        *calculated = 0.0;
                        continue;
                    }
                    *calculated = if total == last_total {
                        0.0
                    } else {
                        100.0 * d.collected.wrapping_sub(d.last_collected) as f64 / total.wrapping_sub(last_total) as f64
                    };
                }
            }
        }

        // the usual iteration: one slot, every dimension SET
        if fast
            && all_updated
            && no_pct
            && running
            && store_this_entry
            && !first_entry
            && now_collect_ut > 0
            && next_store_ut <= now_collect_ut
            && now_collect_ut - next_store_ut < ue_us
        {
            self.end_one_slot(calc, has_reset, last_collect_ut, last_stored_ut, next_store_ut, now_collect_ut, out);
            return;
        }

        // 1.4: interpolation onto the grid. Netdata does this arithmetic on unsigned µs.
        if now_collect_ut > 0 {
            let mut iterations = ((now_collect_ut as u64).wrapping_sub(last_stored_ut as u64) / ue_us as u64) as i64;
            if now_collect_ut % ue_us == 0 {
                iterations += 1;
            }
            let mut flags = FLAG_NOT_ANOMALOUS | if has_reset { FLAG_RESET } else { 0 };
            let mut guard = 0u64;
            while next_store_ut <= now_collect_ut && guard <= PAGE_POINTS as u64 + 2 {
                guard += 1;
                let time = next_store_ut / USEC_PER_SEC;
                let span_done = next_store_ut.wrapping_sub(last_collect_ut) as u64 as f64;
                let span_all = now_collect_ut.wrapping_sub(last_collect_ut) as u64 as f64;
                for (i, (d, calculated)) in self.dims.iter_mut().zip(calc.iter_mut()).enumerate() {
                    let new_value = match d.algorithm {
                        Algorithm::Incremental => {
                            let x = *calculated * span_done / span_all;
                            *calculated -= x;
                            let mut v = x + d.last_calculated;
                            d.last_calculated = 0.0;
                            if ue != 1 {
                                // (a division by 1.0 is exact: skipped)
                                v /= ue as f64;
                            }
                            let short = (next_store_ut as u64).wrapping_sub(last_stored_ut as u64);
                            if short < ue_us as u64 {
                                v = v * ue_us as f64 / short as f64;
                            }
                            v
                        }
                        _ => {
                            if iterations == 1 {
                                *calculated
                            } else {
                                (*calculated - d.last_calculated) * span_done / span_all + d.last_calculated
                            }
                        }
                    };
                    let value = if !store_this_entry {
                        StorageNumber::EMPTY
                    } else if d.updated && d.collections > 1 && iterations < self.gap_limit {
                        d.last_stored_value = new_value;
                        pack_live(new_value, flags)
                    } else {
                        d.last_stored_value = f64::NAN;
                        StorageNumber::EMPTY
                    };
                    emit(d, i, time, value, out);
                }
                flags = FLAG_NOT_ANOMALOUS;
                self.last_updated_us = time * USEC_PER_SEC;
                last_stored_ut = next_store_ut;
                last_collect_ut = next_store_ut;
                next_store_ut += ue_us;
                iterations -= 1;
            }
        }

        // After the slots: remember this iteration.
        for (d, &calculated) in self.dims.iter_mut().zip(calc.iter()) {
            if !d.updated {
                // 0, or NaN after a zero-length interval (see `calc_nan`)
                d.calc_nan = calculated.is_nan();
                continue;
            }
            d.calc_nan = false;
            d.last_collected = d.collected;
            match d.algorithm {
                Algorithm::Incremental => {
                    if !first_entry {
                        d.last_calculated += calculated;
                    }
                }
                _ => d.last_calculated = calculated,
            }
            d.collected = 0;
            d.updated = false;
        }
    }

    /// The slot loop and the bookkeeping after it of [`Self::end_with`] for one slot
    /// (`next_store_ut ≤ now_collect_ut < next_store_ut + ue`), every dimension SET and
    /// none a percentage, the chart running and storing: the same arithmetic in the same
    /// order, one pass over the dimensions.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn end_one_slot(&mut self, calc: &[f64], has_reset: bool, last_collect_ut: i64, last_stored_ut: i64, next_store_ut: i64, now_collect_ut: i64, out: &mut Vec<ComputedPoint>) {
        let ue = i64::from(self.update_every);
        let ue_us = self.ue_us();
        let mut iterations = ((now_collect_ut as u64).wrapping_sub(last_stored_ut as u64) / ue_us as u64) as i64;
        if now_collect_ut % ue_us == 0 {
            iterations += 1;
        }
        let flags = FLAG_NOT_ANOMALOUS | if has_reset { FLAG_RESET } else { 0 };
        let store = iterations < self.gap_limit;
        let time = next_store_ut / USEC_PER_SEC;
        let span_done = next_store_ut.wrapping_sub(last_collect_ut) as u64 as f64;
        let span_all = now_collect_ut.wrapping_sub(last_collect_ut) as u64 as f64;
        let short = (next_store_ut as u64).wrapping_sub(last_stored_ut as u64);
        for (i, (d, &calculated)) in self.dims.iter_mut().zip(calc.iter()).enumerate() {
            let new_value = if d.algorithm == Algorithm::Incremental {
                let x = calculated * span_done / span_all;
                let rest = calculated - x;
                let mut v = x + d.last_calculated;
                if ue != 1 {
                    v /= ue as f64;
                }
                if short < ue_us as u64 {
                    v = v * ue_us as f64 / short as f64;
                }
                // the slot zeroes the remainder, the iteration then adds what is left
                d.last_calculated = 0.0 + rest;
                v
            } else {
                let v = if iterations == 1 { calculated } else { (calculated - d.last_calculated) * span_done / span_all + d.last_calculated };
                d.last_calculated = calculated;
                v
            };
            let value = if d.collections > 1 && store {
                d.last_stored_value = new_value;
                pack_live(new_value, flags)
            } else {
                d.last_stored_value = f64::NAN;
                StorageNumber::EMPTY
            };
            emit(d, i, time, value, out);
            d.calc_nan = false;
            d.last_collected = d.collected;
            d.collected = 0;
            d.updated = false;
        }
        self.last_updated_us = time * USEC_PER_SEC;
    }

    fn init_last_updated(&mut self) {
        let ue = i64::from(self.update_every);
        let mut sec = self.last_collected_us.div_euclid(USEC_PER_SEC);
        if self.store_first {
            sec -= ue;
        }
        sec -= sec.rem_euclid(ue);
        self.last_updated_us = sec * USEC_PER_SEC;
    }

    /// `rrdset_reset`: clock and every dimension's `n` back to 0.
    fn reset(&mut self) {
        self.last_collected_us = 0;
        self.last_updated_us = 0;
        self.counter_done = 0;
        for d in &mut self.dims {
            d.collections = 0;
            d.last_collected_time_us = 0;
        }
    }

    // ------------------------------------------------------------------ replication

    /// `RBEGIN "<chart>"` (no times): a reply for this chart starts; `RSET`s are ignored until
    /// a timed `RBEGIN` is accepted.
    pub fn replay_start(&mut self) {
        self.replay = Replay::Off;
    }

    /// `RBEGIN '' <start> <end> <child_now>` (§2.2). Accepted when `start < end` and both are
    /// before `child_now + update_every + 1` (or `parent_now + 5` without a child clock). An
    /// `end − start` different from `update_every` switches the chart's `update_every` (check
    /// [`ChartState::update_every`] afterwards). Sets `LC = LU = end`. Returns whether the
    /// following `RSET`s will be stored.
    pub fn replay_begin(&mut self, start: UnixTime, end: UnixTime, child_now: Option<UnixTime>, parent_now: UnixTime) -> bool {
        let limit = match child_now {
            Some(now) if now > 0 => now.saturating_add(i64::from(self.update_every) + 1),
            _ => parent_now.saturating_add(5),
        };
        if !(start < end && start < limit && end < limit) || start < 0 || end > MAX_TIME_S {
            self.replay = Replay::Off;
            return false;
        }
        let span = end - start;
        if span != i64::from(self.update_every) {
            self.update_every = clamp_ue(u32::try_from(span).unwrap_or(MAX_UPDATE_EVERY));
        }
        self.last_collected_us = end.saturating_mul(USEC_PER_SEC);
        self.last_updated_us = self.last_collected_us;
        self.replay = Replay::At(end);
        true
    }

    /// `RSET "<dim>" <text> "<flags>"` (§2.2): the value (C `strtod`; empty → gap) stored as
    /// is at the `RBEGIN` end time. Flag `E` → gap, `R` → RESET bit, other letters ignored.
    /// No "not anomalous" bit. `None` when no timed `RBEGIN` is active or the time is not
    /// after the dimension's last stored point (dropped, like dbengine).
    pub fn replay_set(&mut self, dim: usize, text: &str, flags: &str) -> Result<Option<ComputedPoint>, ComputeError> {
        self.replay_set_value(dim, strtod(text), flags)
    }

    /// [`Self::replay_set`] with the value already parsed (C `strtod` semantics).
    ///
    /// Unlike dbengine, a point older than the dimension's last stored time is still returned:
    /// the store accepts it only into a hole of the history (back-fill) and rejects it as an
    /// overlap otherwise, so history is never overwritten either way.
    pub fn replay_set_value(&mut self, dim: usize, value: f64, flags: &str) -> Result<Option<ComputedPoint>, ComputeError> {
        if dim >= self.dims.len() {
            return Err(ComputeError::UnknownDimension { chart: self.id.clone(), index: dim, count: self.dims.len() });
        }
        // flags are matched byte by byte: `E` and `R` are ASCII, which never occurs inside a
        // multi-byte UTF-8 sequence, so this is the same as going through the chars
        Ok(self.replay_point(dim, ReplayValue::F64(value), flags.as_bytes()))
    }

    /// `RSET` of a replication reply in one call, the dimension given by its id's bytes (as
    /// read from the line, not checked for UTF-8: equal bytes are a valid id): the dimension
    /// after the previous lookup is tried first (senders list a chart's dimensions in the same
    /// order every row). Outer `None` when no dimension has exactly these bytes as its id (the
    /// caller then goes the general way, [`Self::dim_index_next`] + [`Self::replay_set_value`],
    /// which also knows ids that were not valid UTF-8); otherwise what `replay_set_value` gives.
    #[inline]
    pub fn replay_set_by_id(&mut self, id: &[u8], value: ReplayValue, flags: &[u8]) -> Option<Option<ComputedPoint>> {
        let dim = self.dim_index_next_bytes(id)?;
        Some(self.replay_point(dim, value, flags))
    }

    /// For `RSET`s in the order of the dimensions: when a timed `RBEGIN` is active at a time
    /// after 0 and `body` (what follows `RSET "`) starts with the id of the dimension
    /// [`Self::dim_index_next`] tries first, then `" `, that dimension and the id's length.
    /// `None` otherwise, and for ids longer than 16 bytes: the line goes the usual way,
    /// [`Self::replay_set_by_id`]. (The caller knows the ids hold no quote or backslash.)
    #[inline]
    pub fn replay_match_next(&self, body: &[u8]) -> Option<(usize, usize)> {
        if !matches!(self.replay, Replay::At(t) if t > 0) {
            return None;
        }
        let c = if self.cursor < self.dims.len() { self.cursor } else { 0 };
        let key = &self.dims.get(c)?.key;
        let k = key.len as usize;
        if k == 0 || k > 16 || body.len() < 18 || body[k] != b'"' || body[k + 1] != b' ' {
            return None;
        }
        // the first k bytes of the line against the key's (16 bytes, the rest masked to 0)
        let mut w = [0u8; 16];
        w.copy_from_slice(&body[..16]);
        let mask = if k == 16 { u128::MAX } else { (1u128 << (8 * k)) - 1 };
        let line = u128::from_le_bytes(w) & mask;
        let id = u128::from_le_bytes(key.head);
        if line != id {
            return None;
        }
        Some((c, k))
    }

    /// The time the `RSET`s of the active timed `RBEGIN` are stored at, when it is after 0
    /// (then [`Self::replay_set_next`] gives a point at this time).
    #[inline]
    pub fn replay_time(&self) -> Option<UnixTime> {
        match self.replay {
            Replay::At(t) if t > 0 => Some(t),
            _ => None,
        }
    }

    /// `RSET` of the `%0.7f` value `±m / 10^7` with empty flags for dimension `dim`, the one
    /// [`Self::replay_match_next`] gave, whose id the caller matched: what
    /// [`Self::replay_set_by_id`] gives for that line.
    #[inline]
    pub fn replay_set_next(&mut self, dim: usize, neg: bool, m: u64) -> Option<ComputedPoint> {
        self.cursor = dim + 1;
        self.replay_point(dim, ReplayValue::Fixed7 { neg, m }, b"")
    }

    /// [`Self::dim_index_next`] on the id's bytes; `None` also for bytes that are not UTF-8.
    #[inline]
    fn dim_index_next_bytes(&mut self, id: &[u8]) -> Option<usize> {
        let c = if self.cursor < self.dims.len() { self.cursor } else { 0 };
        let hit = self.dims.get(c).is_some_and(|d| d.key.matches_bytes(id, || self.dim_id(c).as_bytes() == id));
        let i = if hit {
            c
        } else if self.dims.len() > LINEAR_LOOKUP_MAX {
            *self.index.get(std::str::from_utf8(id).ok()?)?
        } else {
            (0..self.name_ends.len()).find(|&i| self.dim_id(i).as_bytes() == id)?
        };
        self.cursor = i + 1;
        Some(i)
    }

    /// The replay part of `RSET` for an existing dimension `dim` (see [`Self::replay_set`]).
    #[inline(always)]
    fn replay_point(&mut self, dim: usize, value: ReplayValue, flags: &[u8]) -> Option<ComputedPoint> {
        let Replay::At(time) = self.replay else { return None };
        let d = self.dims.get_mut(dim)?;
        let mut bits = 0;
        let mut empty = false;
        for &c in flags {
            match c {
                b'E' => empty = true,
                b'R' => bits |= FLAG_RESET,
                _ => {}
            }
        }
        d.collections = d.collections.saturating_add(1);
        if time <= 0 {
            return None;
        }
        if time > d.last_stored_time {
            d.last_collected_time_us = time.saturating_mul(USEC_PER_SEC);
            d.last_stored_time = time;
        }
        let value = match value {
            _ if empty => StorageNumber::EMPTY,
            ReplayValue::F64(v) => StorageNumber::pack(v, bits),
            ReplayValue::Fixed7 { neg, m } => pack_fixed7(neg, m, bits).unwrap_or_else(|| {
                let v = m as f64 / 1e7;
                StorageNumber::pack(if neg { -v } else { v }, bits)
            }),
        };
        Some(ComputedPoint { dim, time, value })
    }

    /// `RDSTATE "<dim>" <last_collected_us> <last_collected> <last_calculated> <last_stored>`:
    /// restores `v'`, `C'`/`R` and the latest stored value; the collection time only moves
    /// forward.
    pub fn replay_dim_state(&mut self, dim: usize, last_collected_us: i64, last_collected: i64, last_calculated: f64, last_stored: f64) -> Result<(), ComputeError> {
        let count = self.dims.len();
        let d = self.dims.get_mut(dim).ok_or_else(|| ComputeError::UnknownDimension { chart: self.id.clone(), index: dim, count })?;
        if last_collected_us > d.last_collected_time_us {
            d.last_collected_time_us = last_collected_us;
        }
        d.last_collected = last_collected;
        d.last_calculated = last_calculated;
        d.last_stored_value = last_stored;
        Ok(())
    }

    /// `RSSTATE <last_collected_us> <last_updated_us>`: moves `LC` and `LU` forward only.
    pub fn replay_chart_state(&mut self, last_collected_us: i64, last_updated_us: i64) {
        let (last_collected_us, last_updated_us) = (last_collected_us.min(MAX_TIME_US), last_updated_us.min(MAX_TIME_US));
        if last_collected_us > self.last_collected_us {
            self.last_collected_us = last_collected_us;
        }
        if last_updated_us > self.last_updated_us {
            self.last_updated_us = last_updated_us;
        }
    }

    /// `REND <update_every> … <start_streaming> …`: ends a reply. Counts as a completed
    /// iteration (so the next `BEGIN` advances the clock); `start_streaming` clears the
    /// sync-clock flag so live `BEGIN` durations continue the child's grid; a different
    /// non-zero `update_every` is adopted. Returns true if `update_every` changed.
    pub fn replay_end(&mut self, update_every: u32, start_streaming: bool) -> bool {
        self.replay = Replay::Off;
        self.counter_done += 1;
        if start_streaming {
            self.sync_clock = false;
        }
        if update_every > 0 && clamp_ue(update_every) != self.update_every {
            self.update_every = clamp_ue(update_every);
            return true;
        }
        false
    }
}

/// An `RSET` value as read from the line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ReplayValue {
    /// Parsed as C `strtod` does (NaN for a gap or a non-number).
    F64(f64),
    /// The `%0.7f` text of a 1.37.1 sender as its exact decimal, `±m / 10^7`
    /// ([`crate::proto::number::parse_fixed7`]): packed into the storage number straight from the
    /// digits, with the result of packing the parsed `f64`.
    Fixed7 { neg: bool, m: u64 },
}

/// Storage-number layout (`netdata-values.md` §3.1, as in [`crate::storage::number`]).
const SN_SIGN: u32 = 1 << 31;
const SN_MULTIPLY: u32 = 1 << 30;
const SN_EXP_SHIFT: u32 = 27;
const SN_MANTISSA_MAX: u64 = 16_777_215;

/// `StorageNumber::pack(±m / 10^7, bits)` computed on the exact decimal instead of through
/// the double, without divisions or the multiply-by-ten loop; `m < 10^15`.
///
/// `pack` scales `|x|` by ten (exponent `k`) until it reaches 1 677 726 (at most 7 times), or
/// divides it by ten once above the mantissa's maximum, then rounds half to even. The double
/// path carries a relative error below 10^-15 (one rounding for `m / 10^7`, one per scaling),
/// i.e. under 2·10^-8 on a mantissa below 2^24, while on the exact decimal every comparison
/// and rounding is decided by at least one unit of the last decimal (≥ 10^-7 once scaled): the
/// two agree everywhere except at exact ties and exact or near boundaries, where this returns
/// `None` and the caller packs the double (a test compares both on boundary and random values).
#[inline(always)]
fn pack_fixed7(neg: bool, m: u64, bits: u32) -> Option<StorageNumber> {
    let flags = bits & (FLAG_RESET | FLAG_NOT_ANOMALOUS);
    if m == 0 {
        return Some(StorageNumber(flags));
    }
    let sign = if neg { SN_SIGN } else { 0 };
    if m > SN_MANTISSA_MAX * 10_000_000 {
        // above the mantissa: one division by ten (for |x| < 10^8), the mantissa is m / 10^8
        if m >= 1_000_000_000_000_000 {
            return None;
        }
        let (q, r) = (m / 100_000_000, m % 100_000_000);
        if r == 50_000_000 {
            return None;
        }
        let mant = q + u64::from(r > 50_000_000);
        return Some(StorageNumber(flags | sign | SN_MULTIPLY | (1 << SN_EXP_SHIFT) | mant as u32));
    }
    // |x| = m / 10^(7 - k), k = how often pack multiplies by ten: the first k with
    // |x|·10^k ≥ 1 677 726, at most 7 (the thresholds T[j] = 1 677 726 · 10^(7 - j) fall):
    // the number of thresholds above m, from m's bit length (see `K_BY_BITS`)
    let (above, thr) = K_BY_BITS[(64 - m.leading_zeros()) as usize & 63];
    if m == thr {
        return None; // exactly on the scaling boundary
    }
    let k = above + u32::from(m < thr);
    // q, r = m ÷ 10^(7 - k) by one multiplication with a per-k reciprocal (no jump table)
    let (q, r, half) = div_scale(m, k as usize);
    if q >= 16_777_200 {
        return None; // at or near the top of the mantissa: pack may scale back once
    }
    if r == half {
        return None; // a tie
    }
    let mant = q + u64::from(r > half);
    Some(StorageNumber(flags | sign | (k << SN_EXP_SHIFT) | mant as u32))
}

/// The scaling thresholds of [`pack_fixed7`], `T[j] = 1 677 726 · 10^(7 - j)`.
const T: [u64; 7] = [16_777_260_000_000, 1_677_726_000_000, 167_772_600_000, 16_777_260_000, 1_677_726_000, 167_772_600, 16_777_260];

/// Per bit length `b` of `m` (1..=63, `m` in `[2^(b-1), 2^b)`): how many thresholds `T` lie
/// above that range, and the threshold inside it, 0 if none (at most one: they are ten times
/// apart). The number of thresholds above `m` is then the first plus `m < ` the second.
const K_BY_BITS: [(u32, u64); 64] = {
    let mut t = [(0u32, 0u64); 64];
    let mut b = 1;
    while b < 64 {
        let (lo, hi) = (1u64 << (b - 1), (1u64 << b) - 1);
        let mut j = 0;
        while j < 7 {
            if T[j] > hi {
                t[b].0 += 1;
            } else if T[j] >= lo {
                t[b].1 = T[j];
            }
            j += 1;
        }
        b += 1;
    }
    t
};

/// `10^(7 - k)` for k = 0..=7, the divisor of `m` in [`pack_fixed7`].
const DIV_SCALE: [u64; 8] = [10_000_000, 1_000_000, 100_000, 10_000, 1_000, 100, 10, 1];
/// Shift `s` of the reciprocal of `DIV_SCALE[k]`: 51 + ⌈log2 d⌉.
const DIV_SHIFT: [u32; 8] = {
    let mut t = [0u32; 8];
    let mut k = 0;
    while k < 8 {
        let d = DIV_SCALE[k];
        t[k] = 51 + (64 - (d - 1).leading_zeros());
        k += 1;
    }
    t
};
/// Half of `DIV_SCALE[k]`, 1 for a divisor of 1 (a remainder of 0 is never a tie).
const DIV_HALF: [u64; 8] = [5_000_000, 500_000, 50_000, 5_000, 500, 50, 5, 1];
/// `⌊2^s / d⌋ + 1` (below 2^53).
const DIV_RECIP: [u64; 8] = {
    let mut t = [0u64; 8];
    let mut k = 0;
    while k < 8 {
        t[k] = ((1u128 << DIV_SHIFT[k]) / DIV_SCALE[k] as u128) as u64 + 1;
        k += 1;
    }
    t
};

/// `(m / d, m % d, the half of d)` for `d = 10^(7 - k)`, `m < 2^50`, `k <= 7` (the half of 1
/// is given as 1, so that a remainder of 0 is never a tie). With `R = ⌊2^s / d⌋ + 1`, `m·R / 2^s`
/// exceeds `m / d` by less than `m / 2^s < 1 / (2d)`, while the fraction of `m / d` is at most
/// `1 - 1/d`: the floor is exact (a test compares it with the division).
#[inline(always)]
fn div_scale(m: u64, k: usize) -> (u64, u64, u64) {
    let k = k & 7;
    let d = DIV_SCALE[k];
    let q = ((u128::from(m) * u128::from(DIV_RECIP[k])) >> DIV_SHIFT[k]) as u64;
    (q, m - q * d, DIV_HALF[k])
}

/// `StorageNumber::pack(x, bits)` for a live slot value. Most are whole or half numbers
/// (an integer gauge; a counter's rate mixed from two deltas at half a second's phase): those
/// are exactly `m / 10^7` for an integer `m` and go through [`pack_fixed7`] (integer
/// arithmetic, no scaling loop or rounding call), which gives what `pack` gives or `None`
/// (ties, boundaries), when `pack` decides. Anything else is packed by `pack` itself.
/// Values up to the mantissa's maximum take [`pack_small`] (no integer way needed).
#[inline(always)]
fn pack_live(x: f64, bits: u32) -> StorageNumber {
    let a = x.abs();
    if (f64::MIN_POSITIVE..=SN_MANTISSA_MAX as f64).contains(&a) {
        let t = a as u32;
        if f64::from(t) == a {
            return pack_whole(x < 0.0, t, bits);
        }
        return pack_small(x, bits);
    }
    let twice = x * 2.0;
    // in range (|x| < 10^11, so `m` < 10^18 and `twice` converts exactly) and a whole number
    if twice.abs() < 2e11 {
        let t = twice as i64;
        if t as f64 == twice {
            if let Some(n) = pack_fixed7(t < 0, t.unsigned_abs() * 5_000_000, bits) {
                return n;
            }
        }
    }
    StorageNumber::pack(x, bits)
}

/// [`pack_small`] for a whole number `|x| = t` (1 ≤ t ≤ the mantissa's maximum), in integers:
/// the products `t · 10^j` are exact, so the exponent is the number of `j < 7` with
/// `t · 10^j < 1_677_726` (that is, `t ≤ 1_677_725 / 10^j` rounded down) and the mantissa
/// `t · 10^k`, or a tenth of it and one exponent less above the mantissa's maximum; nothing
/// to round. A test compares it with `pack`.
#[inline(always)]
fn pack_whole(neg: bool, t: u32, bits: u32) -> StorageNumber {
    const LIMIT: [u32; 7] = [1_677_725, 167_772, 16_777, 1_677, 167, 16, 1];
    const SCALE: [u64; 8] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000];
    let flags = bits & (FLAG_RESET | FLAG_NOT_ANOMALOUS);
    let sign = if neg { SN_SIGN } else { 0 };
    let mut k = 0usize;
    for l in LIMIT {
        k += usize::from(t <= l);
    }
    let mut m = u64::from(t) * SCALE[k];
    if m > SN_MANTISSA_MAX {
        m /= 10;
        k -= 1;
    }
    StorageNumber(flags | sign | ((k as u32) << SN_EXP_SHIFT) | m as u32)
}

/// `StorageNumber::pack(x, bits)` for a normal `x` with `|x|` at most the mantissa's maximum
/// (`pack`'s scaling-up branch): the same multiplications by ten in the same order, the
/// exponent counted instead of looped for (the products grow, so those below the threshold
/// are the first ones), the same rounding half to even done by adding and subtracting 2^52
/// (exact below 2^52) instead of a library call. A test compares it with `pack`.
#[inline(always)]
fn pack_small(x: f64, bits: u32) -> StorageNumber {
    const ROUND: f64 = 4_503_599_627_370_496.0; // 2^52
    let flags = bits & (FLAG_RESET | FLAG_NOT_ANOMALOUS);
    let sign = if x < 0.0 { SN_SIGN } else { 0 };
    let mut n = [x.abs(); 8];
    for j in 1..8 {
        n[j] = n[j - 1] * 10.0;
    }
    let mut k = 0usize;
    for v in &n[..7] {
        k += usize::from(*v < 1_677_726.0);
    }
    let mut v = n[k];
    let mut k = k as u32;
    let max = SN_MANTISSA_MAX as f64;
    if v > max {
        v /= 10.0;
        k -= 1;
    }
    let m = if v > max { max } else { (v + ROUND) - ROUND };
    StorageNumber(flags | sign | (k << SN_EXP_SHIFT) | m as u32)
}

/// Appends a point unless it is not after the dimension's last stored time.
fn emit(d: &mut DimState, dim: usize, time: UnixTime, value: StorageNumber, out: &mut Vec<ComputedPoint>) {
    if time <= 0 || time <= d.last_stored_time {
        return;
    }
    d.last_stored_time = time;
    out.push(ComputedPoint { dim, time, value });
}

fn clamp_ue(ue: u32) -> u32 {
    ue.clamp(1, MAX_UPDATE_EVERY)
}

fn has_word(options: &str, word: &str) -> bool {
    options.split_ascii_whitespace().any(|w| w == word)
}

/// Parses the value text of `SET`: empty → `None` (dimension left unset), else C
/// `strtoll(text, NULL, 0)`.
pub fn parse_set_value(text: &str) -> Option<i64> {
    if text.is_empty() {
        None
    } else {
        Some(strtoll0(text))
    }
}

#[cfg(test)]
mod tests;
