//! netdata.conf: defaults, real files, aliases, and every kind of bad value.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use ndcluster::config::{BindHost, ConfigError, DbMode, NetdataConf, WebAcl};
use ndcluster::storage::StoreConfig;

fn parse(text: &str) -> (NetdataConf, Vec<ndcluster::config::Warning>) {
    NetdataConf::parse_str(text, "netdata.conf").unwrap_or_else(|e| panic!("{e}"))
}

fn error_of(text: &str) -> ConfigError {
    match NetdataConf::parse_str(text, "netdata.conf") {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e,
    }
}

#[test]
fn defaults_match_the_store_defaults_and_the_brief() {
    let c = NetdataConf::default();
    assert_eq!(c.store_config(), StoreConfig::default());
    assert_eq!(c.db.mode, DbMode::Dbengine);
    assert_eq!(c.db.storage_tiers, 3);
    assert_eq!(c.db.update_every, 1);
    assert!(c.db.enable_replication);
    assert_eq!((c.db.seconds_to_replicate, c.db.seconds_per_replication_step), (86_400, 600));
    assert!(c.db.flush_interval_secs <= 10);
    assert_eq!(c.web.bind_to.len(), 1);
    assert_eq!(
        c.web.bind_to[0].socket_addrs().expect("addr"),
        vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 19999)]
    );
    assert!(!c.hostname.is_empty());
    assert!(c.proc_plugin);
    // an empty file is the defaults
    let (e, w) = parse("");
    assert_eq!(e, c);
    assert!(w.is_empty());
}

#[test]
fn user_defaults_put_everything_under_one_directory() {
    let c = NetdataConf::user_defaults(Path::new("/home/u/.local/share/netdatad"));
    assert_eq!(c.directories.config, Path::new("/home/u/.local/share/netdatad"));
    assert_eq!(c.directories.cache, Path::new("/home/u/.local/share/netdatad/cache"));
    assert!(c.directories.lib.starts_with("/home/u/.local/share/netdatad"));
    assert!(c.directories.log.starts_with("/home/u/.local/share/netdatad"));
    // a file loaded over them overrides only what it sets
    let doc = ndcluster::config::IniDocument::parse("[directories]\n  cache = /fast/cache\n", "n.conf");
    let (c2, _) = NetdataConf::from_document(&doc, c.clone()).expect("ok");
    assert_eq!(c2.directories.cache, Path::new("/fast/cache"));
    assert_eq!(c2.directories.lib, c.directories.lib);
}

#[test]
fn real_files_of_netdata_1_37_1_load() {
    // The lab's netdata.conf, which a real 1.37.1 agent runs with.
    let (c, w) = NetdataConf::load(Path::new("tests/fixtures/config/lab-netdata.conf")).expect("lab");
    assert_eq!(c.hostname, "ndparent-39601");
    assert_eq!(c.directories.cache, Path::new("/tmp/apiref/cache"));
    assert_eq!(c.web.bind_to[0].socket_addrs().expect("a"), vec!["127.0.0.1:39601".parse().expect("sa")]);
    assert!(c.proc_plugin);
    // its [health], [ml], [cloud] sections and non-proc plugins are reported, not fatal
    assert!(w.iter().any(|w| w.message.contains("[health]")), "{w:?}");
    assert!(w.iter().any(|w| w.line == 20 && w.message.contains("apps")), "{w:?}");
    assert!(w.iter().all(|w| w.file.ends_with("lab-netdata.conf") && w.line > 0));

    // What a real agent serves at /netdata.conf (mostly commented-out defaults).
    let (c, _) = NetdataConf::load(Path::new("tests/fixtures/config/generated-netdata-1.37.1.conf")).expect("gen");
    assert_eq!(c.hostname, "ndparent-39517");
    assert_eq!(c.web.bind_to[0].port, 39517);
    assert_eq!(c.db, NetdataConf::default().db);

    // Debian's stock file.
    let (c, w) = NetdataConf::load(Path::new("tests/fixtures/config/debian-netdata.conf")).expect("debian");
    assert_eq!(c.web, NetdataConf::default().web);
    assert!(w.iter().any(|w| w.message.contains("run as user")));
}

