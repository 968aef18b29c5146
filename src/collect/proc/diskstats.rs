//! `/proc/diskstats`: per disk `disk.DEV` (sectors), `disk_ops`, `disk_mops`, `disk_backlog`,
//! `disk_busy`, `disk_util`, `disk_iotime`, the `disk_ext*` discard/flush charts, and from the
//! second pass the per-operation averages `disk_await`, `disk_avgsz`, `disk_svctm`
//! (Netdata derives those from deltas before `SET`, so do we); plus `system.io` (KiB of the
//! physical disks).
//!
//! Netdata's defaults: `loop* ram*` and partitions are not charted; other disks appear once a
//! counter is non-zero. A disk is "physical" when `/sys/block/DEV` exists and
//! `/sys/devices/virtual/block/DEV` does not, "virtual" when both exist, else a "partition".
//! Its family is its mount point when mounted, else its name.

use std::path::{Path, PathBuf};

use crate::model::{ChartType, DimMeta};

use super::diskspace::MountedDev;
use super::util::{
    cn, dim, join, lines, parse_u64, read_small, simple_match, words, ChartSpec, ProcFile, ABS,
    INC, LABEL_SOURCE_AUTO,
};
use super::CollectedChart;

const PLUGIN: &str = "proc.plugin";
const MODULE: &str = "/proc/diskstats";
const EXCLUDED: &str = "loop* ram*";
const MAX_DISKS: usize = 4096;
/// Fields after `major minor name` we use (kernel 5.5+ has 17).
const NF: usize = 17;

// Field indexes (0-based after the name).
const RD: usize = 0;
const RD_MERGED: usize = 1;
const RD_SECT: usize = 2;
const RD_MS: usize = 3;
const WR: usize = 4;
const WR_MERGED: usize = 5;
const WR_SECT: usize = 6;
const WR_MS: usize = 7;
const IN_FLIGHT: usize = 8;
const BUSY_MS: usize = 9;
const BACKLOG_MS: usize = 10;
const DC: usize = 11;
const DC_MERGED: usize = 12;
const DC_SECT: usize = 13;
const DC_MS: usize = 14;
const FL: usize = 15;
const FL_MS: usize = 16;

macro_rules! dc {
    ($t:expr, $title:expr, $units:expr, $ctx:expr, $ct:ident, $prio:expr, $detail:expr) => {
        DiskChart {
            type_: $t,
            title: $title,
            units: $units,
            context: $ctx,
            ct: ChartType::$ct,
            priority: $prio,
            detail: $detail,
        }
    };
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Physical,
    Virtual,
    Partition,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Physical => "physical",
            Kind::Virtual => "virtual",
            Kind::Partition => "partition",
        }
    }
}

struct Disk {
    name: String,
    kind: Kind,
    enabled: bool,
    sector: i64,
    seen: bool,
    mount_point: Option<String>,
    prev: Option<[u64; NF]>,
    /// Charts in creation order: io, ext_io, ops, ext_ops, backlog, busy, util, mops, ext_mops,
    /// iotime, ext_iotime, then (second pass) await, ext_await, avgsz, ext_avgsz, svctm.
    charts: Vec<CollectedChart>,
    /// `disk_qops` (operations in flight), created once non-zero.
    qops: Option<CollectedChart>,
    has_ext: bool,
}

pub(crate) struct DiskStats {
    root: PathBuf,
    update_every: u32,
    file: ProcFile,
    disks: Vec<Disk>,
    system_io: CollectedChart,
    gone: Vec<CollectedChart>,
    ok: bool,
}

impl DiskStats {
    pub(crate) fn new(root: &Path, update_every: u32) -> Self {
        let system_io = ChartSpec {
            id: "system.io",
            title: "Disk I/O",
            units: "KiB/s",
            family: "disk",
            context: "system.io",
            chart_type: ChartType::Area,
            priority: 150,
            detail: false,
            plugin: PLUGIN,
            module: MODULE,
        }
        .build(
            update_every,
            &[],
            vec![dim("in", INC, 1, 1), dim("out", INC, -1, 1)],
        );
        Self {
            root: root.to_path_buf(),
            update_every,
            file: ProcFile::new(root, MODULE),
            disks: Vec::new(),
            system_io,
            gone: Vec::new(),
            ok: false,
        }
    }

