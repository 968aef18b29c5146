//! `/api/v1/data`: parameters, window and row computation, tier selection and the per-dimension
//! query loop (`netdata-values.md` §4.1–§4.7). Output layouts are in [`super::format`].
//!
//! **Invariant:** every count that comes from the URL is bounded (`points` ≤ 86 400, rows ×
//! dimensions ≤ [`MAX_CELLS`]) before memory is allocated for it.

use crate::model::{ChartMeta, DimMeta, UnixTime};
use crate::storage::{ChartId, Retention, SeriesId, Store, TierPoint};

use super::numfmt::SimplePattern;
use super::{ApiError, HostStatusProvider};

/// |t| up to this many seconds is relative to now (3 years, like Netdata).
pub const RELATIVE_TIME_MAX: i64 = 3 * 365 * 86400;
/// Most rows one query returns.
pub const MAX_POINTS: i64 = 86_400;
/// Most cells (rows × dimensions) one query computes.
pub const MAX_CELLS: usize = 20_000_000;
/// Most points one query reads from the store for one dimension.
pub const MAX_READ_POINTS: usize = 5_000_000;

/// Time grouping of the points of one row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Average,
    Min,
    Max,
    Sum,
}

impl Group {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        Ok(match s {
            "average" | "mean" => Self::Average,
            "min" => Self::Min,
            "max" => Self::Max,
            "sum" => Self::Sum,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unsupported group method '{other}': use average, min, max or sum."
                )))
            }
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Average => "average",
            Self::Min => "min",
            Self::Max => "max",
            Self::Sum => "sum",
        }
    }
}

/// Output format of `/api/v1/data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Tsv,
    Ssv,
    SsvComma,
    Array,
}

impl Format {
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        Ok(match s {
            "json" => Self::Json,
            "csv" => Self::Csv,
            "tsv" | "tsv-excel" => Self::Tsv,
            "ssv" => Self::Ssv,
            "ssvcomma" => Self::SsvComma,
            "array" => Self::Array,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "Unsupported format '{other}': use json, csv, tsv, ssv, ssvcomma or array."
                )))
            }
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Csv => "csv",
            Self::Tsv => "tsv",
            Self::Ssv => "ssv",
            Self::SsvComma => "ssvcomma",
            Self::Array => "array",
        }
    }
}

/// Query options, a bit set (`options=` tokens).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options(pub u32);

impl Options {
    pub const NONZERO: u32 = 1 << 0;
    pub const REVERSED: u32 = 1 << 1;
    pub const JSONWRAP: u32 = 1 << 2;
    pub const MIN2MAX: u32 = 1 << 3;
    pub const MS: u32 = 1 << 4;
    pub const ABSOLUTE: u32 = 1 << 5;
    pub const DISPLAY_ABS: u32 = 1 << 6;
    pub const SECONDS: u32 = 1 << 7;
    pub const NULL2ZERO: u32 = 1 << 8;
    pub const OBJECTROWS: u32 = 1 << 9;
    pub const GOOGLE_JSON: u32 = 1 << 10;
    pub const PERCENTAGE: u32 = 1 << 11;
    pub const UNALIGNED: u32 = 1 << 12;
    pub const MATCH_IDS: u32 = 1 << 13;
    pub const MATCH_NAMES: u32 = 1 << 14;
    pub const ANOMALY_BIT: u32 = 1 << 15;
    pub const SELECTED_TIER: u32 = 1 << 16;
    pub const RAW: u32 = 1 << 17;
    pub const JW_ANOMALY_RATES: u32 = 1 << 18;
    pub const NATURAL_POINTS: u32 = 1 << 19;
    pub const VIRTUAL_POINTS: u32 = 1 << 20;
    pub const ALL_DIMENSIONS: u32 = 1 << 21;

