//! Raw values collected from the `basic` fixture tree (a copy of a real /proc and /sys),
//! checked against the numbers in those files, and the behaviour across passes (averages of
//! diskstats, interfaces that disappear, update every of system.load).

use std::path::{Path, PathBuf};

use ndcluster::collect::proc::{
    CollectedChart, Collection, DaemonCounters, NetdataSelf, ProcCollector,
};

fn basic() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc/basic")
}

fn chart<'a>(c: &Collection<'a>, id: &str) -> &'a CollectedChart {
    c.get(id).unwrap_or_else(|| {
        panic!(
            "chart {id} missing; have {:?}",
            c.charts.iter().map(|c| &c.meta.id).collect::<Vec<_>>()
        )
    })
}

fn vals(c: &CollectedChart) -> Vec<(String, Option<i64>)> {
    c.dims
        .iter()
        .map(|d| d.id.clone())
        .zip(c.values.iter().copied())
        .collect()
}

fn v(pairs: &[(&str, i64)]) -> Vec<(String, Option<i64>)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Some(*v)))
        .collect()
}

#[test]
fn cpu_counts_jiffies_and_excludes_guest_from_user_and_nice() {
    let mut p = ProcCollector::new(basic(), 1);
    let c = p.collect_at(1_000_000_000);
    // cpu  57296 94 11249 230080 360 0 101 52 7 3
    assert_eq!(
        vals(chart(&c, "system.cpu")),
        v(&[
            ("guest_nice", 3),
            ("guest", 7),
            ("steal", 52),
            ("softirq", 101),
            ("irq", 0),
            ("user", 57289),
            ("system", 11249),
            ("nice", 91),
            ("iowait", 360),
            ("idle", 230080)
        ])
    );
    // cpu1 29339 58 5848 113941 316 0 85 27 0 0
    assert_eq!(chart(&c, "cpu.cpu1").value("user"), Some(29339));
    assert_eq!(chart(&c, "cpu.cpu1").value("idle"), Some(113941));
    assert_eq!(chart(&c, "cpu.cpu1").meta.priority, 1002);
    assert_eq!(vals(chart(&c, "system.intr")), v(&[("interrupts", 680450)]));
    assert_eq!(vals(chart(&c, "system.ctxt")), v(&[("switches", 994708)]));
    assert_eq!(vals(chart(&c, "system.forks")), v(&[("started", 35436)]));
    assert_eq!(
        vals(chart(&c, "system.processes")),
        v(&[("running", 2), ("blocked", 0)])
    );
    assert_eq!(vals(chart(&c, "system.entropy")), v(&[("entropy", 256)]));
}

#[test]
fn load_uptime_are_fixed_point_thousandths() {
    let mut p = ProcCollector::new(basic(), 1);
    let c = p.collect_at(1_000_000_000);
    // 4.36 2.45 1.13 2/136 2971
    assert_eq!(
        vals(chart(&c, "system.load")),
        v(&[("load1", 4360), ("load5", 2450), ("load15", 1130)])
    );
    assert_eq!(
        vals(chart(&c, "system.active_processes")),
        v(&[("active", 136)])
    );
    // 1500.68 2300.81
    assert_eq!(
        vals(chart(&c, "system.uptime")),
        v(&[("uptime", 1_500_680)])
    );
}

#[test]
fn load_is_collected_every_five_seconds_only() {
    let mut p = ProcCollector::new(basic(), 1);
    let mut due = Vec::new();
    for now in 1_000_000_000..1_000_000_011 {
        if p.collect_at(now).get("system.load").is_some() {
            due.push(now - 1_000_000_000);
        }
    }
    assert_eq!(due, vec![0, 5, 10]);
}