    pub(crate) fn collect(&mut self, mounts: &[MountedDev]) {
        let Self {
            root,
            update_every,
            file,
            disks,
            system_io,
            gone,
            ok,
        } = self;
        let ue = *update_every;
        gone.clear();
        *ok = false;
        for d in disks.iter_mut() {
            d.seen = false;
        }
        let Some(buf) = file.read() else { return };
        *ok = true;
        let (mut sys_in, mut sys_out) = (0u64, 0u64);
        let mut hint = 0;
        for line in lines(buf) {
            let mut w = words(line);
            let (Some(maj), Some(min), Some(name)) = (w.next(), w.next(), w.next()) else {
                continue;
            };
            let (Some(major), Some(minor)) = (parse_u64(maj), parse_u64(min)) else {
                continue;
            };
            let mut f = [0u64; NF];
            let mut n = 0;
            for (k, x) in w.take(NF).enumerate() {
                f[k] = parse_u64(x).unwrap_or(0);
                n = k + 1;
            }
            if n < 11 {
                continue;
            }
            let idx = match disks.get(hint) {
                Some(d) if d.name.as_bytes() == name => hint,
                _ => match disks.iter().position(|d| d.name.as_bytes() == name) {
                    Some(p) => p,
                    None if disks.len() < MAX_DISKS => {
                        disks.push(new_disk(root, name));
                        disks.len() - 1
                    }
                    None => continue,
                },
            };
            hint = idx + 1;
            let d = &mut disks[idx];
            d.seen = true;
            if d.kind == Kind::Physical {
                let s = d.sector as u64;
                sys_in = sys_in.wrapping_add(f[RD_SECT].wrapping_mul(s) / 1024);
                sys_out = sys_out.wrapping_add(f[WR_SECT].wrapping_mul(s) / 1024);
            }
            if !d.enabled {
                continue;
            }
            if d.charts.is_empty() {
                if f.iter().all(|v| *v == 0) {
                    continue;
                }
                d.mount_point = mounts
                    .iter()
                    .find(|m| u64::from(m.major) == major && u64::from(m.minor) == minor)
                    .map(|m| m.mount_point.clone());
                d.has_ext = n >= 15;
                create_charts(d, ue, n >= 17);
            }
            if d.charts.len() < 16 && d.prev.is_some() {
                create_average_charts(d, ue, n >= 17);
            }
            if d.qops.is_none() && f[IN_FLIGHT] != 0 {
                let qops = dc!(
                    "disk_qops",
                    "Disk Current I/O Operations",
                    "operations",
                    "disk.qops",
                    Line,
                    2015,
                    true
                );
                d.qops = Some(build(d, qops, ue, vec![dim("operations", ABS, 1, 1)]));
            }
            if let Some(q) = d.qops.as_mut() {
                q.set_all(&[cn(f[IN_FLIGHT])]);
            }
            set_values(d, &f, ue);
            d.prev = Some(f);
        }
        system_io.set_all(&[cn(sys_in), cn(sys_out)]);
        disks.retain_mut(|d| {
            if d.seen {
                return true;
            }
            for mut c in d.charts.drain(..).chain(d.qops.take()) {
                c.make_obsolete();
                gone.push(c);
            }
            false
        });
    }

    pub(crate) fn charts<'a>(&'a mut self, out: &mut Vec<&'a mut CollectedChart>) {
        if !self.ok {
            return;
        }
        for d in &mut self.disks {
            let ext = d.has_ext;
            out.extend(
                d.charts
                    .iter_mut()
                    .filter(|c| ext || !c.meta.id.starts_with("disk_ext")),
            );
            out.extend(d.qops.as_mut());
        }
        out.push(&mut self.system_io);
        out.extend(self.gone.iter_mut());
    }
}

fn new_disk(root: &Path, name: &[u8]) -> Disk {
    let name = String::from_utf8_lossy(name).into_owned();
    let block = join(root, "/sys/block").join(&name);
    let kind = if !block.exists() {
        Kind::Partition
    } else if join(root, "/sys/devices/virtual/block")
        .join(&name)
        .exists()
    {
        Kind::Virtual
    } else {
        Kind::Physical
    };
    let sector = read_small(&block.join("queue/hw_sector_size"))
        .and_then(|s| s.trim().parse::<i64>().ok())
        .filter(|s| *s > 0 && *s <= 1 << 20)
        .unwrap_or(512);
    let enabled = kind != Kind::Partition && !simple_match(EXCLUDED, &name);
    Disk {
        name,
        kind,
        enabled,
        sector,
        seen: false,
        mount_point: None,
        prev: None,
        charts: Vec::new(),
        qops: None,
        has_ext: false,
    }
}

