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
//!   [`COL_BLOCK`] values: one width byte (0..=32) then `ceil(len * width / 8)` bytes, LSB first.
//!
//! A constant series costs one byte per 64 points before the optional LZ4 pass over the page.
//! Decoding never trusts a count or width from the page: every length is checked against the
//! bytes present and against [`MAX_PAGE_POINTS`].

/// Values per bit-packed block of tier-0 numbers.
pub const BLOCK: usize = 64;
/// Values per bit-packed block of a u32 column (aggregates, corpus): small, to keep open pages
/// of slow tiers small in memory.
pub const COL_BLOCK: usize = 16;
/// Upper bound on the points of one page (checked when decoding).
pub const MAX_PAGE_POINTS: usize = 1 << 16;

/// The capacity that fills the whole malloc chunk a buffer of at least `need` bytes gets
/// (glibc, 64-bit: a chunk is a multiple of 16 bytes, at least 32, of which 8 are its header):
/// the bytes between `need` and it are allocated anyway, so a buffer grown to it holds no more
/// memory than one grown to exactly `need`, and its next few appends need no reallocation.
/// (With another allocator it is only a rounding up to 16 bytes less 8.)
pub const fn chunk_capacity(need: usize) -> usize {
    let chunk = need.saturating_add(8 + 15) & !15;
    if chunk < 32 { 24 } else { chunk - 8 }
}

