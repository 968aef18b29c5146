//! Local collection of this machine from /proc and /sys, with Netdata 1.37.1's chart and
//! dimension names (ids, titles, units, families, contexts, priorities, update every,
//! algorithms, multipliers, divisors, options, chart labels incl. `_collect_plugin` and
//! `_collect_module`), as its `proc.plugin` and `diskspace.plugin` declare them.
//! `tests/proc_capture.rs` checks every chart we produce against the `CHART`/`CLABEL`/
//! `DIMENSION` lines a real Netdata 1.37.1 child sent.
//!
//! The collectors hand out the RAW collected integers — exactly what a Netdata child sends in
//! its `SET` lines. Turning them into stored values (algorithms, multiplier/divisor,
//! interpolation) is the job of `crate::collect::compute`.
//!
//! **Invariant:** no rates are computed here. The only derived numbers are those Netdata's own
//! collectors derive before `SET`: sums (`system.io`, `system.net`, per-CPU totals), differences
//! (`used` RAM/space), and the per-operation averages of diskstats (`disk_await`, `disk_avgsz`,
//! `disk_svctm`, `disk_util`, computed from the deltas of two passes, as Netdata does).
//!
//! Usage: build a [`ProcCollector`] once, call [`ProcCollector::collect`] (or
//! [`ProcCollector::collect_at`]) every update every seconds on a thread that may block (it
//! does file I/O and `statvfs`), and feed every returned chart (definition + values) to the
//! computation. A chart's [`CollectedChart::version`] changes whenever its definition changed
//! (a new dimension, e.g. an interrupt that fired for the first time); a chart whose source
//! disappeared (disk removed, interface or mount gone) is returned once more with the
//! `obsolete` option and all values `None`, then never again. Charts with a longer update
//! every than the collector's (`system.load` 5 s, pressure 2 s) are returned only when due
//! (`now % update_every == 0`, or a full period after the last time).
//!
//! Scaling (what the raw values are):
//! - `system.cpu`, `cpu.cpuN`: jiffies (USER_HZ) counters, user/nice without guest time;
//! - `system.ram`, `mem.*`, `system.swap`: KiB (divisor 1024 → MiB); cached = Cached +
//!   SReclaimable, used = total − free − cached − buffers (Netdata 1.37);
//! - `system.load`: load × 1000 (divisor 1000); `system.uptime`: milliseconds (divisor 1000);
//! - `disk.DEV`: sectors (multiplier = hw sector size, divisor 1024 → KiB); `system.io` and
//!   `system.pgpgio`: KiB;
//! - `net.IFACE`, `system.net`, `system.ip(v6)`: bytes (multiplier 8, divisor 1000 → kilobits);
//! - `disk_space.MOUNT`: blocks of `f_frsize` (multiplier) / 2^30 → GiB; `disk_inodes`: inodes;
//! - pressure: avg × 100 (divisor 100), stall time in ms (µs / 1000);
//! - `net_speed`: Mbit/s × 1000 (kilobits/s), 0 when unknown.
//!
//! Produced (on the machine of the capture): system.cpu, cpu.cpuN, cpu.cpuN_interrupts,
//! cpu.cpuN_softirqs, cpu.cpuN_softnet_stat, system.{intr, ctxt, forks, processes, uptime,
//! load, active_processes, entropy, interrupts, softirqs, softnet_stat, pgpgio, ram, swap, io,
//! net, ip, ipv6, ipc_semaphores, ipc_semaphore_arrays, shared_memory_segments,
//! shared_memory_bytes}, the 12 `system.*_pressure*` charts, mem.{available, committed,
//! writeback, kernel, slab, pgfaults, oom_kill}, mem.zram_*.DEV, net.IFACE, net_packets,
//! net_speed, net_duplex, net_operstate, net_carrier, net_mtu, disk.DEV and the 15 other
//! disk_*.DEV charts, disk_space.MOUNT, disk_inodes.MOUNT, ipv4.*, ipv6.*, ip.ecnpkts,
//! ip.tcpconnaborts, netfilter.conntrack_*; and once their counters are non-zero:
//! net_errors, net_drops, net_fifo, net_compressed, net_events, disk_qops, ipv4.tcperrors,
//! ip.tcpmemorypressures, ip.tcpreorders, ip.tcpofo, ip.tcpsyncookies, ip.tcp_syn_queue,
//! ip.tcp_accept_queue.
//! Not produced: `system.clock_*` (timex.plugin, needs `adjtimex`), `netfilter.netlink_*`
//! (nfacct.plugin), Netdata's internal `netdata.*` charts other than those of
//! [`NetdataSelf`], the rarer "auto" protocol charts (fragments, UDP errors...).
//! Device-mapper disks keep their kernel name (`disk.dm-0`).