#[test]
fn memory_is_kib_like_netdata() {
    let mut p = ProcCollector::new(basic(), 1);
    let c = p.collect_at(1_000_000_000);
    // free = MemFree; cached = Cached + SReclaimable - Shmem; used = total - free - cached - buffers
    let cached = 4_060_264 + 261_764 - 8_724;
    assert_eq!(
        vals(chart(&c, "system.ram")),
        v(&[
            ("free", 20_035_456),
            ("used", 24_684_100 - 20_035_456 - cached - 68_520),
            ("cached", cached),
            ("buffers", 68_520)
        ])
    );
    assert_eq!(
        vals(chart(&c, "mem.available")),
        v(&[("MemAvailable", 24_109_000)])
    );
    assert_eq!(
        vals(chart(&c, "mem.committed")),
        v(&[("Committed_AS", 482_212)])
    );
    assert_eq!(
        vals(chart(&c, "mem.slab")),
        v(&[("reclaimable", 261_764), ("unreclaimable", 39_320)])
    );
    assert!(
        c.get("system.swap").is_none(),
        "no swap on the fixture machine"
    );
    assert_eq!(
        vals(chart(&c, "system.pgpgio")),
        v(&[("in", 2_931_013), ("out", 5_570_040)])
    );
    assert_eq!(
        vals(chart(&c, "mem.pgfaults")),
        v(&[("minor", 29_743_412), ("major", 3369)])
    );
}

#[test]
fn network_charts_real_interfaces_with_traffic() {
    let mut p = ProcCollector::new(basic(), 1);
    let c = p.collect_at(1_000_000_000);
    assert_eq!(
        vals(chart(&c, "net.eth0")),
        v(&[("received", 75_388_342), ("sent", 184_389)])
    );
    assert_eq!(
        vals(chart(&c, "net_packets.eth0")),
        v(&[("received", 3077), ("sent", 1937), ("multicast", 0)])
    );
    // lo is disabled and virtual, ifb0/ifb1 never had traffic.
    for id in ["net.lo", "net.ifb0", "net.ifb1", "net_packets.ifb0"] {
        assert!(c.get(id).is_none(), "{id} should not be charted");
    }
    // /sys/class/net: speed -1 (unknown) is charted as 0, states are one-hot, and a chart
    // exists only when its file reads (ifb0 has no carrier).
    assert_eq!(vals(chart(&c, "net_speed.eth0")), v(&[("speed", 0)]));
    assert_eq!(
        vals(chart(&c, "net_duplex.eth0")),
        v(&[("full", 0), ("half", 0), ("unknown", 1)])
    );
    assert_eq!(
        vals(chart(&c, "net_carrier.eth0")),
        v(&[("up", 1), ("down", 0)])
    );
    assert_eq!(vals(chart(&c, "net_mtu.eth0")), v(&[("mtu", 1400)]));
    assert_eq!(chart(&c, "net_operstate.ifb0").value("down"), Some(1));
    assert_eq!(chart(&c, "net_operstate.ifb0").value("up"), Some(0));
    assert!(c.get("net_carrier.ifb0").is_none() && c.get("net_mtu.lo").is_none());
    // system.net sums physical interfaces only (lo is virtual).
    assert_eq!(
        vals(chart(&c, "system.net")),
        v(&[("InOctets", 75_388_342), ("OutOctets", 184_389)])
    );
}

