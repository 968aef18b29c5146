//! One test per rule of `netdata-values.md` §1–§2, with expectations computed by hand from
//! the formulas (the comments show the arithmetic).

use super::*;
use crate::storage::number::{FLAG_NOT_ANOMALOUS, FLAG_RESET};

const B: i64 = 1_795_635_780;
const S: i64 = 1_000_000;

fn chart(ue: u32, options: &str) -> ChartMeta {
    ChartMeta { id: "t.c".into(), name: "t.c".into(), update_every: ue, options: options.into(), ..Default::default() }
}

fn dim(id: &str, alg: Algorithm, m: i64, d: i64, options: &str) -> DimMeta {
    DimMeta { id: id.into(), name: id.into(), algorithm: alg, multiplier: m, divisor: d, options: options.into() }
}

fn abs(id: &str) -> DimMeta {
    dim(id, Algorithm::Absolute, 1, 1, "")
}
fn inc(id: &str) -> DimMeta {
    dim(id, Algorithm::Incremental, 1, 1, "")
}

/// A chart as left by an empty replication reply (lab B): `LC = B + phase`, `LU = B`,
/// sync flag cleared.
fn synced(dims: &[DimMeta], phase_us: i64) -> ChartState {
    let mut c = ChartState::with_dimensions(&chart(1, ""), dims).expect("chart");
    c.replay_start();
    c.replay_chart_state(B * S + phase_us, B * S);
    c.replay_end(1, true);
    c
}

/// One live iteration: `BEGIN usec`, the SETs, `END`; the parent clock is irrelevant once
/// synced (0 is passed to prove it).
fn collect(c: &mut ChartState, usec: u64, sets: &[(usize, i64)]) -> Vec<ComputedPoint> {
    c.begin(usec, 0);
    for &(d, v) in sets {
        c.set(d, Some(v)).expect("set");
    }
    let mut out = Vec::new();
    c.end(0, &mut out);
    out
}

/// The value stored for `dim` at `t`: `None` = no point, `Some(NaN)` = gap.
fn at(pts: &[ComputedPoint], dim: usize, t: i64) -> Option<f64> {
    pts.iter().find(|p| p.dim == dim && p.time == t).map(|p| p.value.value())
}
fn flags_at(pts: &[ComputedPoint], dim: usize, t: i64) -> u32 {
    pts.iter().find(|p| p.dim == dim && p.time == t).map_or(0, |p| p.value.flags())
}
fn q(x: f64) -> f64 {
    StorageNumber::pack(x, 0).value()
}
fn assert_value(pts: &[ComputedPoint], dim: usize, t: i64, want: f64) {
    let got = at(pts, dim, t).unwrap_or_else(|| panic!("no point dim {dim} @B+{}: {pts:?}", t - B));
    assert_eq!(got, q(want), "dim {dim} @B+{}", t - B);
}
fn assert_gap(pts: &[ComputedPoint], dim: usize, t: i64) {
    let got = at(pts, dim, t).unwrap_or_else(|| panic!("no point dim {dim} @B+{}: {pts:?}", t - B));
    assert!(got.is_nan(), "dim {dim} @B+{} should be a gap, got {got}", t - B);
}

/// Runs a chart at 1 s steps from phase `phase_us`, returning all points.
fn run(dims: &[DimMeta], phase_us: i64, rows: &[Vec<Option<i64>>]) -> Vec<ComputedPoint> {
    let mut c = synced(dims, phase_us);
    let mut all = Vec::new();
    for row in rows {
        c.begin(S as u64, 0);
        for (d, v) in row.iter().enumerate() {
            c.set(d, *v).expect("set");
        }
        c.end(0, &mut all);
    }
    all
}

#[test]
fn absolute_value_is_shifted_to_the_slot_before_the_collection_with_multiplier_divisor() {
    let dims = [abs("a"), dim("b", Algorithm::Absolute, 3, 7, ""), dim("c", Algorithm::Absolute, -1, 1, ""), dim("d", Algorithm::Absolute, 1, 1000, "")];
    let mut c = synced(&dims, 250_000);
    let p1 = collect(&mut c, 1_000_000, &[(0, 10), (1, 11), (2, 30), (3, 497)]);
    // First value of every dimension (n = 1): the slot is a gap.
    for d in 0..4 {
        assert_gap(&p1, d, B + 1);
    }
    let p2 = collect(&mut c, 1_000_000, &[(0, 20), (1, 21), (2, 60), (3, 498)]);
    assert_value(&p2, 0, B + 2, 20.0);
    assert_value(&p2, 1, B + 2, 21.0 * 3.0 / 7.0); // 9
    assert_value(&p2, 2, B + 2, -60.0);
    assert_value(&p2, 3, B + 2, 0.498);
    assert_eq!(flags_at(&p2, 0, B + 2), FLAG_NOT_ANOMALOUS, "live points: not anomalous, no reset");
    assert_eq!(c.dimension(1).map(|d| d.last_stored_value()), Some(9.0));
    assert_eq!(c.dimension(0).map(|d| d.last_collected_value()), Some(20));
}

#[test]
fn incremental_rate_mixes_two_deltas_by_collection_phase() {
    // Deltas 100, 200, 300 collected at phase 0.25: slot = 0.75·Δnow + 0.25·Δprev.
    let dims = [inc("i"), dim("j", Algorithm::Incremental, 8, 1000, "")];
    let rows: Vec<_> = [1000i64, 1100, 1300, 1600].iter().map(|&v| vec![Some(v), Some(v * 1000)]).collect();
    let p = run(&dims, 250_000, &rows);
    assert_gap(&p, 0, B + 1);
    assert_value(&p, 0, B + 2, 75.0); // 0.75·100
    assert_value(&p, 0, B + 3, 175.0); // 0.75·200 + 25
    assert_value(&p, 0, B + 4, 275.0); // 0.75·300 + 50
    assert_value(&p, 1, B + 2, 600.0); // 0.75·100000·8/1000
    assert_value(&p, 1, B + 3, 1400.0);
}

#[test]
fn incremental_rate_is_per_second_on_slower_charts() {
    // 5 s chart, phase 0: each collection's 5000 increase → 1000/s.
    let mut c = ChartState::with_dimensions(&chart(5, ""), &[inc("r")]).expect("chart");
    c.replay_start();
    c.replay_chart_state(B * S, B * S);
    c.replay_end(5, true);
    let mut all = Vec::new();
    for k in 0..4 {
        c.begin(5 * S as u64, 0);
        c.set(0, Some(5000 * k)).expect("set");
        c.end(0, &mut all);
    }
    assert_gap(&all, 0, B + 5);
    assert_value(&all, 0, B + 10, 1000.0);
    assert_value(&all, 0, B + 15, 1000.0);
}

