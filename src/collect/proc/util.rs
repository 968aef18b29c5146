//! Shared plumbing of the /proc collectors: a re-readable file with a reused buffer, byte
//! parsers that never allocate, and builders for chart and dimension metadata.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
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

/// A /proc or /sys file kept open between passes and re-read from offset 0 with `pread`
/// (no `lseek`) into one reused buffer.
/// A file that cannot be opened or read is tried again only every [`RETRY_PASSES`] reads
/// (and logged once at debug level), so missing sources cost nothing per pass.
///
/// Files the kernel renders in one piece ([`renders_whole`]) take one `pread` per pass when
/// the buffer is larger than their content: for those a short read is the whole file, so
/// the extra read that would only return 0 (end of file) is skipped. So do the `seq_file`s
/// whose records have a known maximum length ([`seq_record_max`]) when a read comes back
/// short by more than that length (see [`short_read_limit`]). Every other file is read until
/// a read returns 0 (a `seq_file` hands out at most its internal buffer per read).
pub(crate) struct ProcFile {
    path: PathBuf,
    file: Option<File>,
    /// Zero-initialised once and grown by doubling; the content is `buf[..len]`.
    buf: Vec<u8>,
    len: usize,
    /// A read shorter than the space offered and than this many bytes is the end of the
    /// file ([`short_read_limit`]).
    short_ends: usize,
    /// Reads to skip before the next attempt after a failure.
    backoff: u32,
    logged: bool,
    /// Read attempts so far (tests check which passes read a file).
    reads: u64,
}

impl ProcFile {
    pub(crate) fn new(root: &Path, rel: &str) -> Self {
        Self {
            path: join(root, rel),
            file: None,
            buf: Vec::new(),
            len: 0,
            short_ends: short_read_limit(rel),
            backoff: 0,
            logged: false,
            reads: 0,
        }
    }

    /// How many times [`ProcFile::read`] was called.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn reads(&self) -> u64 {
        self.reads
    }

    /// Reads the whole file; `None` when it is missing or unreadable (the caller skips the
    /// charts fed by it this pass).
    pub(crate) fn read(&mut self) -> Option<&[u8]> {
        self.reads += 1;
        self.len = 0;
        if let Some(f) = self.file.as_ref() {
            match read_all_at(f, &mut self.buf, self.short_ends) {
                Ok(n) => {
                    self.len = n;
                    return Some(&self.buf[..n]);
                }
                Err(_) => self.file = None,
            }
        }
        if self.backoff > 0 {
            self.backoff -= 1;
            return None;
        }
        let opened = File::open(&self.path).and_then(|f| {
            let n = read_all_at(&f, &mut self.buf, self.short_ends)?;
            Ok((f, n))
        });
        match opened {
            Ok((f, n)) => {
                self.file = Some(f);
                self.len = n;
                self.logged = false;
                Some(&self.buf[..n])
            }
            Err(e) => {
                if !self.logged {
                    tracing::debug!(path = %self.path.display(), error = %e, "collector source unavailable");
                    self.logged = true;
                }
                self.backoff = RETRY_PASSES;
                None
            }
        }
    }
}

/// Whether the kernel produces `rel` in one piece, so that a `read` shorter than the buffer
/// returned all of it: `single_open` /proc files (one `seq_file` record), sysfs attributes
/// (one `show` call) and sysctls. Files with one record per line/device/CPU (`/proc/net/dev`,
/// `/proc/diskstats`, `/proc/vmstat`, `/proc/interrupts`, mountinfo...) are not listed: a
/// `seq_file` stops a read at its internal buffer size, so their short reads prove nothing.
pub(crate) fn renders_whole(rel: &str) -> bool {
    const SINGLE: &[&str] = &[
        "/proc/stat",
        "/proc/uptime",
        "/proc/loadavg",
        "/proc/meminfo",
        "/proc/softirqs",
        "/proc/net/snmp",
        "/proc/net/netstat",
        "/proc/net/snmp6",
        "/proc/net/sockstat",
        "/proc/self/stat",
        "/proc/self/statm",
        "/proc/self/status",
    ];
    SINGLE.contains(&rel) || ["/sys/", "/proc/sys/", "/proc/pressure/"].iter().any(|p| rel.starts_with(p))
}