#[test]
fn disks_report_sectors_and_mount_point_family() {
    let mut p = ProcCollector::new(basic(), 1);
    let c = p.collect_at(1_000_000_000);
    // vda 91861 24662 5862026 43031 14140 43956 11140080 55115 0 11400 99154 8293 56 1011376 989 623 18
    let d = chart(&c, "disk.vda");
    assert_eq!(vals(d), v(&[("reads", 5_862_026), ("writes", 11_140_080)]));
    assert_eq!(d.meta.family, "/");
    let labels: Vec<(&str, &str)> = d
        .meta
        .labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    assert!(
        labels.contains(&("mount_point", "/")) && labels.contains(&("device_type", "physical")),
        "{labels:?}"
    );
    assert_eq!(
        vals(chart(&c, "disk_ops.vda")),
        v(&[("reads", 91_861), ("writes", 14_140)])
    );
    assert_eq!(
        vals(chart(&c, "disk_mops.vda")),
        v(&[("reads", 24_662), ("writes", 43_956)])
    );
    assert_eq!(
        vals(chart(&c, "disk_iotime.vda")),
        v(&[("reads", 43_031), ("writes", 55_115)])
    );
    assert_eq!(vals(chart(&c, "disk_busy.vda")), v(&[("busy", 11_400)]));
    assert_eq!(
        vals(chart(&c, "disk_backlog.vda")),
        v(&[("backlog", 99_154)])
    );
    assert_eq!(
        vals(chart(&c, "disk_ext.vda")),
        v(&[("discards", 1_011_376)])
    );
    assert_eq!(
        vals(chart(&c, "disk_ext_ops.vda")),
        v(&[("discards", 8293), ("flushes", 623)])
    );
    // system.io: KiB of the physical disks = sectors * 512 / 1024
    assert_eq!(
        vals(chart(&c, "system.io")),
        v(&[("in", 5_862_026 / 2), ("out", 11_140_080 / 2)])
    );
    // zram0 is all zeros, loop devices are excluded; the averages need two passes.
    for id in [
        "disk.zram0",
        "disk.loop0",
        "disk_await.vda",
        "disk_svctm.vda",
        "disk_qops.vda",
    ] {
        assert!(c.get(id).is_none(), "{id} should not be charted yet");
    }
}

#[test]
fn disk_space_follows_mountinfo_and_skips_pseudo_and_excluded() {
    let mut p = ProcCollector::new(basic(), 1);
    let c = p.collect_at(1_000_000_000);
    let root = chart(&c, "disk_space._");
    assert_eq!(root.meta.family, "/");
    assert!(root
        .meta
        .labels
        .iter()
        .any(|l| l.name == "filesystem" && l.value == "ext4"));
    assert!(root.values.iter().all(Option::is_some));
    assert!(root.dims[0].multiplier > 0 && root.dims[0].divisor == 1 << 30);
    chart(&c, "disk_inodes._");
    chart(&c, "disk_space._dev");
    for id in [
        "disk_space._proc",
        "disk_space._dev_pts",
        "disk_space._sys_fs_cgroup",
    ] {
        assert!(c.get(id).is_none(), "{id} should be skipped");
    }
}

fn copy_tree(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let dst = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            std::fs::create_dir_all(&dst).expect("mkdir");
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).expect("copy");
        }
    }
}

#[test]
fn second_pass_adds_disk_averages_from_deltas() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&basic(), dir.path());
    let mut p = ProcCollector::new(dir.path(), 1);
    let _ = p.collect_at(1_000_000_000);
    // +10 reads of 80 sectors in 30 ms, +5 writes of 40 sectors in 10 ms, busy +500 ms
    let stats = std::fs::read_to_string(dir.path().join("proc/diskstats")).expect("diskstats");
    let stats = stats.replace(
        "vda 91861 24662 5862026 43031 14140 43956 11140080 55115 0 11400 ",
        "vda 91871 24662 5862106 43061 14145 43956 11140120 55125 3 11900 ",
    );
    std::fs::write(dir.path().join("proc/diskstats"), stats).expect("write");
    let c = p.collect_at(1_000_000_001);
    assert_eq!(
        vals(chart(&c, "disk.vda")),
        v(&[("reads", 5_862_106), ("writes", 11_140_120)])
    );
    assert_eq!(vals(chart(&c, "disk_util.vda")), v(&[("utilization", 50)]));
    // 3 operations in flight: disk_qops appears (it is all-zero on the first pass).
    assert_eq!(vals(chart(&c, "disk_qops.vda")), v(&[("operations", 3)]));
    assert_eq!(
        vals(chart(&c, "disk_await.vda")),
        v(&[("reads", 3), ("writes", 2)])
    );
    assert_eq!(
        vals(chart(&c, "disk_avgsz.vda")),
        v(&[("reads", 8), ("writes", 8)])
    );
    assert_eq!(vals(chart(&c, "disk_svctm.vda")), v(&[("svctm", 500 / 15)]));
    assert_eq!(
        vals(chart(&c, "disk_ext_await.vda")),
        v(&[("discards", 0), ("flushes", 0)])
    );
}

