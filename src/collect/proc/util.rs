//! Shared plumbing of the /proc collectors: a re-readable file with a reused buffer, byte
//! parsers that never allocate, and builders for chart and dimension metadata.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::model::{Algorithm, ChartMeta, ChartType, DimMeta, Label};

use super::CollectedChart;

/// Largest file we read (bytes). /proc files of a big machine (interrupts with 256 CPUs,
/// mountinfo of a container host) stay well below.
pub(crate) const MAX_FILE_BYTES: u64 = 16 << 20;

/// Label source of `_collect_plugin` / `_collect_module` (AUTO | PERMANENT), as Netdata sends.
pub(crate) const LABEL_SOURCE_AUTO_PERMANENT: u32 = (1 << 29) | 1;
/// Label source AUTO.
pub(crate) const LABEL_SOURCE_AUTO: u32 = 1;

/// Passes to wait before trying again a file that could not be opened or read.
const RETRY_PASSES: u32 = 60;

/// A /proc or /sys file kept open between passes and re-read from offset 0 into one buffer.
/// A file that cannot be opened or read is tried again only every [`RETRY_PASSES`] reads
/// (and logged once at debug level), so missing sources cost nothing per pass.
pub(crate) struct ProcFile {
    path: PathBuf,
    file: Option<File>,
    buf: Vec<u8>,
    /// Reads to skip before the next attempt after a failure.
    backoff: u32,
    logged: bool,
}

impl ProcFile {
    pub(crate) fn new(root: &Path, rel: &str) -> Self {
        Self {
            path: join(root, rel),
            file: None,
            buf: Vec::new(),
            backoff: 0,
            logged: false,
        }
    }

    /// Reads the whole file; `None` when it is missing or unreadable (the caller skips the
    /// charts fed by it this pass).
    pub(crate) fn read(&mut self) -> Option<&[u8]> {
        self.buf.clear();
        if let Some(f) = self.file.as_mut() {
            let ok = f.seek(SeekFrom::Start(0)).is_ok()
                && f.by_ref()
                    .take(MAX_FILE_BYTES)
                    .read_to_end(&mut self.buf)
                    .is_ok();
            if ok {
                return Some(&self.buf);
            }
            self.file = None;
            self.buf.clear();
        }
        if self.backoff > 0 {
            self.backoff -= 1;
            return None;
        }
        let opened = File::open(&self.path).and_then(|mut f| {
            f.by_ref().take(MAX_FILE_BYTES).read_to_end(&mut self.buf)?;
            Ok(f)
        });
        match opened {
            Ok(f) => {
                self.file = Some(f);
                self.logged = false;
                Some(&self.buf)
            }
            Err(e) => {
                if !self.logged {
                    tracing::debug!(path = %self.path.display(), error = %e, "collector source unavailable");
                    self.logged = true;
                }
                self.buf.clear();
                self.backoff = RETRY_PASSES;
                None
            }
        }
    }
}

/// `root` + an absolute-looking relative path (`/proc/stat`).
pub(crate) fn join(root: &Path, rel: &str) -> PathBuf {
    root.join(rel.trim_start_matches('/'))
}

/// Reads a small file once (no handle kept); `None` when missing.
pub(crate) fn read_small(path: &Path) -> Option<String> {
    let f = File::open(path).ok()?;
    let mut s = String::new();
    f.take(64 * 1024).read_to_string(&mut s).ok()?;
    Some(s)
}

/// Lines of a buffer (without the `\n`).
pub(crate) fn lines(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    buf.split(|&b| b == b'\n')
}

/// Whitespace separated words of a line.
pub(crate) fn words(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
}

/// Leading decimal digits of `w` as u64 (like `strtoull`: stops at the first non-digit,
/// wraps silently never — saturates instead). `None` when `w` has no leading digit.
pub(crate) fn parse_u64(w: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    let mut any = false;
    for &b in w {
        if !b.is_ascii_digit() {
            break;
        }
        any = true;
        v = v.saturating_mul(10).saturating_add(u64::from(b - b'0'));
    }
    any.then_some(v)
}

/// A non-negative decimal with a fraction (`183.79`, `0.12`) scaled by 10^`decimals`,
/// truncating extra fraction digits: `parse_fixed(b"0.125", 2) == Some(12)`.
pub(crate) fn parse_fixed(w: &[u8], decimals: u32) -> Option<u64> {
    let (int, frac) = match w.iter().position(|&b| b == b'.') {
        Some(p) => (&w[..p], &w[p + 1..]),
        None => (w, &w[w.len()..]),
    };
    let mut v = parse_u64(int)?;
    let mut taken = 0;
    for &b in frac.iter().take(decimals as usize) {
        if !b.is_ascii_digit() {
            break;
        }
        v = v.saturating_mul(10).saturating_add(u64::from(b - b'0'));
        taken += 1;
    }
    for _ in taken..decimals {
        v = v.saturating_mul(10);
    }
    Some(v)
}

