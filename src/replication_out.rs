//! Replication on the sending side (`netdata-stream-1.37.md` §5.2, §5.4, §7.4–7.5), pure:
//! the daemon's sender task does the I/O.
//!
//! * [`definition_end`]: the `CHART_DEFINITION_END` of a chart, with our real tier-0 retention.
//! * [`answer`]: the reply to one `REPLAY_CHART`, read from the store: `RBEGIN "<id>"`, one
//!   `RBEGIN '' s e now` + one `RSET` per dimension for every step where at least one dimension
//!   has a stored point (missing ones as `NAN "E"`), `RDSTATE`/`RSSTATE` when the chart switches
//!   to live, `REND`.
//! * [`LiveGate`]: filters what the ingest side queues for upstream: appends the
//!   `CHART_DEFINITION_END` after each definition block and holds back a chart's live
//!   `BEGIN`/`SET`/`END` from its definition until the reply that switches it to live has been
//!   queued (§7.4 step 7; a real 1.37.1 parent expects this order).
//! * [`RequestQueue`]: pending requests, one per chart (a new one replaces the old), served
//!   oldest `after` first across charts (§7.5).
//!
//! One deliberate difference from Netdata: a step where no dimension has a point does not end
//! the data part of a reply; it is skipped (nothing is sent for it, which is what the parent
//! would have stored anyway), so a hole in our history does not truncate what follows.
//!
//! **Invariant:** a reply never exceeds the caller's [`ReplyLimits`]; when it would, the data
//! part stops early, the chart stays held, and `REND false` echoes the last time sent as
//! `before`, so the parent asks again from there.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::ingest::HostIngest;
use crate::model::UnixTime;
use crate::proto::command::{ChartDefinitionEnd, Command, Rbegin, RbeginSpan, Rdstate, Rend, Rset, Rsstate};
use crate::storage::{Retention, SeriesId, Store, TierPoint};

/// Tier-0 retention of a chart: the earliest first and the latest last over its dimensions.
pub fn chart_retention(store: &dyn Store, series: &[SeriesId]) -> Option<Retention> {
    let mut r: Option<Retention> = None;
    for s in series {
        if let Some(x) = store.retention(*s, 0) {
            r = Some(match r {
                None => x,
                Some(a) => Retention { first: a.first.min(x.first), last: a.last.max(x.last) },
            });
        }
    }
    r
}

/// The chart's last update time in seconds: its collection state when it collected since we
/// started, else its last stored point; clipped to `now`. 0 when it has neither.
fn last_update(h: &HostIngest, ci: usize, now: UnixTime) -> (UnixTime, Option<Retention>) {
    let Some(c) = h.chart(ci) else { return (0, None) };
    let ret = chart_retention(h.store().as_ref(), &c.series);
    let lu = c.state.last_updated_us() / 1_000_000;
    let last = if lu > 0 { lu.max(ret.map_or(0, |r| r.last)) } else { ret.map_or(0, |r| r.last) };
    (last.min(now), ret)
}

/// `CHART_DEFINITION_END <first> <last> <now>` for chart `ci` of `h`, with the adjustments a
/// 1.37.1 child makes (first ≥ last → last − update_every; no stored data → first = last).
pub fn definition_end(h: &HostIngest, ci: usize, now: UnixTime) -> ChartDefinitionEnd {
    let (last, ret) = last_update(h, ci, now);
    let ue = h.chart(ci).map_or(1, |c| i64::from(c.state.update_every()));
    let (first, last) = match ret {
        None => (now, now),
        Some(r) => {
            let mut first = r.first;
            if first >= last {
                first = last - ue;
            }
            if first <= 0 {
                first = last;
            }
            (first, last)
        }
    };
    ChartDefinitionEnd { first_entry: first, last_entry: last, child_now: now }
}

/// A `REPLAY_CHART` as received (`after` exclusive, `before` inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayRequest {
    pub start_streaming: bool,
    pub after: UnixTime,
    pub before: UnixTime,
}

