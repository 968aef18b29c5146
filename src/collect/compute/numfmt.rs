//! Netdata's number printing for `/api/v1/data` cells (`netdata-values.md` §3.3).

/// Formats `x` the way Netdata 1.37.1 prints a value in every `/api/v1/data` format:
/// sign, integral part as an integer, then up to 7 decimals (the fraction × 10⁷ rounded
/// half-to-even, carried into the integral part at 10⁷) with trailing zeros removed; no
/// exponent form; NaN and infinities print as `null`.
pub fn format_number(x: f64) -> String {
    if !x.is_finite() {
        return "null".to_string();
    }
    let mut out = String::new();
    // Like C: only a value below zero gets the sign (so -0.0 prints `0`, -1e-8 `-0`).
    if x < 0.0 {
        out.push('-');
    }
    let v = x.abs();
    let mut int = v.trunc();
    let frac = v - int;
    let mut f = (frac * 10_000_000.0).round_ties_even();
    if f >= 10_000_000.0 {
        int += 1.0;
        f -= 10_000_000.0;
    }
    out.push_str(&format!("{int:.0}"));
    if f > 0.0 {
        let digits = format!("{:07}", f as u64);
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StorageNumber;

    fn q(x: f64) -> String {
        format_number(StorageNumber::pack(x, 0).value())
    }

    #[test]
    fn prints_like_netdata() {
        assert_eq!(format_number(f64::NAN), "null");
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(20.0), "20");
        assert_eq!(format_number(-60.0), "-60");
        assert_eq!(format_number(0.498), "0.498");
        assert_eq!(format_number(1e21), "1000000000000000000000");
        assert_eq!(format_number(0.99999999), "1");
        assert_eq!(format_number(0.00000004), "0");
        assert_eq!(format_number(-0.0), "0");
        assert_eq!(format_number(-0.00000001), "-0");
        assert_eq!(q(-0.00000001), "0"); // lab c.rsetforms
        assert_eq!(q(31.0 * 3.0 / 7.0), "13.285714");
        assert_eq!(q(100.0 / 3.0), "33.33333");
        assert_eq!(q(123.456789), "123.45679");
        assert_eq!(q(9223372036854775807.0), "9223372000000000000");
        assert_eq!(q(0.00000006), "0.0000001");
        assert_eq!(q(1.5e-7), "0.0000002");
        assert_eq!(q(-2.5), "-2.5");
    }
}
