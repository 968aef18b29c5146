//! `/api/v1/data` against what a real Netdata 1.37.1 parent served in the values lab
//! (`netdata-values.md` §4, §6): the store is filled with the points the parent had stored
//! (its served tier-0 values) and the same queries must produce the same bytes.

mod api_common;

use std::sync::Arc;

use api_common::*;
use ndcluster::model::UnixTime;
use ndcluster::storage::mem::MemStore;
use ndcluster::storage::*;
use serde_json::Value;

const B: UnixTime = 1_795_635_780;
const T_B: UnixTime = 1_795_636_095;

fn lab_b() -> Value {
    serde_json::from_str(&read_fixture("values-lab/B-deterministic.output.json")).expect("lab json")
}

type LabB = (ndcluster::api::ApiContext, Arc<TestStatus>, Vec<(String, Vec<SeriesId>)>);

/// Builds host `ndvb1` with every chart of lab B, storing each served non-null cell.
fn lab_b_fixture(store: Arc<dyn Store>) -> LabB {
    let lab = lab_b();
    let status = Arc::new(TestStatus::default());
    let ctx = ndcluster::api::ApiContext::new(store.clone(), status.clone(), LOCAL_GUID);
    store.put_host(&host(LOCAL_GUID, "parent", 0)).expect("host");
    let h = store.put_host(&host("22222222-0000-0000-0000-0000000000b1", "ndvb1", 1)).expect("host");
    let mut charts = Vec::new();
    for (id, q) in lab["queries"].as_object().expect("queries") {
        let c = store.put_chart(h, &chart(id, "lab", "u", "f", id, 1)).expect("chart");
        let labels: Vec<&str> = q["out"]["labels"].as_array().expect("labels").iter().skip(1).map(|v| v.as_str().expect("str")).collect();
        let ids: Vec<SeriesId> = labels.iter().map(|d| store.put_dimension(c, &dim(d, d, 1, 1)).expect("dim")).collect();
        for row in q["out"]["data"].as_array().expect("data") {
            let row = row.as_array().expect("row");
            let t: i64 = row[0].as_str().expect("t").parse().expect("time");
            for (i, cell) in row.iter().skip(1).enumerate() {
                if let Some(s) = cell.as_str() {
                    put(store.as_ref(), ids[i], t, s.parse().expect("number"));
                }
            }
        }
        charts.push((id.clone(), ids));
    }
    (ctx, status, charts)
}

fn get(ctx: &ndcluster::api::ApiContext, target: &str, now: UnixTime) -> String {
    let req = ndcluster::api::Request::get(target).expect("request");
    let r = ndcluster::api::handle(ctx, &req, now);
    assert_eq!(r.status, 200, "{target}: {}", r.body_str());
    r.body_str().to_string()
}

/// The json layout Netdata prints, rebuilt from the lab's parsed answer.
fn netdata_json(out: &Value) -> String {
    let labels: Vec<String> = out["labels"].as_array().expect("labels").iter().map(|v| format!("\"{}\"", v.as_str().expect("s"))).collect();
    let rows: Vec<String> = out["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| {
            let cells: Vec<&str> = r.as_array().expect("row").iter().map(|c| c.as_str().unwrap_or("null")).collect();
            format!(" [ {}]", cells.join(","))
        })
        .collect();
    format!("{{\n \"labels\": [{}],\n    \"data\":\n [\n{}\n]\n}}", labels.join(","), rows.join(",\n"))
}

#[test]
fn lab_b_queries_serve_the_parents_bytes() {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(StoreConfig::default()));
    let (ctx, _, _) = lab_b_fixture(store);
    let lab = lab_b();
    let mut checked = 0;
    for (id, q) in lab["queries"].as_object().expect("queries") {
        let body = get(&ctx, q["q"].as_str().expect("q"), T_B);
        assert_eq!(body, netdata_json(&q["out"]), "chart {id}");
        checked += 1;
    }
    assert_eq!(checked, 7);
}

/// Netdata's dbengine reports a dimension's retention from the start of its first page, which
/// can be an empty slot; the lab's `t.abs` page starts at B+1 (a gap). This wrapper reports
/// tier-0 retention the same way so `first_entry` can be compared.
struct PageStart {
    inner: MemStore,
    first: UnixTime,
}

