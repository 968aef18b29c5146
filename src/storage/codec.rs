//! Page codec: the byte format of one page of one series of one tier.
//!
//! A page holds `n` points on a time grid `t0 + step * k`. Layout of the (uncompressed)
//! payload:
//!
//! * presence: varint run count, then varint run lengths alternating present / absent,
//!   starting with a present run (the point at `t0` is always present);
//! * `ncols` columns of `n` u32 each (tier 0: the storage-number word; tiers 1..: sum, min,
//!   max as f32 bits, count, anomalous count, reset flag). A column is its first value
//!   (4 bytes LE) followed by the zig-zag deltas of the rest, bit-packed in blocks of
//!   [`BLOCK`] values: one width byte (0..=32) then `ceil(len * width / 8)` bytes, LSB first.
//!
//! A constant series costs one byte per 64 points before the optional LZ4 pass over the page.
//! Decoding never trusts a count or width from the page: every length is checked against the
//! bytes present and against [`MAX_PAGE_POINTS`].

/// Values per bit-packed block.
pub const BLOCK: usize = 64;
/// Upper bound on the points of one page (checked when decoding).
pub const MAX_PAGE_POINTS: usize = 1 << 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("page truncated at byte {0}")]
    Truncated(usize),
    #[error("page invalid: {0}")]
    Invalid(&'static str),
}

#[inline]
fn zigzag(d: i32) -> u32 {
    ((d << 1) ^ (d >> 31)) as u32
}
#[inline]
fn unzigzag(z: u32) -> i32 {
    ((z >> 1) as i32) ^ -((z & 1) as i32)
}

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn get_varint(buf: &[u8], pos: &mut usize) -> Result<u64, CodecError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or(CodecError::Truncated(*pos))?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(CodecError::Invalid("varint too long"))
}

/// Incremental encoder of one u32 column (keeps at most one block unpacked).
#[derive(Clone, Debug, Default)]
pub struct ColumnEncoder {
    first: Option<u32>,
    prev: u32,
    pending: Vec<u32>,
    out: Vec<u8>,
    n: u32,
}

impl ColumnEncoder {
    pub fn push(&mut self, v: u32) {
        self.n += 1;
        if self.first.is_none() {
            self.first = Some(v);
            self.prev = v;
            return;
        }
        self.pending.push(zigzag(v.wrapping_sub(self.prev) as i32));
        self.prev = v;
        if self.pending.len() == BLOCK {
            pack_block(&self.pending, &mut self.out);
            self.pending.clear();
            self.pending.shrink_to_fit();
        }
    }
    pub fn len(&self) -> u32 {
        self.n
    }
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
    /// Bytes held (encoded + pending), to bound memory and page size.
    pub fn encoded_len(&self) -> usize {
        4 + self.out.len() + self.pending.len() * 4
    }
    pub fn heap_bytes(&self) -> usize {
        self.out.capacity() + self.pending.capacity() * 4
    }
    pub fn last(&self) -> Option<u32> {
        self.first.map(|_| self.prev)
    }
    /// Appends the finished column to `out` (the encoder is left unchanged).
    pub fn finish_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.first.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&self.out);
        if !self.pending.is_empty() {
            pack_block(&self.pending, out);
        }
    }
}

