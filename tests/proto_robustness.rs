//! Deterministic mutation test of the receiving side (the same invariants as the
//! `stream_parser` fuzz target, runnable with plain `cargo test`): mutated, truncated and spliced
//! capture lines never panic, and whatever parses re-encodes to a line that parses as the same
//! keyword.

use std::path::Path;

use ndcluster::proto::request::StreamRequest;
use ndcluster::proto::{Command, Downstream, LineReader, ParseError, MAX_LINE_LEN};
use ndcluster::testkit::XorShift64;

fn check_line(line: &[u8]) {
    let _ = Downstream::parse(line);
    let Ok(cmd) = Command::parse(line) else { return };
    let mut out = Vec::new();
    cmd.encode(&mut out);
    assert_eq!(out.last(), Some(&b'\n'));
    match Command::parse(&out[..out.len() - 1]) {
        Ok(again) => assert_eq!(again.keyword(), cmd.keyword(), "{cmd:?}"),
        Err(e) => assert!(matches!(e, ParseError::LineTooLong { .. }), "{cmd:?}: {e}"),
    }
}

#[test]
fn mutated_capture_lines_never_panic_and_re_encode() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proto");
    let mut corpus = Vec::new();
    for f in ["c2p-head.raw", "c2p-replication.raw", "p2c-head.raw"] {
        corpus.extend(std::fs::read(dir.join(f)).expect("fixture"));
    }
    let lines: Vec<&[u8]> = corpus.split(|&b| b == b'\n').collect();
    let interesting = b" \t\r=\"'\\.-0123456789eExNnAa\xff\x00";
    let mut rng = XorShift64::new(0x9E37_79B9_7F4A_7C15);
    for _ in 0..200_000 {
        let mut l = lines[rng.below_usize(lines.len())].to_vec();
        for _ in 0..=rng.below_usize(4) {
            match rng.below_usize(5) {
                0 if !l.is_empty() => {
                    let i = rng.below_usize(l.len());
                    l[i] = interesting[rng.below_usize(interesting.len())];
                }
                1 if !l.is_empty() => l.truncate(rng.below_usize(l.len())),
                2 => {
                    let i = rng.below_usize(l.len() + 1);
                    l.insert(i, interesting[rng.below_usize(interesting.len())]);
                }
                3 => {
                    let other = lines[rng.below_usize(lines.len())];
                    let cut = rng.below_usize(other.len() + 1);
                    l.extend_from_slice(&other[cut..]);
                }
                _ => {
                    if !l.is_empty() {
                        l.remove(rng.below_usize(l.len()));
                    }
                }
            }
        }
        check_line(&l);
    }
}

#[test]
fn random_bytes_through_every_entry_point() {
    let mut rng = XorShift64::new(0x2545_F491_4F6C_DD1D);
    for round in 0..2_000 {
        let len = rng.below_usize(3000);
        let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        let _ = StreamRequest::parse(&data);
        let mut plain = LineReader::new(MAX_LINE_LEN);
        let mut lz = LineReader::new(MAX_LINE_LEN);
        lz.enable_compression();
        // the compressed reader sees a valid-looking header now and then
        let mut framed = data.clone();
        if round % 2 == 0 && framed.len() > 4 {
            let n = framed.len() - 4;
            framed[..4].copy_from_slice(&ndcluster::proto::compress::encode_header(n.min(16383)));
        }
        for (r, d) in [(&mut plain, &data), (&mut lz, &framed)] {
            if r.feed(d).is_ok() {
                while let Some(Ok(line)) = r.next_line() {
                    check_line(line);
                }
            }
            let _ = r.finish();
        }
    }
}

#[test]
fn over_long_and_many_word_lines_are_refused_not_truncated() {
    let mut r = LineReader::new(MAX_LINE_LEN);
    let mut big = b"SET \"x\" = ".to_vec();
    big.extend(std::iter::repeat_n(b'1', MAX_LINE_LEN));
    big.push(b'\n');
    r.feed(&big).expect("feed");
    assert!(matches!(r.next_line(), Some(Err(_))));
    let words = format!("CHART a.b{}", " \"\"".repeat(25));
    assert!(matches!(Command::parse(words.as_bytes()), Err(ParseError::TooManyWords { .. })));
}
