//! The committed benchmark corpus loads, and (ignored) the tool that builds it.

use ndcluster::storage::corpus;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/corpus/system.ndc");
/// Both committed corpora: a busy hour (`system.ndc`) and a calmer one (`system-2.ndc`).
const FIXTURES: [&str; 2] = [
    FIXTURE,
    concat!(env!("CARGO_MANIFEST_DIR"), "/bench/corpus/system-2.ndc"),
];

#[test]
fn committed_corpus_loads_and_round_trips() {
    for path in FIXTURES {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        corpus_loads_and_round_trips(bytes);
    }
}

fn corpus_loads_and_round_trips(bytes: Vec<u8>) {
    let series = corpus::decode(&bytes).expect("corpus decodes");
    assert!(series.len() > 100);
    assert!(
        series.iter().any(|s| s.words.len() >= 2400),
        "at least one long series"
    );
    assert_eq!(corpus::encode(&series), bytes);
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    assert!(corpus::decode(&bad).is_err());
}

/// Every series of the real corpus round-trips through the tier-0 page codec, word for word,
/// cut into pages as the store cuts them (its lattice and ratio blocks are checked on real
/// memory and CPU charts here).
#[test]
fn committed_corpus_round_trips_through_the_page_codec() {
    use ndcluster::storage::codec::{decode_numbers, NumEncoder};
    for path in FIXTURES {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let series = corpus::decode(&bytes).expect("corpus decodes");
        let (mut points, mut encoded) = (0usize, 0usize);
        for s in &series {
            let words: Vec<u32> = s.points().map(|(_, w)| w.0).collect();
            for page in words.chunks(700) {
                let mut e = NumEncoder::default();
                for &w in page {
                    e.push(w);
                }
                let mut buf = Vec::new();
                e.finish_into(&mut buf);
                let (mut pos, mut out) = (0, Vec::new());
                decode_numbers(&buf, &mut pos, page.len(), &mut out).expect("decodes");
                assert_eq!(out, page, "{}.{}", s.chart, s.dim);
                assert_eq!(pos, buf.len());
                points += page.len();
                encoded += buf.len();
            }
        }
        eprintln!(
            "{path}: {points} points, {encoded} bytes ({:.3} B/pt)",
            encoded as f64 / points as f64
        );
        assert!(points > 2_000_000);
    }
}

/// `NDCLUSTER_CORPUS_RAW=/tmp/raw.json cargo test -p ndcluster --test storage_corpus -- --ignored build`
#[test]
#[ignore]
fn build_corpus_fixture() {
    let raw = std::env::var("NDCLUSTER_CORPUS_RAW").expect("NDCLUSTER_CORPUS_RAW");
    let out = std::env::var("NDCLUSTER_CORPUS_OUT").unwrap_or_else(|_| FIXTURE.to_string());
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&raw).expect("raw")).expect("json");
    let series = corpus::from_pull_json(&v);
    let bytes = corpus::encode(&series);
    std::fs::write(&out, &bytes).expect("write");
    let points: usize = series.iter().map(|s| s.points().count()).sum();
    eprintln!(
        "{} series, {points} points, {} bytes -> {out}",
        series.len(),
        bytes.len()
    );
}

/// `NDCLUSTER_CORPUS=... cargo test --test storage_corpus -- --ignored breakdown --nocapture`
#[test]
#[ignore]
fn codec_breakdown() {
    use ndcluster::storage::codec::NumEncoder;
    let path = std::env::var("NDCLUSTER_CORPUS").unwrap_or_else(|_| FIXTURE.to_string());
    let series = corpus::decode(&std::fs::read(path).expect("read")).expect("decode");
    let mut rows = Vec::new();
    let (mut tot_b, mut tot_lz, mut tot_p) = (0usize, 0usize, 0usize);
    for s in &series {
        let mut e = NumEncoder::default();
        let mut n = 0;
        for (_, w) in s.points() {
            e.push(w.0);
            n += 1;
        }
        let mut buf = Vec::new();
        e.finish_into(&mut buf);
        let lz = lz4_flex::block::compress_prepend_size(&buf)
            .len()
            .min(buf.len());
        tot_b += buf.len();
        tot_lz += lz;
        tot_p += n;
        rows.push((
            lz,
            buf.len(),
            n,
            format!("{}.{}", s.chart, s.dim),
            s.points()
                .take(6)
                .map(|(_, w)| w.value())
                .collect::<Vec<_>>(),
        ));
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    eprintln!("total: {tot_p} points, {tot_b} bytes raw-encoded ({:.3} B/pt), {tot_lz} with lz4 ({:.3} B/pt)", tot_b as f64 / tot_p as f64, tot_lz as f64 / tot_p as f64);
    let zero = rows.iter().filter(|r| r.1 <= 16).count();
    eprintln!("{zero} series encode in <= 16 bytes");
    for r in rows.iter().take(
        std::env::var("NDCLUSTER_TOP")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(40),
    ) {
        eprintln!("{:6} {:6} {:5} {} {:?}", r.0, r.1, r.2, r.3, r.4);
    }
}

/// The memory and CPU charts of the calmer corpus (where lattice and ratio blocks are most of
/// their pages) written into a `DiskStore` point by point, live-style, then read back from a
/// reopened store: every tier-0 value is the corpus value.
#[test]
fn memory_and_cpu_charts_read_back_from_a_reopened_disk_store() {
    use ndcluster::storage::disk::DiskStore;
    use ndcluster::storage::{Store, StoreConfig, WriteCounts};
    let bytes = std::fs::read(FIXTURES[1]).expect("fixture");
    let series: Vec<_> = corpus::decode(&bytes)
        .expect("decodes")
        .into_iter()
        .filter(|s| {
            s.chart.starts_with("mem.")
                || s.chart.starts_with("system.ram")
                || s.chart == "system.cpu"
                || s.chart.starts_with("cpu.cpu0")
        })
        .filter(|s| s.update_every == 1)
        .collect();
    assert!(series.len() > 30, "{} series", series.len());
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("db");
    let ids: Vec<_> = {
        let s = DiskStore::open(&dir, StoreConfig::default()).expect("open");
        let ids = corpus::declare(&s, &series, "corpus").expect("declare");
        let (start, end) = (
            series.iter().map(|c| c.first).min().expect("series"),
            series
                .iter()
                .map(|c| c.first + c.words.len() as i64)
                .max()
                .expect("series"),
        );
        let mut counts = WriteCounts::default();
        for t in start..end {
            let row: Vec<_> = series
                .iter()
                .zip(&ids)
                .filter_map(|(c, &id)| {
                    let w = *c.words.get(usize::try_from(t - c.first).ok()?)?;
                    Some((id, t, ndcluster::storage::StorageNumber(w)))
                })
                .collect();
            s.write_many(&row, &mut counts).expect("write");
        }
        assert_eq!(counts.overlap, 0);
        ids
    };
    let s = DiskStore::open(&dir, StoreConfig::default()).expect("reopen");
    let mut out = Vec::new();
    let mut points = 0;
    for (c, &id) in series.iter().zip(&ids) {
        out.clear();
        s.read(id, 0, i64::MIN / 4, i64::MAX / 4, &mut out)
            .expect("read");
        let want: Vec<(i64, f64)> = c.points().map(|(t, n)| (t, n.value())).collect();
        let got: Vec<(i64, f64)> = out.iter().map(|p| (p.time, p.sum)).collect();
        assert_eq!(got, want, "{}.{}", c.chart, c.dim);
        points += want.len();
    }
    assert!(points > 100_000, "{points}");
}
