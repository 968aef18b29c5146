//! `netdata.*` self-monitoring of the daemon.
//!
//! Charts with Netdata 1.37.1's ids and definitions (plugin `netdata`, module `stats`):
//! - `netdata.server_cpu` — user/system CPU of this process in microseconds (divisor 1000 →
//!   milliseconds/s): from `getrusage(RUSAGE_SELF)` like Netdata when collecting this machine
//!   (one cheap system call instead of the kernel rendering 52 fields of `/proc/self/stat`,
//!   ~11 µs once per second with cold caches), from a fixture root's `/proc/self/stat`
//!   otherwise (clock ticks × 10 000);
//! - `netdata.uptime` — seconds since [`NetdataSelf::new`];
//! - `netdata.clients` — connected API clients; `netdata.requests` — API requests (counter);
//! - `netdata.net` — API bytes in/out (counters);
//! - `netdata.db_points_stored` — points stored per tier (counters).
//!
//! Charts of ours (no Netdata 1.37 equivalent), same plugin/module, priorities after Netdata's:
//! - `netdata.memory` — "Netdata Memory", MiB, dim `rss` (KiB: resident pages of
//!   `/proc/self/statm` × page size, the number `/proc/self/status` shows as VmRSS and renders
//!   three times slower; VmRSS when statm is missing; divisor 1024), priority 130050;
//! - `netdata.streams` — "Netdata Streams", streams, dim `connected` (absolute), 130500;
//! - `netdata.samples_ingested` — "Netdata Samples Ingested", samples/s, dim `samples`
//!   (incremental counter of values received from children and local collection), 130510.

use std::path::Path;
use std::time::Instant;

use crate::model::{ChartType, DimMeta};

use super::util::{cn, dim, lines, parse_u64, words, ChartSpec, ProcFile, ABS, INC};
use super::{CollectedChart, Collection};

/// Linux `USER_HZ` (clock ticks per second of /proc/PID/stat), fixed at 100 by the kernel ABI.
const USER_HZ: u64 = 100;
/// Tiers charted in `netdata.db_points_stored`.
pub const SELF_TIERS: usize = 3;

/// Counters the daemon keeps and passes in at each pass (totals since start, not rates).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DaemonCounters {
    pub api_clients: u64,
    pub api_requests: u64,
    pub api_bytes_in: u64,
    pub api_bytes_out: u64,
    /// Points stored per tier (index = tier).
    pub points_stored: [u64; SELF_TIERS],
    pub streams_connected: u64,
    pub samples_ingested: u64,
}

pub struct NetdataSelf {
    started: Instant,
    /// `getrusage` for the CPU chart (root `/`); otherwise `stat` is read.
    rusage: bool,
    stat: ProcFile,
    statm: ProcFile,
    status: ProcFile,
    page_kib: u64,
    charts: Vec<CollectedChart>,
}

const CPU: usize = 0;
const MEMORY: usize = 1;
const UPTIME: usize = 2;
const CLIENTS: usize = 3;
const REQUESTS: usize = 4;
const NET: usize = 5;
const POINTS: usize = 6;
const STREAMS: usize = 7;
const SAMPLES: usize = 8;

#[allow(clippy::too_many_arguments)]
fn chart(
    id: &str,
    title: &str,
    units: &str,
    family: &str,
    ct: ChartType,
    priority: i64,
    ue: u32,
    dims: Vec<DimMeta>,
) -> CollectedChart {
    ChartSpec {
        id,
        title,
        units,
        family,
        context: id,
        chart_type: ct,
        priority,
        detail: false,
        plugin: "netdata",
        module: "stats",
    }
    .build(ue, &[], dims)
}