#[test]
fn vanished_interface_is_sent_obsolete_once_then_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&basic(), dir.path());
    let mut p = ProcCollector::new(dir.path(), 1);
    let v1 = p
        .collect_at(1_000_000_000)
        .get("net.eth0")
        .map(|c| c.version)
        .expect("net.eth0");
    let dev = std::fs::read_to_string(dir.path().join("proc/net/dev")).expect("net/dev");
    let dev: String = dev
        .lines()
        .filter(|l| !l.contains("eth0"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.path().join("proc/net/dev"), dev).expect("write");
    let c = p.collect_at(1_000_000_001);
    let gone = chart(&c, "net.eth0");
    assert!(gone.meta.is_obsolete());
    assert!(gone.version > v1);
    assert!(gone.values.iter().all(Option::is_none));
    assert_eq!(chart(&c, "system.net").value("InOctets"), Some(0));
    assert!(p.collect_at(1_000_000_002).get("net.eth0").is_none());
}

#[test]
fn missing_files_skip_their_charts_without_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut p = ProcCollector::new(dir.path(), 1);
    assert!(p.collect_at(1_000_000_000).charts.is_empty());
    // Garbage in every file: no panic, numbers absent or zero.
    std::fs::create_dir_all(dir.path().join("proc/net")).expect("mkdir");
    for f in [
        "proc/stat",
        "proc/meminfo",
        "proc/loadavg",
        "proc/uptime",
        "proc/vmstat",
        "proc/net/dev",
        "proc/diskstats",
    ] {
        std::fs::write(
            dir.path().join(f),
            "cpu x\n: : :\n\u{0}\u{1}garbage 99999999999999999999999999\nvda 1 2\n",
        )
        .expect("write");
    }
    let c = p.collect_at(1_000_000_001);
    for ch in &c.charts {
        assert_eq!(ch.values.len(), ch.dims.len());
    }
}

#[test]
fn self_monitoring_converts_ticks_to_microseconds() {
    let mut s = NetdataSelf::new(basic(), 1);
    let counters = DaemonCounters {
        api_clients: 3,
        api_requests: 100,
        api_bytes_in: 1000,
        api_bytes_out: 5000,
        points_stored: [10, 2, 1],
        streams_connected: 4,
        samples_ingested: 12345,
    };
    let c = s.collect(&counters);
    // utime 250 ticks, stime 75 ticks at USER_HZ 100
    assert_eq!(
        vals(chart(&c, "netdata.server_cpu")),
        v(&[("user", 2_500_000), ("system", 750_000)])
    );
    assert_eq!(vals(chart(&c, "netdata.memory")), v(&[("rss", 12_345)]));
    assert_eq!(vals(chart(&c, "netdata.clients")), v(&[("clients", 3)]));
    assert_eq!(vals(chart(&c, "netdata.requests")), v(&[("requests", 100)]));
    assert_eq!(
        vals(chart(&c, "netdata.net")),
        v(&[("in", 1000), ("out", 5000)])
    );
    assert_eq!(
        vals(chart(&c, "netdata.db_points_stored")),
        v(&[("tier0", 10), ("tier1", 2), ("tier2", 1)])
    );
    assert_eq!(vals(chart(&c, "netdata.streams")), v(&[("connected", 4)]));
    assert_eq!(
        vals(chart(&c, "netdata.samples_ingested")),
        v(&[("samples", 12345)])
    );
    assert!(chart(&c, "netdata.uptime").value("uptime").is_some());
}