#[test]
fn thirty_two_bit_wrap_is_an_overflow_counted_one_short() {
    // 4294967290 → 5 is a true increase of 11; Netdata computes cap − last + new = 10.
    let rows: Vec<_> = [4_294_967_000i64, 4_294_967_100, 4_294_967_200, 4_294_967_290, 5].iter().map(|&v| vec![Some(v)]).collect();
    let p = run(&[inc("w")], 250_000, &rows);
    assert_value(&p, 0, B + 4, 92.5); // 0.75·90 + 0.25·100
    assert_value(&p, 0, B + 5, 30.0); // 0.75·10 + 0.25·90
    assert_eq!(flags_at(&p, 0, B + 5) & FLAG_RESET, FLAG_RESET);
    assert_eq!(flags_at(&p, 0, B + 4) & FLAG_RESET, 0);
}

#[test]
fn counter_reset_stores_only_the_carried_remainder_and_flags_reset() {
    let rows: Vec<_> = [100_000i64, 100_100, 100_200, 100_300, 100_400, 50, 150].iter().map(|&v| vec![Some(v)]).collect();
    let p = run(&[inc("r")], 250_000, &rows);
    assert_value(&p, 0, B + 5, 100.0);
    // 50 < 100400: δ = (2³²−1) − 100400 + 50 ≥ 10 % of the range → reset, C = 0;
    // the slot keeps the remainder 0.25·100 = 25.
    assert_value(&p, 0, B + 6, 25.0);
    assert_eq!(flags_at(&p, 0, B + 6), FLAG_NOT_ANOMALOUS | FLAG_RESET);
    assert_value(&p, 0, B + 7, 75.0); // 0.75·100 + 0
    assert_eq!(flags_at(&p, 0, B + 7), FLAG_NOT_ANOMALOUS);
}

#[test]
fn noreset_and_nooverflow_only_suppress_the_flag() {
    for opt in ["noreset", " nooverflow "] {
        let rows: Vec<_> = [100_000i64, 100_100, 50, 150].iter().map(|&v| vec![Some(v)]).collect();
        let p = run(&[dim("n", Algorithm::Incremental, 1, 1, opt)], 250_000, &rows);
        assert_value(&p, 0, B + 3, 25.0);
        assert_eq!(flags_at(&p, 0, B + 3), FLAG_NOT_ANOMALOUS, "{opt}");
    }
}

#[test]
fn negative_counter_crossing_zero_is_a_reset_with_32_bit_cap() {
    let rows: Vec<_> = [-616i64, -516, -416, -316, 100].iter().map(|&v| vec![Some(v)]).collect();
    let p = run(&[inc("w64")], 250_000, &rows);
    assert_value(&p, 0, B + 4, 100.0);
    assert_value(&p, 0, B + 5, 25.0); // reset: remainder only
}

#[test]
fn sixty_four_bit_overflow_once_large_values_were_seen() {
    // Phase 0: every slot holds exactly the delta of its collection (K = 2, s = LC).
    let rows: Vec<_> = [5_000_000_000i64, 5_000_000_100, -50, 50].iter().map(|&v| vec![Some(v)]).collect();
    let p = run(&[inc("c")], 0, &rows);
    assert_gap(&p, 0, B + 1);
    assert_value(&p, 0, B + 2, 100.0);
    // 5000000100 → −50: unsigned −50 is larger, so a plain signed difference (negative).
    assert_value(&p, 0, B + 3, -5_000_000_150.0);
    // −50 → 50 as unsigned goes down; |v| > 2³² was seen → cap 2⁶⁴−1, δ = 49 + 50 = 99.
    assert_value(&p, 0, B + 4, 99.0);
    assert_eq!(flags_at(&p, 0, B + 4) & FLAG_RESET, FLAG_RESET);
}

#[test]
fn percentage_of_absolute_row_ignores_multiplier_and_handles_zero_total() {
    let dims = [dim("x", Algorithm::PercentageOfAbsoluteRow, 1, 1, ""), dim("y", Algorithm::PercentageOfAbsoluteRow, 1000, 1, ""), dim("z", Algorithm::PercentageOfAbsoluteRow, 1, 1, "")];
    let rows: Vec<_> = (1..=6i64)
        .map(|k| match k {
            4 => vec![Some(0), Some(0), Some(0)],
            6 => vec![Some(k), Some(2), Some(7)],
            _ => vec![Some(k), Some(2), Some(0)],
        })
        .collect();
    let p = run(&dims, 250_000, &rows);
    assert_gap(&p, 0, B + 1);
    assert_value(&p, 0, B + 2, 50.0); // 2 / (2+2)
    assert_value(&p, 1, B + 2, 50.0);
    assert_value(&p, 2, B + 2, 0.0);
    assert_value(&p, 0, B + 4, 0.0); // T = 0 → 0
    assert_value(&p, 0, B + 6, 40.0); // 6/15
    assert_value(&p, 1, B + 6, 100.0 * 2.0 / 15.0);
    assert_value(&p, 2, B + 6, 100.0 * 7.0 / 15.0);
}

#[test]
fn percentage_of_incremental_row_including_reset_of_one_dimension() {
    let x = [0i64, 10, 30, 60, 100, 150, 150, 5, 25, 45];
    let y = [0i64, 30, 50, 60, 60, 60, 60, 70, 80, 90];
    let z = [0i64, 0, 0, 30, 40, 50, 50, 60, 70, 80];
    let dims = [
        dim("x", Algorithm::PercentageOfIncrementalRow, 1, 1, ""),
        dim("y", Algorithm::PercentageOfIncrementalRow, 1000, 1, ""),
        dim("z", Algorithm::PercentageOfIncrementalRow, 1, 1, ""),
    ];
    let rows: Vec<_> = (0..10).map(|k| vec![Some(x[k]), Some(y[k]), Some(z[k])]).collect();
    let p = run(&dims, 250_000, &rows);
    assert_gap(&p, 0, B + 1);
    // B+2: Δ = 10, 30, 0 of 40.
    assert_value(&p, 0, B + 2, 25.0);
    assert_value(&p, 1, B + 2, 75.0);
    assert_value(&p, 2, B + 2, 0.0);
    // B+4: Δ = 30, 10, 30 of 70.
    assert_value(&p, 0, B + 4, 300.0 / 7.0);
    assert_value(&p, 1, B + 4, 100.0 / 7.0);
    // B+7: no change at all → 0.
    assert_value(&p, 0, B + 7, 0.0);
    assert_value(&p, 1, B + 7, 0.0);
    // B+8: x went 150 → 5: treated as unchanged (v' := v before the totals): Δ = 0, 10, 10.
    assert_value(&p, 0, B + 8, 0.0);
    assert_value(&p, 1, B + 8, 50.0);
    assert_value(&p, 2, B + 8, 50.0);
    assert_eq!(flags_at(&p, 1, B + 8) & FLAG_RESET, FLAG_RESET, "reset flag is chart-wide");
    // B+10: Δ = 20, 10, 10 of 40.
    assert_value(&p, 0, B + 10, 50.0);
    assert_value(&p, 1, B + 10, 25.0);
}