impl Store for PageStart {
    fn config(&self) -> &StoreConfig {
        self.inner.config()
    }
    fn put_host(&self, m: &ndcluster::model::HostMeta) -> Result<HostId, StoreError> {
        self.inner.put_host(m)
    }
    fn put_chart(&self, h: HostId, m: &ndcluster::model::ChartMeta) -> Result<ChartId, StoreError> {
        self.inner.put_chart(h, m)
    }
    fn put_dimension(&self, c: ChartId, m: &ndcluster::model::DimMeta) -> Result<SeriesId, StoreError> {
        self.inner.put_dimension(c, m)
    }
    fn hosts(&self) -> Vec<(HostId, ndcluster::model::HostMeta)> {
        self.inner.hosts()
    }
    fn host(&self, id: HostId) -> Option<ndcluster::model::HostMeta> {
        self.inner.host(id)
    }
    fn charts(&self, h: HostId) -> Vec<(ChartId, ndcluster::model::ChartMeta)> {
        self.inner.charts(h)
    }
    fn chart(&self, id: ChartId) -> Option<ndcluster::model::ChartMeta> {
        self.inner.chart(id)
    }
    fn dimensions(&self, c: ChartId) -> Vec<(SeriesId, ndcluster::model::DimMeta)> {
        self.inner.dimensions(c)
    }
    fn series_update_every(&self, id: SeriesId) -> Option<u32> {
        self.inner.series_update_every(id)
    }
    fn write(&self, id: SeriesId, t: UnixTime, v: StorageNumber) -> Result<WriteOutcome, StoreError> {
        self.inner.write(id, t, v)
    }
    fn write_aggregate(&self, id: SeriesId, tier: usize, p: TierPoint) -> Result<WriteOutcome, StoreError> {
        self.inner.write_aggregate(id, tier, p)
    }
    fn read(&self, id: SeriesId, tier: usize, a: UnixTime, b: UnixTime, out: &mut Vec<TierPoint>) -> Result<(), StoreError> {
        self.inner.read(id, tier, a, b, out)
    }
    fn retention(&self, id: SeriesId, tier: usize) -> Option<Retention> {
        let r = self.inner.retention(id, tier)?;
        Some(if tier == 0 { Retention { first: r.first.min(self.first), last: r.last } } else { r })
    }
    fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush()
    }
    fn stats(&self) -> StoreStats {
        self.inner.stats()
    }
}

fn layout_fixture() -> ndcluster::api::ApiContext {
    let store: Arc<dyn Store> = Arc::new(PageStart { inner: MemStore::new(StoreConfig::default()), first: B + 1 });
    let (ctx, status, charts) = lab_b_fixture(store);
    // the unquantized last values of t.abs a and b (k = 12: a = 10k, b = (10k+1)·3/7)
    let abs = &charts.iter().find(|(id, _)| id == "t.abs").expect("t.abs").1;
    status.latest.lock().expect("lock").insert(abs[0], 120.0);
    status.latest.lock().expect("lock").insert(abs[1], 121.0 * 3.0 / 7.0);
    ctx
}

#[test]
fn output_layouts_match_the_lab_golden_files_byte_for_byte() {
    let ctx = layout_fixture();
    let base = "/host/ndvb1/api/v1/data?chart=t.abs&after=1795635789&before=1795635792&points=2&dimensions=a,b";
    for (extra, golden) in [
        ("", "json.txt"),
        ("&options=jsonwrap", "jsonwrap.txt"),
        ("&format=csv", "csv.txt"),
        ("&format=csv&options=jsonwrap,seconds", "csv_jsonwrap.txt"),
        ("&format=array", "array.txt"),
    ] {
        let body = get(&ctx, &format!("{base}{extra}"), T_B);
        assert_eq!(body, read_fixture(&format!("values-lab/{golden}")), "{golden}");
    }
}

