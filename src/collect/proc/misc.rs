//! Smaller sources: `/proc/net/stat/nf_conntrack` (`netfilter.conntrack_*`), System V IPC
//! (`/proc/sysvipc/{sem,shm}`: `system.ipc_semaphores`, `system.ipc_semaphore_arrays`,
//! `system.shared_memory_*`) and zram devices (`/sys/block/zramN/mm_stat`: `mem.zram_*`).

use std::path::{Path, PathBuf};

use crate::model::{ChartType, DimMeta};

use super::percpu::parse_hex;
use super::util::{
    cn, dim, join, lines, parse_u64, words, ChartSpec, ProcFile, ABS, INC, LABEL_SOURCE_AUTO,
};
use super::CollectedChart;

const PLUGIN: &str = "proc.plugin";
const CONNTRACK: &str = "/proc/net/stat/nf_conntrack";
const MAX_ZRAM: usize = 256;

#[allow(clippy::too_many_arguments)]
fn chart(
    id: &str,
    title: &str,
    units: &str,
    family: &str,
    ct: ChartType,
    priority: i64,
    detail: bool,
    module: &str,
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
        detail,
        plugin: PLUGIN,
        module,
    }
    .build(ue, &[], dims)
}

/// `(dimension, column, multiplier)` of each conntrack chart.
type Cols = &'static [(&'static str, &'static str, i64)];
const CT_CHARTS: [(&str, &str, &str, i64, bool, Cols); 5] = [
    (
        "netfilter.conntrack_new",
        "Connection Tracker New Connections",
        "connections/s",
        8701,
        false,
        &[
            ("new", "new", 1),
            ("ignore", "ignore", -1),
            ("invalid", "invalid", -1),
        ],
    ),
    (
        "netfilter.conntrack_changes",
        "Connection Tracker Changes",
        "changes/s",
        8702,
        true,
        &[
            ("inserted", "insert", 1),
            ("deleted", "delete", -1),
            ("delete_list", "delete_list", -1),
        ],
    ),
    (
        "netfilter.conntrack_expect",
        "Connection Tracker Expectations",
        "expectations/s",
        8703,
        true,
        &[
            ("created", "expect_create", 1),
            ("deleted", "expect_delete", -1),
            ("new", "expect_new", 1),
        ],
    ),
    (
        "netfilter.conntrack_search",
        "Connection Tracker Searches",
        "searches/s",
        8710,
        true,
        &[
            ("searched", "searched", 1),
            ("restarted", "search_restart", -1),
            ("found", "found", 1),
        ],
    ),
    (
        "netfilter.conntrack_errors",
        "Connection Tracker Errors",
        "events/s",
        8705,
        true,
        &[
            ("icmp_error", "icmp_error", 1),
            ("insert_failed", "insert_failed", -1),
            ("drop", "drop", -1),
            ("early_drop", "early_drop", -1),
        ],
    ),
];

/// Netfilter connection tracker statistics (per-CPU hexadecimal lines, summed; `entries`
/// is a global count, taken from `/proc/sys/net/netfilter/nf_conntrack_count` when present).
pub(crate) struct Conntrack {
    file: ProcFile,
    count_file: ProcFile,
    charts: Vec<CollectedChart>,
    columns: Vec<Vec<u8>>,
    /// Learnt with `columns`: the position of `entries` and of each dimension of
    /// [`CT_CHARTS`] (`None`: the kernel has no such column).
    entries_col: Option<usize>,
    dim_cols: Vec<Vec<Option<usize>>>,
    sums: Vec<u64>,
    ok: bool,
}

impl Conntrack {
    pub(crate) fn new(root: &Path, ue: u32) -> Self {
        let mut charts = vec![chart(
            "netfilter.conntrack_sockets",
            "Connection Tracker Connections",
            "active connections",
            "conntrack",
            ChartType::Line,
            8700,
            false,
            CONNTRACK,
            ue,
            vec![dim("connections", ABS, 1, 1)],
        )];
        for (id, title, units, prio, detail, cols) in CT_CHARTS {
            let dims = cols.iter().map(|(d, _, m)| dim(d, INC, *m, 1)).collect();
            charts.push(chart(
                id,
                title,
                units,
                "conntrack",
                ChartType::Line,
                prio,
                detail,
                CONNTRACK,
                ue,
                dims,
            ));
        }
        Self {
            file: ProcFile::new(root, CONNTRACK),
            count_file: ProcFile::new(root, "/proc/sys/net/netfilter/nf_conntrack_count"),
            charts,
            columns: Vec::new(),
            entries_col: None,
            dim_cols: Vec::new(),
            sums: Vec::new(),
            ok: false,
        }
    }