fn pack_block(vals: &[u32], out: &mut Vec<u8>) {
    let or = vals.iter().fold(0u32, |a, &v| a | v);
    let w = 32 - or.leading_zeros();
    out.push(w as u8);
    if w == 0 {
        return;
    }
    let mut acc: u64 = 0;
    let mut bits = 0u32;
    for &v in vals {
        acc |= u64::from(v) << bits;
        bits += w;
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    if bits > 0 {
        out.push(acc as u8);
    }
}

/// Encodes a whole column.
pub fn encode_column(vals: &[u32], out: &mut Vec<u8>) {
    let mut e = ColumnEncoder::default();
    for &v in vals {
        e.push(v);
    }
    e.finish_into(out);
}

/// Decodes a column of `n` values starting at `*pos`, appending to `out`.
pub fn decode_column(buf: &[u8], pos: &mut usize, n: usize, out: &mut Vec<u32>) -> Result<(), CodecError> {
    if n == 0 {
        return Ok(());
    }
    if n > MAX_PAGE_POINTS {
        return Err(CodecError::Invalid("too many points"));
    }
    let first = buf.get(*pos..*pos + 4).ok_or(CodecError::Truncated(*pos))?;
    let mut prev = u32::from_le_bytes([first[0], first[1], first[2], first[3]]);
    *pos += 4;
    out.reserve(n);
    out.push(prev);
    let mut left = n - 1;
    while left > 0 {
        let len = left.min(BLOCK);
        let w = u32::from(*buf.get(*pos).ok_or(CodecError::Truncated(*pos))?);
        *pos += 1;
        if w > 32 {
            return Err(CodecError::Invalid("block width over 32"));
        }
        if w == 0 {
            out.extend(std::iter::repeat_n(prev, len));
        } else {
            let nbytes = (len * w as usize).div_ceil(8);
            let bytes = buf.get(*pos..*pos + nbytes).ok_or(CodecError::Truncated(*pos))?;
            *pos += nbytes;
            let mask = if w == 32 { u64::from(u32::MAX) } else { (1u64 << w) - 1 };
            let mut bit = 0usize;
            for _ in 0..len {
                let byte = bit >> 3;
                let mut word = [0u8; 8];
                let end = (byte + 8).min(bytes.len());
                word[..end - byte].copy_from_slice(&bytes[byte..end]);
                let z = ((u64::from_le_bytes(word) >> (bit & 7)) & mask) as u32;
                prev = prev.wrapping_add(unzigzag(z) as u32);
                out.push(prev);
                bit += w as usize;
            }
        }
        left -= len;
    }
    Ok(())
}

/// Presence runs of a page being built: alternating present / absent slot counts.
#[derive(Clone, Debug, Default)]
pub struct Runs {
    pub runs: Vec<u32>,
}

impl Runs {
    /// Adds a present slot after `gap` absent slots.
    pub fn push(&mut self, gap: u32) {
        if self.runs.is_empty() {
            self.runs.push(1);
            return;
        }
        if gap > 0 {
            if self.runs.len() % 2 == 1 {
                self.runs.push(gap);
            } else if let Some(l) = self.runs.last_mut() {
                *l += gap;
            }
            self.runs.push(1);
        } else if self.runs.len() % 2 == 1 {
            if let Some(l) = self.runs.last_mut() {
                *l += 1;
            }
        } else {
            self.runs.push(1);
        }
    }
    /// Whether slot `k` (0-based) is present.
    pub fn has(&self, k: u64) -> bool {
        let mut at = 0u64;
        for (i, &r) in self.runs.iter().enumerate() {
            let end = at + u64::from(r);
            if k < end {
                return i % 2 == 0;
            }
            at = end;
        }
        false
    }
    /// Slot index of every present point, in order.
    pub fn slots(&self, out: &mut Vec<u32>) {
        let mut at = 0u32;
        for (i, &r) in self.runs.iter().enumerate() {
            if i % 2 == 0 {
                out.extend(at..at + r);
            }
            at += r;
        }
    }
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.runs.len() as u64);
        for &r in &self.runs {
            put_varint(out, u64::from(r));
        }
    }
    pub fn decode(buf: &[u8], pos: &mut usize, npoints: usize) -> Result<Self, CodecError> {
        let n = get_varint(buf, pos)? as usize;
        if n > 2 * MAX_PAGE_POINTS {
            return Err(CodecError::Invalid("too many runs"));
        }
        let mut runs = Vec::with_capacity(n);
        let mut present = 0u64;
        let mut total = 0u64;
        for i in 0..n {
            let r = get_varint(buf, pos)?;
            if r > u64::from(u32::MAX) {
                return Err(CodecError::Invalid("run too long"));
            }
            total += r;
            if i % 2 == 0 {
                present += r;
            }
            runs.push(r as u32);
        }
        if present != npoints as u64 || total > u64::from(u32::MAX) {
            return Err(CodecError::Invalid("runs do not match the point count"));
        }
        Ok(Self { runs })
    }
    pub fn heap_bytes(&self) -> usize {
        self.runs.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_round_trip() {
        let mut v: Vec<u32> = (0..1000u32).map(|i| i.wrapping_mul(2_654_435_761) >> (i % 30)).collect();
        v.extend(std::iter::repeat_n(7, 300));
        v.push(u32::MAX);
        v.push(0);
        for n in [0, 1, 2, 63, 64, 65, 128, v.len()] {
            let mut buf = Vec::new();
            encode_column(&v[..n], &mut buf);
            let mut pos = 0;
            let mut out = Vec::new();
            decode_column(&buf, &mut pos, n, &mut out).expect("decodes");
            assert_eq!(&out[..], &v[..n]);
            if n > 0 {
                assert_eq!(pos, buf.len());
            }
        }
    }

    #[test]
    fn constant_column_is_tiny() {
        let mut buf = Vec::new();
        encode_column(&[5; 1024], &mut buf);
        assert!(buf.len() <= 4 + 16, "{}", buf.len());
    }

    #[test]
    fn truncated_column_is_an_error() {
        let v: Vec<u32> = (0..200).map(|i| i * 977).collect();
        let mut buf = Vec::new();
        encode_column(&v, &mut buf);
        for cut in 0..buf.len() {
            let mut pos = 0;
            assert!(decode_column(&buf[..cut], &mut pos, v.len(), &mut Vec::new()).is_err());
        }
    }

    #[test]
    fn runs_round_trip() {
        let mut r = Runs::default();
        r.push(0);
        r.push(0);
        r.push(3);
        r.push(0);
        r.push(1);
        assert_eq!(r.runs, vec![2, 3, 2, 1, 1]);
        let mut slots = Vec::new();
        r.slots(&mut slots);
        assert_eq!(slots, vec![0, 1, 5, 6, 8]);
        assert!(r.has(5) && !r.has(4) && !r.has(9));
        let mut buf = Vec::new();
        r.encode(&mut buf);
        let mut pos = 0;
        assert_eq!(Runs::decode(&buf, &mut pos, 5).expect("decodes").runs, r.runs);
        let mut pos = 0;
        assert!(Runs::decode(&buf, &mut pos, 4).is_err());
    }
}
