//! Netdata 1.37.1's HTTP API as a pure request → response layer over a [`Store`].
//!
//! The daemon owns the sockets: it feeds bytes to [`http::parse_request`], calls [`handle`]
//! (inside `spawn_blocking`: reads are synchronous) and writes [`http::Response::encode`].
//! Live facts that only the daemon knows (is a child connected, its hops, the unquantized last
//! value of a series) come through the [`HostStatusProvider`] it passes in.
//!
//! Paths: `/api/v1/{info,charts,chart,data,allmetrics}` for the local host, and the same under
//! `/host/HOSTNAME-or-GUID/api/v1/...` for every host the store holds (offline hosts too).
//! Extra commands (e.g. `streaming`) are added with [`ApiContext::add_route`].
//!
//! **Invariant:** no I/O besides store reads, no panics on request input; every error is a
//! typed [`ApiError`] mapped to a 4xx/5xx plain-text answer in one place ([`ApiError::status`]).

pub mod format;
pub mod http;
pub mod numfmt;
pub mod prometheus;
pub mod query;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use crate::model::{ChartMeta, HostMeta, UnixTime};
use crate::storage::{ChartId, HostId, SeriesId, Store, StoreError};

pub use http::{parse_request, Cache, HttpError, Method, Request, Response};

use format::json_str;

/// What the daemon knows about a host right now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveStatus {
    /// A stream from the host (or the host itself, for the local one) is live.
    pub reachable: bool,
    /// Distance from us (0 = this agent); `None` = use the stored [`HostMeta::hops`].
    pub hops: Option<u32>,
    /// Cloud claim id, if known; overrides [`HostMeta::claim_id`].
    pub claim_id: Option<String>,
    /// Cloud node id, if any.
    pub node_id: Option<String>,
}

/// Live facts the daemon provides to the API. All methods must be cheap and non-blocking.
pub trait HostStatusProvider: Send + Sync {
    /// Live status of the host with machine GUID `guid`; `None` = unknown (the API then reports
    /// the local host reachable and every other host unreachable).
    fn status(&self, guid: &str) -> Option<LiveStatus>;
    /// The last value of a series before storage-number quantization (`latest_values` of
    /// `jsonwrap`); `None` falls back to the last stored value.
    fn latest_value(&self, _series: SeriesId) -> Option<f64> {
        None
    }
}

/// A provider that knows nothing live (tests, offline tools).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoLiveStatus;

impl HostStatusProvider for NoLiveStatus {
    fn status(&self, _guid: &str) -> Option<LiveStatus> {
        None
    }
}

/// A host an API path addresses.
#[derive(Clone, Debug)]
pub struct HostRef {
    pub id: HostId,
    pub meta: HostMeta,
    /// This is our own host (`/api/v1/...` without `/host/`).
    pub local: bool,
}

/// Handler of an extra `/api/v1/<command>` (also under `/host/X/`). `host` is `None` when the
/// store does not hold the local host yet.
pub type RouteHandler = Arc<dyn Fn(&ApiContext, Option<&HostRef>, &Request, UnixTime) -> Response + Send + Sync>;

/// Settings shown by `/api/v1/info` and `/api/v1/charts`.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    /// `version` reported (Netdata clients expect a `vX.Y.Z`).
    pub version: String,
    /// `application` of our own host in `netdata_info`.
    pub program_name: String,
    /// `memory-mode` / `memory_mode`.
    pub memory_mode: String,
    /// `multidb-disk-quota` (MiB).
    pub disk_quota_mb: u64,
    /// `stream-enabled`: we stream to a parent.
    pub stream_enabled: bool,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            version: "v1.37.1".into(),
            program_name: "netdata".into(),
            memory_mode: "dbengine".into(),
            disk_quota_mb: 256,
            stream_enabled: false,
        }
    }
}

/// Everything [`handle`] needs. Cheap to share (`Arc<ApiContext>`); internally synchronized.
pub struct ApiContext {
    store: Arc<dyn Store>,
    status: Arc<dyn HostStatusProvider>,
    local_guid: String,
    pub settings: ApiSettings,
    routes: Vec<(String, RouteHandler)>,
    /// Last Prometheus scrape per (scraper key, host).
    prom_last: Mutex<HashMap<(String, HostId), UnixTime>>,
}

/// Most remembered Prometheus scrapers; the table is cleared when it grows past this.
const MAX_SCRAPERS: usize = 10_000;