#[test]
fn percentage_totals_include_absolute_dimensions_of_a_mixed_chart() {
    let dims = [abs("a"), dim("p", Algorithm::PercentageOfAbsoluteRow, 1, 1, ""), dim("q", Algorithm::PercentageOfAbsoluteRow, 1, 1, "")];
    let rows = vec![vec![Some(100), Some(25), Some(75)]; 2];
    let p = run(&dims, 250_000, &rows);
    assert_value(&p, 0, B + 2, 100.0);
    assert_value(&p, 1, B + 2, 12.5); // 25 / 200
    assert_value(&p, 2, B + 2, 37.5);
}

#[test]
fn late_collections_interpolate_from_the_previous_slot_and_gap_from_three_slots() {
    // E5: a absolute 200, 300, …; i incremental at 1000/s.
    let usecs = [1_000_000u64, 1_000_000, 1_000_000, 2_500_000, 1_000_000, 4_000_000];
    let mut c = synced(&[abs("a"), inc("i")], 250_000);
    let (mut all, mut i) = (Vec::new(), 0i64);
    for (k, &us) in usecs.iter().enumerate() {
        i += us as i64 / 1000;
        c.begin(us, 0);
        c.set(0, Some(200 + 100 * k as i64)).expect("set");
        c.set(1, Some(i)).expect("set");
        c.end(0, &mut all);
    }
    assert_value(&all, 0, B + 2, 300.0);
    assert_value(&all, 1, B + 2, 750.0);
    assert_value(&all, 0, B + 3, 400.0);
    // Collection at B+5.75 (500) covers B+4 (K = 2) and B+5 (K = 1).
    assert_value(&all, 0, B + 4, 430.0); // 400 + 100·0.75/2.5
    assert_value(&all, 0, B + 5, 500.0);
    assert_value(&all, 1, B + 4, 1000.0);
    assert_value(&all, 1, B + 5, 1000.0);
    // Collection at B+10.75 (700) covers 4 slots: K = 4, 3 → gaps; B+9 restarts from B+8.
    assert_gap(&all, 0, B + 7);
    assert_gap(&all, 0, B + 8);
    assert_gap(&all, 1, B + 8);
    assert_value(&all, 0, B + 9, 600.0 + 100.0 / 2.75); // 636.3636, not 656.25
    assert_value(&all, 0, B + 10, 700.0);
    assert_value(&all, 1, B + 10, 1000.0);
}

#[test]
fn collection_ending_exactly_on_a_slot_counts_one_more_iteration() {
    // Phase 0, a 2-slot catch-up: K = 2 + 1 = 3 for the first slot → gap.
    let mut c = synced(&[abs("a")], 0);
    let mut all = Vec::new();
    for (us, v) in [(1_000_000u64, 1), (1_000_000, 2), (2_000_000, 4)] {
        c.begin(us, 0);
        c.set(0, Some(v)).expect("set");
        c.end(0, &mut all);
    }
    assert_value(&all, 0, B + 2, 2.0);
    assert_gap(&all, 0, B + 3);
    assert_value(&all, 0, B + 4, 4.0);
}

#[test]
fn early_collections_write_no_slot_and_accumulate_the_remainder() {
    // j.early: collections at B+1.25, 2.25, 2.55, 2.85, 3.25.
    let mut c = synced(&[abs("a"), inc("i")], 250_000);
    let mut all = Vec::new();
    for (us, a, i) in [(1_000_000u64, 100, 0), (1_000_000, 200, 1000), (300_000, 300, 1300), (300_000, 400, 1600), (400_000, 500, 2000)] {
        c.begin(us, 0);
        c.set(0, Some(a)).expect("set");
        c.set(1, Some(i)).expect("set");
        c.end(0, &mut all);
    }
    assert_value(&all, 0, B + 2, 200.0);
    assert_value(&all, 0, B + 3, 500.0); // only the last absolute value counts
    assert_value(&all, 1, B + 2, 750.0);
    // R = 250 + 300 + 300, then 400·0.15/0.4 = 150 → 1000.
    assert_value(&all, 1, B + 3, 1000.0);
    assert_eq!(all.iter().filter(|p| p.time == B + 3).count(), 2);
}

#[test]
fn missing_set_is_a_gap_loses_the_remainder_and_spikes_the_next_value() {
    let g = |k: i64| 100 * (k - 1) * (k - 1);
    let rows: Vec<_> = (1..=10).map(|k| if k == 7 || k == 8 { vec![None] } else { vec![Some(g(k))] }).collect();
    let p = run(&[inc("g")], 250_000, &rows);
    assert_value(&p, 0, B + 6, 850.0); // 0.75·900 + 0.25·700
    assert_gap(&p, 0, B + 7);
    assert_gap(&p, 0, B + 8);
    assert_value(&p, 0, B + 9, 2925.0); // 0.75·(6400 − 2500), remainder lost
    assert_value(&p, 0, B + 10, 2250.0); // 0.75·1700 + 0.25·3900
}

#[test]
fn empty_set_text_leaves_the_dimension_unset() {
    assert_eq!(parse_set_value(""), None);
    assert_eq!(parse_set_value("1.9"), Some(1));
    let mut c = synced(&[abs("a")], 250_000);
    collect(&mut c, 1_000_000, &[(0, 1)]);
    collect(&mut c, 1_000_000, &[(0, 2)]);
    c.begin(1_000_000, 0);
    c.set(0, parse_set_value("")).expect("set");
    let mut out = Vec::new();
    c.end(0, &mut out);
    assert_gap(&out, 0, B + 3);
}

#[test]
fn first_collection_without_replication_anchors_at_half_second_and_then_uses_parent_clock() {
    // E7: collections at x.3005 on the parent; nothing stored for #1; #2 D = now − 151.5.
    let mut c = ChartState::with_dimensions(&chart(1, ""), &[abs("abs"), inc("inc")]).expect("chart");
    let t0 = 1_795_636_151 * S;
    c.begin(1_000_000, t0 + 300_400); // ignored: nothing collected yet
    c.set(0, Some(100)).expect("set");
    c.set(1, Some(0)).expect("set");
    let mut out = Vec::new();
    c.end(t0 + 300_400, &mut out);
    assert!(out.is_empty(), "first collection stores nothing: {out:?}");
    assert_eq!(c.last_collected_us(), t0 + 500_000);
    assert_eq!(c.last_updated_us(), t0);
    // #2 arrives at 152.3007: the sync flag makes D = 0.8007 s regardless of the 1 s claimed.
    let now2 = t0 + S + 300_700;
    c.begin(1_000_000, now2);
    c.set(0, Some(101)).expect("set");
    c.set(1, Some(1000)).expect("set");
    c.end(now2, &mut out);
    assert_eq!(c.last_collected_us(), now2);
    assert_eq!(c.dimension(0).map(|d| d.last_collected_time_us()), Some(now2), "stamped with END's now");
    let slot = 1_795_636_152;
    assert_value(&out, 0, slot, 101.0);
    assert_value(&out, 1, slot, 1000.0 * 0.5 / 0.8007);
    // #3 trusted: 1000·(153 − 152.3007) + remainder (1000 − 624.45…).
    c.begin(1_000_000, 0);
    c.set(0, Some(102)).expect("set");
    c.set(1, Some(2000)).expect("set");
    out.clear();
    c.end(0, &mut out);
    let r = 1000.0 - 1000.0 * 0.5 / 0.8007;
    assert_value(&out, 1, slot + 1, 1000.0 * (1.0 - 0.3007) + r);
}

