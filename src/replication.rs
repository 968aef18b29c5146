//! Replication planning on the receiving side (`netdata-stream-1.37.md` §7.2–7.3), as a pure
//! state machine: events in (`CHART_DEFINITION_END`, `REND`), the next `REPLAY_CHART` out.
//!
//! Netdata's algorithm is kept for the ranges it asks (so a real child answers exactly as it
//! would to a real parent), with one change: **replication always terminates**. Every chart
//! gets a bounded number of requests, each request must move forward in time, and a reply that
//! does not (empty answers, ranges the sender no longer has, disagreeing clocks) ends the
//! chart's replication with the "switch to live" request `"true" 0 0`-style finish.
//!
//! Beyond Netdata: besides the tail after our last stored point, the planner can be given
//! *holes* in our history (ranges with no stored point, e.g. our own downtime) inside the
//! sender's retention; they are asked first, oldest first, with `start_streaming = false`.

use crate::model::UnixTime;

/// Replication settings in force for one host (from `[db]` and stream.conf per key/GUID).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicationSettings {
    pub enabled: bool,
    pub seconds_to_replicate: i64,
    pub seconds_per_step: i64,
}

impl Default for ReplicationSettings {
    fn default() -> Self {
        Self { enabled: true, seconds_to_replicate: 86_400, seconds_per_step: 600 }
    }
}

/// A `REPLAY_CHART` to send: `after` exclusive, `before` inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub start_streaming: bool,
    pub after: UnixTime,
    pub before: UnixTime,
}

impl Request {
    /// The "send nothing, just switch to live" request.
    pub const EMPTY: Self = Self { start_streaming: true, after: 0, before: 0 };
    pub fn is_empty(&self) -> bool {
        self.after == 0 && self.before == 0
    }
}

/// The sender's retention for a chart, from `CHART_DEFINITION_END` or `REND`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderRetention {
    pub first: UnixTime,
    pub last: UnixTime,
    pub now: UnixTime,
}

/// Where one chart's replication stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No request sent yet.
    Idle,
    /// A request is outstanding.
    InFlight(Request),
    /// The sender switched the chart to live (or we gave up); no more requests.
    Done,
}

/// Replication state of one chart on the receiving side.
#[derive(Clone, Debug)]
pub struct ChartReplication {
    settings: ReplicationSettings,
    phase: Phase,
    /// Holes to ask before the tail, oldest first: (after exclusive, before inclusive).
    holes: Vec<(UnixTime, UnixTime)>,
    /// The previous *tail* request (hole requests do not move the tail).
    prev: Option<Request>,
    in_flight_is_hole: bool,
    requests_left: u32,
    /// First time we still miss (for progress reports).
    pub missing_from: Option<UnixTime>,
    /// Last time we want (for progress reports).
    pub missing_to: Option<UnixTime>,
    pub requests_sent: u32,
}

impl ChartReplication {
    pub fn new(settings: ReplicationSettings) -> Self {
        let steps = (settings.seconds_to_replicate.max(0) / settings.seconds_per_step.max(1)) as u32;
        Self { settings, phase: Phase::Idle, holes: Vec::new(), prev: None, in_flight_is_hole: false, requests_left: steps + 4, missing_from: None, missing_to: None, requests_sent: 0 }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }
    /// A request for data (not the empty "switch to live" one) is outstanding: our history of
    /// the chart is still being filled.
    pub fn is_fetching(&self) -> bool {
        matches!(self.phase, Phase::InFlight(r) if !r.is_empty())
    }

    /// Adds holes (ranges with no stored data, `after` exclusive) to ask before the tail.
    pub fn add_holes(&mut self, holes: impl IntoIterator<Item = (UnixTime, UnixTime)>) {
        self.holes.extend(holes.into_iter().filter(|(a, b)| a < b));
        self.holes.sort_unstable();
        self.holes.reverse(); // popped from the end = oldest first
        self.requests_left = self.requests_left.saturating_add(2 * self.holes.len() as u32);
    }

    /// `CHART_DEFINITION_END`: decides the first request. `ours_last` is our last stored time
    /// for the chart (None when we hold nothing); `has_dimensions` whether the chart has any.
    /// Returns `None` when a request is already in flight (a repeated definition is ignored).
    pub fn on_definition_end(&mut self, sender: SenderRetention, ours_last: Option<UnixTime>, has_dimensions: bool, now: UnixTime) -> Option<Request> {
        if matches!(self.phase, Phase::InFlight(_)) {
            return None;
        }
        self.prev = None;
        Some(self.next(sender, ours_last, has_dimensions, now))
    }

