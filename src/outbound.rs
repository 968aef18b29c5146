//! The sending side of a stream (child role, and a parent re-streaming the hosts it
//! receives): what to send on connect, how samples are encoded, and which destination to try
//! next. Pure; the daemon's sender task does the I/O.

use std::time::{Duration, Instant};

use crate::ingest::HostIngest;
use crate::model::{ChartMeta, DimMeta, HostMeta};
use crate::proto::command::{Begin, Chart, ClaimedId, Clabel, Command, Dimension, Label, Overwrite, Set};
use crate::proto::handshake::{Capabilities, Reply};

/// What our child role offers: everything we implement except FUNCTIONS.
pub const CHILD_CAPABILITIES: Capabilities = Capabilities(
    Capabilities::VCAPS.0
        | Capabilities::HLABELS.0
        | Capabilities::CLAIM.0
        | Capabilities::CLABELS.0
        | Capabilities::COMPRESSION.0
        | Capabilities::REPLICATION.0
        | Capabilities::BINARY.0,
);

/// Encodes a chart definition block (CHART, CLABELs + CLABEL_COMMIT, DIMENSIONs).
pub fn encode_chart(meta: &ChartMeta, dims: &[DimMeta], caps: Capabilities, out: &mut Vec<u8>) {
    let type_part = meta.type_part();
    let name = if meta.name == meta.id || meta.name.is_empty() {
        String::new()
    } else {
        meta.name.strip_prefix(&format!("{type_part}.")).unwrap_or(&meta.name).to_string()
    };
    let has = |w: &str| meta.options.split_ascii_whitespace().any(|x| x == w);
    Command::Chart(Box::new(Chart {
        id: meta.id.as_str().into(),
        name: name.into(),
        title: meta.title.as_str().into(),
        units: meta.units.as_str().into(),
        family: meta.family.as_str().into(),
        context: meta.context.as_str().into(),
        chart_type: meta.chart_type.as_str().into(),
        priority: meta.priority,
        update_every: i64::from(meta.update_every),
        options: Chart::options_field(has("obsolete"), has("detail"), has("store_first"), has("hidden")).into(),
        plugin: meta.plugin.as_str().into(),
        module: meta.module.as_str().into(),
    }))
    .encode(out);
    if caps.contains(Capabilities::CLABELS) && !meta.labels.is_empty() {
        for l in &meta.labels {
            Command::Clabel(Clabel { name: l.name.as_str().into(), value: l.value.as_str().into(), source: l.source }).encode(out);
        }
        Command::ClabelCommit.encode(out);
    }
    for d in dims {
        let dh = |w: &str| d.has_option(w);
        Command::Dimension(Box::new(Dimension {
            id: d.id.as_str().into(),
            name: d.name.as_str().into(),
            algorithm: d.algorithm.as_str().into(),
            multiplier: d.multiplier,
            divisor: d.divisor,
            options: Dimension::options_field(dh("obsolete"), dh("hidden"), dh("noreset")).into(),
        }))
        .encode(out);
    }
}

/// Host labels (+ OVERWRITE) and the claim, as a 1.37.1 child sends them after the greeting.
pub fn encode_host(meta: &HostMeta, caps: Capabilities, out: &mut Vec<u8>) {
    if caps.contains(Capabilities::CLAIM) {
        Command::ClaimedId(ClaimedId { machine_guid: meta.guid.as_str().into(), claim_id: meta.claim_id.as_deref().map(Into::into) }).encode(out);
    }
    if caps.contains(Capabilities::HLABELS) {
        for l in &meta.labels {
            Command::Label(Label { name: l.name.as_str().into(), source: l.source, value: l.value.as_str().into() }).encode(out);
        }
        Command::Overwrite(Overwrite { what: "labels".into() }).encode(out);
    }
}

/// Everything an upstream parent needs on connect: host labels, claim, every chart.
pub fn encode_definitions(h: &HostIngest, caps: Capabilities, out: &mut Vec<u8>) {
    encode_host(h.meta(), caps, out);
    for (ci, c) in h.charts().iter().enumerate() {
        encode_chart(&c.meta, &h.dim_metas(ci), caps, out);
    }
}