impl NetdataSelf {
    /// `root` is `/` normally (reads `/proc/self/stat` and `/proc/self/status` under it).
    pub fn new(root: impl AsRef<Path>, update_every: u32) -> Self {
        let root = root.as_ref();
        let ue = update_every.max(1);
        let charts = vec![
            chart(
                "netdata.server_cpu",
                "Netdata CPU usage",
                "milliseconds/s",
                "netdata",
                ChartType::Stacked,
                130000,
                ue,
                vec![dim("user", INC, 1, 1000), dim("system", INC, 1, 1000)],
            ),
            chart(
                "netdata.memory",
                "Netdata Memory",
                "MiB",
                "netdata",
                ChartType::Stacked,
                130050,
                ue,
                vec![dim("rss", ABS, 1, 1024)],
            ),
            chart(
                "netdata.uptime",
                "Netdata uptime",
                "seconds",
                "netdata",
                ChartType::Line,
                130100,
                ue,
                vec![dim("uptime", ABS, 1, 1)],
            ),
            chart(
                "netdata.clients",
                "Netdata Web Clients",
                "connected clients",
                "api",
                ChartType::Line,
                130200,
                ue,
                vec![dim("clients", ABS, 1, 1)],
            ),
            chart(
                "netdata.requests",
                "Netdata Web Requests",
                "requests/s",
                "api",
                ChartType::Line,
                130300,
                ue,
                vec![dim("requests", INC, 1, 1)],
            ),
            chart(
                "netdata.net",
                "Netdata Network Traffic",
                "kilobits/s",
                "api",
                ChartType::Area,
                130400,
                ue,
                vec![dim("in", INC, 8, 1000), dim("out", INC, -8, 1000)],
            ),
            chart(
                "netdata.db_points_stored",
                "Netdata DB Points Stored",
                "points/s",
                "queries",
                ChartType::Stacked,
                131003,
                ue,
                (0..SELF_TIERS)
                    .map(|t| dim(&format!("tier{t}"), INC, 1, 1))
                    .collect(),
            ),
            chart(
                "netdata.streams",
                "Netdata Streams",
                "streams",
                "streaming",
                ChartType::Line,
                130500,
                ue,
                vec![dim("connected", ABS, 1, 1)],
            ),
            chart(
                "netdata.samples_ingested",
                "Netdata Samples Ingested",
                "samples/s",
                "streaming",
                ChartType::Line,
                130510,
                ue,
                vec![dim("samples", INC, 1, 1)],
            ),
        ];
        Self {
            started: Instant::now(),
            rusage: root == Path::new("/"),
            stat: ProcFile::new(root, "/proc/self/stat"),
            statm: ProcFile::new(root, "/proc/self/statm"),
            status: ProcFile::new(root, "/proc/self/status"),
            page_kib: (rustix::param::page_size() / 1024).max(1) as u64,
            charts,
        }
    }

    /// One pass: this process's CPU and RSS plus the daemon's counters.
    pub fn collect(&mut self, counters: &DaemonCounters) -> Collection<'_> {
        let (user, system) = if self.rusage {
            rusage_cpu_us()
        } else {
            self.stat.read().map_or((None, None), cpu_us)
        };
        self.charts[CPU].set_all(&[user, system]);
        let page_kib = self.page_kib;
        let rss = match self.statm.read().and_then(|buf| statm_rss_kib(buf, page_kib)) {
            Some(kib) => Some(kib),
            None => self.status.read().and_then(|buf| {
                lines(buf).find_map(|l| {
                    let mut w = words(l);
                    (w.next() == Some(b"VmRSS:".as_slice()))
                        .then(|| w.next().and_then(parse_u64))
                        .flatten()
                })
            }),
        };
        self.charts[MEMORY].set_all(&[rss.and_then(cn)]);
        self.charts[UPTIME].set_all(&[cn(self.started.elapsed().as_secs())]);
        let c = counters;
        self.charts[CLIENTS].set_all(&[cn(c.api_clients)]);
        self.charts[REQUESTS].set_all(&[cn(c.api_requests)]);
        self.charts[NET].set_all(&[cn(c.api_bytes_in), cn(c.api_bytes_out)]);
        self.charts[POINTS].set_all(&c.points_stored.map(cn));
        self.charts[STREAMS].set_all(&[cn(c.streams_connected)]);
        self.charts[SAMPLES].set_all(&[cn(c.samples_ingested)]);
        Collection {
            charts: self.charts.iter().collect(),
        }
    }
}

