use std::sync::Arc;

use super::*;
use crate::ingest::Limits;
use crate::model::{ChartMeta, DimMeta, HostMeta};
use crate::proto::Command;
use crate::storage::mem::MemStore;
use crate::storage::StorageNumber;

const T0: i64 = 1_800_000_000;

fn host() -> HostIngest {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(Default::default()));
    let mut h = HostIngest::new(store, HostMeta { guid: "g".into(), hostname: "h".into(), ..Default::default() }, Limits::default()).expect("host");
    h.define_chart(ChartMeta { id: "t.c".into(), name: "t.c".into(), update_every: 1, ..Default::default() }).expect("chart");
    for d in ["a", "b"] {
        h.define_dimension(DimMeta { id: d.into(), name: d.into(), multiplier: 1, divisor: 1, ..Default::default() }).expect("dim");
    }
    h
}

/// Writes `v(t)` for dim `di` at each `t`.
fn put(h: &HostIngest, di: usize, times: impl IntoIterator<Item = i64>, v: impl Fn(i64) -> f64) {
    let s = h.chart(0).expect("chart").series[di];
    for t in times {
        h.store().write(s, t, StorageNumber::pack(v(t), 0)).expect("write");
    }
}

fn lines(out: &[u8]) -> Vec<String> {
    let text = String::from_utf8(out.to_vec()).expect("utf8");
    for l in text.lines() {
        Command::parse(l.as_bytes()).unwrap_or_else(|e| panic!("unparsable line {l:?}: {e}"));
    }
    text.lines().map(str::to_string).collect()
}