#[test]
fn uncommented_generated_db_section_reads_the_1_37_spellings() {
    // Uncomment every `# key = value` of [db] in the agent-generated file: this is what a user
    // of 1.37.1 would have after editing it.
    let text = std::fs::read_to_string("tests/fixtures/config/generated-netdata-1.37.1.conf").expect("read");
    let mut in_db = false;
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with('[') {
            in_db = line == "[db]";
        }
        let l = if in_db { line.replacen("\t# ", "\t", 1) } else { line.to_string() };
        out.push_str(&l);
        out.push('\n');
    }
    let (c, w) = parse(&out);
    let mib = 1u64 << 20;
    assert_eq!(c.db.tiers[0].retention_bytes, 256 * mib, "dbengine multihost disk space MB = 256");
    assert_eq!(c.db.tiers[1].retention_bytes, 128 * mib);
    assert_eq!(c.db.tiers[2].retention_bytes, 64 * mib);
    assert_eq!(c.db.tiers[1].update_every_iterations, 60);
    assert_eq!(c.db.storage_tiers, 3);
    // `dbengine disk space MB = 256` is overridden by the multihost spelling, and says so
    assert!(w.iter().any(|w| w.message.contains("dbengine disk space MB is overridden")), "{w:?}");
    assert!(w.iter().any(|w| w.message.contains("page cache size")));
    let sc = c.store_config();
    assert_eq!(sc.tiers.len(), 3);
    assert_eq!(sc.tiers[0].iterations, 1);
    assert_eq!(sc.tiers[2].retention_bytes, 64 * mib);
}

#[test]
fn new_spellings_units_and_precedence() {
    let (c, w) = parse(
        "[global]\n  update every = 5\n[db]\n  mode = save\n  storage tiers = 5\n\
         dbengine tier 0 retention size = 2GiB\n  dbengine multihost disk space MB = 100\n\
         dbengine tier 1 retention size = 1.5GiB\n  dbengine tier 2 retention size = 500MB\n\
         dbengine tier 3 retention size = 300\n  dbengine tier 4 disk space MB = 42\n\
         dbengine tier 0 retention time = 14d\n  dbengine tier 1 retention time = 3mo\n\
         dbengine tier 2 retention time = 2y\n  dbengine tier 3 retention days = 7\n\
         dbengine tier 4 retention time = 1d12h\n\
         dbengine tier 1 update every iterations = 10\n  dbengine tier 0 update every iterations = 5\n\
         dbengine flush interval = 2s\n  enable replication = no\n  seconds to replicate = 3600\n\
         seconds per replication step = 60\n[plugins]\n  proc = no\n",
    );
    let t = &c.db.tiers;
    assert_eq!(c.db.mode, DbMode::Dbengine);
    assert!(w.iter().any(|w| w.line == 4 && w.message.contains("read as dbengine")), "{w:?}");
    assert_eq!(c.db.update_every, 5, "[global] update every is read when [db] has none");
    assert_eq!(t[0].retention_bytes, 2 << 30);
    assert!(w.iter().any(|w| w.line == 7 && w.message.contains("overridden")), "{w:?}");
    assert_eq!(t[1].retention_bytes, 3 << 29);
    assert_eq!(t[2].retention_bytes, 500_000_000);
    assert_eq!(t[3].retention_bytes, 300 << 20, "a bare size is MiB");
    assert_eq!(t[4].retention_bytes, 42 << 20);
    assert_eq!(t[0].retention_secs, 14 * 86_400);
    assert_eq!(t[1].retention_secs, 90 * 86_400);
    assert_eq!(t[2].retention_secs, 730 * 86_400);
    assert_eq!(t[3].retention_secs, 7 * 86_400);
    assert_eq!(t[4].retention_secs, 86_400 + 43_200);
    assert_eq!(t[1].update_every_iterations, 10);
    assert!(w.iter().any(|w| w.message.contains("tier 0 stores every point")));
    assert_eq!(c.db.flush_interval_secs, 2);
    assert!(!c.db.enable_replication);
    assert_eq!((c.db.seconds_to_replicate, c.db.seconds_per_replication_step), (3600, 60));
    assert!(!c.proc_plugin);
    let sc = c.store_config();
    assert_eq!(sc.tiers.len(), 5);
    assert_eq!(sc.tiers[1].iterations, 10);
    assert_eq!(sc.flush_interval_secs, 2);
    assert_eq!(sc.tier_width(1, 5), 50);

    let (c, _) = parse("[global]\n update every = 5\n[db]\n update every = 2\n mode = ram\n");
    assert_eq!(c.db.update_every, 2, "[db] wins over [global]");
    assert_eq!(c.db.mode, DbMode::Ram);
}