/// Bounds of one reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyLimits {
    /// Most time steps (`RBEGIN ''` lines) in one reply.
    pub max_steps: usize,
    /// Most bytes of one reply (approximately: checked after each step).
    pub max_bytes: usize,
}

impl Default for ReplyLimits {
    fn default() -> Self {
        Self { max_steps: 3600, max_bytes: 2 << 20 }
    }
}

/// What a reply did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyOutcome {
    /// `REND true`: the chart streams live from now on.
    pub start_streaming: bool,
    /// `RBEGIN ''` steps sent.
    pub steps: usize,
    /// Non-empty `RSET`s sent.
    pub points: usize,
    /// The data part stopped at the limits (the parent will ask again).
    pub truncated: bool,
}

/// Answers `req` for chart `ci` of `h` (§7.4), appending the reply to `out`. `now` is our wall
/// clock in seconds. `None` when the chart does not exist (Netdata ignores such requests).
pub fn answer(h: &HostIngest, ci: usize, req: ReplayRequest, now: UnixTime, limits: ReplyLimits, out: &mut Vec<u8>) -> Option<ReplyOutcome> {
    let c = h.chart(ci)?;
    let limits = ReplyLimits { max_steps: limits.max_steps.max(1), max_bytes: limits.max_bytes.max(1) };
    let store = h.store();
    let ue = i64::from(c.state.update_every().max(1));
    let (last, ret) = last_update(h, ci, now);
    let first = ret.map_or(0, |r| r.first);
    let empty_request = req.after == 0 && req.before == 0;
    let start = out.len();
    Command::Rbegin(Rbegin { id: c.meta.id.as_str().into(), span: None }).encode(out);

    let mut outcome = ReplyOutcome { start_streaming: false, steps: 0, points: 0, truncated: false };
    let (mut after, mut before) = (req.after, req.before);
    if empty_request {
        outcome.start_streaming = true;
    } else {
        // §7.4 step 2: the query window.
        let mut q_after = req.after.max(first);
        let mut q_before = if req.start_streaming { last } else { req.before.min(last) };
        if q_after > q_before {
            std::mem::swap(&mut q_after, &mut q_before);
        }
        outcome.start_streaming = req.start_streaming || q_before >= last;
        if req.start_streaming && last > before {
            before = last;
        }
        if ret.is_some() && q_before > 0 {
            let sent_to = data_part(store.as_ref(), &c.series, &dim_ids(&c.state), q_after, q_before, ue, now, limits, out, &mut outcome);
            if outcome.truncated {
                outcome.start_streaming = false;
                before = sent_to;
            }
        }
    }
    if empty_request {
        after = 0;
        before = 0;
    }
    if outcome.start_streaming {
        // §7.4 step 5: the collection state, so live data continues seamlessly.
        for (i, d) in c.state.dimensions().iter().enumerate() {
            Command::Rdstate(Rdstate {
                id: c.state.dim_id(i).into(),
                last_collected_us: d.last_collected_time_us().max(0) as u64,
                last_collected_value: d.last_collected_value(),
                last_calculated_value: d.last_calculated_value(),
                last_stored_value: d.last_stored_value(),
            })
            .encode(out);
        }
        Command::Rsstate(Rsstate { last_collected_us: c.state.last_collected_us().max(0) as u64, last_updated_us: c.state.last_updated_us().max(0) as u64 }).encode(out);
    }
    Command::Rend(Rend {
        update_every: ue,
        first_entry_child: first,
        last_entry_child: last,
        start_streaming: outcome.start_streaming,
        after,
        before,
        child_now: Some(now),
    })
    .encode(out);
    debug_assert!(out.len() > start);
    Some(outcome)
}