    pub(crate) fn collect(&mut self) {
        self.ok = false;
        let Some(buf) = self.file.read() else { return };
        let mut it = lines(buf);
        let Some(header) = it.next() else { return };
        if self.columns.is_empty() || !words(header).eq(self.columns.iter().map(Vec::as_slice)) {
            self.columns = words(header).take(64).map(<[u8]>::to_vec).collect();
            let col = |name: &str| self.columns.iter().position(|c| c == name.as_bytes());
            self.entries_col = col("entries");
            self.dim_cols = CT_CHARTS
                .iter()
                .map(|(_, _, _, _, _, cols)| cols.iter().map(|(_, c, _)| col(c)).collect())
                .collect();
        }
        self.sums.clear();
        self.sums.resize(self.columns.len(), 0);
        let mut entries = None;
        for line in it {
            let mut any = false;
            for (i, w) in words(line).take(self.sums.len()).enumerate() {
                let v = parse_hex(w).unwrap_or(0);
                if Some(i) == self.entries_col {
                    entries.get_or_insert(v);
                } else {
                    self.sums[i] = self.sums[i].wrapping_add(v);
                }
                any = true;
            }
            if !any {
                continue;
            }
        }
        // `entries` is the kernel's `nf_conntrack_count(net)`, the same number the
        // `nf_conntrack_count` sysctl shows; that file is read only when the column is missing.
        let count = entries.or_else(|| {
            self.count_file
                .read()
                .and_then(|b| words(b).next().and_then(parse_u64))
        });
        self.charts[0].set_all(&[count.and_then(cn)]);
        for (chart, cols) in self.charts[1..].iter_mut().zip(&self.dim_cols) {
            for (slot, col) in chart.values.iter_mut().zip(cols) {
                *slot = cn(col.map_or(0, |i| self.sums[i]));
            }
        }
        self.ok = true;
    }

    pub(crate) fn charts<'a>(&'a mut self, out: &mut Vec<&'a mut CollectedChart>) {
        if self.ok {
            out.extend(self.charts.iter_mut());
        }
    }
}

/// System V IPC usage.
pub(crate) struct Ipc {
    sem: ProcFile,
    shm: ProcFile,
    charts: [CollectedChart; 4],
    have_sem: bool,
    have_shm: bool,
}

impl Ipc {
    pub(crate) fn new(root: &Path, ue: u32) -> Self {
        let c = |id, title, units, family, ct, prio, d: &str| {
            chart(
                id,
                title,
                units,
                family,
                ct,
                prio,
                false,
                "ipc",
                ue,
                vec![dim(d, ABS, 1, 1)],
            )
        };
        Self {
            sem: ProcFile::new(root, "/proc/sysvipc/sem"),
            shm: ProcFile::new(root, "/proc/sysvipc/shm"),
            charts: [
                c(
                    "system.ipc_semaphores",
                    "IPC Semaphores",
                    "semaphores",
                    "ipc semaphores",
                    ChartType::Area,
                    1203,
                    "semaphores",
                ),
                c(
                    "system.ipc_semaphore_arrays",
                    "IPC Semaphore Arrays",
                    "arrays",
                    "ipc semaphores",
                    ChartType::Area,
                    1204,
                    "arrays",
                ),
                c(
                    "system.shared_memory_segments",
                    "IPC Shared Memory Number of Segments",
                    "segments",
                    "ipc shared memory",
                    ChartType::Stacked,
                    1205,
                    "segments",
                ),
                c(
                    "system.shared_memory_bytes",
                    "IPC Shared Memory Used Bytes",
                    "bytes",
                    "ipc shared memory",
                    ChartType::Stacked,
                    1206,
                    "bytes",
                ),
            ],
            have_sem: false,
            have_shm: false,
        }
    }

    /// (rows, sum of column `col`) of a sysvipc table (first line is the header).
    fn table(buf: &[u8], col: usize) -> (u64, u64) {
        let (mut n, mut sum) = (0u64, 0u64);
        for line in lines(buf).skip(1) {
            let Some(v) = words(line).nth(col).and_then(parse_u64) else {
                continue;
            };
            n += 1;
            sum = sum.wrapping_add(v);
        }
        (n, sum)
    }

    pub(crate) fn collect(&mut self) {
        // sem: key semid perms nsems ...; shm: key shmid perms size ...
        self.have_sem = false;
        if let Some(buf) = self.sem.read() {
            let (arrays, sems) = Self::table(buf, 3);
            self.charts[0].set_all(&[cn(sems)]);
            self.charts[1].set_all(&[cn(arrays)]);
            self.have_sem = true;
        }
        self.have_shm = false;
        if let Some(buf) = self.shm.read() {
            let (segments, bytes) = Self::table(buf, 3);
            self.charts[2].set_all(&[cn(segments)]);
            self.charts[3].set_all(&[cn(bytes)]);
            self.have_shm = true;
        }
    }