    /// Netdata's option table, in its order; the first name of each bit is the one printed.
    const TABLE: &'static [(&'static str, u32)] = &[
        ("nonzero", Self::NONZERO),
        ("flip", Self::REVERSED),
        ("reversed", Self::REVERSED),
        ("reverse", Self::REVERSED),
        ("jsonwrap", Self::JSONWRAP),
        ("min2max", Self::MIN2MAX),
        ("ms", Self::MS),
        ("milliseconds", Self::MS),
        ("abs", Self::ABSOLUTE),
        ("absolute", Self::ABSOLUTE),
        ("absolute_sum", Self::ABSOLUTE),
        ("absolute-sum", Self::ABSOLUTE),
        ("display_absolute", Self::DISPLAY_ABS),
        ("seconds", Self::SECONDS),
        ("null2zero", Self::NULL2ZERO),
        ("objectrows", Self::OBJECTROWS),
        ("google_json", Self::GOOGLE_JSON),
        ("google-json", Self::GOOGLE_JSON),
        ("percentage", Self::PERCENTAGE),
        ("unaligned", Self::UNALIGNED),
        ("match_ids", Self::MATCH_IDS),
        ("match-ids", Self::MATCH_IDS),
        ("match_names", Self::MATCH_NAMES),
        ("match-names", Self::MATCH_NAMES),
        ("anomaly-bit", Self::ANOMALY_BIT),
        ("selected-tier", Self::SELECTED_TIER),
        ("raw", Self::RAW),
        ("jw-anomaly-rates", Self::JW_ANOMALY_RATES),
        ("natural-points", Self::NATURAL_POINTS),
        ("virtual-points", Self::VIRTUAL_POINTS),
        ("all-dimensions", Self::ALL_DIMENSIONS),
    ];

    /// Tokens separated by `,`, space or `|`; unknown tokens are ignored (like Netdata).
    pub fn parse(s: &str) -> Self {
        let mut bits = 0;
        for tok in s.split([',', ' ', '|']).filter(|t| !t.is_empty()) {
            if let Some((_, b)) = Self::TABLE.iter().find(|(n, _)| *n == tok) {
                bits |= b;
            }
        }
        Self(bits)
    }
    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }
    /// Comma-separated names in Netdata's order.
    pub fn to_names(self) -> String {
        let mut seen = 0u32;
        let mut out: Vec<&str> = Vec::new();
        for (name, bit) in Self::TABLE {
            if self.0 & bit != 0 && seen & bit == 0 {
                seen |= bit;
                out.push(name);
            }
        }
        out.join(",")
    }
}

/// The parsed parameters of a `/api/v1/data` request.
#[derive(Clone, Debug)]
pub struct DataParams {
    pub chart: String,
    /// Dimension patterns as given (several `dimension(s)=` joined with `|`).
    pub dimensions: Option<String>,
    pub after: i64,
    pub before: i64,
    pub points: i64,
    pub group: Group,
    pub gtime: i64,
    pub format: Format,
    pub options: Options,
    pub tier: Option<usize>,
}

/// Largest |value| accepted for a time or duration parameter (about 3 000 years).
pub const MAX_TIME_PARAM: i64 = 100_000_000_000;

fn parse_int(name: &str, v: &str) -> Result<i64, ApiError> {
    let n = v
        .trim()
        .parse::<i64>()
        .map_err(|_| ApiError::BadRequest(format!("Invalid value for '{name}': '{v}' is not an integer.")))?;
    if !(-MAX_TIME_PARAM..=MAX_TIME_PARAM).contains(&n) {
        return Err(ApiError::BadRequest(format!("Invalid value for '{name}': {n} is out of range.")));
    }
    Ok(n)
}