/// A reply to a range request from a sibling parent ([`crate::replication_sibling`]), from the
/// store alone (the host may not be streaming here): `RBEGIN "<id>"`, the data steps of
/// `(after, before]`, `REND <ue> <first> <last> false <after> <last sent or before> <now>`.
/// Bounded by `limits` like [`answer`].
#[allow(clippy::too_many_arguments)]
pub fn answer_range(
    store: &dyn Store,
    chart_id: &str,
    series: &[SeriesId],
    dims: &[crate::model::DimMeta],
    ue: i64,
    after: UnixTime,
    before: UnixTime,
    now: UnixTime,
    limits: ReplyLimits,
    out: &mut Vec<u8>,
) -> ReplyOutcome {
    let limits = ReplyLimits { max_steps: limits.max_steps.max(1), max_bytes: limits.max_bytes.max(1) };
    let ue = ue.max(1);
    let ret = chart_retention(store, series);
    Command::Rbegin(Rbegin { id: chart_id.into(), span: None }).encode(out);
    let mut outcome = ReplyOutcome { start_streaming: false, steps: 0, points: 0, truncated: false };
    // Only the stored part of the range, up to `now`, is read: nothing else can be sent, and a
    // huge range never pins the reader.
    let mut sent_before = before;
    if let Some(r) = ret.filter(|_| after < before) {
        let (a, b) = (after.max(r.first.saturating_sub(ue)), before.min(r.last).min(now));
        if a < b {
            let ids: Vec<&str> = dims.iter().map(|d| d.id.as_str()).collect();
            let to = data_part(store, series, &ids, a, b, ue, now, limits, out, &mut outcome);
            if outcome.truncated {
                sent_before = to;
            }
        }
    }
    Command::Rend(Rend {
        update_every: ue,
        first_entry_child: ret.map_or(0, |r| r.first),
        last_entry_child: ret.map_or(0, |r| r.last),
        start_streaming: false,
        after,
        before: sent_before,
        child_now: Some(now),
    })
    .encode(out);
    outcome
}

/// The ids of a chart's dimensions, in their order.
fn dim_ids(state: &crate::collect::compute::ChartState) -> Vec<&str> {
    (0..state.dimensions().len()).map(|i| state.dim_id(i)).collect()
}

/// Steps from `after` (exclusive) to `before` (inclusive) on the `ue` grid; returns the last
/// time sent (or `after` when nothing was).
#[allow(clippy::too_many_arguments)]
fn data_part(
    store: &dyn Store,
    series: &[SeriesId],
    ids: &[&str],
    after: UnixTime,
    before: UnixTime,
    ue: i64,
    now: UnixTime,
    limits: ReplyLimits,
    out: &mut Vec<u8>,
    outcome: &mut ReplyOutcome,
) -> UnixTime {
    let start_len = out.len();
    // Read in windows so a huge request never materializes more than `max_steps` per dim.
    let mut from = after.saturating_add(1);
    let mut last_sent = after;
    let mut cols: Vec<Vec<TierPoint>> = vec![Vec::new(); series.len()];
    let mut pos: Vec<usize> = vec![0; series.len()];
    let window = (limits.max_steps.max(1) as i64).saturating_mul(ue);
    while from <= before {
        let to = from.saturating_add(window - 1).min(before);
        for (i, s) in series.iter().enumerate() {
            cols[i].clear();
            pos[i] = 0;
            if store.read(*s, 0, from, to, &mut cols[i]).is_err() {
                cols[i].clear();
            }
        }
        loop {
            // The next time any dimension has a point.
            let mut t = None::<UnixTime>;
            for (i, col) in cols.iter().enumerate() {
                if let Some(p) = col.get(pos[i]) {
                    t = Some(t.map_or(p.time, |x: UnixTime| x.min(p.time)));
                }
            }
            let Some(t) = t else { break };
            if outcome.steps >= limits.max_steps || out.len() - start_len >= limits.max_bytes {
                outcome.truncated = true;
                return last_sent;
            }
            Command::Rbegin(Rbegin { id: "".into(), span: Some(RbeginSpan { start: t - ue, end: t, child_now: Some(now) }) }).encode(out);
            for (i, col) in cols.iter().enumerate() {
                let id = ids.get(i).copied().unwrap_or("");
                match col.get(pos[i]) {
                    Some(p) if p.time == t => {
                        pos[i] += 1;
                        Command::Rset(Rset { id: id.into(), value: p.sum, flags: if p.reset { "R".into() } else { "".into() } }).encode(out);
                        outcome.points += 1;
                    }
                    _ => Command::Rset(Rset { id: id.into(), value: f64::NAN, flags: "E".into() }).encode(out),
                }
            }
            outcome.steps += 1;
            last_sent = t;
        }
        if to >= before {
            break;
        }
        from = to + 1;
    }
    last_sent
}