#[test]
fn per_cpu_tables_name_and_sum_like_netdata() {
    let mut p = ProcCollector::new(basic(), 1);
    let c = p.collect_at(1_000_000_000);
    let sys = chart(&c, "system.interrupts");
    // " 36:          0      91301 PCI-MSIX-0000:00:02.0   1-edge      virtio1-req.0"
    let d36 = sys.dims.iter().find(|d| d.id == "36").expect("dim 36");
    assert_eq!(d36.name, "virtio1-req.0_36");
    assert_eq!(sys.value("36"), Some(91301));
    // "LOC:     153971     174435   Local timer interrupts"
    assert_eq!(sys.value("LOC"), Some(153_971 + 174_435));
    assert_eq!(
        sys.dims
            .iter()
            .find(|d| d.id == "LOC")
            .map(|d| d.name.as_str()),
        Some("LOC")
    );
    // Never-active interrupts are not dimensions; cpu0 never saw irq 36.
    assert!(!sys.dims.iter().any(|d| d.id == "NMI"));
    assert!(!chart(&c, "cpu.cpu0_interrupts")
        .dims
        .iter()
        .any(|d| d.id == "36"));
    assert_eq!(chart(&c, "cpu.cpu1_interrupts").value("36"), Some(91301));

    assert_eq!(
        chart(&c, "system.softirqs").value("TIMER"),
        Some(30184 + 28431)
    );
    assert!(chart(&c, "cpu.cpu0_softirqs").value("BLOCK").is_none());
    assert_eq!(chart(&c, "cpu.cpu1_softirqs").value("BLOCK"), Some(91293));
    assert!(!chart(&c, "system.softirqs")
        .dims
        .iter()
        .any(|d| d.id == "HRTIMER"));

    // softnet_stat is hexadecimal: 0x377 + 0x1189
    assert_eq!(
        chart(&c, "system.softnet_stat").value("processed"),
        Some(0x377 + 0x1189)
    );
    assert_eq!(
        chart(&c, "cpu.cpu1_softnet_stat").value("received_rps"),
        Some(0)
    );
    assert_eq!(
        chart(&c, "cpu.cpu1_softnet_stat").value("processed"),
        Some(0x1189)
    );
}

#[test]
fn pressure_shares_are_hundredths_and_stall_time_ms() {
    let mut p = ProcCollector::new(basic(), 1);
    let c = p.collect_at(1_000_000_000);
    // some avg10=76.02 avg60=50.29 avg300=38.60 total=237100787
    assert_eq!(
        vals(chart(&c, "system.cpu_some_pressure")),
        v(&[("some 10", 7602), ("some 60", 5029), ("some 300", 3860)])
    );
    assert_eq!(
        vals(chart(&c, "system.cpu_some_pressure_stall_time")),
        v(&[("time", 237_100)])
    );
    assert_eq!(
        vals(chart(&c, "system.io_full_pressure_stall_time")),
        v(&[("time", 2_988)])
    );
    assert_eq!(chart(&c, "system.io_full_pressure").meta.update_every, 2);
    // Every 2 s only.
    assert!(p
        .collect_at(1_000_000_001)
        .get("system.cpu_some_pressure")
        .is_none());
}

