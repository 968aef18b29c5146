//! Line framing over received bytes, with the optional decompression layer (no sockets).
//!
//! The receiver loop does:
//!
//! ```text
//! reader.feed(&bytes_from_socket)?;            // decompresses if enabled
//! while let Some(line) = reader.next_line() {   // each line without its '\n'
//!     let line = line?;                         // LineTooLong is fatal for the connection
//!     match Command::parse(line) { ... }
//! }
//! // on read() == 0:
//! reader.finish()?;                             // Ok = clean end, Err(Truncated) = cut mid-line/frame
//! ```

use super::compress::{CompressError, Decompressor};

/// Why the byte stream cannot be framed further; the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// A line (or an unterminated tail) is longer than the limit.
    #[error("line longer than {max} bytes (at least {len} bytes without a newline)")]
    LineTooLong { len: usize, max: usize },
    /// The compressed layer is corrupt.
    #[error(transparent)]
    Compression(#[from] CompressError),
    /// The peer closed in the middle of a line or of a compressed frame.
    #[error("stream ended inside a line ({partial_line} bytes) or frame ({partial_frame} bytes)")]
    Truncated { partial_line: usize, partial_frame: usize },
}

/// A buffered line framer. Lines are returned without their `\n` (a `\r` before it is kept; the
/// tokenizer treats it as a separator).
#[derive(Debug)]
pub struct LineReader {
    buf: Vec<u8>,
    /// Start of the first unreturned byte in `buf`.
    start: usize,
    /// Where the newline search resumes (everything in `start..scan` has no `\n`).
    scan: usize,
    max_line: usize,
    decompressor: Option<Decompressor>,
    /// Compressed bytes of an incomplete frame.
    pending: Vec<u8>,
    failed: Option<ReadError>,
    lines: u64,
}

impl LineReader {
    /// A plain-text framer with a maximum line length (newline excluded), usually
    /// [`super::MAX_LINE_LEN`].
    pub fn new(max_line: usize) -> Self {
        LineReader {
            buf: Vec::with_capacity(64 * 1024),
            start: 0,
            scan: 0,
            max_line,
            decompressor: None,
            pending: Vec::new(),
            failed: None,
            lines: 0,
        }
    }

    /// Switches on LZ4 decoding for every byte fed from now on (after the greeting, when
    /// COMPRESSION was negotiated).
    pub fn enable_compression(&mut self) {
        if self.decompressor.is_none() {
            self.decompressor = Some(Decompressor::new());
        }
    }

    /// Whether decoding is on.
    pub fn is_compressed(&self) -> bool {
        self.decompressor.is_some()
    }