impl ApiContext {
    /// `local_guid` is the machine GUID of our own host (served at `/api/v1/...`).
    pub fn new(store: Arc<dyn Store>, status: Arc<dyn HostStatusProvider>, local_guid: impl Into<String>) -> Self {
        Self {
            store,
            status,
            local_guid: local_guid.into(),
            settings: ApiSettings::default(),
            routes: Vec::new(),
            prom_last: Mutex::new(HashMap::new()),
        }
    }

    pub fn with_settings(mut self, settings: ApiSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Adds `/api/v1/<command>` (and `/host/X/api/v1/<command>`). Built-in commands win.
    pub fn add_route(&mut self, command: &str, handler: RouteHandler) {
        self.routes.push((command.to_string(), handler));
    }

    pub fn with_route(mut self, command: &str, handler: RouteHandler) -> Self {
        self.add_route(command, handler);
        self
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
    pub fn status_provider(&self) -> &Arc<dyn HostStatusProvider> {
        &self.status
    }
    pub fn local_guid(&self) -> &str {
        &self.local_guid
    }

    fn prom_last_scrape(&self, key: &(String, HostId)) -> Option<UnixTime> {
        self.prom_last.lock().unwrap_or_else(|p| p.into_inner()).get(key).copied()
    }
    fn set_prom_last_scrape(&self, key: (String, HostId), t: UnixTime) {
        let mut g = self.prom_last.lock().unwrap_or_else(|p| p.into_inner());
        if g.len() >= MAX_SCRAPERS && !g.contains_key(&key) {
            g.clear();
        }
        g.insert(key, t);
    }

    /// All hosts, ours first, then in store order.
    pub fn hosts_local_first(&self) -> Vec<(HostId, HostMeta)> {
        let mut hosts = self.store.hosts();
        hosts.sort_by_key(|(id, h)| (h.guid != self.local_guid, *id));
        hosts
    }

    /// The host named `name` (hostname or machine GUID, GUID case-insensitive).
    pub fn find_host(&self, name: &str) -> Option<HostRef> {
        let hosts = self.store.hosts();
        let found = hosts
            .iter()
            .find(|(_, h)| h.guid.eq_ignore_ascii_case(name))
            .or_else(|| hosts.iter().find(|(_, h)| h.hostname == name))
            .or_else(|| (name == "localhost").then(|| hosts.iter().find(|(_, h)| h.guid == self.local_guid)).flatten());
        found.map(|(id, h)| HostRef { id: *id, meta: h.clone(), local: h.guid == self.local_guid })
    }

    fn local_host(&self) -> Option<HostRef> {
        self.store
            .hosts()
            .into_iter()
            .find(|(_, h)| h.guid == self.local_guid)
            .map(|(id, meta)| HostRef { id, meta, local: true })
    }

    fn live(&self, h: &HostMeta) -> LiveStatus {
        let local = h.guid == self.local_guid;
        let mut s = self.status.status(&h.guid).unwrap_or(LiveStatus { reachable: local, ..Default::default() });
        if s.hops.is_none() {
            s.hops = Some(if local { 0 } else { h.hops });
        }
        if s.claim_id.is_none() {
            s.claim_id.clone_from(&h.claim_id);
        }
        s
    }
}

/// An API failure, answered as plain text.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("storage error: {0}")]
    Store(#[from] StoreError),
}

impl ApiError {
    /// The one place error kinds map to HTTP status codes.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::NotFound(_) => 404,
            Self::Store(StoreError::UnknownId { .. }) => 404,
            Self::Store(StoreError::Invalid(_)) => 400,
            Self::Store(_) => 500,
        }
    }
    pub fn to_response(&self) -> Response {
        Response::text(self.status(), format!("{self}"))
    }
}

/// Routes a request; unknown paths and commands get a 404.
pub fn handle(ctx: &ApiContext, req: &Request, now: UnixTime) -> Response {
    try_handle(ctx, req, now).unwrap_or_else(|| {
        let cmd = req.path.rsplit('/').next().unwrap_or("");
        if req.path.contains("/api/v1/") {
            Response::text(404, format!("Unsupported v1 API command: {cmd}"))
        } else {
            Response::text(404, format!("Not found: {}", req.path))
        }
    })
}

