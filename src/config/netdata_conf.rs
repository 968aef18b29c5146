//! `netdata.conf`: the typed model with its defaults and validation.
//!
//! Decisions (documented for users in the key catalog, [`super::known_keys`]):
//! * sizes: binary units `B KiB MiB GiB TiB`, decimal `K/KB M/MB G/GB T/TB`; a bare number is
//!   MiB (as Netdata's `... size` keys); durations: `s m h d w mo y` (mo = 30 d, y = 365 d),
//!   sums like `1d12h`; a bare retention time is days (as Netdata), `0` = unlimited;
//! * `[db] update every` wins over the older `[global] update every`;
//! * a tier's size: `dbengine tier N retention size` wins over the 1.37 spellings
//!   `dbengine tier N multihost disk space MB` (tier 0 also `dbengine multihost disk space MB`),
//!   which win over `dbengine tier N disk space MB` and, for tier 0, `dbengine disk space MB`.
//!   Unlike Netdata 1.37 (tier N = tier 0 / 2^N) each tier defaults to 1 GiB;
//! * retention time defaults to 0 (no time limit: size is the bound), so
//!   `NetdataConf::default().store_config() == StoreConfig::default()`;
//! * `[db] dbengine flush interval` (1..=10 s, default 5 s) bounds what `kill -9` can lose.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use super::keys::{self, ConfFile};
use super::pattern::SimplePattern;
use super::value::{parse_bool, parse_duration, parse_size, parse_u64_in};
use super::{ConfigError, IniDocument, Reader, Warning};
use crate::storage::{StoreConfig, TierConfig, MAX_TIERS};

const MIB: u64 = 1 << 20;
const DAY: u64 = 86_400;

/// The database mode (`[db] mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbMode {
    Dbengine,
    Ram,
    None,
}

impl DbMode {
    /// Netdata's mode names; `save`/`map` read as dbengine and `alloc` as ram (the second
    /// value is true for those, so the caller can warn).
    pub fn parse(v: &str) -> Result<(DbMode, bool), String> {
        match v {
            "dbengine" => Ok((DbMode::Dbengine, false)),
            "ram" => Ok((DbMode::Ram, false)),
            "none" => Ok((DbMode::None, false)),
            "save" | "map" => Ok((DbMode::Dbengine, true)),
            "alloc" => Ok((DbMode::Ram, true)),
            _ => Err("expected dbengine, ram or none (save and map are read as dbengine, alloc as ram)".into()),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            DbMode::Dbengine => "dbengine",
            DbMode::Ram => "ram",
            DbMode::None => "none",
        }
    }
}

/// `[directories]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directories {
    pub config: PathBuf,
    pub cache: PathBuf,
    pub lib: PathBuf,
    pub log: PathBuf,
}

impl Directories {
    /// Netdata's system-wide directories.
    pub fn system() -> Directories {
        Directories {
            config: "/etc/netdata".into(),
            cache: "/var/cache/netdata".into(),
            lib: "/var/lib/netdata".into(),
            log: "/var/log/netdata".into(),
        }
    }
    /// Everything under one per-user directory: config = `base`, cache = `base/cache`,
    /// lib = `base/lib`, log = `base/log`.
    pub fn under(base: &Path) -> Directories {
        Directories {
            config: base.to_path_buf(),
            cache: base.join("cache"),
            lib: base.join("lib"),
            log: base.join("log"),
        }
    }
}

/// Which requests a listening socket serves (`bind to = IP:PORT=dashboard|streaming`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebAcl {
    pub dashboard: bool,
    pub registry: bool,
    pub badges: bool,
    pub management: bool,
    pub streaming: bool,
    pub netdata_conf: bool,
}

impl WebAcl {
    pub const ALL: WebAcl =
        WebAcl { dashboard: true, registry: true, badges: true, management: true, streaming: true, netdata_conf: true };
    pub const NONE: WebAcl = WebAcl {
        dashboard: false,
        registry: false,
        badges: false,
        management: false,
        streaming: false,
        netdata_conf: false,
    };
}