impl DataParams {
    /// Reads the query string; `tiers` is the number of tiers of the store.
    pub fn from_query(query: &[(String, String)], tiers: usize) -> Result<Self, ApiError> {
        let mut chart = None;
        let mut dims: Vec<&str> = Vec::new();
        let mut p = DataParams {
            chart: String::new(),
            dimensions: None,
            after: -600,
            before: 0,
            points: 0,
            group: Group::Average,
            gtime: 0,
            format: Format::Json,
            options: Options::default(),
            tier: None,
        };
        let mut tier = None;
        for (k, v) in query {
            match k.as_str() {
                "chart" => chart = Some(v.as_str()),
                "dimension" | "dim" | "dimensions" | "dims" => dims.push(v),
                "after" => p.after = parse_int("after", v)?,
                "before" => p.before = parse_int("before", v)?,
                "points" => p.points = parse_int("points", v)?,
                "group" => p.group = Group::parse(v)?,
                "gtime" => p.gtime = parse_int("gtime", v)?,
                "format" => p.format = Format::parse(v)?,
                "options" => p.options.0 |= Options::parse(v).0,
                "show_dimensions" => p.options.0 |= Options::ALL_DIMENSIONS,
                "tier" => tier = Some(parse_int("tier", v)?),
                "context" => {
                    return Err(ApiError::BadRequest("Context queries are not supported; give chart=.".into()))
                }
                _ => {}
            }
        }
        p.chart = chart.ok_or_else(|| ApiError::BadRequest("No chart or context is given.".into()))?.to_string();
        if p.points < 0 {
            return Err(ApiError::BadRequest(format!("Invalid points={}: must be 0 (all) or a positive number.", p.points)));
        }
        p.points = p.points.min(MAX_POINTS);
        if p.gtime < 0 {
            return Err(ApiError::BadRequest(format!("Invalid gtime={}: must not be negative.", p.gtime)));
        }
        if p.after.abs() > RELATIVE_TIME_MAX && p.before.abs() > RELATIVE_TIME_MAX && p.after > p.before {
            return Err(ApiError::BadRequest(format!("Invalid window: after={} is later than before={}.", p.after, p.before)));
        }
        if let Some(t) = tier {
            if t >= 0 && (t as usize) < tiers {
                p.tier = Some(t as usize);
                p.options.0 |= Options::SELECTED_TIER;
            }
        }
        if !dims.is_empty() {
            p.dimensions = Some(dims.join("|"));
        }
        Ok(p)
    }
}

/// One dimension of the answer.
#[derive(Clone, Debug)]
pub struct DimResult {
    pub series: SeriesId,
    pub meta: DimMeta,
    /// Last stored value (unquantized when the status provider knows it).
    pub latest: f64,
    /// Shown in the answer (hidden ones only count in percentage totals).
    pub visible: bool,
}

/// The computed answer before formatting.
#[derive(Clone, Debug)]
pub struct QueryResult {
    pub host: String,
    pub chart: ChartMeta,
    pub params: DataParams,
    pub dims: Vec<DimResult>,
    /// Row timestamps, oldest first.
    pub times: Vec<UnixTime>,
    /// Row-major cells `[row * dims + dim]`, NaN = empty.
    pub cells: Vec<f64>,
    pub view_update_every: i64,
    pub first_entry: UnixTime,
    pub last_entry: UnixTime,
    pub before: UnixTime,
    pub after: UnixTime,
    /// Options after the window computation (adds natural/virtual points).
    pub options: Options,
    pub tier_points: Vec<u64>,
    pub min: f64,
    pub max: f64,
    /// The window was relative to now (answer not cacheable).
    pub relative: bool,
}

/// Retention of one series across all tiers, as Netdata reports it: the oldest point of any
/// tier that holds older data than tier 0, and the newest *closed* point.
pub(crate) fn series_retention(store: &dyn Store, id: SeriesId, ue: u32) -> Option<Retention> {
    let cfg = store.config();
    let t0 = store.retention(id, 0);
    let mut first = t0.map(|r| r.first);
    let mut last = t0.map(|r| r.last);
    for tier in 1..cfg.tiers.len() {
        let Some(r) = effective_retention(store, id, tier, ue, t0) else { continue };
        let width = cfg.tier_width(tier, ue);
        // a higher tier only extends the retention where tier 0 no longer has data
        if !matches!(t0, Some(t0) if r.first >= t0.first - width) {
            first = Some(first.map_or(r.first, |f| f.min(r.first)));
        }
        if t0.is_none() {
            last = Some(last.map_or(r.last, |l| l.max(r.last)));
        }
    }
    Some(Retention { first: first?, last: last? })
}

/// Retention of a higher tier without its still-open newest point (one whose window reaches
/// past the newest tier-0 point): Netdata only stores a tier point once it is complete.
fn effective_retention(store: &dyn Store, id: SeriesId, tier: usize, ue: u32, t0: Option<Retention>) -> Option<Retention> {
    let r = store.retention(id, tier)?;
    if tier == 0 {
        return Some(r);
    }
    let width = store.config().tier_width(tier, ue);
    let mut last = r.last;
    if let Some(t0) = t0 {
        if last + i64::from(ue) > t0.last {
            last -= width;
        }
    }
    (last >= r.first).then_some(Retention { first: r.first, last })
}