/// A live sample: BEGIN, one SET per collected dimension, END.
pub fn encode_sample(chart: &str, usec: u64, dims: &[DimMeta], values: &[Option<i64>], out: &mut Vec<u8>) {
    Command::Begin(Begin { id: chart.into(), microseconds: usec }).encode(out);
    for (d, v) in dims.iter().zip(values) {
        if let Some(v) = v {
            Command::Set(Set { id: d.id.as_str().into(), value: Some(*v) }).encode(out);
        }
    }
    Command::End.encode(out);
}

/// Destination choice: the first working entry of the list, in order; after a session on
/// entry `i` breaks, the next entries are tried first. Refusals postpone an entry for
/// Netdata's times, except "already streaming", which backs off exponentially (2 min, 4, 8 …
/// up to 1 h) so an active-active pair does not churn — unless our own session on that entry
/// ended less than [`STALE_SESSION_WINDOW`] ago: then the parent most likely still holds our
/// dead session (a 1.37 parent keeps a receiver until its thread notices, or for 30 s of
/// silence), and the entry is retried every [`STALE_SESSION_RETRY`] instead.
#[derive(Debug, Clone)]
pub struct Destinations {
    entries: Vec<Entry>,
    next: usize,
}

#[derive(Debug, Clone)]
struct Entry {
    postponed_until: Option<Instant>,
    already_streaming_refusals: u32,
    /// When our last session on this entry ended.
    session_ended_at: Option<Instant>,
}

/// How long after our own session on a destination ended an "already streaming" refusal is
/// taken for our dead session still registered there (Netdata 1.37 drops a receiver silent
/// for more than 30 s when a new connection for the host arrives).
pub const STALE_SESSION_WINDOW: Duration = Duration::from_secs(45);
/// The retry interval within [`STALE_SESSION_WINDOW`].
pub const STALE_SESSION_RETRY: Duration = Duration::from_secs(5);