// ------------------------------------------------------------------------------------------
// live gate

/// Filters the lines queued for upstream while REPLICATION is negotiated (see module docs).
#[derive(Debug, Default)]
pub struct LiveGate {
    enabled: bool,
    /// Charts whose live samples are held back (definition sent, no live-switching reply yet).
    held: HashSet<String>,
    /// Inside a `BEGIN`..`END` block: the chart, and whether it is passed on.
    sample: Option<(String, bool)>,
    /// Inside a definition block of this chart (its `CHART_DEFINITION_END` is pending).
    def: Option<usize>,
    pub samples_held: u64,
}

fn first_word(line: &[u8]) -> &[u8] {
    let line = line.trim_ascii_start();
    let end = line.iter().position(|b| b.is_ascii_whitespace()).unwrap_or(line.len());
    &line[..end]
}

/// The first argument of a line, unquoted (chart ids never contain quotes or spaces).
fn first_arg(line: &[u8]) -> &[u8] {
    let line = line.trim_ascii_start();
    let end = line.iter().position(|b| b.is_ascii_whitespace()).unwrap_or(line.len());
    let rest = line[end..].trim_ascii_start();
    match rest.first() {
        Some(&q @ (b'"' | b'\'')) => {
            let r = &rest[1..];
            &r[..r.iter().position(|&b| b == q).unwrap_or(r.len())]
        }
        _ => &rest[..rest.iter().position(|b| b.is_ascii_whitespace()).unwrap_or(rest.len())],
    }
}

