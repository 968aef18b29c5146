//! `stream.conf`: the typed model, Netdata's inheritance of per-key / per-host settings, and
//! the parent's authentication decision as a pure function ([`authorize`]).
//!
//! Reference: `netdata-stream-1.37.md` §2.3 (authentication and per-host settings), §2.5
//! (replies), §9 (re-streaming and destinations), §11 (sender keys and defaults).
//!
//! Sections: `[stream]` (this node as a sender, and defaults of re-streaming), and any other
//! section is named by an API key or a machine GUID. Netdata does not know which a section is
//! until it looks it up: a section is consulted as an API-key section when a child presents
//! that key (`type` then defaults to `api`), and as a machine section when a child presents
//! that GUID (`type` then defaults to `machine`). We keep one [`PeerSection`] per name with
//! both readings.
//!
//! Settings of an accepted host are resolved in Netdata's order, the most specific winning:
//! netdata.conf (`[db]`, mode) → `[stream]` → `[<API key>]` → `[<machine GUID>]`.
//!
//! Defaults of `[stream]` are Netdata's *internal* defaults (e.g. `timeout seconds = 600`),
//! because Netdata does not read its stock stream.conf when a user one exists (§11).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use super::keys::{self, ConfFile};
use super::netdata_conf::{DbMode, NetdataConf, WebAcl};
use super::pattern::SimplePattern;
use super::value::{parse_bool, parse_duration, parse_size, parse_u64_in};
use super::{ConfigError, IniDocument, Reader, Warning};

/// Transport of a destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DestProtocol {
    Tcp,
    Unix,
}

/// One entry of a destination list: `[tcp:|unix:]HOST[%IFACE][:PORT][:SSL]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    pub protocol: DestProtocol,
    /// IP address (without brackets), host name, or unix socket path.
    pub host: String,
    pub interface: Option<String>,
    pub port: u16,
    /// `:SSL` was given (TLS is not supported by this program; the caller decides).
    pub ssl: bool,
    /// The entry as written.
    pub text: String,
}

impl Destination {
    /// `host:port` to connect to (IPv6 in brackets).
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// What a destination list accepts, for error messages.
pub const DESTINATION_SYNTAX: &str =
    "expected space or comma separated [tcp:]HOST[%IFACE][:PORT][:SSL] entries (HOST an IPv4 address, [IPv6] or a name) or unix:/path";

fn parse_destination(entry: &str, default_port: u16) -> Result<Destination, String> {
    let bad = |why: &str| format!("`{entry}`: {why}; {DESTINATION_SYNTAX}");
    let mut rest = entry;
    if let Some(r) = rest.strip_prefix("tcp:") {
        rest = r;
    } else if rest.starts_with("udp:") {
        return Err(bad("udp is not supported"));
    } else if let Some(path) = rest.strip_prefix("unix:").or_else(|| rest.starts_with('/').then_some(rest)) {
        if path.is_empty() {
            return Err(bad("the unix socket path is empty"));
        }
        return Ok(Destination {
            protocol: DestProtocol::Unix,
            host: path.to_string(),
            interface: None,
            port: 0,
            ssl: false,
            text: entry.to_string(),
        });
    }
    let host;
    if let Some(r) = rest.strip_prefix('[') {
        let end = r.find(']').ok_or_else(|| bad("`[` without `]`"))?;
        host = &r[..end];
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad("not an IPv6 address inside [ ]"));
        }
        rest = &r[end + 1..];
    } else {
        let end = rest.find([':', '%']).unwrap_or(rest.len());
        host = &rest[..end];
        rest = &rest[end..];
    }
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if !host.contains(':') && !host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_') {
        return Err(bad("not an IP address or host name"));
    }
    let mut interface = None;
    if let Some(r) = rest.strip_prefix('%') {
        let end = r.find(':').unwrap_or(r.len());
        if end == 0 {
            return Err(bad("empty interface name after %"));
        }
        interface = Some(r[..end].to_string());
        rest = &r[end..];
    }
    let mut port = default_port;
    let mut ssl = false;
    if let Some(r) = rest.strip_prefix(':') {
        let (p, tail) = r.split_once(':').map_or((r, None), |(a, b)| (a, Some(b)));
        match (p, tail) {
            ("SSL", None) => ssl = true,
            (p, tail) => {
                if !p.is_empty() {
                    port =
                        parse_u64_in(p, 1, 65535).map_err(|_| bad("the port must be a number from 1 to 65535"))? as u16;
                }
                match tail {
                    None => {}
                    Some("SSL") => ssl = true,
                    Some(t) => return Err(bad(&format!("unexpected `:{t}` (only :SSL may follow the port)"))),
                }
            }
        }
    } else if !rest.is_empty() {
        return Err(bad(&format!("unexpected `{rest}`")));
    }
    Ok(Destination {
        protocol: DestProtocol::Tcp,
        host: host.to_string(),
        interface,
        port,
        ssl,
        text: entry.to_string(),
    })
}