struct DiskChart<'a> {
    type_: &'a str,
    title: &'a str,
    units: &'a str,
    context: &'a str,
    ct: ChartType,
    priority: i64,
    detail: bool,
}

fn build(d: &Disk, c: DiskChart<'_>, ue: u32, dims: Vec<DimMeta>) -> CollectedChart {
    let id = format!("{}.{}", c.type_, super::util::fix_id(&d.name));
    let family = d.mount_point.as_deref().unwrap_or(&d.name);
    let mut labels = vec![("device", d.name.as_str(), LABEL_SOURCE_AUTO)];
    if let Some(m) = d.mount_point.as_deref() {
        labels.push(("mount_point", m, LABEL_SOURCE_AUTO));
    }
    labels.push(("device_type", d.kind.as_str(), LABEL_SOURCE_AUTO));
    ChartSpec {
        id: &id,
        title: c.title,
        units: c.units,
        family,
        context: c.context,
        chart_type: c.ct,
        priority: c.priority,
        detail: c.detail,
        plugin: PLUGIN,
        module: MODULE,
    }
    .build(ue, &labels, dims)
}

fn create_charts(d: &mut Disk, ue: u32, _flush: bool) {
    let s = d.sector;
    let mut v = Vec::with_capacity(16);
    v.push(build(
        d,
        dc!(
            "disk",
            "Disk I/O Bandwidth",
            "KiB/s",
            "disk.io",
            Area,
            2000,
            false
        ),
        ue,
        vec![dim("reads", INC, s, 1024), dim("writes", INC, -s, 1024)],
    ));
    v.push(build(
        d,
        dc!(
            "disk_ext",
            "Amount of Discarded Data",
            "KiB/s",
            "disk_ext.io",
            Area,
            2001,
            false
        ),
        ue,
        vec![dim("discards", INC, s, 1024)],
    ));
    v.push(build(
        d,
        dc!(
            "disk_ops",
            "Disk Completed I/O Operations",
            "operations/s",
            "disk.ops",
            Line,
            2010,
            true
        ),
        ue,
        vec![dim("reads", INC, 1, 1), dim("writes", INC, -1, 1)],
    ));
    v.push(build(
        d,
        dc!(
            "disk_ext_ops",
            "Disk Completed Extended I/O Operations",
            "operations/s",
            "disk_ext.ops",
            Line,
            2011,
            true
        ),
        ue,
        vec![dim("discards", INC, 1, 1), dim("flushes", INC, 1, 1)],
    ));
    v.push(build(
        d,
        dc!(
            "disk_backlog",
            "Disk Backlog",
            "milliseconds",
            "disk.backlog",
            Area,
            2020,
            true
        ),
        ue,
        vec![dim("backlog", INC, 1, 1)],
    ));
    v.push(build(
        d,
        dc!(
            "disk_busy",
            "Disk Busy Time",
            "milliseconds",
            "disk.busy",
            Area,
            2030,
            true
        ),
        ue,
        vec![dim("busy", INC, 1, 1)],
    ));
    v.push(build(
        d,
        dc!(
            "disk_util",
            "Disk Utilization Time",
            "% of time working",
            "disk.util",
            Area,
            2040,
            true
        ),
        ue,
        vec![dim("utilization", ABS, 1, 1)],
    ));
    v.push(build(
        d,
        dc!(
            "disk_mops",
            "Disk Merged Operations",
            "merged operations/s",
            "disk.mops",
            Line,
            2080,
            true
        ),
        ue,
        vec![dim("reads", INC, 1, 1), dim("writes", INC, -1, 1)],
    ));
    v.push(build(
        d,
        dc!(
            "disk_ext_mops",
            "Disk Merged Discard Operations",
            "merged operations/s",
            "disk_ext.mops",
            Line,
            2081,
            true
        ),
        ue,
        vec![dim("discards", INC, 1, 1)],
    ));
    v.push(build(
        d,
        dc!(
            "disk_iotime",
            "Disk Total I/O Time",
            "milliseconds/s",
            "disk.iotime",
            Line,
            2090,
            true
        ),
        ue,
        vec![dim("reads", INC, 1, 1), dim("writes", INC, -1, 1)],
    ));
    v.push(build(
        d,
        dc!(
            "disk_ext_iotime",
            "Disk Total I/O Time for Extended Operations",
            "milliseconds/s",
            "disk_ext.iotime",
            Line,
            2091,
            true
        ),
        ue,
        vec![dim("discards", INC, 1, 1), dim("flushes", INC, 1, 1)],
    ));
    d.charts = v;
}

