//! `/proc/loadavg`: `system.load` (every 5 s, as Netdata's "load average update every") and
//! `system.active_processes`.

use std::path::Path;

use crate::model::ChartType;

use super::util::{cn, dim, parse_fixed, parse_u64, words, ChartSpec, ProcFile, ABS};
use super::CollectedChart;

const PLUGIN: &str = "proc.plugin";
const MODULE: &str = "/proc/loadavg";
/// Netdata's default "load average update every" (seconds).
const LOAD_UPDATE_EVERY: u32 = 5;

pub(crate) struct LoadAvg {
    file: ProcFile,
    load: CollectedChart,
    active: CollectedChart,
    ok: bool,
}

impl LoadAvg {
    pub(crate) fn new(root: &Path, update_every: u32) -> Self {
        // The smallest multiple of the collector's update every that is >= 5 s.
        let load_ue = LOAD_UPDATE_EVERY.div_ceil(update_every) * update_every;
        let load = ChartSpec {
            id: "system.load",
            title: "System Load Average",
            units: "load",
            family: "load",
            context: "system.load",
            chart_type: ChartType::Line,
            priority: 100,
            detail: false,
            plugin: PLUGIN,
            module: MODULE,
        }
        .build(
            load_ue,
            &[],
            vec![
                dim("load1", ABS, 1, 1000),
                dim("load5", ABS, 1, 1000),
                dim("load15", ABS, 1, 1000),
            ],
        );
        let active = ChartSpec {
            id: "system.active_processes",
            title: "System Active Processes",
            units: "processes",
            family: "processes",
            context: "system.active_processes",
            chart_type: ChartType::Line,
            priority: 750,
            detail: false,
            plugin: PLUGIN,
            module: MODULE,
        }
        .build(update_every, &[], vec![dim("active", ABS, 1, 1)]);
        Self {
            file: ProcFile::new(root, "/proc/loadavg"),
            load,
            active,
            ok: false,
        }
    }

    pub(crate) fn collect(&mut self) {
        self.ok = false;
        let Some(buf) = self.file.read() else { return };
        // "0.12 0.07 0.02 1/165 12345"
        let mut w = words(buf);
        let mut load = [None; 3];
        for slot in &mut load {
            *slot = w.next().and_then(|x| parse_fixed(x, 3)).and_then(cn);
        }
        let active = w
            .next()
            .and_then(|x| x.iter().position(|&b| b == b'/').map(|p| &x[p + 1..]))
            .and_then(parse_u64)
            .and_then(cn);
        self.load.set_all(&load);
        self.active.values[0] = active;
        self.ok = load[0].is_some();
    }

    pub(crate) fn charts<'a>(&'a mut self, out: &mut Vec<&'a mut CollectedChart>) {
        if self.ok {
            out.push(&mut self.load);
            out.push(&mut self.active);
        }
    }
}