    /// `REND`: the reply to the outstanding request ended. `start_streaming` is the REND flag;
    /// `after`/`before` echo the request. Returns the next request, or `None` when done.
    pub fn on_reply_end(&mut self, sender: SenderRetention, start_streaming: bool, after: UnixTime, before: UnixTime, ours_last: Option<UnixTime>, now: UnixTime) -> Option<Request> {
        let Phase::InFlight(sent) = self.phase else {
            // A reply we did not ask for (or a repeat): nothing to do, never loop.
            return None;
        };
        if start_streaming && self.holes.is_empty() {
            self.finish();
            return None;
        }
        // Echoed range, as Netdata does; never go backwards from what we asked, except that a
        // sender which stopped early (its reply was too big: `before` inside what we asked)
        // is asked again from where it stopped. Strict progress keeps this finite.
        let echoed_empty = after == 0 && before == 0;
        let stopped_early = !(sent.is_empty() || echoed_empty) && before > sent.after && before < sent.before;
        let echoed_before = if after == 0 && before == 0 {
            sent.before
        } else if stopped_early {
            before
        } else {
            before.max(sent.before)
        };
        if stopped_early {
            self.requests_left = self.requests_left.saturating_add(1);
            if self.in_flight_is_hole {
                self.holes.push((before, sent.before));
            }
        }
        if sent.is_empty() {
            self.finish();
            return None;
        }
        if !self.in_flight_is_hole {
            self.prev = Some(Request { start_streaming, after, before: echoed_before });
        }
        let r = self.next(sender, ours_last, true, now);
        Some(r)
    }

    fn finish(&mut self) {
        self.phase = Phase::Done;
        self.missing_from = None;
        self.missing_to = None;
        self.holes.clear();
    }

    fn send(&mut self, r: Request) -> Request {
        self.requests_sent += 1;
        self.requests_left = self.requests_left.saturating_sub(1);
        self.phase = Phase::InFlight(r);
        if r.is_empty() {
            self.missing_from = None;
            self.missing_to = None;
        } else {
            self.missing_from = Some(r.after);
        }
        r
    }

