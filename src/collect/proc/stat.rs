//! `/proc/stat`: `system.cpu`, `cpu.cpuN`, `system.intr`, `system.ctxt`, `system.forks`,
//! `system.processes` (and `/proc/uptime`: `system.uptime`, `/proc/sys/kernel/random/
//! entropy_avail`: `system.entropy`, which Netdata's proc.plugin collects as separate modules).

use std::path::Path;

use crate::model::{ChartType, DimMeta};

use super::util::{
    cn, dim, lines, parse_fixed, parse_u64, words, ChartSpec, ProcFile, ABS, INC, PCT_INC,
};
use super::CollectedChart;

const PLUGIN: &str = "proc.plugin";
const MODULE: &str = "/proc/stat";
/// Most CPUs we chart (bounds memory on a malformed file).
const MAX_CPUS: usize = 4096;

/// CPU dimensions in Netdata's creation order; the value index into a `cpu` line's fields
/// after the guest adjustment is given by [`cpu_values`].
const CPU_DIMS: [&str; 10] = [
    "guest_nice",
    "guest",
    "steal",
    "softirq",
    "irq",
    "user",
    "system",
    "nice",
    "iowait",
    "idle",
];

fn cpu_dims() -> Vec<DimMeta> {
    CPU_DIMS
        .iter()
        .map(|id| {
            let mut d = dim(id, PCT_INC, 1, 1);
            if *id == "idle" {
                d.options = "hidden".into();
            }
            d
        })
        .collect()
}

/// Values of a `cpu`/`cpuN` line in [`CPU_DIMS`] order: user and nice exclude guest time
/// (the kernel counts it in both), as Netdata does.
fn cpu_values(line: &[u8]) -> [Option<i64>; 10] {
    let mut f = [0u64; 10];
    for (i, w) in words(line).skip(1).take(10).enumerate() {
        f[i] = parse_u64(w).unwrap_or(0);
    }
    let [user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice] = f;
    let user = user.wrapping_sub(guest);
    let nice = nice.wrapping_sub(guest_nice);
    [
        guest_nice, guest, steal, softirq, irq, user, system, nice, iowait, idle,
    ]
    .map(cn)
}

pub(crate) struct Stat {
    update_every: u32,
    file: ProcFile,
    uptime_file: ProcFile,
    entropy_file: ProcFile,
    cpu: CollectedChart,
    cores: Vec<Option<CollectedChart>>,
    intr: CollectedChart,
    ctxt: CollectedChart,
    forks: CollectedChart,
    processes: CollectedChart,
    uptime: CollectedChart,
    entropy: CollectedChart,
    have_stat: bool,
    have_uptime: bool,
    have_entropy: bool,
    /// Whether `system.uptime` comes from `CLOCK_BOOTTIME` instead of `/proc/uptime`
    /// (`None`: not decided yet). See [`Stat::collect_uptime`].
    uptime_clock: Option<bool>,
}

