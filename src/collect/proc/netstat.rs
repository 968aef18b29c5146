//! IP, ICMP, TCP and UDP protocol counters: `/proc/net/snmp`, `/proc/net/netstat`,
//! `/proc/net/snmp6` (Netdata module `/proc/net/netstat`) and `/proc/net/sockstat`.
//!
//! Each chart is declared in [`SPECS`] with the `Section:Key` (snmp/netstat/sockstat) or
//! `Key` (snmp6) of each dimension. Like Netdata's "auto" default, a chart appears once one
//! of its values is non-zero; a key missing from the file reads as 0 (as Netdata's zeroed
//! statics). `ipv6.icmptypes` has Netdata's fixed list of ICMPv6 types.

use std::collections::HashMap;
use std::path::Path;

use crate::model::{Algorithm, ChartType};

use super::util::{cn, dim_named, lines, parse_u64, words, ChartSpec, ProcFile, ABS, INC};
use super::CollectedChart;

const PLUGIN: &str = "proc.plugin";
const NETSTAT: &str = "/proc/net/netstat";
const SOCKSTAT: &str = "/proc/net/sockstat";
/// Longest `Section:Key` we look up.
const MAX_KEY: usize = 96;

type Dim = (&'static str, &'static str, &'static str, i64, Algorithm);

struct Spec {
    id: &'static str,
    title: &'static str,
    units: &'static str,
    family: &'static str,
    ct: ChartType,
    priority: i64,
    detail: bool,
    module: &'static str,
    /// (key, dimension id, dimension name, multiplier, algorithm); divisor 1 unless listed in
    /// [`divisor`].
    dims: &'static [Dim],
    /// Further keys whose non-zero value also makes the chart appear (Netdata creates some
    /// charts in pairs, e.g. `ipv4.icmp` and `ipv4.icmp_errors`).
    also: &'static [&'static str],
}

const L: ChartType = ChartType::Line;
const A: ChartType = ChartType::Area;

macro_rules! d {
    ($key:expr, $id:expr, $name:expr, $mul:expr) => {
        ($key, $id, $name, $mul, INC)
    };
    ($key:expr, $id:expr, $name:expr, $mul:expr, abs) => {
        ($key, $id, $name, $mul, ABS)
    };
}

