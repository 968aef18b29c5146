//! The committed benchmark corpus loads, and (ignored) the tool that builds it.

use ndcluster::storage::corpus;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/corpus/system.ndc");

#[test]
fn committed_corpus_loads_and_round_trips() {
    let Ok(bytes) = std::fs::read(FIXTURE) else { return };
    let series = corpus::decode(&bytes).expect("corpus decodes");
    assert!(series.len() > 100);
    assert!(series.iter().any(|s| s.words.len() >= 3000), "at least one long series");
    assert_eq!(corpus::encode(&series), bytes);
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    assert!(corpus::decode(&bad).is_err());
}

/// `NDCLUSTER_CORPUS_RAW=/tmp/raw.json cargo test -p ndcluster --test storage_corpus -- --ignored build`
#[test]
#[ignore]
fn build_corpus_fixture() {
    let raw = std::env::var("NDCLUSTER_CORPUS_RAW").expect("NDCLUSTER_CORPUS_RAW");
    let out = std::env::var("NDCLUSTER_CORPUS_OUT").unwrap_or_else(|_| FIXTURE.to_string());
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&raw).expect("raw")).expect("json");
    let series = corpus::from_pull_json(&v);
    let bytes = corpus::encode(&series);
    std::fs::write(&out, &bytes).expect("write");
    let points: usize = series.iter().map(|s| s.points().count()).sum();
    eprintln!("{} series, {points} points, {} bytes -> {out}", series.len(), bytes.len());
}
