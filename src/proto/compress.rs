//! Stream compression (COMPRESSION capability, child → parent only; spec §8).
//!
//! Frame = 4-byte header + one LZ4 *block* (no LZ4 frame format, no checksum):
//!
//! ```text
//! 0xFA  0x80|(len & 0x7F)  0x80|((len >> 7) & 0x7F)  0x0A   <len bytes of LZ4 block>
//! ```
//!
//! A 1.37.1 sender uses the LZ4 *streaming* compressor for the whole connection, so a block may
//! reference up to 64 KiB of previously decompressed bytes; [`Decompressor`] keeps that history
//! and decodes each block with it as external dictionary. Each frame decodes to at most 16384
//! bytes; with BINARY a line may span frames, so decode to a byte stream and frame lines after
//! ([`super::reader::LineReader`] does that).
//!
//! [`Compressor`] (our child role) compresses every frame independently — a real 1.37.1 parent
//! accepts that — splitting blocks larger than 16384 bytes like Netdata does.

/// First header byte (`'z' | 0x80`).
pub const SIGNATURE_BYTE: u8 = b'z' | 0x80;
/// Last header byte.
pub const SIGNATURE_END: u8 = b'\n';
/// Header length.
pub const HEADER_LEN: usize = 4;
/// Largest decompressed size of one frame.
pub const MAX_FRAME_PLAIN: usize = 16384;
/// Largest compressed length the 14-bit header field can carry.
pub const MAX_FRAME_PAYLOAD: usize = (1 << 14) - 1;
/// History an LZ4 streaming block may reference.
pub const HISTORY: usize = 64 * 1024;

/// A corrupt compressed stream; the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompressError {
    #[error("compressed frame at stream offset {offset} is corrupt: {reason}")]
    Corrupt { offset: u64, reason: String },
    #[error("compressed frame at stream offset {offset} has an empty payload")]
    EmptyFrame { offset: u64 },
    #[error("block of {len} bytes cannot be compressed into a frame")]
    Unframeable { len: usize },
}

/// Decodes a frame header: `Some(payload_len)` if the 4 bytes carry the signature.
#[inline]
pub fn decode_header(h: [u8; 4]) -> Option<usize> {
    if h[0] == SIGNATURE_BYTE && h[1] & 0x80 != 0 && h[2] & 0x80 != 0 && h[3] == SIGNATURE_END {
        Some(usize::from(h[1] & 0x7F) | (usize::from(h[2] & 0x7F) << 7))
    } else {
        None
    }
}

/// Encodes a frame header for a payload of `len` ≤ [`MAX_FRAME_PAYLOAD`] bytes.
#[inline]
pub fn encode_header(len: usize) -> [u8; 4] {
    [
        SIGNATURE_BYTE,
        0x80 | (len & 0x7F) as u8,
        0x80 | ((len >> 7) & 0x7F) as u8,
        SIGNATURE_END,
    ]
}

/// Receiving side of one connection's compressed stream (state resets per connection).
#[derive(Debug)]
pub struct Decompressor {
    /// Decompressed output; only the last [`HISTORY`] bytes matter (trimmed lazily).
    history: Vec<u8>,
    scratch: Vec<u8>,
    /// Stream offset of the next unread byte, for error messages.
    offset: u64,
    frames: u64,
}

impl Default for Decompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl Decompressor {
    pub fn new() -> Self {
        Decompressor {
            history: Vec::with_capacity(2 * HISTORY + MAX_FRAME_PLAIN),
            scratch: vec![0; MAX_FRAME_PLAIN],
            offset: 0,
            frames: 0,
        }
    }

    /// Frames decoded so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Decodes every complete frame at the start of `input`, appending the plain bytes to `out`,
    /// and returns how many input bytes were consumed (the rest is an incomplete frame; feed it
    /// again with more bytes). Like a 1.37.1 parent, 4 bytes without the signature at a frame
    /// boundary are passed through as plain text.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, CompressError> {
        let mut pos = 0;
        while input.len() - pos >= HEADER_LEN {
            let h = [input[pos], input[pos + 1], input[pos + 2], input[pos + 3]];
            let Some(len) = decode_header(h) else {
                out.extend_from_slice(&h);
                pos += HEADER_LEN;
                self.offset += HEADER_LEN as u64;
                continue;
            };
            if len == 0 {
                return Err(CompressError::EmptyFrame { offset: self.offset });
            }
            let Some(payload) = input.get(pos + HEADER_LEN..pos + HEADER_LEN + len) else {
                break;
            };
            let dict_start = self.history.len().saturating_sub(HISTORY);
            let n = lz4_flex::block::decompress_into_with_dict(
                payload,
                &mut self.scratch,
                &self.history[dict_start..],
            )
            .map_err(|e| CompressError::Corrupt { offset: self.offset, reason: e.to_string() })?;
            let plain = &self.scratch[..n];
            out.extend_from_slice(plain);
            if self.history.len() + n > 2 * HISTORY {
                let drop = self.history.len() - HISTORY;
                self.history.drain(..drop);
            }
            self.history.extend_from_slice(plain);
            pos += HEADER_LEN + len;
            self.offset += (HEADER_LEN + len) as u64;
            self.frames += 1;
        }
        Ok(pos)
    }
}

/// Sending side: turns logical blocks into frames a 1.37.1 parent accepts.
#[derive(Debug)]
pub struct Compressor {
    binary: bool,
    scratch: Vec<u8>,
}