static SPECS: &[Spec] = &[
    Spec {
        id: "ipv4.sockstat_sockets",
        title: "IPv4 Sockets Used",
        units: "sockets",
        family: "sockets",
        ct: L,
        priority: 5100,
        detail: false,
        module: SOCKSTAT,
        dims: &[d!("sockets:used", "used", "used", 1, abs)],
        also: &[],
    },
    Spec {
        id: "ipv4.sockstat_tcp_sockets",
        title: "IPv4 TCP Sockets",
        units: "sockets",
        family: "tcp",
        ct: L,
        priority: 5201,
        detail: false,
        module: SOCKSTAT,
        dims: &[
            d!("TCP:alloc", "alloc", "alloc", 1, abs),
            d!("TCP:orphan", "orphan", "orphan", 1, abs),
            d!("TCP:inuse", "inuse", "inuse", 1, abs),
            d!("TCP:tw", "timewait", "timewait", 1, abs),
        ],
        also: &[],
    },
    Spec {
        id: "ipv4.sockstat_tcp_mem",
        title: "IPv4 TCP Sockets Memory",
        units: "KiB",
        family: "tcp",
        ct: A,
        priority: 5290,
        detail: false,
        module: SOCKSTAT,
        dims: &[d!("TCP:mem", "mem", "mem", 4096, abs)],
        also: &[],
    },
    Spec {
        id: "system.ip",
        title: "IP Bandwidth",
        units: "kilobits/s",
        family: "network",
        ct: A,
        priority: 501,
        detail: false,
        module: NETSTAT,
        dims: &[
            d!("IpExt:InOctets", "InOctets", "received", 8),
            d!("IpExt:OutOctets", "OutOctets", "sent", -8),
        ],
        also: &[],
    },
    Spec {
        id: "ip.ecnpkts",
        title: "IP ECN Statistics",
        units: "packets/s",
        family: "ecn",
        ct: L,
        priority: 4700,
        detail: true,
        module: NETSTAT,
        dims: &[
            d!("IpExt:InCEPkts", "InCEPkts", "CEP", 1),
            d!("IpExt:InNoECTPkts", "InNoECTPkts", "NoECTP", -1),
            d!("IpExt:InECT0Pkts", "InECT0Pkts", "ECTP0", 1),
            d!("IpExt:InECT1Pkts", "InECT1Pkts", "ECTP1", 1),
        ],
        also: &[],
    },
    Spec {
        id: "ip.tcpmemorypressures",
        title: "TCP Memory Pressures",
        units: "events/s",
        family: "tcp",
        ct: L,
        priority: 4290,
        detail: false,
        module: NETSTAT,
        dims: &[d!(
            "TcpExt:TCPMemoryPressures",
            "TCPMemoryPressures",
            "pressures",
            1
        )],
        also: &[],
    },
    Spec {
        id: "ip.tcpconnaborts",
        title: "TCP Connection Aborts",
        units: "connections/s",
        family: "tcp",
        ct: L,
        priority: 4210,
        detail: false,
        module: NETSTAT,
        dims: &[
            d!("TcpExt:TCPAbortOnData", "TCPAbortOnData", "baddata", 1),
            d!("TcpExt:TCPAbortOnClose", "TCPAbortOnClose", "userclosed", 1),
            d!("TcpExt:TCPAbortOnMemory", "TCPAbortOnMemory", "nomemory", 1),
            d!(
                "TcpExt:TCPAbortOnTimeout",
                "TCPAbortOnTimeout",
                "timeout",
                1
            ),
            d!("TcpExt:TCPAbortOnLinger", "TCPAbortOnLinger", "linger", 1),
            d!("TcpExt:TCPAbortFailed", "TCPAbortFailed", "failed", -1),
        ],
        also: &[],
    },
    Spec {
        id: "ip.tcpreorders",
        title: "TCP Reordered Packets by Detection Method",
        units: "packets/s",
        family: "tcp",
        ct: L,
        priority: 4220,
        detail: false,
        module: NETSTAT,
        dims: &[
            d!("TcpExt:TCPTSReorder", "TCPTSReorder", "timestamp", 1),
            d!("TcpExt:TCPSACKReorder", "TCPSACKReorder", "sack", 1),
            d!("TcpExt:TCPFACKReorder", "TCPFACKReorder", "fack", 1),
            d!("TcpExt:TCPRenoReorder", "TCPRenoReorder", "reno", 1),
        ],
        also: &[],
    },
    Spec {
        id: "ip.tcpofo",
        title: "TCP Out-Of-Order Queue",
        units: "packets/s",
        family: "tcp",
        ct: L,
        priority: 4250,
        detail: false,
        module: NETSTAT,
        dims: &[
            d!("TcpExt:TCPOFOQueue", "TCPOFOQueue", "inqueue", 1),
            d!("TcpExt:TCPOFODrop", "TCPOFODrop", "dropped", -1),
            d!("TcpExt:TCPOFOMerge", "TCPOFOMerge", "merged", 1),
            d!("TcpExt:OfoPruned", "OfoPruned", "pruned", -1),
        ],
        also: &[],
    },
    Spec {
        id: "ip.tcpsyncookies",
        title: "TCP SYN Cookies",
        units: "packets/s",
        family: "tcp",
        ct: L,
        priority: 4260,
        detail: false,
        module: NETSTAT,
        dims: &[
            d!("TcpExt:SyncookiesRecv", "SyncookiesRecv", "received", 1),
            d!("TcpExt:SyncookiesSent", "SyncookiesSent", "sent", -1),
            d!("TcpExt:SyncookiesFailed", "SyncookiesFailed", "failed", -1),
        ],
        also: &[],
    },
    Spec {
        id: "ip.tcp_syn_queue",
        title: "TCP SYN Queue Issues",
        units: "packets/s",
        family: "tcp",
        ct: L,
        priority: 4215,
        detail: false,
        module: NETSTAT,
        dims: &[
            d!("TcpExt:TCPReqQFullDrop", "TCPReqQFullDrop", "drops", 1),
            d!(
                "TcpExt:TCPReqQFullDoCookies",
                "TCPReqQFullDoCookies",
                "cookies",
                1
            ),
        ],
        also: &[],
    },
    Spec {
        id: "ip.tcp_accept_queue",
        title: "TCP Accept Queue Issues",
        units: "packets/s",
        family: "tcp",
        ct: L,
        priority: 4216,
        detail: false,
        module: NETSTAT,
        dims: &[
            d!("TcpExt:ListenOverflows", "ListenOverflows", "overflows", 1),
            d!("TcpExt:ListenDrops", "ListenDrops", "drops", 1),
        ],
        also: &[],
    },
    Spec {
        id: "ipv4.packets",
        title: "IPv4 Packets",
        units: "packets/s",
        family: "packets",
        ct: L,
        priority: 5130,
        detail: false,
        module: NETSTAT,
        dims: &[
            d!("Ip:InReceives", "InReceives", "received", 1),
            d!("Ip:OutRequests", "OutRequests", "sent", -1),
            d!("Ip:ForwDatagrams", "ForwDatagrams", "forwarded", 1),
            d!("Ip:InDelivers", "InDelivers", "delivered", 1),
        ],
        also: &[],
    },
    Spec {
        id: "ipv4.icmp",
        title: "IPv4 ICMP Packets",
        units: "packets/s",
        family: "icmp",
        ct: L,
        priority: 5170,
        detail: false,
        module: NETSTAT,
        dims: &[
            d!("Icmp:InMsgs", "InMsgs", "received", 1),
            d!("Icmp:OutMsgs", "OutMsgs", "sent", -1),
        ],
        also: &["Icmp:InErrors", "Icmp:OutErrors", "Icmp:InCsumErrors"],
    },
    Spec {
        id: "ipv4.icmp_errors",
        title: "IPv4 ICMP Errors",
        units: "packets/s",
        family: "icmp",
        ct: L,
        priority: 5171,
        detail: false,
        module: NETSTAT,
        dims: &[
            d!("Icmp:InErrors", "InErrors", "InErrors", 1),
            d!("Icmp:OutErrors", "OutErrors", "OutErrors", -1),
            d!("Icmp:InCsumErrors", "InCsumErrors", "InCsumErrors", 1),
        ],
        also: &["Icmp:InMsgs", "Icmp:OutMsgs"],
    },
    Spec {
        id: "ipv4.icmpmsg",
        title: "IPv4 ICMP Messages",
        units: "packets/s",
        family: "icmp",
        ct: L,
        priority: 5172,
        detail: false,
        module: NETSTAT,
        dims: &[
            d!("IcmpMsg:InType0", "InType0", "InEchoReps", 1),
            d!("IcmpMsg:OutType0", "OutType0", "OutEchoReps", -1),
            d!("IcmpMsg:InType3", "InType3", "InDestUnreachs", 1),
            d!("IcmpMsg:OutType3", "OutType3", "OutDestUnreachs", -1),
            d!("IcmpMsg:InType5", "InType5", "InRedirects", 1),
            d!("IcmpMsg:OutType5", "OutType5", "OutRedirects", -1),
            d!("IcmpMsg:InType8", "InType8", "InEchos", 1),
            d!("IcmpMsg:OutType8", "OutType8", "OutEchos", -1),
            d!("IcmpMsg:InType9", "InType9", "InRouterAdvert", 1),
            d!("IcmpMsg:OutType9", "OutType9", "OutRouterAdvert", -1),
            d!("IcmpMsg:InType10", "InType10", "InRouterSelect", 1),
            d!("IcmpMsg:OutType10", "OutType10", "OutRouterSelect", -1),
            d!("IcmpMsg:InType11", "InType11", "InTimeExcds", 1),
            d!("IcmpMsg:OutType11", "OutType11", "OutTimeExcds", -1),
            d!("IcmpMsg:InType12", "InType12", "InParmProbs", 1),
            d!("IcmpMsg:OutType12", "OutType12", "OutParmProbs", -1),
            d!("IcmpMsg:InType13", "InType13", "InTimestamps", 1),
            d!("IcmpMsg:OutType13", "OutType13", "OutTimestamps", -1),
            d!("IcmpMsg:InType14", "InType14", "InTimestampReps", 1),
            d!("IcmpMsg:OutType14", "OutType14", "OutTimestampReps", -1),
        ],
        also: &[],
    },
    Spec {
        id: "ipv4.tcpsock",
        title: "IPv4 TCP Connections",
        units: "active connections",
        family: "tcp",
        ct: L,
        priority: 5200,
        detail: false,
        module: NETSTAT,
        dims: &[d!("Tcp:CurrEstab", "CurrEstab", "connections", 1, abs)],
        also: &[],
    },
    Spec {
        id: "ipv4.tcppackets",
        title: "IPv4 TCP Packets",
        units: "packets/s",
        family: "tcp",
        ct: L,
        priority: 5204,
        detail: false,
        module: NETSTAT,
        dims: &[
            d!("Tcp:InSegs", "InSegs", "received", 1),
            d!("Tcp:OutSegs", "OutSegs", "sent", -1),
        ],
        also: &[],
    },
    Spec {
        id: "ipv4.tcperrors",
        title: "IPv4 TCP Errors",
        units: "packets/s",
        family: "tcp",
        ct: L,
        priority: 5220,
        detail: true,
        module: NETSTAT,
        dims: &[
            d!("Tcp:InErrs", "InErrs", "InErrs", 1),
            d!("Tcp:InCsumErrors", "InCsumErrors", "InCsumErrors", 1),
            d!("Tcp:RetransSegs", "RetransSegs", "RetransSegs", -1),
        ],
        also: &[],
    },
    Spec {
        id: "ipv4.tcpopens",
        title: "IPv4 TCP Opens",
        units: "connections/s",
        family: "tcp",
        ct: L,
        priority: 5205,
        detail: true,
        module: NETSTAT,
        dims: &[
            d!("Tcp:ActiveOpens", "ActiveOpens", "active", 1),
            d!("Tcp:PassiveOpens", "PassiveOpens", "passive", 1),
        ],
        also: &[],
    },
    Spec {
        id: "ipv4.tcphandshake",
        title: "IPv4 TCP Handshake Issues",
        units: "events/s",
        family: "tcp",
        ct: L,
        priority: 5230,
        detail: true,
        module: NETSTAT,
        dims: &[
            d!("Tcp:EstabResets", "EstabResets", "EstabResets", 1),
            d!("Tcp:OutRsts", "OutRsts", "OutRsts", 1),
            d!("Tcp:AttemptFails", "AttemptFails", "AttemptFails", 1),
            d!("TcpExt:TCPSynRetrans", "TCPSynRetrans", "SynRetrans", 1),
        ],
        also: &[],
    },
    Spec {
        id: "ipv4.udppackets",
        title: "IPv4 UDP Packets",
        units: "packets/s",
        family: "udp",
        ct: L,
        priority: 5300,
        detail: false,
        module: NETSTAT,
        dims: &[
            d!("Udp:InDatagrams", "InDatagrams", "received", 1),
            d!("Udp:OutDatagrams", "OutDatagrams", "sent", -1),
        ],
        also: &[],
    },
    Spec {
        id: "system.ipv6",
        title: "IPv6 Bandwidth",
        units: "kilobits/s",
        family: "network",
        ct: A,
        priority: 502,
        detail: false,
        module: NETSTAT,
        dims: &[
            d!("Ip6InOctets", "InOctets", "received", 8),
            d!("Ip6OutOctets", "OutOctets", "sent", -8),
        ],
        also: &[],
    },
    Spec {
        id: "ipv6.packets",
        title: "IPv6 Packets",
        units: "packets/s",
        family: "packets",
        ct: L,
        priority: 6200,
        detail: false,
        module: NETSTAT,
        dims: &[
            d!("Ip6InReceives", "InReceives", "received", 1),
            d!("Ip6OutRequests", "OutRequests", "sent", -1),
            d!("Ip6OutForwDatagrams", "OutForwDatagrams", "forwarded", -1),
            d!("Ip6InDelivers", "InDelivers", "delivers", 1),
        ],
        also: &[],
    },
    Spec {
        id: "ipv6.mcast",
        title: "IPv6 Multicast Bandwidth",
        units: "kilobits/s",
        family: "multicast6",
        ct: A,
        priority: 6850,
        detail: true,
        module: NETSTAT,
        dims: &[
            d!("Ip6InMcastOctets", "InMcastOctets", "received", 8),
            d!("Ip6OutMcastOctets", "OutMcastOctets", "sent", -8),
        ],
        also: &[],
    },
    Spec {
        id: "ipv6.mcastpkts",
        title: "IPv6 Multicast Packets",
        units: "packets/s",
        family: "multicast6",
        ct: L,
        priority: 6851,
        detail: true,
        module: NETSTAT,
        dims: &[
            d!("Ip6InMcastPkts", "InMcastPkts", "received", 1),
            d!("Ip6OutMcastPkts", "OutMcastPkts", "sent", -1),
        ],
        also: &[],
    },
    Spec {
        id: "ipv6.icmp",
        title: "IPv6 ICMP Messages",
        units: "messages/s",
        family: "icmp6",
        ct: L,
        priority: 6900,
        detail: false,
        module: NETSTAT,
        dims: &[
            d!("Icmp6InMsgs", "InMsgs", "received", 1),
            d!("Icmp6OutMsgs", "OutMsgs", "sent", -1),
        ],
        also: &[],
    },
    Spec {
        id: "ipv6.icmperrors",
        title: "IPv6 ICMP Errors",
        units: "errors/s",
        family: "icmp6",
        ct: L,
        priority: 6920,
        detail: false,
        module: NETSTAT,
        dims: &[
            d!("Icmp6InErrors", "InErrors", "InErrors", 1),
            d!("Icmp6OutErrors", "OutErrors", "OutErrors", -1),
            d!("Icmp6InCsumErrors", "InCsumErrors", "InCsumErrors", 1),
            d!("Icmp6InDestUnreachs", "InDestUnreachs", "InDestUnreachs", 1),
            d!("Icmp6InPktTooBigs", "InPktTooBigs", "InPktTooBigs", 1),
            d!("Icmp6InTimeExcds", "InTimeExcds", "InTimeExcds", 1),
            d!("Icmp6InParmProblems", "InParmProblems", "InParmProblems", 1),
            d!(
                "Icmp6OutDestUnreachs",
                "OutDestUnreachs",
                "OutDestUnreachs",
                -1
            ),
            d!("Icmp6OutPktTooBigs", "OutPktTooBigs", "OutPktTooBigs", -1),
            d!("Icmp6OutTimeExcds", "OutTimeExcds", "OutTimeExcds", -1),
            d!(
                "Icmp6OutParmProblems",
                "OutParmProblems",
                "OutParmProblems",
                -1
            ),
        ],
        also: &[],
    },
    Spec {
        id: "ipv6.icmpneighbor",
        title: "IPv6 Neighbor Messages",
        units: "messages/s",
        family: "icmp6",
        ct: L,
        priority: 6960,
        detail: false,
        module: NETSTAT,
        dims: &[
            d!("Icmp6InNeighborSolicits", "InSolicits", "InSolicits", 1),
            d!("Icmp6OutNeighborSolicits", "OutSolicits", "OutSolicits", -1),
            d!(
                "Icmp6InNeighborAdvertisements",
                "InAdvertisements",
                "InAdvertisements",
                1
            ),
            d!(
                "Icmp6OutNeighborAdvertisements",
                "OutAdvertisements",
                "OutAdvertisements",
                -1
            ),
        ],
        also: &[],
    },
    Spec {
        id: "ipv6.icmpmldv2",
        title: "IPv6 ICMP MLDv2 Reports",
        units: "reports/s",
        family: "icmp6",
        ct: L,
        priority: 6970,
        detail: false,
        module: NETSTAT,
        dims: &[
            d!("Icmp6InMLDv2Reports", "InMLDv2Reports", "received", 1),
            d!("Icmp6OutMLDv2Reports", "OutMLDv2Reports", "sent", -1),
        ],
        also: &[],
    },
    Spec {
        id: "ipv6.icmptypes",
        title: "IPv6 ICMP Types",
        units: "messages/s",
        family: "icmp6",
        ct: L,
        priority: 6980,
        detail: false,
        module: NETSTAT,
        dims: &[
            d!("Icmp6InType1", "InType1", "InType1", 1),
            d!("Icmp6InType128", "InType128", "InType128", 1),
            d!("Icmp6InType129", "InType129", "InType129", 1),
            d!("Icmp6InType136", "InType136", "InType136", 1),
            d!("Icmp6OutType1", "OutType1", "OutType1", -1),
            d!("Icmp6OutType128", "OutType128", "OutType128", -1),
            d!("Icmp6OutType129", "OutType129", "OutType129", -1),
            d!("Icmp6OutType133", "OutType133", "OutType133", -1),
            d!("Icmp6OutType135", "OutType135", "OutType135", -1),
            d!("Icmp6OutType143", "OutType143", "OutType143", -1),
        ],
        also: &[],
    },
    Spec {
        id: "ipv6.ect",
        title: "IPv6 ECT Packets",
        units: "packets/s",
        family: "packets",
        ct: L,
        priority: 6210,
        detail: false,
        module: NETSTAT,
        dims: &[
            d!("Ip6InNoECTPkts", "InNoECTPkts", "InNoECTPkts", 1),
            d!("Ip6InECT1Pkts", "InECT1Pkts", "InECT1Pkts", 1),
            d!("Ip6InECT0Pkts", "InECT0Pkts", "InECT0Pkts", 1),
            d!("Ip6InCEPkts", "InCEPkts", "InCEPkts", 1),
        ],
        also: &[],
    },
];