#[test]
fn absolute_window_answers_are_cacheable_relative_ones_are_not() {
    let ctx = layout_fixture();
    let req = ndcluster::api::Request::get("/host/ndvb1/api/v1/data?chart=t.abs&after=1795635789&before=1795635792&points=2").expect("req");
    let r = ndcluster::api::handle(&ctx, &req, T_B);
    let head = String::from_utf8(r.encode(1795636639, false, false)).expect("utf8");
    assert!(head.contains("Cache-Control: public\r\n"), "{head}");
    assert!(head.contains("Expires: Thu, 26 Nov 2026 19:57:19 GMT\r\n"), "{head}");
    let golden = read_fixture("values-lab/headers.txt");
    for line in ["Access-Control-Allow-Origin: *", "Content-Type: application/json; charset=utf-8", "Date: Wed, 25 Nov 2026 19:57:19 GMT"] {
        assert!(golden.contains(line) && head.contains(line), "{line}");
    }
    let req = ndcluster::api::Request::get("/host/ndvb1/api/v1/data?chart=t.abs&after=-600").expect("req");
    let r = ndcluster::api::handle(&ctx, &req, B + 20);
    assert_eq!(r.status, 200, "{}", r.body_str());
    assert_eq!(r.cache, ndcluster::api::Cache::NoCache);
}

fn rows(body: &str) -> Vec<Vec<String>> {
    let v: Value = serde_json::from_str(body).expect("json");
    v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| r.as_array().expect("row").iter().map(|c| if c.is_null() { "null".into() } else { c.to_string() }).collect())
        .collect()
}

#[test]
fn grouping_e8_average_min_max_sum_and_array() {
    let ctx = layout_fixture();
    let q = |extra: &str| get(&ctx, &format!("/host/ndvb1/api/v1/data?chart=t.abs&after={}&before={}&points=4{extra}", B + 1, B + 12), T_B);
    let avg = rows(&q(""));
    let times: Vec<&str> = avg.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(times, ["1795635792", "1795635789", "1795635786", "1795635783"]);
    assert_eq!(avg[0][1..], ["110", "47.5714267", "-330", "0.507"]);
    assert_eq!(avg[3][1..], ["25", "11.142857", "-75", "0.4985"]);
    assert_eq!(rows(&q("&group=min"))[0][1..], ["100", "43.28571", "-300", "0.506"]);
    assert_eq!(rows(&q("&group=max"))[0][1..], ["120", "51.85714", "-360", "0.508"]);
    assert_eq!(rows(&q("&group=sum"))[0][1..], ["330", "142.71428", "-990", "1.521"]);
    assert_eq!(q("&format=array"), "[-171.9215733,-124.7817133,-77.6418567,-38.358643]");
    assert_eq!(q("&format=array&options=absolute"), "[488.0784267,355.2182867,222.3581433,111.641357]");
    let five = get(&ctx, &format!("/host/ndvb1/api/v1/data?chart=t.abs&after={}&before={}&points=5", B + 1, B + 12), T_B);
    assert_eq!(rows(&five).len(), 6);
    // unaligned: rows B+2 … B+11
    let un = get(&ctx, &format!("/host/ndvb1/api/v1/data?chart=t.abs&after={}&before={}&points=4&options=unaligned", B + 1, B + 11), T_B);
    let t: Vec<String> = rows(&un).iter().map(|r| r[0].clone()).collect();
    assert_eq!(t, [(B + 11).to_string(), (B + 8).to_string(), (B + 5).to_string(), (B + 2).to_string()]);
}

/// Lab T: 10 000 s of 1 s data (v = 1234567 + k, s = k mod 60 with k = t − B + 1) with a
/// hole, 3 default tiers.
fn lab_t() -> Fixture {
    let f = Fixture::new(StoreConfig::default());
    let b: UnixTime = 1_795_626_000;
    f.host(&host(LOCAL_GUID, "parent", 0));
    let h = f.host(&host("22222222-0000-0000-0000-0000000000f1", "ndvt1", 1));
    let c = f.chart(h, &chart("t.tier", "tiers", "u", "f", "t.tier", 1));
    let v = f.dim(c, &dim("v", "v", 1, 1));
    let s = f.dim(c, &dim("s", "s", 1, 1));
    for t in b + 1..=b + 10_037 {
        if (1_795_629_000..=1_795_629_200).contains(&t) {
            continue;
        }
        let k = t - b + 1;
        put(f.store.as_ref(), v, t, (1_234_567 + k) as f64);
        put(f.store.as_ref(), s, t, (k % 60) as f64);
    }
    f
}

