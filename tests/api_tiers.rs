//! Tier selection and the query plan (`netdata-values.md` §4.5): the best-covering tier serves
//! the window, higher tiers fill the part before its retention, lower tiers the part after.

mod api_common;

use api_common::*;
use ndcluster::model::UnixTime;
use ndcluster::storage::{SeriesId, Store, StoreConfig, TierPoint};
use serde_json::Value;

const NOW: UnixTime = 1_795_640_000;

/// Tier 1 holds aggregates of [NOW-7200, NOW-3600) written by replication (tier 0 has none
/// there); tier 0 holds 1 s points of the last hour (which also fold into tier 1).
fn fixture() -> (Fixture, SeriesId) {
    let f = Fixture::new(StoreConfig::default());
    let h = f.host(&host(LOCAL_GUID, "parent", 0));
    let c = f.chart(h, &chart("x.y", "x", "u", "f", "x.y", 1));
    let s = f.dim(c, &dim("v", "v", 1, 1));
    for slot in (NOW - 7200..NOW - 3600).step_by(60) {
        let p = TierPoint { time: slot, sum: 60.0 * 7.0, min: 7.0, max: 7.0, count: 60, reset: false, anomalous: 0 };
        f.store.write_aggregate(s, 1, p).expect("aggregate");
    }
    for t in NOW - 3599..NOW {
        put(f.store.as_ref(), s, t, 3.0);
    }
    (f, s)
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).expect("json")
}

#[test]
fn higher_tier_serves_long_windows_and_tier_0_fills_the_tail() {
    let (f, s) = fixture();
    assert!(f.store.retention(s, 1).is_some());
    let v = json(&f.get_ok(&format!("/api/v1/data?chart=x.y&after={}&before={}&points=12&options=jsonwrap", NOW - 7200, NOW - 1), NOW));
    let tiers = v["db_points_per_tier"].as_array().expect("tiers");
    assert!(tiers[1].as_u64().expect("n") > 0, "{v}");
    assert!(tiers[0].as_u64().expect("n") > 0, "tail from tier 0: {v}");
    let rows = v["result"]["data"].as_array().expect("rows");
    assert_eq!(rows.len(), 12);
    // newest row: tier-1 aggregates of 3 plus the tier-0 tail (3) → 3
    assert_eq!(rows[0][1].as_f64(), Some(3.0), "{v}");
    // oldest rows come from the replicated tier-1 aggregates
    assert_eq!(rows[11][1].as_f64(), Some(7.0), "{v}");
}

#[test]
fn tier_0_serves_fine_windows_and_a_higher_tier_fills_the_head() {
    let (f, _) = fixture();
    let v = json(&f.get_ok("/api/v1/data?chart=x.y&after=-7200&options=jsonwrap", NOW));
    let tiers = v["db_points_per_tier"].as_array().expect("tiers");
    assert_eq!(tiers[0].as_u64(), Some(3599), "{v}");
    assert!(tiers[1].as_u64().expect("n") > 0, "{v}");
    let rows = v["result"]["data"].as_array().expect("rows");
    assert_eq!(rows.first().and_then(|r| r[1].as_f64()), Some(3.0));
    // an hour and a half ago: only tier 1 has it
    let old = rows.iter().find(|r| r[0].as_i64() == Some(NOW - 5400)).expect("row");
    assert_eq!(old[1].as_f64(), Some(7.0), "{old:?}");
}

#[test]
fn forcing_a_tier_serves_only_that_tier() {
    let (f, _) = fixture();
    let v = json(&f.get_ok(&format!("/api/v1/data?chart=x.y&after={}&before={}&points=12&options=jsonwrap&tier=0", NOW - 7200, NOW - 1), NOW));
    assert_eq!(v["db_points_per_tier"], serde_json::json!([3599, 0, 0]));
    let rows = v["result"]["data"].as_array().expect("rows");
    assert!(rows[11][1].is_null(), "tier 0 has nothing two hours ago");
    assert!(v["options"].as_str().expect("opts").contains("selected-tier"));
    // a tier the store does not have is ignored (like Netdata)
    let v = json(&f.get_ok(&format!("/api/v1/data?chart=x.y&after={}&before={}&points=12&options=jsonwrap&tier=7", NOW - 7200, NOW - 1), NOW));
    assert!(!v["options"].as_str().expect("opts").contains("selected-tier"));
}