#[test]
fn first_collection_on_a_five_second_chart_anchors_to_the_five_second_grid() {
    let mut c = ChartState::with_dimensions(&chart(5, ""), &[abs("a")]).expect("chart");
    c.set(0, Some(1)).expect("set");
    let mut out = Vec::new();
    c.end(1_795_636_151 * S + 300_000, &mut out);
    assert_eq!(c.last_collected_us(), 1_795_636_150 * S + 500_000);
    assert!(out.is_empty());
}

#[test]
fn store_first_stores_the_first_collection_at_floor_now_with_the_raw_counter() {
    let mut c = ChartState::with_dimensions(&chart(1, "   store_first  "), &[inc("i")]).expect("chart");
    c.set(0, Some(1000)).expect("set");
    let mut out = Vec::new();
    let now = 1_795_636_151 * S + 300_000;
    c.end(now, &mut out);
    assert_value(&out, 0, 1_795_636_151, 1000.0); // v − 0, n started at 1
    assert_eq!(c.last_collected_us(), 1_795_636_151 * S);
}

#[test]
fn begin_zero_uses_the_absolute_parent_clock_difference() {
    // A chart 22.5 s ahead of the parent moves further ahead with BEGIN 0 (lab i.fut).
    let mut c = synced(&[abs("a")], 0);
    collect(&mut c, 1_000_000, &[(0, 1)]);
    let lc = c.last_collected_us();
    let now = lc - 22_500_000;
    c.begin(0, now);
    c.set(0, Some(2)).expect("set");
    let mut out = Vec::new();
    c.end(now, &mut out);
    assert_eq!(c.last_collected_us(), lc + 22_500_000);
}

#[test]
fn redefinition_or_new_dimension_makes_the_next_duration_come_from_the_parent_clock() {
    let mut c = synced(&[abs("a")], 250_000);
    collect(&mut c, 1_000_000, &[(0, 1)]);
    assert!(!c.sync_clock());
    // Same dimension again: no change, no sync.
    c.define_dimension(&abs("a")).expect("dim");
    assert!(!c.sync_clock());
    let n = c.define_dimension(&abs("n")).expect("dim");
    assert_eq!(n, 1);
    assert!(c.sync_clock());
    let lc = c.last_collected_us();
    let now = lc + 1_500_000;
    c.begin(1_000_000, now);
    c.set(0, Some(2)).expect("set");
    c.set(n, Some(1)).expect("set");
    let mut out = Vec::new();
    c.end(now, &mut out);
    assert_eq!(c.last_collected_us(), now, "claimed 1 s ignored once");
    assert_gap(&out, n, B + 2); // a new dimension's first slot is a gap
    c.redefine(&chart(1, ""));
    assert!(c.sync_clock());
    // Changing the algorithm also syncs.
    let mut c2 = synced(&[abs("a")], 0);
    c2.define_dimension(&inc("a")).expect("dim");
    assert!(c2.sync_clock());
}

#[test]
fn a_jump_over_1024_slots_resets_the_chart_and_reanchors_on_the_parent_clock() {
    let mut c = synced(&[abs("a")], 250_000);
    collect(&mut c, 1_000_000, &[(0, 1)]);
    collect(&mut c, 1_000_000, &[(0, 2)]);
    let jumped = collect(&mut c, 1_100 * S as u64, &[(0, 3)]);
    assert!(jumped.is_empty(), "nothing stored on a reset: {jumped:?}");
    assert_eq!(c.last_collected_us(), 0);
    assert_eq!(c.dimension(0).map(DimState::collections), Some(0));
    // Next collection: first-collection rules on the parent's clock.
    let now = (B + 5000) * S + 123_000;
    c.begin(1_000_000, now);
    c.set(0, Some(4)).expect("set");
    let mut out = Vec::new();
    c.end(now, &mut out);
    assert_eq!(c.last_collected_us(), (B + 5000) * S + 500_000);
    assert!(out.is_empty());
    // 1024 slots exactly is still fine.
    let mut ok = synced(&[abs("a")], 0);
    collect(&mut ok, 1_000_000, &[(0, 1)]);
    let p = collect(&mut ok, 1024 * S as u64, &[(0, 2)]);
    assert_eq!(p.len(), 1024);
    assert_value(&p, 0, B + 1025, 2.0);
}

#[test]
fn reset_flag_marks_only_the_first_slot_of_the_iteration_for_every_dimension() {
    let mut c = synced(&[abs("a"), inc("w")], 250_000);
    collect(&mut c, 1_000_000, &[(0, 1), (1, 1000)]);
    collect(&mut c, 1_000_000, &[(0, 2), (1, 2000)]);
    let p = collect(&mut c, 2_000_000, &[(0, 4), (1, 10)]); // counter reset, covers 2 slots
    assert_eq!(flags_at(&p, 0, B + 3), FLAG_NOT_ANOMALOUS | FLAG_RESET);
    assert_eq!(flags_at(&p, 1, B + 3), FLAG_NOT_ANOMALOUS | FLAG_RESET);
    assert_eq!(flags_at(&p, 0, B + 4), FLAG_NOT_ANOMALOUS);
    assert_eq!(flags_at(&p, 1, B + 4), FLAG_NOT_ANOMALOUS);
}

