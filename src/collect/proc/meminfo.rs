//! `/proc/meminfo` (`system.ram`, `mem.available`, `system.swap`, `mem.committed`,
//! `mem.writeback`, `mem.kernel`, `mem.slab`; values in KiB, divisor 1024 → MiB) and
//! `/proc/vmstat` (`system.pgpgio`, `mem.pgfaults`, `mem.oom_kill`).

use std::path::Path;

use crate::model::ChartType;

use super::util::{cn, dim, dim_named, lines, parse_u64, words, ChartSpec, ProcFile, ABS, INC};
use super::CollectedChart;

const PLUGIN: &str = "proc.plugin";
const MEMINFO: &str = "/proc/meminfo";
const VMSTAT: &str = "/proc/vmstat";

#[derive(Default)]
struct Fields {
    mem_total: u64,
    mem_free: u64,
    mem_available: Option<u64>,
    buffers: u64,
    cached: u64,
    shmem: u64,
    swap_total: u64,
    swap_free: u64,
    dirty: u64,
    writeback: u64,
    slab: u64,
    s_reclaimable: u64,
    s_unreclaim: u64,
    kernel_stack: u64,
    page_tables: u64,
    nfs_unstable: u64,
    bounce: u64,
    writeback_tmp: u64,
    committed_as: u64,
    vmalloc_used: u64,
    percpu: u64,
}

pub(crate) struct MemInfo {
    update_every: u32,
    file: ProcFile,
    vmstat_file: ProcFile,
    ram: CollectedChart,
    available: CollectedChart,
    swap: Option<CollectedChart>,
    committed: CollectedChart,
    writeback: CollectedChart,
    kernel: CollectedChart,
    slab: CollectedChart,
    pgpgio: CollectedChart,
    pgfaults: CollectedChart,
    oom_kill: CollectedChart,
    have_meminfo: bool,
    have_available: bool,
    have_vmstat: bool,
    have_oom: bool,
}

fn spec<'a>(
    id: &'a str,
    title: &'a str,
    family: &'a str,
    ct: ChartType,
    priority: i64,
    detail: bool,
    module: &'a str,
) -> ChartSpec<'a> {
    ChartSpec {
        id,
        title,
        units: "MiB",
        family,
        context: id,
        chart_type: ct,
        priority,
        detail,
        plugin: PLUGIN,
        module,
    }
}

fn kib(id: &str) -> crate::model::DimMeta {
    dim(id, ABS, 1, 1024)
}