/// Address part of a `bind to` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindHost {
    /// `*`, `any`, `all` or empty: every IPv4 and IPv6 address.
    Any,
    Ip(IpAddr),
    /// A host name, resolved when binding.
    Name(String),
    /// `unix:/path`.
    Unix(PathBuf),
}

/// One `bind to` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindTo {
    pub host: BindHost,
    pub port: u16,
    /// `%iface` (IPv6 scope).
    pub interface: Option<String>,
    pub acl: WebAcl,
    /// The entry as written.
    pub text: String,
}

impl BindTo {
    /// Socket addresses to listen on (`*` gives `0.0.0.0` and `[::]`; a name is resolved, which
    /// may block). A unix socket has none.
    pub fn socket_addrs(&self) -> std::io::Result<Vec<SocketAddr>> {
        Ok(match &self.host {
            BindHost::Any => vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), self.port),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), self.port),
            ],
            BindHost::Ip(ip) => vec![SocketAddr::new(*ip, self.port)],
            BindHost::Name(n) => (n.as_str(), self.port).to_socket_addrs()?.collect(),
            BindHost::Unix(_) => Vec::new(),
        })
    }

    /// Parses one entry (no separators inside).
    pub fn parse(entry: &str, default_port: u16) -> Result<BindTo, String> {
        let bad = |why: &str| format!("`{entry}`: {why}; {BIND_TO_SYNTAX}");
        let mut rest = entry;
        if let Some(r) = rest.strip_prefix("tcp:") {
            rest = r;
        } else if rest.starts_with("udp:") {
            return Err(bad("udp is not supported"));
        } else if let Some(path) = rest.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(bad("the unix socket path is empty"));
            }
            return Ok(BindTo {
                host: BindHost::Unix(path.into()),
                port: 0,
                interface: None,
                acl: WebAcl::ALL,
                text: entry.into(),
            });
        }
        let host_text;
        if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(|| bad("`[` without `]`"))?;
            host_text = &r[..end];
            if host_text.parse::<Ipv6Addr>().is_err() {
                return Err(bad("not an IPv6 address inside [ ]"));
            }
            rest = &r[end + 1..];
        } else {
            let end = rest.find([':', '%', '=']).unwrap_or(rest.len());
            host_text = &rest[..end];
            rest = &rest[end..];
        }
        let mut interface = None;
        if let Some(r) = rest.strip_prefix('%') {
            let end = r.find([':', '=']).unwrap_or(r.len());
            if end == 0 {
                return Err(bad("empty interface name after %"));
            }
            interface = Some(r[..end].to_string());
            rest = &r[end..];
        }
        let mut port = default_port;
        if let Some(r) = rest.strip_prefix(':') {
            let end = r.find('=').unwrap_or(r.len());
            let p = &r[..end];
            if !p.is_empty() {
                port = parse_u64_in(p, 0, 65535).map_err(|_| bad("the port must be a number from 0 to 65535"))? as u16;
            }
            rest = &r[end..];
        }
        let mut acl = WebAcl::ALL;
        if let Some(r) = rest.strip_prefix('=') {
            let (words, ssl) = match r.split_once('^') {
                Some((w, s)) => (w, Some(s)),
                None => (r, None),
            };
            match ssl {
                None | Some("SSL=optional") => {}
                Some("SSL=force") => return Err(bad("TLS (^SSL=force) is not supported")),
                Some(_) => return Err(bad("after ^ only SSL=optional is accepted")),
            }
            acl = WebAcl::NONE;
            for w in words.split('|') {
                match w {
                    "dashboard" => acl.dashboard = true,
                    "registry" => acl.registry = true,
                    "badges" => acl.badges = true,
                    "management" => acl.management = true,
                    "streaming" => acl.streaming = true,
                    "netdata.conf" => acl.netdata_conf = true,
                    _ => return Err(bad(&format!("unknown ACL word `{w}`"))),
                }
            }
        } else if !rest.is_empty() {
            return Err(bad(&format!("unexpected `{rest}`")));
        }
        let host = if matches!(host_text, "" | "*" | "any" | "all") {
            BindHost::Any
        } else if let Ok(ip) = host_text.parse::<IpAddr>() {
            BindHost::Ip(ip)
        } else if host_text.len() <= 253
            && host_text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        {
            BindHost::Name(host_text.to_string())
        } else {
            return Err(bad("not an IP address or host name"));
        };
        Ok(BindTo { host, port, interface, acl, text: entry.to_string() })
    }
}

