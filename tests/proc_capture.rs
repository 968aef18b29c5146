//! Our chart and dimension definitions against the ones a real Netdata 1.37.1 child sent
//! (`tests/fixtures/proc/capture-charts.txt`, taken from the capture of the machine the
//! `basic` fixture was copied from).

use std::collections::BTreeMap;
use std::path::PathBuf;

use ndcluster::collect::proc::{CollectedChart, DaemonCounters, NetdataSelf, ProcCollector};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc")
}

/// Splits a line of the stream protocol into words; `"..."` quoted words may hold spaces.
fn split_quoted(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let Some(&c) = chars.peek() else { break };
        let mut w = String::new();
        if c == '"' {
            chars.next();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                w.push(c);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                w.push(c);
                chars.next();
            }
        }
        out.push(w);
    }
    out
}

#[derive(Debug, Default)]
struct CapChart {
    words: Vec<String>,
    labels: Vec<Vec<String>>,
    dims: Vec<Vec<String>>,
}

fn capture() -> BTreeMap<String, CapChart> {
    let text =
        std::fs::read_to_string(fixtures().join("capture-charts.txt")).expect("capture fixture");
    let mut map = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let w = split_quoted(line);
        match w.first().map(String::as_str) {
            Some("CHART") => {
                let id = w[1].clone();
                map.insert(
                    id.clone(),
                    CapChart {
                        words: w,
                        ..Default::default()
                    },
                );
                current = Some(id);
            }
            Some("CLABEL") => {
                if let Some(c) = current.as_ref().and_then(|id| map.get_mut(id)) {
                    c.labels.push(w);
                }
            }
            Some("DIMENSION") => {
                if let Some(c) = current.as_ref().and_then(|id| map.get_mut(id)) {
                    c.dims.push(w);
                }
            }
            _ => {}
        }
    }
    map
}

/// Our chart as the words Netdata would send (`CHART`, `CLABEL`, `DIMENSION` lines).
fn ours(c: &CollectedChart) -> CapChart {
    let m = &c.meta;
    let words = vec![
        "CHART".to_string(),
        m.id.clone(),
        if m.name == m.id {
            String::new()
        } else {
            m.name.clone()
        },
        m.title.clone(),
        m.units.clone(),
        m.family.clone(),
        m.context.clone(),
        m.chart_type.as_str().to_string(),
        m.priority.to_string(),
        m.update_every.to_string(),
        format!(" {}  ", m.options).replace("   ", "   "),
        m.plugin.clone(),
        m.module.clone(),
    ];
    let labels = m
        .labels
        .iter()
        .map(|l| {
            vec![
                "CLABEL".to_string(),
                l.name.clone(),
                l.value.clone(),
                l.source.to_string(),
            ]
        })
        .collect();
    let dims = c
        .dims
        .iter()
        .map(|d| {
            vec![
                "DIMENSION".to_string(),
                d.id.clone(),
                d.name.clone(),
                d.algorithm.as_str().to_string(),
                d.multiplier.to_string(),
                d.divisor.to_string(),
                format!(" {} ", d.options),
            ]
        })
        .collect();
    CapChart {
        words,
        labels,
        dims,
    }
}

/// Netdata's option field: " detail  " / "   " — compare the words only.
fn norm_words(w: &[String]) -> Vec<String> {
    w.iter()
        .enumerate()
        .map(|(i, x)| {
            if i == 10 {
                x.split_whitespace().collect::<Vec<_>>().join(" ")
            } else {
                x.clone()
            }
        })
        .collect()
}

fn norm_dim(w: &[String]) -> Vec<String> {
    w.iter()
        .enumerate()
        .map(|(i, x)| {
            if i == 6 {
                x.trim().to_string()
            } else {
                x.clone()
            }
        })
        .collect()
}

fn collect_fixture() -> Vec<CollectedChart> {
    let mut c = ProcCollector::new(fixtures().join("basic"), 1);
    let mut all: BTreeMap<String, CollectedChart> = BTreeMap::new();
    // Two passes (the averages of diskstats appear on the second); the first at a multiple
    // of 5 s so that system.load is due.
    for now in [1_000_000_000, 1_000_000_001] {
        for ch in c.collect_at(now).charts {
            all.entry(ch.meta.id.clone()).or_insert_with(|| ch.clone());
        }
    }
    let mut s = NetdataSelf::new(fixtures().join("basic"), 1);
    for ch in s.collect(&DaemonCounters::default()).charts {
        all.insert(ch.meta.id.clone(), ch.clone());
    }
    all.into_values().collect()
}

