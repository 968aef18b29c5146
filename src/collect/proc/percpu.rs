//! Per-CPU tables: `/proc/interrupts` (`system.interrupts`, `cpu.cpuN_interrupts`),
//! `/proc/softirqs` (`system.softirqs`, `cpu.cpuN_softirqs`) and `/proc/net/softnet_stat`
//! (`system.softnet_stat`, `cpu.cpuN_softnet_stat`).
//!
//! As in Netdata, an interrupt/softirq becomes a dimension of a chart the first time its
//! count there is non-zero (the chart's version is bumped), so dimensions appear in file order
//! of their first activity. A numeric interrupt is named `<device>_<irq>` (the device is the
//! last word of its line, split at `:` too), a named one (`LOC`) by its id.

use std::path::Path;

use crate::model::ChartType;

use super::util::{
    cn, dim, dim_named, lines, parse_u64, words, ChartSpec, ProcFile, INC, LABEL_SOURCE_AUTO,
};
use super::CollectedChart;

const PLUGIN: &str = "proc.plugin";
const MAX_CPUS: usize = 4096;
const MAX_ROWS: usize = 4096;

#[derive(Clone, Copy)]
struct Kind {
    module: &'static str,
    sys_title: &'static str,
    cpu_title: &'static str,
    units: &'static str,
    family: &'static str,
    sys_priority: i64,
    cpu_priority: i64,
    suffix: &'static str,
    named_irqs: bool,
}

const INTERRUPTS: Kind = Kind {
    module: "/proc/interrupts",
    sys_title: "System interrupts",
    cpu_title: "CPU Interrupts",
    units: "interrupts/s",
    family: "interrupts",
    sys_priority: 1000,
    cpu_priority: 1100,
    suffix: "interrupts",
    named_irqs: true,
};

const SOFTIRQS: Kind = Kind {
    module: "/proc/softirqs",
    sys_title: "System softirqs",
    cpu_title: "CPU softirqs",
    units: "softirqs/s",
    family: "softirqs",
    sys_priority: 950,
    cpu_priority: 3000,
    suffix: "softirqs",
    named_irqs: false,
};

/// Marks a row without a dimension in a chart (in [`Row::sys_dim`] and [`Table::cpu_dims`]).
const NO_DIM: u32 = u32::MAX;

struct Row {
    /// Where the row's id (`LOC`, `24`...) lies in [`Table::ids`].
    id: std::ops::Range<u32>,
    /// The row's dimension in the system chart, or [`NO_DIM`].
    sys_dim: u32,
}

/// One per-CPU table file.
pub(crate) struct Table {
    kind: Kind,
    update_every: u32,
    file: ProcFile,
    rows: Vec<Row>,
    /// The ids of `rows`, back to back: a pass compares each line's id with the learnt one
    /// read from a few adjacent cache lines, not from one allocation per row.
    ids: String,
    /// The dimension of row `r` in the chart of CPU `c` at `r * cpu_stride + c`, or
    /// [`NO_DIM`]: one small block for the whole table (read every pass with cold caches)
    /// instead of one allocation per row.
    cpu_dims: Vec<u32>,
    /// CPUs per row in `cpu_dims` (the most seen in a header so far).
    cpu_stride: usize,
    system: CollectedChart,
    cpus: Vec<Option<CollectedChart>>,
    ok: bool,
    vals: Vec<u64>,
}

impl Table {
    pub(crate) fn interrupts(root: &Path, update_every: u32) -> Self {
        Self::new(root, update_every, INTERRUPTS)
    }

    pub(crate) fn softirqs(root: &Path, update_every: u32) -> Self {
        Self::new(root, update_every, SOFTIRQS)
    }