#[test]
fn protocol_counters_come_from_snmp_netstat_snmp6_and_sockstat() {
    let mut p = ProcCollector::new(basic(), 1);
    let c = p.collect_at(1_000_000_000);
    // Ip: 2 64 11834 0 0 0 0 0 11834 10292 ...
    assert_eq!(
        vals(chart(&c, "ipv4.packets")),
        v(&[
            ("InReceives", 11834),
            ("OutRequests", 10292),
            ("ForwDatagrams", 0),
            ("InDelivers", 11834)
        ])
    );
    // Tcp: ... CurrEstab = 2 (absolute); MaxConn -1 is not charted.
    assert_eq!(vals(chart(&c, "ipv4.tcpsock")), v(&[("CurrEstab", 2)]));
    assert_eq!(
        vals(chart(&c, "ipv4.tcppackets")),
        v(&[("InSegs", 11768), ("OutSegs", 10244)])
    );
    // IpExt InOctets/OutOctets of /proc/net/netstat
    assert_eq!(
        vals(chart(&c, "system.ip")),
        v(&[("InOctets", 105_192_534), ("OutOctets", 7_630_862)])
    );
    assert_eq!(
        vals(chart(&c, "system.ipv6")),
        v(&[("InOctets", 128), ("OutOctets", 880)])
    );
    // sockstat: "TCP: inuse 4 orphan 0 tw 421 alloc 4 mem 42" (mem in pages, multiplier 4096)
    assert_eq!(
        vals(chart(&c, "ipv4.sockstat_tcp_sockets")),
        v(&[("alloc", 4), ("orphan", 0), ("inuse", 4), ("timewait", 421)])
    );
    assert_eq!(vals(chart(&c, "ipv4.sockstat_tcp_mem")), v(&[("mem", 42)]));
    assert_eq!(vals(chart(&c, "ipv4.sockstat_sockets")), v(&[("used", 32)]));
    // Netdata's fixed list of ICMPv6 types; types absent from the file read as 0.
    let types = chart(&c, "ipv6.icmptypes");
    assert_eq!(types.dims.len(), 10);
    assert_eq!(types.value("OutType135"), Some(4));
    assert_eq!(types.value("InType128"), Some(0));
    // ipv4.icmp_errors (all zero here) appears together with ipv4.icmp, as in Netdata.
    assert_eq!(
        vals(chart(&c, "ipv4.icmp_errors")),
        v(&[("InErrors", 0), ("OutErrors", 0), ("InCsumErrors", 0)])
    );
}

#[test]
fn all_zero_protocol_charts_stay_hidden() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&basic(), dir.path());
    let snmp = std::fs::read_to_string(dir.path().join("proc/net/snmp")).expect("snmp");
    // Zero every Icmp counter.
    let snmp: String = snmp
        .lines()
        .map(|l| {
            if l.starts_with("Icmp: ") && l.as_bytes().get(6).is_some_and(u8::is_ascii_digit) {
                let n = l.split_whitespace().count() - 1;
                format!("Icmp:{}\n", " 0".repeat(n))
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(dir.path().join("proc/net/snmp"), snmp).expect("write");
    let mut p = ProcCollector::new(dir.path(), 1);
    let c = p.collect_at(1_000_000_000);
    assert!(c.get("ipv4.icmp").is_none() && c.get("ipv4.icmp_errors").is_none());
    assert!(c.get("ipv4.packets").is_some());
}

#[test]
fn conntrack_ipc_and_zram_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&basic(), dir.path());
    let w = |rel: &str, text: &str| std::fs::write(dir.path().join(rel), text).expect("write");
    w(
        "proc/net/stat/nf_conntrack",
        "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n\
         00000007  00000000 00000001 0000000a 00000002 00000003 00000004 00000000 00000005 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000001\n\
         00000007  00000000 00000001 00000010 00000002 00000003 00000004 00000000 00000005 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000001\n",
    );
    std::fs::remove_file(dir.path().join("proc/sys/net/netfilter/nf_conntrack_count")).ok();
    w("proc/sysvipc/sem", "       key      semid perms      nsems   uid\n         0          0   600          4     0\n         0          1   600          2     0\n");
    w("proc/sysvipc/shm", "       key      shmid perms                  size  cpid\n         0          0   600               4096   1\n");
    // orig compr used limit max same compacted
    w("sys/block/zram0/mm_stat", "4096 1024 2048 0 2048 0 0\n");
    let mut p = ProcCollector::new(dir.path(), 1);
    let c = p.collect_at(1_000_000_000);
    // entries is global (first line), the others are per-CPU and summed.
    assert_eq!(
        vals(chart(&c, "netfilter.conntrack_sockets")),
        v(&[("connections", 7)])
    );
    assert_eq!(
        vals(chart(&c, "netfilter.conntrack_new")),
        v(&[("new", 0xa + 0x10), ("ignore", 6), ("invalid", 4)])
    );
    assert_eq!(
        vals(chart(&c, "netfilter.conntrack_search")),
        v(&[("searched", 0), ("restarted", 2), ("found", 2)])
    );
    assert_eq!(
        vals(chart(&c, "system.ipc_semaphores")),
        v(&[("semaphores", 6)])
    );
    assert_eq!(
        vals(chart(&c, "system.ipc_semaphore_arrays")),
        v(&[("arrays", 2)])
    );
    assert_eq!(
        vals(chart(&c, "system.shared_memory_segments")),
        v(&[("segments", 1)])
    );
    assert_eq!(
        vals(chart(&c, "system.shared_memory_bytes")),
        v(&[("bytes", 4096)])
    );
    assert_eq!(
        vals(chart(&c, "mem.zram_usage.zram0")),
        v(&[("compressed", 1024), ("metadata", 1024)])
    );
    assert_eq!(
        vals(chart(&c, "mem.zram_savings.zram0")),
        v(&[("savings", 1024 - 4096), ("original", 4096)])
    );
    assert_eq!(
        vals(chart(&c, "mem.zram_ratio.zram0")),
        v(&[("ratio", 400)])
    );
    assert_eq!(
        vals(chart(&c, "mem.zram_efficiency.zram0")),
        v(&[("percent", 500_000)])
    );
}