impl Destinations {
    pub fn new(n: usize) -> Self {
        Self { entries: vec![Entry { postponed_until: None, already_streaming_refusals: 0, session_ended_at: None }; n], next: 0 }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries to try now, in order (postponed ones left out).
    pub fn candidates(&self, now: Instant) -> Vec<usize> {
        let n = self.entries.len();
        (0..n).map(|k| (self.next + k) % n).filter(|&i| self.entries[i].postponed_until.is_none_or(|t| t <= now)).collect()
    }

    /// Entry `i` accepted the stream.
    pub fn connected(&mut self, i: usize) {
        if let Some(e) = self.entries.get_mut(i) {
            e.postponed_until = None;
            e.already_streaming_refusals = 0;
        }
    }

    /// The session on entry `i` broke at `now`: the others are tried first next time.
    pub fn disconnected(&mut self, i: usize, now: Instant) {
        if let Some(e) = self.entries.get_mut(i) {
            e.session_ended_at = Some(now);
            self.next = (i + 1) % self.entries.len();
        }
    }

    /// Entry `i` answered `reply` instead of a greeting. Returns the postponement.
    pub fn refused(&mut self, i: usize, reply: Reply, now: Instant) -> Duration {
        let Some(e) = self.entries.get_mut(i) else { return Duration::ZERO };
        let own_session_lingers = e.session_ended_at.is_some_and(|t| now.saturating_duration_since(t) < STALE_SESSION_WINDOW);
        let secs = if reply == Reply::AlreadyStreaming && own_session_lingers {
            STALE_SESSION_RETRY.as_secs()
        } else if reply == Reply::AlreadyStreaming {
            e.already_streaming_refusals = e.already_streaming_refusals.saturating_add(1);
            (120u64 << (e.already_streaming_refusals - 1).min(5)).min(3600)
        } else {
            reply.postpone_secs()
        };
        let d = Duration::from_secs(secs);
        e.postponed_until = Some(now + d);
        d
    }

    /// Entry `i` must not be used for a while (e.g. it is the peer the host came from).
    pub fn postpone(&mut self, i: usize, d: Duration, now: Instant) {
        if let Some(e) = self.entries.get_mut(i) {
            e.postponed_until = Some(now + d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Algorithm, Label};
    use crate::proto::Command;

    #[test]
    fn chart_block_parses_back_as_the_same_definition() {
        let meta = ChartMeta {
            id: "disk_space._dev".into(),
            name: "disk_space._dev".into(),
            title: "Disk Space Usage".into(),
            units: "GiB".into(),
            family: "/dev".into(),
            context: "disk.space".into(),
            chart_type: crate::model::ChartType::Stacked,
            priority: 2023,
            update_every: 1,
            options: String::new(),
            plugin: "diskspace.plugin".into(),
            module: String::new(),
            labels: vec![Label { name: "mount_point".into(), value: "/dev".into(), source: 1 }],
        };
        let dims = vec![DimMeta { id: "avail".into(), name: "avail".into(), algorithm: Algorithm::Absolute, multiplier: 1, divisor: 1073741824, options: String::new() }];
        let mut out = Vec::new();
        encode_chart(&meta, &dims, Capabilities::NETDATA_1_37_ALL, &mut out);
        let text = String::from_utf8(out).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        // Byte-identical to the capture's line for this chart.
        assert_eq!(lines[0], r#"CHART "disk_space._dev" "" "Disk Space Usage" "GiB" "/dev" "disk.space" "stacked" 2023 1 "   " "diskspace.plugin" """#);
        assert_eq!(lines[1], r#"CLABEL "mount_point" "/dev" 1"#);
        assert_eq!(lines[2], "CLABEL_COMMIT");
        for l in &lines {
            Command::parse(l.as_bytes()).expect("parses");
        }
    }

    #[test]
    fn sample_skips_uncollected_dimensions() {
        let dims = vec![
            DimMeta { id: "a".into(), name: "a".into(), multiplier: 1, divisor: 1, ..Default::default() },
            DimMeta { id: "b".into(), name: "b".into(), multiplier: 1, divisor: 1, ..Default::default() },
        ];
        let mut out = Vec::new();
        encode_sample("x.y", 1_000_000, &dims, &[Some(5), None], &mut out);
        assert_eq!(String::from_utf8(out).expect("utf8"), "BEGIN \"x.y\" 1000000\nSET \"a\" = 5\nEND\n");
    }

    #[test]
    fn destinations_first_working_in_order_then_the_others_after_a_break() {
        let now = Instant::now();
        let mut d = Destinations::new(3);
        assert_eq!(d.candidates(now), vec![0, 1, 2]);
        d.connected(0);
        d.disconnected(0, now);
        assert_eq!(d.candidates(now), vec![1, 2, 0]);
        assert_eq!(d.refused(1, Reply::Denied, now), Duration::from_secs(60));
        assert_eq!(d.candidates(now), vec![2, 0]);
        assert_eq!(d.candidates(now + Duration::from_secs(61)), vec![1, 2, 0]);
    }

    #[test]
    fn already_streaming_backs_off_exponentially_up_to_an_hour() {
        let now = Instant::now();
        let mut d = Destinations::new(1);
        let waits: Vec<u64> = (0..8).map(|_| d.refused(0, Reply::AlreadyStreaming, now).as_secs()).collect();
        assert_eq!(waits, vec![120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        d.connected(0);
        assert_eq!(d.refused(0, Reply::AlreadyStreaming, now).as_secs(), 120);
        assert_eq!(d.refused(0, Reply::Localhost, now).as_secs(), 3600);
    }

    #[test]
    fn already_streaming_right_after_our_own_session_broke_is_retried_soon() {
        let t0 = Instant::now();
        let mut d = Destinations::new(2);
        d.connected(0);
        d.disconnected(0, t0);
        // The parent still holds our dead session: retried every 5 s while the window lasts.
        let s = |x: u64| t0 + Duration::from_secs(x);
        assert_eq!(d.refused(0, Reply::AlreadyStreaming, s(0)), STALE_SESSION_RETRY);
        assert_eq!(d.candidates(s(1)), vec![1]);
        assert_eq!(d.candidates(s(5)), vec![1, 0]);
        assert_eq!(d.refused(0, Reply::AlreadyStreaming, s(40)), STALE_SESSION_RETRY);
        // Other refusals keep Netdata's times.
        assert_eq!(d.refused(0, Reply::Denied, s(41)).as_secs(), 60);
        // After the window it is someone else's live stream: the exponential back-off.
        assert_eq!(d.refused(0, Reply::AlreadyStreaming, s(45)).as_secs(), 120);
        assert_eq!(d.refused(0, Reply::AlreadyStreaming, s(46)).as_secs(), 240);
        // Another entry never had a session of ours.
        assert_eq!(d.refused(1, Reply::AlreadyStreaming, s(0)).as_secs(), 120);
    }
}