#[test]
fn rset_values_are_stored_verbatim_quantized_without_the_not_anomalous_bit() {
    let mut c = ChartState::with_dimensions(&chart(1, ""), &[abs("v"), abs("e")]).expect("chart");
    c.replay_start();
    assert_eq!(c.replay_set(0, "1", "").expect("rset"), None, "no timed RBEGIN yet");
    assert!(c.replay_begin(B - 1, B, Some(B + 100), 0));
    let p = c.replay_set(0, "123.456789", "").expect("rset").expect("point");
    assert_eq!((p.time, p.value.value(), p.value.flags()), (B, q(123.456789), 0));
    let e = c.replay_set(1, "NAN", "E").expect("rset").expect("point");
    assert!(e.value.is_empty());
    assert!(c.replay_begin(B, B + 1, Some(B + 100), 0));
    assert_eq!(c.last_collected_us(), (B + 1) * S);
    assert_eq!(c.last_updated_us(), (B + 1) * S);
    let r = c.replay_set(0, "1.5", "R").expect("rset").expect("point");
    assert_eq!((r.value.value(), r.value.flags()), (1.5, FLAG_RESET));
    let x = c.replay_set(1, "5", "X").expect("rset").expect("point");
    assert_eq!(x.value.value(), 5.0, "unknown flag letters are ignored");
    // Same time again, or an older RBEGIN: the point is handed to the store, which accepts it
    // only into a hole (back-fill) and rejects it as an overlap otherwise.
    let again = c.replay_set(1, "abc", "").expect("rset").expect("handed to the store");
    assert_eq!((again.time, again.value.value()), (B + 1, 0.0));
    assert!(c.replay_begin(B - 1, B, Some(B + 100), 0));
    let old = c.replay_set(0, "999", "").expect("rset").expect("handed to the store");
    assert_eq!(old.time, B);
    assert_eq!(c.last_updated_us(), B * S, "RBEGIN sets the chart clock");
    // Rejected RBEGINs: inverted, or in the child's future beyond ue + 1.
    assert!(!c.replay_begin(B + 3, B + 2, Some(B + 100), 0));
    assert_eq!(c.replay_set(0, "1", "").expect("rset"), None);
    assert!(!c.replay_begin(B + 1, B + 2, Some(B), 0));
    assert!(c.replay_begin(B + 1, B + 2, Some(B + 1), 0), "B+2 < B+1 + 1 + 1");
    assert!(!c.replay_begin(B + 1, B + 2, None, B - 10), "parent clock + 5");
    // The dropped 999 still counted as a collection (Netdata counts every accepted RSET).
    assert_eq!(c.dimension(0).map(DimState::collections), Some(3));
}

#[test]
fn rbegin_with_another_width_switches_update_every() {
    let mut c = ChartState::with_dimensions(&chart(1, ""), &[abs("v")]).expect("chart");
    c.replay_start();
    assert!(c.replay_begin(B - 5, B, Some(B), 0));
    assert_eq!(c.update_every(), 5);
    assert!(c.replay_end(10, true));
    assert_eq!(c.update_every(), 10);
    assert!(!c.replay_end(10, true));
}

#[test]
fn rdstate_and_rsstate_make_the_first_live_point_continue_the_child_exactly() {
    let mut c = ChartState::with_dimensions(&chart(1, ""), &[inc("i"), abs("a")]).expect("chart");
    c.replay_start();
    assert!(c.replay_begin(B - 1, B, Some(B), 0));
    c.replay_set(0, "1000", "").expect("rset");
    c.replay_set(1, "7", "").expect("rset");
    // v' = 10000, remainder R = 250 (0.25 s of 1000/s), last stored 1000.0000004.
    c.replay_dim_state(0, B * S + 250_000, 10_000, 250.0, 1000.0000004).expect("rdstate");
    c.replay_dim_state(1, B * S + 250_000, 7, 7.0, 7.0).expect("rdstate");
    c.replay_chart_state(B * S + 250_000, B * S);
    c.replay_chart_state(B * S, B * S - 5 * S); // only forward
    assert_eq!((c.last_collected_us(), c.last_updated_us()), (B * S + 250_000, B * S));
    assert_eq!(c.dimension(0).map(DimState::last_stored_value), Some(1000.0000004));
    assert!(c.sync_clock());
    c.replay_end(1, true);
    assert!(!c.sync_clock());
    let p = collect(&mut c, 1_000_000, &[(0, 11_000), (1, 8)]);
    assert_value(&p, 0, B + 1, 1000.0); // 0.75·1000 + 250
    assert_value(&p, 1, B + 1, 8.0);
}

#[test]
fn rdstate_collection_time_only_moves_forward() {
    let mut c = ChartState::with_dimensions(&chart(1, ""), &[abs("a")]).expect("chart");
    c.replay_dim_state(0, 2 * S, 5, 5.0, 5.0).expect("rdstate");
    c.replay_dim_state(0, S, 6, 6.0, 6.0).expect("rdstate");
    let d = c.dimension(0).expect("dim");
    assert_eq!((d.last_collected_time_us(), d.last_collected_value()), (2 * S, 6));
}

#[test]
fn without_rend_true_the_first_live_begin_uses_the_parent_clock() {
    let mut c = ChartState::with_dimensions(&chart(1, ""), &[abs("a")]).expect("chart");
    c.replay_start();
    c.replay_chart_state(B * S + 250_000, B * S);
    c.replay_end(1, false);
    let now = B * S + 3_000_000;
    c.begin(1_000_000, now);
    c.set(0, Some(1)).expect("set");
    c.end(now, &mut Vec::new());
    assert_eq!(c.last_collected_us(), now);
}

#[test]
fn live_points_not_after_the_last_stored_time_are_dropped() {
    let mut c = ChartState::with_dimensions(&chart(1, ""), &[abs("a")]).expect("chart");
    c.replay_start();
    assert!(c.replay_begin(B + 9, B + 10, Some(B + 10), 0));
    c.replay_set(0, "1", "").expect("rset");
    c.replay_chart_state(B * S + 250_000, B * S); // ignored: not forward
    c.replay_end(1, true);
    let p = collect(&mut c, 1_000_000, &[(0, 2)]);
    assert_value(&p, 0, B + 11, 2.0);
    // Force the clock back through RBEGIN and collect into already stored time.
    assert!(c.replay_begin(B + 4, B + 5, Some(B + 10), 0));
    c.replay_end(1, true);
    let back = collect(&mut c, 1_000_000, &[(0, 3)]);
    assert!(back.is_empty(), "{back:?}");
}

#[test]
fn gap_when_lost_iterations_above_is_configurable() {
    let mut c = synced(&[abs("a")], 250_000);
    c.set_gap_when_lost_iterations_above(10);
    collect(&mut c, 1_000_000, &[(0, 1)]);
    collect(&mut c, 1_000_000, &[(0, 2)]);
    let p = collect(&mut c, 5_000_000, &[(0, 7)]);
    assert!(p.iter().all(|x| !x.value.is_empty()), "{p:?}");
    assert_value(&p, 0, B + 3, 2.0 + 5.0 * 0.75 / 5.0);
}

#[test]
fn unknown_dimension_and_dimension_limit_are_typed_errors() {
    let mut c = synced(&[abs("a")], 0);
    assert!(matches!(c.set(3, Some(1)), Err(ComputeError::UnknownDimension { index: 3, count: 1, .. })));
    assert!(c.replay_set(9, "1", "").is_err());
    assert!(c.replay_dim_state(9, 0, 0, 0.0, 0.0).is_err());
    let mut big = ChartState::new(&chart(1, ""));
    for i in 0..MAX_DIMENSIONS {
        big.define_dimension(&abs(&format!("d{i}"))).expect("dim");
    }
    assert!(matches!(big.define_dimension(&abs("one-more")), Err(ComputeError::TooManyDimensions { .. })));
}

