//! `/proc/net/dev`: `net.IFACE` (bytes), `net_packets.IFACE`, `net_errors`, `net_drops`,
//! `net_fifo`, `net_compressed`, `net_events` (each once non-zero) and `system.net` (the sum of
//! the physical interfaces); `/sys/class/net/IFACE`: `net_speed`, `net_duplex`,
//! `net_operstate`, `net_carrier`, `net_mtu`. Like Netdata's defaults: `lo fireqos* *-ifb fwpr*
//! fwbr* fwln*` are not charted, and an interface's counter charts appear once their counters
//! are non-zero ("auto").
//! An interface is virtual when `/sys/devices/virtual/net/IFACE` exists.

use std::path::{Path, PathBuf};

use crate::model::ChartType;

use super::util::{
    cn, dim, dim_named, fix_id, join, lines, parse_u64, simple_match, words, ChartSpec, ProcFile,
    ABS, INC, LABEL_SOURCE_AUTO_PERMANENT,
};
use super::CollectedChart;

const PLUGIN: &str = "proc.plugin";
const MODULE: &str = "/proc/net/dev";
const DISABLED: &str = "lo fireqos* *-ifb fwpr* fwbr* fwln*";
/// Most interfaces we track (bounds memory on a host with runaway veths).
const MAX_IFACES: usize = 4096;

/// A per-interface counter chart of /proc/net/dev: dimensions are (id, multiplier, column).
struct CounterChart {
    type_: &'static str,
    title: &'static str,
    units: &'static str,
    context: &'static str,
    priority: i64,
    dims: &'static [(&'static str, i64, usize)],
}

/// Columns after `IFACE:` — receive: 0 bytes 1 packets 2 errs 3 drop 4 fifo 5 frame
/// 6 compressed 7 multicast; transmit: 8 bytes 9 packets 10 errs 11 drop 12 fifo 13 colls
/// 14 carrier 15 compressed.
const COUNTER_CHARTS: [CounterChart; 5] = [
    CounterChart {
        type_: "net_errors",
        title: "Interface Errors",
        units: "errors/s",
        context: "net.errors",
        priority: 7002,
        dims: &[("inbound", 1, 2), ("outbound", -1, 10)],
    },
    CounterChart {
        type_: "net_drops",
        title: "Interface Drops",
        units: "drops/s",
        context: "net.drops",
        priority: 7003,
        dims: &[("inbound", 1, 3), ("outbound", -1, 11)],
    },
    CounterChart {
        type_: "net_fifo",
        title: "Interface FIFO Buffer Errors",
        units: "errors",
        context: "net.fifo",
        priority: 7004,
        dims: &[("receive", 1, 4), ("transmit", -1, 12)],
    },
    CounterChart {
        type_: "net_compressed",
        title: "Compressed Packets",
        units: "packets/s",
        context: "net.compressed",
        priority: 7005,
        dims: &[("received", 1, 6), ("sent", -1, 15)],
    },
    CounterChart {
        type_: "net_events",
        title: "Network Interface Events",
        units: "events/s",
        context: "net.events",
        priority: 7006,
        dims: &[
            ("frames", 1, 5),
            ("collisions", -1, 13),
            ("carrier", -1, 14),
        ],
    },
];

struct Iface {
    name: String,
    enabled: bool,
    is_virtual: bool,
    seen: bool,
    net: Option<CollectedChart>,
    packets: Option<CollectedChart>,
    /// [`COUNTER_CHARTS`], each created once one of its counters is non-zero.
    counters: [Option<CollectedChart>; 5],
    /// `/sys/class/net/IFACE/{speed,duplex,operstate,carrier,mtu}` and their charts
    /// (each chart appears once its file reads).
    sys: Vec<(SysAttr, ProcFile, Option<CollectedChart>)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SysAttr {
    Speed,
    Duplex,
    Operstate,
    Carrier,
    Mtu,
}

const SYS_ATTRS: [SysAttr; 5] = [
    SysAttr::Speed,
    SysAttr::Duplex,
    SysAttr::Operstate,
    SysAttr::Carrier,
    SysAttr::Mtu,
];
const OPERSTATES: [&str; 7] = [
    "up",
    "down",
    "notpresent",
    "lowerlayerdown",
    "testing",
    "dormant",
    "unknown",
];

impl SysAttr {
    fn file(self) -> &'static str {
        match self {
            SysAttr::Speed => "speed",
            SysAttr::Duplex => "duplex",
            SysAttr::Operstate => "operstate",
            SysAttr::Carrier => "carrier",
            SysAttr::Mtu => "mtu",
        }
    }

