//! Parsers for the value syntaxes of the configuration files. Each returns `Err(expected)`,
//! a phrase saying what is accepted, which the caller wraps into a [`super::ValueError`].

/// `yes`/`no` and Netdata's synonyms, case-insensitive: `true`/`on`/`auto`/`on demand` are yes,
/// `false`/`off` are no. Anything else is an error (Netdata would silently read it as no).
pub fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "auto" | "on demand" => Ok(true),
        "no" | "false" | "off" => Ok(false),
        _ => Err("expected yes or no (also true/false, on/off)".into()),
    }
}

/// An unsigned decimal integer within `min..=max`.
pub fn parse_u64_in(v: &str, min: u64, max: u64) -> Result<u64, String> {
    let expected = || format!("expected a number from {min} to {max}");
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(expected());
    }
    match v.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(expected()),
    }
}

/// Splits `12.5GiB` into (`12.5`, `GiB`); blanks between number and unit are allowed.
fn split_number(v: &str) -> Option<(f64, &str)> {
    let end = v.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(v.len());
    let (num, unit) = v.split_at(end);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') || num.matches('.').count() > 1 {
        return None;
    }
    let n: f64 = num.parse().ok()?;
    Some((n, unit.trim_start()))
}

/// What [`parse_size`] accepts, for messages and the man page.
pub const SIZE_SYNTAX: &str =
    "a size such as 512MiB, 1GiB, 1.5TiB (units B, KiB, MiB, GiB, TiB; decimal KB, MB, GB, TB, also K, M, G, T; a bare number is MiB)";

/// A size in bytes. Units are case-sensitive as in Netdata: `B`, `KiB`, `MiB`, `GiB`, `TiB`
/// (powers of 1024), `K`/`KB`, `M`/`MB`, `G`/`GB`, `T`/`TB` (powers of 1000). A bare number is
/// MiB, as Netdata's `... size` keys read it. Fractions are allowed (`1.5GiB`), the result is
/// rounded down to a byte.
pub fn parse_size(v: &str, bare_unit: u64) -> Result<u64, String> {
    let err = || format!("expected {SIZE_SYNTAX}");
    let (n, unit) = split_number(v).ok_or_else(err)?;
    let mult: u64 = match unit {
        "" => bare_unit,
        "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "K" | "KB" | "k" => 1_000,
        "M" | "MB" => 1_000_000,
        "G" | "GB" => 1_000_000_000,
        "T" | "TB" => 1_000_000_000_000,
        _ => return Err(err()),
    };
    let bytes = n * mult as f64;
    if !bytes.is_finite() || bytes >= 2f64.powi(62) {
        return Err(err());
    }
    Ok(bytes as u64)
}

/// What [`parse_duration`] accepts.
pub const DURATION_SYNTAX: &str =
    "a duration such as 60s, 30m, 12h, 14d, 2w, 3mo, 2y, or a sum like 1d12h (s, m, h, d, w, mo = 30d, y = 365d)";

/// A duration in seconds: one or more `<number><unit>` terms added together (`1d12h`), units
/// `s`, `m`/`min`, `h`, `d`, `w`/`wk`, `mo`/`M`, `q`, `y`/`Y` (Netdata's, with mo = 30 d and
/// y = 365 d). A bare number is in `bare_unit` seconds. Fractions round to the nearest second.
pub fn parse_duration(v: &str, bare_unit: u64) -> Result<u64, String> {
    let err = || format!("expected {DURATION_SYNTAX}");
    let mut rest = v.trim();
    if rest.is_empty() {
        return Err(err());
    }
    if let Ok(n) = rest.parse::<u64>() {
        return n.checked_mul(bare_unit).ok_or_else(err);
    }
    let mut total = 0f64;
    let mut terms = 0;
    while !rest.is_empty() {
        if terms >= 16 {
            return Err(err());
        }
        let (n, after) = split_number(rest).ok_or_else(err)?;
        let unit_len = after.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(after.len());
        let (unit, tail) = after.split_at(unit_len);
        let secs: u64 = match unit {
            "s" | "sec" | "secs" => 1,
            "m" | "min" | "mins" => 60,
            "h" | "hr" | "hrs" => 3600,
            "d" => 86_400,
            "w" | "wk" => 7 * 86_400,
            "mo" | "M" => 30 * 86_400,
            "q" => 90 * 86_400,
            "y" | "Y" => 365 * 86_400,
            _ => return Err(err()),
        };
        total += n * secs as f64;
        terms += 1;
        rest = tail.trim_start();
    }
    if !total.is_finite() || total >= 2f64.powi(62) {
        return Err(err());
    }
    Ok(total.round() as u64)
}

/// Formats bytes with the largest binary unit that represents them exactly.
pub fn format_size(bytes: u64) -> String {
    for (unit, shift) in [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if bytes != 0 && bytes.is_multiple_of(1u64 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1GiB", 1 << 20), Ok(1 << 30));
        assert_eq!(parse_size("1.5 KiB", 1 << 20), Ok(1536));
        assert_eq!(parse_size("100", 1 << 20), Ok(100 << 20));
        assert_eq!(parse_size("2MB", 1 << 20), Ok(2_000_000));
        assert!(parse_size("12XB", 1 << 20).is_err());
        assert!(parse_size("1gib", 1 << 20).is_err());
        assert!(parse_size("-1", 1 << 20).is_err());
        assert!(parse_size("", 1 << 20).is_err());
        assert!(parse_size("99999999999999TiB", 1 << 20).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("14d", 86_400), Ok(14 * 86_400));
        assert_eq!(parse_duration("3mo", 86_400), Ok(90 * 86_400));
        assert_eq!(parse_duration("2y", 86_400), Ok(730 * 86_400));
        assert_eq!(parse_duration("12h", 1), Ok(43_200));
        assert_eq!(parse_duration("30m", 1), Ok(1800));
        assert_eq!(parse_duration("60s", 1), Ok(60));
        assert_eq!(parse_duration("1d12h", 1), Ok(129_600));
        assert_eq!(parse_duration("0", 86_400), Ok(0));
        assert_eq!(parse_duration("7", 86_400), Ok(7 * 86_400));
        assert!(parse_duration("5x", 1).is_err());
        assert!(parse_duration("d", 1).is_err());
    }

    #[test]
    fn bools() {
        assert_eq!(parse_bool("Yes"), Ok(true));
        assert_eq!(parse_bool("off"), Ok(false));
        assert!(parse_bool("1").is_err());
    }

    #[test]
    fn size_format() {
        assert_eq!(format_size(1 << 30), "1GiB");
        assert_eq!(format_size(1536), "1536B");
        assert_eq!(format_size(3 << 20), "3MiB");
    }
}
