//! Tier-0 pages on disk are read back by later builds. This file freezes the encoder as it was
//! first written (before the speed-ups of the replication absorb path) and checks that its pages
//! decode with today's decoder, that today's `NumEncoder` writes the very same bytes except
//! where a patched-delta, lattice or ratio block (added with data-file formats 2 and 3) is
//! smaller — then the page is strictly shorter —, and that `word_to_decimal` accepts exactly the words the original
//! definition accepted.

use ndcluster::storage::codec::{decimal_to_word, put_varint, word_to_decimal, NumEncoder};
use ndcluster::storage::number::{StorageNumber, FLAG_NOT_ANOMALOUS, FLAG_RESET};
use ndcluster::testkit::XorShift64Star;

/// The original encoder, verbatim except for names.
mod reference {
    use super::*;

    pub const BLOCK: usize = 64;
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

    /// The original canonical check: a round trip through `decimal_to_word`.
    pub fn word_to_decimal(w: u32) -> Option<(i64, u8)> {
        if w == 0x0400_0000 {
            return None;
        }
        let flags = ((w >> 24) & 3) as u8;
        if w & (1 << 26) != 0 {
            return None;
        }
        let n = word_to_decimal_unchecked(w)?;
        (decimal_to_word(n, flags) == Some(w)).then_some((n, flags))
    }

    fn zigzag64(d: i64) -> u64 {
        ((d << 1) ^ (d >> 63)) as u64
    }