/// Makes room for `extra` more bytes in an open page's buffer: when it lacks them, grows it to
/// [`chunk_capacity`] of what it needs (never more: an open page holds no spare capacity
/// beyond its malloc chunk, and growing is one `realloc`, no doubling).
#[inline]
pub fn reserve_chunk(v: &mut Vec<u8>, extra: usize) {
    if v.capacity() - v.len() < extra {
        let cap = chunk_capacity(v.len().saturating_add(extra));
        v.reserve_exact(cap - v.len());
    }
}

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
        if self.pending.len() == COL_BLOCK {
            let mut blk = Vec::with_capacity(2 + COL_BLOCK * 4);
            pack_block(&self.pending, &mut blk);
            self.out.reserve_exact(blk.len());
            self.out.extend_from_slice(&blk);
            self.pending.clear();
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
pub fn decode_column(
    buf: &[u8],
    pos: &mut usize,
    n: usize,
    out: &mut Vec<u32>,
) -> Result<(), CodecError> {
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
        let len = left.min(COL_BLOCK);
        let w = u32::from(*buf.get(*pos).ok_or(CodecError::Truncated(*pos))?);
        *pos += 1;
        if w > 32 {
            return Err(CodecError::Invalid("block width over 32"));
        }
        if w == 0 {
            out.extend(std::iter::repeat_n(prev, len));
        } else {
            let nbytes = (len * w as usize).div_ceil(8);
            let bytes = buf
                .get(*pos..*pos + nbytes)
                .ok_or(CodecError::Truncated(*pos))?;
            *pos += nbytes;
            let mask = if w == 32 {
                u64::from(u32::MAX)
            } else {
                (1u64 << w) - 1
            };
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

/// Presence runs of a page being built: alternating present / absent slot counts, starting
/// with a present run. The first run is held inline and the rest allocated only at the first
/// gap, so the open page of a series without gaps (almost all of them) costs no heap block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Runs {
    /// Length of the first (present) run; with `rest` empty and 0 here, there are no runs.
    first: u32,
    /// The runs after the first: absent, present, absent, … (boxed: one word while unused).
    #[allow(clippy::box_collection, reason = "one word in every open page instead of three")]
    rest: Option<Box<Vec<u32>>>,
}

impl Runs {
    /// Builds runs from their alternating counts (present first).
    pub fn from_counts(counts: &[u32]) -> Self {
        match counts.split_first() {
            None => Self::default(),
            Some((&first, rest)) => Self {
                first,
                rest: (!rest.is_empty()).then(|| Box::new(rest.to_vec())),
            },
        }
    }
    fn rest(&self) -> &[u32] {
        self.rest.as_deref().map_or(&[], Vec::as_slice)
    }
    fn is_empty(&self) -> bool {
        self.first == 0 && self.rest().is_empty()
    }
    fn len(&self) -> usize {
        if self.is_empty() { 0 } else { 1 + self.rest().len() }
    }
    /// The alternating counts, present first.
    pub fn counts(&self) -> impl Iterator<Item = u32> + '_ {
        let first = (!self.is_empty()).then_some(self.first);
        first.into_iter().chain(self.rest().iter().copied())
    }
    /// Adds a present slot after `gap` absent slots.
    pub fn push(&mut self, gap: u32) {
        if self.is_empty() {
            self.first = 1;
            return;
        }
        let last_present = self.rest().len().is_multiple_of(2);
        if gap == 0 && last_present {
            match self.rest.as_mut().and_then(|r| r.last_mut()) {
                Some(l) => *l += 1,
                None => self.first += 1,
            }
            return;
        }
        let rest = self.rest.get_or_insert_with(Box::default);
        if gap > 0 {
            if last_present {
                rest.push(gap);
            } else if let Some(l) = rest.last_mut() {
                *l += gap;
            }
        }
        rest.push(1);
    }
    /// `k` times [`Runs::push`]`(0)` after a present slot (the runs are not empty).
    pub fn extend_present(&mut self, k: u32) {
        debug_assert!(!self.is_empty() && self.rest().len().is_multiple_of(2));
        match self.rest.as_mut().and_then(|r| r.last_mut()) {
            Some(l) => *l += k,
            None => self.first += k,
        }
    }
    /// Whether slot `k` (0-based) is present.
    pub fn has(&self, k: u64) -> bool {
        let mut at = 0u64;
        for (i, r) in self.counts().enumerate() {
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
        for (i, r) in self.counts().enumerate() {
            if i % 2 == 0 {
                out.extend(at..at + r);
            }
            at += r;
        }
    }
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.len() as u64);
        for r in self.counts() {
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
        Ok(Self::from_counts(&runs))
    }
    pub fn heap_bytes(&self) -> usize {
        self.rest.as_ref().map_or(0, |r| 24 + r.capacity() * 4)
    }
    /// Prefetch hint for the run the next [`Runs::push`] extends.
    #[inline]
    pub fn prefetch_tail(&self) {
        if let Some(r) = &self.rest {
            crate::storage::mmap::prefetch(&**r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_round_trip() {
        let mut v: Vec<u32> = (0..1000u32)
            .map(|i| i.wrapping_mul(2_654_435_761) >> (i % 30))
            .collect();
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
        assert!(buf.len() <= 4 + 1024 / COL_BLOCK, "{}", buf.len());
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
        assert_eq!(r.counts().collect::<Vec<_>>(), vec![2, 3, 2, 1, 1]);
        let mut slots = Vec::new();
        r.slots(&mut slots);
        assert_eq!(slots, vec![0, 1, 5, 6, 8]);
        assert!(r.has(5) && !r.has(4) && !r.has(9));
        let mut buf = Vec::new();
        r.encode(&mut buf);
        let mut pos = 0;
        assert_eq!(
            Runs::decode(&buf, &mut pos, 5).expect("decodes"),
            r
        );
        let mut pos = 0;
        assert!(Runs::decode(&buf, &mut pos, 4).is_err());
    }
}

// ---------------------------------------------------------------------------------------------
// Tier-0 values: storage numbers as decimal integers.
//
// A canonical storage number (one `StorageNumber::pack` can produce) is `±m · 10^(p-7)`; we
// store `N = ±m · 10^p` (the value scaled by 10^7, an exact integer) so values with few
// significant digits (`93.5`, `6.5`) become small integers. Per block of [`BLOCK`] values the
// deltas of `N` are divided by their largest common power of ten and bit-packed (width byte,
// power byte, bits). Flags (reset / not-anomalous) are run-length coded; words that do not
// survive `word → N → word` (non-canonical, factor-100 range, ...) are stored verbatim as
// exceptions. A block whose deltas are small but for a few may be *patched* (`MODE_PFOR`,
// pages of data-file format 2 on): every delta at a narrower width, then the indexes and high
// bits of those that do not fit. A block whose values are all `n/1024` (memory in MiB) may be
// stored as the steps of `n` (`MODE_LATTICE`, data-file format 3 on; see [`LATTICES`]).

const M_MAX: i64 = 0x00FF_FFFF;
const POW10: [i64; 19] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    100_000_000_000,
    1_000_000_000_000,
    10_000_000_000_000,
    100_000_000_000_000,
    1_000_000_000_000_000,
    10_000_000_000_000_000,
    100_000_000_000_000_000,
    1_000_000_000_000_000_000,
];

/// `word` → N without the canonical check (for words already checked).
#[inline]
fn word_to_decimal_unchecked(w: u32) -> Option<i64> {
    if w & (1 << 26) != 0 {
        return None;
    }
    let m = i64::from(w & 0x00FF_FFFF);
    let k = ((w >> 27) & 7) as usize;
    let mag = if w & (1 << 30) != 0 {
        m.checked_mul(POW10[7 + k])?
    } else {
        m * POW10[7 - k]
    };
    Some(if w & (1 << 31) != 0 { -mag } else { mag })
}

/// `word` → (N, flags) when the word is canonical, i.e. exactly the word
/// [`decimal_to_word`]`(N, flags)` returns. Decided from the fields alone: factor 10, zero
/// only as the bare flags, and otherwise `p` (N = ±m · 10^p: 7 − k dividing, 7 + k
/// multiplying) is the smallest power that brings |N| within the 24-bit mantissa — `p` is 0
/// (dividing by 10^7) or the mantissa times 10 would not fit; multiplying by 10^0 is spelled
/// as dividing by 10^0; |N| must fit an `i64`.
#[inline]
pub fn word_to_decimal(w: u32) -> Option<(i64, u8)> {
    if w & (1 << 26) != 0 {
        return None;
    }
    let flags = ((w >> 24) & 3) as u8;
    let m = w & 0x00FF_FFFF;
    if m == 0 {
        return (w & !(3 << 24) == 0).then_some((0, flags));
    }
    let k = ((w >> 27) & 7) as usize;
    let p = if w & (1 << 30) != 0 {
        if k == 0 {
            return None;
        }
        7 + k
    } else {
        7 - k
    };
    if p != 0 && u64::from(m) * 10 <= M_MAX as u64 {
        return None;
    }
    let mag = i64::from(m).checked_mul(POW10[p])?;
    Some((if w & (1 << 31) != 0 { -mag } else { mag }, flags))
}

/// `i64::MAX / 10^p`: the largest mantissa whose `m · 10^p` fits an `i64`.
const MUL_MAX: [u64; 15] = {
    let mut t = [0u64; 15];
    let mut p = 0;
    while p < 15 {
        t[p] = i64::MAX as u64 / POW10[p] as u64;
        p += 1;
    }
    t
};

/// [`word_to_decimal`]`(w).is_some()` without computing the decimal (a test compares both).
#[inline(always)]
fn is_canonical(w: u32) -> bool {
    if w & (1 << 26) != 0 {
        return false;
    }
    let m = w & 0x00FF_FFFF;
    if m == 0 {
        return w & !(3 << 24) == 0;
    }
    let k = ((w >> 27) & 7) as usize;
    let p = if w & (1 << 30) != 0 {
        if k == 0 {
            return false;
        }
        7 + k
    } else {
        7 - k
    };
    if p != 0 && u64::from(m) * 10 <= M_MAX as u64 {
        return false;
    }
    u64::from(m) <= MUL_MAX[p]
}

#[inline]
fn div_pow10(n: u64, p: usize) -> u64 {
    match p {
        0 => n,
        1 => n / 10,
        2 => n / 100,
        3 => n / 1_000,
        4 => n / 10_000,
        5 => n / 100_000,
        6 => n / 1_000_000,
        7 => n / 10_000_000,
        8 => n / 100_000_000,
        9 => n / 1_000_000_000,
        10 => n / 10_000_000_000,
        11 => n / 100_000_000_000,
        12 => n / 1_000_000_000_000,
        13 => n / 10_000_000_000_000,
        _ => n / 100_000_000_000_000,
    }
}

/// (N, flags) → the canonical word, if there is one.
#[inline]
pub fn decimal_to_word(n: i64, flags: u8) -> Option<u32> {
    let f = u32::from(flags & 3) << 24;
    if n == 0 {
        return Some(f);
    }
    let a = n.unsigned_abs();
    let sign = if n < 0 { 1u32 << 31 } else { 0 };
    if a <= M_MAX as u64 {
        return Some(sign | (7 << 27) | f | a as u32);
    }
    // smallest p with a / 10^p <= M_MAX
    let mut p = (a.ilog10() as usize).saturating_sub(7);
    while p <= 14 && div_pow10(a, p) > M_MAX as u64 {
        p += 1;
    }
    if p > 14 {
        return None;
    }
    let m = div_pow10(a, p);
    if m * POW10[p] as u64 != a {
        return None;
    }
    let mode = if p <= 7 {
        ((7 - p) as u32) << 27
    } else {
        (1 << 30) | (((p - 7) as u32) << 27)
    };
    Some(sign | mode | f | m as u32)
}

#[inline]
fn zigzag64(d: i64) -> u64 {
    ((d << 1) ^ (d >> 63)) as u64
}
#[inline]
fn unzigzag64(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// `(5^-g mod 2^64, ⌊(2^64 − 1) / 5^g⌋)`: `a` is divisible by 5^g iff
/// `a · 5^-g mod 2^64 <= ⌊(2^64 − 1) / 5^g⌋` (the quotient, when exact, is that product).
const DIV5: [(u64, u64); 19] = {
    const INV5: u64 = 0xCCCC_CCCC_CCCC_CCCD; // 5 · INV5 ≡ 1 (mod 2^64)
    let mut t = [(1u64, u64::MAX); 19];
    let mut g = 1;
    while g < 19 {
        t[g] = (t[g - 1].0.wrapping_mul(INV5), t[g - 1].1 / 5);
        g += 1;
    }
    t
};

/// Largest `g` (<= 17) with every value divisible by 10^g (zeros do not constrain it; 0 when
/// all are zero or all divisible by 10^18). 10^g divides v iff 2^g and 5^g do: the trailing
/// binary zeros bound `g`, then a multiplication tests 5^g (no division).
fn common_pow10(vals: &[i64]) -> usize {
    let mut g = 18usize;
    for &v in vals {
        if v == 0 {
            continue;
        }
        let a = v.unsigned_abs();
        g = g.min(a.trailing_zeros() as usize);
        while g > 0 && a.wrapping_mul(DIV5[g].0) > DIV5[g].1 {
            g -= 1;
        }
        if g == 0 {
            return 0;
        }
    }
    if g == 18 {
        0
    } else {
        g
    }
}

/// `dst[i] = zigzag(src[i] / 10^g)`, with the division by a constant per `g`.
fn scale_into(src: &[i64], g: usize, dst: &mut [u64]) {
    macro_rules! by {
        ($($p:literal)*) => {
            match g {
                0 => {
                    for (d, &v) in dst.iter_mut().zip(src) {
                        *d = zigzag64(v);
                    }
                }
                $($p => {
                    for (d, &v) in dst.iter_mut().zip(src) {
                        *d = zigzag64(v / POW10[$p]);
                    }
                })*
                _ => {
                    for (d, &v) in dst.iter_mut().zip(src) {
                        *d = zigzag64(v / POW10[g.min(18)]);
                    }
                }
            }
        };
    }
    by!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17);
}

/// Appends the low `w` bits of each value, little-endian bit order (value `i` at bit `i * w`),
/// the last byte padded with zeros. Eight bytes are emitted at a time into a local buffer,
/// appended to `out` once (a block is at most 64 values of at most 64 bits).
fn put_bits(vals: impl Iterator<Item = u64>, w: u32, out: &mut Vec<u8>) {
    const BUF: usize = 512;
    let mut buf = [0u8; BUF];
    let mut n = 0usize;
    let mut acc: u128 = 0;
    let mut bits = 0u32;
    for v in vals {
        acc |= u128::from(v) << bits;
        bits += w;
        if bits >= 64 {
            if n == BUF {
                out.extend_from_slice(&buf);
                n = 0;
            }
            buf[n..n + 8].copy_from_slice(&(acc as u64).to_le_bytes());
            n += 8;
            acc >>= 64;
            bits -= 64;
        }
    }
    let tail = bits.div_ceil(8) as usize;
    out.reserve(n + tail);
    out.extend_from_slice(&buf[..n]);
    out.extend_from_slice(&acc.to_le_bytes()[..tail]);
}

fn width(vals: impl Iterator<Item = u64>) -> u32 {
    64 - vals.fold(0u64, |a, v| a | v).leading_zeros()
}

const MODE_CONST: u8 = 0;
const MODE_DELTA: u8 = 1;
const MODE_RAW: u8 = 2;
const MODE_SPARSE: u8 = 3;
const MODE_WORDS: u8 = 4;
const MODE_WDICT: u8 = 5;
const MODE_PFOR: u8 = 6;
const MODE_LATTICE: u8 = 7;

/// Unit conversions, as `N = n · NUM / DEN` for an integer `n` (`N` is the value times 10^7):
/// kB → MiB (1/1024). Netdata charts memory this way (`/proc/meminfo` in kB, charts in MiB),
/// so those values are `n/1024` numbers whose decimal digits look random (`0.3710938` is
/// 380/1024) while `n` moves by a few units. (Finer ratios such as 1/2^20 or 1/2^30 are
/// finer than the 7 digits kept: every value lies on them and nothing is gained.) The block
/// stores the index into this table, so ratios can be added.
const LATTICES: [(u64, u64); 1] = [(78_125, 8)];
/// Lattice blocks pay only while the 7 digits kept resolve finer than the lattice step
/// (9 765.625 in `N`): values below 16 777 215 · 10^3, i.e. ~1 677 MiB.
const LATTICE_MAX_ABS: u64 = 16_777_215_000;
/// A block is tried on the lattices only when the other modes spend at least this many bytes
/// on it (a cheap block has nothing to gain, and the write path stays fast).
const LATTICE_MIN_BYTES: usize = 24;

/// `N` of the canonical storage number of `n · NUM / DEN`: the smallest power of ten `p`
/// (<= 7) whose mantissa, rounded half to even, fits 24 bits. `None` when `n` is too large.
#[inline]
fn lattice_value(n: i64, (num, den): (u64, u64)) -> Option<i64> {
    let a = n.unsigned_abs().checked_mul(num)?;
    // one division by `den`; the powers of ten below are divisions by constants
    let (q0, r0) = (a / den, a % den);
    let mut p = if q0 > M_MAX as u64 { (q0.ilog10() as usize).saturating_sub(7) } else { 0 };
    while p <= 7 {
        // round (q0 + r0/den) / 10^p half to even
        let m = if p == 0 {
            q0 + u64::from(2 * r0 > den || (2 * r0 == den && q0 & 1 == 1))
        } else {
            let m = div_pow10(q0, p);
            let (rem, half) = (q0 - m * POW10[p] as u64, POW10[p] as u64 / 2);
            m + u64::from(rem > half || (rem == half && (r0 > 0 || m & 1 == 1)))
        };
        if m <= M_MAX as u64 {
            let mag = (m * POW10[p] as u64) as i64;
            return Some(if n < 0 { -mag } else { mag });
        }
        p += 1;
    }
    None
}

const MODE_RATIO: u8 = 8;
/// Largest row total of a [`MODE_RATIO`] block (a 40-core machine's jiffies per second).
const RATIO_MAX_T: u64 = 4096;
/// How far from the previous row total a value's total is looked for before the fraction
/// with the smallest total is computed.
const RATIO_NEAR: u64 = 8;

/// `N` of `100 · a / t` (a percentage of a row total, as Netdata's `system.cpu` and
/// `cpu.cpuN` store: `0.5025126` is 100 · 1/199), rounded as [`lattice_value`] does.
#[inline]
fn ratio_value(a: i64, t: u64) -> Option<i64> {
    if t == 0 || t > RATIO_MAX_T {
        return None;
    }
    lattice_value(a, (1_000_000_000, t))
}

/// A numerator `a` with `ratio_value(a, t) == Some(v)`, if there is one.
#[cfg(test)]
fn ratio_fit(v: i64, t: u64) -> Option<i64> {
    let a = lattice_index(v, (1_000_000_000, t));
    (ratio_value(a, t) == Some(v)).then_some(a)
}

/// The rounding interval of a value `v` (`N`, 0 < v <= 10^9, a percentage) as fractions of
/// one: `[lo / DEN, hi / DEN]` with `DEN` = 2·10^9, ends included (ties are settled by
/// [`ratio_value`] on the one candidate inside).
#[derive(Clone, Copy)]
struct RatioTarget {
    v: u64,
    lo: u64,
    hi: u64,
}

impl RatioTarget {
    const DEN: u64 = 2_000_000_000;

    /// (`v` in 1..=10^9: the caller checks.)
    fn new(v: u64) -> Self {
        debug_assert!((1..=1_000_000_000).contains(&v));
        // the power of ten of v's last kept digit (v / 10^p <= M_MAX; p <= 2 here): the
        // interval is v ± 10^p / 2
        let mut p = 0;
        while p < 2 && v > (M_MAX as u64 + 1) * POW10[p] as u64 - 1 {
            p += 1;
        }
        let unit = POW10[p] as u64;
        Self { v, lo: 2 * v - unit, hi: 2 * v + unit }
    }

    /// `ratio_fit` of `v` and `t` without its divisions when `a/t` is outside the interval
    /// (the interval is narrower than `1/t`, so only the nearest `a` can be inside; every
    /// product is below 2^44).
    #[inline]
    fn fit(&self, t: u64) -> Option<i64> {
        if t == 0 || t > RATIO_MAX_T {
            return None;
        }
        let a = (self.v * t + 500_000_000) / 1_000_000_000;
        let x = a * Self::DEN;
        if x < self.lo * t || x > self.hi * t {
            return None;
        }
        let a = a as i64;
        (ratio_value(a, t) == Some(self.v as i64)).then_some(a)
    }
}

/// The fraction `a/t` with the smallest `t` (<= [`RATIO_MAX_T`]) that rounds to `v` (`N` of a
/// value in -100..=100; `None` beyond), found by walking the Stern–Brocot tree between the bounds of `v`'s
/// rounding interval.
fn ratio_smallest(v: i64) -> Option<(i64, u64)> {
    if v <= 0 {
        return if v == 0 { Some((0, 1)) } else { ratio_smallest(-v).map(|(a, t)| (-a, t)) };
    }
    if v > 1_000_000_000 {
        return None; // over 100 %
    }
    ratio_smallest_in(RatioTarget::new(v as u64))
}

/// [`ratio_smallest`] of a positive value.
fn ratio_smallest_in(target: RatioTarget) -> Option<(i64, u64)> {
    let v = target.v;
    // x = value / 100 = N / 10^9; bounds lo = (2v - unit) / (2·10^9), hi = (2v + unit) / (2·10^9)
    // (every product below is at most ~2·10^9 · 2·RATIO_MAX_T: 64 bits suffice)
    let den = RatioTarget::DEN;
    let (lo_n, hi_n) = (target.lo, target.hi);
    // mediants of (pa/pt) and (qa/qt), starting from 0/1 and 1/0
    let (mut pa, mut pt, mut qa, mut qt) = (0u64, 1u64, 1u64, 0u64);
    for _ in 0..200 {
        let (ma, mt) = (pa + qa, pt + qt);
        if mt > RATIO_MAX_T || ma > 2 * RATIO_MAX_T {
            return None;
        }
        // compare ma/mt with the bounds
        if ma * den < lo_n * mt {
            // below the interval: move the lower end up, as far as it stays strictly below
            // (the largest k with (pa + k·qa) / (pt + k·qt) < lo; the mediant, k = 1, is)
            let k = ((lo_n * pt - pa * den - 1) / (qa * den - lo_n * qt)).clamp(1, RATIO_MAX_T);
            pa += k * qa;
            pt += k * qt;
        } else if ma * den > hi_n * mt {
            let k = ((qa * den - hi_n * qt - 1) / (hi_n * pt - pa * den)).clamp(1, RATIO_MAX_T);
            qa += k * pa;
            qt += k * pt;
        } else {
            let a = i64::try_from(ma).ok()?;
            return (ratio_value(a, mt) == Some(v as i64)).then_some((a, mt));
        }
    }
    None
}

/// Rewrites the block written at `out[start..]` as numerators and row totals
/// ([`ratio_value`]) if every value is such a percentage and that takes fewer bytes; whether
/// it did.
fn put_ratio_if_smaller(vals: &[i64], start: usize, out: &mut Vec<u8>) -> bool {
    let n = vals.len().min(BLOCK);
    let best = out.len().saturating_sub(start);
    if n == 0 || best < LATTICE_MIN_BYTES || vals.iter().any(|v| v.unsigned_abs() > 1_000_000_000) {
        return false;
    }
    // the row total of the first non-zero value, a quick reject for other series
    let Some(first) = vals.iter().find(|&&v| v != 0) else {
        return false;
    };
    let Some((_, t0)) = ratio_smallest(*first) else {
        return false;
    };
    let mut za = [0u64; BLOCK];
    let mut zt = [0u64; BLOCK];
    let mut t = t0;
    // widths only grow: give up as soon as the block can no longer be smaller (a header of at
    // least 4 bytes; numerators at least as wide as their magnitudes)
    let (mut wa_min, mut wt) = (0u32, 0u32);
    for i in 0..n {
        let v = vals[i];
        let (a, c) = if v == 0 {
            (0, t)
        } else {
            let target = RatioTarget::new(v.unsigned_abs());
            let mut near = std::iter::once(t).chain((1..=RATIO_NEAR).flat_map(|d| [t + d, t.saturating_sub(d)]));
            let near = near.find_map(|c| target.fit(c).map(|a| (a, c)));
            let Some((a, c)) = near.or_else(|| ratio_smallest_in(target)) else {
                return false;
            };
            (if v < 0 { -a } else { a }, c)
        };
        za[i] = a as u64;
        zt[i] = zigzag64(c as i64 - t as i64);
        t = c;
        wa_min = wa_min.max(64 - a.unsigned_abs().leading_zeros());
        wt = wt.max(64 - zt[i].leading_zeros());
        if 4 + (n * (wa_min + wt) as usize).div_ceil(8) >= best {
            return false;
        }
    }
    // numerators as they are when none is negative (flag 0x80 on the width), else zig-zag
    let unsigned = za[..n].iter().all(|&a| (a as i64) >= 0);
    if !unsigned {
        for a in &mut za[..n] {
            *a = zigzag64(*a as i64);
        }
    }
    let (wa, wt) = (width(za[..n].iter().copied()), width(zt[..n].iter().copied()));
    let mut hdr = [0u8; 3];
    hdr.copy_from_slice(&[MODE_RATIO, wa as u8 | if unsigned { 0x80 } else { 0 }, wt as u8]);
    let mut tv = Vec::with_capacity(3);
    put_varint(&mut tv, t0);
    let cost = 3 + tv.len() + (n * (wa + wt) as usize).div_ceil(8);
    if cost >= best {
        return false;
    }
    out.truncate(start);
    out.extend_from_slice(&hdr);
    out.extend_from_slice(&tv);
    put_bits(zt[..n].iter().copied(), wt, out);
    put_bits(za[..n].iter().copied(), wa, out);
    true
}

/// The lattice point nearest to `N` (its `n`), saturated to the `i64` range.
#[inline]
fn lattice_index(v: i64, (num, den): (u64, u64)) -> i64 {
    // (64-bit arithmetic for the values the block modes try; 128-bit for the rest)
    if let (Some(x), Ok(num), Ok(den)) = (v.checked_mul(den as i64), i64::try_from(num), i64::try_from(den)) {
        if x.checked_abs().is_some_and(|a| a <= i64::MAX - num) && num > 0 && den > 0 {
            return if x >= 0 { (x + num / 2) / num } else { (x - num / 2) / num };
        }
    }
    let x = i128::from(v) * i128::from(den);
    let half = i128::from(num / 2);
    let n = if x >= 0 { (x + half) / i128::from(num) } else { (x - half) / i128::from(num) };
    n.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Rewrites the block written at `out[start..]` (by the other modes, `best` bytes) as steps on
/// one of the [`LATTICES`] if all its values lie on it and that takes fewer bytes; whether it
/// did. `base` is the value before the block.
fn put_lattice_if_smaller(vals: &[i64], base: i64, start: usize, out: &mut Vec<u8>) -> bool {
    let n = vals.len();
    let best = out.len().saturating_sub(start);
    if n == 0 || best < LATTICE_MIN_BYTES {
        return false;
    }
    if vals.iter().any(|v| v.unsigned_abs() > LATTICE_MAX_ABS) {
        return false;
    }
    let on = |v: i64, lat| lattice_value(lattice_index(v, lat), lat) == Some(v);
    let n = n.min(BLOCK);
    let mut z = [0u64; BLOCK];
    // the first lattice that holds every value and takes fewer bytes
    let Some((li, w)) = LATTICES.iter().enumerate().find_map(|(li, &lat)| {
        // a quick look at three values before the whole block
        if !(on(vals[0], lat) && on(vals[n / 2], lat) && on(vals[n - 1], lat)) {
            return None;
        }
        let mut prev = lattice_index(base, lat);
        let mut w = 0;
        for (d, &v) in z.iter_mut().zip(&vals[..n]) {
            let k = lattice_index(v, lat);
            *d = zigzag64(k.wrapping_sub(prev));
            prev = k;
            w = w.max(64 - d.leading_zeros());
            // (widths only grow: stop as soon as the block can no longer be smaller)
            if 3 + (n * w as usize).div_ceil(8) >= best || lattice_value(k, lat) != Some(v) {
                return None;
            }
        }
        Some((li, w))
    }) else {
        return false;
    };
    let z = &z[..n];
    out.truncate(start);
    out.push(MODE_LATTICE);
    out.push(w as u8);
    out.push(li as u8);
    put_bits(z.iter().copied(), w, out);
    true
}

/// Patched deltas: the cheapest width `w` below the deltas' width `wd` when the values that do
/// not fit `w` bits are stored apart (6-bit index + their `wd − w` high bits): (total bytes of
/// the block, w, exceptions). `None` if no such width is cheaper than `wd`.
fn pfor_cost(sd: &[u64], wd: u32) -> Option<(usize, u32, usize)> {
    let n = sd.len();
    let mut best: Option<(usize, u32, usize)> = None;
    // exceptions at each width: values whose bit length exceeds it
    let mut by_len = [0usize; 65];
    for &z in sd {
        by_len[(64 - z.leading_zeros()) as usize] += 1;
    }
    let mut above = 0usize;
    for w in (0..wd).rev() {
        above += by_len[w as usize + 1];
        if above > 64 {
            break;
        }
        let cost = 5 + (n * w as usize).div_ceil(8) + (above * 6).div_ceil(8) + (above * (wd - w) as usize).div_ceil(8);
        if best.is_none_or(|b| cost < b.0) {
            best = Some((cost, w, above));
        }
    }
    best
}

/// Writes the block as patched deltas (`sd`, scaled by `10^gd`, `wd` bits wide) if that takes
/// fewer than `chosen` bytes (what the other modes would spend, headers included); whether it
/// did.
fn put_pfor_if_smaller(sd: &[u64], gd: usize, wd: u32, chosen: usize, out: &mut Vec<u8>) -> bool {
    let Some((cost_p, w, ne)) = pfor_cost(sd, wd) else {
        return false;
    };
    if cost_p >= chosen {
        return false;
    }
    let wh = wd - w;
    out.push(MODE_PFOR);
    out.push(w as u8);
    out.push(gd as u8);
    out.push(ne as u8);
    out.push(wh as u8);
    let low = if w == 0 { 0 } else { u64::MAX >> (64 - w) };
    put_bits(sd.iter().map(|&z| z & low), w, out);
    let exc = || sd.iter().enumerate().filter(|(_, &z)| z >> w != 0);
    put_bits(exc().map(|(i, _)| i as u64), 6, out);
    put_bits(exc().map(|(_, &z)| z >> w), wh, out);
    true
}

/// The storage-number fields of `N` (sign, multiply, exponent, mantissa) as a 29-bit code.
#[inline]
fn decimal_code(n: i64) -> u64 {
    u64::from(word_code(decimal_to_word(n, 0).unwrap_or(0)))
}

/// [`decimal_code`] of the N of a canonical word, read off the word.
#[inline]
fn word_code(w: u32) -> u32 {
    ((w >> 31) << 28) | (((w >> 27) & 0xF) << 24) | (w & 0x00FF_FFFF)
}

#[inline]
fn code_decimal(c: u64) -> i64 {
    let c = c as u32;
    let w = ((c >> 28) << 31) | (((c >> 24) & 0xF) << 27) | (c & 0x00FF_FFFF);
    word_to_decimal(w).map_or(0, |x| x.0)
}

/// Packs one block: its values, their [`decimal_code`]s and their deltas (the first to the
/// value before the block), choosing the smallest of: constant, deltas, raw values, a bitmap
/// of non-zero values plus those values (scaled, as codes, or as mantissas with an exponent
/// dictionary).
///
/// The deltas are scaled first; when bounds show that no other mode can be chosen (the
/// usual case of a slowly moving series), the block is written as deltas without scaling the
/// values or building the dictionary — the same choice and bytes as [`pack_block64_all`]
/// (a test compares them).
fn pack_block64(vals: &[i64], codes: &[u32], deltas: &[i64], out: &mut Vec<u8>) {
    if deltas.iter().all(|&d| d == 0) {
        out.push(MODE_CONST);
        return;
    }
    let n = deltas.len().min(vals.len()).min(codes.len()).min(BLOCK);
    let (vals, codes, deltas) = (&vals[..n], &codes[..n], &deltas[..n]);
    let gd = common_pow10(deltas);
    let mut sd = [0u64; BLOCK];
    scale_into(deltas, gd, &mut sd);
    let sd = &sd[..n];
    let wd = width(sd.iter().copied());
    let cost_d = (n * wd as usize).div_ceil(8);
    // non-zero values, the OR of the codes (the code of 0 is 0) and of the non-zero
    // values' mantissas, the largest magnitude
    let (mut nnz, mut cor, mut mor, mut amax) = (0usize, 0u32, 0u32, 0u64);
    for (&x, &c) in vals.iter().zip(codes) {
        nnz += usize::from(x != 0);
        cor |= c;
        mor |= if x != 0 { c & 0x00FF_FFFF } else { 0 };
        amax = amax.max(x.unsigned_abs());
    }
    let ww = 32 - cor.leading_zeros();
    let cost_w = n.div_ceil(8) + (nnz * ww as usize).div_ceil(8);
    // the values' common power of ten is at most that of the largest one, `g`: its scaled
    // value is at least amax / 10^g, its zig-zag code at least twice that less one
    let wr_min = if amax == 0 {
        0
    } else {
        let mut g = (amax.trailing_zeros() as usize).min(17);
        while g > 0 && amax.wrapping_mul(DIV5[g].0) > DIV5[g].1 {
            g -= 1;
        }
        // exact: amax is divisible by 2^g and 5^g
        let q = (amax >> g).wrapping_mul(DIV5[g].0);
        (128 - (2 * u128::from(q) - 1).leading_zeros()) as usize
    };
    let cost_r_min = (n * wr_min).div_ceil(8);
    let cost_s_min = n.div_ceil(8) + (nnz * wr_min).div_ceil(8);
    // the dictionary costs at least its header, one entry and the mantissas
    let cost_x_min = 2 + n.div_ceil(8) + (nnz * (32 - mor.leading_zeros()) as usize).div_ceil(8);
    let deltas_win = amax > 0
        && cost_r_min >= cost_d
        && cost_s_min >= cost_d
        && cost_w + 2 >= cost_d
        && (nnz == 0 || cost_x_min + 2 >= cost_w.min(cost_d));
    // (the deltas mode spends cost_d + 3 with its header: patched deltas must not be smaller)
    if deltas_win && pfor_cost(sd, wd).is_none_or(|(cost_p, _, _)| cost_p >= cost_d + 3) {
        out.push(MODE_DELTA);
        out.push(wd as u8);
        out.push(gd as u8);
        put_bits(sd.iter().copied(), wd, out);
        return;
    }
    pack_block64_all(vals, codes, deltas, gd, sd, wd, out);
}

/// [`pack_block64`] weighing every mode, with the deltas already scaled (`sd`, by `10^gd`,
/// `wd` bits wide).
#[allow(clippy::too_many_arguments)]
fn pack_block64_all(vals: &[i64], codes: &[u32], deltas: &[i64], gd: usize, sd: &[u64], wd: u32, out: &mut Vec<u8>) {
    let n = deltas.len();
    let nnz = vals.iter().filter(|&&x| x != 0).count();
    let gr = common_pow10(vals);
    let mut sr = [0u64; BLOCK];
    scale_into(vals, gr, &mut sr);
    let sr = &sr[..n];
    // zeros scale to 0: the width of the non-zero values (sparse) is that of all of them
    let wr = width(sr.iter().copied());
    let cost_d = (n * wd as usize).div_ceil(8);
    let cost_r = (n * wr as usize).div_ceil(8);
    let cost_s = n.div_ceil(8) + (nnz * wr as usize).div_ceil(8);
    // the code of 0 is 0
    let ww = width(codes.iter().map(|&c| u64::from(c)));
    let cost_w = n.div_ceil(8) + (nnz * ww as usize).div_ceil(8);
    // exponent dictionary: (sign, multiply, k) of the non-zero values in order of first
    // appearance, then mantissas
    let mut dict = [0u8; 32];
    let mut slot = [0u8; 32];
    let mut nd = 0usize;
    let mut seen = 0u32;
    let mut mant = 0u32;
    for (&x, &c) in vals.iter().zip(codes) {
        if x == 0 {
            continue;
        }
        let e = (c >> 24) & 31;
        if seen & (1 << e) == 0 {
            seen |= 1 << e;
            dict[nd] = e as u8;
            slot[e as usize] = nd as u8;
            nd += 1;
        }
        mant |= c & 0x00FF_FFFF;
    }
    let dict = &dict[..nd];
    let wm = 32 - mant.leading_zeros();
    let ib = if nd <= 1 {
        0
    } else {
        usize::BITS - (nd - 1).leading_zeros()
    };
    let cost_x = 1 + nd + n.div_ceil(8) + (nnz * (ib + wm) as usize).div_ceil(8);
    let nonzero = || vals.iter().map(|&x| u64::from(x != 0));
    let nz_codes = || {
        vals.iter()
            .zip(codes)
            .filter(|(&x, _)| x != 0)
            .map(|(_, &c)| c)
    };
    // what the modes below would spend (their header bytes included)
    let chosen = if nd > 0 && cost_x + 2 < cost_w.min(cost_s).min(cost_d).min(cost_r) {
        cost_x + 2
    } else if cost_w + 2 < cost_s.min(cost_d).min(cost_r) {
        cost_w + 3
    } else {
        cost_s.min(cost_d).min(cost_r) + 3
    };
    if put_pfor_if_smaller(sd, gd, wd, chosen, out) {
        return;
    }
    if nd > 0 && cost_x + 2 < cost_w.min(cost_s).min(cost_d).min(cost_r) {
        out.push(MODE_WDICT);
        out.push(wm as u8);
        out.push(nd as u8);
        out.extend_from_slice(dict);
        put_bits(nonzero(), 1, out);
        put_bits(
            nz_codes().map(|c| u64::from(slot[((c >> 24) & 31) as usize])),
            ib,
            out,
        );
        put_bits(nz_codes().map(|c| u64::from(c & 0x00FF_FFFF)), wm, out);
        return;
    }
    if cost_w + 2 < cost_s.min(cost_d).min(cost_r) {
        out.push(MODE_WORDS);
        out.push(ww as u8);
        out.push(0);
        put_bits(nonzero(), 1, out);
        put_bits(nz_codes().map(u64::from), ww, out);
        return;
    }
    if cost_s < cost_d && cost_s < cost_r {
        out.push(MODE_SPARSE);
        out.push(wr as u8);
        out.push(gr as u8);
        put_bits(nonzero(), 1, out);
        put_bits(
            vals.iter()
                .zip(sr)
                .filter(|(&x, _)| x != 0)
                .map(|(_, &z)| z),
            wr,
            out,
        );
    } else if cost_r < cost_d {
        out.push(MODE_RAW);
        out.push(wr as u8);
        out.push(gr as u8);
        put_bits(sr.iter().copied(), wr, out);
    } else {
        out.push(MODE_DELTA);
        out.push(wd as u8);
        out.push(gd as u8);
        put_bits(sd.iter().copied(), wd, out);
    }
}

/// Reads `len` values of `w` bits from `*pos`.
fn get_bits(
    buf: &[u8],
    pos: &mut usize,
    len: usize,
    w: u32,
    mut f: impl FnMut(u64),
) -> Result<(), CodecError> {
    if w > 64 {
        return Err(CodecError::Invalid("block width over 64"));
    }
    let nbytes = (len * w as usize).div_ceil(8);
    let bytes = buf
        .get(*pos..*pos + nbytes)
        .ok_or(CodecError::Truncated(*pos))?;
    *pos += nbytes;
    if w == 0 {
        for _ in 0..len {
            f(0);
        }
        return Ok(());
    }
    if w <= 56 {
        let mask = (1u64 << w) - 1;
        let mut bit = 0usize;
        for _ in 0..len {
            let byte = bit >> 3;
            let v = match bytes.get(byte..byte + 8) {
                Some(b) => u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
                None => {
                    let mut word = [0u8; 8];
                    word[..bytes.len() - byte].copy_from_slice(&bytes[byte..]);
                    u64::from_le_bytes(word)
                }
            };
            f((v >> (bit & 7)) & mask);
            bit += w as usize;
        }
        return Ok(());
    }
    let mask: u128 = if w == 64 {
        u128::from(u64::MAX)
    } else {
        (1u128 << w) - 1
    };
    let mut bit = 0usize;
    for _ in 0..len {
        let byte = bit >> 3;
        let v = if byte + 16 <= bytes.len() {
            let mut word = [0u8; 16];
            word.copy_from_slice(&bytes[byte..byte + 16]);
            u128::from_le_bytes(word)
        } else {
            let mut word = [0u8; 16];
            word[..bytes.len() - byte].copy_from_slice(&bytes[byte..]);
            u128::from_le_bytes(word)
        };
        f(((v >> (bit & 7)) & mask) as u64);
        bit += w as usize;
    }
    Ok(())
}

/// Decodes one block of `len` values after `*prev`, appending to `vals`.
fn unpack_block64(
    buf: &[u8],
    pos: &mut usize,
    len: usize,
    prev: &mut i64,
    vals: &mut Vec<i64>,
) -> Result<(), CodecError> {
    let mode = *buf.get(*pos).ok_or(CodecError::Truncated(*pos))?;
    *pos += 1;
    if mode == MODE_CONST {
        vals.extend(std::iter::repeat_n(*prev, len));
        return Ok(());
    }
    let hdr = buf.get(*pos..*pos + 2).ok_or(CodecError::Truncated(*pos))?;
    let (w, g) = (u32::from(hdr[0]), usize::from(hdr[1]));
    *pos += 2;
    if mode == MODE_PFOR {
        let scale = *POW10.get(g).ok_or(CodecError::Invalid("block scale"))?;
        let eh = buf.get(*pos..*pos + 2).ok_or(CodecError::Truncated(*pos))?;
        let (ne, wh) = (usize::from(eh[0]), u32::from(eh[1]));
        *pos += 2;
        if ne > len || w >= 64 || w + wh > 64 {
            return Err(CodecError::Invalid("patched block"));
        }
        let mut z = [0u64; BLOCK];
        let mut i = 0;
        get_bits(buf, pos, len, w, |v| {
            z[i] = v;
            i += 1;
        })?;
        let mut idx = [0u8; BLOCK];
        let mut j = 0;
        get_bits(buf, pos, ne, 6, |v| {
            idx[j] = v as u8;
            j += 1;
        })?;
        let mut k = 0;
        let mut bad = false;
        get_bits(buf, pos, ne, wh, |h| {
            match z.get_mut(usize::from(idx[k])).filter(|_| usize::from(idx[k]) < len) {
                Some(v) => *v |= h << w,
                None => bad = true,
            }
            k += 1;
        })?;
        if bad {
            return Err(CodecError::Invalid("patched block index"));
        }
        let mut p = *prev;
        for &v in &z[..len] {
            p = p.wrapping_add(unzigzag64(v).wrapping_mul(scale));
            vals.push(p);
        }
        *prev = p;
        return Ok(());
    }
    if mode == MODE_LATTICE {
        let lat = *LATTICES.get(g).ok_or(CodecError::Invalid("lattice"))?;
        let mut k = lattice_index(*prev, lat);
        let mut bad = false;
        get_bits(buf, pos, len, w, |z| {
            k = k.wrapping_add(unzigzag64(z));
            match lattice_value(k, lat) {
                Some(v) => vals.push(v),
                None => bad = true,
            }
        })?;
        if bad {
            return Err(CodecError::Invalid("lattice value out of range"));
        }
        *prev = vals.last().copied().unwrap_or(*prev);
        return Ok(());
    }
    if mode == MODE_RATIO {
        let (unsigned, wa, wt) = (w & 0x80 != 0, w & 0x7F, g as u32);
        let mut t = get_varint(buf, pos)?;
        if wa > 64 || wt > 64 {
            return Err(CodecError::Invalid("ratio block width"));
        }
        let mut ts = [0u64; BLOCK];
        let mut i = 0;
        get_bits(buf, pos, len, wt, |z| {
            t = t.wrapping_add(unzigzag64(z) as u64);
            ts[i] = t;
            i += 1;
        })?;
        let mut j = 0;
        let mut bad = false;
        get_bits(buf, pos, len, wa, |z| {
            let a = if unsigned { z as i64 } else { unzigzag64(z) };
            match ratio_value(a, ts[j]) {
                Some(v) => vals.push(v),
                None => bad = true,
            }
            j += 1;
        })?;
        if bad {
            return Err(CodecError::Invalid("ratio value out of range"));
        }
        *prev = vals.last().copied().unwrap_or(*prev);
        return Ok(());
    }
    if mode == MODE_WDICT {
        let nd = g;
        let dict = buf
            .get(*pos..*pos + nd)
            .ok_or(CodecError::Truncated(*pos))?
            .to_vec();
        *pos += nd;
        if dict.is_empty() || w > 24 {
            return Err(CodecError::Invalid("exponent dictionary block"));
        }
        let ib = if nd <= 1 {
            0
        } else {
            usize::BITS - (nd - 1).leading_zeros()
        };
        let mut mask = [false; BLOCK];
        let mut i = 0;
        get_bits(buf, pos, len, 1, |b| {
            mask[i] = b != 0;
            i += 1;
        })?;
        let nnz = mask[..len].iter().filter(|&&b| b).count();
        let mut exps = Vec::with_capacity(nnz);
        get_bits(buf, pos, nnz, ib, |x| {
            exps.push(dict.get(x as usize).copied().unwrap_or(0))
        })?;
        let mut nz = Vec::with_capacity(nnz);
        let mut j = 0;
        get_bits(buf, pos, nnz, w, |m| {
            let e = u64::from(exps.get(j).copied().unwrap_or(0));
            nz.push(code_decimal((e << 24) | m));
            j += 1;
        })?;
        let mut it = nz.into_iter();
        for &m in &mask[..len] {
            vals.push(if m { it.next().unwrap_or(0) } else { 0 });
        }
        *prev = vals.last().copied().unwrap_or(*prev);
        return Ok(());
    }
    let scale = *POW10.get(g).ok_or(CodecError::Invalid("block scale"))?;
    match mode {
        MODE_DELTA => {
            let mut p = *prev;
            get_bits(buf, pos, len, w, |z| {
                p = p.wrapping_add(unzigzag64(z).wrapping_mul(scale));
                vals.push(p);
            })?;
            *prev = p;
        }
        MODE_RAW => {
            get_bits(buf, pos, len, w, |z| {
                vals.push(unzigzag64(z).wrapping_mul(scale))
            })?;
            *prev = vals.last().copied().unwrap_or(*prev);
        }
        MODE_SPARSE | MODE_WORDS => {
            let mut mask = [false; BLOCK];
            let mut i = 0;
            get_bits(buf, pos, len, 1, |b| {
                mask[i] = b != 0;
                i += 1;
            })?;
            let nnz = mask[..len].iter().filter(|&&b| b).count();
            let mut nz = Vec::with_capacity(nnz);
            if mode == MODE_WORDS {
                get_bits(buf, pos, nnz, w, |c| nz.push(code_decimal(c)))?;
            } else {
                get_bits(buf, pos, nnz, w, |z| {
                    nz.push(unzigzag64(z).wrapping_mul(scale))
                })?;
            }
            let mut it = nz.into_iter();
            for &m in &mask[..len] {
                vals.push(if m { it.next().unwrap_or(0) } else { 0 });
            }
            *prev = vals.last().copied().unwrap_or(*prev);
        }
        _ => return Err(CodecError::Invalid("block mode")),
    }
    Ok(())
}

thread_local! {
    /// One packed block, reused across encoders.
    static SCRATCH: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Incremental encoder of tier-0 words (see above). Keeps at most one block of words unpacked,
/// inline: an open page is one heap block plus its packed bytes. `repr(C)`: what a push reads
/// and writes (`n`, `plen`, `flags`; `base` when a block is packed) fills the first 32 bytes,
/// so a push touches that line and the one of its word.
#[derive(Clone, Debug)]
#[repr(C)]
pub struct NumEncoder {
    n: u32,
    /// Words in `pending`.
    plen: u32,
    /// Value before the pending block.
    base: i64,
    /// (flags, run length)
    flags: FlagRuns,
    first: i64,
    out: Vec<u8>,
    /// (index, verbatim word)
    exc: Vec<(u32, u32)>,
    /// The words of the block being filled (`plen` of them).
    pending: [u32; BLOCK],
}

impl Default for NumEncoder {
    fn default() -> Self {
        Self {
            n: 0,
            plen: 0,
            base: 0,
            flags: FlagRuns::default(),
            first: 0,
            out: Vec::new(),
            exc: Vec::new(),
            pending: [0; BLOCK],
        }
    }
}

/// Runs of equal flags of a column, (flags, run length): the first run inline, the rest
/// allocated only when the flags change (most series never raise one).
#[derive(Clone, Debug, Default)]
struct FlagRuns {
    first: (u8, u32),
    #[allow(clippy::box_collection, reason = "one word in every open page instead of three")]
    rest: Option<Box<Vec<(u8, u32)>>>,
}

impl FlagRuns {
    fn rest(&self) -> &[(u8, u32)] {
        self.rest.as_deref().map_or(&[], Vec::as_slice)
    }
    fn push(&mut self, fl: u8) {
        let last = match self.rest.as_mut().and_then(|r| r.last_mut()) {
            Some(l) => l,
            None => &mut self.first,
        };
        if last.1 == 0 {
            *last = (fl, 1);
        } else if last.0 == fl {
            last.1 += 1;
        } else {
            self.rest.get_or_insert_with(Box::default).push((fl, 1));
        }
    }
    fn len(&self) -> usize {
        if self.first.1 == 0 { 0 } else { 1 + self.rest().len() }
    }
    fn iter(&self) -> impl Iterator<Item = (u8, u32)> + '_ {
        let first = (self.first.1 != 0).then_some(self.first);
        first.into_iter().chain(self.rest().iter().copied())
    }
    fn heap_bytes(&self) -> usize {
        self.rest.as_ref().map_or(0, |r| 24 + r.capacity() * 8)
    }
}

impl NumEncoder {
    /// Room for `n` more packed bytes before a batch of pushes (no reallocation per block);
    /// [`NumEncoder::shrink`] after it, so that an open page holds no spare capacity.
    pub fn reserve(&mut self, n: usize) {
        self.out.reserve_exact(n);
    }
    pub fn shrink(&mut self) {
        self.out.shrink_to(chunk_capacity(self.out.len()));
    }
    /// Appends one word. Only checks whether the word is canonical (then its flags go to the
    /// flag runs and the word to the pending block; otherwise it is an exception): the
    /// decimal of each word is computed once, when its block is packed.
    #[inline]
    pub fn push(&mut self, w: u32) {
        let i = self.n;
        if i == 0 {
            return self.push_first(w);
        }
        self.n = i + 1;
        let (fl, w) = if is_canonical(w) {
            (((w >> 24) & 3) as u8, w)
        } else {
            self.exc.push((i, w));
            // pending keeps the empty word: "same as the previous value"
            (0, 0x0400_0000)
        };
        self.flags.push(fl);
        if let Some(slot) = self.pending.get_mut(self.plen as usize) {
            *slot = w;
            self.plen += 1;
        }
        if self.plen as usize == BLOCK {
            self.pack_full_block();
        }
    }

    /// The first word: its decimal is the page's first value (0 for an exception).
    #[cold]
    fn push_first(&mut self, w: u32) {
        self.n = 1;
        let (val, fl) = match word_to_decimal(w) {
            Some(x) => x,
            None => {
                self.exc.push((0, w));
                (0, 0)
            }
        };
        self.flags.push(fl);
        self.first = val;
        self.base = val;
    }

    /// Packs the full pending block onto `out`; its last value is the next block's base.
    #[inline(never)]
    fn pack_full_block(&mut self) {
        // packed into a per-thread scratch buffer, then appended growing to the malloc chunk
        // it needs ([`reserve_chunk`]), so an open page holds no spare capacity
        SCRATCH.with(|b| {
            let mut blk = b.take();
            blk.clear();
            self.base = self.pack_pending(&mut blk);
            reserve_chunk(&mut self.out, blk.len());
            self.out.extend_from_slice(&blk);
            b.set(blk);
        });
        self.plen = 0;
    }

    /// `pending` holds the block's values as words (4 bytes each); exceptions are stored as
    /// the empty word and stand for the previous value. Returns the block's last value.
    fn pack_pending(&self, out: &mut Vec<u8>) -> i64 {
        let n = (self.plen as usize).min(BLOCK);
        let mut vals = [0i64; BLOCK];
        let mut codes = [0u32; BLOCK];
        let mut deltas = [0i64; BLOCK];
        let mut p = self.base;
        let mut pc = decimal_code(p) as u32;
        for (i, &w) in self.pending[..n].iter().enumerate() {
            // canonical words give N and their code directly; an exception repeats the
            // previous value
            if let Some(v) = word_to_decimal_unchecked(w) {
                pc = word_code(w);
                deltas[i] = v.wrapping_sub(p);
                p = v;
            }
            vals[i] = p;
            codes[i] = pc;
        }
        let start = out.len();
        pack_block64(&vals[..n], &codes[..n], &deltas[..n], out);
        if !put_lattice_if_smaller(&vals[..n], self.base, start, out) {
            put_ratio_if_smaller(&vals[..n], start, out);
        }
        p
    }

    pub fn len(&self) -> u32 {
        self.n
    }
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
    /// Prefetch hint for the block the next [`NumEncoder::push`] appends to.
    #[inline]
    pub fn prefetch_tail(&self) {
        if let Some(w) = self.pending.get(self.plen as usize) {
            crate::storage::mmap::prefetch(w);
        }
    }
    pub fn encoded_len(&self) -> usize {
        10 + self.out.len() + self.plen as usize * 4 + self.flags.len() * 4 + self.exc.len() * 6
    }
    pub fn heap_bytes(&self) -> usize {
        self.out.capacity()
            + self.flags.heap_bytes()
            + self.exc.capacity() * 8
    }
    pub fn finish_into(&self, out: &mut Vec<u8>) {
        put_varint(out, zigzag64(self.first));
        out.extend_from_slice(&self.out);
        if self.plen > 0 {
            self.pack_pending(out);
        }
        put_varint(out, self.flags.len() as u64);
        for (f, c) in self.flags.iter() {
            out.push(f);
            put_varint(out, u64::from(c));
        }
        put_varint(out, self.exc.len() as u64);
        let mut last = 0;
        for &(i, w) in &self.exc {
            put_varint(out, u64::from(i - last));
            last = i;
            out.extend_from_slice(&w.to_le_bytes());
        }
    }
}

/// Decodes `n` tier-0 words written by [`NumEncoder::finish_into`].
pub fn decode_numbers(
    buf: &[u8],
    pos: &mut usize,
    n: usize,
    out: &mut Vec<u32>,
) -> Result<(), CodecError> {
    if n == 0 {
        return Ok(());
    }
    if n > MAX_PAGE_POINTS {
        return Err(CodecError::Invalid("too many points"));
    }
    let start = out.len();
    let mut vals: Vec<i64> = Vec::with_capacity(n);
    let mut prev = unzigzag64(get_varint(buf, pos)?);
    vals.push(prev);
    let mut left = n - 1;
    while left > 0 {
        let len = left.min(BLOCK);
        unpack_block64(buf, pos, len, &mut prev, &mut vals)?;
        left -= len;
    }
    // flags
    let runs = get_varint(buf, pos)? as usize;
    if runs > n {
        return Err(CodecError::Invalid("too many flag runs"));
    }
    out.reserve(n);
    let mut i = 0usize;
    for _ in 0..runs {
        let f = *buf.get(*pos).ok_or(CodecError::Truncated(*pos))?;
        *pos += 1;
        let c = get_varint(buf, pos)? as usize;
        if i + c > n {
            return Err(CodecError::Invalid("flag runs exceed the point count"));
        }
        for &v in &vals[i..i + c] {
            out.push(decimal_to_word(v, f).unwrap_or(0x0400_0000));
        }
        i += c;
    }
    if i != n {
        return Err(CodecError::Invalid("flag runs do not cover the page"));
    }
    let ne = get_varint(buf, pos)? as usize;
    if ne > n {
        return Err(CodecError::Invalid("too many exceptions"));
    }
    let mut at = 0usize;
    for _ in 0..ne {
        at += get_varint(buf, pos)? as usize;
        let b = buf.get(*pos..*pos + 4).ok_or(CodecError::Truncated(*pos))?;
        *pos += 4;
        let slot = out
            .get_mut(start + at)
            .ok_or(CodecError::Invalid("exception index"))?;
        *slot = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    Ok(())
}

#[cfg(test)]
mod num_tests {
    use super::*;

    #[test]
    fn garbage_never_panics() {
        let mut rng = crate::testkit::XorShift64::new(0x9E37_79B9_7F4A_7C15);
        for round in 0..3000 {
            let len = round % 300;
            let buf: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            let n = (rng.state() % 2000) as usize;
            let mut pos = 0;
            let _ = decode_numbers(&buf, &mut pos, n, &mut Vec::new());
            let mut pos = 0;
            let mut cols = vec![Vec::new(); 6];
            let _ = decode_aggs(&buf, &mut pos, n, &mut cols);
            let mut pos = 0;
            let _ = Runs::decode(&buf, &mut pos, n);
            let mut pos = 0;
            let _ = decode_column(&buf, &mut pos, n, &mut Vec::new());
        }
    }
    use crate::storage::number::{StorageNumber, FLAG_NOT_ANOMALOUS, FLAG_RESET};

    #[test]
    fn common_power_of_ten_matches_remainders() {
        let mut rng = crate::testkit::XorShift64::new(0x2545_F491_4F6C_DD1D);
        for i in 0..200_000u64 {
            let x = rng.next_u64();
            // many trailing decimal zeros, both signs, the extremes
            let v = match i % 4 {
                0 => ((x as i64) / POW10[(x % 19) as usize]).wrapping_mul(POW10[(x >> 7) as usize % 19]),
                1 => -((x % 1_000_000) as i64) * POW10[(x >> 20) as usize % 13],
                2 => [i64::MIN, i64::MAX, 0, 1, -1, POW10[18], -POW10[18]][(x % 7) as usize],
                _ => x as i64,
            };
            let by_rem = (0..18).rev().find(|&g| v != 0 && v % POW10[g] == 0).unwrap_or(0);
            let by_rem = if v != 0 && v % POW10[18] == 0 { 0 } else { by_rem };
            assert_eq!(common_pow10(&[v]), by_rem, "{v}");
        }
    }

    #[test]
    fn canonical_words_map_to_decimals_and_back() {
        for x in [
            0.0,
            93.5,
            6.5,
            0.5,
            -2.5,
            123.456789,
            16777215.0,
            16777216.0,
            1e-7,
            99999999999.0,
            0.4975124,
            33.333333,
        ] {
            for f in [0, FLAG_NOT_ANOMALOUS, FLAG_RESET | FLAG_NOT_ANOMALOUS] {
                let w = StorageNumber::pack(x, f).0;
                let (n, fl) = word_to_decimal(w).unwrap_or_else(|| panic!("{x} not canonical"));
                assert_eq!(decimal_to_word(n, fl), Some(w), "{x}");
            }
        }
        assert_eq!(word_to_decimal(StorageNumber::EMPTY.0), None);
    }

    /// The checks of [`is_canonical`] are those of [`word_to_decimal`]: every combination of
    /// the top byte (sign, multiply, exponent, the empty bit, flags) with mantissas at every
    /// boundary (0, the factor-10 bound, the top, the `i64` overflow of each power) and random
    /// ones.
    #[test]
    fn canonical_check_is_word_to_decimal() {
        let mut ms: Vec<u32> = vec![0, 1, 9, 10, 11, 1_677_721, 1_677_722, 1_677_723, 0x00FF_FFFF, 0x00FF_FFFE];
        for &x in &MUL_MAX {
            for d in [-1i64, 0, 1] {
                let m = x as i64 + d;
                if (0..=0x00FF_FFFF).contains(&m) {
                    ms.push(m as u32);
                }
            }
        }
        let mut rng = crate::testkit::XorShift64::new(0x9E37_79B9_7F4A_7C15);
        for _ in 0..2000 {
            let x = rng.next_u64();
            ms.push((x as u32) & 0x00FF_FFFF);
        }
        for top in 0..=255u32 {
            for &m in &ms {
                let w = (top << 24) | m;
                assert_eq!(is_canonical(w), word_to_decimal(w).is_some(), "{w:#010x}");
            }
        }
    }

    /// [`pack_block64`] without its shortcut: every mode weighed ([`pack_block64_all`]), the
    /// reference of the bytes.
    fn ref_pack_block64(vals: &[i64], codes: &[u32], deltas: &[i64], out: &mut Vec<u8>) {
        if deltas.iter().all(|&d| d == 0) {
            out.push(MODE_CONST);
            return;
        }
        let n = deltas.len();
        let gd = common_pow10(deltas);
        let mut sd = [0u64; BLOCK];
        scale_into(deltas, gd, &mut sd);
        let wd = width(sd[..n].iter().copied());
        pack_block64_all(vals, codes, deltas, gd, &sd[..n], wd, out);
    }

    /// [`pack_block64`] writes what [`ref_pack_block64`] writes, byte for byte, on blocks of
    /// every shape: slow and fast walks of every magnitude and sign, zeros (sparse), mixed
    /// exponents (dictionary), values of few digits, constants, exceptions; every mode is
    /// chosen.
    #[test]
    fn block_packing_is_that_of_the_reference() {
        let mut rng = crate::testkit::XorShift64::new(0x2545_F491_4F6C_DD1D);
        let mut rnd = |n: u64| rng.below(n);
        let mut modes = [0usize; 7];
        for round in 0..20_000 {
            let n = if round % 3 == 0 { 1 + rnd(64) as usize } else { 64 };
            let scale = [1e-7, 1e-3, 0.5, 1.0, 100.0, 1e6, 1e12, 3e17][rnd(8) as usize];
            let step = [0.0, 1.0, 10.0, 1000.0, 1e6][rnd(5) as usize] * scale;
            let mut v = (rnd(2_000_001) as f64 - 1e6) * scale;
            let zeros = rnd(4);
            let mut words = Vec::with_capacity(n + 1);
            for _ in 0..=n {
                v += (rnd(2001) as f64 - 1000.0) / 1000.0 * step;
                let w = match rnd(40) {
                    0 => 0x0400_0000, // an exception: the previous value
                    1 => StorageNumber::pack(v * 1e-5, 0).0,
                    2..=9 if zeros > 1 => 0,
                    _ if zeros == 3 && rnd(2) == 0 => 0,
                    _ => StorageNumber::pack(v, FLAG_NOT_ANOMALOUS).0,
                };
                words.push(if word_to_decimal(w).is_some() { w } else { 0x0400_0000 });
            }
            let mut p = word_to_decimal(words[0]).map_or(0, |d| d.0);
            let mut pc = decimal_code(p) as u32;
            let (mut vals, mut codes, mut deltas) = (Vec::new(), Vec::new(), Vec::new());
            for &w in &words[1..] {
                let mut d = 0;
                if let Some((val, _)) = word_to_decimal(w) {
                    pc = word_code(w);
                    d = val.wrapping_sub(p);
                    p = val;
                }
                vals.push(p);
                codes.push(pc);
                deltas.push(d);
            }
            let (mut got, mut want) = (Vec::new(), Vec::new());
            pack_block64(&vals, &codes, &deltas, &mut got);
            ref_pack_block64(&vals, &codes, &deltas, &mut want);
            assert_eq!(got, want, "round {round}: {vals:?}");
            modes[usize::from(want[0])] += 1;
        }
        assert!(modes.iter().all(|&m| m > 50), "every mode chosen: {modes:?}");
    }

    /// The encoder as it was before [`NumEncoder::push`] stopped decoding each word (the
    /// decimal kept per push, the block packed from it): the bytes must not change.
    struct RefEncoder {
        n: u32,
        prev: i64,
        base: i64,
        first: i64,
        flags: Vec<(u8, u32)>,
        out: Vec<u8>,
        exc: Vec<(u32, u32)>,
        pending: Vec<u32>,
    }

    impl RefEncoder {
        fn push(&mut self, w: u32) {
            let i = self.n;
            self.n += 1;
            let (val, fl, w) = match word_to_decimal(w) {
                Some((v, f)) => (v, f, w),
                None => {
                    self.exc.push((i, w));
                    (self.prev, 0, 0x0400_0000)
                }
            };
            match self.flags.last_mut() {
                Some(l) if l.0 == fl => l.1 += 1,
                _ => self.flags.push((fl, 1)),
            }
            if i == 0 {
                (self.first, self.prev, self.base) = (val, val, val);
                return;
            }
            self.prev = val;
            self.pending.push(w);
            if self.pending.len() == BLOCK {
                let mut blk = Vec::new();
                self.pack(&mut blk);
                self.out.extend_from_slice(&blk);
                self.base = self.prev;
                self.pending.clear();
            }
        }
        fn pack(&self, out: &mut Vec<u8>) {
            let mut vals = Vec::new();
            let mut codes = Vec::new();
            let mut deltas = Vec::new();
            let mut p = self.base;
            let mut pc = decimal_code(p) as u32;
            for &w in &self.pending {
                let mut d = 0;
                if let Some((v, _)) = word_to_decimal(w) {
                    pc = word_code(w);
                    d = v.wrapping_sub(p);
                    p = v;
                }
                vals.push(p);
                codes.push(pc);
                deltas.push(d);
            }
            ref_pack_block64(&vals, &codes, &deltas, out);
        }
        fn finish(&self) -> Vec<u8> {
            let mut out = Vec::new();
            put_varint(&mut out, zigzag64(self.first));
            out.extend_from_slice(&self.out);
            if !self.pending.is_empty() {
                self.pack(&mut out);
            }
            put_varint(&mut out, self.flags.len() as u64);
            for &(f, c) in &self.flags {
                out.push(f);
                put_varint(&mut out, u64::from(c));
            }
            put_varint(&mut out, self.exc.len() as u64);
            let mut last = 0;
            for &(i, w) in &self.exc {
                put_varint(&mut out, u64::from(i - last));
                last = i;
                out.extend_from_slice(&w.to_le_bytes());
            }
            out
        }
    }

    /// [`NumEncoder`] gives the bytes [`RefEncoder`] gives, after every push, on random walks
    /// of several shapes mixed with exceptions (negative zero, factor 100, the empty word,
    /// random words) first, inside and at the end of blocks, flags changing, zeros and
    /// extremes.
    #[test]
    fn encoder_bytes_are_those_of_the_reference() {
        let mut rng = crate::testkit::XorShift64::new(0x2545_F491_4F6C_DD1D);
        let mut rnd = |n: u64| rng.below(n);
        for round in 0..60 {
            let len = 1 + rnd(400) as usize;
            let mut v = (rnd(2_000_000) as f64 - 1e6) * [1.0, 1e-3, 1e5, 0.5][round % 4];
            let mut words = Vec::with_capacity(len);
            for _ in 0..len {
                let w = match rnd(30) {
                    0 => 0x8000_0000,
                    1 => StorageNumber::pack(9.2e18, 0).0,
                    2 => StorageNumber::EMPTY.0,
                    3 => rnd(1 << 32) as u32,
                    4 => StorageNumber::pack(0.0, FLAG_NOT_ANOMALOUS).0,
                    5 => StorageNumber::pack(v, FLAG_RESET).0,
                    6 => StorageNumber::pack(v, 0).0,
                    7 => StorageNumber::pack(-v * 1e9, FLAG_NOT_ANOMALOUS).0,
                    _ => {
                        v += (rnd(2001) as f64 - 1000.0) * [1e-7, 0.01, 1.0, 0.5][round % 4];
                        StorageNumber::pack(v, FLAG_NOT_ANOMALOUS).0
                    }
                };
                words.push(w);
            }
            let mut e = NumEncoder::default();
            let mut r = RefEncoder { n: 0, prev: 0, base: 0, first: 0, flags: Vec::new(), out: Vec::new(), exc: Vec::new(), pending: Vec::new() };
            for (i, &w) in words.iter().enumerate() {
                e.push(w);
                r.push(w);
                if i < 70 || i % 13 == 0 || i + 1 == len {
                    let mut got = Vec::new();
                    e.finish_into(&mut got);
                    assert_eq!(got, r.finish(), "round {round}, after {} words", i + 1);
                }
            }
            let mut out = Vec::new();
            let (mut buf, mut pos) = (Vec::new(), 0);
            e.finish_into(&mut buf);
            decode_numbers(&buf, &mut pos, len, &mut out).expect("decodes");
            assert_eq!(out, words, "round {round}");
        }
    }

    /// One page of `words`: encoded, decoded back word for word (all of the page read).
    fn page_round_trip(words: &[u32]) -> Vec<u8> {
        let mut e = NumEncoder::default();
        for &w in words {
            e.push(w);
        }
        let mut buf = Vec::new();
        e.finish_into(&mut buf);
        let (mut pos, mut out) = (0, Vec::new());
        decode_numbers(&buf, &mut pos, words.len(), &mut out).expect("decodes");
        assert_eq!(out, words);
        assert_eq!(pos, buf.len());
        buf
    }

    /// The mode byte of a page's first block (after the first value).
    fn first_block_mode(page: &[u8]) -> u8 {
        let mut p = 0;
        get_varint(page, &mut p).expect("first");
        page[p]
    }

    #[test]
    fn spiky_numbers_use_patched_blocks_and_round_trip() {
        // small steps with a rare spike: the spike's bits go apart (patched block)
        let mut x = 1000.0f64;
        let words: Vec<u32> = (0..4000u32)
            .map(|i| {
                x += f64::from(i.wrapping_mul(2_654_435_761) % 7) - 3.0;
                let v = if i % 97 == 13 { x * 1000.0 + 0.5 } else { x };
                StorageNumber::pack(v, FLAG_NOT_ANOMALOUS).0
            })
            .collect();
        let buf = page_round_trip(&words);
        // the first block after the first value is a patched one
        assert_eq!(first_block_mode(&buf), MODE_PFOR, "block mode");
        // every mutation of the page decodes or fails, never panics; truncations fail
        for i in 0..buf.len().min(600) {
            for bit in [0u8, 3, 7] {
                let mut bad = buf.clone();
                bad[i] ^= 1 << bit;
                let mut pos = 0;
                let _ = decode_numbers(&bad, &mut pos, words.len(), &mut Vec::new());
            }
        }
        for cut in 0..buf.len().min(600) {
            let mut pos = 0;
            assert!(decode_numbers(&buf[..cut], &mut pos, words.len(), &mut Vec::new()).is_err());
        }
    }

    #[test]
    fn memory_in_mib_uses_lattice_blocks_and_round_trips() {
        // /proc/meminfo kB charted in MiB: n/1024 with n moving by a few kB, in every
        // mantissa range up to the lattice limit, negative too
        for (start, sign) in [(380i64, 1.0), (1_990i64, 1.0), (457_600, 1.0), (1_300_000, 1.0), (9_000, -1.0)] {
            let mut n = start;
            let words: Vec<u32> = (0..3000u32)
                .map(|i| {
                    n += i64::from(i.wrapping_mul(2_654_435_761) % 9) - 4;
                    StorageNumber::pack(sign * n as f64 / 1024.0, FLAG_NOT_ANOMALOUS).0
                })
                .collect();
            let buf = page_round_trip(&words);
            assert_eq!(first_block_mode(&buf), MODE_LATTICE, "start {start}: block mode");
            // steps of at most 4 kB: 4 bits a point, where the decimal deltas take 11 to 17
            assert!(buf.len() < 3000 * 5 / 8 + 400, "start {start}: {} bytes", buf.len());
        }
        // every value of a range maps back to itself through its lattice index
        for n in (-3_000_000i64..3_000_000).step_by(7) {
            let lat = LATTICES[0];
            let v = lattice_value(n, lat).expect("in range");
            assert_eq!(lattice_value(lattice_index(v, lat), lat), Some(v), "n {n}");
            let w = StorageNumber::pack(n as f64 / 1024.0, 0).0;
            assert_eq!(word_to_decimal(w).map(|x| x.0), Some(v), "n {n}: as Netdata packs it");
        }
    }

    #[test]
    fn cpu_percentages_use_ratio_blocks_and_round_trip() {
        // 100 · a / t: jiffies of one state over the row total, which wanders around 200
        // (two cores at 100 Hz); some zeros; a negated chart too
        for sign in [1i64, -1] {
            let mut t = 200i64;
            let words: Vec<u32> = (0..3000u32)
                .map(|i| {
                    let r = i.wrapping_mul(2_654_435_761);
                    t = (t + i64::from(r % 7) - 3).clamp(150, 260);
                    let a = i64::from((r >> 8) % 40) * i64::from(i % 5 != 0);
                    StorageNumber::pack((sign * 100 * a) as f64 / t as f64, FLAG_NOT_ANOMALOUS).0
                })
                .collect();
            let buf = page_round_trip(&words);
            assert_eq!(first_block_mode(&buf), MODE_RATIO, "sign {sign}: block mode");
            // 6 bits of numerator and 3 of total change a point (plus block headers and
            // exceptions), where the 7-digit decimals take 20 or more
            assert!(buf.len() < 3000 * 14 / 8, "sign {sign}: {} bytes", buf.len());
        }
        // the smallest total is found for every fraction of totals up to 300
        for t in 1..=300u64 {
            for a in 0..=t {
                let v = ratio_value(a as i64, t).expect("in range");
                let (sa, st) = ratio_smallest(v).unwrap_or_else(|| panic!("{a}/{t} = {v}: not found"));
                assert!(st <= t, "{a}/{t}: found {sa}/{st}");
                assert_eq!(ratio_value(sa, st), Some(v));
            }
        }
    }

    #[test]
    fn ratio_target_fit_agrees_with_the_exact_fit() {
        // the encoder's pre-filtered fit against rounding every candidate exactly: values on
        // fractions (their neighbours one unit off too), random values, totals out of range
        let mut rng = crate::testkit::XorShift64::new(0x0f17_7e57);
        let mut hits = 0;
        for i in 0..300_000u32 {
            // (a / 1024 of 100 % ends in exactly half a unit: ties at the interval's ends)
            let t = if i % 4 == 3 { 1024 } else { 1 + rng.below(RATIO_MAX_T) };
            let mut v = match i % 3 {
                0 => ratio_value(rng.below(t + 1) as i64, t).expect("in range"),
                1 => 1 + rng.below(1_000_000_000) as i64,
                _ => 1 + rng.below(1000) as i64 * 10i64.pow(rng.below(7) as u32),
            };
            if i % 5 == 0 {
                v += [1, -1, 50, -50][(i / 5 % 4) as usize];
            }
            let v = v.clamp(1, 1_000_000_000);
            let target = RatioTarget::new(v as u64);
            for c in [t, t + 1, t.saturating_sub(1), rng.below(RATIO_MAX_T + 10)] {
                let want = ratio_fit(v, c);
                hits += usize::from(want.is_some());
                assert_eq!(target.fit(c), want, "v {v} t {c}");
            }
        }
        assert!(hits > 50_000, "{hits} fits: the test must exercise hits");
    }

    #[test]
    fn lattice_rounding_is_exact_rational_rounding() {
        // reference: round a / (den · 10^p) half to even in one division
        fn reference(n: i64, (num, den): (u64, u64)) -> Option<i64> {
            let a = u128::from(n.unsigned_abs().checked_mul(num)?);
            for &pow in &POW10[..=7] {
                let d = u128::from(den) * pow as u128;
                let (q, r) = (a / d, a % d);
                let m = q + u128::from(2 * r > d || (2 * r == d && q & 1 == 1));
                if m <= M_MAX as u128 {
                    let mag = (m * pow as u128) as i64;
                    return Some(if n < 0 { -mag } else { mag });
                }
            }
            None
        }
        let mut rng = crate::testkit::XorShift64::new(0x1a77_1ce5);
        for i in 0..400_000u32 {
            let t = 1 + rng.below(RATIO_MAX_T);
            let lat = if i % 2 == 0 { LATTICES[0] } else { (1_000_000_000, t) };
            // magnitudes across every power of ten, ties included (n a multiple of den / 2)
            let scale = 10u64.pow(i % 17);
            let mut n = (rng.below(100_000) * scale.max(1) / 1000) as i64;
            if i % 7 == 0 {
                n = n / (lat.1 as i64).max(1) * (lat.1 as i64) / 2 * 2 + (lat.1 as i64) / 2;
            }
            if i % 3 == 0 {
                n = -n;
            }
            assert_eq!(lattice_value(n, lat), reference(n, lat), "n {n} lattice {lat:?}");
        }
    }

    #[test]
    fn hostile_ratio_blocks_are_errors() {
        let dec = |b: &[u8]| {
            let mut pos = 0;
            decode_numbers(b, &mut pos, 4, &mut Vec::new())
        };
        // a row total of 0 or past the limit, a width over 64, truncation: errors, no panic
        let block = |wa: u8, wt: u8, t0: u8| {
            let mut b = vec![0u8, MODE_RATIO, wa, wt, t0];
            b.extend_from_slice(&[0x11; 24]);
            b
        };
        assert!(dec(&block(0x84, 0, 0)).is_err(), "total 0");
        assert!(dec(&block(0x84, 8, 100)).is_err(), "totals past the limit");
        assert!(dec(&block(0x84, 65, 100)).is_err(), "width");
        assert!(dec(&[0u8, MODE_RATIO, 0x84, 2]).is_err(), "truncated");
        let _ = dec(&block(4, 2, 100));
    }

    #[test]
    fn hostile_lattice_blocks_are_errors() {
        // first value 0, then a lattice block of 3 values: mode, width, lattice index, bits
        let dec = |b: &[u8]| {
            let mut pos = 0;
            decode_numbers(b, &mut pos, 4, &mut Vec::new())
        };
        let mut unknown = vec![0u8, MODE_LATTICE, 4, LATTICES.len() as u8];
        unknown.extend_from_slice(&[0u8; 8]);
        assert_eq!(dec(&unknown), Err(CodecError::Invalid("lattice")));
        // steps that leave the i64 range: an error, not an overflow
        let mut huge = vec![0u8, MODE_LATTICE, 64, 0];
        huge.extend_from_slice(&[0xFE; 24]);
        assert!(dec(&huge).is_err());
        assert!(dec(&[0u8, MODE_LATTICE, 8]).is_err(), "truncated");
    }

    #[test]
    fn hostile_patched_blocks_are_errors() {
        // first value 0, then one patched block of 3 values: mode, w, g, exceptions, high width
        let page = |w: u8, ne: u8, wh: u8, idx: u8| {
            let mut b = vec![0u8, MODE_PFOR, w, 0, ne, wh];
            b.extend_from_slice(&[0u8; 24]); // low bits (3 · w bits at most)
            b.push(idx); // 6-bit index
            b.extend_from_slice(&[0xFF; 8]); // high bits
            b
        };
        let dec = |b: &[u8]| {
            let mut pos = 0;
            decode_numbers(b, &mut pos, 4, &mut Vec::new())
        };
        assert!(dec(&page(64, 1, 0, 0)).is_err(), "64-bit low part");
        assert!(dec(&page(40, 1, 30, 0)).is_err(), "wider than 64 bits");
        assert!(dec(&page(3, 4, 5, 0)).is_err(), "more exceptions than values");
        assert!(dec(&page(3, 1, 5, 3)).is_err(), "index past the block");
        // a well-formed block (the flag runs after it are garbage): no panic either way
        let _ = dec(&page(3, 1, 5, 2));
    }

    #[test]
    fn numbers_round_trip_with_exceptions() {
        let mut words: Vec<u32> = (0..3000)
            .map(|i| {
                StorageNumber::pack(
                    f64::from(i % 17) * 0.5 + f64::from(i / 100),
                    FLAG_NOT_ANOMALOUS,
                )
                .0
            })
            .collect();
        words[5] = 0x8000_0000; // negative zero: not canonical
        words[100] = StorageNumber::pack(9.2e18, 0).0; // factor-100 range
        words[101] = StorageNumber::pack(3.0, FLAG_RESET).0;
        words.extend((0..500u32).map(|i| i.wrapping_mul(2_654_435_761) & !0x0400_0000));
        for n in [1, 2, 64, 65, 1000, words.len()] {
            let mut e = NumEncoder::default();
            for &w in &words[..n] {
                e.push(w);
            }
            let mut buf = Vec::new();
            e.finish_into(&mut buf);
            let mut pos = 0;
            let mut out = Vec::new();
            decode_numbers(&buf, &mut pos, n, &mut out).expect("decodes");
            assert_eq!(&out[..], &words[..n], "n={n}");
            assert_eq!(pos, buf.len());
            for cut in (0..buf.len()).step_by(7) {
                let mut pos = 0;
                let _ = decode_numbers(&buf[..cut], &mut pos, n, &mut Vec::new());
            }
        }
    }
}

/// Encoder of upper-tier points (six u32 columns: sum, min, max bits, count, anomalous,
/// reset): each point is six zig-zag varints of the difference to the previous point. No
/// pending block, so an open page of a slow tier costs only its bytes.
#[derive(Clone, Debug, Default)]
pub struct AggEncoder {
    prev: [u32; 6],
    n: u32,
    out: Vec<u8>,
}

impl AggEncoder {
    /// Appends one point: its six varints (at most 30 bytes) are coded on the stack, then
    /// appended with one [`reserve_chunk`] (no doubling of the page's buffer).
    pub fn push(&mut self, cols: &[u32; 6]) {
        let mut buf = [0u8; 30];
        let mut len = 0;
        for (p, &c) in self.prev.iter_mut().zip(cols) {
            let mut z = zigzag(c.wrapping_sub(*p) as i32);
            while z >= 0x80 {
                buf[len] = (z as u8) | 0x80;
                z >>= 7;
                len += 1;
            }
            buf[len] = z as u8;
            len += 1;
            *p = c;
        }
        reserve_chunk(&mut self.out, len);
        self.out.extend_from_slice(&buf[..len]);
        self.n += 1;
    }
    pub fn len(&self) -> u32 {
        self.n
    }
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
    pub fn encoded_len(&self) -> usize {
        self.out.len()
    }
    pub fn heap_bytes(&self) -> usize {
        self.out.capacity()
    }
    pub fn finish_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.out);
    }
}

/// Decodes `n` points written by [`AggEncoder`] into six columns.
pub fn decode_aggs(
    buf: &[u8],
    pos: &mut usize,
    n: usize,
    cols: &mut [Vec<u32>],
) -> Result<(), CodecError> {
    if n > MAX_PAGE_POINTS || cols.len() != 6 {
        return Err(CodecError::Invalid("aggregate page shape"));
    }
    let mut prev = [0u32; 6];
    for c in cols.iter_mut() {
        c.clear();
        c.reserve(n);
    }
    for _ in 0..n {
        for (k, p) in prev.iter_mut().enumerate() {
            let z = get_varint(buf, pos)?;
            let z = u32::try_from(z).map_err(|_| CodecError::Invalid("aggregate delta"))?;
            *p = p.wrapping_add(unzigzag(z) as u32);
            cols[k].push(*p);
        }
    }
    Ok(())
}

impl AggEncoder {
    /// Rebuilds an encoder from `n` points it encoded (`bytes` = its output).
    pub fn restore(bytes: &[u8], n: usize) -> Result<Self, CodecError> {
        let mut cols = vec![Vec::new(); 6];
        let mut pos = 0;
        decode_aggs(bytes, &mut pos, n, &mut cols)?;
        if pos != bytes.len() {
            return Err(CodecError::Invalid("trailing bytes after aggregates"));
        }
        let mut prev = [0u32; 6];
        for (p, c) in prev.iter_mut().zip(&cols) {
            *p = c.last().copied().unwrap_or(0);
        }
        Ok(Self {
            prev,
            n: n as u32,
            out: bytes.to_vec(),
        })
    }
}

#[cfg(test)]
mod growth_tests {
    use super::*;
    use crate::storage::number::StorageNumber;

    #[test]
    fn chunk_capacity_is_the_usable_size_of_a_glibc_chunk() {
        assert_eq!(chunk_capacity(0), 24);
        assert_eq!(chunk_capacity(24), 24);
        assert_eq!(chunk_capacity(25), 40);
        assert_eq!(chunk_capacity(40), 40);
        assert_eq!(chunk_capacity(41), 56);
        for need in 0..5000 {
            let c = chunk_capacity(need);
            assert!(c >= need && c < need.max(24) + 16, "{need} → {c}");
            assert_eq!((c + 8) % 16, 0, "{need} → {c}: a whole chunk less its header");
            assert_eq!(chunk_capacity(c), c, "{need}: stable");
        }
    }

    /// The encoders' buffers grow one malloc chunk at a time, never beyond the chunk their
    /// bytes need (no doubling), and the aggregate bytes are those of one `put_varint` per
    /// column, as before the stack buffer.
    #[test]
    fn open_page_buffers_hold_no_spare_chunk_and_bytes_do_not_change() {
        let mut rng = crate::testkit::XorShift64::new(0x9E37_79B9_7F4A_7C15);
        let mut rnd = |n: u64| rng.below(n);
        let mut a = AggEncoder::default();
        let mut reference = Vec::new();
        let mut prev = [0u32; 6];
        let mut cols_in: Vec<[u32; 6]> = Vec::new();
        for i in 0..3000 {
            let shift = [0, 7, 14, 21, 28, 31][i % 6];
            let cols: [u32; 6] = std::array::from_fn(|k| if k < 3 { (rnd(1 << 32) as u32) >> shift } else { rnd(3) as u32 });
            a.push(&cols);
            for (p, &c) in prev.iter_mut().zip(&cols) {
                put_varint(&mut reference, u64::from(zigzag(c.wrapping_sub(*p) as i32)));
                *p = c;
            }
            cols_in.push(cols);
            assert!(a.out.capacity() <= chunk_capacity(a.out.len()), "point {i}: {} for {}", a.out.capacity(), a.out.len());
        }
        assert_eq!(a.out, reference);
        let mut cols = vec![Vec::new(); 6];
        decode_aggs(&a.out, &mut 0, cols_in.len(), &mut cols).expect("decodes");
        for (i, p) in cols_in.iter().enumerate() {
            assert!((0..6).all(|k| cols[k][i] == p[k]), "point {i}");
        }

        let mut e = NumEncoder::default();
        let mut v = 1000.0f64;
        for i in 0..4000 {
            v += (rnd(2001) as f64 - 1000.0) * [0.001, 1.0, 1e4][(i / 500) % 3];
            e.push(StorageNumber::pack(v, 0).0);
            assert!(e.out.capacity() <= chunk_capacity(e.out.len()), "word {i}: {} for {}", e.out.capacity(), e.out.len());
        }
        e.reserve(640);
        e.shrink();
        assert_eq!(e.out.capacity(), chunk_capacity(e.out.len()).min(e.out.capacity()));
        assert!(e.out.capacity() <= chunk_capacity(e.out.len()));
    }
}