/// Parses a destination list (entries separated by blanks or commas; may be empty).
pub fn parse_destinations(v: &str, default_port: u16) -> Result<Vec<Destination>, String> {
    let entries: Vec<&str> = v.split(|c: char| c.is_ascii_whitespace() || c == ',').filter(|s| !s.is_empty()).collect();
    if entries.len() > 64 {
        return Err(format!("more than 64 entries; {DESTINATION_SYNTAX}"));
    }
    entries.into_iter().map(|e| parse_destination(e, default_port)).collect()
}

/// Does `s` have the exact textual form of a UUID (`8-4-4-4-12` hex digits, any case), as
/// libuuid's `uuid_parse` requires?
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter()
            .enumerate()
            .all(|(i, &c)| if matches!(i, 8 | 13 | 18 | 23) { c == b'-' } else { c.is_ascii_hexdigit() })
}

/// `[stream]`: this node as a sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamSection {
    /// Effective: false when `enabled = yes` but destination or api key is missing (as Netdata).
    pub enabled: bool,
    pub destinations: Vec<Destination>,
    /// `destination` as written.
    pub destination: String,
    pub api_key: String,
    pub timeout_secs: u64,
    pub default_port: u16,
    pub reconnect_delay_secs: u64,
    pub buffer_size_bytes: u64,
    pub enable_compression: bool,
    pub send_charts_matching: SimplePattern,
    pub initial_clock_resync_iterations: u64,
    /// Extensions over netdata.conf `[db]` (None: use `[db]`).
    pub enable_replication: Option<bool>,
    pub seconds_to_replicate: Option<u64>,
    pub seconds_per_replication_step: Option<u64>,
    pub ssl_skip_certificate_verification: bool,
}

impl Default for StreamSection {
    fn default() -> Self {
        StreamSection {
            enabled: false,
            destinations: Vec::new(),
            destination: String::new(),
            api_key: String::new(),
            timeout_secs: 600,
            default_port: 19999,
            reconnect_delay_secs: 5,
            buffer_size_bytes: 10 * 1024 * 1024,
            enable_compression: true,
            send_charts_matching: SimplePattern::new("*"),
            initial_clock_resync_iterations: 60,
            enable_replication: None,
            seconds_to_replicate: None,
            seconds_per_replication_step: None,
            ssl_skip_certificate_verification: false,
        }
    }
}

/// Health checks of a received host (`yes`, `no`, `auto`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthMode {
    Yes,
    No,
    Auto,
}

fn parse_health(v: &str) -> Result<HealthMode, String> {
    match v {
        "yes" => Ok(HealthMode::Yes),
        "no" => Ok(HealthMode::No),
        "auto" | "on demand" => Ok(HealthMode::Auto),
        _ => Err("expected yes, no or auto".into()),
    }
}

/// Settings one section gives for received hosts; `None` = not set here (inherit).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostOverrides {
    pub history: Option<u64>,
    pub memory_mode: Option<DbMode>,
    pub health: Option<HealthMode>,
    pub postpone_alarms_secs: Option<u64>,
    pub proxy_enabled: Option<bool>,
    pub proxy_destination: Option<(String, Vec<Destination>)>,
    pub proxy_api_key: Option<String>,
    pub proxy_send_charts_matching: Option<SimplePattern>,
    pub enable_compression: Option<bool>,
    pub enable_replication: Option<bool>,
    pub seconds_to_replicate: Option<u64>,
    pub seconds_per_replication_step: Option<u64>,
    pub update_every: Option<u32>,
    pub host_tags: Option<String>,
}

