//! C-compatible number parsing for `SET` (`strtoll(text, NULL, 0)`) and `RSET` (`strtod`).
//!
//! Netdata converts the text of the wire with the C library; these functions reproduce the
//! accepted prefixes, the base auto-detection, the saturation on overflow and the "no digits
//! → 0" rule (`netdata-values.md` §1.1, §2.2), without allocating.

/// `strtoll(text, NULL, 0)`: leading white space, optional sign, `0x`/`0X` → base 16, a
/// leading `0` → base 8, else base 10; parsing stops at the first invalid character; no
/// digits → 0; overflow saturates at `i64::MAX` / `i64::MIN`.
///
/// `1.9` → 1, `0x10` → 16, `010` → 8, `abc` → 0, `99999999999999999999` → `i64::MAX`.
pub fn strtoll0(text: &str) -> i64 {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() && is_c_space(b[i]) {
        i += 1;
    }
    let mut negative = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        negative = b[i] == b'-';
        i += 1;
    }
    let base: u32 = if i + 1 < b.len() && b[i] == b'0' && (b[i + 1] | 0x20) == b'x' && i + 2 < b.len() && b[i + 2].is_ascii_hexdigit() {
        i += 2;
        16
    } else if i < b.len() && b[i] == b'0' {
        8
    } else {
        10
    };
    // Accumulate the magnitude in u128-free fashion: saturate once it exceeds 2^63.
    let limit: u64 = if negative { 1u64 << 63 } else { i64::MAX as u64 };
    let mut acc: u64 = 0;
    let mut overflow = false;
    while i < b.len() {
        let Some(d) = (b[i] as char).to_digit(base) else { break };
        if !overflow {
            match acc.checked_mul(u64::from(base)).and_then(|v| v.checked_add(u64::from(d))) {
                Some(v) if v <= limit => acc = v,
                _ => overflow = true,
            }
        }
        i += 1;
    }
    if overflow {
        return if negative { i64::MIN } else { i64::MAX };
    }
    if negative {
        // acc <= 2^63 here.
        (acc as i64).wrapping_neg()
    } else {
        acc as i64
    }
}

/// `strtod(text, NULL)` for the forms a child can send: decimal with optional fraction and
/// exponent, hexadecimal (`0x1.8p3`), `inf`/`infinity`/`nan`/`nan(...)` in any case, each
/// with optional leading white space and sign. No valid prefix → 0.0. An empty text is NaN
/// here (Netdata treats an empty `RSET` value as a gap before calling `strtod`).
pub fn strtod(text: &str) -> f64 {
    if text.is_empty() {
        return f64::NAN;
    }
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() && is_c_space(b[i]) {
        i += 1;
    }
    let start = i;
    let mut negative = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        negative = b[i] == b'-';
        i += 1;
    }
    let sign = if negative { -1.0 } else { 1.0 };
    let rest = &text[i..];
    let lower_starts = |w: &str| rest.len() >= w.len() && rest.as_bytes()[..w.len()].eq_ignore_ascii_case(w.as_bytes());
    if lower_starts("inf") {
        return sign * f64::INFINITY;
    }
    if lower_starts("nan") {
        return f64::NAN;
    }
    if rest.len() > 2 && b[i] == b'0' && (b[i + 1] | 0x20) == b'x' && (b[i + 2].is_ascii_hexdigit() || (b[i + 2] == b'.' && b.get(i + 3).is_some_and(u8::is_ascii_hexdigit))) {
        return sign * parse_hex_float(&b[i + 2..]);
    }
    // Decimal: digits [. digits] [e [sign] digits]
    let mut j = i;
    let mut digits = 0;
    while j < b.len() && b[j].is_ascii_digit() {
        j += 1;
        digits += 1;
    }
    if j < b.len() && b[j] == b'.' {
        j += 1;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return 0.0;
    }
    if j < b.len() && (b[j] | 0x20) == b'e' {
        let mut k = j + 1;
        if k < b.len() && (b[k] == b'+' || b[k] == b'-') {
            k += 1;
        }
        if k < b.len() && b[k].is_ascii_digit() {
            while k < b.len() && b[k].is_ascii_digit() {
                k += 1;
            }
            j = k;
        }
    }
    // Rust's parser is correctly rounded, like glibc's strtod.
    text[start..j].parse::<f64>().unwrap_or(0.0)
}

fn parse_hex_float(b: &[u8]) -> f64 {
    let mut mant: f64 = 0.0;
    let mut exp: i32 = 0;
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_hexdigit() {
        mant = mant * 16.0 + f64::from((b[i] as char).to_digit(16).unwrap_or(0));
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_hexdigit() {
            mant = mant * 16.0 + f64::from((b[i] as char).to_digit(16).unwrap_or(0));
            exp = exp.saturating_sub(4);
            i += 1;
        }
    }
    if i < b.len() && (b[i] | 0x20) == b'p' {
        let mut k = i + 1;
        let mut eneg = false;
        if k < b.len() && (b[k] == b'+' || b[k] == b'-') {
            eneg = b[k] == b'-';
            k += 1;
        }
        let mut e: i32 = 0;
        let mut any = false;
        while k < b.len() && b[k].is_ascii_digit() {
            e = e.saturating_mul(10).saturating_add(i32::from(b[k] - b'0'));
            any = true;
            k += 1;
        }
        if any {
            exp = exp.saturating_add(if eneg { -e } else { e });
        }
    }
    mant * 2f64.powi(exp)
}

fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtoll_base_auto_detection_and_saturation() {
        // netdata-values.md §1.1, lab chart c.parse
        assert_eq!(strtoll0("1.9"), 1);
        assert_eq!(strtoll0("0x10"), 16);
        assert_eq!(strtoll0("0X1f"), 31);
        assert_eq!(strtoll0("010"), 8);
        assert_eq!(strtoll0("09"), 0); // octal stops at 9
        assert_eq!(strtoll0("-5"), -5);
        assert_eq!(strtoll0("+7"), 7);
        assert_eq!(strtoll0("abc"), 0);
        assert_eq!(strtoll0("  42"), 42);
        assert_eq!(strtoll0("0x"), 0);
        assert_eq!(strtoll0("9223372036854775807"), i64::MAX);
        assert_eq!(strtoll0("99999999999999999999"), i64::MAX);
        assert_eq!(strtoll0("-9223372036854775808"), i64::MIN);
        assert_eq!(strtoll0("-99999999999999999999"), i64::MIN);
        assert_eq!(strtoll0(""), 0);
    }

    #[test]
    fn strtod_forms_sent_by_children() {
        assert_eq!(strtod("1e3"), 1000.0);
        assert!(strtod("nan").is_nan());
        assert!(strtod("NAN").is_nan());
        assert!(strtod("").is_nan());
        assert_eq!(strtod("inf"), f64::INFINITY);
        assert_eq!(strtod("-Infinity"), f64::NEG_INFINITY);
        assert_eq!(strtod("abc"), 0.0);
        assert_eq!(strtod("-0.00000001"), -0.00000001);
        assert_eq!(strtod("9.4310010"), 9.431001);
        assert_eq!(strtod("12abc"), 12.0);
        assert_eq!(strtod("1e"), 1.0);
        assert_eq!(strtod(".5"), 0.5);
        assert_eq!(strtod("0x1.8p1"), 3.0);
        assert_eq!(strtod("  -2.5"), -2.5);
    }
}
