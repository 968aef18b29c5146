//! Every endpoint's shape against golden files (regenerate with `UPDATE_GOLDEN=1` and review
//! the diff), host addressing, live status, extension routes and bad requests.

mod api_common;

use std::sync::Arc;

use api_common::*;
use ndcluster::api::{http, parse_request, try_handle, ApiContext, LiveStatus, Request, Response};
use ndcluster::model::UnixTime;
use ndcluster::storage::StoreConfig;

/// Wall clock of the tests (data ends at NOW - 1).
const NOW: UnixTime = 1_795_640_000;
const CHILD_GUID: &str = "22222222-0000-0000-0000-000000000002";
const GONE_GUID: &str = "33333333-0000-0000-0000-000000000003";

/// parent (local) + `child1` (live, 1 hop) + `gone` (offline, data 1 h old).
fn fixture() -> Fixture {
    let mut f = Fixture::new(StoreConfig::default());
    let hosts = [(LOCAL_GUID, "parent", 0, NOW), (CHILD_GUID, "child1", 1, NOW), (GONE_GUID, "gone", 1, NOW - 3600)];
    for (guid, name, hops, end) in hosts {
        let h = f.host(&host(guid, name, hops));
        let cpu = f.chart(h, &chart("system.cpu", "Total CPU utilization", "percentage", "cpu", "system.cpu", 1));
        let user = f.dim(cpu, &dim("user", "user", 1, 1));
        let mut sys_meta = dim("system", "system", 1, 1);
        sys_meta.name = "sys tem".into();
        let system = f.dim(cpu, &sys_meta);
        let mut hidden = dim("guest", "guest", 1, 1);
        hidden.options = "hidden".into();
        let guest = f.dim(cpu, &hidden);
        let load = f.chart(h, &chart("system.load", "System Load Average", "load", "load", "system.load", 5));
        let l1 = f.dim(load, &dim("load1", "load1", 1, 1000));
        let net = f.chart(h, &chart("net.eth0", "Bandwidth", "kilobits/s", "eth0", "net.net", 1));
        let rx = f.dim(net, &dim("received", "received", 8, 1024));
        for t in end - 120..end {
            let k = (t - (end - 120)) as f64;
            put(f.store.as_ref(), user, t, k / 4.0);
            if t % 7 != 0 {
                put(f.store.as_ref(), system, t, 100.0 / 3.0);
            }
            put(f.store.as_ref(), guest, t, 1.0);
            put(f.store.as_ref(), rx, t, 1000.0 + k);
            if t % 5 == 0 {
                put(f.store.as_ref(), l1, t, 0.25 + k / 100.0);
            }
        }
    }
    f.status.live.lock().expect("lock").insert(CHILD_GUID.into(), LiveStatus { reachable: true, hops: Some(1), claim_id: None, node_id: None });
    f.ctx.add_route(
        "streaming",
        Arc::new(|_ctx: &ApiContext, host: Option<&ndcluster::api::HostRef>, _req: &Request, _now: UnixTime| {
            Response::json(format!("{{\"host\":\"{}\"}}", host.map_or("", |h| h.meta.hostname.as_str())))
        }),
    );
    f
}

