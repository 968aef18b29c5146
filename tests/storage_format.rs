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

/// Writes the fixture's data with today's code: a clean store and a crashed copy (as
/// [`write_fixture`]).
fn write_today(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let clean = root.join("clean");
    {
        let s = DiskStore::open(&clean, config()).expect("open");
        let ids = declare(&s);
        write_range(&s, &ids, 0, N, 0, &|s: &DiskStore| s.checkpoint().expect("checkpoint"));
    }
    let live = root.join("live");
    let crashed = root.join("crashed");
    let s = DiskStore::open(&live, config()).expect("open");
    let ids = declare(&s);
    write_range(&s, &ids, 0, N, 0, &|s: &DiskStore| s.checkpoint().expect("checkpoint"));
    s.flush().expect("flush");
    copy_dir(&live, &crashed);
    drop(s);
    let _ = std::fs::remove_file(crashed.join("LOCK"));
    (clean, crashed)
}

fn tier0_bytes(dir: &Path) -> u64 {
    data_files(dir)
        .iter()
        .filter(|f| f.parent().is_some_and(|p| p.ends_with("tier0")))
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .sum()
}

fn set_aside(dir: &Path) -> Vec<std::path::PathBuf> {
    (0..3)
        .flat_map(|k| std::fs::read_dir(dir.join(format!("tier{k}"))).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".corrupt"))
        .collect()
}

/// Today's files are format 3 (format 2 headers; pages may hold lattice blocks), hold the same points as the format-1 fixture in fewer bytes,
/// and read back exactly, clean or after a crash.
#[test]
fn format_2_is_smaller_and_reads_back() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (clean, crashed) = write_today(tmp.path());
    let old = tier0_bytes(&Path::new(FIXTURE).join("clean"));
    let new = tier0_bytes(&clean);
    eprintln!("tier 0: format 1 {old} bytes, format 2 {new} bytes");
    assert!(new < old, "format 2 {new} bytes, format 1 {old}");
    for (name, dir) in [("clean", &clean), ("crashed", &crashed)] {
        let files = data_files(dir);
        assert!(files.len() >= 4 && files.iter().all(|f| version(f) == 3), "{name}: {files:?}");
        let s = DiskStore::open(dir, config()).expect("open");
        assert!(set_aside(dir).is_empty(), "{name}");
        same_as_reference(&s, &[(0, N, 0)], &format!("{name}, format 2"));
    }
}

