//! `/proc/pressure/{cpu,memory,io}`: `system.<res>_<some|full>_pressure` (avg10/60/300 × 100,
//! divisor 100 → percentage) and `..._stall_time` (total µs / 1000 = ms, incremental), every
//! 2 s at least (the kernel's PSI period), as Netdata 1.37.1.

use std::path::Path;

use crate::model::ChartType;

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

    pub(crate) fn collect(&mut self) {
        for r in &mut self.resources {
            r.have = [false; 2];
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