/// Dimension keys whose value alone does not make their chart appear (Netdata 1.37.1 creates
/// `ip.tcpofo` on TCPOFOQueue, TCPOFODrop or TCPOFOMerge, not on OfoPruned).
const NOT_TRIGGERS: &[&str] = &["TcpExt:OfoPruned"];

/// Divisor of a dimension (all 1 except the KiB/kilobit conversions).
fn divisor(spec: &Spec) -> i64 {
    match spec.units {
        "kilobits/s" => 1000,
        "KiB" => 1024,
        _ => 1,
    }
}

struct Slot {
    spec: &'static Spec,
    /// Value slots of the dims.
    keys: Vec<usize>,
    /// Value slots whose non-zero value makes the chart appear: its dims' (less
    /// [`NOT_TRIGGERS`]) and [`Spec::also`].
    triggers: Vec<usize>,
    chart: Option<CollectedChart>,
    /// Whether the chart's source file was read this pass.
    fresh: bool,
    /// Its source: sockstat, snmp6, or snmp/netstat ([`source_of`]).
    source: Source,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Sockstat,
    Snmp6,
    SnmpNetstat,
}

/// Which file a chart's keys come from: `Section:Key` of sockstat, bare `Key` of snmp6, else
/// `Section:Key` of snmp or netstat.
fn source_of(spec: &Spec) -> Source {
    if spec.module == SOCKSTAT {
        Source::Sockstat
    } else if spec.dims.first().is_some_and(|d| !d.0.contains(':')) {
        Source::Snmp6
    } else {
        Source::SnmpNetstat
    }
}