/// A flipped byte anywhere in the compact header of the first record of a sealed data file:
/// the file is set aside (renamed `*.corrupt`), everything else reads back exactly. The same for
/// a format-1 file of the fixture.
#[test]
fn a_flipped_byte_in_a_record_header_sets_the_file_aside() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (clean, _) = write_today(tmp.path());
    let (_old_tmp, old) = fixture_copy("clean");
    // header bytes of the first record (format 2: ~16 from byte 32; format 1: 48)
    for (fmt, src, bytes) in [(2, &clean, 32..50usize), (1, &old, 32..80)] {
        for at in bytes {
            let dir = tmp.path().join(format!("flip{fmt}-{at}"));
            copy_dir(src, &dir);
            let victim = data_files(&dir).into_iter().find(|f| f.ends_with("tier0/0000000002.ndd")).expect("victim");
            let mut b = std::fs::read(&victim).expect("read");
            b[at] ^= 0x10;
            std::fs::write(&victim, &b).expect("write");
            let s = DiskStore::open(&dir, config()).expect("open after corruption");
            assert!(!victim.exists(), "format {fmt}, byte {at}: corrupt file still in place");
            assert_eq!(set_aside(&dir).len(), 1, "format {fmt}, byte {at}");
            // what is left is exact: a subset of the reference, with the newest points
            let (m, mids) = reference(&[(0, N, 0)]);
            for (k, (&id, &mid)) in declare(&s).iter().zip(&mids).enumerate() {
                let want = read(&m, mid, 0);
                let got = read(&s, id, 0);
                assert!(got.len() < want.len() || k == 1, "format {fmt}, byte {at}: series {k} lost nothing");
                let mut j = 0;
                for g in &got {
                    while j < want.len() && want[j].time < g.time {
                        j += 1;
                    }
                    assert!(j < want.len() && want[j].time == g.time && want[j].sum.to_bits() == g.sum.to_bits(), "format {fmt}, byte {at}: series {k} at {}", g.time);
                }
                assert_eq!(got.last().map(|p| p.time), want.last().map(|p| p.time), "format {fmt}, byte {at}: series {k} newest point");
            }
            drop(s);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// A crash that tore the last record of the active data file (cut anywhere in it): the file
/// keeps the records before it and is sealed, nothing is set aside, and every point from the
/// WAL is there.
#[test]
fn a_torn_last_record_is_cut_and_the_wal_fills_in() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (_, crashed) = write_today(tmp.path());
    let active = data_files(&crashed).into_iter().filter(|f| f.parent().is_some_and(|p| p.ends_with("tier0"))).max().expect("tier0 file");
    let full = std::fs::metadata(&active).expect("len").len();
    for cut in [1u64, 3, 9, 17, 100, 400] {
        let dir = tmp.path().join(format!("torn{cut}"));
        copy_dir(&crashed, &dir);
        let victim = dir.join("tier0").join(active.file_name().expect("name"));
        let f = std::fs::OpenOptions::new().write(true).open(&victim).expect("open");
        f.set_len(full - cut).expect("cut");
        drop(f);
        let s = DiskStore::open(&dir, config()).expect("open after a torn write");
        assert!(set_aside(&dir).is_empty(), "cut {cut}");
        let kept = std::fs::metadata(&victim).expect("len").len();
        assert!(kept < full - cut + 24, "cut {cut}: torn record kept ({kept} of {full})");
        // every point since the last checkpoint is in the WAL; all read back exactly
        let (m, mids) = reference(&[(0, N, 0)]);
        for (k, (&id, &mid)) in declare(&s).iter().zip(&mids).enumerate() {
            let want = read(&m, mid, 0);
            let got = read(&s, id, 0);
            let since = T0 + CHECKPOINT_AT;
            let w: Vec<_> = want.iter().filter(|p| p.time >= since).collect();
            let g: Vec<_> = got.iter().filter(|p| p.time >= since).collect();
            assert_eq!(g.len(), w.len(), "cut {cut}: series {k}");
            for (a, b) in g.iter().zip(&w) {
                assert_eq!((a.time, a.sum.to_bits()), (b.time, b.sum.to_bits()), "cut {cut}: series {k}");
            }
            for a in &got {
                assert!(want.iter().any(|b| b.time == a.time && b.sum.to_bits() == a.sum.to_bits()), "cut {cut}: series {k} at {}", a.time);
            }
        }
    }
}

/// Tier-0 aggregate scan of the corpus (as `benches/storage.rs` `storage_scan`), without the
/// bench's size report: `cargo test --release --test storage_format -- --ignored scan_speed
/// --nocapture` (for quick A/B runs of two builds).
#[test]
#[ignore]
fn scan_speed() {
    use ndcluster::storage::corpus;
    use std::time::Instant;
    let corpus = corpus::decode(&std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/corpus/system.ndc")).expect("corpus")).expect("decode corpus");
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("db");
    let cfg = StoreConfig::default();
    let mut ids = Vec::new();
    let mut points = 0u64;
    {
        let s = DiskStore::open(&dir, cfg.clone()).expect("open");
        let h = s.put_host(&HostMeta { guid: "scan".into(), hostname: "scan".into(), update_every: 1, ..Default::default() }).expect("host");
        for c in &corpus {
            let ch = s.put_chart(h, &ChartMeta { id: c.chart.clone(), name: c.chart.clone(), update_every: c.update_every, ..Default::default() }).expect("chart");
            ids.push(s.put_dimension(ch, &DimMeta { id: c.dim.clone(), name: c.dim.clone(), multiplier: 1, divisor: 1, ..Default::default() }).expect("dim"));
        }
        let start = corpus.iter().map(|c| c.first).min().unwrap_or(0);
        let end = corpus.iter().map(|c| c.first + c.words.len() as i64 * i64::from(c.update_every)).max().unwrap_or(0);
        for t in start..end {
            for (c, &id) in corpus.iter().zip(&ids) {
                let ue = i64::from(c.update_every);
                if t < c.first || (t - c.first) % ue != 0 {
                    continue;
                }
                if let Some(&w) = c.words.get(((t - c.first) / ue) as usize).filter(|&&w| w != StorageNumber::EMPTY.0) {
                    s.write(id, t, StorageNumber(w)).expect("write");
                    points += 1;
                }
            }
        }
    }
    let s = DiskStore::open(&dir, cfg).expect("reopen");
    let mut rates = Vec::new();
    for _ in 0..40 {
        let t = Instant::now();
        let mut total = 0.0;
        for &id in &ids {
            if let Some(p) = s.aggregate(id, 0, i64::MIN / 4, i64::MAX / 4).expect("aggregate") {
                total += p.sum;
            }
        }
        std::hint::black_box(total);
        rates.push(points as f64 / t.elapsed().as_secs_f64() / 1e6);
    }
    rates.sort_by(f64::total_cmp);
    eprintln!("scan: best {:.1} M pts/s, median {:.1}", rates[rates.len() - 1], rates[rates.len() / 2]);
}