    fn new(root: &Path, update_every: u32, kind: Kind) -> Self {
        let id = format!("system.{}", kind.suffix);
        let system = ChartSpec {
            id: &id,
            title: kind.sys_title,
            units: kind.units,
            family: kind.family,
            context: &id,
            chart_type: ChartType::Stacked,
            priority: kind.sys_priority,
            detail: false,
            plugin: PLUGIN,
            module: kind.module,
        }
        .build(update_every, &[], Vec::new());
        Self {
            kind,
            update_every,
            file: ProcFile::new(root, kind.module),
            rows: Vec::new(),
            ids: String::new(),
            cpu_dims: Vec::new(),
            cpu_stride: 0,
            system,
            cpus: Vec::new(),
            ok: false,
            vals: Vec::new(),
        }
    }

    pub(crate) fn collect(&mut self) {
        let Self {
            kind,
            update_every,
            file,
            rows,
            ids,
            cpu_dims,
            cpu_stride,
            system,
            cpus,
            ok,
            vals,
        } = self;
        *ok = false;
        system.values.iter_mut().for_each(|v| *v = None);
        for c in cpus.iter_mut().flatten() {
            c.values.iter_mut().for_each(|v| *v = None);
        }
        let Some(buf) = file.read() else { return };
        let mut it = lines(buf);
        let Some(header) = it.next() else { return };
        let ncpu = words(header)
            .filter(|w| w.starts_with(b"CPU"))
            .count()
            .min(MAX_CPUS);
        if ncpu == 0 {
            return;
        }
        *ok = true;
        if cpus.len() < ncpu {
            cpus.resize_with(ncpu, || None);
        }
        if *cpu_stride < ncpu {
            // More CPUs than before (hotplug): re-lay the known rows at the new stride.
            let mut wider = vec![NO_DIM; rows.len() * ncpu];
            for (r, old) in cpu_dims
                .chunks((*cpu_stride).max(1))
                .enumerate()
                .take(rows.len())
            {
                wider[r * ncpu..r * ncpu + old.len()].copy_from_slice(old);
            }
            *cpu_dims = wider;
            *cpu_stride = ncpu;
        }
        let stride = *cpu_stride;
        let mut hint = 0;
        for line in it {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let id = trim(&line[..colon]);
            if id.is_empty() {
                continue;
            }
            vals.clear();
            let mut rest = words(&line[colon + 1..]);
            let mut total = 0u64;
            for _ in 0..ncpu {
                // A row may have fewer columns (`ERR:`, `MIS:`): missing ones read as 0.
                let v = rest.next().and_then(parse_u64).unwrap_or(0);
                total = total.wrapping_add(v);
                vals.push(v);
            }
            let id_of = |r: &Row| ids.as_bytes().get(r.id.start as usize..r.id.end as usize);
            let idx = match rows.get(hint) {
                Some(r) if id_of(r) == Some(id) => hint,
                _ => match rows.iter().position(|r| id_of(r) == Some(id)) {
                    Some(p) => p,
                    None if rows.len() < MAX_ROWS => {
                        let start = ids.len() as u32;
                        ids.push_str(&String::from_utf8_lossy(id));
                        rows.push(Row {
                            id: start..ids.len() as u32,
                            sys_dim: NO_DIM,
                        });
                        cpu_dims.resize(rows.len() * stride, NO_DIM);
                        rows.len() - 1
                    }
                    None => continue,
                },
            };
            hint = idx + 1;
            let row = &mut rows[idx];
            let row_id = ids
                .get(row.id.start as usize..row.id.end as usize)
                .unwrap_or("");
            let make_dim = || {
                if kind.named_irqs && row_id.bytes().all(|b| b.is_ascii_digit()) {
                    let device = line[colon + 1..]
                        .split(|b| b.is_ascii_whitespace() || *b == b':')
                        .rfind(|w| !w.is_empty())
                        .map(String::from_utf8_lossy)
                        .unwrap_or_default();
                    dim_named(row_id, &format!("{device}_{row_id}"), INC, 1, 1)
                } else {
                    dim(row_id, INC, 1, 1)
                }
            };
            if row.sys_dim == NO_DIM && total != 0 {
                let d = make_dim();
                row.sys_dim = system.add_dim(d) as u32;
            }
            if let Some(slot) = system.values.get_mut(row.sys_dim as usize) {
                *slot = cn(total);
            }
            let row_dims = &mut cpu_dims[idx * stride..idx * stride + ncpu];
            for ((c, v), di) in vals.iter().enumerate().zip(row_dims.iter_mut()) {
                if *di == NO_DIM && *v != 0 {
                    let d = make_dim();
                    let chart = cpus[c].get_or_insert_with(|| cpu_chart(kind, c, *update_every));
                    *di = chart.add_dim(d) as u32;
                }
                if let Some(slot) = cpus[c]
                    .as_mut()
                    .and_then(|ch| ch.values.get_mut(*di as usize))
                {
                    *slot = cn(*v);
                }
            }
        }
    }