pub(crate) struct NetStat {
    update_every: u32,
    snmp: ProcFile,
    netstat: ProcFile,
    snmp6: ProcFile,
    sockstat: ProcFile,
    index: HashMap<Vec<u8>, usize>,
    values: Vec<u64>,
    slots: Vec<Slot>,
    have: [bool; 4],
    /// Where each value of /proc/net/snmp and /proc/net/netstat goes, while their header
    /// lines stay the same.
    snmp_layout: Layout,
    netstat_layout: Layout,
    snmp6_layout: KeyLayout,
}

impl NetStat {
    pub(crate) fn new(root: &Path, update_every: u32) -> Self {
        let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
        let slots = SPECS
            .iter()
            .map(|spec| {
                let keys = spec
                    .dims
                    .iter()
                    .map(|(key, ..)| {
                        let n = index.len();
                        *index.entry(key.as_bytes().to_vec()).or_insert(n)
                    })
                    .collect();
                let triggers = spec
                    .dims
                    .iter()
                    .map(|d| d.0)
                    .filter(|key| !NOT_TRIGGERS.contains(key))
                    .chain(spec.also.iter().copied())
                    .map(|key| {
                        let n = index.len();
                        *index.entry(key.as_bytes().to_vec()).or_insert(n)
                    })
                    .collect();
                Slot {
                    spec,
                    keys,
                    triggers,
                    chart: None,
                    fresh: false,
                    source: source_of(spec),
                }
            })
            .collect();
        Self {
            update_every,
            snmp: ProcFile::new(root, "/proc/net/snmp"),
            netstat: ProcFile::new(root, "/proc/net/netstat"),
            snmp6: ProcFile::new(root, "/proc/net/snmp6"),
            sockstat: ProcFile::new(root, SOCKSTAT),
            values: vec![0; index.len()],
            index,
            slots,
            have: [false; 4],
            snmp_layout: Layout::default(),
            netstat_layout: Layout::default(),
            snmp6_layout: KeyLayout::default(),
        }
    }