    /// Largest `g` (<= 18) with every value divisible by 10^g (zeros do not constrain it).
    fn common_pow10(vals: impl Iterator<Item = i64>) -> usize {
        let mut g = 18usize;
        for v in vals {
            if v == 0 {
                continue;
            }
            while g > 0 && v % POW10[g] != 0 {
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

    fn scaled(v: i64, g: usize) -> u64 {
        if g == 0 {
            zigzag64(v)
        } else {
            zigzag64(v / POW10[g])
        }
    }

    fn put_bits(vals: impl Iterator<Item = u64>, w: u32, out: &mut Vec<u8>) {
        let mut acc: u128 = 0;
        let mut bits = 0u32;
        for v in vals {
            acc |= u128::from(v) << bits;
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

    fn width(vals: impl Iterator<Item = u64>) -> u32 {
        64 - vals.fold(0u64, |a, v| a | v).leading_zeros()
    }

    const MODE_CONST: u8 = 0;
    const MODE_DELTA: u8 = 1;
    const MODE_RAW: u8 = 2;
    const MODE_SPARSE: u8 = 3;
    const MODE_WORDS: u8 = 4;
    const MODE_WDICT: u8 = 5;

    /// The storage-number fields of `N` (sign, multiply, exponent, mantissa) as a 29-bit code.
    fn decimal_code(n: i64) -> u64 {
        let w = decimal_to_word(n, 0).unwrap_or(0);
        u64::from(((w >> 31) << 28) | (((w >> 27) & 0xF) << 24) | (w & 0x00FF_FFFF))
    }

    /// Packs one block given the value before it (`base`) and its deltas, choosing the smallest
    /// of: constant, deltas, raw values, or a bitmap of non-zero values plus those values.
    fn pack_block64(base: i64, deltas: &[i64], out: &mut Vec<u8>) {
        if deltas.iter().all(|&d| d == 0) {
            out.push(MODE_CONST);
            return;
        }
        let mut vals = [0i64; BLOCK];
        let mut v = base;
        for (slot, &d) in vals.iter_mut().zip(deltas) {
            v = v.wrapping_add(d);
            *slot = v;
        }
        let vals = &vals[..deltas.len()];
        let n = deltas.len();
        let nnz = vals.iter().filter(|&&x| x != 0).count();
        let gd = common_pow10(deltas.iter().copied());
        let gr = common_pow10(vals.iter().copied());
        let gs = gr;
        let wd = width(deltas.iter().map(|&d| scaled(d, gd)));
        let wr = width(vals.iter().map(|&x| scaled(x, gr)));
        let ws = width(vals.iter().filter(|&&x| x != 0).map(|&x| scaled(x, gs)));
        let cost_d = (n * wd as usize).div_ceil(8);
        let cost_r = (n * wr as usize).div_ceil(8);
        let cost_s = n.div_ceil(8) + (nnz * ws as usize).div_ceil(8);
        let ww = width(vals.iter().filter(|&&x| x != 0).map(|&x| decimal_code(x)));
        let cost_w = n.div_ceil(8) + (nnz * ww as usize).div_ceil(8);
        // exponent dictionary: (sign, multiply, k) of the non-zero values, then mantissas
        let mut dict: Vec<u8> = Vec::new();
        let mut wm = 0;
        for &x in vals.iter().filter(|&&x| x != 0) {
            let c = decimal_code(x);
            let e = (c >> 24) as u8;
            if !dict.contains(&e) {
                dict.push(e);
            }
            wm = wm.max(64 - (c & 0x00FF_FFFF).leading_zeros());
        }
        let ib = if dict.len() <= 1 {
            0
        } else {
            usize::BITS - (dict.len() - 1).leading_zeros()
        };
        let cost_x = 1 + dict.len() + n.div_ceil(8) + (nnz * (ib + wm) as usize).div_ceil(8);
        if !dict.is_empty() && cost_x + 2 < cost_w.min(cost_s).min(cost_d).min(cost_r) {
            out.push(MODE_WDICT);
            out.push(wm as u8);
            out.push(dict.len() as u8);
            out.extend_from_slice(&dict);
            put_bits(vals.iter().map(|&x| u64::from(x != 0)), 1, out);
            let nz: Vec<u64> = vals
                .iter()
                .filter(|&&x| x != 0)
                .map(|&x| decimal_code(x))
                .collect();
            put_bits(
                nz.iter().map(|c| {
                    dict.iter()
                        .position(|&e| u64::from(e) == c >> 24)
                        .unwrap_or(0) as u64
                }),
                ib,
                out,
            );
            put_bits(nz.iter().map(|c| c & 0x00FF_FFFF), wm, out);
            return;
        }
        if cost_w + 2 < cost_s.min(cost_d).min(cost_r) {
            out.push(MODE_WORDS);
            out.push(ww as u8);
            out.push(0);
            put_bits(vals.iter().map(|&x| u64::from(x != 0)), 1, out);
            put_bits(
                vals.iter().filter(|&&x| x != 0).map(|&x| decimal_code(x)),
                ww,
                out,
            );
            return;
        }
        if cost_s < cost_d && cost_s < cost_r {
            out.push(MODE_SPARSE);
            out.push(ws as u8);
            out.push(gs as u8);
            put_bits(vals.iter().map(|&x| u64::from(x != 0)), 1, out);
            put_bits(
                vals.iter().filter(|&&x| x != 0).map(|&x| scaled(x, gs)),
                ws,
                out,
            );
        } else if cost_r < cost_d {
            out.push(MODE_RAW);
            out.push(wr as u8);
            out.push(gr as u8);
            put_bits(vals.iter().map(|&x| scaled(x, gr)), wr, out);
        } else {
            out.push(MODE_DELTA);
            out.push(wd as u8);
            out.push(gd as u8);
            put_bits(deltas.iter().map(|&d| scaled(d, gd)), wd, out);
        }
    }

    #[derive(Default)]
    pub struct Encoder {
        n: u32,
        first: i64,
        prev: i64,
        pending: Vec<u32>,
        out: Vec<u8>,
        flags: Vec<(u8, u32)>,
        exc: Vec<(u32, u32)>,
        base: i64,
    }

    impl Encoder {
        pub fn push(&mut self, w: u32) {
            let i = self.n;
            self.n += 1;
            let (val, fl, w) = match word_to_decimal(w) {
                Some((v, f)) => (v, f, w),
                None => {
                    self.exc.push((i, w));
                    // pending keeps the empty word: "same as the previous value"
                    (self.prev, 0, 0x0400_0000)
                }
            };
            match self.flags.last_mut() {
                Some((f, c)) if *f == fl => *c += 1,
                _ => self.flags.push((fl, 1)),
            }
            if i == 0 {
                self.first = val;
                self.prev = val;
                self.base = val;
                return;
            }
            self.push_delta(val, w);
        }

        /// `pending` holds the block's values as words (4 bytes each); exceptions are stored as
        /// the empty word and stand for the previous value.
        fn push_delta(&mut self, val: i64, w: u32) {
            self.prev = val;
            self.pending.push(w);
            if self.pending.len() == BLOCK {
                let mut blk = Vec::with_capacity(3 + BLOCK * 8);
                self.pack_pending(&mut blk);
                self.out.reserve_exact(blk.len());
                self.out.extend_from_slice(&blk);
                self.base = self.prev;
                self.pending.clear();
            }
        }

        fn pack_pending(&self, out: &mut Vec<u8>) {
            let mut deltas = [0i64; BLOCK];
            let mut p = self.base;
            for (d, &w) in deltas.iter_mut().zip(&self.pending) {
                let v = word_to_decimal_unchecked(w).unwrap_or(p);
                *d = v.wrapping_sub(p);
                p = v;
            }
            pack_block64(self.base, &deltas[..self.pending.len()], out);
        }

        pub fn finish_into(&self, out: &mut Vec<u8>) {
            put_varint(out, zigzag64(self.first));
            out.extend_from_slice(&self.out);
            if !self.pending.is_empty() {
                self.pack_pending(out);
            }
            put_varint(out, self.flags.len() as u64);
            for &(f, c) in &self.flags {
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
}

/// Mantissas where the canonical rule changes (×10 overflow, i64 limits), plus a spread.
fn interesting_mantissas() -> Vec<u32> {
    let mut m: Vec<u32> = (0..4096).collect();
    for edge in [92_233u32, 922_337, 1_677_721, 9_223_372, 16_777_215] {
        m.extend(edge.saturating_sub(40)..=edge.saturating_add(40).min(0x00FF_FFFF));
    }
    m.extend((0..0x00FF_FFFF).step_by(9973));
    m
}

#[test]
fn canonical_words_are_those_of_the_original_round_trip() {
    let ms = interesting_mantissas();
    for top in 0..=255u32 {
        for &m in &ms {
            let w = (top << 24) | m;
            assert_eq!(
                word_to_decimal(w),
                reference::word_to_decimal(w),
                "word {w:#010x}"
            );
        }
    }
}

/// All 2^32 words (about a minute in release: `cargo test --release --test
/// storage_codec_reference -- --ignored`).
#[test]
#[ignore]
fn canonical_words_are_those_of_the_original_round_trip_exhaustive() {
    for w in 0..=u32::MAX {
        assert_eq!(
            word_to_decimal(w),
            reference::word_to_decimal(w),
            "word {w:#010x}"
        );
    }
}

/// The words a parent stores for `RSET` values printed `%0.7f`, a random walk per series.
fn walk(rng: &mut XorShift64Star, n: usize, scale: f64, flags: u32) -> Vec<u32> {
    let mut x = (rng.unit() - 0.5) * scale;
    (0..n)
        .map(|_| {
            x += (rng.unit() - 0.5) * scale / 50.0;
            let printed: f64 = format!("{x:.7}").parse().unwrap_or(0.0);
            StorageNumber::pack(printed, flags).0
        })
        .collect()
}

fn series(seed: u64) -> Vec<Vec<u32>> {
    let mut rng = XorShift64Star::new(seed | 1);
    let mut all = Vec::new();
    for scale in [1e-6, 1e-3, 1.0, 100.0, 1e4, 1e6, 1e9, 1e13, 1e18] {
        for flags in [0, FLAG_NOT_ANOMALOUS] {
            all.push(walk(&mut rng, 700, scale, flags));
        }
    }
    // constants, counters, integers with few digits, mostly-zero, flags changing
    all.push(vec![StorageNumber::pack(93.5, FLAG_NOT_ANOMALOUS).0; 300]);
    all.push(
        (0..500)
            .map(|i| StorageNumber::pack(f64::from(i), 0).0)
            .collect(),
    );
    all.push(
        (0..500)
            .map(|i| StorageNumber::pack(f64::from(i * 1000), 0).0)
            .collect(),
    );
    all.push(
        (0..500)
            .map(|i| {
                let v = if rng.below(10) == 0 {
                    rng.unit() * 100.0
                } else {
                    0.0
                };
                let f = if rng.below(7) == 0 {
                    FLAG_RESET
                } else {
                    FLAG_NOT_ANOMALOUS
                };
                StorageNumber::pack(if i % 97 == 0 { -v } else { v }, f).0
            })
            .collect(),
    );
    // mixed magnitudes in one block (exponent dictionary) and sign changes
    all.push(
        (0..640)
            .map(|_| {
                let e = rng.below(20) as i32 - 10;
                let v = (rng.below(2_000_000) as f64) * 10f64.powi(e);
                StorageNumber::pack(if rng.below(3) == 0 { -v } else { v }, 0).0
            })
            .collect(),
    );
    all.push(
        (0..640)
            .map(|_| {
                let v = [0.5, 2.25, 1e-7, 123.0, 7e9][rng.below(5) as usize];
                StorageNumber::pack(v * (1.0 + rng.below(3) as f64), 0).0
            })
            .collect(),
    );
    // gaps, non-canonical words and raw random words (exceptions), also at block starts
    all.push(
        (0..700)
            .map(|i| match rng.below(6) {
                0 => StorageNumber::EMPTY.0,
                1 => 0x8000_0000,
                2 => StorageNumber::pack(9.2e18, 0).0,
                _ if i % 64 == 0 => rng.next_u64() as u32,
                _ => StorageNumber::pack(rng.unit() * 1e3, 0).0,
            })
            .collect(),
    );
    all.push((0..700).map(|_| rng.next_u64() as u32).collect());
    all.push({
        let mut v = vec![StorageNumber::EMPTY.0; 3];
        v.extend((0..200).map(|i| StorageNumber::pack(f64::from(i) * 0.25, 0).0));
        v
    });
    all
}

#[test]
fn num_encoder_writes_the_original_bytes_or_fewer() {
    let (mut same, mut shorter) = (0, 0);
    for seed in [1, 0x9E37_79B9_7F4A_7C15, 42, 7, 1234567] {
        for words in series(seed) {
            let mut ours = NumEncoder::default();
            let mut orig = reference::Encoder::default();
            for (i, &w) in words.iter().enumerate() {
                ours.push(w);
                orig.push(w);
                // partial pages too (the pending block is packed by finish_into)
                if i % 61 == 0 || i + 1 == words.len() || i % 64 == 63 {
                    let (mut a, mut b) = (Vec::new(), Vec::new());
                    ours.finish_into(&mut a);
                    orig.finish_into(&mut b);
                    assert!(
                        a.len() < b.len() || a == b,
                        "seed {seed} after {} words {:x?}: {a:?} vs the original {b:?}",
                        i + 1,
                        &words[..=i]
                    );
                    if a == b {
                        same += 1;
                    } else {
                        shorter += 1;
                    }
                    for page in [&a, &b] {
                        let mut out = Vec::new();
                        let mut pos = 0;
                        ndcluster::storage::codec::decode_numbers(page, &mut pos, i + 1, &mut out)
                            .expect("decodes");
                        assert_eq!(&out[..], &words[..=i]);
                        assert_eq!(pos, page.len());
                    }
                }
            }
        }
    }
    // both cases occur in these series
    assert!(same > 100 && shorter > 10, "{same} pages as before, {shorter} shorter");
}