    /// (type, title, units, priority, dimensions)
    fn chart(
        self,
    ) -> (
        &'static str,
        &'static str,
        &'static str,
        i64,
        Vec<crate::model::DimMeta>,
    ) {
        let abs = |ids: &[&str]| ids.iter().map(|d| dim(d, ABS, 1, 1)).collect();
        match self {
            SysAttr::Speed => (
                "net_speed",
                "Interface Speed",
                "kilobits/s",
                7007,
                abs(&["speed"]),
            ),
            SysAttr::Duplex => (
                "net_duplex",
                "Interface Duplex State",
                "state",
                7008,
                abs(&["full", "half", "unknown"]),
            ),
            SysAttr::Operstate => (
                "net_operstate",
                "Interface Operational State",
                "state",
                7009,
                abs(&OPERSTATES),
            ),
            SysAttr::Carrier => (
                "net_carrier",
                "Interface Physical Link State",
                "state",
                7010,
                abs(&["up", "down"]),
            ),
            SysAttr::Mtu => ("net_mtu", "Interface MTU", "octets", 7011, abs(&["mtu"])),
        }
    }

    /// The raw values Netdata sets from the file's content; `None` when unreadable.
    fn values(self, content: &[u8], out: &mut Vec<Option<i64>>) -> bool {
        out.clear();
        let text = trim(content);
        let flag = |b: bool| Some(i64::from(b));
        match self {
            SysAttr::Speed => {
                // Mbit/s, -1 when unknown; Netdata charts kilobits/s and 0 for unknown.
                let Some(v) = std::str::from_utf8(text)
                    .ok()
                    .and_then(|t| t.parse::<i64>().ok())
                else {
                    return false;
                };
                out.push(Some(if v > 0 { v.saturating_mul(1000) } else { 0 }));
            }
            SysAttr::Duplex => {
                if text.is_empty() {
                    return false;
                }
                let (full, half) = (text == b"full", text == b"half");
                out.extend([flag(full), flag(half), flag(!full && !half)]);
            }
            SysAttr::Operstate => {
                if text.is_empty() {
                    return false;
                }
                let known = OPERSTATES.iter().any(|s| s.as_bytes() == text);
                out.extend(
                    OPERSTATES
                        .iter()
                        .map(|s| flag(s.as_bytes() == text || (!known && *s == "unknown"))),
                );
            }
            SysAttr::Carrier => {
                let Some(v) = parse_u64(text) else {
                    return false;
                };
                out.extend([flag(v != 0), flag(v == 0)]);
            }
            SysAttr::Mtu => {
                let Some(v) = parse_u64(text) else {
                    return false;
                };
                out.push(cn(v));
            }
        }
        true
    }
}

pub(crate) struct NetDev {
    root: PathBuf,
    update_every: u32,
    file: ProcFile,
    ifaces: Vec<Iface>,
    system: CollectedChart,
    gone: Vec<CollectedChart>,
    ok: bool,
    scratch: Vec<Option<i64>>,
}