    pub(crate) fn collect(&mut self) {
        self.values.iter_mut().for_each(|v| *v = 0);
        let Self {
            snmp,
            netstat,
            snmp6,
            sockstat,
            index,
            values,
            have,
            snmp_layout,
            netstat_layout,
            snmp6_layout,
            ..
        } = self;
        *have = [false; 4];
        if let Some(buf) = snmp.read() {
            have[0] = true;
            header_value_pairs(buf, index, values, snmp_layout);
        }
        if let Some(buf) = netstat.read() {
            have[1] = true;
            header_value_pairs(buf, index, values, netstat_layout);
        }
        if let Some(buf) = snmp6.read() {
            have[2] = true;
            key_value_lines(buf, index, values, snmp6_layout);
        }
        if let Some(buf) = sockstat.read() {
            have[3] = true;
            // "TCP: inuse 5 orphan 0 tw 218 alloc 5 mem 93"
            let mut key = [0u8; MAX_KEY];
            for line in lines(buf) {
                let mut w = words(line);
                let Some(section) = w.next() else { continue };
                while let (Some(k), Some(v)) = (w.next(), w.next()) {
                    let Some(full) = compose(&mut key, section, b"", k) else {
                        continue;
                    };
                    if let (Some(&i), Some(v)) = (index.get(full), parse_u64(v)) {
                        values[i] = v;
                    }
                }
            }
        }
        self.update_charts();
    }