    /// Lines returned so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Bytes buffered but not yet returned as lines (plain side).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Adds received bytes. Call [`Self::next_line`] until it returns `None` before feeding
    /// more, so the buffer stays bounded by one partial line plus one read.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), ReadError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.scan -= self.start;
            self.start = 0;
        }
        match &mut self.decompressor {
            None => self.buf.extend_from_slice(bytes),
            Some(d) => {
                let result = if self.pending.is_empty() {
                    d.decode(bytes, &mut self.buf).map(|used| {
                        self.pending.extend_from_slice(&bytes[used..]);
                    })
                } else {
                    self.pending.extend_from_slice(bytes);
                    d.decode(&self.pending, &mut self.buf).map(|used| {
                        self.pending.drain(..used);
                    })
                };
                if let Err(e) = result {
                    let e = ReadError::from(e);
                    self.failed = Some(e.clone());
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// The next complete line, `None` if more bytes are needed, or the framing error.
    #[inline]
    pub fn next_line(&mut self) -> Option<Result<&[u8], ReadError>> {
        if let Some(e) = &self.failed {
            return Some(Err(e.clone()));
        }
        let hay = &self.buf[self.scan..];
        match super::tokenizer::find_byte(hay, b'\n') {
            Some(i) => {
                let end = self.scan + i;
                let len = end - self.start;
                if len > self.max_line {
                    let e = ReadError::LineTooLong { len, max: self.max_line };
                    self.failed = Some(e.clone());
                    return Some(Err(e));
                }
                let start = self.start;
                self.start = end + 1;
                self.scan = self.start;
                self.lines += 1;
                Some(Ok(&self.buf[start..end]))
            }
            None => {
                self.scan = self.buf.len();
                let len = self.buf.len() - self.start;
                if len > self.max_line {
                    let e = ReadError::LineTooLong { len, max: self.max_line };
                    self.failed = Some(e.clone());
                    return Some(Err(e));
                }
                None
            }
        }
    }

    /// Takes up to `n` raw bytes that follow the last returned line (e.g. a payload that is not
    /// line-oriented). Rarely needed; the 1.37.1 protocol is all lines.
    pub fn take_raw(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.buf.len() - self.start);
        let s = self.start;
        self.start += n;
        self.scan = self.scan.max(self.start);
        &self.buf[s..s + n]
    }

    /// Call when the peer closed the connection (after draining [`Self::next_line`]): `Ok` for
    /// a clean end at a line (and frame) boundary, `Err(Truncated)` otherwise.
    pub fn finish(&self) -> Result<(), ReadError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let partial_line = self.buf.len() - self.start;
        let partial_frame = self.pending.len();
        if partial_line == 0 && partial_frame == 0 {
            Ok(())
        } else {
            Err(ReadError::Truncated { partial_line, partial_frame })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::compress::Compressor;
    use crate::proto::MAX_LINE_LEN;

    fn drain(r: &mut LineReader) -> Vec<String> {
        let mut v = Vec::new();
        while let Some(l) = r.next_line() {
            v.push(String::from_utf8_lossy(l.expect("line")).into_owned());
        }
        v
    }

    #[test]
    fn frames_lines_across_feeds() {
        let mut r = LineReader::new(MAX_LINE_LEN);
        r.feed(b"BEGIN \"a.b\" 1\nSE").expect("feed");
        assert_eq!(drain(&mut r), ["BEGIN \"a.b\" 1"]);
        r.feed(b"T \"x\" = 1\r\nEND\n").expect("feed");
        assert_eq!(drain(&mut r), ["SET \"x\" = 1\r", "END"]);
        assert_eq!(r.finish(), Ok(()));
        assert_eq!(r.lines(), 3);
    }

    #[test]
    fn tells_truncation_from_clean_eof() {
        let mut r = LineReader::new(MAX_LINE_LEN);
        r.feed(b"END\nEN").expect("feed");
        assert_eq!(drain(&mut r), ["END"]);
        assert_eq!(r.finish(), Err(ReadError::Truncated { partial_line: 2, partial_frame: 0 }));
    }

    #[test]
    fn over_long_lines_fail_even_without_newline() {
        let mut r = LineReader::new(10);
        r.feed(b"0123456789\n").expect("feed");
        assert_eq!(drain(&mut r), ["0123456789"]);
        r.feed(b"01234567890").expect("feed");
        assert_eq!(r.next_line(), Some(Err(ReadError::LineTooLong { len: 11, max: 10 })));
        assert!(r.feed(b"\n").is_err(), "a failed reader stays failed");
        let mut r = LineReader::new(10);
        r.feed(b"0123456789A\n").expect("feed");
        assert!(matches!(r.next_line(), Some(Err(ReadError::LineTooLong { .. }))));
    }

    #[test]
    fn decompresses_when_enabled_and_lines_may_span_frames() {
        let mut text = Vec::new();
        for i in 0..5000 {
            text.extend_from_slice(format!("SET \"dim{i}\" = {i}\n").as_bytes());
        }
        let mut wire = Vec::new();
        Compressor::new(true).compress(&text, &mut wire).expect("compress");
        let mut r = LineReader::new(MAX_LINE_LEN);
        r.enable_compression();
        let mut got = Vec::new();
        for piece in wire.chunks(1000) {
            r.feed(piece).expect("feed");
            got.extend(drain(&mut r));
        }
        assert_eq!(got.len(), 5000);
        assert_eq!(got[4999], "SET \"dim4999\" = 4999");
        assert_eq!(r.finish(), Ok(()));
        // cut inside a frame
        let mut r = LineReader::new(MAX_LINE_LEN);
        r.enable_compression();
        r.feed(&wire[..wire.len() - 3]).expect("feed");
        drain(&mut r);
        assert!(matches!(r.finish(), Err(ReadError::Truncated { partial_frame, .. }) if partial_frame > 0));
    }
}