    pub(crate) fn charts<'a>(&'a mut self, out: &mut Vec<&'a mut CollectedChart>) {
        if !self.ok {
            return;
        }
        if !self.system.dims.is_empty() {
            out.push(&mut self.system);
        }
        out.extend(self.cpus.iter_mut().flatten());
    }
}

fn cpu_chart(kind: &Kind, cpu: usize, update_every: u32) -> CollectedChart {
    let id = format!("cpu.cpu{cpu}_{}", kind.suffix);
    let context = format!("cpu.{}", kind.suffix);
    let cpu_name = format!("cpu{cpu}");
    ChartSpec {
        id: &id,
        title: kind.cpu_title,
        units: kind.units,
        family: kind.family,
        context: &context,
        chart_type: ChartType::Stacked,
        priority: kind.cpu_priority + cpu as i64,
        detail: false,
        plugin: PLUGIN,
        module: kind.module,
    }
    .build(
        update_every,
        &[("cpu", &cpu_name, LABEL_SOURCE_AUTO)],
        Vec::new(),
    )
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

const SOFTNET: &str = "/proc/net/softnet_stat";
/// (dimension, column) of softnet_stat (hex columns).
const SOFTNET_COLS: [(&str, usize); 5] = [
    ("processed", 0),
    ("dropped", 1),
    ("squeezed", 2),
    ("received_rps", 9),
    ("flow_limit_count", 10),
];

/// `/proc/net/softnet_stat`: one line per CPU of hexadecimal counters.
pub(crate) struct SoftNet {
    update_every: u32,
    file: ProcFile,
    system: CollectedChart,
    cpus: Vec<CollectedChart>,
    ok: bool,
}

fn softnet_chart(
    id: &str,
    title: &str,
    context: &str,
    priority: i64,
    update_every: u32,
) -> CollectedChart {
    ChartSpec {
        id,
        title,
        units: "events/s",
        family: "softnet_stat",
        context,
        chart_type: ChartType::Line,
        priority,
        detail: false,
        plugin: PLUGIN,
        module: SOFTNET,
    }
    .build(
        update_every,
        &[],
        SOFTNET_COLS
            .iter()
            .map(|(d, _)| dim(d, INC, 1, 1))
            .collect(),
    )
}

impl SoftNet {
    pub(crate) fn new(root: &Path, update_every: u32) -> Self {
        Self {
            update_every,
            file: ProcFile::new(root, SOFTNET),
            system: softnet_chart(
                "system.softnet_stat",
                "System softnet_stat",
                "system.softnet_stat",
                955,
                update_every,
            ),
            cpus: Vec::new(),
            ok: false,
        }
    }

    pub(crate) fn collect(&mut self) {
        self.ok = false;
        let Some(buf) = self.file.read() else { return };
        let mut sums = [0u64; 5];
        let mut n = 0;
        for line in lines(buf) {
            let cols: [u64; 11] = {
                let mut a = [0u64; 11];
                let mut w = words(line);
                for slot in &mut a {
                    *slot = w.next().and_then(parse_hex).unwrap_or(0);
                }
                a
            };
            if line.iter().all(|b| b.is_ascii_whitespace()) || n >= MAX_CPUS {
                continue;
            }
            let vals = SOFTNET_COLS.map(|(_, c)| cn(cols[c]));
            for (s, (_, c)) in sums.iter_mut().zip(SOFTNET_COLS.iter()) {
                *s = s.wrapping_add(cols[*c]);
            }
            if self.cpus.len() <= n {
                let id = format!("cpu.cpu{n}_softnet_stat");
                self.cpus.push(softnet_chart(
                    &id,
                    "CPU softnet_stat",
                    "cpu.softnet_stat",
                    4101 + n as i64,
                    self.update_every,
                ));
            }
            self.cpus[n].set_all(&vals);
            n += 1;
        }
        for c in self.cpus.iter_mut().skip(n) {
            c.values.iter_mut().for_each(|v| *v = None);
        }
        self.system.set_all(&sums.map(cn));
        self.ok = n > 0;
    }

    pub(crate) fn charts<'a>(&'a mut self, out: &mut Vec<&'a mut CollectedChart>) {
        if self.ok {
            out.push(&mut self.system);
            out.extend(self.cpus.iter_mut());
        }
    }
}

