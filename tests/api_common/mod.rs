//! Shared helpers of the API tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ndcluster::api::{handle, ApiContext, HostStatusProvider, LiveStatus, Request, Response};
use ndcluster::model::{Algorithm, ChartMeta, ChartType, DimMeta, HostMeta, Label, UnixTime};
use ndcluster::storage::mem::MemStore;
use ndcluster::storage::number::FLAG_NOT_ANOMALOUS;
use ndcluster::storage::{ChartId, HostId, SeriesId, Store, StoreConfig, StorageNumber};

pub const LOCAL_GUID: &str = "11111111-0000-0000-0000-000000000001";

pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/api").join(rel)
}

pub fn read_fixture(rel: &str) -> String {
    std::fs::read_to_string(fixture(rel)).unwrap_or_else(|e| panic!("{}: {e}", fixture(rel).display()))
}

/// Compares `actual` with the golden file `rel`; `UPDATE_GOLDEN=1` rewrites it instead.
pub fn check_golden(rel: &str, actual: &str) {
    let path = fixture(rel);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("mkdir");
        }
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    if expected != actual {
        panic!("golden {} differs\n--- expected\n{expected}\n--- actual\n{actual}\n", path.display());
    }
}

/// Live status and unquantized last values set by a test.
#[derive(Default)]
pub struct TestStatus {
    pub live: Mutex<HashMap<String, LiveStatus>>,
    pub latest: Mutex<HashMap<SeriesId, f64>>,
}

impl HostStatusProvider for TestStatus {
    fn status(&self, guid: &str) -> Option<LiveStatus> {
        self.live.lock().expect("lock").get(guid).cloned()
    }
    fn latest_value(&self, series: SeriesId) -> Option<f64> {
        self.latest.lock().expect("lock").get(&series).copied()
    }
}

pub fn host(guid: &str, hostname: &str, hops: u32) -> HostMeta {
    HostMeta {
        guid: guid.into(),
        hostname: hostname.into(),
        system_info: vec![
            ("NETDATA_SYSTEM_OS_NAME".into(), "Debian GNU/Linux".into()),
            ("NETDATA_SYSTEM_KERNEL_NAME".into(), "Linux".into()),
            ("NETDATA_SYSTEM_CPU_LOGICAL_CPU_COUNT".into(), "2".into()),
            ("program_name".into(), "netdata".into()),
            ("program_version".into(), "v1.37.1".into()),
        ],
        labels: vec![
            Label { name: "_os_name".into(), value: "Debian".into(), source: 1 },
            Label { name: "env".into(), value: "lab".into(), source: 2 },
        ],
        hops,
        update_every: 1,
        claim_id: None,
    }
}

pub fn chart(id: &str, title: &str, units: &str, family: &str, context: &str, ue: u32) -> ChartMeta {
    ChartMeta {
        id: id.into(),
        name: id.into(),
        title: title.into(),
        units: units.into(),
        family: family.into(),
        context: context.into(),
        chart_type: ChartType::Line,
        priority: 1000,
        update_every: ue,
        options: String::new(),
        plugin: "test.plugin".into(),
        module: "synthetic".into(),
        labels: vec![Label { name: "_collect_plugin".into(), value: "test.plugin".into(), source: 1 }],
    }
}

pub fn dim(id: &str, name: &str, m: i64, d: i64) -> DimMeta {
    DimMeta { id: id.into(), name: name.into(), algorithm: Algorithm::Absolute, multiplier: m, divisor: d, options: String::new() }
}

pub fn put(store: &dyn Store, s: SeriesId, t: UnixTime, v: f64) {
    store.write(s, t, StorageNumber::pack(v, FLAG_NOT_ANOMALOUS)).expect("write");
}

pub struct Fixture {
    pub store: Arc<MemStore>,
    pub status: Arc<TestStatus>,
    pub ctx: ApiContext,
}

impl Fixture {
    pub fn new(config: StoreConfig) -> Self {
        let store = Arc::new(MemStore::new(config));
        let status = Arc::new(TestStatus::default());
        let ctx = ApiContext::new(store.clone(), status.clone(), LOCAL_GUID);
        Self { store, status, ctx }
    }
    pub fn host(&self, meta: &HostMeta) -> HostId {
        self.store.put_host(meta).expect("host")
    }
    pub fn chart(&self, h: HostId, meta: &ChartMeta) -> ChartId {
        self.store.put_chart(h, meta).expect("chart")
    }
    pub fn dim(&self, c: ChartId, meta: &DimMeta) -> SeriesId {
        self.store.put_dimension(c, meta).expect("dim")
    }
    pub fn get(&self, target: &str, now: UnixTime) -> Response {
        let req = Request::get(target).unwrap_or_else(|e| panic!("{target}: {e}"));
        handle(&self.ctx, &req, now)
    }
    pub fn get_ok(&self, target: &str, now: UnixTime) -> String {
        let r = self.get(target, now);
        assert_eq!(r.status, 200, "{target}: {}", r.body_str());
        r.body_str().to_string()
    }
}