#[test]
fn source_that_appears_later_is_picked_up_after_backoff() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&basic(), dir.path());
    std::fs::remove_file(dir.path().join("proc/loadavg")).expect("rm");
    let mut p = ProcCollector::new(dir.path(), 1);
    let mut now = 1_000_000_000;
    assert!(p.collect_at(now).get("system.active_processes").is_none());
    std::fs::copy(
        basic().join("proc/loadavg"),
        dir.path().join("proc/loadavg"),
    )
    .expect("cp");
    // Retried within a bounded number of passes (never every pass).
    let mut seen_after = None;
    for pass in 1..=200 {
        now += 1;
        if p.collect_at(now).get("system.active_processes").is_some() {
            seen_after = Some(pass);
            break;
        }
    }
    let n = seen_after.expect("loadavg picked up again");
    assert!(n > 1, "a missing file is not retried on every pass");
}

#[test]
fn interface_drop_and_event_charts_appear_when_non_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&basic(), dir.path());
    let mut p = ProcCollector::new(dir.path(), 1);
    assert!(p.collect_at(1_000_000_000).get("net_drops.eth0").is_none());
    let dev = std::fs::read_to_string(dir.path().join("proc/net/dev")).expect("net/dev");
    // eth0: 2 receive drops, 1 transmit drop, 4 collisions.
    let dev = dev.replace(
        "eth0: 75388342    3077    0    0    0     0          0         0   184389    1937    0    0    0     0",
        "eth0: 75388342    3077    0    2    0     0          0         0   184389    1937    0    1    0     4",
    );
    std::fs::write(dir.path().join("proc/net/dev"), dev).expect("write");
    let c = p.collect_at(1_000_000_001);
    assert_eq!(
        vals(chart(&c, "net_drops.eth0")),
        v(&[("inbound", 2), ("outbound", 1)])
    );
    assert_eq!(
        vals(chart(&c, "net_events.eth0")),
        v(&[("frames", 0), ("collisions", 4), ("carrier", 0)])
    );
    let d = chart(&c, "net_drops.eth0");
    assert_eq!(
        (
            d.meta.context.as_str(),
            d.meta.priority,
            d.dims[1].multiplier
        ),
        ("net.drops", 7003, -1)
    );
    assert!(c.get("net_errors.eth0").is_none() && c.get("net_fifo.eth0").is_none());
}