/// A section named by an API key or a machine GUID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSection {
    pub name: String,
    /// Line of its first header.
    pub line: usize,
    /// `type` as written (validated to be `api` or `machine`), None if absent.
    pub kind: Option<String>,
    pub enabled: Option<bool>,
    pub allow_from: Option<SimplePattern>,
    /// The section read as an API key (`default ...` spellings).
    pub as_api_key: HostOverrides,
    /// The section read as a machine GUID.
    pub as_machine: HostOverrides,
}

/// The whole of `stream.conf`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamConf {
    pub stream: StreamSection,
    /// Every other section, by name (an API key or machine GUID, exactly as written).
    pub sections: BTreeMap<String, PeerSection>,
}

/// Effective settings of a received host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostStreamSettings {
    pub history: u64,
    pub memory_mode: DbMode,
    pub health: HealthMode,
    pub postpone_alarms_secs: u64,
    /// Re-stream this host upstream (as configured; see [`Self::proxy_active`]).
    pub proxy_enabled: bool,
    pub proxy_destinations: Vec<Destination>,
    pub proxy_api_key: String,
    pub proxy_send_charts_matching: SimplePattern,
    /// Allow the COMPRESSION capability (per key, per host, and `[stream] enable compression`).
    pub enable_compression: bool,
    pub enable_replication: bool,
    pub seconds_to_replicate: u64,
    pub seconds_per_replication_step: u64,
    /// The host's update every: `[<guid>] update every`, else the request's, else ours.
    pub update_every: u32,
    /// `[<guid>] host tags` (empty: none configured; the child's `tags` apply).
    pub host_tags: String,
}

impl HostStreamSettings {
    /// Re-streaming happens only with a destination and an API key (as Netdata).
    pub fn proxy_active(&self) -> bool {
        self.proxy_enabled && !self.proxy_destinations.is_empty() && !self.proxy_api_key.is_empty()
    }
}

struct Names {
    history: &'static str,
    memory_mode: &'static str,
    health: &'static str,
    postpone: &'static str,
    proxy_enabled: &'static str,
    proxy_destination: &'static str,
    proxy_api_key: &'static str,
    proxy_send_charts_matching: &'static str,
    update_every: Option<&'static str>,
    host_tags: Option<&'static str>,
}

const API_NAMES: Names = Names {
    history: "default history",
    memory_mode: "default memory mode",
    health: "health enabled by default",
    postpone: "default postpone alarms on connect seconds",
    proxy_enabled: "default proxy enabled",
    proxy_destination: "default proxy destination",
    proxy_api_key: "default proxy api key",
    proxy_send_charts_matching: "default proxy send charts matching",
    update_every: None,
    host_tags: None,
};

const MACHINE_NAMES: Names = Names {
    history: "history",
    memory_mode: "memory mode",
    health: "health enabled",
    postpone: "postpone alarms on connect seconds",
    proxy_enabled: "proxy enabled",
    proxy_destination: "proxy destination",
    proxy_api_key: "proxy api key",
    proxy_send_charts_matching: "proxy send charts matching",
    update_every: Some("update every"),
    host_tags: Some("host tags"),
};

const DAY: u64 = 86_400;

fn secs(max: u64) -> impl Fn(&str) -> Result<u64, String> {
    move |v: &str| {
        let s = parse_duration(v, 1)?;
        if s > max {
            Err(format!("expected at most {max} seconds"))
        } else {
            Ok(s)
        }
    }
}

fn read_overrides(r: &mut Reader<'_>, section: &str, n: &Names, default_port: u16) -> HostOverrides {
    let mut o = HostOverrides {
        history: r.get(section, n.history, |v| parse_u64_in(v, 0, 100_000_000)),
        ..HostOverrides::default()
    };
    if let Some(e) = r.raw(section, n.memory_mode) {
        match DbMode::parse(e.value) {
            Ok((m, aliased)) => {
                if aliased {
                    r.warn(e.line, format!("[{section}] {} = {}: read as {}", n.memory_mode, e.value, m.as_str()));
                }
                o.memory_mode = Some(m);
            }
            Err(x) => r.error_at(&e, x),
        }
    }
    o.health = r.get(section, n.health, parse_health);
    o.postpone_alarms_secs = r.get(section, n.postpone, secs(DAY));
    o.proxy_enabled = r.get(section, n.proxy_enabled, parse_bool);
    o.proxy_destination =
        r.get(section, n.proxy_destination, |v| parse_destinations(v, default_port).map(|d| (v.to_string(), d)));
    o.proxy_api_key = r.get(section, n.proxy_api_key, |v| Ok(v.to_string()));
    o.proxy_send_charts_matching = r.get(section, n.proxy_send_charts_matching, |v| Ok(SimplePattern::new(v)));
    o.enable_compression = r.get(section, "enable compression", parse_bool);
    o.enable_replication = r.get(section, "enable replication", parse_bool);
    o.seconds_to_replicate = r.get(section, "seconds to replicate", secs(10 * 365 * DAY));
    o.seconds_per_replication_step = r.get(section, "seconds per replication step", |v| {
        secs(DAY)(v).and_then(|s| if s == 0 { Err("expected at least 1 second".into()) } else { Ok(s) })
    });
    if let Some(k) = n.update_every {
        o.update_every = r.get(section, k, |v| parse_u64_in(v, 1, 600).map(|n| n as u32));
    }
    if let Some(k) = n.host_tags {
        o.host_tags = r.get(section, k, |v| Ok(v.to_string()));
    }
    o
}