struct Window {
    after: i64,
    before: i64,
    points: i64,
    group: i64,
    granularity: i64,
    resampling_divisor: f64,
    resampling: bool,
    options: Options,
}

fn relative_to_absolute(after: i64, before: i64, now: i64) -> (i64, i64) {
    let mut before = before;
    let mut after = after;
    if before.abs() <= RELATIVE_TIME_MAX {
        before = now - before.abs();
    }
    if after.abs() <= RELATIVE_TIME_MAX {
        after = before - after.abs() + 1;
    }
    if after > before {
        std::mem::swap(&mut after, &mut before);
    }
    if before > now {
        let d = before - now;
        before -= d;
        after -= d;
    }
    (after, before)
}

/// Netdata's window computation (§4.2) in our own words.
fn calculate_window(p: &DataParams, first: i64, last: i64, update_every: i64, now: i64) -> Window {
    let mut options = p.options;
    let mut points = p.points;
    let mut after = p.after;
    let mut before = p.before;
    let automatic_natural = points == 0;
    let mut natural = options.has(Options::NATURAL_POINTS) || automatic_natural;
    let mut before_from_db = false;
    if before.abs() <= RELATIVE_TIME_MAX || after.abs() <= RELATIVE_TIME_MAX {
        natural = true;
    }
    if options.has(Options::VIRTUAL_POINTS) {
        natural = false;
    }
    if natural {
        options.0 = (options.0 | Options::NATURAL_POINTS) & !Options::VIRTUAL_POINTS;
    } else {
        options.0 = (options.0 | Options::VIRTUAL_POINTS) & !Options::NATURAL_POINTS;
    }
    if after == 0 || before == 0 {
        if after == 0 {
            after = first;
        }
        if before == 0 {
            before = last;
            before_from_db = true;
        }
        if points == 0 {
            points = (last - first) / update_every;
        }
    }
    if points == 0 {
        points = 600;
    }
    let (a, b) = relative_to_absolute(after, before, now);
    after = a;
    before = b;

    let g = if natural { update_every.max(1) } else { 1 };
    before -= before.rem_euclid(g);
    after -= after.rem_euclid(g);
    if automatic_natural {
        points = ((before - after + 1) / g).max(1);
    }
    let mut duration = before - after;
    let gtime = p.gtime;
    if gtime > duration {
        after = before - gtime;
        duration = before - after;
    }
    if gtime > g && duration % gtime != 0 {
        let delta = duration % gtime;
        if delta > gtime / 10 {
            after -= gtime - delta;
            duration = before - after;
        }
    }
    let available = ((duration + 1) / g).max(1);
    points = points.clamp(1, available.min(MAX_POINTS));
    let mut group = (available / points).max(1);
    if available % points > points / 2 {
        group += 1;
    }
    if points * group * g < duration {
        points = available / group;
        if points * group < available {
            points += 1;
        }
        points = points.max(1);
    }
    let mut resampling_divisor = 1.0;
    let mut resampling = false;
    if gtime > g {
        let mut rg = gtime / g;
        if gtime % g != 0 {
            rg += 1;
        }
        if group < rg {
            group = rg;
        }
        if group % rg != 0 {
            group += rg - group % rg;
        }
        resampling_divisor = (group * g) as f64 / gtime as f64;
        resampling = true;
    }
    let width = group * g;
    if !options.has(Options::UNALIGNED) && before.rem_euclid(width) != 0 {
        if before_from_db {
            before -= before.rem_euclid(width);
        } else {
            before += width - before.rem_euclid(width);
        }
    }
    after = before - points * width + g;
    Window { after, before, points, group, granularity: g, resampling_divisor, resampling, options }
}

/// Netdata's tier weight: coverage of the window by the tier's retention (in millionths),
/// reduced when the tier has fewer points there than wanted.
fn tier_weight(first: i64, last: i64, tier_ue: i64, after: i64, before: i64, points: i64) -> i64 {
    if tier_ue <= 0 || before <= after {
        return i64::MIN;
    }
    let cf = first.max(after);
    let cl = last.min(before);
    let coverage = (cl - cf) * 1_000_000 / (before - after);
    let wanted = points * coverage / 1_000_000;
    let available = (cl - cf) / tier_ue;
    if available <= 0 {
        return i64::MIN;
    }
    if available < wanted {
        available * coverage / wanted.max(1)
    } else {
        coverage
    }
}