/// Contexts whose dimensions depend on activity (created when first non-zero).
const DYNAMIC_DIMS: &[&str] = &[
    "system.interrupts",
    "cpu.interrupts",
    "system.softirqs",
    "cpu.softirqs",
    "ipv6.icmptypes",
];

/// The charts issue 3 requires, with the names they have on the capture's machine.
const REQUIRED: &[&str] = &[
    "system.cpu",
    "cpu.cpu0",
    "cpu.cpu1",
    "system.load",
    "system.ram",
    "mem.available",
    "system.io",
    "system.net",
    "net.eth0",
    "net_packets.eth0",
    "disk.vda",
    "disk_ops.vda",
    "disk_space._",
    "system.processes",
    "system.ctxt",
    "system.intr",
    "system.forks",
    "system.uptime",
    "netdata.server_cpu",
];

#[test]
fn chart_definitions_match_capture() {
    let cap = capture();
    let produced = collect_fixture();
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for ch in &produced {
        let Some(want) = cap.get(&ch.meta.id) else {
            continue;
        };
        compared += 1;
        let got = ours(ch);
        if norm_words(&got.words) != norm_words(&want.words) {
            mismatches.push(format!(
                "{}: CHART\n  ours {:?}\n  want {:?}",
                ch.meta.id,
                norm_words(&got.words),
                norm_words(&want.words)
            ));
        }
        if got.labels != want.labels {
            mismatches.push(format!(
                "{}: CLABEL\n  ours {:?}\n  want {:?}",
                ch.meta.id, got.labels, want.labels
            ));
        }
        let (mut g, mut w): (Vec<_>, Vec<_>) = (
            got.dims.iter().map(|d| norm_dim(d)).collect(),
            want.dims.iter().map(|d| norm_dim(d)).collect(),
        );
        if DYNAMIC_DIMS.contains(&ch.meta.context.as_str()) {
            // Dimensions appear with activity, which differs between the capture and the
            // fixture: compare the ones both have.
            let (gi, wi): (Vec<String>, Vec<String>) = (
                g.iter().map(|d| d[1].clone()).collect(),
                w.iter().map(|d| d[1].clone()).collect(),
            );
            g.retain(|d| wi.contains(&d[1]));
            w.retain(|d| gi.contains(&d[1]));
            assert!(!g.is_empty(), "{}: no common dimension", ch.meta.id);
        }
        if g != w {
            mismatches.push(format!(
                "{}: DIMENSION\n  ours {:?}\n  want {:?}",
                ch.meta.id, g, w
            ));
        }
    }
    assert!(
        compared >= REQUIRED.len(),
        "only {compared} charts compared"
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn required_charts_are_produced_and_in_capture() {
    let cap = capture();
    let produced = collect_fixture();
    for r in REQUIRED {
        assert!(
            cap.contains_key(*r),
            "{r} is not in the capture (fixture drift?)"
        );
        assert!(
            produced.iter().any(|c| c.meta.id == *r),
            "we do not produce {r}"
        );
    }
}

/// Coverage report: which of the capture's charts we produce from the fixture. Run with
/// `--nocapture` to read it. Fails only if coverage drops below the required set.
#[test]
fn chart_list_matches_capture() {
    let cap = capture();
    let produced = collect_fixture();
    let ours: std::collections::BTreeSet<&str> =
        produced.iter().map(|c| c.meta.id.as_str()).collect();
    let (have, missing): (Vec<&String>, Vec<&String>) =
        cap.keys().partition(|k| ours.contains(k.as_str()));
    let extra: Vec<&&str> = ours.iter().filter(|k| !cap.contains_key(**k)).collect();
    eprintln!(
        "capture charts: {}, produced by us: {}, missing: {}",
        cap.len(),
        have.len(),
        missing.len()
    );
    eprintln!("missing: {missing:?}");
    eprintln!("ours only: {extra:?}");
    assert!(have.len() >= REQUIRED.len());
}
