//! The LZ4 layer against a stream recorded from a real Netdata 1.37.1 child with compression on
//! (`tests/fixtures/proto/record_compressed.py`; the `.plain` reference was decoded by the
//! system liblz4, independently of our decoder).

use std::path::Path;

use ndcluster::proto::compress::{Compressor, Decompressor};
use ndcluster::proto::handshake::{negotiate_parent, Capabilities, Reply};
use ndcluster::proto::reader::ReadError;
use ndcluster::proto::request::StreamRequest;
use ndcluster::proto::{Command, LineReader, MAX_LINE_LEN};

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proto").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn real_child_offers_compression_and_gets_it() {
    let (req, _) = StreamRequest::parse(&fixture("c2p-compressed.request")).ok().flatten().expect("request");
    assert_eq!(req.ver, Some(16376));
    let caps = negotiate_parent(req.ver, Capabilities::NETDATA_1_37_ALL, true);
    assert_eq!(Reply::greeting_for(caps).encode(), b"Hit me baby, push them over with the version=16320");
    assert!(caps.contains(Capabilities::COMPRESSION));
}

#[test]
fn decoder_matches_liblz4_on_a_real_child_stream() {
    let wire = fixture("c2p-compressed.lz4stream");
    let want = fixture("c2p-compressed.plain");
    // whole buffer at once
    let mut d = Decompressor::new();
    let mut plain = Vec::new();
    assert_eq!(d.decode(&wire, &mut plain), Ok(wire.len()));
    assert_eq!(plain.len(), want.len());
    assert!(plain == want, "decoded bytes differ from liblz4's");
    assert!(d.frames() > 1000);
    // and with history references spanning many frames, fed in odd pieces
    let mut d = Decompressor::new();
    let (mut plain, mut pending) = (Vec::new(), Vec::new());
    for piece in wire.chunks(1001) {
        pending.extend_from_slice(piece);
        let used = d.decode(&pending, &mut plain).expect("decode");
        pending.drain(..used);
    }
    assert!(plain == want);
}

#[test]
fn every_line_of_the_real_compressed_stream_parses() {
    let wire = fixture("c2p-compressed.lz4stream");
    let want = fixture("c2p-compressed.plain");
    let mut r = LineReader::new(MAX_LINE_LEN);
    r.enable_compression();
    let mut n = 0;
    let mut charts = 0;
    for piece in wire.chunks(4096) {
        r.feed(piece).expect("feed");
        while let Some(line) = r.next_line() {
            let line = line.expect("line");
            match Command::parse(line) {
                Ok(Command::Chart(_)) => charts += 1,
                Ok(_) => {}
                Err(e) => panic!("line {n}: {e}"),
            }
            n += 1;
        }
    }
    assert_eq!(n, want.iter().filter(|&&b| b == b'\n').count());
    assert!(charts > 100, "{charts}");
    // the recording was cut at a frame boundary; with BINARY that may be inside a line
    let tail = want.len() - want.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    match r.finish() {
        Ok(()) => assert_eq!(tail, 0),
        Err(ReadError::Truncated { partial_line, partial_frame: 0 }) => assert_eq!(partial_line, tail),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn our_encoder_round_trips_the_real_plaintext() {
    let plain = fixture("c2p-compressed.plain");
    for binary in [true, false] {
        let mut wire = Vec::new();
        let mut c = Compressor::new(binary);
        // logical blocks of varying size, like a sender's buffer flushes
        for block in plain.chunks(20_000) {
            c.compress(block, &mut wire).expect("compress");
        }
        assert!(wire.len() < plain.len() / 2, "{} -> {}", plain.len(), wire.len());
        let mut out = Vec::new();
        assert_eq!(Decompressor::new().decode(&wire, &mut out), Ok(wire.len()));
        assert!(out == plain);
    }
}
