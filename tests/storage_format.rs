//! Data-file format versions: a store written by an older version of the code opens and reads
//! back exactly, and new data files written next to old ones read back too.
//!
//! `tests/fixtures/store-v1/` was written by the format-1 code (48-byte page record headers),
//! with `NDCLUSTER_WRITE_STORE_FIXTURE=1 cargo test --test storage_format -- --ignored
//! write_fixture` at commit bed50e8: `clean/` is a store closed normally (every data file
//! sealed), `crashed/` a copy taken while the store was open, after a `flush()` (its active data
//! file unsealed, the rest of its points only in the WAL), as after a `kill -9`.

use std::path::Path;

use ndcluster::model::{ChartMeta, DimMeta, HostMeta};
use ndcluster::storage::disk::DiskStore;
use ndcluster::storage::mem::MemStore;
use ndcluster::storage::number::{StorageNumber, FLAG_NOT_ANOMALOUS, FLAG_RESET};
use ndcluster::storage::*;

const T0: i64 = 1_700_000_000;
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/store-v1");
/// Points per series (1-s series; the 10-s one gets a tenth).
const N: i64 = 6000;
/// Checkpoint after this many seconds of data (before it, pages are only cut when full).
const CHECKPOINT_AT: i64 = 5200;

fn config() -> StoreConfig {
    let tier = |iterations| TierConfig {
        iterations,
        // 128 KiB a tier: data files of 16 KiB, so tier 0 has several
        retention_bytes: 1 << 17,
        retention_secs: 0,
    };
    StoreConfig {
        tiers: vec![tier(1), tier(10), tier(10)],
        flush_interval_secs: 1,
    }
}

/// The series: (chart, update every, dimension).
const SERIES: [(&str, u32, &str); 5] = [
    ("fmt.a", 1, "noisy"),
    ("fmt.a", 1, "constant"),
    ("fmt.a", 1, "periodic"),
    ("fmt.b", 1, "counter"),
    ("fmt.slow", 10, "slow"),
];

/// The word of series `k` at step `i` (`None`: a gap).
fn word(k: usize, i: i64) -> Option<StorageNumber> {
    if k == 3 && (1500..1700).contains(&i) {
        return None; // a hole
    }
    let flags = if i % 101 == 0 { FLAG_RESET } else { 0 } | if i % 17 == 0 { 0 } else { FLAG_NOT_ANOMALOUS };
    let x = match k {
        0 => ((i * 2_654_435_761) % 1_000_003) as f64 / 7.0,
        1 => 42.0,
        2 => [1.5, 2.25, 0.0, 7.125, 3.0, 3.0, 11.0][(i % 7) as usize],
        3 => (i * 13 + (i * i) % 7) as f64,
        _ => -((i * 31) % 977) as f64 / 3.0,
    };
    Some(StorageNumber::pack(x, flags))
}

fn declare<S: Store>(s: &S) -> Vec<SeriesId> {
    let h = s
        .put_host(&HostMeta {
            guid: "11111111-2222-3333-4444-555555555555".into(),
            hostname: "format-v1".into(),
            update_every: 1,
            ..Default::default()
        })
        .expect("host");
    SERIES
        .iter()
        .map(|&(chart, ue, d)| {
            let c = s
                .put_chart(
                    h,
                    &ChartMeta {
                        id: chart.into(),
                        name: chart.into(),
                        update_every: ue,
                        ..Default::default()
                    },
                )
                .expect("chart");
            s.put_dimension(
                c,
                &DimMeta {
                    id: d.into(),
                    name: d.into(),
                    multiplier: 1,
                    divisor: 1,
                    ..Default::default()
                },
            )
            .expect("dim")
        })
        .collect()
}

/// Writes steps `from..to` of every series (time order, as ingest does); checkpoints at
/// [`CHECKPOINT_AT`] when `checkpoint`.
fn write_range<S: Store>(s: &S, ids: &[SeriesId], from: i64, to: i64, offset: i64, checkpoint: &dyn Fn(&S)) {
    for i in from..to {
        if i == CHECKPOINT_AT {
            checkpoint(s);
        }
        for (k, &id) in ids.iter().enumerate() {
            let ue = i64::from(SERIES[k].1);
            if i % ue != 0 {
                continue;
            }
            if let Some(w) = word(k, i / ue) {
                s.write(id, T0 + offset + i, w).expect("write");
            }
        }
    }
}

