//! `/proc/pressure/{cpu,memory,io}`: `system.<res>_<some|full>_pressure` (avg10/60/300 × 100,
//! divisor 100 → percentage) and `..._stall_time` (total µs / 1000 = ms, incremental), every
//! 2 s at least (the kernel's PSI period), as Netdata 1.37.1. The files are read only in the
//! passes where those charts are due.

use std::path::Path;

use crate::model::{ChartType, UnixTime};

use super::util::{cn, dim, lines, parse_u64, words, ChartSpec, ProcFile, ABS, INC};
use super::CollectedChart;

const PLUGIN: &str = "proc.plugin";
const MODULE: &str = "/proc/pressure";
/// Netdata's MIN_PRESSURE_UPDATE_EVERY.
const MIN_UPDATE_EVERY: u32 = 2;

struct Resource {
    file: ProcFile,
    /// some share, some total, full share, full total
    charts: [CollectedChart; 4],
    have: [bool; 2],
}

pub(crate) struct Pressure {
    resources: Vec<Resource>,
}

impl Pressure {
    pub(crate) fn new(root: &Path, update_every: u32) -> Self {
        let ue = update_every.max(MIN_UPDATE_EVERY);
        let specs = [
            ("cpu", "CPU", "cpu", 100),
            ("memory", "Memory", "ram", 200),
            ("io", "I/O", "disk", 150),
        ];
        let resources = specs
            .iter()
            .map(|(name, title, family, prio)| {
                let mk = |kind: &str, total: bool, offset: i64| {
                    let id = if total {
                        format!("system.{name}_{kind}_pressure_stall_time")
                    } else {
                        format!("system.{name}_{kind}_pressure")
                    };
                    let t = if total {
                        format!("{title} {kind} pressure stall time")
                    } else {
                        format!("{title} {kind} pressure")
                    };
                    let dims = if total {
                        vec![dim("time", INC, 1, 1)]
                    } else {
                        ["10", "60", "300"]
                            .iter()
                            .map(|p| dim(&format!("{kind} {p}"), ABS, 1, 100))
                            .collect()
                    };
                    ChartSpec {
                        id: &id,
                        title: &t,
                        units: if total { "ms" } else { "percentage" },
                        family,
                        context: &id,
                        chart_type: ChartType::Line,
                        priority: prio + offset,
                        detail: false,
                        plugin: PLUGIN,
                        module: MODULE,
                    }
                    .build(ue, &[], dims)
                };
                Resource {
                    file: ProcFile::new(root, &format!("{MODULE}/{name}")),
                    charts: [
                        mk("some", false, 40),
                        mk("some", true, 45),
                        mk("full", false, 50),
                        mk("full", true, 55),
                    ],
                    have: [false; 2],
                }
            })
            .collect();
        Self { resources }
    }

    /// Reads the files when the charts are due at `now` (seconds) for a collector of update
    /// every `base_update_every`; in other passes no chart is handed out.
    pub(crate) fn collect(&mut self, now: UnixTime, base_update_every: u32) {
        for r in &mut self.resources {
            r.have = [false; 2];
            if !r.charts.iter().any(|c| c.is_due(now, base_update_every)) {
                continue;
            }
            let Some(buf) = r.file.read() else { continue };
            for line in lines(buf) {
                let mut w = words(line);
                let k = match w.next() {
                    Some(b"some") => 0,
                    Some(b"full") => 1,
                    _ => continue,
                };
                let mut avg = [None; 3];
                let mut total = None;
                for kv in w {
                    let Some(eq) = kv.iter().position(|&b| b == b'=') else {
                        continue;
                    };
                    let (key, val) = (&kv[..eq], &kv[eq + 1..]);
                    match key {
                        b"avg10" => avg[0] = share(val),
                        b"avg60" => avg[1] = share(val),
                        b"avg300" => avg[2] = share(val),
                        b"total" => total = parse_u64(val).map(|t| t / 1000).and_then(cn),
                        _ => {}
                    }
                }
                r.charts[2 * k].set_all(&avg);
                r.charts[2 * k + 1].set_all(&[total]);
                r.have[k] = true;
            }
        }
    }

    pub(crate) fn charts<'a>(&'a mut self, out: &mut Vec<&'a mut CollectedChart>) {
        for r in &mut self.resources {
            let have = r.have;
            for (i, c) in r.charts.iter_mut().enumerate() {
                if have[i / 2] {
                    out.push(c);
                }
            }
        }
    }
}

/// `(collected_number)(strtod(val) * 100)` like Netdata (C truncation of the double).
fn share(val: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(val).ok()?;
    let x: f64 = s.parse().ok()?;
    x.is_finite().then_some((x * 100.0) as i64)
}

#[cfg(test)]
mod tests {
    use super::Pressure;

    #[test]
    fn files_are_read_only_in_the_passes_their_charts_are_due() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("proc/pressure")).expect("mkdir");
        for name in ["cpu", "memory", "io"] {
            std::fs::write(
                dir.path().join("proc/pressure").join(name),
                "some avg10=1.00 avg60=2.00 avg300=3.00 total=4000\n\
                 full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
            )
            .expect("write");
        }
        let mut p = Pressure::new(dir.path(), 1);
        let reads = |p: &Pressure| {
            p.resources
                .iter()
                .map(|r| r.file.reads())
                .collect::<Vec<_>>()
        };
        let mut out = Vec::new();
        // Even second: due (update every 2), read and handed out; the collector records the
        // emission (what `ProcCollector::collect_at` does for every chart handed out).
        p.collect(1_000, 1);
        p.charts(&mut out);
        assert_eq!(out.len(), 12);
        out.into_iter().for_each(|c| assert!(c.due(1_000, 1)));
        assert_eq!(reads(&p), [1, 1, 1]);
        // Odd second right after: not due, not read, nothing handed out.
        p.collect(1_001, 1);
        let mut out = Vec::new();
        p.charts(&mut out);
        assert!(out.is_empty());
        assert_eq!(reads(&p), [1, 1, 1]);
        // Next even second: read again.
        p.collect(1_002, 1);
        assert_eq!(reads(&p), [2, 2, 2]);
        // A collector of update every 2 or more reads every pass.
        let mut p = Pressure::new(dir.path(), 2);
        p.collect(1_001, 2);
        p.collect(1_003, 2);
        assert_eq!(reads(&p), [2, 2, 2]);
    }
}