impl StreamConf {
    /// Loads `path`.
    pub fn load(path: &Path) -> Result<(StreamConf, Vec<Warning>), ConfigError> {
        Self::from_document(&IniDocument::load(path)?)
    }

    /// Parses `text`; `file_name` names the file in messages.
    pub fn parse_str(text: &str, file_name: &str) -> Result<(StreamConf, Vec<Warning>), ConfigError> {
        Self::from_document(&IniDocument::parse(text, file_name))
    }

    /// Reads a parsed document.
    pub fn from_document(doc: &IniDocument) -> Result<(StreamConf, Vec<Warning>), ConfigError> {
        let mut r = Reader::new(doc);
        let mut s = StreamSection::default();
        const SEC: &str = "stream";
        if let Some(p) = r.get(SEC, "default port", |v| parse_u64_in(v, 1, 65535)) {
            s.default_port = p as u16;
        }
        let port = s.default_port;
        let enabled = r.get(SEC, "enabled", parse_bool).unwrap_or(false);
        if let Some((text, d)) = r.get(SEC, "destination", |v| parse_destinations(v, port).map(|d| (v.to_string(), d)))
        {
            s.destination = text;
            s.destinations = d;
        }
        if let Some(k) = r.get(SEC, "api key", |v| Ok(v.to_string())) {
            s.api_key = k;
        }
        if let Some(t) = r.get(SEC, "timeout seconds", |v| {
            secs(DAY)(v).and_then(|s| if s == 0 { Err("expected at least 1 second".into()) } else { Ok(s) })
        }) {
            s.timeout_secs = t;
        }
        if let Some(t) = r.get(SEC, "reconnect delay seconds", secs(DAY)) {
            s.reconnect_delay_secs = t;
        }
        if let Some(b) = r.get(SEC, "buffer size bytes", |v| {
            parse_size(v, 1).and_then(|b| {
                if (64 * 1024..=1 << 30).contains(&b) {
                    Ok(b)
                } else {
                    Err("expected a size from 64KiB to 1GiB (a bare number is bytes)".to_string())
                }
            })
        }) {
            s.buffer_size_bytes = b;
        }
        if let Some(b) = r.get(SEC, "enable compression", parse_bool) {
            s.enable_compression = b;
        }
        if let Some(p) = r.get(SEC, "send charts matching", |v| Ok(SimplePattern::new(v))) {
            s.send_charts_matching = p;
        }
        if let Some(n) = r.get(SEC, "initial clock resync iterations", |v| parse_u64_in(v, 0, 1_000_000)) {
            s.initial_clock_resync_iterations = n;
        }
        s.enable_replication = r.get(SEC, "enable replication", parse_bool);
        s.seconds_to_replicate = r.get(SEC, "seconds to replicate", secs(10 * 365 * DAY));
        s.seconds_per_replication_step = r.get(SEC, "seconds per replication step", |v| {
            secs(DAY)(v).and_then(|s| if s == 0 { Err("expected at least 1 second".into()) } else { Ok(s) })
        });
        if let Some(b) = r.get(SEC, "ssl skip certificate verification", parse_bool) {
            s.ssl_skip_certificate_verification = b;
        }
        s.enabled = enabled;
        if enabled && (s.destinations.is_empty() || s.api_key.is_empty()) {
            let line = r.raw(SEC, "enabled").map_or(0, |e| e.line);
            r.warn(line, "[stream] enabled = yes, but destination or api key is empty: sending stays disabled");
            s.enabled = false;
        }
        if !s.api_key.is_empty() && !is_uuid(&s.api_key) {
            let line = r.raw(SEC, "api key").map_or(0, |e| e.line);
            r.warn(line, "[stream] api key is not a UUID; parents will refuse it");
        }
        if s.destinations.iter().any(|d| d.ssl) {
            let line = r.raw(SEC, "destination").map_or(0, |e| e.line);
            r.warn(line, "[stream] destination: :SSL is not supported by this program");
        }

        let mut sections = BTreeMap::new();
        for (name, line) in doc.sections() {
            if name == SEC {
                continue;
            }
            let kind = r.get(name, "type", |v| match v {
                "api" | "machine" => Ok(v.to_string()),
                _ => Err("expected api or machine".to_string()),
            });
            if !is_uuid(name) && name != "API_KEY" && name != "MACHINE_GUID" {
                r.warn(
                    line,
                    format!("section [{name}] is not named by a UUID, so no API key or machine GUID can match it"),
                );
            }
            let enabled = r.get(name, "enabled", parse_bool);
            let allow_from = r.get(name, "allow from", |v| Ok(SimplePattern::new(v)));
            let as_api_key = read_overrides(&mut r, name, &API_NAMES, port);
            let as_machine = read_overrides(&mut r, name, &MACHINE_NAMES, port);
            let section =
                PeerSection { name: name.to_string(), line, kind, enabled, allow_from, as_api_key, as_machine };
            sections.insert(name.to_string(), section);
        }
        warn_unknown(&mut r, &sections);
        r.finish(StreamConf { stream: s, sections })
    }