/// What `[web] bind to` accepts, for error messages.
pub const BIND_TO_SYNTAX: &str = "expected space separated [tcp:]IP[:PORT][=ACL|ACL...] entries (IP: *, an IPv4 address, [IPv6], or a name; ACL: dashboard, registry, badges, management, streaming, netdata.conf) or unix:/path";

/// Parses a whole `bind to` value (entries separated by blanks or commas).
pub fn parse_bind_to(v: &str, default_port: u16) -> Result<Vec<BindTo>, String> {
    let entries: Vec<&str> = v.split(|c: char| c.is_ascii_whitespace() || c == ',').filter(|s| !s.is_empty()).collect();
    if entries.is_empty() {
        return Err(format!("no entry; {BIND_TO_SYNTAX}"));
    }
    if entries.len() > 64 {
        return Err(format!("more than 64 entries; {BIND_TO_SYNTAX}"));
    }
    entries.into_iter().map(|e| BindTo::parse(e, default_port)).collect()
}

/// `[web]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Web {
    pub bind_to: Vec<BindTo>,
    pub default_port: u16,
    pub allow_connections_from: SimplePattern,
    pub allow_streaming_from: SimplePattern,
    /// `accept a streaming request every seconds`; 0 = no limit.
    pub accept_streaming_every_secs: u64,
    /// Bounds on what one stream peer may do (our keys; Netdata has fixed limits).
    pub stream_limits: StreamLimits,
}

/// `[web] stream ...` limits on received streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamLimits {
    /// `stream max line bytes`: longest accepted line (Netdata: 15360).
    pub max_line_bytes: usize,
    /// `stream max charts per host`.
    pub max_charts_per_host: usize,
    /// `stream max dimensions per chart`.
    pub max_dimensions_per_chart: usize,
    /// `stream max concurrent`: streams received at once.
    pub max_concurrent: usize,
    /// `stream handshake timeout seconds`: time to send the request after connecting.
    pub handshake_timeout_secs: u64,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self { max_line_bytes: 15_360, max_charts_per_host: 20_000, max_dimensions_per_chart: 2_000, max_concurrent: 1_024, handshake_timeout_secs: 10 }
    }
}

/// Settings of one tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierSettings {
    pub retention_bytes: u64,
    /// 0 = no time limit.
    pub retention_secs: u64,
    /// Points of the tier below per point of this one (tier 0: 1).
    pub update_every_iterations: u32,
}

/// `[db]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Db {
    pub mode: DbMode,
    /// Effective collection interval, seconds (`[db] update every`, else `[global] update every`).
    pub update_every: u32,
    /// Number of tiers in use (1..=5).
    pub storage_tiers: usize,
    /// Settings of all [`MAX_TIERS`] tiers; only the first `storage_tiers` are used.
    pub tiers: Vec<TierSettings>,
    pub flush_interval_secs: u32,
    pub enable_replication: bool,
    pub seconds_to_replicate: u64,
    pub seconds_per_replication_step: u64,
}

/// The whole of `netdata.conf` as we understand it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetdataConf {
    /// `[global] hostname`.
    pub hostname: String,
    pub directories: Directories,
    pub web: Web,
    pub db: Db,
    /// `[plugins] proc`.
    pub proc_plugin: bool,
    /// `[cluster] snapshot key`: the key of the cache-snapshot endpoints
    /// (`/api/v1/cluster/*`); `None` (the default) keeps them off.
    pub snapshot_key: Option<String>,
}

/// This machine's host name (`/proc/sys/kernel/hostname`, else `/etc/hostname`, else `localhost`).
pub fn system_hostname() -> String {
    for p in ["/proc/sys/kernel/hostname", "/etc/hostname"] {
        if let Ok(s) = std::fs::read_to_string(p) {
            let s = s.trim();
            if !s.is_empty() && s.len() <= 255 {
                return s.to_string();
            }
        }
    }
    "localhost".to_string()
}