mod diskspace;
mod diskstats;
mod loadavg;
mod meminfo;
mod misc;
mod netdev;
mod netstat;
mod percpu;
mod pressure;
mod selfmon;
mod stat;
mod util;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::model::{ChartMeta, DimMeta, UnixTime};

pub use selfmon::{DaemonCounters, NetdataSelf, SELF_TIERS};

/// A fresh [`CollectedChart::version`] (never 0, never repeated in this process).
pub(crate) fn next_version() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// One chart as collected in a pass: definition and the raw values of its dimensions.
#[derive(Clone, Debug, PartialEq)]
pub struct CollectedChart {
    pub meta: ChartMeta,
    pub dims: Vec<DimMeta>,
    /// Raw collected values, same order as `dims`; `None` = not collected this pass (gap).
    pub values: Vec<Option<i64>>,
    /// Identifies this definition (`meta` + `dims`): taken from a process-wide counter when
    /// the chart is built and each time `meta` or `dims` change, so it only grows, and two
    /// charts showing the same id and version have the same definition. A consumer compares it
    /// instead of the definitions to know when to redefine a chart.
    pub version: u64,
    last_emit: UnixTime,
}

impl CollectedChart {
    pub(crate) fn new(meta: ChartMeta, dims: Vec<DimMeta>) -> Self {
        let values = vec![None; dims.len()];
        Self {
            meta,
            dims,
            values,
            version: next_version(),
            last_emit: UnixTime::MIN,
        }
    }

    /// The value of dimension `id`, if collected.
    pub fn value(&self, id: &str) -> Option<i64> {
        self.dims
            .iter()
            .position(|d| d.id == id)
            .and_then(|i| self.values[i])
    }

    /// Sets all values at once (same order as `dims`; missing trailing values read as None).
    pub(crate) fn set_all(&mut self, values: &[Option<i64>]) {
        for (i, slot) in self.values.iter_mut().enumerate() {
            *slot = values.get(i).copied().flatten();
        }
    }

    /// Appends a dimension (value `None` until set) and bumps the version; returns its index.
    pub(crate) fn add_dim(&mut self, d: DimMeta) -> usize {
        self.dims.push(d);
        self.values.push(None);
        self.version = next_version();
        self.dims.len() - 1
    }

    /// Marks the chart obsolete (its source went away): all values become gaps.
    pub(crate) fn make_obsolete(&mut self) {
        if !self.meta.is_obsolete() {
            if self.meta.options.is_empty() {
                self.meta.options = "obsolete".into();
            } else {
                self.meta.options.push_str(" obsolete");
            }
            self.version = next_version();
        }
        self.values.iter_mut().for_each(|v| *v = None);
    }

    /// Whether a chart with a longer update every than the collector is due at `now`
    /// (without recording it: see [`CollectedChart::due`]).
    pub(crate) fn is_due(&self, now: UnixTime, base_update_every: u32) -> bool {
        let ue = i64::from(self.meta.update_every.max(1));
        self.meta.update_every <= base_update_every
            || now.rem_euclid(ue) == 0
            || now.saturating_sub(self.last_emit) >= ue
    }

    /// [`CollectedChart::is_due`], recording `now` as the last emission when due.
    fn due(&mut self, now: UnixTime, base_update_every: u32) -> bool {
        let due = self.is_due(now, base_update_every);
        if due {
            self.last_emit = now;
        }
        due
    }
}

