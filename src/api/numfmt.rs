//! Number printing exactly like Netdata's API (`netdata-values.md` §3.3) and simple patterns.

use std::fmt::Write as _;

/// Appends `v` the way `/api/v1/data` prints it: optional `-`, the integral part as an
/// integer, then up to 7 fractional digits (fraction × 10⁷ rounded half-to-even, carried into
/// the integral part at 10⁷, trailing zeros removed). No exponent form. NaN/Inf → `null`.
pub fn push_number(out: &mut String, v: f64) {
    if !v.is_finite() {
        out.push_str("null");
        return;
    }
    if v < 0.0 {
        out.push('-');
    }
    let a = v.abs();
    let mut int = a.trunc();
    let mut frac = ((a - int) * 10_000_000.0).round_ties_even();
    if frac >= 10_000_000.0 {
        int += 1.0;
        frac -= 10_000_000.0;
    }
    if int < 1e18 {
        let _ = write!(out, "{}", int as u64);
    } else {
        let _ = write!(out, "{int:.0}");
    }
    let mut f = frac as u64;
    if f != 0 {
        let mut digits = [0u8; 7];
        for d in digits.iter_mut().rev() {
            *d = (f % 10) as u8;
            f /= 10;
        }
        let used = digits.iter().rposition(|&d| d != 0).map_or(0, |p| p + 1);
        out.push('.');
        for &d in &digits[..used] {
            out.push(char::from(b'0' + d));
        }
    }
}

/// [`push_number`] into a new string.
pub fn number(v: f64) -> String {
    let mut s = String::new();
    push_number(&mut s, v);
    s
}

/// Netdata's simple patterns, shared with the configuration.
pub use crate::config::SimplePattern;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_netdata() {
        for (v, s) in [
            (115.0, "115"),
            (49.714285, "49.714285"),
            (0.4975124, "0.4975124"),
            (-2.5, "-2.5"),
            (1e21, "1000000000000000000000"),
            (0.00000004, "0"),
            (0.99999999, "1"),
            (9223372000000000000.0, "9223372000000000000"),
            (1000000.0 * (1.0 / 1e7), "0.1"),
            (f64::NAN, "null"),
            (-1e-9, "-0"),
            (1243869.4666667, "1243869.4666667"),
        ] {
            assert_eq!(number(v), s, "{v}");
        }
    }

    #[test]
    fn simple_patterns() {
        let p = SimplePattern::with_separators("a*|!b*|c", &['|', ',']);
        assert!(p.matches("abc"));
        assert!(!p.matches("bcd"));
        assert_eq!(p.decide("bcd"), Some(false));
        assert!(p.matches("c"));
        assert!(!p.matches("cc"));
        assert!(SimplePattern::with_separators("*x*y", &['|']).matches("axbxy"));
        assert!(!SimplePattern::with_separators("", &['|']).matches(""));
    }
}