/// Like [`handle`], but `None` for paths this layer does not know (not `/api/v1/...`, or an
/// unknown command), so the caller may serve them itself.
pub fn try_handle(ctx: &ApiContext, req: &Request, now: UnixTime) -> Option<Response> {
    if req.method == Method::Options {
        let mut r = Response::text(200, "");
        r.headers.push(("Access-Control-Allow-Methods".into(), "GET, OPTIONS".into()));
        r.headers.push(("Access-Control-Allow-Headers".into(), "accept, x-requested-with, origin, content-type, cookie, pragma, cache-control, x-auth-token".into()));
        return Some(r);
    }
    let path = req.path.as_str();
    let (host, rest) = match path.strip_prefix("/host/") {
        Some(r) => {
            let (name, rest) = r.split_once('/').unwrap_or((r, ""));
            match ctx.find_host(name) {
                Some(h) => (Some(h), rest),
                None => {
                    return Some(Response::text(404, format!("This netdata does not maintain a database for host: {name}")));
                }
            }
        }
        None => (ctx.local_host(), path.strip_prefix('/').unwrap_or(path)),
    };
    let cmd = rest.strip_prefix("api/v1/")?.trim_end_matches('/');
    let result = match cmd {
        "info" => Ok(info(ctx, host.as_ref())),
        "charts" => with_host(host.as_ref(), |h| Ok(charts(ctx, h))),
        "chart" => with_host(host.as_ref(), |h| chart(ctx, h, req)),
        "data" => with_host(host.as_ref(), |h| data(ctx, h, req, now)),
        "allmetrics" => with_host(host.as_ref(), |h| prometheus::allmetrics(ctx, (h.id, h.meta.clone()), req, now)),
        other => {
            let (_, handler) = ctx.routes.iter().find(|(c, _)| c == other)?;
            return Some(handler(ctx, host.as_ref(), req, now));
        }
    };
    Some(result.unwrap_or_else(|e| e.to_response()))
}

fn with_host(host: Option<&HostRef>, f: impl FnOnce(&HostRef) -> Result<Response, ApiError>) -> Result<Response, ApiError> {
    match host {
        Some(h) => f(h),
        None => Err(ApiError::NotFound("This netdata does not maintain a database for its own host yet.".into())),
    }
}

fn find_chart(store: &dyn Store, host: HostId, name: &str) -> Option<(ChartId, ChartMeta)> {
    let charts = store.charts(host);
    let pos = charts.iter().position(|(_, c)| c.id == name).or_else(|| charts.iter().position(|(_, c)| c.name == name))?;
    charts.into_iter().nth(pos)
}

fn data(ctx: &ApiContext, h: &HostRef, req: &Request, now: UnixTime) -> Result<Response, ApiError> {
    let params = query::DataParams::from_query(&req.query, ctx.store.config().tiers.len())?;
    let (cid, chart) = find_chart(ctx.store.as_ref(), h.id, &params.chart)
        .ok_or_else(|| ApiError::NotFound("No metrics where matched to query.".into()))?;
    let r = query::execute(ctx.store.as_ref(), ctx.status.as_ref(), &h.meta.hostname, cid, chart, params, now)?;
    let (ct, body) = format::render(&r);
    let mut resp = Response::new(200, ct, body);
    if !r.relative {
        resp.cache = Cache::Public;
    }
    Ok(resp)
}

fn chart(ctx: &ApiContext, h: &HostRef, req: &Request) -> Result<Response, ApiError> {
    let name = req.param("chart").ok_or_else(|| ApiError::BadRequest("No chart id is given at the request.".into()))?;
    let (cid, c) = find_chart(ctx.store.as_ref(), h.id, name).ok_or_else(|| ApiError::NotFound(format!("Chart is not found: {name}")))?;
    let mut out = String::new();
    push_chart(ctx, &mut out, cid, &c, "");
    Ok(Response::json(out))
}

/// `first_entry`/`last_entry` of a chart over all its dimensions and tiers.
fn chart_retention(store: &dyn Store, cid: ChartId, ue: u32) -> (i64, i64) {
    let rs: Vec<_> = store.dimensions(cid).iter().filter_map(|(s, _)| query::series_retention(store, *s, ue)).collect();
    (rs.iter().map(|r| r.first).min().unwrap_or(0), rs.iter().map(|r| r.last).max().unwrap_or(0))
}