impl NetDev {
    pub(crate) fn new(root: &Path, update_every: u32) -> Self {
        let system = ChartSpec {
            id: "system.net",
            title: "Physical Network Interfaces Aggregated Bandwidth",
            units: "kilobits/s",
            family: "network",
            context: "system.net",
            chart_type: ChartType::Area,
            priority: 500,
            detail: false,
            plugin: PLUGIN,
            module: MODULE,
        }
        .build(
            update_every,
            &[],
            vec![
                dim_named("InOctets", "received", INC, 8, 1000),
                dim_named("OutOctets", "sent", INC, -8, 1000),
            ],
        );
        Self {
            root: root.to_path_buf(),
            update_every,
            file: ProcFile::new(root, MODULE),
            ifaces: Vec::new(),
            system,
            gone: Vec::new(),
            ok: false,
            scratch: Vec::new(),
        }
    }

    pub(crate) fn collect(&mut self) {
        let Self {
            root,
            update_every,
            file,
            ifaces,
            system,
            gone,
            ok,
            scratch,
        } = self;
        gone.clear();
        *ok = false;
        for i in ifaces.iter_mut() {
            i.seen = false;
        }
        let Some(data) = file.read() else { return };
        *ok = true;
        let (mut sys_in, mut sys_out) = (0u64, 0u64);
        let mut hint = 0;
        for line in lines(data) {
            // "  eth0: 41790586    1785 ..." (the name may touch the first number)
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let name = trim(&line[..colon]);
            if name.is_empty() || name.contains(&b'|') {
                continue;
            }
            let mut f = [0u64; 16];
            for (k, w) in words(&line[colon + 1..]).take(16).enumerate() {
                f[k] = parse_u64(w).unwrap_or(0);
            }
            let Some(idx) = find_or_add(ifaces, root, name, hint) else {
                continue;
            };
            hint = idx + 1;
            let ue = *update_every;
            let iface = &mut ifaces[idx];
            iface.seen = true;
            let (rx_bytes, rx_packets, rx_multicast, tx_bytes, tx_packets) =
                (f[0], f[1], f[7], f[8], f[9]);
            if !iface.is_virtual && iface.enabled {
                sys_in = sys_in.wrapping_add(rx_bytes);
                sys_out = sys_out.wrapping_add(tx_bytes);
            }
            if !iface.enabled {
                continue;
            }
            if iface.net.is_none() && (rx_bytes != 0 || tx_bytes != 0) {
                let dims = vec![dim("received", INC, 8, 1000), dim("sent", INC, -8, 1000)];
                iface.net = Some(iface_chart(
                    iface,
                    "net",
                    "Bandwidth",
                    "kilobits/s",
                    "net.net",
                    ChartType::Area,
                    7000,
                    false,
                    ue,
                    dims,
                ));
            }
            if let Some(c) = iface.net.as_mut() {
                c.set_all(&[cn(rx_bytes), cn(tx_bytes)]);
            }
            if iface.packets.is_none() && (rx_packets != 0 || tx_packets != 0 || rx_multicast != 0)
            {
                let dims = vec![
                    dim("received", INC, 1, 1),
                    dim("sent", INC, -1, 1),
                    dim("multicast", INC, 1, 1),
                ];
                iface.packets = Some(iface_chart(
                    iface,
                    "net_packets",
                    "Packets",
                    "packets/s",
                    "net.packets",
                    ChartType::Line,
                    7001,
                    true,
                    ue,
                    dims,
                ));
            }
            if let Some(c) = iface.packets.as_mut() {
                c.set_all(&[cn(rx_packets), cn(tx_packets), cn(rx_multicast)]);
            }
            for (k, spec) in COUNTER_CHARTS.iter().enumerate() {
                if iface.counters[k].is_none() && spec.dims.iter().any(|(_, _, col)| f[*col] != 0) {
                    let dims = spec
                        .dims
                        .iter()
                        .map(|(id, mul, _)| dim(id, INC, *mul, 1))
                        .collect();
                    let chart = iface_chart(
                        iface,
                        spec.type_,
                        spec.title,
                        spec.units,
                        spec.context,
                        ChartType::Line,
                        spec.priority,
                        true,
                        ue,
                        dims,
                    );
                    iface.counters[k] = Some(chart);
                }
                if let Some(c) = iface.counters[k].as_mut() {
                    for (slot, (_, _, col)) in c.values.iter_mut().zip(spec.dims) {
                        *slot = cn(f[*col]);
                    }
                }
            }
            for k in 0..iface.sys.len() {
                let (attr, file, _) = &mut iface.sys[k];
                let attr = *attr;
                let ok = file
                    .read()
                    .is_some_and(|content| attr.values(content, scratch));
                if iface.sys[k].2.is_none() && ok {
                    let (type_, title, units, priority, dims) = attr.chart();
                    let context = format!("net.{}", &type_[4..]);
                    let chart = iface_chart(
                        iface,
                        type_,
                        title,
                        units,
                        &context,
                        ChartType::Line,
                        priority,
                        true,
                        ue,
                        dims,
                    );
                    iface.sys[k].2 = Some(chart);
                }
                if let Some(c) = iface.sys[k].2.as_mut() {
                    if ok {
                        c.set_all(scratch);
                    } else {
                        c.values.iter_mut().for_each(|v| *v = None);
                    }
                }
            }
        }
        system.set_all(&[cn(sys_in), cn(sys_out)]);

        // Interfaces that vanished: their charts go out once more as obsolete.
        ifaces.retain_mut(|i| {
            if i.seen {
                return true;
            }
            let sys = i.sys.drain(..).filter_map(|(_, _, c)| c);
            let counters = i.counters.iter_mut().filter_map(Option::take);
            for mut c in [i.net.take(), i.packets.take()]
                .into_iter()
                .flatten()
                .chain(counters)
                .chain(sys)
            {
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
        for i in &mut self.ifaces {
            out.extend(i.net.as_mut());
            out.extend(i.packets.as_mut());
            out.extend(i.counters.iter_mut().filter_map(Option::as_mut));
            out.extend(i.sys.iter_mut().filter_map(|(_, _, c)| c.as_mut()));
        }
        out.push(&mut self.system);
        out.extend(self.gone.iter_mut());
    }
}

fn find_or_add(ifaces: &mut Vec<Iface>, root: &Path, name: &[u8], hint: usize) -> Option<usize> {
    if let Some(i) = ifaces.get(hint) {
        if i.name.as_bytes() == name {
            return Some(hint);
        }
    }
    if let Some(p) = ifaces.iter().position(|i| i.name.as_bytes() == name) {
        return Some(p);
    }
    if ifaces.len() >= MAX_IFACES {
        return None;
    }
    let name = String::from_utf8_lossy(name).into_owned();
    let is_virtual = join(root, "/sys/devices/virtual/net").join(&name).exists();
    let enabled = !simple_match(DISABLED, &name);
    let dir = format!("/sys/class/net/{name}");
    let sys = if enabled {
        SYS_ATTRS
            .iter()
            .map(|a| {
                (
                    *a,
                    ProcFile::new(root, &format!("{dir}/{}", a.file())),
                    None,
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    ifaces.push(Iface {
        name,
        enabled,
        is_virtual,
        seen: false,
        net: None,
        packets: None,
        counters: Default::default(),
        sys,
    });
    Some(ifaces.len() - 1)
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

#[allow(clippy::too_many_arguments)]
fn iface_chart(
    iface: &Iface,
    type_: &str,
    title: &str,
    units: &str,
    context: &str,
    ct: ChartType,
    priority: i64,
    detail: bool,
    update_every: u32,
    dims: Vec<crate::model::DimMeta>,
) -> CollectedChart {
    let id = format!("{type_}.{}", fix_id(&iface.name));
    let kind = if iface.is_virtual { "virtual" } else { "real" };
    let labels = [
        ("interface_type", kind, LABEL_SOURCE_AUTO_PERMANENT),
        ("device", iface.name.as_str(), LABEL_SOURCE_AUTO_PERMANENT),
    ];
    ChartSpec {
        id: &id,
        title,
        units,
        family: &iface.name,
        context,
        chart_type: ct,
        priority,
        detail,
        plugin: PLUGIN,
        module: MODULE,
    }
    .build(update_every, &labels, dims)
}