impl MemInfo {
    pub(crate) fn new(root: &Path, update_every: u32) -> Self {
        let ue = update_every;
        let mut pgpgio = spec(
            "system.pgpgio",
            "Memory Paged from/to disk",
            "disk",
            ChartType::Area,
            151,
            false,
            VMSTAT,
        );
        pgpgio.units = "KiB/s";
        let mut pgfaults = spec(
            "mem.pgfaults",
            "Memory Page Faults",
            "system",
            ChartType::Line,
            1040,
            true,
            VMSTAT,
        );
        pgfaults.units = "faults/s";
        let mut oom = spec(
            "mem.oom_kill",
            "Out of Memory Kills",
            "system",
            ChartType::Line,
            1020,
            true,
            VMSTAT,
        );
        oom.units = "kills/s";
        Self {
            update_every,
            file: ProcFile::new(root, MEMINFO),
            vmstat_file: ProcFile::new(root, VMSTAT),
            ram: spec(
                "system.ram",
                "System RAM",
                "ram",
                ChartType::Stacked,
                200,
                false,
                MEMINFO,
            )
            .build(
                ue,
                &[],
                vec![kib("free"), kib("used"), kib("cached"), kib("buffers")],
            ),
            available: spec(
                "mem.available",
                "Available RAM for applications",
                "system",
                ChartType::Area,
                1010,
                false,
                MEMINFO,
            )
            .build(
                ue,
                &[],
                vec![dim_named("MemAvailable", "avail", ABS, 1, 1024)],
            ),
            swap: None,
            committed: spec(
                "mem.committed",
                "Committed (Allocated) Memory",
                "system",
                ChartType::Area,
                1030,
                true,
                MEMINFO,
            )
            .build(ue, &[], vec![kib("Committed_AS")]),
            writeback: spec(
                "mem.writeback",
                "Writeback Memory",
                "kernel",
                ChartType::Line,
                1100,
                true,
                MEMINFO,
            )
            .build(
                ue,
                &[],
                vec![
                    kib("Dirty"),
                    kib("Writeback"),
                    kib("FuseWriteback"),
                    kib("NfsWriteback"),
                    kib("Bounce"),
                ],
            ),
            kernel: spec(
                "mem.kernel",
                "Memory Used by Kernel",
                "kernel",
                ChartType::Stacked,
                1101,
                true,
                MEMINFO,
            )
            .build(
                ue,
                &[],
                vec![
                    kib("Slab"),
                    kib("KernelStack"),
                    kib("PageTables"),
                    kib("VmallocUsed"),
                    kib("Percpu"),
                ],
            ),
            slab: spec(
                "mem.slab",
                "Reclaimable Kernel Memory",
                "slab",
                ChartType::Stacked,
                1200,
                true,
                MEMINFO,
            )
            .build(ue, &[], vec![kib("reclaimable"), kib("unreclaimable")]),
            pgpgio: pgpgio.build(ue, &[], vec![dim("in", INC, 1, 1), dim("out", INC, -1, 1)]),
            pgfaults: pgfaults.build(
                ue,
                &[],
                vec![dim("minor", INC, 1, 1), dim("major", INC, -1, 1)],
            ),
            oom_kill: oom.build(ue, &[], vec![dim("kills", INC, 1, 1)]),
            have_meminfo: false,
            have_available: false,
            have_vmstat: false,
            have_oom: false,
        }
    }

    pub(crate) fn collect(&mut self) {
        self.collect_meminfo();
        self.collect_vmstat();
    }