#[derive(Clone, Copy)]
struct QPoint {
    start: i64,
    end: i64,
    value: f64,
}

const EMPTY: QPoint = QPoint { start: 0, end: 0, value: f64::NAN };

fn interpolate(p: &mut QPoint, last: &QPoint, now: i64) {
    if p.end - p.start > 1 && last.end == p.start && p.value.is_finite() && last.value.is_finite() {
        let span = (p.end - p.start) as f64;
        p.value = last.value + (p.value - last.value) * (1.0 - (p.end - now) as f64 / span);
        p.end = now;
    }
}

struct Grouper {
    method: Group,
    resampling: Option<f64>,
    sum: f64,
    pick: f64,
    count: u32,
}

impl Grouper {
    fn add(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        match self.method {
            Group::Average | Group::Sum => self.sum += v,
            Group::Min => {
                if self.count == 0 || v.abs() < self.pick.abs() {
                    self.pick = v
                }
            }
            Group::Max => {
                if self.count == 0 || v.abs() > self.pick.abs() {
                    self.pick = v
                }
            }
        }
        self.count += 1;
    }
    fn flush(&mut self) -> f64 {
        let v = if self.count == 0 {
            f64::NAN
        } else {
            match self.method {
                Group::Average => match self.resampling {
                    Some(div) => self.sum / div,
                    None => self.sum / f64::from(self.count),
                },
                Group::Sum => self.sum,
                Group::Min | Group::Max => self.pick,
            }
        };
        self.sum = 0.0;
        self.count = 0;
        v
    }
}

fn point_value(p: &TierPoint, group: Group, anomaly: bool) -> f64 {
    if anomaly {
        return f64::from(p.anomalous) * 100.0 / f64::from(p.count.max(1));
    }
    match group {
        Group::Average => p.average(),
        Group::Min => p.min,
        Group::Max => p.max,
        Group::Sum => p.sum,
    }
}

/// Runs the query loop of one dimension over `points` (of one tier, width `width`), writing
/// `w.points` cells into `out` at stride `stride`.
#[allow(clippy::too_many_arguments)]
fn query_dimension(points: &mut dyn Iterator<Item = (TierPoint, i64)>, w: &Window, group: Group, anomaly: bool, out: &mut [f64], stride: usize, col: usize) {
    let vue = w.group * w.granularity;
    let mut g = Grouper {
        method: group,
        resampling: w.resampling.then_some(w.resampling_divisor),
        sum: 0.0,
        pick: 0.0,
        count: 0,
    };
    let mut last2 = EMPTY;
    let (mut last1, mut new) = (EMPTY, EMPTY);
    let mut now_start = w.after - w.granularity;
    let mut now_end = w.after + vue - w.granularity;
    let mut row = 0usize;
    let rows = w.points as usize;
    while row < rows {
        let mut dup = false;
        loop {
            if !dup {
                last2 = last1;
                last1 = new;
            }
            dup = false;
            let Some((p, width)) = points.next() else {
                new = QPoint { start: last1.end, end: now_end, value: f64::NAN };
                break;
            };
            if p.time <= last1.end {
                // the store returns strictly increasing times; skip a point if it ever does not
                dup = true;
                continue;
            }
            new = QPoint { start: p.time - width, end: p.time, value: point_value(&p, group, anomaly) };
            if new.end < now_end {
                if new.end >= now_start {
                    g.add(new.value);
                }
            } else {
                break;
            }
        }
        let mut iterations = 0;
        while now_end <= new.end && row < rows {
            let current = if now_end > new.start {
                let mut c = new;
                interpolate(&mut c, &last1, now_end);
                c
            } else if now_end <= last1.end {
                let mut c = last1;
                interpolate(&mut c, &last2, now_end);
                c
            } else {
                EMPTY
            };
            g.add(current.value);
            out[row * stride + col] = g.flush();
            row += 1;
            now_end += vue;
            iterations += 1;
        }
        if iterations > 0 {
            now_end -= vue;
        }
        now_start = now_end;
        now_end += vue;
    }
}

