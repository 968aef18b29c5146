//! Number parsing and printing exactly as the 1.37.1 wire uses them (spec §4 "Numbers").
//!
//! Parsing is strict (the whole word must be a number) except where Netdata is documented to be
//! lenient in a way a real peer relies on (`RSET` non-numbers become gaps; handled by the caller).

use std::io::Write;

/// Unsigned decimal (`str2ul`-style but strict): digits only, at least one, no overflow.
#[inline]
pub fn parse_u64(w: &[u8]) -> Option<u64> {
    if w.is_empty() || w.len() > 20 {
        return None;
    }
    if w.len() < 20 {
        // at most 19 digits: cannot overflow
        let mut v: u64 = 0;
        for &c in w {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            v = v * 10 + u64::from(d);
        }
        return Some(v);
    }
    let mut v: u64 = 0;
    for &c in w {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(v)
}

/// Signed decimal: optional `+`/`-`, then digits; no overflow.
#[inline]
pub fn parse_i64(w: &[u8]) -> Option<i64> {
    let (neg, digits) = match w.first() {
        Some(b'-') => (true, &w[1..]),
        Some(b'+') => (false, &w[1..]),
        _ => (false, w),
    };
    let v = parse_u64(digits)?;
    if neg {
        if v == 1u64 << 63 {
            Some(i64::MIN)
        } else {
            i64::try_from(v).ok().map(|x| -x)
        }
    } else {
        i64::try_from(v).ok()
    }
}

/// C `strtoll(s, NULL, 0)` on a whole word: optional sign, `0x`/`0X` hex, leading `0` octal,
/// else decimal; out-of-range values saturate like `strtoll`. `None` when the word is not
/// entirely a number (Netdata would silently take the numeric prefix; we refuse garbage).
#[inline]
pub fn parse_strtoll(w: &[u8]) -> Option<i64> {
    // fast path: plain decimal without leading zero
    if let Some(&c) = w.first() {
        if (b'1'..=b'9').contains(&c) && w.len() < 19 {
            let mut v: i64 = 0;
            for &c in w {
                let d = c.wrapping_sub(b'0');
                if d > 9 {
                    return None;
                }
                v = v * 10 + i64::from(d);
            }
            return Some(v);
        }
    }
    let (neg, rest) = match w.first() {
        Some(b'-') => (true, &w[1..]),
        Some(b'+') => (false, &w[1..]),
        _ => (false, w),
    };
    let (radix, digits) = if rest.len() > 2 && rest[0] == b'0' && (rest[1] | 0x20) == b'x' {
        (16u32, &rest[2..])
    } else if rest.len() > 1 && rest[0] == b'0' {
        (8u32, &rest[1..])
    } else {
        (10u32, rest)
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: u128 = 0;
    for &c in digits {
        let d = (c as char).to_digit(radix)?;
        v = v * u128::from(radix) + u128::from(d);
        if v > u128::from(u64::MAX) {
            v = u128::from(u64::MAX); // saturate, keep validating digits
        }
    }
    Some(if neg {
        if v >= 1u128 << 63 {
            i64::MIN
        } else {
            -(v as i64)
        }
    } else if v > i64::MAX as u128 {
        i64::MAX
    } else {
        v as i64
    })
}

/// The usual `SET` value at the start of `v`, up to the end of its line: a decimal integer
/// without leading zeros (or a lone `0`), optionally after `-`, of at most 18 digits, then
/// `\n`. Returns the value and where the newline is; `None` for anything else (then
/// [`parse_strtoll`] decides on the framed word). Where this gives `Some((x, nl))`,
/// `parse_strtoll(&v[..nl])` gives `Some(x)` (a test compares both). Up to 16 digits with 17
/// bytes to read after the sign: eight bytes at a time (the newline found in them, the
/// digits before it converted at once), else digit by digit.
#[inline(always)]
pub fn strtoll_line(v: &[u8]) -> Option<(i64, usize)> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const NL: u64 = LO * b'\n' as u64;
    let neg = v.first() == Some(&b'-');
    let s = usize::from(neg);
    let sign = |x: u64| if neg { -(x as i64) } else { x as i64 };
    if v.len() >= s + 17 {
        let word = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&v[at..at + 8]);
            u64::from_le_bytes(b)
        };
        // the first newline among eight bytes (bit 7 of its byte; later bits may be false)
        let newline = |w: u64| {
            let x = w ^ NL;
            x.wrapping_sub(LO) & !x & HI
        };
        // the first i bytes of w as i digits (the rest made '0' in front of them)
        let digits = |w: u64, i: usize| if i == 8 { digits8(w) } else { digits8((w << (8 * (8 - i))) | (ZEROS >> (8 * i))) };
        let w = word(s);
        // a leading zero only alone
        let lead_ok = |i: usize| i == 1 || w & 0xFF != u64::from(b'0');
        let z = newline(w);
        if z != 0 {
            let i = (z.trailing_zeros() / 8) as usize;
            if i == 0 || !lead_ok(i) {
                return None;
            }
            return Some((sign(digits(w, i)?), s + i));
        }
        let w2 = word(s + 8);
        let z = newline(w2);
        if z != 0 {
            let j = (z.trailing_zeros() / 8) as usize;
            if !lead_ok(8 + j) {
                return None;
            }
            let hi = digits8(w)?;
            let x = if j == 0 { hi } else { hi * POW10_U64[j] + digits(w2, j)? };
            return Some((sign(x), s + 8 + j));
        }
    }
    let mut x = u64::from(v.get(s)?.wrapping_sub(b'0'));
    if x > 9 {
        return None;
    }
    let mut i = s + 1;
    if x != 0 {
        // at most 18 digits: below 2^63, no overflow
        let end = (s + 18).min(v.len());
        while i < end {
            let d = v[i].wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            x = x * 10 + u64::from(d);
            i += 1;
        }
    }
    if v.get(i) != Some(&b'\n') {
        return None;
    }
    Some((sign(x), i))
}