/// One chart object as in `/api/v1/charts` (`ind` is extra indentation).
fn push_chart(ctx: &ApiContext, o: &mut String, cid: ChartId, c: &ChartMeta, ind: &str) {
    let store = ctx.store.as_ref();
    let ue = c.update_every.max(1);
    let (first, last) = chart_retention(store, cid, ue);
    let duration = if last > 0 { last - first + i64::from(ue) } else { 0 };
    let _ = writeln!(o, "{ind}\t{{");
    let kv = |o: &mut String, k: &str, v: &str| {
        let _ = writeln!(o, "{ind}\t\t\"{k}\": {},", json_str(v));
    };
    kv(o, "id", &c.id);
    kv(o, "name", &c.name);
    kv(o, "type", c.type_part());
    kv(o, "family", &c.family);
    kv(o, "context", &c.context);
    kv(o, "title", &format!("{} ({})", c.title, c.name));
    let _ = writeln!(o, "{ind}\t\t\"priority\": {},", c.priority);
    kv(o, "plugin", &c.plugin);
    kv(o, "module", &c.module);
    kv(o, "units", &c.units);
    kv(o, "data_url", &format!("/api/v1/data?chart={}", c.id));
    kv(o, "chart_type", c.chart_type.as_str());
    let _ = writeln!(o, "{ind}\t\t\"duration\": {duration},");
    let _ = writeln!(o, "{ind}\t\t\"first_entry\": {first},");
    let _ = writeln!(o, "{ind}\t\t\"last_entry\": {last},");
    let _ = writeln!(o, "{ind}\t\t\"update_every\": {ue},");
    let _ = writeln!(o, "{ind}\t\t\"dimensions\": {{");
    let dims = store.dimensions(cid);
    for (i, (_, d)) in dims.iter().enumerate() {
        let comma = if i + 1 < dims.len() { "," } else { "" };
        let _ = writeln!(o, "{ind}\t\t\t{}: {{ \"name\": {} }}{comma}", json_str(&d.id), json_str(&d.name));
    }
    let _ = writeln!(o, "{ind}\t\t}},");
    let _ = write!(o, "{ind}\t\t\"chart_variables\": {{\n{ind}\t\t}},\n{ind}\t\t\"green\": null,\n{ind}\t\t\"red\": null,\n{ind}\t\t\"alarms\": {{\n\n{ind}\t\t}},\n");
    let _ = writeln!(o, "{ind}\t\t\"chart_labels\": {{");
    for (i, l) in c.labels.iter().enumerate() {
        let comma = if i + 1 < c.labels.len() { "," } else { "" };
        let _ = writeln!(o, "{ind}\t\t\t{}:{}{comma}", json_str(&l.name), json_str(&l.value));
    }
    let _ = write!(o, "{ind}\t\t}},\n{ind}\t\t\"functions\": {{\n{ind}\t\t}}\n{ind}\t}}");
}

fn sys<'a>(h: &'a HostMeta, key: &str) -> &'a str {
    prometheus::sysinfo(h, &[key]).unwrap_or("unknown")
}

fn charts(ctx: &ApiContext, h: &HostRef) -> Response {
    let store = ctx.store.as_ref();
    let m = &h.meta;
    let mut o = String::with_capacity(64 * 1024);
    o.push_str("{\n");
    let _ = writeln!(o, "\t\"hostname\": {},", json_str(&m.hostname));
    let _ = writeln!(o, "\t\"version\": {},", json_str(&ctx.settings.version));
    o.push_str("\t\"release_channel\": \"stable\",\n");
    let _ = writeln!(o, "\t\"os\": {},", json_str(prometheus::sysinfo(m, &["os"]).unwrap_or("linux")));
    let _ = writeln!(o, "\t\"timezone\": {},", json_str(prometheus::sysinfo(m, &["timezone"]).unwrap_or("UTC")));
    let _ = writeln!(o, "\t\"update_every\": {},", m.update_every.max(1));
    o.push_str("\t\"history\": 0,\n");
    let _ = writeln!(o, "\t\"memory_mode\": {},", json_str(&ctx.settings.memory_mode));
    o.push_str("\t\"custom_info\": \"\",\n\t\"charts\": {");
    let list = store.charts(h.id);
    let mut dims_count = 0usize;
    for (i, (cid, c)) in list.iter().enumerate() {
        o.push_str(if i == 0 { "\n" } else { ",\n" });
        let _ = write!(o, "\t\t{}: ", json_str(&c.id));
        let mut chart = String::new();
        push_chart(ctx, &mut chart, *cid, c, "\t");
        o.push_str(chart.trim_start());
        dims_count += store.dimensions(*cid).len();
    }
    o.push_str("\n\t},\n");
    let hosts = ctx.hosts_local_first();
    let _ = writeln!(o, "\t\"charts_count\": {},", list.len());
    let _ = writeln!(o, "\t\"dimensions_count\": {dims_count},");
    o.push_str("\t\"alarms_count\": 0,\n\t\"rrd_memory_bytes\": 0,\n");
    let _ = writeln!(o, "\t\"hosts_count\": {},", hosts.len());
    o.push_str("\t\"hosts\": [");
    for (i, (_, hm)) in hosts.iter().enumerate() {
        o.push_str(if i == 0 { "\n" } else { ",\n" });
        let _ = write!(o, "\t\t{{\n\t\t\t\"hostname\": {}\n\t\t}}", json_str(&hm.hostname));
    }
    o.push_str("\n\t]\n}\n");
    Response::json(o)
}