/// One part of a dimension's query plan: tier `tier` (points `width` s wide) in `[a, b]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Segment {
    tier: usize,
    width: i64,
    a: i64,
    b: i64,
}

/// Netdata's query plan for one dimension, from retention only: tier `tier` over the window;
/// unless the tier was forced, the time before its first point from higher tiers and the time
/// after its last (closed) point from lower tiers.
fn plan(store: &dyn Store, sid: SeriesId, ue: u32, tier: usize, forced: bool, w: &Window) -> Vec<Segment> {
    let cfg = store.config();
    let tiers = cfg.tiers.len();
    let t0 = store.retention(sid, 0);
    let ret = |t: usize| if t == 0 { t0 } else { effective_retention(store, sid, t, ue, t0) };
    let seg = |t: usize, a: i64, b: i64| Segment { tier: t, width: cfg.tier_width(t, ue), a, b };
    let width = cfg.tier_width(tier, ue);
    // the store is read from the start of the tier slot that holds `after` (like dbengine)
    let read_after = w.after - w.after.rem_euclid(width);
    // a point ending up to one width after `before` still covers the last row
    let read_before = w.before + width - 1;
    let main = ret(tier);
    if forced {
        return vec![seg(tier, read_after, read_before.min(main.map_or(read_before, |r| r.last)))];
    }
    let mut out = Vec::new();
    let (mut cur_first, mut cur_last) = match main {
        Some(r) if r.last >= read_after && r.first <= w.before => {
            let (a, b) = (read_after.max(r.first), read_before.min(r.last));
            out.push(seg(tier, a, b));
            (a, b)
        }
        _ => (w.before + 1, read_after - 1),
    };
    if !out.is_empty() && cur_first > read_after {
        for t in tier + 1..tiers {
            let Some(r) = ret(t) else { continue };
            let wt = cfg.tier_width(t, ue);
            let (a, b) = ((w.after - w.after.rem_euclid(wt)).max(r.first), (cur_first - 1).min(r.last));
            if a <= b {
                out.insert(0, seg(t, a, b));
                cur_first = a;
            }
        }
    }
    for t in (0..tier).rev() {
        if cur_last >= w.before {
            break;
        }
        let Some(r) = ret(t) else { continue };
        let (a, b) = ((cur_last + 1).max(r.first), (w.before + cfg.tier_width(t, ue) - 1).min(r.last));
        if a <= b {
            out.push(seg(t, a, b));
            cur_last = b;
        }
    }
    out
}

/// Points of a plan, read from the store in bounded chunks (memory stays small whatever the
/// window), each with its width. Read errors end the stream and are kept in `error`.
struct PlanReader<'a> {
    store: &'a dyn Store,
    sid: SeriesId,
    segments: Vec<Segment>,
    seg: usize,
    next_a: i64,
    buf: Vec<TierPoint>,
    pos: usize,
    tier_points: &'a mut [u64],
    /// Points handed out so far (bounded by [`MAX_READ_POINTS`]).
    served: usize,
    error: Option<ApiError>,
}

/// Points per chunk read from the store.
const CHUNK_POINTS: i64 = 4096;

impl Iterator for PlanReader<'_> {
    type Item = (TierPoint, i64);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let s = *self.segments.get(self.seg)?;
            if let Some(p) = self.buf.get(self.pos) {
                self.pos += 1;
                self.served += 1;
                if self.served > MAX_READ_POINTS {
                    self.error = Some(ApiError::BadRequest(format!(
                        "Query would read more than {MAX_READ_POINTS} points of one dimension; ask for a shorter window or a higher tier."
                    )));
                    self.seg = usize::MAX;
                    return None;
                }
                if let Some(n) = self.tier_points.get_mut(s.tier) {
                    *n += 1;
                }
                return Some((*p, s.width));
            }
            if self.next_a > s.b {
                self.seg += 1;
                if let Some(n) = self.segments.get(self.seg) {
                    self.next_a = n.a;
                }
                continue;
            }
            let b = s.b.min(self.next_a.saturating_add(CHUNK_POINTS * s.width.max(1)) - 1);
            self.buf.clear();
            self.pos = 0;
            if let Err(e) = self.store.read(self.sid, s.tier, self.next_a, b, &mut self.buf) {
                self.error = Some(ApiError::Store(e));
                self.seg = usize::MAX;
                return None;
            }
            self.next_a = b + 1;
        }
    }
}