/// The reference: the same writes into the in-memory twin.
fn reference(ranges: &[(i64, i64, i64)]) -> (MemStore, Vec<SeriesId>) {
    let m = MemStore::new(config());
    let ids = declare(&m);
    for &(from, to, offset) in ranges {
        write_range(&m, &ids, from, to, offset, &|_| {});
    }
    (m, ids)
}

fn read<S: Store>(s: &S, id: SeriesId, tier: usize) -> Vec<TierPoint> {
    let mut v = Vec::new();
    s.read(id, tier, 0, i64::MAX / 4, &mut v).expect("read");
    v
}

/// Every tier of every series of `s` equals the reference (tier 0 exactly; upper tiers: same
/// slots and counts, sums to f32 precision).
fn same_as_reference(s: &DiskStore, ranges: &[(i64, i64, i64)], what: &str) {
    let (m, mids) = reference(ranges);
    let ids = declare(s);
    for (k, (&id, &mid)) in ids.iter().zip(&mids).enumerate() {
        for tier in 0..3 {
            let got = read(s, id, tier);
            let want = read(&m, mid, tier);
            assert!(!want.is_empty(), "{what}: series {k} tier {tier} has no reference points");
            assert_eq!(got.len(), want.len(), "{what}: series {k} tier {tier}: point count");
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g.time, w.time, "{what}: series {k} tier {tier}");
                assert_eq!(g.count, w.count, "{what}: series {k} tier {tier} at {}", g.time);
                assert_eq!(g.anomalous, w.anomalous, "{what}: series {k} tier {tier} at {}", g.time);
                if tier == 0 {
                    assert_eq!(g.sum.to_bits(), w.sum.to_bits(), "{what}: series {k} at {}", g.time);
                } else {
                    let tol = 1e-5 * w.sum.abs().max(1.0);
                    assert!((g.sum - w.sum).abs() <= tol, "{what}: series {k} tier {tier} at {}: {} vs {}", g.time, g.sum, w.sum);
                    assert!((g.min - w.min).abs() <= 1e-5 * w.min.abs().max(1.0), "{what}: min");
                    assert!((g.max - w.max).abs() <= 1e-5 * w.max.abs().max(1.0), "{what}: max");
                }
            }
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).expect("copy");
        }
    }
}

fn data_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = (0..3)
        .flat_map(|k| std::fs::read_dir(dir.join(format!("tier{k}"))).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "ndd"))
        .collect();
    v.sort();
    v
}

/// Format version of a data file (bytes 8..12 of its header).
fn version(path: &Path) -> u32 {
    let b = std::fs::read(path).expect("read data file");
    u32::from_le_bytes([b[8], b[9], b[10], b[11]])
}

/// Writes the fixture with the code of the day (run once, by hand, at a format change).
#[test]
#[ignore]
fn write_fixture() {
    if std::env::var("NDCLUSTER_WRITE_STORE_FIXTURE").is_err() {
        return;
    }
    let out = Path::new(FIXTURE);
    let _ = std::fs::remove_dir_all(out);
    let tmp = tempfile::tempdir().expect("tmp");
    let clean = tmp.path().join("clean");
    {
        let s = DiskStore::open(&clean, config()).expect("open");
        let ids = declare(&s);
        write_range(&s, &ids, 0, N, 0, &|s: &DiskStore| s.checkpoint().expect("checkpoint"));
    }
    let live = tmp.path().join("live");
    let s = DiskStore::open(&live, config()).expect("open");
    let ids = declare(&s);
    write_range(&s, &ids, 0, N, 0, &|s: &DiskStore| s.checkpoint().expect("checkpoint"));
    s.flush().expect("flush");
    copy_dir(&live, &out.join("crashed"));
    drop(s);
    copy_dir(&clean, &out.join("clean"));
    for d in ["clean", "crashed"] {
        let _ = std::fs::remove_file(out.join(d).join("LOCK"));
    }
}

fn fixture_copy(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join(name);
    copy_dir(&Path::new(FIXTURE).join(name), &dir);
    (tmp, dir)
}

#[test]
fn fixture_is_format_1() {
    for name in ["clean", "crashed"] {
        let files = data_files(&Path::new(FIXTURE).join(name));
        assert!(files.len() >= 4, "{name}: {files:?}");
        assert!(files.iter().all(|f| version(f) == 1), "{name}: {files:?}");
    }
}