/// User and system CPU time of this process (all its threads) in microseconds, from
/// `getrusage(RUSAGE_SELF)`; `None` when the call fails.
fn rusage_cpu_us() -> (Option<i64>, Option<i64>) {
    use nix::sys::resource::{getrusage, UsageWho};
    use nix::sys::time::TimeValLike;
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => (
            Some(u.user_time().num_microseconds()),
            Some(u.system_time().num_microseconds()),
        ),
        Err(_) => (None, None),
    }
}

/// Resident set size in KiB from `/proc/PID/statm` (second field, in pages).
fn statm_rss_kib(buf: &[u8], page_kib: u64) -> Option<u64> {
    words(buf)
        .nth(1)
        .and_then(parse_u64)
        .map(|pages| pages.saturating_mul(page_kib))
}

/// utime/stime of a `/proc/PID/stat` in microseconds (fields 14 and 15; the command name in
/// parentheses may hold spaces, so counting starts after the last `)`).
fn cpu_us(buf: &[u8]) -> (Option<i64>, Option<i64>) {
    let Some(p) = buf.iter().rposition(|&b| b == b')') else {
        return (None, None);
    };
    let mut w = words(&buf[p + 1..]).skip(11);
    let us = |x: Option<&[u8]>| {
        x.and_then(parse_u64)
            .map(|t| t.saturating_mul(1_000_000 / USER_HZ))
            .and_then(cn)
    };
    let user = us(w.next());
    let system = us(w.next());
    (user, system)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_us_skips_command_with_spaces() {
        let line = b"42 (a b) c) S 1 1 1 0 -1 4194304 102 0 0 0 37 12 0 0 20 0 1 0 1 1 1";
        assert_eq!(super::cpu_us(line), (Some(370_000), Some(120_000)));
    }

    #[test]
    fn statm_resident_pages_become_kib() {
        assert_eq!(super::statm_rss_kib(b"5000 1234 300 10 0 900 0\n", 4), Some(4936));
        assert_eq!(super::statm_rss_kib(b"5000\n", 4), None);
    }

    #[test]
    fn rusage_agrees_with_proc_self_stat() {
        // Both count every thread of this process (the kernel's same adjusted times), stat in
        // 10 ms ticks: getrusage read between two reads of /proc/self/stat lies between them,
        // give or take a tick per field.
        let stat_total = || {
            let text = std::fs::read("/proc/self/stat").expect("/proc/self/stat");
            let (u, s) = super::cpu_us(&text);
            u.expect("utime") + s.expect("stime")
        };
        let before = stat_total();
        let (ru, rs) = super::rusage_cpu_us();
        let after = stat_total();
        let total = ru.expect("user") + rs.expect("system");
        let tick = 1_000_000 / super::USER_HZ as i64;
        assert!(
            before - 2 * tick <= total && total <= after + 2 * tick,
            "getrusage {total} µs outside /proc/self/stat's {before}..{after} µs"
        );
        // The real root uses getrusage, a fixture root its file.
        assert!(super::NetdataSelf::new("/", 1).rusage);
        assert!(!super::NetdataSelf::new("/tmp/fixture-root", 1).rusage);
    }

    #[test]
    fn statm_and_status_agree_on_this_process() {
        let mut s = super::NetdataSelf::new("/", 1);
        let kib = s.statm.read().and_then(|b| super::statm_rss_kib(b, s.page_kib));
        let vmrss = std::fs::read_to_string("/proc/self/status").ok().and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        });
        if let (Some(kib), Some(vmrss)) = (kib, vmrss) {
            // Read a moment apart: allow the process to grow or shrink by a few MiB.
            assert!(kib.abs_diff(vmrss) < 8192, "statm {kib} KiB vs VmRSS {vmrss} KiB");
            assert!(kib > 0);
        }
    }
}