#[test]
fn hostile_times_and_durations_do_not_overflow() {
    let mut c = ChartState::with_dimensions(&chart(u32::MAX, ""), &[abs("a"), inc("i")]).expect("chart");
    assert_eq!(c.update_every(), MAX_UPDATE_EVERY);
    c.replay_start();
    assert!(!c.replay_begin(i64::MAX - 2, i64::MAX - 1, Some(i64::MAX), 0));
    assert!(!c.replay_begin(-5, -4, Some(0), 0));
    c.replay_chart_state(i64::MAX, i64::MAX);
    c.replay_end(0, true);
    let mut out = Vec::new();
    for us in [u64::MAX, 0, 1, u64::MAX, 1_000_000] {
        c.begin(us, i64::MAX);
        c.set(0, Some(i64::MIN)).expect("set");
        c.set(1, Some(i64::MAX)).expect("set");
        c.end(i64::MAX, &mut out);
    }
    let mut c = synced(&[abs("a")], 0);
    for us in [u64::MAX, u64::MAX, 1] {
        c.begin(us, 0);
        c.set(0, Some(1)).expect("set");
        c.end(B * S, &mut out);
    }
    assert!(out.len() < 10_000);
}

#[test]
fn dimension_lookup_by_id_small_and_large_charts_any_order() {
    for n in [1usize, 3, 16, 17, 40] {
        let dims: Vec<DimMeta> = (0..n).map(|i| abs(&format!("d{i}"))).collect();
        let mut c = ChartState::with_dimensions(&chart(1, ""), &dims).expect("chart");
        // a prefix of another id and an unknown id are not found
        assert_eq!(c.dim_index("d"), None, "n={n}");
        assert_eq!(c.dim_index_next("zz"), None, "n={n}");
        // definition order, twice (the cursor wraps), then reverse order
        for _ in 0..2 {
            for i in 0..n {
                assert_eq!(c.dim_index_next(&format!("d{i}")), Some(i), "n={n} i={i}");
            }
        }
        for i in (0..n).rev() {
            assert_eq!(c.dim_index_next(&format!("d{i}")), Some(i), "n={n} i={i}");
            assert_eq!(c.dim_index(&format!("d{i}")), Some(i), "n={n} i={i}");
        }
        // redefining an existing dimension keeps its index and adds nothing
        assert_eq!(c.define_dimension(&inc(&format!("d{}", n - 1))).expect("redefine"), n - 1);
        assert_eq!(c.define_dimension(&abs("new")).expect("new"), n);
        assert_eq!(c.dim_index_next("new"), Some(n));
        assert_eq!(c.dim_index("d0"), Some(0));
    }
}

#[test]
fn dimension_lookup_with_long_ids_sharing_a_prefix() {
    // Ids longer than the 16 bytes kept inline, equal in their first 16 bytes and lengths.
    let ids = ["interface_bond0_rx_drops", "interface_bond0_tx_drops", "interface_bond0_rx_bytes_"];
    let dims: Vec<DimMeta> = ids.iter().map(|i| abs(i)).collect();
    let mut c = ChartState::with_dimensions(&chart(1, ""), &dims).expect("chart");
    for _ in 0..2 {
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(c.dim_index_next(id), Some(i), "{id}");
        }
    }
    // out of order: the cursor points at 0 but the id is the second one
    assert_eq!(c.dim_index_next("interface_bond0_tx_drops"), Some(1));
    assert_eq!(c.dim_index_next("interface_bond0_rx_drops"), Some(0));
    assert_eq!(c.dim_index_next("interface_bond0_xx_drops"), None);
    assert_eq!(c.dim_index_next("interface_bond0_rx_drop"), None);
}

#[test]
fn rset_by_id_bytes_is_the_lookup_plus_replay_set_value() {
    // ids of every kind: short, exactly 16 bytes, longer (sharing the first 16 bytes), one
    // holding U+FFFD (what a lossy conversion of invalid bytes gives); with 3 and with 20
    // dimensions (the latter looked up through the hash index)
    let long_a = "abcdefghijklmnop_a";
    let long_b = "abcdefghijklmnop_b";
    for extra in [0usize, 17] {
        let mut dims = vec![abs("x"), abs("abcdefghijklmnop"), abs(long_a), abs(long_b), abs("a\u{fffd}b")];
        dims.extend((0..extra).map(|i| abs(&format!("e{i}"))));
        let mut fast = ChartState::with_dimensions(&chart(1, ""), &dims).expect("chart");
        let mut slow = fast.clone();
        let mut rows: Vec<(Vec<u8>, &str, &str)> = Vec::new();
        for t in 0..6 {
            // in definition order, then shuffled, with unknown ids and odd bytes mixed in
            let order: Vec<usize> = if t % 2 == 0 { (0..dims.len()).collect() } else { (0..dims.len()).rev().collect() };
            for i in order {
                rows.push((dims[i].id.as_bytes().to_vec(), "12.5000000", if i % 3 == 0 { "R" } else { "" }));
            }
            rows.push((b"nope".to_vec(), "1", ""));
            rows.push((b"a\xffb".to_vec(), "2", "E"));
            rows.push((b"abcdefghijklmnop_c".to_vec(), "3", ""));
            rows.push((b"abcdefghijklmno".to_vec(), "3", ""));
            rows.push((b"X".to_vec(), "3", "\u{e9}E"));
        }
        for (round, t) in [(0, B - 2), (1, B - 1), (2, B)] {
            let begin = round != 1 || extra == 0; // one row without a timed RBEGIN: ignored
            fast.replay_start();
            slow.replay_start();
            if begin {
                assert!(fast.replay_begin(t - 1, t, Some(B), 0));
                assert!(slow.replay_begin(t - 1, t, Some(B), 0));
            }
            for (id, v, f) in &rows {
                let value = strtod(v);
                let got = fast.replay_set_by_id(id, ReplayValue::F64(value), f.as_bytes());
                let text = String::from_utf8_lossy(id);
                let want = slow.dim_index_next(&text).map(|di| slow.replay_set_value(di, value, f).expect("known dimension"));
                match got {
                    Some(g) => assert_eq!(Some(g), want, "{text:?}"),
                    None => {
                        // only ids that are not valid UTF-8 may need the general way; the
                        // fast side then takes it too, so both stay in step
                        assert!(std::str::from_utf8(id).is_err() || want.is_none(), "{text:?}");
                        let again = fast.dim_index_next(&text).map(|di| fast.replay_set_value(di, value, f).expect("known dimension"));
                        assert_eq!(again, want, "{text:?}");
                    }
                }
            }
        }
        for i in 0..dims.len() {
            assert_eq!(fast.dimension(i).map(DimState::collections), slow.dimension(i).map(DimState::collections));
        }
        assert_eq!(fast.dimension(0).map(DimState::collections), Some(if extra == 0 { 18 } else { 12 }));
    }
}

