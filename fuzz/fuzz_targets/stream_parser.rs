//! Fuzz the whole receiving side of the stream protocol: request parsing, handshake reply
//! classification, line framing (plain and LZ4) and command parsing. Nothing may panic, and
//! every command we encode must parse again as the same kind of command.
//!
//! Run (stable toolchain): `cargo fuzz run -s none stream_parser -- -max_total_time=60`

#![no_main]

use libfuzzer_sys::fuzz_target;
use ndcluster::proto::handshake::Reply;
use ndcluster::proto::request::{is_stream_request, StreamRequest};
use ndcluster::proto::command::{rbegin_span_fast, rset_fixed7};
use ndcluster::proto::{Command, Downstream, LineReader, MAX_LINE_LEN};

fn lines(reader: &mut LineReader, data: &[u8]) {
    // feed in two pieces to exercise partial lines and frames
    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    for piece in [&data[..cut], &data[cut..]] {
        if reader.feed(piece).is_err() {
            return;
        }
        while let Some(line) = reader.next_line() {
            let Ok(line) = line else { return };
            if let Ok(cmd) = Command::parse(line) {
                let mut out = Vec::new();
                cmd.encode(&mut out);
                let again = Command::parse(&out[..out.len().saturating_sub(1)]);
                match again {
                    Ok(c2) => assert_eq!(c2.keyword(), cmd.keyword(), "{cmd:?} -> {:?}", String::from_utf8_lossy(&out)),
                    // encoding may lengthen a line (e.g. `1e300` printed `%0.7f`) past the limit
                    Err(e) => assert!(
                        matches!(e, ndcluster::proto::ParseError::LineTooLong { .. }),
                        "{cmd:?} re-encoded unparsable: {e}"
                    ),
                }
            }
            let _ = Downstream::parse(line);
            fast_paths_agree(line);
        }
    }
    let _ = reader.finish();
}

/// The receiver's replication fast paths answer only where the parser agrees.
fn fast_paths_agree(line: &[u8]) {
    if line.len() > MAX_LINE_LEN {
        return;
    }
    if let Some((id, neg, m)) = line.strip_prefix(b"RSET \"").and_then(rset_fixed7) {
        match Command::parse(line) {
            Ok(Command::Rset(r)) => {
                let v = m as f64 / 1e7;
                assert_eq!(r.id, String::from_utf8_lossy(id));
                assert_eq!(r.value.to_bits(), if neg { -v } else { v }.to_bits());
                assert_eq!(r.flags, "");
            }
            other => panic!("rset_fixed7 took {line:?}, the parser gives {other:?}"),
        }
    }
    if let Some(span) = line.strip_prefix(b"RBEGIN '' ").and_then(rbegin_span_fast) {
        match Command::parse(line) {
            Ok(Command::Rbegin(r)) => assert_eq!((r.id.as_ref(), r.span), ("", Some(span))),
            other => panic!("rbegin_span_fast took {line:?}, the parser gives {other:?}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = is_stream_request(data);
    let _ = StreamRequest::parse(data);
    let _ = Reply::classify(data);
    lines(&mut LineReader::new(MAX_LINE_LEN), data);
    let mut compressed = LineReader::new(MAX_LINE_LEN);
    compressed.enable_compression();
    lines(&mut compressed, data);
});