/// Smallest buffer a `seq_file` fills per read: one page (`seq_read_iter` starts with
/// `PAGE_SIZE` and only ever doubles it). 4 KiB is the smallest page size Linux has.
const SEQ_MIN_BUF: usize = 4096;

/// Longest record (bytes, newline included) the kernel's `show` prints per step of these
/// `seq_file`s, with a wide margin over their formats: `/proc/vmstat` one `name value` line
/// (names ≤ ~40 characters, a u64), `/proc/net/dev` one interface (a name ≤ 15 and 16 u64
/// columns, or the two header lines), `/proc/diskstats` one device (a name ≤ 32 and ≤ 20
/// numbers), `softnet_stat` / `nf_conntrack` one CPU (≤ 20 hex words) or the header, sysvipc
/// one object (≤ 16 numbers) or the header. `None` for files whose records have no such bound
/// (`/proc/interrupts` prints all architecture lines as one record, whose length grows with the
/// CPU count; mountinfo lines hold paths).
pub(crate) fn seq_record_max(rel: &str) -> Option<usize> {
    match rel {
        "/proc/vmstat" => Some(96),
        "/proc/net/dev" | "/proc/diskstats" => Some(1024),
        "/proc/net/softnet_stat" | "/proc/net/stat/nf_conntrack" | "/proc/sysvipc/sem" | "/proc/sysvipc/shm" => Some(512),
        _ => None,
    }
}

/// A read shorter than the space offered proves the end of `rel` when it is also shorter than
/// the returned limit: any length for files rendered in one piece ([`renders_whole`]); for a
/// `seq_file` whose records are at most `L` bytes ([`seq_record_max`]), `SEQ_MIN_BUF - L`: such
/// a read stops early only at the end or when the next record did not fit in the kernel's
/// buffer (≥ `SEQ_MIN_BUF`), which needs at least `SEQ_MIN_BUF - L` bytes already in it. 0 for
/// every other file (only a read of 0 ends it).
pub(crate) fn short_read_limit(rel: &str) -> usize {
    if renders_whole(rel) {
        usize::MAX
    } else {
        seq_record_max(rel).map_or(0, |l| SEQ_MIN_BUF.saturating_sub(l))
    }
}