#[test]
fn bind_to_syntax() {
    let (c, _) = parse(
        "[web]\n default port = 20000\n bind to = 127.0.0.1 [::1]:19998=streaming|dashboard , *:0=management^SSL=optional localhost:1 tcp:10.1.2.3%eth0:5 unix:/run/nd.sock\n",
    );
    let b = &c.web.bind_to;
    assert_eq!(b.len(), 6);
    assert_eq!(
        (b[0].host.clone(), b[0].port, b[0].acl),
        (BindHost::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)), 20000, WebAcl::ALL)
    );
    assert_eq!(b[1].host, BindHost::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    assert_eq!(b[1].port, 19998);
    assert!(b[1].acl.streaming && b[1].acl.dashboard && !b[1].acl.management && !b[1].acl.registry);
    assert_eq!(b[2].host, BindHost::Any);
    assert_eq!(b[2].socket_addrs().expect("any").len(), 2);
    assert!(b[2].acl.management && !b[2].acl.streaming);
    assert_eq!(b[3].host, BindHost::Name("localhost".into()));
    assert_eq!(b[4].interface.as_deref(), Some("eth0"));
    assert_eq!(b[5].host, BindHost::Unix("/run/nd.sock".into()));
}

/// (file text, line, key, value, a word of what is accepted)
const BAD: &[(&str, usize, &str, &str, &str)] = &[
    ("[db]\n  storage tiers = 9\n", 2, "storage tiers", "9", "expected a number from 1 to 5"),
    ("[db]\n  storage tiers = 0\n", 2, "storage tiers", "0", "from 1 to 5"),
    ("[db]\n  storage tiers = three\n", 2, "storage tiers", "three", "from 1 to 5"),
    ("[db]\n dbengine tier 1 retention size = 12XB\n", 2, "dbengine tier 1 retention size", "12XB", "MiB"),
    ("[db]\n dbengine tier 0 retention size = 1gib\n", 2, "dbengine tier 0 retention size", "1gib", "GiB"),
    ("[db]\n dbengine tier 0 retention size = 10B\n", 2, "dbengine tier 0 retention size", "10B", "1KiB"),
    ("[db]\n dbengine multihost disk space MB = 1GiB\n", 2, "dbengine multihost disk space MB", "1GiB", "number"),
    ("[db]\n dbengine tier 2 retention time = 5x\n", 2, "dbengine tier 2 retention time", "5x", "14d"),
    ("[db]\n dbengine tier 2 retention time = 500y\n", 2, "dbengine tier 2 retention time", "500y", "100y"),
    (
        "[db]\n dbengine tier 1 update every iterations = 1\n",
        2,
        "dbengine tier 1 update every iterations",
        "1",
        "2 to 1000",
    ),
    ("[db]\n mode = memory\n", 2, "mode", "memory", "dbengine, ram or none"),
    ("[db]\n update every = 0\n", 2, "update every", "0", "1 to 600"),
    ("[global]\n update every = 601\n", 2, "update every", "601", "1 to 600"),
    ("[db]\n enable replication = maybe\n", 2, "enable replication", "maybe", "yes or no"),
    ("[db]\n dbengine flush interval = 30s\n", 2, "dbengine flush interval", "30s", "1s to 10s"),
    ("[db]\n seconds per replication step = 0\n", 2, "seconds per replication step", "0", "from 1"),
    ("[plugins]\n proc = 1\n", 2, "proc", "1", "yes or no"),
    ("[web]\n bind to = 127.0.0.1:99999\n", 2, "bind to", "127.0.0.1:99999", "port"),
    ("[web]\n bind to = 127.0.0.1:19999=everything\n", 2, "bind to", "127.0.0.1:19999=everything", "ACL"),
    ("[web]\n bind to = [::1\n", 2, "bind to", "[::1", "IPv6"),
    ("[web]\n bind to = [nope]:1\n", 2, "bind to", "[nope]:1", "IPv6"),
    ("[web]\n bind to = udp:127.0.0.1\n", 2, "bind to", "udp:127.0.0.1", "udp"),
    ("[web]\n bind to = 1.2.3.4:1=dashboard^SSL=force\n", 2, "bind to", "1.2.3.4:1=dashboard^SSL=force", "TLS"),
    ("[web]\n bind to = ho$t:1\n", 2, "bind to", "ho$t:1", "host name"),
    ("[web]\n bind to =\n", 2, "bind to", "", "no entry"),
    ("[web]\n default port = 0\n", 2, "default port", "0", "1 to 65535"),
    ("[directories]\n cache =\n", 2, "cache", "", "directory"),
    ("[global]\n hostname =\n", 2, "hostname", "", "host name"),
];