const POW10_U64: [u64; 8] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000];

const POW10: [f64; 16] = [
    1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

const ZEROS: u64 = 0x3030_3030_3030_3030;

/// Eight ASCII digits, read little-endian from memory (first byte most significant), as their
/// value; `None` unless every byte is a digit. Branch-free (SWAR): pairs, quads, then halves.
#[inline(always)]
fn digits8(w: u64) -> Option<u64> {
    let d = w.wrapping_sub(ZEROS);
    // every byte a digit: no borrow out of any byte, and each digit value below 10
    if (w & 0xF0F0_F0F0_F0F0_F0F0) != ZEROS || (d.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) != 0 {
        return None;
    }
    let d = (d.wrapping_mul(10) + (d >> 8)) & 0x00FF_00FF_00FF_00FF;
    let d = (d.wrapping_mul(100) + (d >> 16)) & 0x0000_FFFF_0000_FFFF;
    Some((d.wrapping_mul(10_000) + (d >> 32)) & 0xFFFF_FFFF)
}

/// A word of 8 to 16 plain digits (a 10-digit Unix time) as its value, eight bytes at a time;
/// `None` for any other word (then parse it digit by digit).
#[inline]
pub fn digits_8_to_16(w: &[u8]) -> Option<u64> {
    let n = w.len().checked_sub(8)?;
    if n > 8 {
        return None;
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&w[n..]);
    let lo = digits8(u64::from_le_bytes(b))?;
    // the first n digits: the first eight bytes shifted so they are the last n of eight, the
    // others made '0' (shifts of up to 64 bits done on 128)
    b.copy_from_slice(&w[..8]);
    let first = u128::from(u64::from_le_bytes(b));
    let hi = digits8((first << (8 * (8 - n))) as u64 | (u128::from(ZEROS) >> (8 * n)) as u64)?;
    Some(hi * 100_000_000 + lo)
}

/// The exact `%0.7f` shape, `[digits].ddddddd` with at most 8 integer digits, as the integer
/// `value · 10^7`: the seven decimals, and the integer digits padded with zeros on the left,
/// each converted as eight bytes at once (both read straight from `body`, no copy to align).
#[inline(always)]
fn parse_f7(body: &[u8]) -> Option<u64> {
    let split = body.len().checked_sub(8)?;
    let n = split;
    if n > 8 {
        return None;
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&body[split..]);
    if b[0] != b'.' {
        return None;
    }
    // ".ddddddd" read as the eight digits "0ddddddd"
    let f = digits8((u64::from_le_bytes(b) & !0xFF) | 0x30)?;
    // the first eight bytes hold the n integer digits (then the fraction): shifted up so the
    // digits are the last n of eight, the first 8 - n made '0'
    b.copy_from_slice(&body[..8]);
    let w = u64::from_le_bytes(b);
    let i = match n {
        0 => 0,
        8 => digits8(w)?,
        _ => digits8((w << (8 * (8 - n))) | (ZEROS >> (8 * n)))?,
    };
    Some(i * 10_000_000 + f)
}

/// A word in the exact `%0.7f` shape a 1.37.1 sender writes for `RSET` values
/// (`[-][digits].ddddddd`, at most 8 integer digits) as its exact decimal value: the sign and
/// `|value| · 10^7` (below 10^15). `None` for any other word. Wherever this gives
/// `Some((neg, m))`, [`parse_f64`] gives `±(m as f64 / 1e7)` (correctly rounded).
#[inline]
pub fn parse_fixed7(w: &[u8]) -> Option<(bool, u64)> {
    match w.first() {
        Some(b'-') => parse_f7(&w[1..]).map(|m| (true, m)),
        _ => parse_f7(w).map(|m| (false, m)),
    }
}

/// The end of an `RSET` line in the usual shape, `<%0.7f value> ""\n` (what follows the id's
/// `" `), at the start of `v`, which must hold at least 24 bytes: the value as
/// [`parse_fixed7`] gives it and where the newline is. `None` for anything else (and for a
/// shorter `v`). Where the first newline of `v` ends `<word> ""` with `parse_fixed7(word)`
/// `Some`, this gives the same; `None` otherwise (a test compares them). The decimal point
/// is found first (the integer digits before it, the decimals and the end at fixed places
/// from it): no scan for the newline.
#[inline(always)]
pub fn rset_tail_fixed7(v: &[u8]) -> Option<(bool, u64, usize)> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    if v.len() < 24 {
        return None;
    }
    let neg = v[0] == b'-';
    let s = usize::from(neg);
    let word = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&v[at..at + 8]);
        u64::from_le_bytes(b)
    };
    // the point among the first nine bytes after the sign
    let w = word(s);
    let x = w ^ (LO * u64::from(b'.'));
    let z = x.wrapping_sub(LO) & !x & HI;
    let i = if z != 0 {
        (z.trailing_zeros() / 8) as usize
    } else if v[s + 8] == b'.' {
        8
    } else {
        return None;
    };
    // the i integer digits: shifted up so they are the last i of eight, the rest made '0'
    let int = match i {
        0 => 0,
        8 => digits8(w)?,
        _ => digits8((w << (8 * (8 - i))) | (ZEROS >> (8 * i)))?,
    };
    // ".ddddddd" read as the eight digits "0ddddddd"
    let frac = digits8((word(s + i) & !0xFF) | 0x30)?;
    let mut e = [0u8; 4];
    e.copy_from_slice(&v[s + i + 8..s + i + 12]);
    if e != *b" \"\"\n" {
        return None;
    }
    Some((neg, int * 10_000_000 + frac, s + i + 11))
}