#[test]
fn endpoint_shapes_match_golden_files() {
    let f = fixture();
    for (target, golden) in [
        ("/api/v1/info", "endpoints/info.json"),
        ("/host/child1/api/v1/info", "endpoints/info_child1.json"),
        ("/host/child1/api/v1/charts", "endpoints/charts_child1.json"),
        ("/host/child1/api/v1/chart?chart=system.load", "endpoints/chart_system.load.json"),
        ("/host/child1/api/v1/data?chart=system.cpu&after=-10", "endpoints/data_relative.json"),
        ("/host/child1/api/v1/data?chart=system.cpu&after=-10&options=jsonwrap", "endpoints/data_jsonwrap.json"),
        ("/host/child1/api/v1/data?chart=system.load&after=-60&format=csv&options=flip,ms", "endpoints/data_load_csv_flip_ms.txt"),
        ("/host/child1/api/v1/data?chart=system.cpu&after=-6&dimensions=sys*&format=ssv", "endpoints/data_ssv_pattern.txt"),
        ("/host/child1/api/v1/data?chart=system.cpu&after=-6&options=percentage,nonzero,null2zero", "endpoints/data_percentage.json"),
        ("/host/child1/api/v1/data?chart=system.load&after=-20&before=-5&points=3&gtime=10", "endpoints/data_load_gtime.json"),
        ("/host/child1/api/v1/data?chart=system.load&after=1795639970&before=1795639990&points=20", "endpoints/data_load_virtual_points.json"),
        ("/host/gone/api/v1/data?chart=system.cpu&after=1795636390&before=1795636399&points=5", "endpoints/data_offline_host.json"),
        ("/host/child1/api/v1/allmetrics?format=prometheus&server=golden", "endpoints/allmetrics_prometheus.txt"),
        ("/api/v1/allmetrics?format=prometheus_all_hosts&server=golden2&types=yes&filter=system.*", "endpoints/allmetrics_all_hosts.txt"),
        ("/host/child1/api/v1/allmetrics?format=prometheus&server=golden3&help=yes&timestamps=no&filter=net.*", "endpoints/allmetrics_help.txt"),
    ] {
        check_golden(golden, &f.get_ok(target, NOW));
    }
}

#[test]
fn info_reports_every_host_with_live_status() {
    let f = fixture();
    let v: serde_json::Value = serde_json::from_str(&f.get_ok("/api/v1/info", NOW)).expect("json");
    assert_eq!(v["uid"], LOCAL_GUID);
    assert_eq!(v["mirrored_hosts"], serde_json::json!(["parent", "child1", "gone"]));
    let st = v["mirrored_hosts_status"].as_array().expect("array");
    let by = |name: &str| st.iter().find(|h| h["hostname"] == name).expect("host").clone();
    assert_eq!((by("parent")["reachable"].as_bool(), by("parent")["hops"].as_u64()), (Some(true), Some(0)));
    assert_eq!((by("child1")["reachable"].as_bool(), by("child1")["hops"].as_u64()), (Some(true), Some(1)));
    assert_eq!((by("gone")["reachable"].as_bool(), by("gone")["guid"].as_str()), (Some(false), Some(GONE_GUID)));
    assert!(by("gone")["claim_id"].is_null());
    // the status provider is asked every time
    f.status.live.lock().expect("lock").insert(CHILD_GUID.into(), LiveStatus { reachable: false, ..Default::default() });
    let v: serde_json::Value = serde_json::from_str(&f.get_ok("/host/child1/api/v1/info", NOW)).expect("json");
    assert_eq!(v["uid"], CHILD_GUID);
    let child = v["mirrored_hosts_status"].as_array().expect("array").iter().find(|h| h["hostname"] == "child1").expect("c").clone();
    assert_eq!(child["reachable"], false);
    assert_eq!(child["hops"], 1);
}

#[test]
fn hosts_are_addressed_by_hostname_or_guid_and_offline_hosts_are_served() {
    let f = fixture();
    let a = f.get_ok("/host/child1/api/v1/chart?chart=system.cpu", NOW);
    let b = f.get_ok(&format!("/host/{}/api/v1/chart?chart=system.cpu", CHILD_GUID.to_uppercase()), NOW);
    assert_eq!(a, b);
    let charts: serde_json::Value = serde_json::from_str(&f.get_ok("/host/gone/api/v1/charts", NOW)).expect("json");
    assert_eq!(charts["hostname"], "gone");
    assert_eq!(charts["charts"]["system.cpu"]["last_entry"], NOW - 3601);
    // relative queries on stale data are 404 like Netdata; absolute windows are served
    assert_eq!(f.get("/host/gone/api/v1/data?chart=system.cpu&after=-60", NOW).status, 404);
    let body = f.get_ok("/host/gone/api/v1/data?chart=system.cpu&after=1795636300&before=1795636399", NOW);
    assert!(body.contains("[ 1795636399,"), "{body}");
    // a chart may be addressed by name too
    assert_eq!(f.get("/api/v1/data?chart=system.load&after=-30", NOW).status, 200);
}