/// Executes a data query for `chart` of a host named `host`.
pub fn execute(
    store: &dyn Store,
    status: &dyn HostStatusProvider,
    host: &str,
    chart_id: ChartId,
    chart: ChartMeta,
    params: DataParams,
    now: UnixTime,
) -> Result<QueryResult, ApiError> {
    let ue = chart.update_every.max(1);
    let all_dims = store.dimensions(chart_id);
    let options = params.options;
    let pattern = params.dimensions.as_deref().map(|s| SimplePattern::with_separators(s, &['|', ',']));
    let (ids, names) = match (options.has(Options::MATCH_IDS), options.has(Options::MATCH_NAMES)) {
        (false, false) => (true, true),
        x => x,
    };
    let is_selected = |d: &DimMeta| match &pattern {
        Some(p) => (ids && p.matches(&d.id)) || (names && p.matches(&d.name)),
        None => options.has(Options::ALL_DIMENSIONS) || !d.has_option("hidden"),
    };
    type Dims = Vec<(SeriesId, DimMeta)>;
    let (mut selected, others): (Dims, Dims) = all_dims.into_iter().partition(|(_, d)| is_selected(d));
    let now_q = now - 1;

    // retention of the queried dimensions
    let retentions: Vec<Option<Retention>> = selected.iter().map(|(s, _)| series_retention(store, *s, ue)).collect();
    let first = retentions.iter().flatten().map(|r| r.first).min();
    let last = retentions.iter().flatten().map(|r| r.last).max();
    let (Some(first), Some(last)) = (first, last) else {
        return Err(ApiError::NotFound("No metrics where matched to query.".into()));
    };
    let (wa, wb) = relative_to_absolute(params.after, params.before, now_q);
    let slack = 2 * i64::from(ue);
    if !retentions.iter().flatten().any(|r| r.first - slack <= wb && r.last + slack >= wa) {
        return Err(ApiError::NotFound("No metrics where matched to query.".into()));
    }

    let ue64 = i64::from(ue);
    let nat_ue = match params.tier {
        Some(t) if t > 0 && (params.points == 0 || options.has(Options::NATURAL_POINTS)) => store.config().tier_width(t, ue),
        _ => ue64,
    };
    let w = calculate_window(&params, first, last, nat_ue, now_q);
    // percentages are of the total of every dimension, the hidden ones too
    let visible_count = selected.len();
    if options.has(Options::PERCENTAGE) {
        selected.extend(others);
    }
    let d = selected.len();
    let rows = w.points as usize;
    if rows.saturating_mul(d.max(1)) > MAX_CELLS {
        return Err(ApiError::BadRequest(format!("Query too large: {rows} rows × {d} dimensions.")));
    }

    // tier selection: one tier for the whole query, ties to the higher tier
    let tiers = store.config().tiers.len().max(1);
    let tier = match params.tier {
        Some(t) => t,
        None => {
            let mut best = 0;
            let mut best_w = i64::MIN;
            let t0: Vec<Option<Retention>> = selected.iter().map(|(s, _)| store.retention(*s, 0)).collect();
            for t in 0..tiers {
                let rs: Vec<Retention> = selected
                    .iter()
                    .zip(&t0)
                    .filter_map(|((s, _), r0)| effective_retention(store, *s, t, ue, *r0))
                    .collect();
                let (Some(f), Some(l)) = (rs.iter().map(|r| r.first).min(), rs.iter().map(|r| r.last).max()) else {
                    continue;
                };
                let wgt = tier_weight(f, l, store.config().tier_width(t, ue), w.after, w.before, w.points);
                if wgt >= best_w && wgt > i64::MIN {
                    best_w = wgt;
                    best = t;
                }
            }
            best
        }
    };
    let forced = params.tier.is_some();
    let mut tier_points = vec![0u64; tiers];
    let mut cells = vec![f64::NAN; rows * d];
    let mut buf = Vec::new();
    let anomaly = options.has(Options::ANOMALY_BIT);
    let mut dims_out = Vec::with_capacity(d);
    for (col, (sid, meta)) in selected.into_iter().enumerate() {
        let visible = col < visible_count;
        let segments = plan(store, sid, ue, tier, forced, &w);
        let next_a = segments.first().map_or(0, |s| s.a);
        buf.clear();
        let mut reader = PlanReader { store, sid, segments, seg: 0, next_a, buf: std::mem::take(&mut buf), pos: 0, tier_points: &mut tier_points, served: 0, error: None };
        query_dimension(&mut reader, &w, params.group, anomaly, &mut cells, d, col);
        if let Some(e) = reader.error.take() {
            return Err(e);
        }
        buf = reader.buf;
        let latest = status.latest_value(sid).filter(|v| v.is_finite()).unwrap_or_else(|| last_stored_value(store, sid));
        dims_out.push(DimResult { series: sid, meta, latest, visible });
    }

    let vue = w.group * w.granularity;
    let times: Vec<i64> = (0..rows as i64).map(|i| w.after + vue - w.granularity + i * vue).collect();
    let (mut min, mut max) = (f64::NAN, f64::NAN);
    for (i, &c) in cells.iter().enumerate() {
        if !dims_out.get(i % d.max(1)).is_some_and(|x| x.visible) {
            continue;
        }
        let v = if c.is_finite() { c } else { 0.0 };
        if min.is_nan() || v < min {
            min = v;
        }
        if max.is_nan() || v > max {
            max = v;
        }
    }
    let relative = params.after.abs() <= RELATIVE_TIME_MAX || params.before.abs() <= RELATIVE_TIME_MAX || params.before == 0 || params.after == 0;
    Ok(QueryResult {
        host: host.to_string(),
        chart,
        before: times.last().copied().unwrap_or(w.before),
        after: times.first().map_or(w.after, |t| t - vue + w.granularity),
        params,
        dims: dims_out,
        times,
        cells,
        view_update_every: vue,
        first_entry: first,
        last_entry: last,
        options: w.options,
        tier_points,
        min: if min.is_nan() { 0.0 } else { min },
        max: if max.is_nan() { 0.0 } else { max },
        relative,
    })
}

