//! `/api/v1/data` against answers captured from a real Netdata 1.37.1 agent
//! (`tests/fixtures/api/real/standalone.json`): the agent's tier-0 points of three charts were
//! dumped at full resolution, loaded into a store here, and ~200 grouped / virtual-point /
//! gtime / option queries over them must produce the agent's exact bytes.

mod api_common;

use api_common::*;
use ndcluster::storage::StoreConfig;
use serde_json::Value;

#[test]
fn grouped_and_virtual_point_queries_match_a_real_agent() {
    let lab: Value = serde_json::from_str(&read_fixture("real/standalone.json")).expect("json");
    let f = Fixture::new(StoreConfig::default());
    let h = f.host(&host(LOCAL_GUID, "real", 0));
    let mut max_last = 0;
    for (id, c) in lab["charts"].as_object().expect("charts") {
        let ue = c["update_every"].as_u64().expect("ue") as u32;
        let cid = f.chart(h, &chart(id, id, "u", "f", id, ue));
        let dump: Value = serde_json::from_str(c["dump"].as_str().expect("dump")).expect("dump json");
        let names: Vec<&str> = dump["labels"].as_array().expect("labels").iter().skip(1).map(|v| v.as_str().expect("s")).collect();
        let dims: Vec<(String, String)> = serde_json::from_value(c["dims"].clone()).expect("dims");
        let series: Vec<_> = names
            .iter()
            .map(|n| {
                let (did, dname) = dims.iter().find(|(_, dn)| dn == n).expect("dim by name");
                f.dim(cid, &dim(did, dname, 1, 1))
            })
            .collect();
        for row in dump["data"].as_array().expect("rows") {
            let row = row.as_array().expect("row");
            let t = row[0].as_i64().expect("t");
            for (i, v) in row.iter().skip(1).enumerate() {
                if let Some(x) = v.as_f64() {
                    put(f.store.as_ref(), series[i], t, x);
                }
            }
        }
        max_last = max_last.max(c["last"].as_i64().expect("last"));
    }
    let now = max_last + 1000;
    let mut failures = Vec::new();
    let mut compared = 0;
    let queries = lab["queries"].as_array().expect("queries");
    for q in queries {
        let target = q["q"].as_str().expect("q");
        let expected = q["body"].as_str().expect("body");
        let r = f.get(target, now);
        // system.cpu has a hidden `idle` dimension the capture could not dump; percentages of it
        // (whose total includes idle) cannot be reproduced
        let skip = target.contains("system.cpu") && target.contains("percentage");
        if skip {
            continue;
        }
        compared += 1;
        if r.body_str() != expected {
            failures.push(format!("{target}\n--- agent\n{expected}\n--- ours ({})\n{}", r.status, r.body_str()));
        }
    }
    assert!(compared >= 190, "only {compared} queries compared");
    assert!(failures.is_empty(), "{} of {} differ:\n{}", failures.len(), queries.len(), failures.iter().take(3).cloned().collect::<Vec<_>>().join("\n\n"));
}