#[test]
fn data_rows_are_newest_first_with_null_for_gaps() {
    let f = fixture();
    let body = f.get_ok("/api/v1/data?chart=system.cpu&after=1795639990&before=1795639999&points=10&dimensions=system&options=seconds", NOW);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let rows = v["data"].as_array().expect("rows");
    assert_eq!(rows.len(), 10);
    assert_eq!(rows[0][0], 1795639999);
    for r in rows {
        let t = r[0].as_i64().expect("t");
        if t % 7 == 0 {
            assert!(r[1].is_null(), "{t} should be a gap");
        } else {
            assert_eq!(r[1].as_f64(), Some(33.33333), "{t}");
        }
    }
    // hidden dimensions are left out unless asked for
    assert_eq!(v["labels"], serde_json::json!(["time", "sys tem"]));
    let all: serde_json::Value = serde_json::from_str(&f.get_ok("/api/v1/data?chart=system.cpu&after=-5", NOW)).expect("json");
    assert_eq!(all["labels"], serde_json::json!(["time", "user", "sys tem"]));
    let with: serde_json::Value = serde_json::from_str(&f.get_ok("/api/v1/data?chart=system.cpu&after=-5&options=all-dimensions", NOW)).expect("json");
    assert_eq!(with["labels"], serde_json::json!(["time", "user", "sys tem", "guest"]));
}

#[test]
fn bad_requests_get_4xx_with_a_message() {
    let f = fixture();
    for (target, status, needle) in [
        ("/api/v1/data?chart=nope", 404, "No metrics where matched to query."),
        ("/host/nobody/api/v1/data?chart=system.cpu", 404, "does not maintain a database for host: nobody"),
        ("/api/v1/data", 400, "No chart or context is given."),
        ("/api/v1/data?chart=system.cpu&points=-1", 400, "points=-1"),
        ("/api/v1/data?chart=system.cpu&after=1795639999&before=1795639000", 400, "after=1795639999 is later than before"),
        ("/api/v1/data?chart=system.cpu&group=foo", 400, "group"),
        ("/api/v1/data?chart=system.cpu&format=foo", 400, "format"),
        ("/api/v1/data?chart=system.cpu&after=abc", 400, "'after'"),
        ("/api/v1/data?chart=system.cpu&gtime=-5", 400, "gtime"),
        ("/api/v1/chart", 400, "No chart id is given at the request."),
        ("/api/v1/chart?chart=nope", 404, "Chart is not found: nope"),
        ("/api/v1/nope", 404, "Unsupported v1 API command: nope"),
        ("/api/v1/allmetrics?format=foo", 400, "Which format?"),
        ("/api/v1/allmetrics?format=prometheus&source=raw", 400, "as-collected"),
    ] {
        let r = f.get(target, NOW);
        assert_eq!(r.status, status, "{target}: {}", r.body_str());
        assert!(r.body_str().contains(needle), "{target}: {}", r.body_str());
        assert!(r.content_type.starts_with("text/plain"), "{target}");
    }
    // a 100 KB URL never reaches routing
    let raw = format!("GET /api/v1/data?chart={} HTTP/1.1\r\n\r\n", "x".repeat(100_000));
    let err = parse_request(raw.as_bytes()).expect_err("too long");
    assert_eq!(err.status(), 414);
    let resp = String::from_utf8(err.to_response().encode(NOW, true, true)).expect("utf8");
    assert!(resp.starts_with("HTTP/1.1 414 URI Too Long\r\nConnection: close\r\n"), "{resp}");
}

#[test]
fn garbage_queries_never_panic_and_never_5xx() {
    let f = fixture();
    let values = ["", "0", "-1", "1", "-9223372036854775808", "9223372036854775807", "94608000", "-94608001", "86401", "x", "%41", "1e9", "average", "*", "!*", "|", ",,", "jsonwrap,flip,ms,percentage,abs,null2zero,nonzero,unaligned,min2max,anomaly-bit"];
    let mut rng = ndcluster::testkit::XorShift64::new(0x9E37_79B9_7F4A_7C15);
    let mut next = || rng.next_u64();
    let bases = [
        "/host/child1/api/v1/data?chart=system.load",
        "/host/gone/api/v1/data?chart=system.cpu",
        "/api/v1/data?chart=net.eth0",
        "/api/v1/allmetrics?format=prometheus",
        "/host/gone/api/v1/allmetrics?format=prometheus_all_hosts",
        "/host/child1/api/v1/chart?chart=system.cpu",
        "/api/v1/charts?x=1",
        "/host/x/api/v1/info?y=2",
    ];
    let names = ["after", "before", "points", "gtime", "tier", "options", "dimensions", "group", "format", "filter", "prefix", "help", "types", "names", "timestamps", "server", "source", "chart"];
    for _ in 0..3000 {
        let mut q = String::from(bases[(next() % bases.len() as u64) as usize]);
        for _ in 0..(next() % 5) {
            let n = names[(next() % names.len() as u64) as usize];
            let v = values[(next() % values.len() as u64) as usize];
            q.push_str(&format!("&{n}={v}"));
        }
        let Ok(req) = Request::get(&q) else { continue };
        let r = ndcluster::api::handle(&f.ctx, &req, NOW);
        assert!(r.status < 500, "{q}: {} {}", r.status, r.body_str());
    }
}