    fn next(&mut self, sender: SenderRetention, ours_last: Option<UnixTime>, has_dimensions: bool, now: UnixTime) -> Request {
        let s = self.settings;
        if self.requests_left == 0 {
            tracing::debug!("replication request budget used up; switching chart to live");
            return self.send(Request::EMPTY);
        }
        // Holes first (ours beyond Netdata), each within the sender's retention.
        while let Some((a, b)) = self.holes.pop() {
            let a = a.max(sender.first - 1).max(now - s.seconds_to_replicate);
            let b = b.min(sender.last);
            if a >= b || !s.enabled || sender.last == 0 {
                continue;
            }
            let before = if b - a > s.seconds_per_step { a + s.seconds_per_step } else { b };
            if before < b {
                self.holes.push((before, b));
            }
            self.missing_to = Some(self.missing_to.map_or(b, |m| m.max(b)));
            self.in_flight_is_hole = true;
            return self.send(Request { start_streaming: false, after: a, before });
        }
        // Netdata's tail algorithm (§7.2).
        self.in_flight_is_hole = false;
        if !s.enabled || sender.last == 0 || !has_dimensions || sender.first <= 0 || sender.first > sender.last || ours_last.is_some_and(|l| l > sender.last) {
            return self.send(Request::EMPTY);
        }
        let gap_start = match (self.prev, ours_last) {
            (Some(p), _) => p.before,
            (None, Some(l)) => l.min(now),
            (None, None) => now - s.seconds_to_replicate,
        };
        let gap_end = now;
        let mut after = gap_start.max(sender.first);
        let mut before = if gap_end - after > s.seconds_per_step { after + s.seconds_per_step } else { gap_end };
        before = before.min(sender.last);
        if after > before {
            after = before;
        }
        // Termination: a follow-up that does not move past the previous request ends it: one
        // "switch to live" request for the last point, and if the sender does not switch on
        // that either, the empty request.
        if let Some(p) = self.prev {
            if before <= p.before && after >= p.after {
                let last_chance = Request { start_streaming: true, after: before, before };
                if matches!(self.phase, Phase::InFlight(x) if x == last_chance) {
                    return self.send(Request::EMPTY);
                }
                return self.send(last_chance);
            }
        }
        let start_streaming = now - after <= s.seconds_per_step || before == sender.last;
        self.missing_to = Some(sender.last);
        self.send(Request { start_streaming, after, before })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn ret(first: i64, last: i64) -> SenderRetention {
        SenderRetention { first, last, now: NOW }
    }

    #[test]
    fn capture_case_asks_from_our_last_point_to_sender_last() {
        // Capture: parent had data up to 1795633842, child 1795633827..1795633847.
        let now = 1795633847;
        let mut r = ChartReplication::new(ReplicationSettings::default());
        let req = r.on_definition_end(SenderRetention { first: 1795633827, last: 1795633847, now }, Some(1795633842), true, now).expect("request");
        assert_eq!(req, Request { start_streaming: true, after: 1795633842, before: 1795633847 });
        assert_eq!(r.on_reply_end(ret(1795633827, 1795633847), true, 1795633842, 1795633847, Some(1795633847), now), None);
        assert!(r.is_done());
    }

    #[test]
    fn empty_parent_steps_600s_through_sender_retention() {
        let mut r = ChartReplication::new(ReplicationSettings::default());
        let req = r.on_definition_end(ret(NOW - 5000, NOW), None, true, NOW).expect("first");
        assert_eq!(req, Request { start_streaming: false, after: NOW - 5000, before: NOW - 4400 });
        let req = r.on_reply_end(ret(NOW - 5000, NOW), false, NOW - 5000, NOW - 4400, Some(NOW - 4400), NOW).expect("second");
        assert_eq!(req, Request { start_streaming: false, after: NOW - 4400, before: NOW - 3800 });
    }

    #[test]
    fn replication_terminates_when_sender_answers_empty_forever() {
        let mut r = ChartReplication::new(ReplicationSettings { enabled: true, seconds_to_replicate: 3600, seconds_per_step: 600 });
        let mut req = r.on_definition_end(ret(NOW - 3600, NOW), None, true, NOW);
        let mut n = 0;
        while let Some(q) = req {
            n += 1;
            assert!(n < 100, "replication did not terminate");
            // The sender never has data and never switches to live.
            req = r.on_reply_end(ret(NOW - 3600, NOW), false, q.after, q.before, None, NOW);
        }
        assert!(r.is_done());
    }

    #[test]
    fn a_sender_that_never_switches_to_live_gets_few_requests() {
        // Retention of an hour, 600 s steps: six steps, one last chance, the empty request.
        let mut r = ChartReplication::new(ReplicationSettings::default());
        let mut req = r.on_definition_end(ret(NOW - 3600, NOW), None, true, NOW);
        let mut n = 0;
        while let Some(q) = req {
            n += 1;
            assert!(n <= 12, "too many requests");
            req = r.on_reply_end(ret(NOW - 3600, NOW), false, q.after, q.before, None, NOW);
        }
        assert!(n <= 9, "{n} requests");
    }

    #[test]
    fn a_reply_that_stopped_early_is_continued_from_where_it_stopped() {
        let mut r = ChartReplication::new(ReplicationSettings::default());
        let q = r.on_definition_end(ret(NOW - 5000, NOW), None, true, NOW).expect("first");
        assert_eq!((q.after, q.before), (NOW - 5000, NOW - 4400));
        // The sender sent up to NOW - 4700 only.
        let q = r.on_reply_end(ret(NOW - 5000, NOW), false, q.after, NOW - 4700, Some(NOW - 4700), NOW).expect("second");
        assert_eq!((q.after, q.before), (NOW - 4700, NOW - 4100));
        // A sender stopping one second further each time still terminates.
        let mut req = Some(q);
        let mut n = 0;
        while let Some(q) = req {
            n += 1;
            assert!(n < 10_000, "did not terminate");
            let b = if q.is_empty() { 0 } else { (q.after + 1).min(q.before) };
            req = r.on_reply_end(ret(NOW - 5000, NOW), false, if q.is_empty() { 0 } else { q.after }, b, Some(b), NOW);
        }
    }

    #[test]
    fn replication_terminates_when_sender_clock_disagrees() {
        // The sender claims a retention in the future of our clock and echoes garbage.
        let mut r = ChartReplication::new(ReplicationSettings::default());
        let mut req = r.on_definition_end(SenderRetention { first: NOW + 100, last: NOW + 5000, now: NOW + 5000 }, None, true, NOW);
        let mut n = 0;
        while let Some(_q) = req {
            n += 1;
            assert!(n < 1000, "replication did not terminate");
            req = r.on_reply_end(SenderRetention { first: NOW + 100, last: NOW + 5000, now: NOW + 5000 }, false, 5, 3, None, NOW);
        }
    }

    #[test]
    fn disabled_or_no_sender_data_sends_the_empty_request() {
        let mut r = ChartReplication::new(ReplicationSettings { enabled: false, ..Default::default() });
        assert_eq!(r.on_definition_end(ret(NOW - 100, NOW), None, true, NOW), Some(Request::EMPTY));
        let mut r = ChartReplication::new(ReplicationSettings::default());
        assert_eq!(r.on_definition_end(ret(0, 0), None, true, NOW), Some(Request::EMPTY));
        let mut r = ChartReplication::new(ReplicationSettings::default());
        assert_eq!(r.on_definition_end(ret(NOW - 100, NOW - 50), Some(NOW - 10), true, NOW), Some(Request::EMPTY));
    }

    #[test]
    fn holes_are_asked_first_oldest_first_then_the_tail() {
        let mut r = ChartReplication::new(ReplicationSettings::default());
        r.add_holes([(NOW - 3000, NOW - 2900), (NOW - 1000, NOW - 900)]);
        let q1 = r.on_definition_end(ret(NOW - 4000, NOW), Some(NOW - 10), true, NOW).expect("q1");
        assert_eq!(q1, Request { start_streaming: false, after: NOW - 3000, before: NOW - 2900 });
        let q2 = r.on_reply_end(ret(NOW - 4000, NOW), false, q1.after, q1.before, Some(NOW - 10), NOW).expect("q2");
        assert_eq!(q2, Request { start_streaming: false, after: NOW - 1000, before: NOW - 900 });
        let q3 = r.on_reply_end(ret(NOW - 4000, NOW), false, q2.after, q2.before, Some(NOW - 10), NOW).expect("q3");
        assert!(q3.start_streaming);
        assert_eq!(q3.before, NOW);
    }
}