    /// The section named `name` (an API key or machine GUID, exactly as sent).
    pub fn section(&self, name: &str) -> Option<&PeerSection> {
        self.sections.get(name)
    }

    /// API keys that would accept a child (enabled and of type api).
    pub fn enabled_api_keys(&self) -> impl Iterator<Item = &PeerSection> {
        self.sections.values().filter(|s| s.kind.as_deref().unwrap_or("api") == "api" && s.enabled == Some(true))
    }

    /// Effective settings of a host received with `api_key` and `machine_guid`, whose request
    /// said `update_every` (None or 0: our own default).
    pub fn host_settings(
        &self,
        netdata: &NetdataConf,
        api_key: &str,
        machine_guid: &str,
        update_every: Option<u32>,
    ) -> HostStreamSettings {
        let st = &self.stream;
        let mut h = HostStreamSettings {
            history: 3600,
            memory_mode: netdata.db.mode,
            health: HealthMode::Yes,
            postpone_alarms_secs: 60,
            proxy_enabled: st.enabled,
            proxy_destinations: st.destinations.clone(),
            proxy_api_key: st.api_key.clone(),
            proxy_send_charts_matching: st.send_charts_matching.clone(),
            enable_compression: true,
            enable_replication: st.enable_replication.unwrap_or(netdata.db.enable_replication),
            seconds_to_replicate: st.seconds_to_replicate.unwrap_or(netdata.db.seconds_to_replicate),
            seconds_per_replication_step: st
                .seconds_per_replication_step
                .unwrap_or(netdata.db.seconds_per_replication_step),
            update_every: update_every.filter(|&u| u > 0).unwrap_or(netdata.db.update_every),
            host_tags: String::new(),
        };
        let layers = [self.section(api_key).map(|s| &s.as_api_key), self.section(machine_guid).map(|s| &s.as_machine)];
        for o in layers.into_iter().flatten() {
            apply(&mut h, o);
        }
        h.history = h.history.max(5);
        h.enable_compression = h.enable_compression && st.enable_compression;
        h
    }
}

fn apply(h: &mut HostStreamSettings, o: &HostOverrides) {
    macro_rules! take {
        ($f:ident) => {
            if let Some(v) = &o.$f {
                h.$f = v.clone();
            }
        };
    }
    take!(history);
    take!(memory_mode);
    take!(health);
    take!(enable_compression);
    take!(enable_replication);
    take!(seconds_to_replicate);
    take!(seconds_per_replication_step);
    take!(update_every);
    if let Some(v) = o.postpone_alarms_secs {
        h.postpone_alarms_secs = v;
    }
    if let Some(v) = o.proxy_enabled {
        h.proxy_enabled = v;
    }
    if let Some((_, d)) = &o.proxy_destination {
        h.proxy_destinations = d.clone();
    }
    if let Some(k) = &o.proxy_api_key {
        h.proxy_api_key = k.clone();
    }
    if let Some(p) = &o.proxy_send_charts_matching {
        h.proxy_send_charts_matching = p.clone();
    }
    if let Some(t) = &o.host_tags {
        h.host_tags = t.clone();
    }
}