impl Default for NetdataConf {
    fn default() -> Self {
        Self::with_directories(Directories::system())
    }
}

/// Netdata keys of the sections we read that this program does not use (warned about more
/// mildly than true unknowns).
const NETDATA_IGNORED: &[(&str, &str)] = &[
    ("global", "run as user"),
    ("global", "host access prefix"),
    ("global", "process scheduling policy"),
    ("global", "OOM score"),
    ("global", "memory mode"),
    ("global", "history"),
    ("global", "timezone"),
    ("web", "mode"),
    ("web", "web files owner"),
    ("web", "web files group"),
    ("web", "enable gzip compression"),
    ("web", "web server threads"),
    ("web", "respect do not track policy"),
    ("web", "allow dashboard from"),
    ("web", "allow badges from"),
    ("web", "allow management from"),
    ("web", "allow netdata.conf from"),
    ("db", "retention"),
    ("db", "dbengine page cache with malloc"),
    ("db", "memory deduplication (ksm)"),
    ("db", "cleanup obsolete charts after secs"),
    ("db", "gap when lost iterations above"),
    ("db", "cleanup orphan hosts after secs"),
    ("db", "delete obsolete charts files"),
    ("db", "delete orphan hosts files"),
    ("db", "enable zero metrics"),
    ("db", "dbengine pages per extent"),
    ("db", "replication threads"),
    ("db", "dbengine page fetch timeout secs"),
    ("db", "dbengine page fetch retries"),
    ("db", "dbengine page descriptors in file mapped memory"),
    ("db", "dbengine tier N backfill"),
    ("global", "glibc malloc arena max for plugins"),
    ("global", "glibc malloc arena max for netdata"),
    ("global", "libuv worker threads"),
    ("global", "enable metric correlations"),
    ("global", "metric correlations method"),
    ("global", "process nice level"),
    ("global", "pthread stack size"),
    ("global", "bind socket to IP"),
    ("directories", "run"),
    ("directories", "lock"),
    ("directories", "cloud.d"),
    ("directories", "stock config"),
    ("directories", "web"),
    ("directories", "home"),
    ("directories", "plugins"),
    ("directories", "health config"),
    ("directories", "stock health config"),
    ("directories", "registry"),
];

const OUR_SECTIONS: &[&str] = &["global", "directories", "web", "db", "plugins", "cluster"];

impl NetdataConf {
    /// Defaults with the given directories (host name from the system).
    pub fn with_directories(directories: Directories) -> NetdataConf {
        let tier = |it| TierSettings { retention_bytes: 1 << 30, retention_secs: 0, update_every_iterations: it };
        NetdataConf {
            hostname: system_hostname(),
            directories,
            web: Web {
                bind_to: vec![BindTo {
                    host: BindHost::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                    port: 19999,
                    interface: None,
                    acl: WebAcl::ALL,
                    text: "127.0.0.1:19999".into(),
                }],
                default_port: 19999,
                allow_connections_from: SimplePattern::new("localhost *"),
                allow_streaming_from: SimplePattern::new("*"),
                accept_streaming_every_secs: 0,
                stream_limits: StreamLimits::default(),
            },
            db: Db {
                mode: DbMode::Dbengine,
                update_every: 1,
                storage_tiers: 3,
                tiers: (0..MAX_TIERS).map(|t| tier(if t == 0 { 1 } else { 60 })).collect(),
                flush_interval_secs: 5,
                enable_replication: true,
                seconds_to_replicate: 86_400,
                seconds_per_replication_step: 600,
            },
            proc_plugin: true,
            snapshot_key: None,
        }
    }

    /// Defaults for a per-user instance: every directory under `base` (see
    /// [`Directories::under`]). The daemon uses this when no config file is given.
    pub fn user_defaults(base: &Path) -> NetdataConf {
        Self::with_directories(Directories::under(base))
    }