/// Reads `f` from offset 0 to its end (at most [`MAX_FILE_BYTES`]) into `buf` with `pread`,
/// growing `buf` when full; returns the length read. A read shorter than the space offered and
/// than `short_ends` ends it (see [`short_read_limit`]); otherwise only a read of 0 does.
/// Regular files (test fixtures) end at their first short read either way.
fn read_all_at(f: &File, buf: &mut Vec<u8>, short_ends: usize) -> std::io::Result<usize> {
    let mut len = 0usize;
    // Each turn either adds bytes, grows the buffer (bounded by MAX_FILE_BYTES) or ends.
    loop {
        if len == buf.len() {
            if buf.len() as u64 >= MAX_FILE_BYTES {
                return Ok(len);
            }
            let grown = (buf.len() * 2).clamp(4096, MAX_FILE_BYTES as usize);
            buf.resize(grown, 0);
        }
        let space = buf.len() - len;
        match f.read_at(&mut buf[len..], len as u64) {
            Ok(0) => return Ok(len),
            Ok(n) => {
                len += n;
                if n < space && n < short_ends {
                    return Ok(len);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
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
    fn proc_file_rereads_changed_content_of_any_size() {
        let dir = tempfile::tempdir().expect("temp dir");
        let big: Vec<u8> = (0..10_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        for rel in ["/proc/stat", "/proc/diskstats"] {
            let path = join(dir.path(), rel);
            std::fs::create_dir_all(dir.path().join("proc")).expect("mkdir proc");
            std::fs::write(&path, b"first").expect("write");
            let mut f = ProcFile::new(dir.path(), rel);
            assert_eq!(f.read(), Some(&b"first"[..]), "{rel}");
            std::fs::write(&path, &big).expect("write");
            assert_eq!(f.read().map(<[u8]>::len), Some(big.len()), "{rel}");
            assert_eq!(f.read(), Some(&big[..]), "{rel}");
            std::fs::write(&path, b"short").expect("write");
            assert_eq!(f.read(), Some(&b"short"[..]), "{rel}");
        }
    }

    #[test]
    fn proc_file_reads_the_kernel_files_whole() {
        // Both kinds of /proc file (single record, one record per line), when this machine
        // has them: complete (ends with a newline, as many lines as a plain read gives).
        let root = Path::new("/");
        for rel in ["/proc/meminfo", "/proc/vmstat", "/proc/net/dev", "/proc/diskstats", "/proc/net/softnet_stat", "/proc/net/stat/nf_conntrack", "/proc/sysvipc/sem", "/proc/sysvipc/shm"] {
            let mut f = ProcFile::new(root, rel);
            let Some(a) = f.read().map(<[u8]>::to_vec) else { continue };
            assert!(a.ends_with(b"\n"), "{rel} truncated: {} bytes", a.len());
            let Ok(direct) = std::fs::read(rel) else { continue };
            assert_eq!(lines(&a).count(), lines(&direct).count(), "{rel}");
            // Same keys line by line (the first word: a counter, interface or device name);
            // values may have moved between the two reads.
            let keys = |b: &[u8]| lines(b).map(|l| l.split(|c| c.is_ascii_whitespace()).find(|w| !w.is_empty()).map(<[u8]>::to_vec)).collect::<Vec<_>>();
            if !rel.contains("softnet") && !rel.contains("conntrack") {
                assert_eq!(keys(&a), keys(&direct), "{rel}");
            }
        }
    }

    #[test]
    fn seq_file_record_bounds_hold_on_this_machine() {
        // The bound must exceed every record: one line, or the header (the first two lines of
        // /proc/net/dev, the first line of the others).
        for rel in ["/proc/vmstat", "/proc/net/dev", "/proc/diskstats", "/proc/net/softnet_stat", "/proc/net/stat/nf_conntrack", "/proc/sysvipc/sem", "/proc/sysvipc/shm"] {
            let max = seq_record_max(rel).expect("bounded");
            let Ok(text) = std::fs::read(rel) else { continue };
            let lens: Vec<usize> = lines(&text).map(|l| l.len() + 1).collect();
            let header = if rel == "/proc/net/dev" { lens.iter().take(2).sum() } else { lens.first().copied().unwrap_or(0) };
            let longest = lens.iter().copied().max().unwrap_or(0).max(header);
            // Twice over at least: the margin is for kernels with longer names or more columns.
            assert!(2 * longest <= max, "{rel}: a record of {longest} bytes against a bound of {max}");
        }
    }

    #[test]
    fn short_reads_end_whole_files_and_bounded_seq_files_only() {
        assert_eq!(short_read_limit("/proc/stat"), usize::MAX);
        assert_eq!(short_read_limit("/sys/class/net/eth0/speed"), usize::MAX);
        // vmstat: a read of less than 4000 bytes ends it; a longer short read may be a page
        // that the next record did not fit in.
        assert_eq!(short_read_limit("/proc/vmstat"), 4000);
        assert_eq!(short_read_limit("/proc/net/dev"), 3072);
        assert_eq!(short_read_limit("/proc/sysvipc/shm"), 3584);
        // Unbounded records: only a read of 0 ends them.
        assert_eq!(short_read_limit("/proc/interrupts"), 0);
        assert_eq!(short_read_limit("/proc/self/mountinfo"), 0);
    }

    #[test]
    fn bounded_seq_files_larger_than_a_page_are_read_to_the_end() {
        // A fixture (regular file) bigger than the kernel's page: every read is full until
        // the last one, whatever the limit.
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("proc/net")).expect("mkdir");
        let text: String = (0..400).map(|i| format!("counter_{i} {}\n", i * 1_000_003)).collect();
        for rel in ["/proc/vmstat", "/proc/net/dev"] {
            std::fs::write(join(dir.path(), rel), &text).expect("write");
            let mut f = ProcFile::new(dir.path(), rel);
            assert_eq!(f.read(), Some(text.as_bytes()), "{rel}");
        }
    }

    #[test]
    fn single_record_files_are_listed_and_seq_files_are_not() {
        assert!(renders_whole("/proc/stat"));
        assert!(renders_whole("/sys/class/net/eth0/mtu"));
        assert!(renders_whole("/proc/pressure/io"));
        assert!(!renders_whole("/proc/net/dev"));
        assert!(!renders_whole("/proc/vmstat"));
        assert!(!renders_whole("/proc/self/mountinfo"));
    }

    #[test]
    fn ids_are_fixed_like_netdata() {
        assert_eq!(fix_id("/dev/shm"), "_dev_shm");
        assert_eq!(fix_id("net.eth0.100"), "net.eth0.100");
    }
}