/// A double as `strtod` reads it: decimal, exponent, `nan`/`inf`/`infinity` in any case.
/// `None` if the whole word is not a number.
#[inline]
pub fn parse_f64(w: &[u8]) -> Option<f64> {
    // fast path for the `%0.7f` shape: [-]digits[.digits], at most 15 significant digits;
    // m / 10^k with both exact is correctly rounded, i.e. identical to a full decimal parse.
    if let Some((neg, m)) = parse_fixed7(w) {
        let v = m as f64 / POW10[7];
        return Some(if neg { -v } else { v });
    }
    let (neg, body) = match w.first() {
        Some(b'-') => (true, &w[1..]),
        _ => (false, w),
    };
    if !body.is_empty() && body.len() <= 16 {
        let mut m: u64 = 0;
        let mut frac: Option<usize> = None;
        let mut ndig = 0usize;
        let mut ok = true;
        for (i, &c) in body.iter().enumerate() {
            if c == b'.' && frac.is_none() {
                frac = Some(i);
                continue;
            }
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                ok = false;
                break;
            }
            m = m * 10 + u64::from(d);
            ndig += 1;
        }
        if ok && ndig > 0 && ndig <= 15 {
            let k = frac.map_or(0, |p| body.len() - p - 1);
            let v = m as f64 / POW10[k];
            return Some(if neg { -v } else { v });
        }
    }
    let s = std::str::from_utf8(w).ok()?;
    let t = s.trim_start_matches(['+', '-']);
    if t.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    if t.eq_ignore_ascii_case("inf") || t.eq_ignore_ascii_case("infinity") {
        return Some(if s.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY });
    }
    // Rust's grammar is a subset of strtod's decimal grammar (no hex floats); good enough.
    if t.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-')) {
        s.parse::<f64>().ok()
    } else {
        None
    }
}