fn warn_unknown(r: &mut Reader<'_>, sections: &BTreeMap<String, PeerSection>) {
    let doc = r.doc;
    for e in doc.entries() {
        if e.section == "stream" {
            if keys::lookup(ConfFile::StreamConf, "stream", e.key).is_none() {
                r.warn(e.line, format!("[stream] {}: unknown key; ignored", e.key));
            }
            continue;
        }
        if e.key == "replication_step" || e.key == "default replication step" || e.key == "replication step" {
            r.warn(
                e.line,
                format!("[{}] {}: not read by Netdata 1.37 (the stock file's comment is wrong); use `seconds per replication step`", e.section, e.key),
            );
            continue;
        }
        let as_key = keys::lookup(ConfFile::StreamConf, "API_KEY", e.key).is_some();
        let as_machine = keys::lookup(ConfFile::StreamConf, "MACHINE_GUID", e.key).is_some();
        let kind = sections.get(e.section).and_then(|s| s.kind.as_deref());
        match (as_key, as_machine, kind) {
            (false, false, _) => r.warn(e.line, format!("[{}] {}: unknown key; ignored", e.section, e.key)),
            (false, true, Some("api")) => r.warn(
                e.line,
                format!("[{}] {}: read only in machine GUID sections, and this one has type = api", e.section, e.key),
            ),
            (true, false, Some("machine")) => r.warn(
                e.line,
                format!("[{}] {}: read only in API key sections, and this one has type = machine", e.section, e.key),
            ),
            _ => {}
        }
    }
}

// ------------------------------------------------------------------------------------------
// The parent's authentication decision

/// The parts of a `STREAM` request the decision needs. Empty strings count as absent (Netdata
/// drops empty parameters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamRequest<'a> {
    pub key: Option<&'a str>,
    pub hostname: Option<&'a str>,
    pub machine_guid: Option<&'a str>,
    /// `update_every` parameter, if it parsed.
    pub update_every: Option<u32>,
    pub peer_ip: IpAddr,
}

/// What the parent knows at the moment of the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentState<'a> {
    /// Our own machine GUID.
    pub own_machine_guid: &'a str,
    /// ACL of the listening socket the request came in on.
    pub listener_acl: WebAcl,
    /// Seconds since we last accepted a stream (None: never). Netdata 1.37 refuses the very
    /// first request after start when a rate limit is set; we do not copy that bug.
    pub secs_since_last_accept: Option<u64>,
    /// If a receiver is attached to a host with this GUID: seconds since it last got data.
    pub existing_receiver_idle_secs: Option<u64>,
}

/// Liveness window of an existing receiver (§2.3 step 7).
pub const RECEIVER_STALE_SECS: u64 = 30;

/// Why a stream request is refused, in the order the checks run (§2.3).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `[web] allow connections from` does not match the peer: close without a word.
    #[error("connection not allowed from this IP ([web] allow connections from)")]
    ConnectionNotAllowed,
    /// The listening socket has no `streaming` ACL, or `[web] allow streaming from` does not match.
    #[error("streaming not allowed on this port or from this IP ([web] bind to ACL / allow streaming from)")]
    WebAcl,
    #[error("request without an API key")]
    NoKey,
    #[error("request without a hostname")]
    NoHostname,
    #[error("request without a machine GUID")]
    NoMachineGuid,
    #[error("API key is not a valid GUID")]
    KeyNotUuid,
    #[error("machine GUID is not a valid GUID")]
    MachineGuidNotUuid,
    #[error("API key section has type = {0}, not api")]
    KeyNotApi(String),
    #[error("API key is not enabled")]
    KeyNotEnabled,
    #[error("API key is not allowed from this IP")]
    KeyIpNotAllowed,
    #[error("machine GUID section has type = {0}, not machine")]
    MachineNotMachine(String),
    #[error("machine GUID is not enabled")]
    MachineNotEnabled,
    #[error("machine GUID is not allowed from this IP")]
    MachineIpNotAllowed,
    #[error("too busy: a stream was accepted less than [web] accept a streaming request every seconds ago")]
    TooBusy,
    #[error("this GUID is already streaming (a live receiver got data within 30 s)")]
    AlreadyStreaming,
    #[error("the machine GUID is our own")]
    OwnMachineGuid,
}