#[test]
fn every_bad_value_is_an_error_naming_file_line_section_key_value_and_what_is_accepted() {
    for (text, line, key, value, accepted) in BAD {
        let err = error_of(text);
        let v = err.value_errors();
        assert_eq!(v.len(), 1, "{text}: {err}");
        let v = &v[0];
        assert_eq!(
            (v.file.as_str(), v.line, v.key.as_str(), v.value.as_str()),
            ("netdata.conf", *line, *key, *value),
            "{text}"
        );
        assert!(v.expected.contains(accepted), "{text}: {}", v.expected);
        let shown = err.to_string();
        let section = text.trim_start_matches('[').split(']').next().unwrap_or("");
        assert!(shown.starts_with(&format!("netdata.conf:{line}: [{section}] {key} = {value}: ")), "{shown}");
    }
}

#[test]
fn the_display_of_a_bad_tier_count_is_exact() {
    let text = "[global]\n\n\n\n\n\n\n\n\n\n[db]\n  storage tiers = 9\n";
    assert_eq!(error_of(text).to_string(), "netdata.conf:12: [db] storage tiers = 9: expected a number from 1 to 5");
}

#[test]
fn all_bad_values_are_reported_together_in_file_order() {
    let err = error_of("[db]\n mode = x\n storage tiers = 9\n[web]\n bind to = :99999\n");
    let lines: Vec<usize> = err.value_errors().iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![2, 3, 5]);
    assert_eq!(err.to_string().lines().count(), 3);
}

#[test]
fn unknown_keys_are_warnings_with_file_and_line() {
    let (c, w) = parse("[db]\n  mode = ram\n  storage tears = 2\n[web]\n  bind to = 127.0.0.1:1\n  mode = static-threaded\n[nope]\n x = 1\n");
    assert_eq!(c.db.mode, DbMode::Ram);
    assert_eq!(c.db.storage_tiers, 3);
    let at = |line: usize| w.iter().find(|w| w.line == line).map(|w| w.to_string()).unwrap_or_default();
    assert!(at(3).starts_with("netdata.conf:3: [db] storage tears: unknown key"), "{w:?}");
    assert!(at(6).contains("Netdata setting"), "{w:?}");
    assert!(at(7).contains("section [nope]"), "{w:?}");
    assert_eq!(w.len(), 3, "keys of unknown sections are covered by the section warning: {w:?}");
}

#[test]
fn too_many_aggregated_points_is_an_error() {
    let err = error_of(
        "[db]\n storage tiers = 5\n dbengine tier 1 update every iterations = 1000\n dbengine tier 2 update every iterations = 1000\n dbengine tier 3 update every iterations = 1000\n dbengine tier 4 update every iterations = 1000\n",
    );
    assert_eq!(err.value_errors()[0].key, "dbengine tier 4 update every iterations");
    // the same iterations with fewer tiers in use are fine
    let (c, _) = parse("[db]\n storage tiers = 3\n dbengine tier 1 update every iterations = 1000\n dbengine tier 2 update every iterations = 1000\n dbengine tier 3 update every iterations = 1000\n");
    assert_eq!(c.store_config().tier_width(2, 1), 1_000_000);
}

#[test]
fn missing_file_and_non_utf8_are_errors_with_the_path() {
    let err = NetdataConf::load(Path::new("/nonexistent/netdata.conf")).expect_err("missing");
    assert!(err.to_string().starts_with("/nonexistent/netdata.conf: "), "{err}");
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("netdata.conf");
    std::fs::write(&p, b"[db]\n mode = ram\n\xff\n").expect("write");
    let err = NetdataConf::load(&p).expect_err("bad utf8");
    assert!(err.to_string().ends_with("netdata.conf:3: not valid UTF-8"), "{err}");
}

#[test]
fn cluster_snapshot_key_is_off_by_default_and_checked() {
    assert_eq!(NetdataConf::default().snapshot_key, None);
    let (c, w) = parse("[cluster]\n  snapshot key = 11111111-2222-3333-4444-555555555555\n");
    assert_eq!(c.snapshot_key.as_deref(), Some("11111111-2222-3333-4444-555555555555"));
    assert!(w.is_empty(), "{w:?}");
    let (c, _) = parse("[cluster]\n  snapshot key =\n");
    assert_eq!(c.snapshot_key, None, "empty turns it off");
    for bad in ["short", "has a blank in the middle of it"] {
        let err = error_of(&format!("[cluster]\n  snapshot key = {bad}\n"));
        assert_eq!(err.value_errors()[0].key, "snapshot key", "{bad}");
        assert_eq!(err.value_errors()[0].line, 2);
    }
    assert!(ndcluster::config::keys::lookup(ndcluster::config::ConfFile::NetdataConf, "cluster", "snapshot key").is_some());
}