/// A store closed by the format-1 code opens and reads back exactly; data written next reads
/// back too (new files in the new format), also after another reopen.
#[test]
fn a_format_1_store_opens_reads_and_grows() {
    for name in ["clean", "crashed"] {
        let (_tmp, dir) = fixture_copy(name);
        let before = data_files(&dir);
        let s = DiskStore::open(&dir, config()).expect("open a format-1 store");
        assert!(
            !std::fs::read_dir(dir.join("tier0"))
                .expect("tier0")
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".corrupt")),
            "{name}: a format-1 file was set aside"
        );
        same_as_reference(&s, &[(0, N, 0)], &format!("{name}, format 1"));
        // grow: the next hour, new files
        let ids = declare(&s);
        write_range(&s, &ids, 0, N, N, &|s: &DiskStore| s.checkpoint().expect("checkpoint"));
        let ranges = [(0, N, 0), (0, N, N)];
        same_as_reference(&s, &ranges, &format!("{name}, both formats, open"));
        drop(s);
        let after = data_files(&dir);
        let new: Vec<_> = after.iter().filter(|f| !before.contains(f)).collect();
        assert!(!new.is_empty(), "{name}: no new data file");
        assert!(new.iter().all(|f| version(f) > 1), "{name}: new files in the old format: {new:?}");
        let s = DiskStore::open(&dir, config()).expect("reopen");
        same_as_reference(&s, &ranges, &format!("{name}, both formats, reopened"));
    }
}

/// Open time of a big store (the corpus replayed back to back, as in `benches/storage.rs`):
/// `NDCLUSTER_OPEN_REPS=23 cargo test --release --test storage_format -- --ignored open_time
/// --nocapture` (`NDCLUSTER_OPEN_DIR=DIR` keeps the store, and reuses it when it exists).
#[test]
#[ignore]
fn open_time() {
    use ndcluster::storage::corpus;
    use std::time::Instant;
    let path = std::env::var("NDCLUSTER_CORPUS")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/bench/corpus/system.ndc").to_string());
    let corpus = corpus::decode(&std::fs::read(&path).expect("corpus")).expect("decode corpus");
    let reps: i64 = std::env::var("NDCLUSTER_OPEN_REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(23);
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = std::env::var("NDCLUSTER_OPEN_DIR").map_or_else(|_| tmp.path().join("db"), Into::into);
    let cfg = StoreConfig::default();
    let declare = |s: &DiskStore| -> Vec<SeriesId> {
        let h = s
            .put_host(&HostMeta { guid: "open".into(), hostname: "open".into(), update_every: 1, ..Default::default() })
            .expect("host");
        corpus
            .iter()
            .map(|c| {
                let ch = s
                    .put_chart(h, &ChartMeta { id: c.chart.clone(), name: c.chart.clone(), update_every: c.update_every, ..Default::default() })
                    .expect("chart");
                s.put_dimension(ch, &DimMeta { id: c.dim.clone(), name: c.dim.clone(), multiplier: 1, divisor: 1, ..Default::default() })
                    .expect("dim")
            })
            .collect()
    };
    if !dir.join("metadata.ndm").exists() {
        let s = DiskStore::open(&dir, cfg.clone()).expect("open");
        let ids = declare(&s);
        let start = corpus.iter().map(|c| c.first).min().unwrap_or(0);
        let end = corpus.iter().map(|c| c.first + c.words.len() as i64 * i64::from(c.update_every)).max().unwrap_or(0);
        for r in 0..reps {
            let offset = r * (end - start);
            for t in start..end {
                if (t + offset - start) % 1800 == 1799 {
                    s.checkpoint().expect("checkpoint");
                }
                for (c, &id) in corpus.iter().zip(&ids) {
                    let ue = i64::from(c.update_every);
                    if t < c.first || (t - c.first) % ue != 0 {
                        continue;
                    }
                    match c.words.get(((t - c.first) / ue) as usize) {
                        Some(&w) if w != StorageNumber::EMPTY.0 => {
                            s.write(id, t + offset, StorageNumber(w)).expect("write");
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    let bytes: u64 = data_files(&dir).iter().map(|f| std::fs::metadata(f).map_or(0, |m| m.len())).sum();
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let s = DiskStore::open(&dir, cfg.clone()).expect("reopen");
        best = best.min(t.elapsed().as_secs_f64());
        let st = s.stats();
        eprintln!("open {:.3} s; {} data files, {bytes} bytes; tier-0 points {}", t.elapsed().as_secs_f64(), data_files(&dir).len(), st.tiers[0].points);
        drop(s);
    }
    eprintln!("best open: {best:.3} s");
}
