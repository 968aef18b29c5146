//! The catalog of every key we read: the source for the man page and for "unknown key"
//! warnings. A test checks that the parsers and this table agree.

/// Which configuration file a key belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfFile {
    NetdataConf,
    StreamConf,
}

impl ConfFile {
    pub fn file_name(self) -> &'static str {
        match self {
            ConfFile::NetdataConf => "netdata.conf",
            ConfFile::StreamConf => "stream.conf",
        }
    }
}

/// One documented key. In `section`, `API_KEY` and `MACHINE_GUID` stand for a section named by
/// an API key or a machine GUID. In `key`, `N` stands for a tier number 0..=4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyDoc {
    pub file: ConfFile,
    pub section: &'static str,
    pub key: &'static str,
    /// The default, as it would be written in the file ("" = empty; prose in parentheses when
    /// it depends on something else).
    pub default: &'static str,
    pub description: &'static str,
    /// For old spellings: the key this one is an alias of.
    pub alias_of: Option<&'static str>,
}

const fn k(
    file: ConfFile,
    section: &'static str,
    key: &'static str,
    default: &'static str,
    description: &'static str,
) -> KeyDoc {
    KeyDoc { file, section, key, default, description, alias_of: None }
}

const fn alias(section: &'static str, key: &'static str, of: &'static str, description: &'static str) -> KeyDoc {
    KeyDoc { file: ConfFile::NetdataConf, section, key, default: "", description, alias_of: Some(of) }
}

use ConfFile::{NetdataConf as N, StreamConf as S};