    fn update_charts(&mut self) {
        let ue = self.update_every;
        for slot in &mut self.slots {
            let spec = slot.spec;
            let src = match slot.source {
                Source::Sockstat => self.have[3],
                Source::Snmp6 => self.have[2],
                Source::SnmpNetstat => self.have[0] || self.have[1],
            };
            slot.fresh = src;
            if !src {
                continue;
            }
            let values = &self.values;
            if slot.chart.is_none() && slot.triggers.iter().any(|&k| values[k] != 0) {
                slot.chart = Some(build(spec, ue));
            }
            if let Some(c) = slot.chart.as_mut() {
                for (i, &k) in slot.keys.iter().enumerate() {
                    c.values[i] = cn(self.values[k]);
                }
            }
        }
    }

    pub(crate) fn charts<'a>(&'a mut self, out: &mut Vec<&'a mut CollectedChart>) {
        for s in &mut self.slots {
            if s.fresh {
                out.extend(s.chart.as_mut());
            }
        }
    }
}

fn build(spec: &Spec, update_every: u32) -> CollectedChart {
    let div = divisor(spec);
    let dims = spec
        .dims
        .iter()
        .map(|(_, id, name, mul, alg)| dim_named(id, name, *alg, *mul, div))
        .collect();
    ChartSpec {
        id: spec.id,
        title: spec.title,
        units: spec.units,
        family: spec.family,
        context: spec.id,
        chart_type: spec.ct,
        priority: spec.priority,
        detail: spec.detail,
        plugin: PLUGIN,
        module: spec.module,
    }
    .build(update_every, &[], dims)
}

/// `section` (with its `:`) + `sep` + `key` into `buf`; `None` when too long.
fn compose<'b>(
    buf: &'b mut [u8; MAX_KEY],
    section: &[u8],
    sep: &[u8],
    key: &[u8],
) -> Option<&'b [u8]> {
    let n = section.len() + sep.len() + key.len();
    if n > MAX_KEY {
        return None;
    }
    buf[..section.len()].copy_from_slice(section);
    buf[section.len()..section.len() + sep.len()].copy_from_slice(sep);
    buf[section.len() + sep.len()..n].copy_from_slice(key);
    Some(&buf[..n])
}

/// What [`header_value_pairs`] learnt from the header lines of one file: the header lines
/// themselves (each followed by `\n`) and, per header/value pair, the index of every value
/// in `values` (`None`: a key we do not chart). The kernel prints the same headers every
/// time, so later passes only compare them and assign values by position (no key building,
/// no hashing); any difference re-learns the layout.
#[derive(Default)]
struct Layout {
    headers: Vec<u8>,
    /// Per pair: the range of its keys in `targets`.
    pairs: Vec<std::ops::Range<usize>>,
    targets: Vec<Option<usize>>,
}

/// snmp/netstat layout: `Ip: Forwarding DefaultTTL ...` then `Ip: 2 64 ...`.
fn header_value_pairs(
    buf: &[u8],
    index: &HashMap<Vec<u8>, usize>,
    values: &mut [u64],
    layout: &mut Layout,
) {
    if !layout.headers.is_empty() && values_by_layout(buf, layout, values) {
        return;
    }
    layout.headers.clear();
    layout.pairs.clear();
    layout.targets.clear();
    let mut key = [0u8; MAX_KEY];
    let mut it = lines(buf);
    while let Some(header) = it.next() {
        let Some(vals) = it.next() else { break };
        layout.headers.extend_from_slice(header);
        layout.headers.push(b'\n');
        let start = layout.targets.len();
        let mut hw = words(header);
        let mut vw = words(vals);
        let hs = hw.next();
        for k in hw {
            let target = hs
                .and_then(|hs| compose(&mut key, hs, b"", k))
                .and_then(|full| index.get(full).copied());
            layout.targets.push(target);
        }
        layout.pairs.push(start..layout.targets.len());
        let (Some(hs), Some(vs)) = (hs, vw.next()) else {
            continue;
        };
        if hs != vs {
            continue;
        }
        for (target, v) in layout.targets[start..].iter().zip(vw) {
            if let Some(i) = *target {
                // Tcp MaxConn is -1: not a key we chart; others are unsigned counters.
                values[i] = parse_u64(v).unwrap_or(0);
            }
        }
    }
}

/// The fast path of [`header_value_pairs`]: false (values possibly half set, to be redone)
/// as soon as a header line differs from the learnt layout.
fn values_by_layout(buf: &[u8], layout: &Layout, values: &mut [u64]) -> bool {
    let mut pos = 0usize;
    let mut pairs = layout.pairs.iter();
    let mut it = lines(buf);
    while let Some(header) = it.next() {
        let Some(vals) = it.next() else { break };
        let same = layout
            .headers
            .get(pos..pos + header.len())
            .is_some_and(|h| h == header)
            && layout.headers.get(pos + header.len()) == Some(&b'\n');
        let Some(range) = pairs.next().filter(|_| same) else {
            return false;
        };
        pos += header.len() + 1;
        let mut vw = words(vals);
        let (Some(hs), Some(vs)) = (words(header).next(), vw.next()) else {
            continue;
        };
        if hs != vs {
            continue;
        }
        for (target, v) in layout.targets[range.clone()].iter().zip(vw) {
            if let Some(i) = *target {
                values[i] = parse_u64(v).unwrap_or(0);
            }
        }
    }
    pos == layout.headers.len() && pairs.next().is_none()
}