    /// Loads `path` over the system defaults.
    pub fn load(path: &Path) -> Result<(NetdataConf, Vec<Warning>), ConfigError> {
        Self::load_over(path, NetdataConf::default())
    }

    /// Loads `path` over `base` (keys absent from the file keep `base`'s values).
    pub fn load_over(path: &Path, base: NetdataConf) -> Result<(NetdataConf, Vec<Warning>), ConfigError> {
        let doc = IniDocument::load(path)?;
        Self::from_document(&doc, base)
    }

    /// Parses `text` over the system defaults; `file_name` names the file in messages.
    pub fn parse_str(text: &str, file_name: &str) -> Result<(NetdataConf, Vec<Warning>), ConfigError> {
        Self::from_document(&IniDocument::parse(text, file_name), NetdataConf::default())
    }

    /// Reads a parsed document over `base`.
    pub fn from_document(doc: &IniDocument, base: NetdataConf) -> Result<(NetdataConf, Vec<Warning>), ConfigError> {
        let mut r = Reader::new(doc);
        let mut c = base;
        warn_unknown(&mut r);

        if let Some(h) = r.get("global", "hostname", |v| {
            if v.is_empty() || v.len() > 255 || v.chars().any(char::is_control) {
                Err("expected a host name of 1 to 255 printable characters".to_string())
            } else {
                Ok(v.to_string())
            }
        }) {
            c.hostname = h;
        }
        let ue = |v: &str| parse_u64_in(v, 1, 600).map(|n| n as u32);
        let global_ue = r.get("global", "update every", ue);
        let db_ue = r.get("db", "update every", ue);
        if let Some(u) = db_ue.or(global_ue) {
            c.db.update_every = u;
        }

        for (key, slot) in [
            ("config", &mut c.directories.config),
            ("cache", &mut c.directories.cache),
            ("lib", &mut c.directories.lib),
            ("log", &mut c.directories.log),
        ] {
            if let Some(p) = r.get("directories", key, |v| {
                if v.is_empty() {
                    Err("expected a directory path".to_string())
                } else {
                    Ok(PathBuf::from(v))
                }
            }) {
                *slot = p;
            }
        }

        if let Some(p) = r.get("web", "default port", |v| parse_u64_in(v, 1, 65535)) {
            c.web.default_port = p as u16;
        }
        let port = c.web.default_port;
        if let Some(b) = r.get("web", "bind to", |v| parse_bind_to(v, port)) {
            c.web.bind_to = b;
        }
        if let Some(p) = r.get("web", "allow connections from", |v| Ok(SimplePattern::new(v))) {
            c.web.allow_connections_from = p;
        }
        if let Some(p) = r.get("web", "allow streaming from", |v| Ok(SimplePattern::new(v))) {
            c.web.allow_streaming_from = p;
        }
        if let Some(v) = r.get("web", "stream max line bytes", |v| parse_u64_in(v, 1024, 15_360)) {
            c.web.stream_limits.max_line_bytes = v as usize;
        }
        if let Some(v) = r.get("web", "stream max charts per host", |v| parse_u64_in(v, 1, 1_000_000)) {
            c.web.stream_limits.max_charts_per_host = v as usize;
        }
        if let Some(v) = r.get("web", "stream max dimensions per chart", |v| parse_u64_in(v, 1, 10_000)) {
            c.web.stream_limits.max_dimensions_per_chart = v as usize;
        }
        if let Some(v) = r.get("web", "stream max concurrent", |v| parse_u64_in(v, 1, 100_000)) {
            c.web.stream_limits.max_concurrent = v as usize;
        }
        if let Some(v) = r.get("web", "stream handshake timeout seconds", |v| parse_u64_in(v, 1, 600)) {
            c.web.stream_limits.handshake_timeout_secs = v;
        }
        if let Some(s) = r.get("web", "accept a streaming request every seconds", |v| parse_u64_in(v, 0, 86_400)) {
            c.web.accept_streaming_every_secs = s;
        }

        read_db(&mut r, &mut c.db);

        if let Some(b) = r.get("plugins", "proc", parse_bool) {
            c.proc_plugin = b;
        }
        if let Some(k) = r.get("cluster", "snapshot key", parse_snapshot_key) {
            c.snapshot_key = k;
        }
        r.finish(c)
    }