#[test]
fn unknown_paths_are_left_to_the_caller_and_extra_routes_work() {
    let f = fixture();
    assert!(try_handle(&f.ctx, &Request::get("/").expect("req"), NOW).is_none());
    assert!(try_handle(&f.ctx, &Request::get("/api/v1/nope").expect("req"), NOW).is_none());
    assert_eq!(f.get_ok("/api/v1/streaming", NOW), "{\"host\":\"parent\"}");
    assert_eq!(f.get_ok("/host/gone/api/v1/streaming", NOW), "{\"host\":\"gone\"}");
    let r = f.get("/index.html", NOW);
    assert_eq!(r.status, 404);
}

#[test]
fn prometheus_window_follows_the_scrapers_last_scrape() {
    let f = fixture();
    let line = |body: &str| body.lines().find(|l| l.contains("dimension=\"user\"")).expect("user line").to_string();
    // first scrape: now-10 .. now → points now-12 … now-3, average of k/4
    let first = f.get_ok("/host/child1/api/v1/allmetrics?format=prometheus&server=s1&filter=system.cpu", NOW);
    // k = t - (NOW - 120): t from NOW-12 to NOW-3 → k 108…117 → mean 112.5 / 4
    assert_eq!(line(&first), format!("netdata_system_cpu_percentage_average{{chart=\"system.cpu\",family=\"cpu\",dimension=\"user\"}} 28.1250000 {}", (NOW - 3) * 1000));
    // two seconds later, the same scraper only gets the new points
    let second = f.get_ok("/host/child1/api/v1/allmetrics?format=prometheus&server=s1&filter=system.cpu", NOW + 2);
    // after = NOW → NOW-2 … before = NOW+2-2-1 = NOW-1 (clipped to the last point NOW-1)
    assert_eq!(line(&second), format!("netdata_system_cpu_percentage_average{{chart=\"system.cpu\",family=\"cpu\",dimension=\"user\"}} 29.6250000 {}", (NOW - 1) * 1000));
    // the hidden dimension is exported, and a host label with CONFIG source is in netdata_info
    assert!(first.contains("dimension=\"guest\""));
    assert!(first.starts_with("netdata_info{instance=\"child1\",application=\"netdata\",version=\"v1.37.1\",env=\"lab\"} 1 "), "{first}");
    // offline host: no samples, only netdata_info
    let gone = f.get_ok("/host/gone/api/v1/allmetrics?format=prometheus", NOW);
    assert_eq!(gone.lines().count(), 1, "{gone}");
}

#[test]
fn pipelined_requests_and_head() {
    let raw = b"GET /api/v1/info HTTP/1.1\r\nHost: a\r\n\r\nHEAD /api/v1/charts HTTP/1.0\r\n\r\n";
    let (r1, n1) = parse_request(raw).expect("ok").expect("complete");
    let (r2, n2) = parse_request(&raw[n1..]).expect("ok").expect("complete");
    assert_eq!(n1 + n2, raw.len());
    assert!(r1.keep_alive);
    assert!(!r2.keep_alive);
    assert_eq!(r2.method, http::Method::Head);
    let f = fixture();
    let resp = ndcluster::api::handle(&f.ctx, &r2, NOW);
    let bytes = resp.encode(NOW, r2.keep_alive, false);
    let text = String::from_utf8(bytes).expect("utf8");
    assert!(text.ends_with("\r\n\r\n"));
    assert!(text.contains(&format!("Content-Length: {}\r\n", resp.body.len())));
}
