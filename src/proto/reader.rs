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
    /// Plain bytes in `buf[..end]`; `buf[end..]` is initialized room for [`Self::spare`].
    buf: Vec<u8>,
    end: usize,
    /// End of the room handed out by the last [`Self::spare`].
    room_end: usize,
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
            end: 0,
            room_end: 0,
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
        self.end - self.start
    }

    /// Moves the unreturned bytes to the front of the buffer.
    fn compact(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.scan -= self.start;
            self.start = 0;
        }
        self.room_end = self.end;
    }

    /// Room for `want` more bytes at the end of the plain buffer, to receive into directly
    /// (saves the copy [`Self::feed`] makes); report how many were written with
    /// [`Self::commit`]. Only for a plain stream: with compression on, received bytes go
    /// through [`Self::feed`] (this returns an empty slice then). The same rule as for
    /// `feed` keeps the buffer bounded: drain [`Self::next_line`] before asking again.
    pub fn spare(&mut self, want: usize) -> &mut [u8] {
        if self.decompressor.is_some() || self.failed.is_some() {
            self.room_end = self.end;
            return &mut [];
        }
        self.compact();
        let need = self.end + want;
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        self.room_end = need;
        &mut self.buf[self.end..need]
    }

    /// Gives back buffer memory beyond the unread bytes plus `room` (after a burst).
    pub fn trim(&mut self, room: usize) {
        self.compact();
        let keep = self.end + room;
        if self.buf.len() > keep {
            self.buf.truncate(keep);
            self.buf.shrink_to(keep);
        }
    }

    /// `n` bytes were written at the start of the last [`Self::spare`] slice (`n` is clamped
    /// to that room).
    pub fn commit(&mut self, n: usize) {
        self.end = (self.end + n).min(self.room_end.max(self.end));
        self.room_end = self.end;
    }

    /// Adds received bytes. Call [`Self::next_line`] until it returns `None` before feeding
    /// more, so the buffer stays bounded by one partial line plus one read.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), ReadError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.compact();
        match &mut self.decompressor {
            None => {
                self.buf.truncate(self.end);
                self.buf.extend_from_slice(bytes);
                self.end = self.buf.len();
            }
            Some(d) => {
                self.buf.truncate(self.end);
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
                self.end = self.buf.len();
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
        let hay = &self.buf[self.scan..self.end];
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
                self.scan = self.end;
                let len = self.end - self.start;
                if len > self.max_line {
                    let e = ReadError::LineTooLong { len, max: self.max_line };
                    self.failed = Some(e.clone());
                    return Some(Err(e));
                }
                None
            }
        }
    }

    /// The maximum line length (newline excluded).
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// The bytes after the last returned line (the last one possibly incomplete), for a
    /// caller that frames some lines itself, then reports them with [`Self::consume`]; empty
    /// after a framing error.
    #[inline]
    pub fn unread(&self) -> &[u8] {
        if self.failed.is_some() {
            return &[];
        }
        &self.buf[self.start..self.end]
    }

    /// The first `n` bytes of [`Self::unread`], `lines` complete lines (each at most the
    /// maximum length, with its newline), were taken by the caller.
    #[inline]
    pub fn consume(&mut self, n: usize, lines: u64) {
        self.start = (self.start + n).min(self.end);
        self.scan = self.scan.max(self.start);
        self.lines += lines;
    }

    /// Takes up to `n` raw bytes that follow the last returned line (e.g. a payload that is not
    /// line-oriented). Rarely needed; the 1.37.1 protocol is all lines.
    pub fn take_raw(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.end - self.start);
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
        let partial_line = self.end - self.start;
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
    fn trim_keeps_unread_bytes_and_gives_back_the_rest() {
        let mut r = LineReader::new(1000);
        let room = r.spare(256 * 1024);
        room[..9].copy_from_slice(b"END\nBEGIN");
        r.commit(9);
        assert_eq!(r.next_line().map(|l| l.map(<[u8]>::to_vec)), Some(Ok(b"END".to_vec())));
        r.trim(1024);
        assert!(r.buf.capacity() <= 5 + 1024, "{}", r.buf.capacity());
        let room = r.spare(10);
        room[..4].copy_from_slice(b" x\n\n");
        r.commit(3);
        assert_eq!(r.next_line().map(|l| l.map(<[u8]>::to_vec)), Some(Ok(b"BEGIN x".to_vec())));
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
    fn receiving_in_place_frames_like_feed() {
        let mut text = Vec::new();
        for i in 0..3000 {
            text.extend_from_slice(format!("RSET \"d{}\" {i}.0000000 \"\"\n", i % 10).as_bytes());
            if i % 7 == 0 {
                text.extend_from_slice(b"\n\r\n");
            }
        }
        let mut rng = crate::testkit::XorShift64::new(0x9e37_79b9_7f4a_7c15);
        for round in 0..20 {
            let (mut a, mut b) = (LineReader::new(MAX_LINE_LEN), LineReader::new(MAX_LINE_LEN));
            let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
            let mut at = 0;
            while at < text.len() {
                let x = rng.next_u64();
                let n = (1 + (x % [7, 100, 5000, 70_000][round % 4])) as usize;
                let piece = &text[at..(at + n).min(text.len())];
                a.feed(piece).expect("feed");
                got_a.extend(drain(&mut a));
                // ask for more room than arrives, as a socket read does
                let room = b.spare(n + 100);
                room[..piece.len()].copy_from_slice(piece);
                b.commit(piece.len());
                got_b.extend(drain(&mut b));
                assert!(b.buffered() < 200, "only a partial line stays buffered");
                at += piece.len();
            }
            assert_eq!(got_a, got_b);
            assert_eq!(got_b.len(), 3000 + 2 * 429);
            assert_eq!(b.finish(), Ok(()));
        }
        // limits and end of stream as with feed
        let mut r = LineReader::new(10);
        r.spare(100)[..12].copy_from_slice(b"0123456789AB");
        r.commit(12);
        assert!(matches!(r.next_line(), Some(Err(ReadError::LineTooLong { .. }))));
        assert!(r.spare(10).is_empty(), "a failed reader takes nothing more");
        let mut r = LineReader::new(MAX_LINE_LEN);
        r.spare(8)[..6].copy_from_slice(b"END\nEN");
        r.commit(6);
        assert_eq!(drain(&mut r), ["END"]);
        assert_eq!(r.finish(), Err(ReadError::Truncated { partial_line: 2, partial_frame: 0 }));
        r.spare(4);
        r.commit(1_000); // clamped to the room given
        assert_eq!(r.buffered(), 6);
        let mut r = LineReader::new(MAX_LINE_LEN);
        r.enable_compression();
        assert!(r.spare(100).is_empty(), "compressed bytes go through feed");
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