#[test]
fn fixed7_packing_is_the_packing_of_the_parsed_double() {
    use crate::proto::number::{parse_f64, parse_fixed7};
    let check = |m: u64, neg: bool, bits: u32| {
        let text = format!("{}{}.{:07}", if neg { "-" } else { "" }, m / 10_000_000, m % 10_000_000);
        assert_eq!(parse_fixed7(text.as_bytes()), Some((neg, m)), "{text}");
        let want = StorageNumber::pack(parse_f64(text.as_bytes()).expect("number"), bits);
        let direct = pack_fixed7(neg, m, bits);
        if let Some(got) = direct {
            assert_eq!(got, want, "{text}: {:#x} vs {:#x}", got.0, want.0);
        }
        // and what the replay stores, whichever way it packs
        let mut c = ChartState::with_dimensions(&chart(1, ""), &[abs("v")]).expect("chart");
        c.replay_start();
        assert!(c.replay_begin(B - 1, B, Some(B), 0));
        let flags = if bits & FLAG_RESET != 0 { "R" } else { "" };
        let p = c.replay_set_by_id(b"v", ReplayValue::Fixed7 { neg, m }, flags.as_bytes()).expect("dimension").expect("point");
        assert_eq!(p.value, want, "{text}");
        direct.is_some()
    };
    // every boundary of the scaling, ties, the top of the mantissa, the division branch
    let mut edges = vec![0u64, 1, 5, 15, 25, 35, 45, 999_999_999_999_999, 167_772_150_000_000, 167_772_150_000_001, 167_772_160_000_000, 167_772_155_000_000];
    for i in 0..=7u32 {
        let p = 10u64.pow(i);
        for base in [1_677_726u64, 1_677_725, 1_677_727, 16_777_215, 16_777_216, 16_777_200, 16_777_199, 16_777_260, 16_777_259] {
            for d in [0u64, 1, 2, 5, p / 2, p.saturating_sub(1)] {
                for m in [(base * p).saturating_sub(d), base * p + d] {
                    edges.push(m);
                }
            }
        }
        for q in [1u64, 2, 3, 4, 1_234_567, 9_999_999] {
            for d in [0u64, 1] {
                edges.push(q * p * 10 + 5 * p - d); // ties one digit below p (and next to them)
                edges.push(q * p * 10 + 5 * p + d);
            }
        }
    }
    for i in 0..8 {
        edges.push(50_000_000 + i * 100_000_000 + 167_772_150_000_000); // ties of the division branch
    }
    // the edges of every bit length (the exponent is looked up by it)
    for b in 1..50 {
        for d in [0u64, 1, 2] {
            edges.push((1u64 << b) - d);
            edges.push((1u64 << b) + d);
        }
    }
    let mut direct = 0;
    for &m in &edges {
        if m < 1_000_000_000_000_000 {
            for (neg, bits) in [(false, 0), (true, 0), (false, FLAG_RESET)] {
                direct += usize::from(check(m, neg, bits));
            }
        }
    }
    // random values at every magnitude
    let mut rng = crate::testkit::XorShift64::new(0x2545_f491_4f6c_dd1d);
    let mut total = 0;
    let mut random_direct = 0;
    for i in 0..400_000u64 {
        let x = rng.next_u64();
        let digits = 1 + (x % 15) as u32;
        let m = (x >> 8) % 10u64.pow(digits);
        total += 1;
        random_direct += usize::from(check(m, i % 5 == 0, 0));
    }
    assert!(direct > 300, "{direct}");
    assert!(random_direct * 100 > total * 99, "{random_direct} of {total} packed from the digits");
}

#[test]
fn live_packing_is_the_packing_of_the_double() {
    // whole and half numbers take the integer way, the rest `pack`: both must give `pack`'s word
    let mut values = vec![0.0, -0.0, 0.5, -0.5, 1.0, 1.5, 2.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e-320, 0.1, 1e11, 1e11 - 0.5, 1e11 + 0.5, -1e11, 99_999_999_999.5, 1e300];
    for i in 0..=11i32 {
        let p = 10f64.powi(i);
        for base in [1_677_726.0, 1_677_725.0, 1_677_727.0, 16_777_215.0, 16_777_216.0, 16_777_200.0, 16_777_199.0, 16_777_260.0, 16_777_259.0, 8_388_607.5, 838_862.75] {
            for d in [0.0, 0.5, 1.0, 1.5, 2.0, 5.0, 50.0, 500.0] {
                for x in [base * p / 1e7 - d, base * p / 1e7 + d, base * p - d, base * p + d] {
                    values.extend([x, -x, (x * 2.0).round() / 2.0]);
                }
            }
        }
        for q in [1.0, 2.0, 3.0, 4.0, 7.0, 1_234_567.0, 9_999_999.0] {
            values.extend([q * p + 0.5, q * p * 10.0 + 5.0 * p, q * p - 0.5]); // ties
        }
    }
    // whole numbers (their own way): the small ones, around every scaling limit, the top
    values.extend((0..20_000).map(f64::from));
    for l in [1_677_725.0, 167_772.0, 16_777.0, 1_677.0, 167.0, 16.0, 1_677_721.0, 1_677_722.0, 16_777_215.0] {
        for d in -3..=3 {
            values.extend([l + f64::from(d), -(l + f64::from(d))]);
        }
    }
    let mut rng = crate::testkit::XorShift64::new(0x9e37_79b9_7f4a_7c15);
    for _ in 0..200_000u64 {
        let x = rng.next_u64();
        values.push((x % 16_777_216) as f64 * if x & 1 << 40 != 0 { -1.0 } else { 1.0 });
    }
    for i in 0..400_000u64 {
        let x = rng.next_u64();
        let digits = 1 + (x % 13) as u32;
        let whole = ((x >> 8) % 10u64.pow(digits)) as f64;
        let v = match i % 4 {
            0 => whole,
            1 => whole + 0.5,
            2 => whole / 2f64.powi((x >> 60) as i32),
            _ => whole * 1.000_001,
        };
        values.push(if i % 3 == 0 { -v } else { v });
    }
    // doubles of every magnitude around the scaling range, and the smallest normal ones
    for i in 0..400_000u64 {
        let x = rng.next_u64();
        let exp = 1023 - 40 + (x % 70); // 2^-40 .. 2^30
        let v = f64::from_bits((exp << 52) | (x >> 12));
        values.push(if i % 2 == 0 { -v } else { v });
    }
    values.extend([f64::MIN_POSITIVE, -f64::MIN_POSITIVE, f64::MIN_POSITIVE * 3.0, 16_777_215.0, 16_777_215.5, 16_777_214.5, 1_677_725.95, 1_677_725.949_999_999, 0.167_772_55, 1.677_721_5e-7]);
    let mut integer_way = 0;
    for &v in &values {
        for bits in [0, FLAG_NOT_ANOMALOUS, FLAG_NOT_ANOMALOUS | FLAG_RESET] {
            let want = StorageNumber::pack(v, bits);
            assert_eq!(pack_live(v, bits), want, "{v:?} bits {bits:#x}");
            integer_way += usize::from(v.abs() < 1e11 && (v * 2.0).fract() == 0.0);
        }
    }
    assert!(integer_way * 2 > values.len(), "{integer_way} of {}", values.len() * 3);
}