static KEYS: &[KeyDoc] = &[
    // ---------------------------------------------------------------- netdata.conf
    k(N, "global", "hostname", "(the system host name)", "Name of this node, as shown to users and sent upstream."),
    k(N, "global", "update every", "1", "Collection interval in seconds (1..=600). Older spelling of [db] update every, which wins when both are set."),
    k(N, "directories", "config", "/etc/netdata", "Directory of netdata.conf and stream.conf."),
    k(N, "directories", "cache", "/var/cache/netdata", "Directory of the metrics database (one subdirectory per tier)."),
    k(N, "directories", "lib", "/var/lib/netdata", "Directory of persistent state (machine GUID, metadata)."),
    k(N, "directories", "log", "/var/log/netdata", "Directory of log files."),
    k(N, "web", "bind to", "127.0.0.1:19999", "Listening sockets: space or comma separated [tcp:]IP[:PORT][=ACL|ACL...] entries; IP may be `*` (all IPv4 and IPv6 addresses), a name, or [IPv6]; unix:/path for a unix socket. ACL words: dashboard, registry, badges, management, streaming, netdata.conf (default: all)."),
    k(N, "web", "default port", "19999", "Port of `bind to` entries that give none."),
    k(N, "web", "allow connections from", "localhost *", "Simple pattern of client IPs allowed to connect at all."),
    k(N, "web", "allow streaming from", "*", "Simple pattern of client IPs allowed to stream metrics to us."),
    k(N, "web", "accept a streaming request every seconds", "0", "Accept at most one stream connection per this many seconds (0 = no limit)."),
    k(N, "web", "stream max line bytes", "15360", "Longest line a stream peer may send (1024..=15360, the protocol maximum); a longer one closes that stream."),
    k(N, "web", "stream max charts per host", "20000", "Charts one streamed host may define; more close that stream."),
    k(N, "web", "stream max dimensions per chart", "2000", "Dimensions one chart may define (1..=10000); more close that stream."),
    k(N, "web", "stream max concurrent", "1024", "Streams received at once; more are refused with Netdata's 'too busy' reply."),
    k(N, "web", "stream handshake timeout seconds", "10", "Time a new connection gets to send its STREAM request."),
    k(N, "db", "mode", "dbengine", "Database mode: dbengine (files on disk), ram (memory only), none (no database). save, map and alloc are read as dbengine/ram with a warning."),
    k(N, "db", "update every", "1", "Collection interval in seconds (1..=600)."),
    k(N, "db", "storage tiers", "3", "Number of tiers (1..=5): tier 0 keeps every point, each higher tier aggregates the one below."),
    k(N, "db", "dbengine tier N retention size", "1GiB", "Hard limit of the disk space of tier N (the tier never exceeds it by more than one data file). Units B, KiB, MiB, GiB, TiB (also KB, MB, GB, TB); a bare number is MiB."),
    k(N, "db", "dbengine tier N retention time", "0", "Drop points of tier N older than this (14d, 3mo, 2y, 12h, 30m, 60s; a bare number is days); 0 = no time limit."),
    k(N, "db", "dbengine tier N update every iterations", "60", "For tiers 1..=4: how many points of the tier below make one point of tier N (2..=1000). The product over tiers 1..=N must stay below 2^32."),
    k(N, "db", "dbengine flush interval", "5s", "Accepted points are made durable at least this often (1s..=10s): the most a crash (kill -9) can lose."),
    k(N, "db", "enable replication", "yes", "Ask children for the history we miss when they connect (default for every stream.conf key/host)."),
    k(N, "db", "seconds to replicate", "86400", "How far back replication goes (seconds)."),
    k(N, "db", "seconds per replication step", "600", "Seconds of history asked for in one replication request."),
    alias("db", "dbengine multihost disk space MB", "dbengine tier 0 retention size", "Netdata 1.37 spelling: tier 0 size in MiB."),
    alias("db", "dbengine tier N multihost disk space MB", "dbengine tier N retention size", "Netdata 1.37 spelling: tier N size in MiB."),
    alias("db", "dbengine tier N disk space MB", "dbengine tier N retention size", "Old spelling: tier N size in MiB."),
    alias("db", "dbengine disk space MB", "dbengine tier 0 retention size", "Old per-host quota; read as tier 0 size in MiB when no other tier 0 size is given."),
    alias("db", "dbengine tier N retention days", "dbengine tier N retention time", "Old spelling: retention of tier N in days."),
    alias("db", "dbengine page cache size MB", "", "Netdata 1.37 page cache size; accepted and ignored."),
    alias("db", "dbengine tier N page cache size MB", "", "Netdata 1.37 page cache size per tier; accepted and ignored."),
    k(N, "plugins", "proc", "yes", "Collect this node's own system metrics (/proc)."),
    k(N, "cluster", "snapshot key", "", "Key of the cache-snapshot endpoints (/api/v1/cluster/*) that `netdatactl duplicate --from http://...` pulls a consistent copy of this parent through: 16 to 256 printable characters without blanks, e.g. a UUID. Empty (the default) turns the endpoints off."),
    // ---------------------------------------------------------------- stream.conf [stream]
    k(S, "stream", "enabled", "no", "Stream this node's metrics (and, by default, every child's) to a parent."),
    k(S, "stream", "destination", "", "Parents to stream to: space or comma separated [tcp:]HOST[%IFACE][:PORT][:SSL] entries, HOST an IP, [IPv6] or name. Tried in order; after each successful connection the used entry moves to the end."),
    k(S, "stream", "api key", "", "The API key (a UUID) we present to the parent."),
    k(S, "stream", "timeout seconds", "600", "Connect/handshake timeout, and idle limit of a stream connection."),
    k(S, "stream", "default port", "19999", "Port of destinations that give none."),
    k(S, "stream", "reconnect delay seconds", "5", "Wait after a failed connection attempt."),
    k(S, "stream", "buffer size bytes", "10485760", "Largest send buffer; overflowing it drops the connection."),
    k(S, "stream", "enable compression", "yes", "Offer (as a child) and allow (as a parent) LZ4 stream compression."),
    k(S, "stream", "send charts matching", "*", "Simple pattern of chart ids/names to stream."),
    k(S, "stream", "initial clock resync iterations", "60", "Without replication: iterations sent with a zero timestamp after connecting."),
    k(S, "stream", "enable replication", "(netdata.conf [db] enable replication)", "Extension (Netdata 1.37 reads only netdata.conf): overrides [db] enable replication for streaming."),
    k(S, "stream", "seconds to replicate", "(netdata.conf [db] seconds to replicate)", "Extension: overrides [db] seconds to replicate for streaming."),
    k(S, "stream", "seconds per replication step", "(netdata.conf [db] seconds per replication step)", "Extension: overrides [db] seconds per replication step for streaming."),
    k(S, "stream", "ssl skip certificate verification", "no", "Accepted for compatibility; TLS is not supported."),
    k(S, "stream", "CApath", "", "Accepted for compatibility; TLS is not supported."),
    k(S, "stream", "CAfile", "", "Accepted for compatibility; TLS is not supported."),
    // ---------------------------------------------------------------- stream.conf [API_KEY]
    k(S, "API_KEY", "type", "api", "Must be `api` for the section to authorize an API key."),
    k(S, "API_KEY", "enabled", "no", "Children may stream with this key only when yes."),
    k(S, "API_KEY", "allow from", "*", "Simple pattern of peer IPs allowed to use this key (empty = everyone)."),
    k(S, "API_KEY", "default history", "3600", "Ring size for non-dbengine modes (at least 5)."),
    k(S, "API_KEY", "default memory mode", "(netdata.conf [db] mode)", "Database mode of hosts using this key."),
    k(S, "API_KEY", "health enabled by default", "yes", "Health checks for hosts using this key: yes, no or auto."),
    k(S, "API_KEY", "default postpone alarms on connect seconds", "60", "Delay alarms after a host connects."),
    k(S, "API_KEY", "default proxy enabled", "([stream] enabled)", "Re-stream hosts using this key upstream."),
    k(S, "API_KEY", "default proxy destination", "([stream] destination)", "Upstream destinations for re-streaming."),
    k(S, "API_KEY", "default proxy api key", "([stream] api key)", "API key used upstream."),
    k(S, "API_KEY", "default proxy send charts matching", "([stream] send charts matching)", "Charts re-streamed upstream."),
    k(S, "API_KEY", "enable compression", "yes", "Allow compression for hosts using this key (also needs [stream] enable compression)."),
    k(S, "API_KEY", "enable replication", "([db] enable replication)", "Replicate history of hosts using this key."),
    k(S, "API_KEY", "seconds to replicate", "([db] seconds to replicate)", "How far back to replicate."),
    k(S, "API_KEY", "seconds per replication step", "([db] seconds per replication step)", "Seconds per replication request."),
    // ---------------------------------------------------------------- stream.conf [MACHINE_GUID]
    k(S, "MACHINE_GUID", "type", "machine", "Must be `machine` for the section to apply to a host GUID."),
    k(S, "MACHINE_GUID", "enabled", "yes", "When no, this host is refused (not a security measure: use API keys)."),
    k(S, "MACHINE_GUID", "allow from", "*", "Simple pattern of peer IPs this host may stream from (empty = everyone)."),
    k(S, "MACHINE_GUID", "history", "([API_KEY] default history)", "Ring size for non-dbengine modes (at least 5)."),
    k(S, "MACHINE_GUID", "memory mode", "([API_KEY] default memory mode)", "Database mode of this host."),
    k(S, "MACHINE_GUID", "health enabled", "([API_KEY] health enabled by default)", "Health checks: yes, no or auto."),
    k(S, "MACHINE_GUID", "postpone alarms on connect seconds", "([API_KEY] default postpone alarms on connect seconds)", "Delay alarms after connecting."),
    k(S, "MACHINE_GUID", "proxy enabled", "([API_KEY] default proxy enabled)", "Re-stream this host upstream."),
    k(S, "MACHINE_GUID", "proxy destination", "([API_KEY] default proxy destination)", "Upstream destinations."),
    k(S, "MACHINE_GUID", "proxy api key", "([API_KEY] default proxy api key)", "API key used upstream."),
    k(S, "MACHINE_GUID", "proxy send charts matching", "([API_KEY] default proxy send charts matching)", "Charts re-streamed upstream."),
    k(S, "MACHINE_GUID", "enable compression", "([API_KEY] enable compression)", "Allow compression for this host."),
    k(S, "MACHINE_GUID", "enable replication", "([API_KEY] enable replication)", "Replicate this host's history."),
    k(S, "MACHINE_GUID", "seconds to replicate", "([API_KEY] seconds to replicate)", "How far back to replicate."),
    k(S, "MACHINE_GUID", "seconds per replication step", "([API_KEY] seconds per replication step)", "Seconds per replication request."),
    k(S, "MACHINE_GUID", "update every", "(the update_every the child sends)", "Overrides the host's update every."),
    k(S, "MACHINE_GUID", "host tags", "", "Host tags."),
];

