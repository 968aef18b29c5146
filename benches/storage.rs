//! Storage benchmarks on the real-metrics corpus (`bench/corpus/system.ndc`, or the file named
//! by `NDCLUSTER_CORPUS`): a one-off size/memory report on stderr (also for the second committed
//! corpus, `bench/corpus/system-2.ndc`, when no corpus is named), then criterion groups for
//! the write path (tier 0 + roll-ups), the tier-0 aggregate scan and a 24 h / 10-dimension
//! query at 300 points.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ndcluster::model::{ChartMeta, DimMeta, HostMeta};
use ndcluster::storage::corpus::{self, CorpusSeries};
use ndcluster::storage::disk::{DiskStore, CHECKPOINT_SECS};
use ndcluster::storage::*;

fn load_corpus() -> Vec<CorpusSeries> {
    let path = std::env::var("NDCLUSTER_CORPUS").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/bench/corpus/system.ndc").to_string()
    });
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    corpus::decode(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn config() -> StoreConfig {
    StoreConfig::default()
}

/// Declares every corpus series in `s` (one chart per corpus chart).
fn declare(s: &DiskStore, corpus: &[CorpusSeries], host: &str) -> Vec<SeriesId> {
    corpus::declare(s, corpus, host).expect("declare")
}

/// Writes the corpus in time order (as ingest does), shifted by `offset` seconds. With
/// `checkpoints`, checkpoints every [`CHECKPOINT_SECS`] of data time (as the daemon does by wall
/// clock) and returns the largest open state seen just before one.
fn ingest_with(
    s: &DiskStore,
    corpus: &[CorpusSeries],
    ids: &[SeriesId],
    offset: i64,
    checkpoints: bool,
) -> (u64, usize) {
    ingest_rotated(s, corpus, ids, offset, checkpoints, 0)
}

/// As [`ingest_with`], series `k` taking the values of corpus series `k + rotate` (when their
/// update every match), so replays of the corpus are not verbatim repeats.
fn ingest_rotated(
    s: &DiskStore,
    corpus: &[CorpusSeries],
    ids: &[SeriesId],
    offset: i64,
    checkpoints: bool,
    rotate: usize,
) -> (u64, usize) {
    let start = corpus.iter().map(|c| c.first).min().unwrap_or(0);
    let end = corpus
        .iter()
        .map(|c| c.first + c.words.len() as i64 * i64::from(c.update_every))
        .max()
        .unwrap_or(0);
    let mut n = 0;
    let mut peak = 0;
    let sources: Vec<&CorpusSeries> = (0..corpus.len())
        .map(|k| {
            let o = &corpus[(k + rotate) % corpus.len()];
            if o.update_every == corpus[k].update_every && o.first == corpus[k].first {
                o
            } else {
                &corpus[k]
            }
        })
        .collect();
    for t in start..end {
        if checkpoints && t + offset > start && (t + offset - start) % CHECKPOINT_SECS as i64 == 0 {
            peak = peak.max(s.open_state_bytes().0);
            s.checkpoint().expect("checkpoint");
        }
        for (c, &id) in sources.iter().zip(ids) {
            let ue = i64::from(c.update_every);
            if t < c.first || (t - c.first) % ue != 0 {
                continue;
            }
            let i = ((t - c.first) / ue) as usize;
            let Some(&w) = c.words.get(i) else { continue };
            if w == number::EMPTY {
                continue;
            }
            if s.write(id, t + offset, StorageNumber(w)).expect("write") == WriteOutcome::Stored {
                n += 1;
            }
        }
    }
    if checkpoints {
        peak = peak.max(s.open_state_bytes().0);
    }
    (n, peak)
}

fn ingest(s: &DiskStore, corpus: &[CorpusSeries], ids: &[SeriesId], offset: i64) -> u64 {
    ingest_with(s, corpus, ids, offset, false).0
}

fn dir_bytes(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

fn report(corpus: &[CorpusSeries]) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("db");
    let rss0 = rss_bytes();
    let s = DiskStore::open(&dir, config()).expect("open");
    let ids = declare(&s, corpus, "report");
    let t = std::time::Instant::now();
    let (n, peak) = ingest_with(&s, corpus, &ids, 0, true);
    let el = t.elapsed();
    let (open_bytes, nseries) = s.open_state_bytes();
    eprintln!("process RSS growth during ingest (store state + metadata + WAL buffer): {:.0} bytes/series", rss_bytes().saturating_sub(rss0) as f64 / nseries.max(1) as f64);
    eprintln!(
        "peak open state (before a checkpoint): {peak} bytes = {:.0} bytes/series",
        peak as f64 / nseries.max(1) as f64
    );
    let stats = s.stats();
    drop(s);
    eprintln!("corpus: {} series, {n} tier-0 points, ingest (time-ordered, one thread, with checkpoints) {:.1} M points/s", corpus.len(), n as f64 / el.as_secs_f64() / 1e6);
    for (k, u) in stats.tiers.iter().enumerate() {
        let b = dir_bytes(&dir.join(format!("tier{k}")));
        eprintln!(
            "tier {k}: {} points, {b} bytes on disk, {:.3} bytes/point",
            u.points,
            b as f64 / u.points.max(1) as f64
        );
    }
    eprintln!("open state at the end of ingest: {open_bytes} bytes for {nseries} series = {:.0} bytes/series", open_bytes as f64 / nseries.max(1) as f64);
    let s = DiskStore::open(&dir, config()).expect("reopen");
    eprintln!("page index after reopen: {} bytes", s.index_bytes());
    drop(s);

    // Upper tiers need a longer history: the corpus replayed back to back for a day.
    let reps = (86_400
        / corpus
            .iter()
            .map(|c| c.words.len() as i64)
            .max()
            .unwrap_or(1)
            .max(1))
    .clamp(1, 48);
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("db");
    let s = DiskStore::open(&dir, config()).expect("open");
    let ids = declare(&s, corpus, "day");
    let span = corpus
        .iter()
        .map(|c| c.words.len() as i64 * i64::from(c.update_every))
        .max()
        .unwrap_or(1);
    let mut peak = 0;
    for r in 0..reps {
        peak = peak.max(ingest_rotated(&s, corpus, &ids, r * span, true, r as usize * 97).1);
    }
    let (_, nseries) = s.open_state_bytes();
    let stats = s.stats();
    drop(s);
    eprintln!("corpus replayed {reps} times back to back (series rotated each time); peak open state {:.0} bytes/series:", peak as f64 / nseries.max(1) as f64);
    for (k, u) in stats.tiers.iter().enumerate() {
        let b = dir_bytes(&dir.join(format!("tier{k}")));
        eprintln!(
            "  tier {k}: {} points, {b} bytes on disk, {:.3} bytes/point",
            u.points,
            b as f64 / u.points.max(1) as f64
        );
    }
}

fn benches(c: &mut Criterion) {
    let corpus = load_corpus();
    report(&corpus);
    let second = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/corpus/system-2.ndc");
    if std::env::var("NDCLUSTER_CORPUS").is_err() && Path::new(second).exists() {
        let bytes = std::fs::read(second).unwrap_or_else(|e| panic!("{second}: {e}"));
        eprintln!("--- second corpus, {second}:");
        report(&corpus::decode(&bytes).unwrap_or_else(|e| panic!("{second}: {e}")));
    }
    if std::env::var("NDCLUSTER_REPORT_ONLY").is_ok() {
        return;
    }
    let points: u64 = corpus.iter().map(|c| c.points().count() as u64).sum();

    // --- page codec alone: every series' words in pages of up to 4096 points
    {
        use ndcluster::storage::codec::{decode_numbers, NumEncoder};
        let pages: Vec<Vec<u32>> = corpus
            .iter()
            .flat_map(|c| {
                let w: Vec<u32> = c.points().map(|(_, n)| n.0).collect();
                w.chunks(4096).map(<[u32]>::to_vec).collect::<Vec<_>>()
            })
            .collect();
        let encoded: Vec<(usize, Vec<u8>)> = pages
            .iter()
            .map(|p| {
                let mut e = NumEncoder::default();
                for &w in p {
                    e.push(w);
                }
                let mut b = Vec::new();
                e.finish_into(&mut b);
                (p.len(), b)
            })
            .collect();
        let mut g = c.benchmark_group("storage_codec");
        g.throughput(Throughput::Elements(points));
        g.bench_function("encode_tier0_pages", |b| {
            b.iter(|| {
                let mut total = 0;
                for p in &pages {
                    let mut e = NumEncoder::default();
                    for &w in p {
                        e.push(w);
                    }
                    let mut out = Vec::new();
                    e.finish_into(&mut out);
                    total += out.len();
                }
                black_box(total)
            })
        });
        g.bench_function("decode_tier0_pages", |b| {
            let mut out = Vec::new();
            b.iter(|| {
                for (n, bytes) in &encoded {
                    out.clear();
                    let mut pos = 0;
                    decode_numbers(bytes, &mut pos, *n, &mut out).expect("decode");
                }
                black_box(out.len())
            })
        });
        g.finish();
    }

    // --- page codec on synthetic shapes: the worst cases of the lattice and ratio tries
    // (small integers lie on both; percentages of a wandering total are ratio blocks)
    {
        use ndcluster::storage::codec::NumEncoder;
        let mut rng = ndcluster::testkit::XorShift64::new(0x5eed_c0de);
        let n = 262_144;
        let mut v = 50i64;
        let small: Vec<f64> = (0..n)
            .map(|_| {
                v = (v + rng.below(7) as i64 - 3).clamp(0, 100);
                v as f64
            })
            .collect();
        let mut t = 200u64;
        let pct: Vec<f64> = (0..n)
            .map(|_| {
                t = (t + rng.below(3)).saturating_sub(1).clamp(150, 260);
                100.0 * rng.below(t + 1) as f64 / t as f64
            })
            .collect();
        let mut g = c.benchmark_group("storage_codec_shapes");
        g.throughput(Throughput::Elements(n as u64));
        for (name, vals) in [("int_walk_0_100", &small), ("cpu_percent", &pct)] {
            let words: Vec<u32> = vals.iter().map(|&x| StorageNumber::pack(x, 0).0).collect();
            g.bench_function(name, |b| {
                b.iter(|| {
                    let mut out = Vec::new();
                    for p in words.chunks(1024) {
                        let mut e = NumEncoder::default();
                        for &w in p {
                            e.push(w);
                        }
                        out.clear();
                        e.finish_into(&mut out);
                    }
                    black_box(out.len())
                })
            });
        }
        g.finish();
    }

    // --- write path: the whole corpus, at the head, with tier 1/2 roll-ups
    {
        let mut g = c.benchmark_group("storage_write");
        g.throughput(Throughput::Elements(points));
        g.sample_size(10);
        let tmp = tempfile::tempdir().expect("tmp");
        let s = DiskStore::open(tmp.path().join("db"), config()).expect("open");
        let ids = declare(&s, &corpus, "write");
        let span = corpus
            .iter()
            .map(|c| c.words.len() as i64 * i64::from(c.update_every))
            .max()
            .unwrap_or(1)
            + 60;
        let mut round = 0i64;
        g.bench_function("corpus_with_rollups", |b| {
            b.iter(|| {
                round += 1;
                black_box(ingest(&s, &corpus, &ids, round * span))
            })
        });
        g.finish();
    }

    // --- scan and query on a loaded store
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("db");
    let ids;
    {
        let s = DiskStore::open(&dir, config()).expect("open");
        ids = declare(&s, &corpus, "scan");
        ingest(&s, &corpus, &ids, 0);
    }
    let s = DiskStore::open(&dir, config()).expect("reopen");
    {
        let mut g = c.benchmark_group("storage_scan");
        g.throughput(Throughput::Elements(points));
        g.bench_function("tier0_aggregate_all_series", |b| {
            b.iter(|| {
                let mut total = 0.0;
                for &id in &ids {
                    if let Some(p) = s.aggregate(id, 0, i64::MIN / 4, i64::MAX / 4).expect("agg") {
                        total += p.sum;
                    }
                }
                black_box(total)
            })
        });
        g.finish();
    }
    drop(s);

    // --- 24 h of a 10-dimension chart at 1 s, queried at 300 points (tier 1 fits: 1440 >= 300)
    {
        let tmp = tempfile::tempdir().expect("tmp");
        let s = DiskStore::open(tmp.path().join("db"), config()).expect("open");
        let long: Vec<&CorpusSeries> = corpus
            .iter()
            .filter(|c| c.update_every == 1 && c.words.len() >= 600)
            .take(10)
            .collect();
        let h = s
            .put_host(&HostMeta {
                guid: "q".into(),
                hostname: "q".into(),
                update_every: 1,
                ..Default::default()
            })
            .expect("host");
        let ch = s
            .put_chart(
                h,
                &ChartMeta {
                    id: "q.chart".into(),
                    name: "q.chart".into(),
                    update_every: 1,
                    ..Default::default()
                },
            )
            .expect("chart");
        let dims: Vec<SeriesId> = (0..10)
            .map(|k| {
                s.put_dimension(
                    ch,
                    &DimMeta {
                        id: format!("d{k}"),
                        name: format!("d{k}"),
                        multiplier: 1,
                        divisor: 1,
                        ..Default::default()
                    },
                )
                .expect("dim")
            })
            .collect();
        let t0 = 1_700_000_040i64;
        let day = 86_400i64;
        for i in 0..day {
            for (k, &id) in dims.iter().enumerate() {
                let c = long[k % long.len()];
                let w = c.words[(i as usize) % c.words.len()];
                let w = if w == number::EMPTY {
                    StorageNumber::pack(0.0, number::FLAG_NOT_ANOMALOUS).0
                } else {
                    w
                };
                s.write(id, t0 + i, StorageNumber(w)).expect("write");
            }
        }
        s.checkpoint().expect("checkpoint");
        let mut g = c.benchmark_group("storage_query");
        g.throughput(Throughput::Elements(10 * day as u64));
        let (after, before, points) = (t0, t0 + day - 1, 300usize);
        for forced in [None, Some(0usize)] {
            let name = if forced.is_some() {
                "24h_10dims_300points_average_from_tier0"
            } else {
                "24h_10dims_300points_average"
            };
            g.bench_function(name, |b| {
                let mut buf = Vec::new();
                b.iter_batched(
                    || (),
                    |_| {
                        // Netdata's tier choice (tier 1 for 24 h at 300 points)
                        let tier = forced.unwrap_or_else(|| {
                            query::best_tier(&s, dims[0], after, before, points)
                        });
                        let span = ((before - after + 1) as f64 / points as f64).ceil() as i64;
                        let mut rows = Vec::with_capacity(dims.len());
                        for &id in &dims {
                            buf.clear();
                            s.read(id, tier, after, before, &mut buf).expect("read");
                            rows.push(query::group_rows(
                                &buf,
                                after + span - 1,
                                span,
                                points,
                                query::Grouping::Average,
                            ));
                        }
                        black_box(rows)
                    },
                    BatchSize::SmallInput,
                )
            });
        }
        g.finish();
    }
}

criterion_group!(storage, benches);
criterion_main!(storage);