/// Netdata's fast double parser (`str2ndd`, used by `RDSTATE` and `VARIABLE`): like
/// [`parse_f64`] but only lowercase `nan`/`inf` are special.
#[inline]
pub fn parse_ndd(w: &[u8]) -> Option<f64> {
    let t = w.strip_prefix(b"-").unwrap_or(w);
    if t.first().is_some_and(|c| c.is_ascii_alphabetic()) {
        return match t {
            b"nan" => Some(f64::NAN),
            b"inf" => Some(if w.len() > t.len() { f64::NEG_INFINITY } else { f64::INFINITY }),
            _ => None,
        };
    }
    parse_f64(w)
}

/// Appends a signed decimal integer.
#[inline]
pub fn put_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    put_u64(out, v.unsigned_abs());
}

/// Appends an unsigned decimal integer.
#[inline]
pub fn put_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends `v` as C's `%0.7f` would print it; NaN is written as `nan_text` (Netdata prints
/// `nan` through printf, but writes the literal `NAN` for empty `RSET` slots).
pub fn put_f7(out: &mut Vec<u8>, v: f64, nan_text: &[u8]) {
    if v.is_nan() {
        out.extend_from_slice(nan_text);
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"inf" } else { b"-inf" });
    } else {
        let _ = write!(out, "{v:.7}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtoll_detects_the_base_like_c() {
        assert_eq!(parse_strtoll(b"3083623"), Some(3083623));
        assert_eq!(parse_strtoll(b"0"), Some(0));
        assert_eq!(parse_strtoll(b"010"), Some(8));
        assert_eq!(parse_strtoll(b"0x10"), Some(16));
        assert_eq!(parse_strtoll(b"-0X1f"), Some(-31));
        assert_eq!(parse_strtoll(b"-42"), Some(-42));
        assert_eq!(parse_strtoll(b"99999999999999999999"), Some(i64::MAX));
        assert_eq!(parse_strtoll(b"-99999999999999999999"), Some(i64::MIN));
        assert_eq!(parse_strtoll(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_strtoll(b"12abc"), None);
        assert_eq!(parse_strtoll(b"08"), None);
        assert_eq!(parse_strtoll(b""), None);
        assert_eq!(parse_strtoll(b"-"), None);
    }

    /// Where the line way of a `SET` value gives a number, it is `parse_strtoll`'s for the
    /// word before the newline; it takes the usual words and leaves the others.
    #[test]
    fn strtoll_line_agrees_with_strtoll() {
        let mut words: Vec<String> = ["0", "-0", "00", "07", "010", "-010", "0123456789012", "7", "-7", "+7", "0x1f", "-", "", "1e3", "12a", " 1", "1 ", "1\r", "--1", "-01"].iter().map(|w| w.to_string()).collect();
        for digits in 1..=20 {
            words.push("9".repeat(digits));
            words.push(format!("-{}", "9".repeat(digits)));
            words.push(format!("1{}", "0".repeat(digits - 1)));
        }
        let mut rng = crate::testkit::XorShift64::new(0x2545_F491_4F6C_DD1D);
        for _ in 0..20_000 {
            let x = rng.next_u64();
            let v = (x >> (x % 64)) as i64;
            words.push(if x.is_multiple_of(3) { (-v).to_string() } else { v.to_string() });
        }
        let (mut taken, mut left) = (0, 0);
        for w in &words {
            // short and long tails: read digit by digit, and eight bytes at a time
            for tail in ["\n", "\nSET \"d1\" = 5\n", "", "\r\n", " \n", "\nSET \"d1\" = 12345678\n", "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n", "0\n                 ", "x\n                 ", "                  "] {
                let line = format!("{w}{tail}");
                match strtoll_line(line.as_bytes()) {
                    Some((v, nl)) => {
                        taken += 1;
                        assert_eq!(Some(nl), line.find('\n'), "{line:?}");
                        assert_eq!(Some(v), parse_strtoll(&line.as_bytes()[..nl]), "{line:?}");
                    }
                    None => left += 1,
                }
            }
        }
        for w in ["0", "-0", "7", "-7", "123456789012345678", "-123456789012345678"] {
            assert_eq!(strtoll_line(format!("{w}\n").as_bytes()), parse_strtoll(w.as_bytes()).map(|v| (v, w.len())), "{w}");
        }
        for w in ["00", "07", "+7", "0x1f", "", "-", "1234567890123456789", "1\r", "-01"] {
            assert_eq!(strtoll_line(format!("{w}\n").as_bytes()), None, "{w:?}");
        }
        assert!(taken > 30_000 && left > 20_000, "{taken} {left}");
    }

    #[test]
    fn floats_parse_like_the_printed_form() {
        assert_eq!(parse_f64(b"9.4310010"), Some(9.431001));
        assert_eq!(parse_f64(b"-1.0000000"), Some(-1.0));
        assert_eq!(parse_f64(b"32768.0000000"), Some(32768.0));
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        assert!(parse_f64(b"NAN").is_some_and(f64::is_nan));
        assert!(parse_f64(b"nan").is_some_and(f64::is_nan));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"abc"), None);
        assert_eq!(parse_f64(b"."), None);
        assert_eq!(parse_f64(b"1.2.3"), None);
        // the fast path agrees with the full parser on many %0.7f strings
        for i in 0..20_000u64 {
            let x = (i as f64) * 1.234_567_891 - 7_000.0;
            let s = format!("{x:.7}");
            assert_eq!(parse_f64(s.as_bytes()), s.parse::<f64>().ok(), "{s}");
        }
    }

    #[test]
    fn seven_decimals_parse_like_the_general_path() {
        let mut rng = crate::testkit::XorShift64::new(0x9E37_79B9_7F4A_7C15);
        for i in 0..300_000u64 {
            let x = rng.next_u64();
            let mag = 10f64.powi((x % 19) as i32 - 8);
            let v = ((x >> 11) as f64 / (1u64 << 53) as f64) * mag * if i % 3 == 0 { -1.0 } else { 1.0 };
            let s = format!("{v:.7}");
            assert_eq!(parse_f64(s.as_bytes()).map(f64::to_bits), s.parse::<f64>().ok().map(f64::to_bits), "{s}");
        }
        for s in ["0.0000000", "-0.0000000", ".0000001", "-.5000000", "99999999.9999999", "123456789.1234567", "1.23456789", "1.234567", "12.34a6789", "12.3456:89", "1.3456/89", "1..345678", "a.1234567", "1/.1234567", "+1.1234567", "1.123456 "] {
            let general = std::str::from_utf8(s.as_bytes()).ok().and_then(|t| t.parse::<f64>().ok());
            assert_eq!(parse_f64(s.as_bytes()).map(f64::to_bits), general.map(f64::to_bits), "{s}");
        }
        assert_eq!(parse_f7(b"12.3456789"), Some(123_456_789));
        assert_eq!(parse_f7(b"12.345678"), None);
        assert_eq!(parse_fixed7(b"-0.0000001"), Some((true, 1)));
        assert_eq!(parse_fixed7(b"99999999.9999999"), Some((false, 999_999_999_999_999)));
        assert_eq!(parse_fixed7(b"12345678.0000009"), Some((false, 123_456_780_000_009)));
        assert_eq!(parse_fixed7(b".0000000"), Some((false, 0)));
        for s in [&b"+1.0000000"[..], b"1e3", b"nan", b"-", b"", b"123456789.0000000", b"1.00000000", b"--1.0000000", b"1:.0000000", b"9/9.0000000", b" 1.0000000", b"1 .0000000"] {
            assert_eq!(parse_fixed7(s), None, "{}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn eight_to_sixteen_digits_parse_like_the_digit_loop() {
        let mut rng = crate::testkit::XorShift64::new(0x2545_F491_4F6C_DD1D);
        for _ in 0..100_000 {
            let x = rng.next_u64();
            let len = 1 + (x % 18) as usize;
            let mut w: Vec<u8> = (0..len).map(|i| b'0' + ((x >> (i * 3)) % 10) as u8).collect();
            if x.is_multiple_of(7) {
                // one byte that is not a digit, anywhere
                let at = (x >> 40) as usize % len;
                w[at] = [b'/', b':', b' ', b'-', b'a', 0x80][(x >> 50) as usize % 6];
            }
            let want = (8..=16).contains(&len).then(|| std::str::from_utf8(&w).ok().and_then(|s| s.bytes().all(|b| b.is_ascii_digit()).then(|| s.parse::<u64>().ok()).flatten())).flatten();
            assert_eq!(digits_8_to_16(&w), want, "{}", String::from_utf8_lossy(&w));
        }
        assert_eq!(digits_8_to_16(b"1795681515"), Some(1_795_681_515));
        assert_eq!(digits_8_to_16(b"9999999999999999"), Some(9_999_999_999_999_999));
        assert_eq!(digits_8_to_16(b"00000000"), Some(0));
        assert_eq!(digits_8_to_16(b"1234567"), None);
        assert_eq!(digits_8_to_16(b"12345678901234567"), None);
    }

    /// [`rset_tail_fixed7`] gives what finding the newline, stripping ` ""` and
    /// [`parse_fixed7`] give, on values of every length and sign with bytes changed anywhere
    /// (points, signs, spaces, quotes, newlines, digits' neighbours), other endings, and
    /// random bytes after the line.
    #[test]
    fn rset_tail_is_newline_then_fixed7() {
        let reference = |v: &[u8]| {
            let nl = v.iter().position(|&b| b == b'\n')?;
            let (neg, m) = parse_fixed7(v[..nl].strip_suffix(b" \"\"")?)?;
            Some((neg, m, nl))
        };
        let mut rng = crate::testkit::XorShift64::new(0x9E37_79B9_7F4A_7C15);
        let mut rnd = |n: u64| rng.below(n);
        let odd = [b'.', b'-', b'+', b' ', b'"', b'\n', b'/', b':', b'0', b'9', b'e', b'\r', 0x80, 0];
        let ends: [&[u8]; 6] = [b" \"\"\n", b" \"\"\r\n", b" \"R\"\n", b"  \"\"\n", b" \"\"", b"\n"];
        let mut seen = 0;
        for _ in 0..400_000 {
            let mut v = Vec::new();
            if rnd(3) == 0 {
                v.push(b'-');
            }
            for _ in 0..rnd(11) {
                v.push(b'0' + rnd(10) as u8);
            }
            v.push(b'.');
            for _ in 0..[7, 7, 7, 6, 8, 0][rnd(6) as usize] {
                v.push(b'0' + rnd(10) as u8);
            }
            v.extend_from_slice(ends[if rnd(4) == 0 { rnd(6) as usize } else { 0 }]);
            for _ in 0..rnd(3) {
                let at = rnd(v.len() as u64) as usize;
                v[at] = odd[rnd(odd.len() as u64) as usize];
            }
            while v.len() < 24 + rnd(8) as usize {
                v.push([b'R', b'S', b'\n', b'"', b'1', b' '][rnd(6) as usize]);
            }
            let want = reference(&v);
            seen += usize::from(want.is_some());
            assert_eq!(rset_tail_fixed7(&v), want, "{}", String::from_utf8_lossy(&v));
            assert_eq!(rset_tail_fixed7(&v[..23]), None);
        }
        assert!(seen > 50_000, "{seen}");
    }

    #[test]
    fn fast_parser_knows_only_lowercase_nan() {
        assert!(parse_ndd(b"nan").is_some_and(f64::is_nan));
        assert_eq!(parse_ndd(b"NAN"), None);
        assert_eq!(parse_ndd(b"13.8331348"), Some(13.8331348));
    }

    #[test]
    fn printing_matches_c_printf() {
        let p = |v: f64, nan: &[u8]| {
            let mut o = Vec::new();
            put_f7(&mut o, v, nan);
            String::from_utf8(o).unwrap_or_default()
        };
        assert_eq!(p(11.7630882, b"nan"), "11.7630882");
        assert_eq!(p(-1.0, b"nan"), "-1.0000000");
        assert_eq!(p(0.0, b"nan"), "0.0000000");
        assert_eq!(p(f64::NAN, b"nan"), "nan");
        assert_eq!(p(f64::NAN, b"NAN"), "NAN");
        // ties round half-to-even on the exact binary value, like glibc
        assert_eq!(p(1.0 / 256.0, b"nan"), "0.0039062");
        assert_eq!(p(3.0 / 256.0, b"nan"), "0.0117188");
        let mut o = Vec::new();
        put_i64(&mut o, i64::MIN);
        o.push(b' ');
        put_u64(&mut o, 0);
        assert_eq!(o, b"-9223372036854775808 0");
    }
}