/// `/api/v1/info` keys taken from the host's system info (Netdata's `NETDATA_*` variables).
const INFO_SYSTEM_KEYS: &[(&str, &str)] = &[
    ("os_name", "NETDATA_SYSTEM_OS_NAME"),
    ("os_id", "NETDATA_SYSTEM_OS_ID"),
    ("os_id_like", "NETDATA_SYSTEM_OS_ID_LIKE"),
    ("os_version", "NETDATA_SYSTEM_OS_VERSION"),
    ("os_version_id", "NETDATA_SYSTEM_OS_VERSION_ID"),
    ("os_detection", "NETDATA_SYSTEM_OS_DETECTION"),
    ("cores_total", "NETDATA_SYSTEM_CPU_LOGICAL_CPU_COUNT"),
    ("total_disk_space", "NETDATA_SYSTEM_TOTAL_DISK_SIZE"),
    ("cpu_freq", "NETDATA_SYSTEM_CPU_FREQ"),
    ("ram_total", "NETDATA_SYSTEM_TOTAL_RAM"),
    ("container_os_name", "NETDATA_CONTAINER_OS_NAME"),
    ("container_os_id", "NETDATA_CONTAINER_OS_ID"),
    ("container_os_id_like", "NETDATA_CONTAINER_OS_ID_LIKE"),
    ("container_os_version", "NETDATA_CONTAINER_OS_VERSION"),
    ("container_os_version_id", "NETDATA_CONTAINER_OS_VERSION_ID"),
    ("container_os_detection", "NETDATA_CONTAINER_OS_DETECTION"),
    ("is_k8s_node", "NETDATA_HOST_IS_K8S_NODE"),
    ("kernel_name", "NETDATA_SYSTEM_KERNEL_NAME"),
    ("kernel_version", "NETDATA_SYSTEM_KERNEL_VERSION"),
    ("architecture", "NETDATA_SYSTEM_ARCHITECTURE"),
    ("virtualization", "NETDATA_SYSTEM_VIRTUALIZATION"),
    ("virt_detection", "NETDATA_SYSTEM_VIRT_DETECTION"),
    ("container", "NETDATA_SYSTEM_CONTAINER"),
    ("container_detection", "NETDATA_SYSTEM_CONTAINER_DETECTION"),
    ("cloud_provider_type", "NETDATA_INSTANCE_CLOUD_TYPE"),
    ("cloud_instance_type", "NETDATA_INSTANCE_CLOUD_INSTANCE_TYPE"),
    ("cloud_instance_region", "NETDATA_INSTANCE_CLOUD_INSTANCE_REGION"),
];