/// What [`key_value_lines`] learnt of a `Key value` file (/proc/net/snmp6): the key of
/// each line and where its value goes (`None`: not charted). The kernel prints the same
/// keys in the same order every time, so a pass compares each line's key with the one
/// learnt at its position (no hashing); from the first difference on, keys are looked up
/// and learnt again.
#[derive(Default)]
struct KeyLayout {
    /// The keys, back to back; key `i` ends at `ends[i]`.
    keys: Vec<u8>,
    ends: Vec<usize>,
    targets: Vec<Option<usize>>,
}

impl KeyLayout {
    fn key(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.keys.get(start..end)
    }

    /// Forgets line `i` and the ones after it.
    fn truncate(&mut self, i: usize) {
        if i < self.ends.len() {
            self.keys
                .truncate(if i == 0 { 0 } else { self.ends[i - 1] });
            self.ends.truncate(i);
            self.targets.truncate(i);
        }
    }
}

/// `Key value` lines (snmp6) into `values` by `index`.
fn key_value_lines(
    buf: &[u8],
    index: &HashMap<Vec<u8>, usize>,
    values: &mut [u64],
    layout: &mut KeyLayout,
) {
    let mut n = 0usize;
    for line in lines(buf) {
        let mut w = words(line);
        let (Some(k), Some(v)) = (w.next(), w.next()) else {
            continue;
        };
        let target = if layout.key(n) == Some(k) {
            layout.targets[n]
        } else {
            layout.truncate(n);
            let t = index.get(k).copied();
            layout.keys.extend_from_slice(k);
            layout.ends.push(layout.keys.len());
            layout.targets.push(t);
            t
        };
        n += 1;
        if let (Some(i), Some(v)) = (target, parse_u64(v)) {
            values[i] = v;
        }
    }
    layout.truncate(n);
}

#[cfg(test)]
mod tests {
    use super::{header_value_pairs, key_value_lines, HashMap, KeyLayout, Layout};

    /// (dimension id, name, multiplier, value)
    type TestDim = (String, String, i64, Option<i64>);