/// Hexadecimal digits (no prefix) as u64, wrapping; `None` when empty or not hexadecimal.
pub(crate) fn parse_hex(w: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for &b in w {
        let d = (b as char).to_digit(16)?;
        v = v.wrapping_mul(16).wrapping_add(u64::from(d));
    }
    (!w.is_empty()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, text: &str) {
        std::fs::create_dir_all(root.join("proc")).expect("mkdir proc");
        std::fs::write(root.join("proc/interrupts"), text).expect("write interrupts");
    }

    fn value(c: &CollectedChart, id: &str) -> Option<i64> {
        c.value(id)
    }

    #[test]
    fn rows_keep_their_dimensions_when_a_cpu_and_a_row_appear() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        write(
            root,
            "           CPU0       CPU1\n  1:          5          0   IO-APIC   1-edge      i8042\nLOC:         10         20   Local timer interrupts\n",
        );
        let mut t = Table::interrupts(root, 1);
        t.collect();
        assert_eq!(value(&t.system, "1"), Some(5));
        assert_eq!(value(&t.system, "LOC"), Some(30));
        let cpu1 = t.cpus[1].as_ref().expect("cpu1 chart");
        assert_eq!(value(cpu1, "LOC"), Some(20));
        assert!(value(cpu1, "1").is_none(), "irq 1 never fired on cpu1");

        // A third CPU comes online and a new interrupt row appears between the others.
        write(
            root,
            "           CPU0       CPU1       CPU2\n  1:          6          0          0   IO-APIC   1-edge      i8042\n  9:          0          0          4   IO-APIC   9-fasteoi   acpi\nLOC:         11         21          7   Local timer interrupts\n",
        );
        t.collect();
        assert_eq!(value(&t.system, "1"), Some(6));
        assert_eq!(value(&t.system, "9"), Some(4));
        assert_eq!(value(&t.system, "LOC"), Some(39));
        let cpu0 = t.cpus[0].as_ref().expect("cpu0 chart");
        assert_eq!((value(cpu0, "1"), value(cpu0, "LOC")), (Some(6), Some(11)));
        assert!(
            cpu0.dims.iter().all(|d| d.id != "9"),
            "irq 9 never fired on cpu0"
        );
        let cpu1 = t.cpus[1].as_ref().expect("cpu1 chart");
        assert_eq!(value(cpu1, "LOC"), Some(21));
        let cpu2 = t.cpus[2].as_ref().expect("cpu2 chart");
        assert_eq!((value(cpu2, "9"), value(cpu2, "LOC")), (Some(4), Some(7)));
        assert_eq!(
            cpu2.dims
                .iter()
                .find(|d| d.id == "9")
                .map(|d| d.name.as_str()),
            Some("acpi_9")
        );
    }
}