#[test]
fn reply_has_one_step_per_stored_time_with_gaps_as_nan_e_and_rend_false_inside_retention() {
    let h = host();
    put(&h, 0, T0..=T0 + 20, |t| (t - T0) as f64 + 0.5);
    put(&h, 1, (T0..=T0 + 20).filter(|t| t % 2 == 0), |_| 7.0);
    let mut out = Vec::new();
    let req = ReplayRequest { start_streaming: false, after: T0 + 5, before: T0 + 10 };
    let o = answer(&h, 0, req, T0 + 30, ReplyLimits::default(), &mut out).expect("chart exists");
    let l = lines(&out);
    assert_eq!(l[0], r#"RBEGIN "t.c""#);
    // after exclusive, before inclusive: 6..=10
    assert_eq!(l[1], format!("RBEGIN '' {} {} {}", T0 + 5, T0 + 6, T0 + 30));
    assert_eq!(l[2], r#"RSET "a" 6.5000000 """#);
    assert_eq!(l[3], r#"RSET "b" 7.0000000 """#);
    assert_eq!(l[6], r#"RSET "b" NAN "E""#);
    assert_eq!(o, ReplyOutcome { start_streaming: false, steps: 5, points: 5 + 3, truncated: false });
    assert!(!l.iter().any(|x| x.starts_with("RDSTATE") || x.starts_with("RSSTATE")));
    assert_eq!(l.last().expect("rend"), &format!("REND 1 {T0} {} false {} {} {}", T0 + 20, T0 + 5, T0 + 10, T0 + 30));
}

#[test]
fn start_streaming_reply_goes_to_the_last_point_with_state_and_rend_true() {
    let h = host();
    put(&h, 0, T0..=T0 + 20, |_| 1.0);
    put(&h, 1, T0..=T0 + 20, |_| 2.0);
    let mut out = Vec::new();
    let req = ReplayRequest { start_streaming: true, after: T0 + 15, before: T0 + 18 };
    let o = answer(&h, 0, req, T0 + 21, ReplyLimits::default(), &mut out).expect("chart");
    let l = lines(&out);
    assert!(o.start_streaming);
    assert_eq!(o.steps, 5, "{l:#?}");
    assert_eq!(l.iter().filter(|x| x.starts_with("RDSTATE")).count(), 2);
    assert!(l[l.len() - 2].starts_with("RSSTATE "));
    // before raised to our last entry
    assert_eq!(l.last().expect("rend"), &format!("REND 1 {T0} {} true {} {} {}", T0 + 20, T0 + 15, T0 + 20, T0 + 21));
}

#[test]
fn empty_request_switches_to_live_without_data() {
    let h = host();
    put(&h, 0, T0..=T0 + 3, |_| 1.0);
    let mut out = Vec::new();
    let o = answer(&h, 0, ReplayRequest { start_streaming: true, after: 0, before: 0 }, T0 + 4, ReplyLimits::default(), &mut out).expect("chart");
    let l = lines(&out);
    assert_eq!(o.steps, 0);
    assert!(o.start_streaming);
    assert_eq!(l.last().expect("rend"), &format!("REND 1 {T0} {} true 0 0 {}", T0 + 3, T0 + 4));
}

#[test]
fn a_hole_common_to_all_dimensions_is_skipped_not_truncating() {
    let h = host();
    let times: Vec<i64> = (T0..=T0 + 30).filter(|t| !(T0 + 10..T0 + 20).contains(t)).collect();
    put(&h, 0, times.clone(), |_| 1.0);
    put(&h, 1, times, |_| 1.0);
    let mut out = Vec::new();
    let o = answer(&h, 0, ReplayRequest { start_streaming: false, after: T0, before: T0 + 30 }, T0 + 31, ReplyLimits::default(), &mut out).expect("chart");
    assert_eq!(o.steps, 20);
    assert!(o.start_streaming, "before reached our last entry");
}

#[test]
fn limits_truncate_and_echo_the_last_time_sent() {
    let h = host();
    put(&h, 0, T0..=T0 + 100, |_| 1.0);
    let mut out = Vec::new();
    let o = answer(&h, 0, ReplayRequest { start_streaming: true, after: T0, before: T0 + 100 }, T0 + 101, ReplyLimits { max_steps: 10, max_bytes: 1 << 20 }, &mut out).expect("chart");
    assert_eq!(o, ReplyOutcome { start_streaming: false, steps: 10, points: 10, truncated: true });
    let l = lines(&out);
    assert_eq!(l.last().expect("rend"), &format!("REND 1 {T0} {} false {T0} {} {}", T0 + 100, T0 + 10, T0 + 101));
    // A huge request is read in windows and still bounded.
    let mut out = Vec::new();
    let o = answer(&h, 0, ReplayRequest { start_streaming: false, after: 0, before: i64::MAX / 4 }, T0 + 101, ReplyLimits { max_steps: 1000, max_bytes: 1 << 20 }, &mut out).expect("chart");
    assert_eq!(o.steps, 100);
}

#[test]
fn definition_end_reports_tier0_retention() {
    let h = host();
    let mut out = Vec::new();
    Command::ChartDefinitionEnd(definition_end(&h, 0, T0)).encode(&mut out);
    assert_eq!(lines(&out)[0], format!("CHART_DEFINITION_END {T0} {T0} {T0}"));
    put(&h, 0, T0 - 50..=T0 - 5, |_| 1.0);
    put(&h, 1, T0 - 40..=T0 - 2, |_| 1.0);
    assert_eq!(definition_end(&h, 0, T0), ChartDefinitionEnd { first_entry: T0 - 50, last_entry: T0 - 2, child_now: T0 });
}

#[test]
fn gate_appends_definition_end_and_holds_samples_until_released() {
    let h = host();
    put(&h, 0, T0 - 10..=T0 - 1, |_| 1.0);
    let mut g = LiveGate::new(true);
    let mut out = Vec::new();
    let input = b"CHART \"t.c\" \"\" \"t\" \"u\" \"f\" \"t.c\" \"line\" 1 1 \"   \" \"p\" \"m\"\nDIMENSION \"a\" \"a\" \"absolute\" 1 1 \"  \"\nBEGIN \"t.c\" 1000000\nSET \"a\" = 1\nEND\nBEGIN \"x.y\" 5\nEND\n";
    g.filter(&h, input, T0, &mut out);
    let l = lines(&out);
    assert_eq!(l[2], format!("CHART_DEFINITION_END {} {} {T0}", T0 - 10, T0 - 1));
    assert_eq!(&l[3..], ["BEGIN \"x.y\" 5", "END"], "held chart's sample dropped, others pass");
    assert!(g.is_held("t.c"));
    // A sample split across pushes stays whole: BEGIN passes, release mid-sample is refused by
    // the caller via in_sample().
    g.release("t.c");
    let mut out = Vec::new();
    g.filter(&h, b"BEGIN \"t.c\" 1000000\nSET \"a\" = 2\n", T0, &mut out);
    assert!(g.in_sample());
    g.filter(&h, b"END\n", T0, &mut out);
    assert!(!g.in_sample());
    assert_eq!(lines(&out), ["BEGIN \"t.c\" 1000000", "SET \"a\" = 2", "END"]);
    // Without replication everything passes untouched.
    let mut g = LiveGate::new(false);
    let mut out = Vec::new();
    g.filter(&h, input, T0, &mut out);
    assert_eq!(out, input);
}

#[test]
fn queue_serves_oldest_first_one_per_chart() {
    let mut q = RequestQueue::new(3);
    let r = |after| ReplayRequest { start_streaming: false, after, before: after + 10 };
    assert!(q.push("b", r(200)));
    assert!(q.push("a", r(100)));
    assert!(q.push("c", r(300)));
    assert!(!q.push("d", r(1)), "full");
    assert!(q.push("c", r(50)), "replaces");
    assert_eq!(q.len(), 3);
    let order: Vec<String> = std::iter::from_fn(|| q.pop().map(|(c, _)| c)).collect();
    assert_eq!(order, ["c", "a", "b"]);
}