#[test]
fn tier_selection_and_forced_tiers_match_the_lab() {
    let f = lab_t();
    let now = 1_795_636_338;
    let q = "/host/ndvt1/api/v1/data?chart=t.tier&after=1795629600&before=1795635600&points=10&options=jsonwrap,seconds";
    assert_eq!(f.get_ok(q, now), read_fixture("values-lab/tiers_points10.txt"), "automatic (tier 1)");
    for tier in 0..2 {
        let body = f.get_ok(&format!("{q}&tier={tier}"), now);
        assert_eq!(body, read_fixture(&format!("values-lab/tiers_points10_tier_{tier}.txt")), "tier {tier}");
    }
    // Tier 2: the rows interpolated towards the tier-2 point stamped 1795629600 depend on how
    // many points the lab's hole removed from that aggregate, which the lab did not record
    // exactly; every other byte (nulls, the point stamped 1795633200, counts, min/max) must match.
    let body = f.get_ok(&format!("{q}&tier=2"), now);
    let golden = read_fixture("values-lab/tiers_points10_tier_2.txt");
    assert_eq!(body.lines().count(), golden.lines().count());
    let mut skipped = 0;
    for (a, g) in body.lines().zip(golden.lines()) {
        let interpolated = ["1795632600", "1795632000", "1795631400", "1795630800", "1795630200"].iter().any(|t| g.starts_with(&format!(" [ {t},")));
        if interpolated {
            skipped += 1;
            let (av, gv) = (a.split(',').nth(1).expect("v"), g.split(',').nth(1).expect("v"));
            let (av, gv): (f64, f64) = (av.parse().expect("num"), gv.parse().expect("num"));
            assert!((av - gv).abs() < 0.1, "{a} vs {g}");
        } else {
            assert_eq!(a, g);
        }
    }
    assert_eq!(skipped, 5);
}

#[test]
fn recent_windows_use_tier_0_because_higher_tiers_lag() {
    let f = lab_t();
    let now = 1_795_636_338;
    let body = f.get_ok("/host/ndvt1/api/v1/data?chart=t.tier&after=-600&points=10&options=jsonwrap", now);
    assert!(body.contains("\"db_points_per_tier\": [ 1200, 0, 0 ]"), "{body}");
}

#[test]
fn future_points_are_hidden_until_now_lab_c() {
    // lab C `c.future`: a = t − 1795636257 stored for t = …258 … …296 (up to 34 s in the future);
    // the parent's page starts with a gap at …257. Queried at wall clock …263.
    let store: Arc<dyn Store> = Arc::new(PageStart { inner: MemStore::new(StoreConfig::default()), first: 1_795_636_257 });
    let ctx = ndcluster::api::ApiContext::new(store.clone(), Arc::new(TestStatus::default()), LOCAL_GUID);
    let h = store.put_host(&host("22222222-0000-0000-0000-0000000000c1", "ndvc1", 1)).expect("host");
    let c = store.put_chart(h, &chart("c.future", "lab", "u", "f", "c.future", 1)).expect("chart");
    let a = store.put_dimension(c, &dim("a", "a", 1, 1)).expect("dim");
    for t in 1_795_636_258..=1_795_636_296 {
        put(store.as_ref(), a, t, (t - 1_795_636_257) as f64);
    }
    let lab: Value = serde_json::from_str(&read_fixture("values-lab/C-edge.output.json")).expect("json");
    for q in ["chart=c.future&after=-20&options=seconds,jsonwrap", "chart=c.future&after=1795636251&before=1795636301&points=51&options=seconds,jsonwrap"] {
        let body = get(&ctx, &format!("/host/ndvc1/api/v1/data?{q}"), 1_795_636_263);
        let expected = lab[q].as_str().expect("lab answer");
        // Netdata also counts the stored gap at …257 as a db point read; gaps are absence here.
        let strip = |s: &str| s.lines().filter(|l| !l.contains("db_points_per_tier")).collect::<Vec<_>>().join("\n");
        assert_eq!(strip(&body), strip(expected), "{q}");
    }
}