impl LiveGate {
    /// A gate for a new session; `replication`: REPLICATION was negotiated (otherwise it
    /// passes everything through unchanged).
    pub fn new(replication: bool) -> Self {
        Self { enabled: replication, ..Default::default() }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Appends `input` (complete lines from the ingest side of host `h`) to `out`, adding
    /// `CHART_DEFINITION_END` after each definition block and dropping held charts' samples.
    pub fn filter(&mut self, h: &HostIngest, input: &[u8], now: UnixTime, out: &mut Vec<u8>) {
        if !self.enabled {
            out.extend_from_slice(input);
            return;
        }
        for line in input.split_inclusive(|&b| b == b'\n') {
            let kw = first_word(line);
            let in_def = matches!(kw, b"CLABEL" | b"CLABEL_COMMIT" | b"DIMENSION" | b"FUNCTION") || (kw == b"VARIABLE" && self.sample.is_none());
            if self.def.is_some() && !in_def {
                self.end_definition(h, now, out);
            }
            match kw {
                b"CHART" => {
                    self.sample = None;
                    let id = String::from_utf8_lossy(first_arg(line));
                    if let Some(ci) = h.chart_index(&id) {
                        self.def = Some(ci);
                        self.held.insert(id.into_owned());
                    }
                    out.extend_from_slice(line);
                }
                b"BEGIN" => {
                    let id = String::from_utf8_lossy(first_arg(line)).into_owned();
                    let pass = !self.held.contains(&id);
                    if pass {
                        out.extend_from_slice(line);
                    } else {
                        self.samples_held += 1;
                    }
                    self.sample = Some((id, pass));
                }
                b"SET" | b"VARIABLE" | b"END" => {
                    if self.sample.as_ref().is_none_or(|(_, pass)| *pass) {
                        out.extend_from_slice(line);
                    }
                    if kw == b"END" {
                        self.sample = None;
                    }
                }
                _ => out.extend_from_slice(line),
            }
        }
        if self.def.is_some() {
            self.end_definition(h, now, out);
        }
    }

    fn end_definition(&mut self, h: &HostIngest, now: UnixTime, out: &mut Vec<u8>) {
        if let Some(ci) = self.def.take() {
            if !out.ends_with(b"\n") && !out.is_empty() {
                out.push(b'\n');
            }
            Command::ChartDefinitionEnd(definition_end(h, ci, now)).encode(out);
        }
    }

    /// Holds back the live samples of `chart` (a live-switching request arrived for it).
    pub fn hold(&mut self, chart: &str) {
        if self.enabled {
            self.held.insert(chart.to_string());
        }
    }

    /// `chart` switched to live: its samples pass from the next `BEGIN` on.
    pub fn release(&mut self, chart: &str) {
        self.held.remove(chart);
    }

    pub fn is_held(&self, chart: &str) -> bool {
        self.held.contains(chart)
    }

    pub fn held_count(&self) -> usize {
        self.held.len()
    }

    /// Between a `BEGIN` and its `END`: a reply must not be queued now (it would land inside
    /// the sample, or miss a sample already half passed).
    pub fn in_sample(&self) -> bool {
        self.sample.is_some()
    }
}

// ------------------------------------------------------------------------------------------
// request queue

/// Pending `REPLAY_CHART`s: one per chart, served oldest `after` first (ties: arrival order).
#[derive(Debug, Default)]
pub struct RequestQueue {
    order: BTreeSet<(UnixTime, u64, String)>,
    by_chart: HashMap<String, (UnixTime, u64, ReplayRequest)>,
    seq: u64,
    limit: usize,
}

impl RequestQueue {
    /// A queue holding at most `limit` charts (further new charts are dropped; Netdata would
    /// not have more pending requests than charts either).
    pub fn new(limit: usize) -> Self {
        Self { limit: limit.max(1), ..Default::default() }
    }

    /// Queues `req` for `chart`, replacing a pending one. False when the queue is full.
    pub fn push(&mut self, chart: &str, req: ReplayRequest) -> bool {
        if let Some((a, s, _)) = self.by_chart.remove(chart) {
            self.order.remove(&(a, s, chart.to_string()));
        } else if self.by_chart.len() >= self.limit {
            return false;
        }
        self.seq += 1;
        // The empty request "0 0" sorts first: it is cheap and switches a chart to live.
        self.order.insert((req.after, self.seq, chart.to_string()));
        self.by_chart.insert(chart.to_string(), (req.after, self.seq, req));
        true
    }

    /// The oldest pending request (not removed).
    pub fn peek(&self) -> Option<(&str, ReplayRequest)> {
        let (_, _, chart) = self.order.first()?;
        self.by_chart.get(chart).map(|(_, _, r)| (chart.as_str(), *r))
    }

    /// Removes and returns the oldest pending request.
    pub fn pop(&mut self) -> Option<(String, ReplayRequest)> {
        let (_, _, chart) = self.order.pop_first()?;
        let (_, _, r) = self.by_chart.remove(&chart)?;
        Some((chart, r))
    }

    pub fn len(&self) -> usize {
        self.by_chart.len()
    }
    pub fn contains(&self, chart: &str) -> bool {
        self.by_chart.contains_key(chart)
    }
    pub fn is_empty(&self) -> bool {
        self.by_chart.is_empty()
    }
    pub fn clear(&mut self) {
        self.order.clear();
        self.by_chart.clear();
    }
}

#[cfg(test)]
mod tests;
