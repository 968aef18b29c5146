//! Netdata's 32-bit storage number (`netdata-values.md` §3.1), bit-compatible.
//!
//! Layout: bit 31 sign; bit 30 "multiply" (else divide); bits 27–29 exponent k; bit 26
//! factor 100 (else 10); bit 25 RESET; bit 24 "not anomalous"; bits 0–23 mantissa.
//! `0x0400_0000` (factor-100 bit alone) is the reserved "empty" word (a gap).

const SIGN: u32 = 1 << 31;
const MULTIPLY: u32 = 1 << 30;
const EXP_SHIFT: u32 = 27;
const FACTOR100: u32 = 1 << 26;
/// The point follows a counter reset or overflow.
pub const FLAG_RESET: u32 = 1 << 25;
/// Netdata sets this on every live point when ML is off.
pub const FLAG_NOT_ANOMALOUS: u32 = 1 << 24;
const MANTISSA: u32 = 0x00FF_FFFF;
const MANTISSA_MAX: f64 = 16_777_215.0;
/// The word Netdata stores for "no value".
pub const EMPTY: u32 = FACTOR100;

/// A packed tier-0 value (value + flags) exactly as Netdata stores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct StorageNumber(pub u32);

fn table(i: usize) -> f64 {
    // [divide by 10^k, multiply by 10^k, divide by 100^k, multiply by 100^k] for k = 0..8,
    // built with powi like Netdata's pow() table; reciprocals are multiplied, never divided.
    let k = (i & 7) as i32;
    match i >> 3 {
        0 => 1.0 / 10f64.powi(k),
        1 => 10f64.powi(k),
        2 => 1.0 / 100f64.powi(k),
        _ => 100f64.powi(k),
    }
}

static UNPACK: std::sync::OnceLock<[f64; 32]> = std::sync::OnceLock::new();

fn unpack_table() -> &'static [f64; 32] {
    UNPACK.get_or_init(|| {
        let mut t = [0.0; 32];
        for (i, slot) in t.iter_mut().enumerate() {
            *slot = table(i);
        }
        t
    })
}

impl StorageNumber {
    pub const EMPTY: Self = Self(EMPTY);

    /// Packs `x` with the given flag bits ([`FLAG_RESET`], [`FLAG_NOT_ANOMALOUS`]).
    /// NaN and infinities pack to [`StorageNumber::EMPTY`].
    pub fn pack(x: f64, flags: u32) -> Self {
        if !x.is_finite() {
            return Self::EMPTY;
        }
        let flags = flags & (FLAG_RESET | FLAG_NOT_ANOMALOUS);
        if x == 0.0 || x.is_subnormal() {
            return Self(flags);
        }
        let mut r = flags;
        if x < 0.0 {
            r |= SIGN;
        }
        let mut n = x.abs();
        let mut factor = 10.0;
        if n / 10_000_000.0 > MANTISSA_MAX {
            factor = 100.0;
            r |= FACTOR100;
        }
        let mut k: u32 = 0;
        if n > MANTISSA_MAX {
            while k < 7 && n > MANTISSA_MAX {
                n /= factor;
                k += 1;
            }
            r |= MULTIPLY;
        } else {
            while k < 7 && n < 1_677_726.0 {
                n *= 10.0;
                k += 1;
            }
            if n > MANTISSA_MAX {
                n /= 10.0;
                k -= 1;
            }
        }
        r |= k << EXP_SHIFT;
        let m = if n > MANTISSA_MAX { MANTISSA_MAX } else { n.round_ties_even() };
        Self(r | (m as u32 & MANTISSA))
    }

    pub fn is_empty(self) -> bool {
        self.0 == EMPTY
    }

    /// The value, NaN for the empty word.
    pub fn value(self) -> f64 {
        if self.is_empty() {
            return f64::NAN;
        }
        let w = self.0;
        let k = ((w >> EXP_SHIFT) & 7) as usize;
        let idx = (((w & FACTOR100 != 0) as usize) << 4) | (((w & MULTIPLY != 0) as usize) << 3) | k;
        let m = f64::from(w & MANTISSA);
        let sign = if w & SIGN != 0 { -1.0 } else { 1.0 };
        sign * unpack_table()[idx] * m
    }

    pub fn flags(self) -> u32 {
        if self.is_empty() {
            0
        } else {
            self.0 & (FLAG_RESET | FLAG_NOT_ANOMALOUS)
        }
    }
    pub fn is_reset(self) -> bool {
        !self.is_empty() && self.0 & FLAG_RESET != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(x: f64) -> f64 {
        StorageNumber::pack(x, 0).value()
    }

    #[test]
    fn lab_examples_round_trip_like_netdata() {
        // netdata-values.md §3.2, values read back from a real 1.37.1 parent.
        assert!((rt(0.4975124) - 0.4975124).abs() < 1e-12); // prints as 0.4975124
        assert!((rt(123.456789) - 123.45679).abs() < 1e-9);
        assert_eq!(rt(16777215.0), 16777215.0);
        assert_eq!(rt(16777216.0), 16777220.0);
        assert_eq!(rt(0.00000004), 0.0);
        assert!((rt(0.00000006) - 0.0000001).abs() < 1e-15);
        assert_eq!(rt(-2.5), -2.5);
        assert_eq!(rt(99999999999.0), 100000000000.0);
        assert_eq!(rt(-0.00000001), 0.0);
        assert!((rt(9223372036854775807.0) - 9223372000000000000.0).abs() < 1e6);
        assert!((rt(100.0 / 3.0) - 33.33333).abs() < 1e-9);
    }

    #[test]
    fn gaps_and_flags() {
        assert!(StorageNumber::pack(f64::NAN, FLAG_RESET).is_empty());
        assert!(StorageNumber::pack(f64::INFINITY, 0).value().is_nan());
        let s = StorageNumber::pack(5.0, FLAG_RESET);
        assert!(s.is_reset());
        assert_eq!(s.value(), 5.0);
        assert_eq!(StorageNumber::pack(0.0, FLAG_NOT_ANOMALOUS).flags(), FLAG_NOT_ANOMALOUS);
    }
}
