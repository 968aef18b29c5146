//! Cost of one collection pass of this machine (`ProcCollector::collect` on `/`), reported
//! per pass with the number of dimensions as throughput elements.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ndcluster::collect::proc::{DaemonCounters, NetdataSelf, ProcCollector};

fn collect_pass(c: &mut Criterion) {
    let mut p = ProcCollector::new("/", 1);
    let dims = p.collect().dimension_count() as u64;
    let mut g = c.benchmark_group("proc");
    g.throughput(Throughput::Elements(dims.max(1)));
    let mut now = 1_000_000_000;
    g.bench_function("collect_pass", |b| {
        b.iter(|| {
            now += 1;
            p.collect_at(now).charts.len()
        })
    });
    let mut s = NetdataSelf::new("/", 1);
    let counters = DaemonCounters::default();
    g.bench_function("self_pass", |b| {
        b.iter(|| s.collect(&counters).charts.len())
    });
    g.finish();
}

criterion_group!(benches, collect_pass);
criterion_main!(benches);
