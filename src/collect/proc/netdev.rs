//! `/proc/net/dev`: `net.IFACE` (bytes), `net_packets.IFACE` and `system.net` (the sum of the
//! physical interfaces). Like Netdata's defaults: `lo fireqos* *-ifb fwpr* fwbr* fwln*` are
//! not charted, and an interface's charts appear once its counters are non-zero ("auto").
//! An interface is virtual when `/sys/devices/virtual/net/IFACE` exists.

use std::path::{Path, PathBuf};

use crate::model::ChartType;

use super::util::{
    cn, dim, dim_named, fix_id, join, lines, parse_u64, simple_match, words, ChartSpec, ProcFile, INC,
    LABEL_SOURCE_AUTO_PERMANENT,
};
use super::CollectedChart;

const PLUGIN: &str = "proc.plugin";
const MODULE: &str = "/proc/net/dev";
const DISABLED: &str = "lo fireqos* *-ifb fwpr* fwbr* fwln*";
/// Most interfaces we track (bounds memory on a host with runaway veths).
const MAX_IFACES: usize = 4096;

struct Iface {
    name: String,
    enabled: bool,
    is_virtual: bool,
    seen: bool,
    net: Option<CollectedChart>,
    packets: Option<CollectedChart>,
}

pub(crate) struct NetDev {
    root: PathBuf,
    update_every: u32,
    file: ProcFile,
    ifaces: Vec<Iface>,
    system: CollectedChart,
    gone: Vec<CollectedChart>,
    ok: bool,
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
            vec![dim_named("InOctets", "received", INC, 8, 1000), dim_named("OutOctets", "sent", INC, -8, 1000)],
        );
        Self {
            root: root.to_path_buf(),
            update_every,
            file: ProcFile::new(root, MODULE),
            ifaces: Vec::new(),
            system,
            gone: Vec::new(),
            ok: false,
        }
    }

    pub(crate) fn collect(&mut self) {
        let Self { root, update_every, file, ifaces, system, gone, ok } = self;
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
            let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
            let name = trim(&line[..colon]);
            if name.is_empty() || name.contains(&b'|') {
                continue;
            }
            let mut f = [0u64; 16];
            for (k, w) in words(&line[colon + 1..]).take(16).enumerate() {
                f[k] = parse_u64(w).unwrap_or(0);
            }
            let Some(idx) = find_or_add(ifaces, root, name, hint) else { continue };
            hint = idx + 1;
            let ue = *update_every;
            let iface = &mut ifaces[idx];
            iface.seen = true;
            let (rx_bytes, rx_packets, rx_multicast, tx_bytes, tx_packets) = (f[0], f[1], f[7], f[8], f[9]);
            if !iface.is_virtual && iface.enabled {
                sys_in = sys_in.wrapping_add(rx_bytes);
                sys_out = sys_out.wrapping_add(tx_bytes);
            }
            if !iface.enabled {
                continue;
            }
            if iface.net.is_none() && (rx_bytes != 0 || tx_bytes != 0) {
                iface.net = Some(iface_chart(iface, "net", "Bandwidth", "kilobits/s", "net.net", ChartType::Area, 7000, false, ue));
            }
            if let Some(c) = iface.net.as_mut() {
                c.set_all(&[cn(rx_bytes), cn(tx_bytes)]);
            }
            if iface.packets.is_none() && (rx_packets != 0 || tx_packets != 0 || rx_multicast != 0) {
                iface.packets =
                    Some(iface_chart(iface, "net_packets", "Packets", "packets/s", "net.packets", ChartType::Line, 7001, true, ue));
            }
            if let Some(c) = iface.packets.as_mut() {
                c.set_all(&[cn(rx_packets), cn(tx_packets), cn(rx_multicast)]);
            }
        }
        system.set_all(&[cn(sys_in), cn(sys_out)]);

        // Interfaces that vanished: their charts go out once more as obsolete.
        ifaces.retain_mut(|i| {
            if i.seen {
                return true;
            }
            for mut c in [i.net.take(), i.packets.take()].into_iter().flatten() {
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
    ifaces.push(Iface { name, enabled, is_virtual, seen: false, net: None, packets: None });
    Some(ifaces.len() - 1)
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
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
) -> CollectedChart {
    let id = format!("{type_}.{}", fix_id(&iface.name));
    let kind = if iface.is_virtual { "virtual" } else { "real" };
    let labels = [
        ("interface_type", kind, LABEL_SOURCE_AUTO_PERMANENT),
        ("device", iface.name.as_str(), LABEL_SOURCE_AUTO_PERMANENT),
    ];
    let dims = if type_ == "net" {
        vec![dim("received", INC, 8, 1000), dim("sent", INC, -8, 1000)]
    } else {
        vec![dim("received", INC, 1, 1), dim("sent", INC, -1, 1), dim("multicast", INC, 1, 1)]
    };
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