#[test]
fn a_zero_length_interval_leaves_nan_in_the_calculated_value_of_an_unset_dimension() {
    // Netdata keeps `C` in the dimension: a slot loop over a zero-length collection interval
    // (`LC = P`: an RSSTATE moved LC forward, then a BEGIN 0 at exactly that time) divides by
    // zero; the `C` of a dimension not SET then is NaN, and its next incremental `C += δ` stays
    // NaN (a gap, and NaN carried into R)
    let mut c = synced(&[inc("a"), inc("b")], 250_000);
    for k in 1..=3 {
        collect(&mut c, S as u64, &[(0, 1000 * k), (1, 1000 * k)]);
    }
    let lc = c.last_collected_us();
    c.replay_chart_state(lc + 3 * S, 0);
    let lc = c.last_collected_us();
    c.begin(0, lc);
    c.set(0, Some(4000)).expect("set");
    let mut out = Vec::new();
    c.end(lc, &mut out);
    assert!(!out.is_empty(), "the slots between LU and LC are written");
    assert_eq!(c.dimension(1).expect("b").last_calculated_value(), 0.0, "R of b consumed");
    let pts = collect(&mut c, S as u64, &[(0, 5000), (1, 5000)]);
    let t = c.last_updated_us() / S;
    assert_gap(&pts, 1, t);
    assert!(c.dimension(1).expect("b").last_calculated_value().is_nan());
}

#[test]
fn dimension_state_stays_compact() {
    // every dimension's state is read (cold) once per collection: keep it to a cache line and
    // a half
    assert!(std::mem::size_of::<DimState>() <= 96, "{}", std::mem::size_of::<DimState>());
}

#[test]
fn div_scale_is_the_division() {
    // around every multiple boundary of each divisor, at the top of the range pack_fixed7
    // divides (m <= 16 777 215 · 10^7), and random values below 2^50
    let top = 16_777_215u64 * 10_000_000;
    let mut rng = crate::testkit::XorShift64::new(0x9E37_79B9_7F4A_7C15);
    for k in 0..8usize {
        let d = 10u64.pow(7 - k as u32);
        let want = |m: u64| (m / d, m % d, if d == 1 { 1 } else { d / 2 });
        for q in [0u64, 1, 2, 9, 10, 1_677_725, 1_677_726, 16_777_199, 16_777_215, top / d, (1 << 50) / d - 1] {
            for off in [0u64, 1, 2, d / 2, d.saturating_sub(1)] {
                for m in [(q * d).saturating_sub(off), q * d + off] {
                    if m < 1 << 50 {
                        assert_eq!(div_scale(m, k), want(m), "m {m} k {k}");
                    }
                }
            }
        }
        for _ in 0..200_000 {
            let x = rng.next_u64();
            let m = (x >> 14) >> (x % 40);
            assert_eq!(div_scale(m, k), want(m), "m {m} k {k}");
        }
    }
}

#[test]
fn the_one_slot_way_of_end_is_the_general_way() {
    // Random charts fed the same iterations twice, `end` (with its one-slot way) on one copy,
    // the general way on the other: the points and the whole state must be the same, bit for
    // bit (the Debug text shows every field, -0.0 and NaN included).
    let mut rng = crate::testkit::XorShift64::new(0x2545_f491_4f6c_dd1d);
    let mut next = || rng.next_u64();
    let (mut fast_slots, mut iterations) = (0usize, 0usize);
    for case in 0..300u64 {
        let ue = [1u32, 1, 1, 2, 5, 10][(next() % 6) as usize];
        let options = if case % 7 == 0 { "store_first" } else { "" };
        let ndims = 1 + (next() % 12) as usize;
        let dims: Vec<DimMeta> = (0..ndims)
            .map(|i| {
                let alg = match next() % 10 {
                    0 => Algorithm::PercentageOfAbsoluteRow,
                    1 if case % 3 == 0 => Algorithm::PercentageOfIncrementalRow,
                    2..=5 => Algorithm::Incremental,
                    _ => Algorithm::Absolute,
                };
                let (m, d) = [(1, 1), (1, 1), (8, 1), (1, 1024), (-1, 1), (3, 7)][(next() % 6) as usize];
                let opt = if next() % 8 == 0 { "noreset" } else { "" };
                dim(&format!("d{i}"), alg, m, d, opt)
            })
            .collect();
        let mut fast = ChartState::with_dimensions(&chart(ue, options), &dims).expect("chart");
        let mut slow = fast.clone();
        let mut now = (B + (next() % 1000) as i64) * S + (next() % 1_000_000) as i64;
        let mut vals: Vec<i64> = (0..ndims).map(|_| (next() % 1_000_000) as i64).collect();
        for it in 0..60 {
            let step = i64::from(ue) * S;
            let usec: u64 = match next() % 20 {
                0 => 0,
                1 => (step + (next() % 400_000) as i64 - 200_000) as u64,
                2 => (step * 3) as u64,
                3 => next() % 1000,
                4 if it > 40 => (step * 2000) as u64, // a jump beyond a page: reset
                _ => step as u64,
            };
            now += usec.max(1) as i64;
            let missing = next() % 6 == 0;
            fast.begin(usec, now);
            slow.begin(usec, now);
            for (d, v) in vals.iter_mut().enumerate() {
                *v = match next() % 30 {
                    0 => 0,                                  // counter reset
                    1 => (next() >> 1) as i64,               // anything
                    2 => 0xFFFF_FFF0,                        // near 32-bit wrap
                    3 => -((next() % 1000) as i64),
                    _ => v.wrapping_add((next() % 5000) as i64),
                };
                if missing && d % 3 == 0 {
                    continue;
                }
                fast.set(d, Some(*v)).expect("set");
                slow.set(d, Some(*v)).expect("set");
            }
            let (mut a, mut b) = (Vec::new(), Vec::new());
            fast.end(now, &mut a);
            slow.end_general(now, &mut b);
            assert_eq!(a, b, "case {case} iteration {it}");
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "case {case} iteration {it}");
            iterations += 1;
            fast_slots += usize::from(a.len() == ndims && !missing);
        }
    }
    // most iterations are the usual kind (the one-slot way)
    assert!(fast_slots * 3 > iterations, "{fast_slots} of {iterations}");
}