    /// Settings of the store, from `[db]`.
    pub fn store_config(&self) -> StoreConfig {
        StoreConfig {
            tiers: self
                .db
                .tiers
                .iter()
                .take(self.db.storage_tiers)
                .enumerate()
                .map(|(t, s)| TierConfig {
                    iterations: if t == 0 { 1 } else { s.update_every_iterations },
                    retention_bytes: s.retention_bytes,
                    retention_secs: s.retention_secs,
                })
                .collect(),
            flush_interval_secs: self.db.flush_interval_secs,
        }
    }
}

/// `[cluster] snapshot key`: empty turns the endpoints off; otherwise 16 to 256 printable
/// ASCII characters without blanks (it travels in a URL query).
fn parse_snapshot_key(v: &str) -> Result<Option<String>, String> {
    if v.is_empty() {
        return Ok(None);
    }
    if v.len() < 16 || v.len() > 256 || !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("expected 16 to 256 printable characters without blanks (e.g. a UUID), or nothing to turn the snapshot endpoints off".to_string());
    }
    Ok(Some(v.to_string()))
}

fn read_db(r: &mut Reader<'_>, db: &mut Db) {
    if let Some(e) = r.raw("db", "mode") {
        match DbMode::parse(e.value) {
            Ok((m, aliased)) => {
                if aliased {
                    r.warn(
                        e.line,
                        format!(
                            "[db] mode = {}: read as {} (the old Netdata modes are not supported)",
                            e.value,
                            m.as_str()
                        ),
                    );
                }
                db.mode = m;
            }
            Err(expected) => r.error_at(&e, expected),
        }
    }
    if let Some(n) = r.get("db", "storage tiers", |v| parse_u64_in(v, 1, MAX_TIERS as u64)) {
        db.storage_tiers = n as usize;
    }
    let size = |v: &str| {
        parse_size(v, MIB).and_then(|b| {
            if (1024..=1u64 << 50).contains(&b) {
                Ok(b)
            } else {
                Err("expected a size from 1KiB to 1024TiB".to_string())
            }
        })
    };
    let mb = |v: &str| parse_u64_in(v, 1, 1 << 30).map(|n| n * MIB);
    for (t, tier) in db.tiers.iter_mut().enumerate() {
        // size, by precedence: new name, 1.37 multihost spellings, older spellings
        let mut candidates: Vec<(String, bool)> = vec![(format!("dbengine tier {t} retention size"), false)];
        if t == 0 {
            candidates.push(("dbengine multihost disk space MB".into(), true));
        }
        candidates.push((format!("dbengine tier {t} multihost disk space MB"), true));
        candidates.push((format!("dbengine tier {t} disk space MB"), true));
        if t == 0 {
            candidates.push(("dbengine disk space MB".into(), true));
        }
        if let Some(b) = read_with_aliases(r, &candidates, &format!("dbengine tier {t} retention size"), |v, is_mb| {
            if is_mb {
                mb(v)
            } else {
                size(v)
            }
        }) {
            tier.retention_bytes = b;
        }

        let time = |v: &str, days_only: bool| {
            let secs = if days_only { parse_u64_in(v, 0, 36_500).map(|d| d * DAY) } else { parse_duration(v, DAY) }?;
            if secs > 100 * 365 * DAY {
                return Err("expected a duration of at most 100y (0 = no time limit)".to_string());
            }
            Ok(secs)
        };
        let candidates = vec![
            (format!("dbengine tier {t} retention time"), false),
            (format!("dbengine tier {t} retention days"), true),
        ];
        if let Some(secs) = read_with_aliases(r, &candidates, &format!("dbengine tier {t} retention time"), time) {
            tier.retention_secs = secs;
        }

        let key = format!("dbengine tier {t} update every iterations");
        if t == 0 {
            if let Some(e) = r.raw("db", &key) {
                r.warn(e.line, format!("[db] {key}: tier 0 stores every point; ignored"));
            }
        } else if let Some(n) = r.get("db", &key, |v| parse_u64_in(v, 2, 1000)) {
            tier.update_every_iterations = n as u32;
        }
    }
    // The points of tier 0 aggregated by one point of the top tier must fit a u32 count.
    let mut product: u64 = 1;
    for t in 1..db.storage_tiers.min(db.tiers.len()) {
        product = product.saturating_mul(u64::from(db.tiers[t].update_every_iterations));
        if product > u64::from(u32::MAX) {
            let key = format!("dbengine tier {t} update every iterations");
            match r.raw("db", &key) {
                Some(e) => r.error_at(&e, format!("expected a smaller number: tiers 1..={t} together aggregate {product} tier-0 points per point, more than {}", u32::MAX)),
                None => r.warn(0, format!("[db] {key}: tiers 1..={t} aggregate more than {} points; reduce the iterations", u32::MAX)),
            }
            break;
        }
    }
    for e in r
        .doc
        .section_entries("db")
        .filter(|e| e.key.starts_with("dbengine") && e.key.contains("page cache size"))
        .collect::<Vec<_>>()
    {
        r.warn(e.line, format!("[db] {}: Netdata's page cache size; accepted and ignored", e.key));
    }
    if let Some(s) = r.get("db", "dbengine flush interval", |v| {
        parse_duration(v, 1).and_then(|s| {
            if (1..=10).contains(&s) {
                Ok(s)
            } else {
                Err("expected a duration from 1s to 10s".to_string())
            }
        })
    }) {
        db.flush_interval_secs = s as u32;
    }
    if let Some(b) = r.get("db", "enable replication", parse_bool) {
        db.enable_replication = b;
    }
    if let Some(s) = r.get("db", "seconds to replicate", |v| parse_u64_in(v, 0, 10 * 365 * DAY)) {
        db.seconds_to_replicate = s;
    }
    if let Some(s) = r.get("db", "seconds per replication step", |v| parse_u64_in(v, 1, DAY)) {
        db.seconds_per_replication_step = s;
    }
}