/// Wire reply of every denial of steps 2–5 (§2.5), identical on purpose.
pub const REPLY_DENIED: &str = "You are not permitted to access this. Check the logs for more info.";
pub const REPLY_WEB_ACL: &str = "You are not allowed to access this resource.";
pub const REPLY_TOO_BUSY: &str = "The server is too busy now to accept this request. Try later.";
pub const REPLY_ALREADY_STREAMING: &str = "This GUID is already streaming to this server";
pub const REPLY_LOCALHOST: &str = "Don't hit me baby, you are trying to stream my localhost back";

impl Refusal {
    /// The raw bytes to send before closing (no HTTP, no newline); None = close silently.
    pub fn wire_reply(&self) -> Option<&'static str> {
        Some(match self {
            Refusal::ConnectionNotAllowed => return None,
            Refusal::WebAcl => REPLY_WEB_ACL,
            Refusal::TooBusy => REPLY_TOO_BUSY,
            Refusal::AlreadyStreaming => REPLY_ALREADY_STREAMING,
            Refusal::OwnMachineGuid => REPLY_LOCALHOST,
            _ => REPLY_DENIED,
        })
    }

    /// Netdata's access-log reason (`stream.log`), for our logs.
    pub fn log_reason(&self) -> &'static str {
        match self {
            Refusal::ConnectionNotAllowed => "CONNECTION NOT ALLOWED",
            Refusal::WebAcl => "ACCESS DENIED - WEB ACL",
            Refusal::NoKey => "ACCESS DENIED - NO KEY",
            Refusal::NoHostname => "ACCESS DENIED - NO HOSTNAME",
            Refusal::NoMachineGuid => "ACCESS DENIED - NO MACHINE GUID",
            Refusal::KeyNotUuid => "ACCESS DENIED - INVALID KEY",
            Refusal::MachineGuidNotUuid => "ACCESS DENIED - INVALID MACHINE GUID",
            Refusal::KeyNotApi(_) => "ACCESS DENIED - API KEY GIVEN IS NOT API KEY",
            Refusal::KeyNotEnabled => "ACCESS DENIED - KEY NOT ENABLED",
            Refusal::KeyIpNotAllowed => "ACCESS DENIED - KEY NOT ALLOWED FROM THIS IP",
            Refusal::MachineNotMachine(_) => "ACCESS DENIED - MACHINE GUID GIVEN IS NOT A MACHINE GUID",
            Refusal::MachineNotEnabled => "ACCESS DENIED - MACHINE GUID NOT ENABLED",
            Refusal::MachineIpNotAllowed => "ACCESS DENIED - MACHINE GUID NOT ALLOWED FROM THIS IP",
            Refusal::TooBusy => "RATE LIMIT TRY LATER",
            Refusal::AlreadyStreaming => "REJECTED - ALREADY CONNECTED",
            Refusal::OwnMachineGuid => "DENIED - ATTEMPT TO RECEIVE METRICS FROM MACHINE_GUID IDENTICAL TO PARENT",
        }
    }
}

/// An accepted request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub settings: HostStreamSettings,
    /// A receiver for this GUID exists but got no data for more than 30 s: shut it down and
    /// let this one take over.
    pub replaces_stale_receiver: bool,
}

/// The peer address as Netdata prints it for pattern matching (IPv4-mapped IPv6 as IPv4).
pub fn peer_ip_text(ip: IpAddr) -> String {
    ip.to_canonical().to_string()
}

fn present(v: Option<&str>) -> Option<&str> {
    v.filter(|s| !s.is_empty())
}

fn allowed(p: Option<&SimplePattern>, ip: &str) -> bool {
    // Netdata: a missing `allow from` defaults to `*`; an empty one skips the check.
    match p {
        None => true,
        Some(p) if p.is_empty() => true,
        Some(p) => p.matches(ip),
    }
}