/// The charts of one collection pass, borrowed from the collector until the next pass.
#[derive(Debug, Default)]
pub struct Collection<'a> {
    pub charts: Vec<&'a CollectedChart>,
}

impl<'a> Collection<'a> {
    pub fn get(&self, id: &str) -> Option<&'a CollectedChart> {
        self.charts.iter().copied().find(|c| c.meta.id == id)
    }
    /// Total number of dimensions in this pass.
    pub fn dimension_count(&self) -> usize {
        self.charts.iter().map(|c| c.dims.len()).sum()
    }
}

/// Collector of this machine (`proc.plugin` + `diskspace.plugin` of Netdata).
pub struct ProcCollector {
    root: PathBuf,
    update_every: u32,
    stat: stat::Stat,
    loadavg: loadavg::LoadAvg,
    meminfo: meminfo::MemInfo,
    netdev: netdev::NetDev,
    diskstats: diskstats::DiskStats,
    diskspace: diskspace::DiskSpace,
    interrupts: percpu::Table,
    softirqs: percpu::Table,
    softnet: percpu::SoftNet,
    pressure: pressure::Pressure,
    netstat: netstat::NetStat,
    conntrack: misc::Conntrack,
    ipc: misc::Ipc,
    zram: misc::Zram,
}

impl ProcCollector {
    /// `root` is `/` normally (Netdata's host prefix); tests point it at a fixture tree.
    pub fn new(root: impl Into<PathBuf>, update_every: u32) -> Self {
        let root = root.into();
        let update_every = update_every.max(1);
        Self {
            stat: stat::Stat::new(&root, update_every),
            loadavg: loadavg::LoadAvg::new(&root, update_every),
            meminfo: meminfo::MemInfo::new(&root, update_every),
            netdev: netdev::NetDev::new(&root, update_every),
            diskstats: diskstats::DiskStats::new(&root, update_every),
            diskspace: diskspace::DiskSpace::new(&root, update_every),
            interrupts: percpu::Table::interrupts(&root, update_every),
            softirqs: percpu::Table::softirqs(&root, update_every),
            softnet: percpu::SoftNet::new(&root, update_every),
            pressure: pressure::Pressure::new(&root, update_every),
            netstat: netstat::NetStat::new(&root, update_every),
            conntrack: misc::Conntrack::new(&root, update_every),
            ipc: misc::Ipc::new(&root, update_every),
            zram: misc::Zram::new(&root, update_every),
            root,
            update_every,
        }
    }

    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    pub fn update_every(&self) -> u32 {
        self.update_every
    }

    /// One collection pass at the wall clock time.
    pub fn collect(&mut self) -> Collection<'_> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.collect_at(now)
    }

    /// One collection pass at `now` (seconds): reads every source once and returns the charts
    /// collected (charts whose update every is longer than the collector's only when due).
    pub fn collect_at(&mut self, now: UnixTime) -> Collection<'_> {
        let ue = self.update_every;
        self.stat.collect();
        self.loadavg.collect();
        self.meminfo.collect();
        self.netdev.collect();
        self.diskspace.collect();
        self.diskstats.collect(self.diskspace.mounts());
        self.interrupts.collect();
        self.softirqs.collect();
        self.softnet.collect();
        self.pressure.collect(now, ue);
        self.netstat.collect();
        self.conntrack.collect();
        self.ipc.collect();
        self.zram.collect();

        let mut all: Vec<&mut CollectedChart> = Vec::with_capacity(256);
        self.stat.charts(&mut all);
        self.pressure.charts(&mut all);
        self.interrupts.charts(&mut all);
        self.softirqs.charts(&mut all);
        self.loadavg.charts(&mut all);
        self.meminfo.charts(&mut all);
        self.zram.charts(&mut all);
        self.netdev.charts(&mut all);
        self.netstat.charts(&mut all);
        self.conntrack.charts(&mut all);
        self.ipc.charts(&mut all);
        self.diskstats.charts(&mut all);
        self.diskspace.charts(&mut all);
        self.softnet.charts(&mut all);
        let charts = all
            .into_iter()
            .filter_map(|c| if c.due(now, ue) { Some(&*c) } else { None })
            .collect();
        Collection { charts }
    }
}