    pub(crate) fn charts<'a>(&'a mut self, out: &mut Vec<&'a mut CollectedChart>) {
        let (sem, shm) = (self.have_sem, self.have_shm);
        for (i, c) in self.charts.iter_mut().enumerate() {
            if (i < 2 && sem) || (i >= 2 && shm) {
                out.push(c);
            }
        }
    }
}

struct ZramDev {
    file: ProcFile,
    charts: [CollectedChart; 4],
    ok: bool,
}

/// zram devices: `/sys/block/zram*` with an `mm_stat` (listed once, at the first pass).
pub(crate) struct Zram {
    root: PathBuf,
    update_every: u32,
    listed: bool,
    devs: Vec<ZramDev>,
}

impl Zram {
    pub(crate) fn new(root: &Path, update_every: u32) -> Self {
        Self {
            root: root.to_path_buf(),
            update_every,
            listed: false,
            devs: Vec::new(),
        }
    }

    fn list(&mut self) {
        self.listed = true;
        let Ok(dir) = std::fs::read_dir(join(&self.root, "/sys/block")) else {
            return;
        };
        let mut names: Vec<String> = dir
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.starts_with("zram"))
            .take(MAX_ZRAM)
            .collect();
        names.sort();
        let ue = self.update_every;
        for name in names {
            let rel = format!("/sys/block/{name}/mm_stat");
            if !join(&self.root, &rel).exists() {
                continue;
            }
            let mk = |kind: &str, title: &str, units: &str, ct, prio, dims| {
                let id = format!("mem.{kind}.{name}");
                let context = format!("mem.{kind}");
                ChartSpec {
                    id: &id,
                    title,
                    units,
                    family: &name,
                    context: &context,
                    chart_type: ct,
                    priority: prio,
                    detail: false,
                    plugin: PLUGIN,
                    module: "/sys/block/zram",
                }
                .build(ue, &[("device", &name, LABEL_SOURCE_AUTO)], dims)
            };
            let mib = |d: &str| dim(d, ABS, 1, 1 << 20);
            self.devs.push(ZramDev {
                file: ProcFile::new(&self.root, &rel),
                charts: [
                    mk(
                        "zram_usage",
                        "ZRAM Memory Usage",
                        "MiB",
                        ChartType::Area,
                        1600,
                        vec![mib("compressed"), mib("metadata")],
                    ),
                    mk(
                        "zram_savings",
                        "ZRAM Memory Savings",
                        "MiB",
                        ChartType::Area,
                        1601,
                        vec![mib("savings"), mib("original")],
                    ),
                    mk(
                        "zram_ratio",
                        "ZRAM Compression Ratio (original to compressed)",
                        "ratio",
                        ChartType::Line,
                        1602,
                        vec![dim("ratio", ABS, 1, 100)],
                    ),
                    mk(
                        "zram_efficiency",
                        "ZRAM Efficiency",
                        "percentage",
                        ChartType::Line,
                        1603,
                        vec![dim("percent", ABS, 1, 10000)],
                    ),
                ],
                ok: false,
            });
        }
    }

    pub(crate) fn collect(&mut self) {
        if !self.listed {
            self.list();
        }
        for d in &mut self.devs {
            d.ok = false;
            let Some(buf) = d.file.read() else { continue };
            let mut f = [0u64; 3];
            let mut n = 0;
            for (i, w) in words(buf).take(3).enumerate() {
                f[i] = parse_u64(w).unwrap_or(0);
                n = i + 1;
            }
            if n < 3 {
                continue;
            }
            let [orig, compr, used] = f;
            d.charts[0].set_all(&[cn(compr), cn(used.wrapping_sub(compr))]);
            // Netdata sets compressed - original (negative when compression saves memory).
            d.charts[1].set_all(&[cn(compr.wrapping_sub(orig)), cn(orig)]);
            // Both through a C `int`, as Netdata.
            let ratio = orig
                .wrapping_mul(100)
                .checked_div(compr)
                .map_or(1, |r| r as i32);
            let eff = compr
                .wrapping_mul(1_000_000)
                .checked_div(used)
                .map_or(100, |e| e as i32);
            d.charts[2].set_all(&[Some(i64::from(ratio))]);
            d.charts[3].set_all(&[Some(i64::from(eff))]);
            d.ok = true;
        }
    }

    pub(crate) fn charts<'a>(&'a mut self, out: &mut Vec<&'a mut CollectedChart>) {
        for d in &mut self.devs {
            if d.ok {
                out.extend(d.charts.iter_mut());
            }
        }
    }
}