fn create_average_charts(d: &mut Disk, ue: u32, _flush: bool) {
    let s = d.sector;
    let v = vec![
        build(
            d,
            dc!(
                "disk_await",
                "Average Completed I/O Operation Time",
                "milliseconds/operation",
                "disk.await",
                Line,
                2050,
                true
            ),
            ue,
            vec![dim("reads", ABS, 1, 1), dim("writes", ABS, -1, 1)],
        ),
        build(
            d,
            dc!(
                "disk_ext_await",
                "Average Completed Extended I/O Operation Time",
                "milliseconds/operation",
                "disk_ext.await",
                Line,
                2051,
                true
            ),
            ue,
            vec![dim("discards", ABS, 1, 1), dim("flushes", ABS, 1, 1)],
        ),
        build(
            d,
            dc!(
                "disk_avgsz",
                "Average Completed I/O Operation Bandwidth",
                "KiB/operation",
                "disk.avgsz",
                Area,
                2060,
                true
            ),
            ue,
            vec![dim("reads", ABS, s, 1024), dim("writes", ABS, -s, 1024)],
        ),
        build(
            d,
            dc!(
                "disk_ext_avgsz",
                "Average Amount of Discarded Data",
                "KiB/operation",
                "disk_ext.avgsz",
                Area,
                2060,
                true
            ),
            ue,
            vec![dim("discards", ABS, s, 1024)],
        ),
        build(
            d,
            dc!(
                "disk_svctm",
                "Average Service Time",
                "milliseconds/operation",
                "disk.svctm",
                Line,
                2070,
                true
            ),
            ue,
            vec![dim("svctm", ABS, 1, 1)],
        ),
    ];
    d.charts.extend(v);
}

/// `num / den` of two counter deltas, 0 when nothing completed (as Netdata).
fn avg(num: u64, den: u64) -> Option<i64> {
    num.checked_div(den).map_or(Some(0), cn)
}

fn set_values(d: &mut Disk, f: &[u64; NF], ue: u32) {
    let c = &mut d.charts;
    if c.len() < 11 {
        return;
    }
    let g = |i: usize| cn(f[i]);
    c[0].set_all(&[g(RD_SECT), g(WR_SECT)]);
    c[1].set_all(&[g(DC_SECT)]);
    c[2].set_all(&[g(RD), g(WR)]);
    c[3].set_all(&[g(DC), g(FL)]);
    c[4].set_all(&[g(BACKLOG_MS)]);
    c[5].set_all(&[g(BUSY_MS)]);
    c[7].set_all(&[g(RD_MERGED), g(WR_MERGED)]);
    c[8].set_all(&[g(DC_MERGED)]);
    c[9].set_all(&[g(RD_MS), g(WR_MS)]);
    c[10].set_all(&[g(DC_MS), g(FL_MS)]);
    let Some(p) = d.prev else {
        c[6].set_all(&[None]);
        return;
    };
    let delta = |i: usize| f[i].wrapping_sub(p[i]);
    let util = (delta(BUSY_MS) / (10 * u64::from(ue.max(1)))).min(100);
    c[6].set_all(&[cn(util)]);
    if c.len() >= 16 {
        c[11].set_all(&[avg(delta(RD_MS), delta(RD)), avg(delta(WR_MS), delta(WR))]);
        c[12].set_all(&[avg(delta(DC_MS), delta(DC)), avg(delta(FL_MS), delta(FL))]);
        c[13].set_all(&[
            avg(delta(RD_SECT), delta(RD)),
            avg(delta(WR_SECT), delta(WR)),
        ]);
        c[14].set_all(&[avg(delta(DC_SECT), delta(DC))]);
        c[15].set_all(&[avg(delta(BUSY_MS), delta(RD).wrapping_add(delta(WR)))]);
    }
}