impl Stat {
    pub(crate) fn new(root: &Path, update_every: u32) -> Self {
        let ue = update_every;
        let spec = |id, title, units, family, context, ct, priority, detail| ChartSpec {
            id,
            title,
            units,
            family,
            context,
            chart_type: ct,
            priority,
            detail,
            plugin: PLUGIN,
            module: MODULE,
        };
        let mut uptime_spec = spec(
            "system.uptime",
            "System Uptime",
            "seconds",
            "uptime",
            "system.uptime",
            ChartType::Line,
            1000,
            false,
        );
        uptime_spec.module = "/proc/uptime";
        let mut entropy_spec = spec(
            "system.entropy",
            "Available Entropy",
            "entropy",
            "entropy",
            "system.entropy",
            ChartType::Line,
            1000,
            false,
        );
        entropy_spec.module = "/proc/sys/kernel/random/entropy_avail";
        Self {
            update_every,
            file: ProcFile::new(root, "/proc/stat"),
            uptime_file: ProcFile::new(root, "/proc/uptime"),
            entropy_file: ProcFile::new(root, "/proc/sys/kernel/random/entropy_avail"),
            cpu: spec(
                "system.cpu",
                "Total CPU utilization",
                "percentage",
                "cpu",
                "system.cpu",
                ChartType::Stacked,
                100,
                false,
            )
            .build(ue, &[], cpu_dims()),
            cores: Vec::new(),
            intr: spec(
                "system.intr",
                "CPU Interrupts",
                "interrupts/s",
                "interrupts",
                "system.intr",
                ChartType::Line,
                900,
                true,
            )
            .build(ue, &[], vec![dim("interrupts", INC, 1, 1)]),
            ctxt: spec(
                "system.ctxt",
                "CPU Context Switches",
                "context switches/s",
                "processes",
                "system.ctxt",
                ChartType::Line,
                800,
                false,
            )
            .build(ue, &[], vec![dim("switches", INC, 1, 1)]),
            forks: spec(
                "system.forks",
                "Started Processes",
                "processes/s",
                "processes",
                "system.forks",
                ChartType::Line,
                700,
                true,
            )
            .build(ue, &[], vec![dim("started", INC, 1, 1)]),
            processes: spec(
                "system.processes",
                "System Processes",
                "processes",
                "processes",
                "system.processes",
                ChartType::Line,
                600,
                false,
            )
            .build(
                ue,
                &[],
                vec![dim("running", ABS, 1, 1), dim("blocked", ABS, -1, 1)],
            ),
            uptime: uptime_spec.build(ue, &[], vec![dim("uptime", ABS, 1, 1000)]),
            entropy: entropy_spec.build(ue, &[], vec![dim("entropy", ABS, 1, 1)]),
            have_stat: false,
            have_uptime: false,
            have_entropy: false,
            // A fixture tree's /proc/uptime is never replaced by this machine's clock.
            uptime_clock: (root != Path::new("/")).then_some(false),
        }
    }

    pub(crate) fn collect(&mut self) {
        self.have_stat = false;
        for c in self.cores.iter_mut().flatten() {
            c.values.iter_mut().for_each(|v| *v = None);
        }
        if let Some(buf) = self.file.read() {
            self.have_stat = true;
            let mut running = None;
            let mut blocked = None;
            for line in lines(buf) {
                let mut w = words(line);
                let Some(key) = w.next() else { continue };
                let first = w.next().and_then(parse_u64).and_then(cn);
                match key {
                    b"cpu" => self.cpu.set_all(&cpu_values(line)),
                    b"intr" => self.intr.values[0] = first,
                    b"ctxt" => self.ctxt.values[0] = first,
                    b"processes" => self.forks.values[0] = first,
                    b"procs_running" => running = first,
                    b"procs_blocked" => blocked = first,
                    k if k.starts_with(b"cpu") => {
                        let Some(n) = parse_u64(&k[3..]).and_then(|n| usize::try_from(n).ok())
                        else {
                            continue;
                        };
                        if n >= MAX_CPUS {
                            continue;
                        }
                        if self.cores.len() <= n {
                            self.cores.resize_with(n + 1, || None);
                        }
                        let ue = self.update_every;
                        let chart = self.cores[n].get_or_insert_with(|| core_chart(n, ue));
                        chart.set_all(&cpu_values(line));
                    }
                    _ => {}
                }
            }
            self.processes.set_all(&[running, blocked]);
        }

        self.collect_uptime();
        self.have_entropy = false;
        if let Some(buf) = self.entropy_file.read() {
            let v = words(buf).next().and_then(parse_u64).and_then(cn);
            self.entropy.values[0] = v;
            self.have_entropy = v.is_some();
        }
    }

