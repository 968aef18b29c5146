//! Collects the real machine (`/`) and checks the required charts exist with sane values.

use ndcluster::collect::proc::{DaemonCounters, NetdataSelf, ProcCollector};

const REQUIRED: &[&str] = &[
    "system.cpu",
    "system.load",
    "system.ram",
    "mem.available",
    "system.io",
    "system.net",
    "system.processes",
    "system.ctxt",
    "system.intr",
    "system.forks",
    "system.uptime",
];

#[test]
fn real_root_produces_required_charts() {
    let mut c = ProcCollector::new("/", 1);
    let ids: Vec<String> = c
        .collect_at(1_000_000_000)
        .charts
        .iter()
        .map(|c| c.meta.id.clone())
        .collect();
    if let Some(path) = std::env::var_os("PROC_DUMP_DEFS") {
        // One line per chart: the fields /api/v1/charts shows, for comparing with a real agent.
        let col = c.collect_at(1_000_000_005);
        let text: String = col
            .charts
            .iter()
            .map(|ch| {
                let m = &ch.meta;
                let dims: Vec<&str> = ch.dims.iter().map(|d| d.name.as_str()).collect();
                format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                    m.id,
                    m.title,
                    m.units,
                    m.family,
                    m.context,
                    m.chart_type.as_str(),
                    m.priority,
                    m.update_every,
                    m.plugin,
                    m.module,
                    dims.join(",")
                )
            })
            .collect();
        std::fs::write(path, text).expect("write dump");
    }
    if std::env::var_os("PROC_DUMP").is_some() {
        let col = c.collect_at(1_000_000_001);
        for ch in &col.charts {
            let vals: Vec<String> = ch
                .dims
                .iter()
                .zip(&ch.values)
                .map(|(d, v)| format!("{}={:?}", d.id, v))
                .collect();
            eprintln!("{} [{}] {}", ch.meta.id, ch.meta.family, vals.join(" "));
        }
    }
    for r in REQUIRED {
        assert!(ids.iter().any(|i| i == r), "missing chart {r} in {ids:?}");
    }
    assert!(
        ids.iter().any(|i| i.starts_with("cpu.cpu")),
        "no cpu.cpuN in {ids:?}"
    );
    assert!(
        ids.iter().any(|i| i.starts_with("disk_space.")),
        "no disk_space.* in {ids:?}"
    );
    let col = c.collect_at(1_000_000_001);
    for ch in &col.charts {
        assert_eq!(ch.values.len(), ch.dims.len(), "{}", ch.meta.id);
    }
    let cpu = col.get("system.cpu").expect("system.cpu");
    assert!(cpu.values.iter().all(|v| v.is_some()));
    let idle = cpu.value("idle").expect("idle");
    assert!(idle > 0);
    let ram = col.get("system.ram").expect("system.ram");
    assert!(ram.value("free").unwrap_or(0) > 0);
}

#[test]
fn real_self_monitoring_reads_own_process() {
    let mut s = NetdataSelf::new("/", 1);
    let counters = DaemonCounters {
        api_requests: 7,
        streams_connected: 2,
        ..Default::default()
    };
    let col = s.collect(&counters);
    let mem = col.get("netdata.memory").expect("netdata.memory");
    assert!(mem.value("rss").unwrap_or(0) > 0);
    assert!(col
        .get("netdata.server_cpu")
        .and_then(|c| c.value("user"))
        .is_some());
    assert_eq!(
        col.get("netdata.requests")
            .and_then(|c| c.value("requests")),
        Some(7)
    );
    assert_eq!(
        col.get("netdata.streams")
            .and_then(|c| c.value("connected")),
        Some(2)
    );
}