/// The parent's decision on a `STREAM` request, in Netdata 1.37's exact order (§2.3):
/// web ACLs, required parameters, UUID syntax, API key section, machine GUID section, rate
/// limit, duplicate receiver, own GUID. Pure: no I/O, no clock.
pub fn authorize(
    stream: &StreamConf,
    netdata: &NetdataConf,
    req: &StreamRequest<'_>,
    parent: &ParentState<'_>,
) -> Result<Accepted, Refusal> {
    let ip = peer_ip_text(req.peer_ip);
    let web = &netdata.web;
    if !web.allow_connections_from.is_empty() && !web.allow_connections_from.matches(&ip) {
        return Err(Refusal::ConnectionNotAllowed);
    }
    if !parent.listener_acl.streaming
        || (!web.allow_streaming_from.is_empty() && !web.allow_streaming_from.matches(&ip))
    {
        return Err(Refusal::WebAcl);
    }
    let key = present(req.key).ok_or(Refusal::NoKey)?;
    present(req.hostname).ok_or(Refusal::NoHostname)?;
    let guid = present(req.machine_guid).ok_or(Refusal::NoMachineGuid)?;
    if !is_uuid(key) {
        return Err(Refusal::KeyNotUuid);
    }
    if !is_uuid(guid) {
        return Err(Refusal::MachineGuidNotUuid);
    }

    let ks = stream.section(key);
    let kind = ks.and_then(|s| s.kind.as_deref()).unwrap_or("api");
    if kind != "api" {
        return Err(Refusal::KeyNotApi(kind.to_string()));
    }
    if !ks.and_then(|s| s.enabled).unwrap_or(false) {
        return Err(Refusal::KeyNotEnabled);
    }
    if !allowed(ks.and_then(|s| s.allow_from.as_ref()), &ip) {
        return Err(Refusal::KeyIpNotAllowed);
    }

    let ms = stream.section(guid);
    let kind = ms.and_then(|s| s.kind.as_deref()).unwrap_or("machine");
    if kind != "machine" {
        return Err(Refusal::MachineNotMachine(kind.to_string()));
    }
    if !ms.and_then(|s| s.enabled).unwrap_or(true) {
        return Err(Refusal::MachineNotEnabled);
    }
    if !allowed(ms.and_then(|s| s.allow_from.as_ref()), &ip) {
        return Err(Refusal::MachineIpNotAllowed);
    }

    let rate = web.accept_streaming_every_secs;
    if rate > 0 && parent.secs_since_last_accept.is_some_and(|s| s < rate) {
        return Err(Refusal::TooBusy);
    }
    let mut replaces_stale_receiver = false;
    if let Some(idle) = parent.existing_receiver_idle_secs {
        if idle > RECEIVER_STALE_SECS {
            replaces_stale_receiver = true;
        } else {
            return Err(Refusal::AlreadyStreaming);
        }
    }
    if guid == parent.own_machine_guid {
        return Err(Refusal::OwnMachineGuid);
    }
    Ok(Accepted { settings: stream.host_settings(netdata, key, guid, req.update_every), replaces_stale_receiver })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        let d =
            parse_destinations("10.0.0.1 tcp:parent:20000, [fe80::1]%eth0:19998:SSL unix:/run/nd.sock p2:SSL", 19999)
                .expect("parses");
        assert_eq!(d.len(), 5);
        assert_eq!((d[0].host.as_str(), d[0].port, d[0].ssl), ("10.0.0.1", 19999, false));
        assert_eq!((d[1].host.as_str(), d[1].port), ("parent", 20000));
        assert_eq!(
            (d[2].host.as_str(), d[2].interface.as_deref(), d[2].port, d[2].ssl),
            ("fe80::1", Some("eth0"), 19998, true)
        );
        assert_eq!(d[2].host_port(), "[fe80::1]:19998");
        assert_eq!(d[3].protocol, DestProtocol::Unix);
        assert_eq!((d[4].port, d[4].ssl), (19999, true));
        assert!(parse_destinations("host:99999", 19999).is_err());
        assert!(parse_destinations("udp:host", 19999).is_err());
        assert!(parse_destinations("host:1:TLS", 19999).is_err());
        assert_eq!(parse_destinations("  ", 19999), Ok(vec![]));
    }

    #[test]
    fn uuids() {
        assert!(is_uuid("11111111-2222-3333-4444-555555555555"));
        assert!(is_uuid("AbCdEf00-2222-3333-4444-555555555555"));
        assert!(!is_uuid("11111111222233334444555555555555"));
        assert!(!is_uuid("API_KEY"));
    }
}