/// Reads the first present of `candidates` (`(key, flag passed to parse)`), in precedence
/// order, warning about aliases used and about lower-precedence keys that are overridden.
fn read_with_aliases<T>(
    r: &mut Reader<'_>,
    candidates: &[(String, bool)],
    canonical: &str,
    parse: impl Fn(&str, bool) -> Result<T, String>,
) -> Option<T> {
    let mut chosen: Option<(String, usize)> = None;
    let mut out = None;
    for (key, flag) in candidates {
        let Some(e) = r.raw("db", key) else { continue };
        if let Some((winner, line)) = &chosen {
            r.warn(e.line, format!("[db] {key} is overridden by [db] {winner} (line {line}); ignored"));
            continue;
        }
        match parse(e.value, *flag) {
            Ok(v) => out = Some(v),
            Err(expected) => r.error_at(&e, expected),
        }
        if key != canonical {
            r.warn(e.line, format!("[db] {key} is an old spelling of [db] {canonical}"));
        }
        chosen = Some((key.clone(), e.line));
    }
    out
}

fn warn_unknown(r: &mut Reader<'_>) {
    let doc = r.doc;
    for (section, line) in doc.sections() {
        if !OUR_SECTIONS.contains(&section) {
            r.warn(line, format!("section [{section}] is not used by this program; ignored"));
        }
    }
    for e in doc.entries() {
        if !OUR_SECTIONS.contains(&e.section) || keys::lookup(ConfFile::NetdataConf, e.section, e.key).is_some() {
            continue;
        }
        if NETDATA_IGNORED.iter().any(|(s, k)| *s == e.section && keys::key_matches(k, e.key).is_some()) {
            r.warn(e.line, format!("[{}] {}: a Netdata setting this program does not use; ignored", e.section, e.key));
        } else if e.section == "plugins" {
            r.warn(e.line, format!("[plugins] {}: no such plugin here (only proc); ignored", e.key));
        } else {
            r.warn(e.line, format!("[{}] {}: unknown key; ignored", e.section, e.key));
        }
    }
}