fn info(ctx: &ApiContext, host: Option<&HostRef>) -> Response {
    let store = ctx.store.as_ref();
    let hosts = ctx.hosts_local_first();
    let empty = HostMeta { guid: ctx.local_guid.clone(), ..Default::default() };
    let m = host.map_or(&empty, |h| &h.meta);
    let mut o = String::with_capacity(8192);
    o.push_str("{\n");
    let _ = writeln!(o, "\t\"version\": {},", json_str(&ctx.settings.version));
    let _ = writeln!(o, "\t\"uid\": {},", json_str(&m.guid));
    o.push_str("\t\"mirrored_hosts\": [\n");
    for (i, (_, h)) in hosts.iter().enumerate() {
        let comma = if i + 1 < hosts.len() { "," } else { "" };
        let _ = writeln!(o, "\t\t{}{comma}", json_str(&h.hostname));
    }
    o.push_str("\t],\n\t\"mirrored_hosts_status\": [\n");
    for (i, (_, h)) in hosts.iter().enumerate() {
        let s = ctx.live(h);
        let opt = |v: &Option<String>| v.as_deref().map_or("null".to_string(), json_str);
        let comma = if i + 1 < hosts.len() { "," } else { "" };
        let _ = writeln!(
            o,
            "\t\t{{ \"guid\": {}, \"hostname\": {}, \"reachable\": {}, \"hops\": {}, \"claim_id\": {}, \"node_id\": {} }}{comma}",
            json_str(&h.guid),
            json_str(&h.hostname),
            s.reachable,
            s.hops.unwrap_or(h.hops),
            opt(&s.claim_id),
            opt(&s.node_id)
        );
    }
    o.push_str("\t],\n\t\"alarms\": {\n\t\t\"normal\": 0,\n\t\t\"warning\": 0,\n\t\t\"critical\": 0\n\t},\n");
    for (k, sk) in INFO_SYSTEM_KEYS {
        let _ = writeln!(o, "\t\"{k}\": {},", json_str(sys(m, sk)));
    }
    o.push_str("\t\"host_labels\": {");
    for (i, l) in m.labels.iter().enumerate() {
        o.push_str(if i == 0 { "\n" } else { ",\n" });
        let _ = write!(o, "\t\t{}:{}", json_str(&l.name), json_str(&l.value));
    }
    o.push_str("\n\t},\n\t\"functions\": {\n\n\t},\n\t\"collectors\": [");
    let mut collectors: Vec<(String, String)> = Vec::new();
    let mut charts_count = 0usize;
    let mut metrics_count = 0usize;
    if let Some(h) = host {
        for (cid, c) in store.charts(h.id) {
            charts_count += 1;
            metrics_count += store.dimensions(cid).len();
            let key = (c.plugin.clone(), c.module.clone());
            if !c.plugin.is_empty() && !collectors.contains(&key) {
                collectors.push(key);
            }
        }
    }
    for (i, (p, md)) in collectors.iter().enumerate() {
        o.push_str(if i == 0 { "\n" } else { ",\n" });
        let _ = write!(o, "\t\t{{\n\t\t\t\"plugin\": {},\n\t\t\t\"module\": {}\n\t\t}}", json_str(p), json_str(md));
    }
    let claimed = m.claim_id.is_some();
    o.push_str("\n\t],\n\t\"cloud-enabled\": false,\n\t\"cloud-available\": false,\n");
    let _ = writeln!(o, "\t\"agent-claimed\": {claimed},");
    o.push_str("\t\"aclk-available\": false,\n");
    let _ = writeln!(o, "\t\"memory-mode\": {},", json_str(&ctx.settings.memory_mode));
    let _ = writeln!(o, "\t\"multidb-disk-quota\": {},", ctx.settings.disk_quota_mb);
    o.push_str("\t\"page-cache-size\": 32,\n");
    let _ = writeln!(o, "\t\"stream-enabled\": {},", ctx.settings.stream_enabled);
    o.push_str("\t\"stream-compression\": false,\n");
    let _ = writeln!(o, "\t\"hosts-available\": {},", hosts.len());
    o.push_str("\t\"https-enabled\": false,\n\t\"buildinfo\": \"dbengine\",\n\t\"release-channel\": \"stable\",\n\t\"web-enabled\": true,\n");
    let _ = writeln!(o, "\t\"charts-count\": {charts_count},");
    let _ = writeln!(o, "\t\"metrics-count\": {metrics_count}");
    o.push_str("}\n");
    Response::json(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn context_can_be_shared_across_blocking_tasks() {
        assert_send_sync::<ApiContext>();
        assert_send_sync::<Request>();
        assert_send_sync::<Response>();
    }

    #[test]
    fn error_statuses() {
        assert_eq!(ApiError::BadRequest("x".into()).status(), 400);
        assert_eq!(ApiError::NotFound("x".into()).status(), 404);
        assert_eq!(ApiError::Store(StoreError::UnknownId { kind: "series", id: 1 }).status(), 404);
        assert_eq!(ApiError::Store(StoreError::Corrupt { path: "/x".into(), reason: "bad".into() }).status(), 500);
    }
}