    /// Charts handed out by a [`super::NetStat`] over a tree whose /proc/net/netstat has
    /// `TcpExt` `keys` = `values`: (id, [(dimension id, name, multiplier, value)]).
    fn tcpext_charts(keys: &str, values: &str) -> Vec<(String, Vec<TestDim>)> {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("proc/net")).expect("mkdir");
        let text = format!("TcpExt: {keys}\nTcpExt: {values}\n");
        std::fs::write(dir.path().join("proc/net/netstat"), text).expect("write");
        let mut n = super::NetStat::new(dir.path(), 1);
        n.collect();
        let mut out = Vec::new();
        n.charts(&mut out);
        out.iter()
            .map(|c| {
                let dims = c.dims.iter().zip(&c.values);
                let dims = dims.map(|(d, v)| (d.id.clone(), d.name.clone(), d.multiplier, *v));
                (c.meta.id.clone(), dims.collect())
            })
            .collect()
    }

    #[test]
    fn tcpext_auto_charts_appear_once_their_counters_are_non_zero() {
        let keys = "TCPMemoryPressures TCPTSReorder TCPSACKReorder TCPFACKReorder TCPRenoReorder \
                    TCPOFOQueue TCPOFODrop TCPOFOMerge OfoPruned SyncookiesRecv SyncookiesSent \
                    SyncookiesFailed TCPReqQFullDrop TCPReqQFullDoCookies ListenOverflows ListenDrops";
        // All zero: none of them (OfoPruned alone does not make ip.tcpofo appear).
        let zero = tcpext_charts(keys, "0 0 0 0 0 0 0 0 7 0 0 0 0 0 0 0");
        assert!(zero.is_empty(), "{zero:?}");
        let all = tcpext_charts(keys, "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16");
        let d = |id: &str, name: &str, mul: i64, v: i64| {
            (id.to_string(), name.to_string(), mul, Some(v))
        };
        let want = vec![
            (
                "ip.tcpmemorypressures",
                vec![d("TCPMemoryPressures", "pressures", 1, 1)],
            ),
            (
                "ip.tcpreorders",
                vec![
                    d("TCPTSReorder", "timestamp", 1, 2),
                    d("TCPSACKReorder", "sack", 1, 3),
                    d("TCPFACKReorder", "fack", 1, 4),
                    d("TCPRenoReorder", "reno", 1, 5),
                ],
            ),
            (
                "ip.tcpofo",
                vec![
                    d("TCPOFOQueue", "inqueue", 1, 6),
                    d("TCPOFODrop", "dropped", -1, 7),
                    d("TCPOFOMerge", "merged", 1, 8),
                    d("OfoPruned", "pruned", -1, 9),
                ],
            ),
            (
                "ip.tcpsyncookies",
                vec![
                    d("SyncookiesRecv", "received", 1, 10),
                    d("SyncookiesSent", "sent", -1, 11),
                    d("SyncookiesFailed", "failed", -1, 12),
                ],
            ),
            (
                "ip.tcp_syn_queue",
                vec![
                    d("TCPReqQFullDrop", "drops", 1, 13),
                    d("TCPReqQFullDoCookies", "cookies", 1, 14),
                ],
            ),
            (
                "ip.tcp_accept_queue",
                vec![
                    d("ListenOverflows", "overflows", 1, 15),
                    d("ListenDrops", "drops", 1, 16),
                ],
            ),
        ];
        let want: Vec<_> = want
            .into_iter()
            .map(|(id, dims)| (id.to_string(), dims))
            .collect();
        assert_eq!(all, want);
        // Each one on any of its trigger counters.
        let ofo = tcpext_charts(keys, "0 0 0 0 0 0 0 1 0 0 0 0 0 0 0 0");
        assert_eq!(
            ofo.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
            ["ip.tcpofo"]
        );
        let accept = tcpext_charts(keys, "0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 3");
        assert_eq!(
            accept.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
            ["ip.tcp_accept_queue"]
        );
    }

    #[test]
    fn key_value_layout_gives_the_same_values_and_relearns_when_keys_change() {
        let index: HashMap<Vec<u8>, usize> = [
            ("Ip6InReceives", 0),
            ("Icmp6InMsgs", 1),
            ("Udp6InErrors", 2),
        ]
        .into_iter()
        .map(|(k, i)| (k.as_bytes().to_vec(), i))
        .collect();
        let mut layout = KeyLayout::default();
        let parse = |buf: &str, layout: &mut KeyLayout| {
            let mut values = vec![0; 3];
            key_value_lines(buf.as_bytes(), &index, &mut values, layout);
            values
        };
        let a = "Ip6InReceives 10\nIp6InHdrErrors 1\nIcmp6InMsgs 5\n";
        assert_eq!(parse(a, &mut layout), vec![10, 5, 0]);
        assert_eq!(layout.ends.len(), 3);
        let b = "Ip6InReceives 11\nIp6InHdrErrors 1\nIcmp6InMsgs 6\n";
        assert_eq!(parse(b, &mut layout), vec![11, 6, 0]);
        // A key appears in the middle, one at the end: learnt again from there.
        let c = "Ip6InReceives 12\nIp6New 3\nIp6InHdrErrors 1\nIcmp6InMsgs 7\nUdp6InErrors 2\n";
        assert_eq!(parse(c, &mut layout), vec![12, 7, 2]);
        assert_eq!(parse(c, &mut layout), vec![12, 7, 2]);
        assert_eq!(layout.key(1), Some(&b"Ip6New"[..]));
        // Lines disappear: the shorter file is learnt.
        let d = "Icmp6InMsgs 8\n";
        assert_eq!(parse(d, &mut layout), vec![0, 8, 0]);
        assert_eq!(layout.ends.len(), 1);
        assert_eq!(parse(d, &mut layout), vec![0, 8, 0]);
        assert_eq!(parse("", &mut layout), vec![0, 0, 0]);
        assert!(layout.keys.is_empty() && layout.targets.is_empty());
    }

    fn index() -> HashMap<Vec<u8>, usize> {
        [
            ("Ip:Forwarding", 0),
            ("Tcp:ActiveOpens", 1),
            ("Tcp:InSegs", 2),
            ("Udp:InDatagrams", 3),
        ]
        .into_iter()
        .map(|(k, i)| (k.as_bytes().to_vec(), i))
        .collect()
    }

    fn parse(buf: &str, layout: &mut Layout) -> Vec<u64> {
        let mut values = vec![0; 4];
        header_value_pairs(buf.as_bytes(), &index(), &mut values, layout);
        values
    }

    #[test]
    fn learnt_layout_gives_the_same_values_and_relearns_when_headers_change() {
        let mut layout = Layout::default();
        let a = "Ip: Forwarding TTL\nIp: 1 64\nTcp: MaxConn ActiveOpens InSegs\nTcp: -1 5 70\n";
        assert_eq!(parse(a, &mut layout), vec![1, 5, 70, 0]);
        // Same headers, new values: taken by position.
        let b = "Ip: Forwarding TTL\nIp: 2 64\nTcp: MaxConn ActiveOpens InSegs\nTcp: -1 6 71\n";
        assert_eq!(parse(b, &mut layout), vec![2, 6, 71, 0]);
        // A column appears in the middle and a section is added: learnt again.
        let c = "Ip: Forwarding TTL\nIp: 2 64\nTcp: MaxConn New ActiveOpens InSegs\nTcp: -1 9 7 72\nUdp: InDatagrams\nUdp: 33\n";
        assert_eq!(parse(c, &mut layout), vec![2, 7, 72, 33]);
        assert_eq!(parse(c, &mut layout), vec![2, 7, 72, 33]);
        // A section disappears; a values line whose section differs is ignored as before.
        let d =
            "Ip: Forwarding TTL\nIp: 3 64\nTcp: MaxConn New ActiveOpens InSegs\nXyz: -1 9 7 72\n";
        assert_eq!(parse(d, &mut layout), vec![3, 0, 0, 0]);
        assert_eq!(parse(d, &mut layout), vec![3, 0, 0, 0]);
    }
}