    fn collect_meminfo(&mut self) {
        self.have_meminfo = false;
        let Some(buf) = self.file.read() else { return };
        let mut f = Fields::default();
        let mut found = 0usize;
        for line in lines(buf) {
            let mut w = words(line);
            let (Some(key), Some(val)) = (w.next(), w.next()) else {
                continue;
            };
            let Some(v) = parse_u64(val) else { continue };
            let key = key.strip_suffix(b":").unwrap_or(key);
            let slot = match key {
                b"MemTotal" => &mut f.mem_total,
                b"MemFree" => &mut f.mem_free,
                b"MemAvailable" => {
                    f.mem_available = Some(v);
                    continue;
                }
                b"Buffers" => &mut f.buffers,
                b"Cached" => &mut f.cached,
                b"Shmem" => &mut f.shmem,
                b"SwapTotal" => &mut f.swap_total,
                b"SwapFree" => &mut f.swap_free,
                b"Dirty" => &mut f.dirty,
                b"Writeback" => &mut f.writeback,
                b"Slab" => &mut f.slab,
                b"SReclaimable" => &mut f.s_reclaimable,
                b"SUnreclaim" => &mut f.s_unreclaim,
                b"KernelStack" => &mut f.kernel_stack,
                b"PageTables" => &mut f.page_tables,
                b"NFS_Unstable" => &mut f.nfs_unstable,
                b"Bounce" => &mut f.bounce,
                b"WritebackTmp" => &mut f.writeback_tmp,
                b"Committed_AS" => &mut f.committed_as,
                b"VmallocUsed" => &mut f.vmalloc_used,
                b"Percpu" => &mut f.percpu,
                _ => continue,
            };
            *slot = v;
            found += 1;
        }
        if found == 0 {
            return;
        }
        self.have_meminfo = true;

        // Netdata 1.37.1: cached = Cached + SReclaimable - Shmem; used = total - free - cached -
        // buffers (unsigned arithmetic, as in C). Checked against a running 1.37.1 agent.
        let mem_cached = f.cached.wrapping_add(f.s_reclaimable).wrapping_sub(f.shmem);
        let mem_used = f
            .mem_total
            .wrapping_sub(f.mem_free)
            .wrapping_sub(mem_cached)
            .wrapping_sub(f.buffers);
        self.ram
            .set_all(&[cn(f.mem_free), cn(mem_used), cn(mem_cached), cn(f.buffers)]);

        self.have_available = f.mem_available.is_some();
        self.available.values[0] = f.mem_available.and_then(cn);

        if f.swap_total > 0 || f.swap_free > 0 || self.swap.is_some() {
            let ue = self.update_every;
            let swap = self.swap.get_or_insert_with(|| {
                spec(
                    "system.swap",
                    "System Swap",
                    "swap",
                    ChartType::Stacked,
                    201,
                    true,
                    MEMINFO,
                )
                .build(ue, &[], vec![kib("free"), kib("used")])
            });
            swap.set_all(&[cn(f.swap_free), cn(f.swap_total.wrapping_sub(f.swap_free))]);
        }

        self.committed.values[0] = cn(f.committed_as);
        self.writeback.set_all(&[
            cn(f.dirty),
            cn(f.writeback),
            cn(f.writeback_tmp),
            cn(f.nfs_unstable),
            cn(f.bounce),
        ]);
        self.kernel.set_all(&[
            cn(f.slab),
            cn(f.kernel_stack),
            cn(f.page_tables),
            cn(f.vmalloc_used),
            cn(f.percpu),
        ]);
        self.slab.set_all(&[cn(f.s_reclaimable), cn(f.s_unreclaim)]);
    }

    fn collect_vmstat(&mut self) {
        self.have_vmstat = false;
        self.have_oom = false;
        let Some(buf) = self.vmstat_file.read() else {
            return;
        };
        let (mut pgpgin, mut pgpgout, mut pgfault, mut pgmajfault, mut oom) =
            (None, None, None, None, None);
        for line in lines(buf) {
            // ~180 lines, of which we want 5 (all starting with `p` or `o`): skip the rest
            // on their first byte.
            if !matches!(line.first(), Some(b'p' | b'o' | b' ' | b'\t')) {
                continue;
            }
            let mut w = words(line);
            let (Some(key), Some(val)) = (w.next(), w.next()) else {
                continue;
            };
            let v = parse_u64(val).and_then(cn);
            match key {
                b"pgpgin" => pgpgin = v,
                b"pgpgout" => pgpgout = v,
                b"pgfault" => pgfault = v,
                b"pgmajfault" => pgmajfault = v,
                b"oom_kill" => oom = v,
                _ => {}
            }
        }
        self.have_vmstat = pgpgin.is_some();
        self.have_oom = oom.is_some();
        self.pgpgio.set_all(&[pgpgin, pgpgout]);
        self.pgfaults.set_all(&[pgfault, pgmajfault]);
        self.oom_kill.values[0] = oom;
    }

    pub(crate) fn charts<'a>(&'a mut self, out: &mut Vec<&'a mut CollectedChart>) {
        if self.have_vmstat {
            out.push(&mut self.pgpgio);
            out.push(&mut self.pgfaults);
        }
        if self.have_oom {
            out.push(&mut self.oom_kill);
        }
        if self.have_meminfo {
            out.push(&mut self.ram);
            if self.have_available {
                out.push(&mut self.available);
            }
            if let Some(s) = self.swap.as_mut() {
                out.push(s);
            }
            out.push(&mut self.committed);
            out.push(&mut self.writeback);
            out.push(&mut self.kernel);
            out.push(&mut self.slab);
        }
    }
}
