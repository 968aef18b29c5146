//! Micro-benchmarks of the API's hot parts: request parsing and a `/api/v1/data` query over an
//! in-memory store (10 dimensions × 1 h of 1 s points).

use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ndcluster::api::{handle, parse_request, ApiContext, NoLiveStatus, Request};
use ndcluster::model::{ChartMeta, DimMeta, HostMeta};
use ndcluster::storage::mem::MemStore;
use ndcluster::storage::{Store, StoreConfig, StorageNumber};

const NOW: i64 = 1_795_640_000;

fn parse(c: &mut Criterion) {
    let raw = b"GET /host/child1/api/v1/data?chart=system.cpu&after=-600&points=60&group=average&format=json&options=jsonwrap%7Cms HTTP/1.1\r\nHost: 127.0.0.1:19999\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n";
    let mut g = c.benchmark_group("http");
    g.throughput(Throughput::Bytes(raw.len() as u64));
    g.bench_function("parse_request", |b| b.iter(|| parse_request(black_box(raw))));
    g.finish();
}

fn data(c: &mut Criterion) {
    let store = Arc::new(MemStore::new(StoreConfig::default()));
    let guid = "11111111-0000-0000-0000-000000000001";
    let h = store.put_host(&HostMeta { guid: guid.into(), hostname: "local".into(), update_every: 1, ..Default::default() }).expect("host");
    let chart = ChartMeta { id: "system.cpu".into(), name: "system.cpu".into(), update_every: 1, context: "system.cpu".into(), units: "%".into(), ..Default::default() };
    let cid = store.put_chart(h, &chart).expect("chart");
    for d in 0..10 {
        let id = format!("d{d}");
        let s = store.put_dimension(cid, &DimMeta { id: id.clone(), name: id, multiplier: 1, divisor: 1, ..Default::default() }).expect("dim");
        for t in NOW - 3600..NOW {
            store.write(s, t, StorageNumber::pack((t % 97) as f64 / 7.0, 0)).expect("write");
        }
    }
    let ctx = ApiContext::new(store, Arc::new(NoLiveStatus), guid);
    let mut g = c.benchmark_group("data");
    for (name, q, points) in [
        ("600s_natural", "/api/v1/data?chart=system.cpu&after=-600", 600u64),
        ("3600s_60points_jsonwrap", "/api/v1/data?chart=system.cpu&after=-3600&points=60&options=jsonwrap", 3600),
        ("prometheus", "/api/v1/allmetrics?format=prometheus", 100),
    ] {
        let req = Request::get(q).expect("request");
        g.throughput(Throughput::Elements(points * 10));
        g.bench_function(name, |b| b.iter(|| handle(&ctx, black_box(&req), NOW)));
    }
    g.finish();
}

criterion_group!(benches, parse, data);
criterion_main!(benches);