/// The newest stored tier-0 value of a series (NaN when none).
pub(crate) fn last_stored_value(store: &dyn Store, id: SeriesId) -> f64 {
    let Some(r) = store.retention(id, 0) else { return f64::NAN };
    let mut out = Vec::with_capacity(1);
    if store.read(id, 0, r.last, r.last, &mut out).is_err() {
        return f64::NAN;
    }
    out.last().map_or(f64::NAN, |p| p.average())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(after: i64, before: i64, points: i64) -> DataParams {
        DataParams {
            chart: "x".into(),
            dimensions: None,
            after,
            before,
            points,
            group: Group::Average,
            gtime: 0,
            format: Format::Json,
            options: Options::default(),
            tier: None,
        }
    }

    #[test]
    fn window_absolute_is_aligned_up_and_points_grow() {
        let b = 1_795_635_780;
        // after=B+1&before=B+11&points=4 → G = 3, rows B+3 … B+12
        let w = calculate_window(&params(b + 1, b + 11, 4), b, b + 20, 1, b + 100);
        assert_eq!((w.group, w.points, w.before, w.after), (3, 4, b + 12, b + 1));
        // points=5 over 12 s → G = 2, 6 rows
        let w = calculate_window(&params(b + 1, b + 12, 5), b, b + 20, 1, b + 100);
        assert_eq!((w.group, w.points), (2, 6));
    }

    #[test]
    fn window_relative_uses_last_entry_and_rounds_down() {
        // after=-20 on a 5 s chart with last entry 1795641790 → rows 1775…1790
        let w = calculate_window(&params(-20, 0, 0), 1795641770, 1795641790, 5, 1795641800);
        assert_eq!((w.points, w.group, w.after, w.before), (4, 1, 1795641775, 1795641790));
    }

    #[test]
    fn tier_weight_ties_prefer_full_coverage() {
        assert_eq!(tier_weight(0, 10_000, 1, 3_000, 9_000, 10), 1_000_000);
        assert_eq!(tier_weight(0, 10_000, 60, 3_000, 9_000, 10), 1_000_000);
        assert!(tier_weight(0, 6_000, 3600, 3_000, 9_000, 10) < 1_000_000);
        assert!(tier_weight(0, 10_000, 60, 3_000, 9_000, 600) < 1_000_000);
    }
}