/// u64 counter as Netdata's `collected_number` (a C `long long`: wraps like the C cast).
#[inline]
pub(crate) fn cn(v: u64) -> Option<i64> {
    Some(v as i64)
}

/// Chart id characters as Netdata keeps them; everything else becomes `_`.
pub(crate) fn fix_id(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Netdata's simple patterns, reduced to what the defaults need: space separated words,
/// `*` wildcards anywhere.
pub(crate) fn simple_match(patterns: &str, s: &str) -> bool {
    patterns
        .split_ascii_whitespace()
        .any(|p| glob(p.as_bytes(), s.as_bytes()))
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

/// Everything of a `CHART` line except update every (given by the collector).
pub(crate) struct ChartSpec<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub units: &'a str,
    pub family: &'a str,
    pub context: &'a str,
    pub chart_type: ChartType,
    pub priority: i64,
    pub detail: bool,
    pub plugin: &'a str,
    pub module: &'a str,
}

impl ChartSpec<'_> {
    /// The chart metadata with the `_collect_plugin`/`_collect_module` labels Netdata adds
    /// (module `[none]` when empty) followed by `labels`.
    pub(crate) fn meta(&self, update_every: u32, labels: &[(&str, &str, u32)]) -> ChartMeta {
        let module = if self.module.is_empty() {
            "[none]"
        } else {
            self.module
        };
        let mut l = vec![
            Label {
                name: "_collect_plugin".into(),
                value: self.plugin.into(),
                source: LABEL_SOURCE_AUTO_PERMANENT,
            },
            Label {
                name: "_collect_module".into(),
                value: module.into(),
                source: LABEL_SOURCE_AUTO_PERMANENT,
            },
        ];
        l.extend(labels.iter().map(|(n, v, s)| Label {
            name: (*n).into(),
            value: (*v).into(),
            source: *s,
        }));
        ChartMeta {
            id: self.id.into(),
            name: self.id.into(),
            title: self.title.into(),
            units: self.units.into(),
            family: self.family.into(),
            context: self.context.into(),
            chart_type: self.chart_type,
            priority: self.priority,
            update_every: update_every.max(1),
            options: if self.detail {
                "detail".into()
            } else {
                String::new()
            },
            plugin: self.plugin.into(),
            module: self.module.into(),
            labels: l,
        }
    }

    pub(crate) fn build(
        &self,
        update_every: u32,
        labels: &[(&str, &str, u32)],
        dims: Vec<DimMeta>,
    ) -> CollectedChart {
        CollectedChart::new(self.meta(update_every, labels), dims)
    }
}

/// A dimension whose name equals its id.
pub(crate) fn dim(id: &str, algorithm: Algorithm, multiplier: i64, divisor: i64) -> DimMeta {
    dim_named(id, id, algorithm, multiplier, divisor)
}

pub(crate) fn dim_named(
    id: &str,
    name: &str,
    algorithm: Algorithm,
    multiplier: i64,
    divisor: i64,
) -> DimMeta {
    DimMeta {
        id: id.into(),
        name: name.into(),
        algorithm,
        multiplier,
        divisor,
        options: String::new(),
    }
}

pub(crate) const ABS: Algorithm = Algorithm::Absolute;
pub(crate) const INC: Algorithm = Algorithm::Incremental;
pub(crate) const PCT_INC: Algorithm = Algorithm::PercentageOfIncrementalRow;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_u64_reads_leading_digits() {
        assert_eq!(parse_u64(b"123abc"), Some(123));
        assert_eq!(parse_u64(b"x"), None);
        assert_eq!(parse_u64(b"99999999999999999999999"), Some(u64::MAX));
    }

    #[test]
    fn parse_fixed_scales_and_truncates() {
        assert_eq!(parse_fixed(b"183.79", 3), Some(183_790));
        assert_eq!(parse_fixed(b"0.12", 3), Some(120));
        assert_eq!(parse_fixed(b"0.1259", 3), Some(125));
        assert_eq!(parse_fixed(b"7", 2), Some(700));
        assert_eq!(parse_fixed(b".5", 1), None);
    }

    #[test]
    fn simple_patterns_match_netdata_defaults() {
        assert!(simple_match("loop* ram*", "loop3"));
        assert!(!simple_match("loop* ram*", "vda"));
        assert!(simple_match("/proc/* /sys/*", "/sys/fs/cgroup"));
        assert!(simple_match("*-ifb", "eth0-ifb"));
    }

    #[test]
    fn ids_are_fixed_like_netdata() {
        assert_eq!(fix_id("/dev/shm"), "_dev_shm");
        assert_eq!(fix_id("net.eth0.100"), "net.eth0.100");
    }
}