    /// `system.uptime` in milliseconds, as Netdata's `uptime_msec()`: the first pass reads
    /// `/proc/uptime` and compares it with `CLOCK_BOOTTIME` (the clock the kernel renders it
    /// from); when they agree within a second, later passes take the clock (a vDSO call)
    /// instead of having the file rendered, else they keep reading the file.
    fn collect_uptime(&mut self) {
        if self.uptime_clock == Some(true) {
            self.uptime.values[0] = boottime_ms();
            self.have_uptime = true;
            return;
        }
        self.have_uptime = false;
        let Some(buf) = self.uptime_file.read() else {
            return;
        };
        let v = words(buf)
            .next()
            .and_then(|w| parse_fixed(w, 3))
            .and_then(cn);
        self.uptime.values[0] = v;
        self.have_uptime = v.is_some();
        if self.uptime_clock.is_none() {
            if let (Some(file), Some(clock)) = (v, boottime_ms()) {
                let agree = file.abs_diff(clock) <= 1000;
                self.uptime_clock = Some(agree);
                tracing::debug!(file, clock, agree, "system.uptime from CLOCK_BOOTTIME");
            }
        }
    }

    pub(crate) fn charts<'a>(&'a mut self, out: &mut Vec<&'a mut CollectedChart>) {
        if self.have_stat {
            out.push(&mut self.cpu);
            out.extend(self.cores.iter_mut().flatten());
            out.push(&mut self.intr);
            out.push(&mut self.ctxt);
            out.push(&mut self.forks);
            out.push(&mut self.processes);
        }
        if self.have_uptime {
            out.push(&mut self.uptime);
        }
        if self.have_entropy {
            out.push(&mut self.entropy);
        }
    }
}

/// Milliseconds since boot, suspend included: `CLOCK_BOOTTIME`, what `/proc/uptime` shows.
fn boottime_ms() -> Option<i64> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    let ms = t
        .tv_sec
        .checked_mul(1000)?
        .checked_add(t.tv_nsec / 1_000_000)?;
    (ms >= 0).then_some(ms)
}

fn core_chart(n: usize, update_every: u32) -> CollectedChart {
    let id = format!("cpu.cpu{n}");
    ChartSpec {
        id: &id,
        title: "Core utilization",
        units: "percentage",
        family: "utilization",
        context: "cpu.cpu",
        chart_type: ChartType::Stacked,
        // Netdata: 1000 + the line index of `cpuN` in /proc/stat (line 0 is `cpu`).
        priority: 1001 + n as i64,
        detail: false,
        plugin: PLUGIN,
        module: MODULE,
    }
    .build(update_every, &[], cpu_dims())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::Stat;

    fn uptime_of_proc() -> Option<i64> {
        let text = std::fs::read_to_string("/proc/uptime").ok()?;
        let secs: f64 = text.split_whitespace().next()?.parse().ok()?;
        Some((secs * 1000.0) as i64)
    }

    #[test]
    fn uptime_of_this_machine_comes_from_the_clock_after_the_first_pass() {
        let Some(_) = uptime_of_proc() else { return };
        let mut s = Stat::new(Path::new("/"), 1);
        s.collect();
        assert_eq!(s.uptime_file.reads(), 1);
        assert_eq!(
            s.uptime_clock,
            Some(true),
            "CLOCK_BOOTTIME disagrees with /proc/uptime"
        );
        for _ in 0..3 {
            let before = uptime_of_proc().expect("uptime");
            s.collect();
            let after = uptime_of_proc().expect("uptime");
            let v = s.uptime.values[0].expect("uptime value");
            // /proc/uptime shows hundredths: the clock's milliseconds lie within a read apart.
            assert!(
                (before..=after + 10).contains(&v),
                "{before} <= {v} <= {after}"
            );
            assert!(s.have_uptime);
        }
        assert_eq!(s.uptime_file.reads(), 1, "/proc/uptime read again");
    }

    #[test]
    fn uptime_of_a_fixture_tree_comes_from_its_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("proc")).expect("mkdir");
        let mut s = Stat::new(dir.path(), 1);
        for (text, ms) in [
            ("1500.68 2000.00\n", 1_500_680),
            ("1501.70 2001.00\n", 1_501_700),
        ] {
            std::fs::write(dir.path().join("proc/uptime"), text).expect("write");
            s.collect();
            assert_eq!(s.uptime.values[0], Some(ms));
        }
        assert_eq!(s.uptime_file.reads(), 2);
        assert_eq!(s.uptime_clock, Some(false));
    }
}
