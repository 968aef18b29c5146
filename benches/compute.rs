//! Micro-benchmark of one collection iteration (`BEGIN`, 10 × `SET`, `END`) of
//! `collect::compute::ChartState`, the per-chart hot path of ingest.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ndcluster::collect::compute::{ChartState, ComputedPoint};
use ndcluster::model::{Algorithm, ChartMeta, DimMeta};

fn chart(algorithm: Algorithm) -> ChartState {
    let meta = ChartMeta { id: "bench.chart".into(), update_every: 1, ..Default::default() };
    let dims: Vec<DimMeta> = (0..10)
        .map(|i| DimMeta { id: format!("d{i}"), name: format!("d{i}"), algorithm, multiplier: 1, divisor: 1, options: String::new() })
        .collect();
    let mut c = ChartState::with_dimensions(&meta, &dims).expect("chart");
    c.replay_start();
    c.replay_chart_state(1_795_635_780_250_000, 1_795_635_780_000_000);
    c.replay_end(1, true);
    c
}

fn bench_end(crit: &mut Criterion) {
    let mut g = crit.benchmark_group("compute_iteration_10_dims");
    g.throughput(Throughput::Elements(10));
    for (name, alg) in [("absolute", Algorithm::Absolute), ("incremental", Algorithm::Incremental), ("pct_incremental_row", Algorithm::PercentageOfIncrementalRow)] {
        let mut c = chart(alg);
        let mut out: Vec<ComputedPoint> = Vec::with_capacity(16);
        let mut v: i64 = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                v += 1000;
                c.begin(1_000_000, 0);
                for d in 0..10 {
                    c.set(d, Some(v + d as i64)).expect("set");
                }
                out.clear();
                c.end(0, &mut out);
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_end);
criterion_main!(benches);