/// Every key we read, with its default and description.
pub fn known_keys() -> &'static [KeyDoc] {
    KEYS
}

/// Does `key` match the catalog's `template` (where `N` stands for a tier digit 0..=4)?
/// Returns the tier number for templates with `N`.
pub fn key_matches(template: &str, key: &str) -> Option<Option<usize>> {
    if !template.contains(" N ") {
        return (template == key).then_some(None);
    }
    let (pre, post) = template.split_once(" N ")?;
    let rest = key.strip_prefix(pre)?.strip_prefix(' ')?;
    let (digit, tail) = rest.split_once(' ')?;
    if tail != post || digit.len() != 1 {
        return None;
    }
    let n = digit.parse::<usize>().ok().filter(|&n| n < crate::storage::MAX_TIERS)?;
    Some(Some(n))
}

/// The catalog entry for `key` in `section` of `file` (`section` as in [`KeyDoc::section`]).
pub fn lookup(file: ConfFile, section: &str, key: &str) -> Option<&'static KeyDoc> {
    KEYS.iter().find(|d| d.file == file && d.section == section && key_matches(d.key, key).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tier_templates() {
        assert_eq!(key_matches("dbengine tier N retention size", "dbengine tier 2 retention size"), Some(Some(2)));
        assert_eq!(key_matches("dbengine tier N retention size", "dbengine tier 5 retention size"), None);
        assert_eq!(key_matches("dbengine tier N retention size", "dbengine tier 22 retention size"), None);
        assert_eq!(key_matches("mode", "mode"), Some(None));
    }
}