impl Compressor {
    /// `binary`: whether BINARY was negotiated (then blocks are split at exactly 16384 bytes,
    /// else at the last newline before 16384 so no line spans frames).
    pub fn new(binary: bool) -> Self {
        Compressor {
            binary,
            scratch: vec![0; lz4_flex::block::get_maximum_output_size(MAX_FRAME_PLAIN)],
        }
    }

    /// Appends the frames for one logical block (e.g. one chart definition or one BEGIN…END).
    pub fn compress(&mut self, mut block: &[u8], out: &mut Vec<u8>) -> Result<(), CompressError> {
        while !block.is_empty() {
            let mut take = block.len().min(MAX_FRAME_PLAIN);
            if !self.binary && take < block.len() {
                if let Some(nl) = block[..take].iter().rposition(|&b| b == b'\n') {
                    take = nl + 1;
                }
            }
            self.frame(&block[..take], out)?;
            block = &block[take..];
        }
        Ok(())
    }

    fn frame(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), CompressError> {
        let n = lz4_flex::block::compress_into(chunk, &mut self.scratch)
            .map_err(|_| CompressError::Unframeable { len: chunk.len() })?;
        if n <= MAX_FRAME_PAYLOAD {
            out.extend_from_slice(&encode_header(n));
            out.extend_from_slice(&self.scratch[..n]);
            return Ok(());
        }
        // incompressible input: halve until the payload fits the 14-bit length
        if chunk.len() < 2 {
            return Err(CompressError::Unframeable { len: chunk.len() });
        }
        let (a, b) = chunk.split_at(chunk.len() / 2);
        self.frame(a, out)?;
        self.frame(b, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_the_lab_examples() {
        assert_eq!(decode_header([0xfa, 0xb4, 0x80, 0x0a]), Some(52));
        assert_eq!(decode_header([0xfa, 0xcc, 0x83, 0x0a]), Some(460));
        assert_eq!(encode_header(460), [0xfa, 0xcc, 0x83, 0x0a]);
        assert_eq!(decode_header(*b"SET "), None);
        for len in [1, 127, 128, 16383] {
            assert_eq!(decode_header(encode_header(len)), Some(len));
        }
    }

    fn sample(n_lines: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..n_lines {
            v.extend_from_slice(format!("BEGIN \"chart.{}\" 1000000\nSET \"d{}\" = {}\nEND\n", i % 50, i % 7, i * 7919).as_bytes());
        }
        v
    }

    #[test]
    fn round_trip_with_splitting_and_partial_input() {
        let data = sample(3000);
        for binary in [false, true] {
            let mut c = Compressor::new(binary);
            let mut wire = Vec::new();
            c.compress(&data, &mut wire).expect("compress");
            // feed in awkward pieces
            let mut d = Decompressor::new();
            let (mut plain, mut pending) = (Vec::new(), Vec::new());
            for piece in wire.chunks(777) {
                pending.extend_from_slice(piece);
                let used = d.decode(&pending, &mut plain).expect("decode");
                pending.drain(..used);
            }
            assert!(pending.is_empty());
            assert_eq!(plain, data);
            assert!(d.frames() > 1, "a {}-byte block must be split", data.len());
        }
    }

    #[test]
    fn frames_without_binary_end_at_newlines() {
        let data = sample(3000);
        let mut c = Compressor::new(false);
        let mut wire = Vec::new();
        c.compress(&data, &mut wire).expect("compress");
        let mut pos = 0;
        while pos < wire.len() {
            let len = decode_header([wire[pos], wire[pos + 1], wire[pos + 2], wire[pos + 3]]).expect("header");
            let plain = lz4_flex::block::decompress(&wire[pos + 4..pos + 4 + len], MAX_FRAME_PLAIN).expect("independent frame");
            assert!(plain.len() <= MAX_FRAME_PLAIN);
            assert_eq!(plain.last(), Some(&b'\n'));
            pos += 4 + len;
        }
    }

    #[test]
    fn incompressible_blocks_still_fit_the_length_field() {
        let mut rng = crate::testkit::XorShift64::new(0x9E37_79B9_7F4A_7C15);
        let data: Vec<u8> = (0..40_000).map(|_| rng.next_u64() as u8).collect();
        let mut wire = Vec::new();
        Compressor::new(true).compress(&data, &mut wire).expect("compress");
        let mut plain = Vec::new();
        let used = Decompressor::new().decode(&wire, &mut plain).expect("decode");
        assert_eq!(used, wire.len());
        assert_eq!(plain, data);
    }

    #[test]
    fn corrupt_frames_are_errors_and_plain_text_passes() {
        let mut d = Decompressor::new();
        let mut out = Vec::new();
        // a literal run claiming 15 bytes with only 2 present
        let err = d.decode(&[0xfa, 0x83, 0x80, 0x0a, 0xf0, b'a', b'b'], &mut out);
        assert!(matches!(err, Err(CompressError::Corrupt { offset: 0, .. })), "{err:?}");
        let mut d = Decompressor::new();
        assert_eq!(d.decode(b"END\nxy", &mut out), Ok(4));
        assert_eq!(out, b"END\n");
        assert!(matches!(Decompressor::new().decode(&[0xfa, 0x80, 0x80, 0x0a], &mut out), Err(CompressError::EmptyFrame { .. })));
    }
}
