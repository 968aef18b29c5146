//! The child's `STREAM` request (spec §2.1–2.2): hand parser for the parent, builder for our
//! child role, and [`is_stream_request`] for the port shared with HTTP.
//!
//! Wire shape (one line, CRLF, then headers, then an empty line):
//!
//! ```text
//! STREAM key=K&hostname=H&...&NETDATA_CONTAINER_OS_NAME=Debian GNU/Linux&NETDATA_PROTOCOL_VERSION=1.1 HTTP/1.1\r\n
//! User-Agent: netdata/v1.37.1\r\n
//! Accept: */*\r\n
//! \r\n
//! ```
//!
//! There is no path and no `?`; the target runs to the first ` HTTP/` and may contain raw
//! spaces. Like Netdata, the whole target is percent-decoded (`+` → space) *before* splitting on
//! `&` and `=`; parameters with an empty value are skipped; for repeated names the first wins.

use super::handshake::Capabilities;
use super::number::parse_strtoll;

/// The method and its space.
pub const STREAM_PREFIX: &[u8] = b"STREAM ";
/// A parent gives up on requests (line + headers) larger than this.
pub const MAX_REQUEST_LEN: usize = 16 * 1024;
/// The decoded target must fit Netdata's 8192-byte buffer (with its NUL).
pub const MAX_DECODED_TARGET: usize = 8191;
/// The child builds its request in an 8 KiB buffer.
pub const MAX_BUILT_REQUEST: usize = 8192;

/// Port dispatch on the first bytes of a connection: `Some(true)` = a `STREAM ` request,
/// `Some(false)` = anything else (HTTP), `None` = too few bytes to tell yet.
pub fn is_stream_request(first_bytes: &[u8]) -> Option<bool> {
    let n = first_bytes.len().min(STREAM_PREFIX.len());
    if first_bytes[..n] != STREAM_PREFIX[..n] {
        Some(false)
    } else if n < STREAM_PREFIX.len() {
        None
    } else {
        Some(true)
    }
}

/// Why a request was refused before authentication (a 1.37.1 parent answers these with an HTTP
/// 400 or closes; the daemon decides).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("not a STREAM request")]
    NotStream,
    #[error("request of {len} bytes exceeds {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("request line has no ' HTTP/' terminator")]
    NoHttpVersion,
    #[error("bad percent-encoding at byte {at} of the request target: {reason}")]
    BadEncoding { at: usize, reason: &'static str },
    #[error("decoded request target is not valid UTF-8")]
    InvalidUtf8,
}

/// Why an otherwise well-formed request is denied (spec §2.3 steps 2–3; all of them get
/// [`super::handshake::REFUSE_DENIED`] on the wire).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestDenied {
    #[error("request has no API key")]
    MissingKey,
    #[error("request has no hostname")]
    MissingHostname,
    #[error("request has no machine GUID")]
    MissingMachineGuid,
    #[error("API key {0:?} is not a UUID")]
    KeyNotUuid(String),
    #[error("machine GUID {0:?} is not a UUID")]
    MachineGuidNotUuid(String),
}

/// A parsed `STREAM` request, as the parent sees it (after URL decoding, empty values dropped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamRequest {
    pub key: Option<String>,
    pub hostname: Option<String>,
    pub registry_hostname: Option<String>,
    pub machine_guid: Option<String>,
    /// The sender's *global* update every (base auto-detected, `0x..` works).
    pub update_every: Option<i64>,
    pub os: Option<String>,
    pub timezone: Option<String>,
    pub abbrev_timezone: Option<String>,
    pub utc_offset: Option<i64>,
    pub hops: Option<i64>,
    pub ml_capable: Option<i64>,
    pub ml_enabled: Option<i64>,
    pub mc_version: Option<i64>,
    pub tags: Option<String>,
    /// `ver=` (base auto-detected; a non-number reads as 0 like `strtoul`). `None` = absent,
    /// which negotiates as version 1 (as does `NETDATA_PROTOCOL_VERSION` alone).
    pub ver: Option<u64>,
    /// Whether `NETDATA_PROTOCOL_VERSION` was present.
    pub protocol_version_seen: bool,
    /// Every known `NETDATA_*` system-info parameter, in arrival order, names as received
    /// (a 1.37.1 parent stores `NETDATA_SYSTEM_OS_*` under `NETDATA_HOST_OS_*`).
    pub system_info: Vec<(String, String)>,
    /// Parameters the parent does not know (logged and ignored by Netdata).
    pub unknown: Vec<(String, String)>,
    /// `User-Agent` split at the first `/` into (program, version).
    pub user_agent: Option<(String, String)>,
}

/// `NETDATA_*` parameter names a 1.37.1 parent accepts as system info.
pub const SYSTEM_INFO_NAMES: &[&str] = &[
    "NETDATA_INSTANCE_CLOUD_TYPE",
    "NETDATA_INSTANCE_CLOUD_INSTANCE_TYPE",
    "NETDATA_INSTANCE_CLOUD_INSTANCE_REGION",
    "NETDATA_SYSTEM_OS_NAME",
    "NETDATA_SYSTEM_OS_ID",
    "NETDATA_SYSTEM_OS_ID_LIKE",
    "NETDATA_SYSTEM_OS_VERSION",
    "NETDATA_SYSTEM_OS_VERSION_ID",
    "NETDATA_SYSTEM_OS_DETECTION",
    "NETDATA_HOST_IS_K8S_NODE",
    "NETDATA_SYSTEM_KERNEL_NAME",
    "NETDATA_SYSTEM_KERNEL_VERSION",
    "NETDATA_SYSTEM_ARCHITECTURE",
    "NETDATA_SYSTEM_VIRTUALIZATION",
    "NETDATA_SYSTEM_VIRT_DETECTION",
    "NETDATA_SYSTEM_CONTAINER",
    "NETDATA_SYSTEM_CONTAINER_DETECTION",
    "NETDATA_CONTAINER_OS_NAME",
    "NETDATA_CONTAINER_OS_ID",
    "NETDATA_CONTAINER_OS_ID_LIKE",
    "NETDATA_CONTAINER_OS_VERSION",
    "NETDATA_CONTAINER_OS_VERSION_ID",
    "NETDATA_CONTAINER_OS_DETECTION",
    "NETDATA_SYSTEM_CPU_LOGICAL_CPU_COUNT",
    "NETDATA_SYSTEM_CPU_FREQ",
    "NETDATA_SYSTEM_TOTAL_RAM",
    "NETDATA_SYSTEM_TOTAL_DISK_SIZE",
    // accepted, not sent by 1.37.1 children (from here on: see CHILD_SENDS)
    "NETDATA_SYSTEM_CPU_VENDOR",
    "NETDATA_SYSTEM_CPU_MODEL",
    "NETDATA_SYSTEM_CPU_DETECTION",
    "NETDATA_SYSTEM_RAM_DETECTION",
    "NETDATA_SYSTEM_DISK_DETECTION",
    "NETDATA_CONTAINER_IS_OFFICIAL_IMAGE",
    "NETDATA_HOST_OS_NAME",
    "NETDATA_HOST_OS_ID",
    "NETDATA_HOST_OS_ID_LIKE",
    "NETDATA_HOST_OS_VERSION",
    "NETDATA_HOST_OS_VERSION_ID",
    "NETDATA_HOST_OS_DETECTION",
];

/// The five fields a 1.37.1 proxy/child crashes without (spec §2.2): always sent non-empty.
pub const MANDATORY_SYSTEM_INFO: [&str; 5] = [
    "NETDATA_SYSTEM_OS_NAME",
    "NETDATA_SYSTEM_OS_ID",
    "NETDATA_SYSTEM_OS_VERSION",
    "NETDATA_SYSTEM_KERNEL_NAME",
    "NETDATA_SYSTEM_KERNEL_VERSION",
];

impl StreamRequest {
    /// Parses a request from the start of `buf`. `Ok(None)` = incomplete (the header block's
    /// `\r\n\r\n` has not arrived yet and the buffer is within [`MAX_REQUEST_LEN`]);
    /// `Ok(Some((request, consumed)))` = complete, `consumed` bytes including the empty line.
    pub fn parse(buf: &[u8]) -> Result<Option<(StreamRequest, usize)>, RequestError> {
        if is_stream_request(buf) == Some(false) {
            return Err(RequestError::NotStream);
        }
        let Some(end) = find(buf, b"\r\n\r\n") else {
            if buf.len() > MAX_REQUEST_LEN {
                return Err(RequestError::TooLarge { len: buf.len(), max: MAX_REQUEST_LEN });
            }
            return Ok(None);
        };
        let consumed = end + 4;
        if consumed > MAX_REQUEST_LEN {
            return Err(RequestError::TooLarge { len: consumed, max: MAX_REQUEST_LEN });
        }
        let head = &buf[..end];
        let line_end = find(head, b"\r\n").unwrap_or(head.len());
        let line = &head[..line_end];
        let after_method = &line[STREAM_PREFIX.len()..];
        let target_len = find(after_method, b" HTTP/").ok_or(RequestError::NoHttpVersion)?;
        let decoded = url_decode(&after_method[..target_len])?;
        let mut req = StreamRequest::default();
        for pair in decoded.split('&') {
            let Some((name, value)) = pair.split_once('=') else { continue };
            if name.is_empty() || value.is_empty() {
                continue;
            }
            req.set_param(name, value);
        }
        for header in head[line_end..].split(|&b| b == b'\n') {
            let header = header.strip_suffix(b"\r").unwrap_or(header);
            let Some(colon) = header.iter().position(|&b| b == b':') else { continue };
            if header[..colon].eq_ignore_ascii_case(b"user-agent") {
                let v = String::from_utf8_lossy(&header[colon + 1..]).trim().to_owned();
                let (prog, ver) = v.split_once('/').unwrap_or((v.as_str(), ""));
                req.user_agent = Some((prog.to_owned(), ver.to_owned()));
            }
        }
        Ok(Some((req, consumed)))
    }

    fn set_param(&mut self, name: &str, value: &str) {
        fn first(slot: &mut Option<String>, v: &str) {
            if slot.is_none() {
                *slot = Some(v.to_owned());
            }
        }
        fn first_int(slot: &mut Option<i64>, v: &str) {
            if slot.is_none() {
                *slot = parse_strtoll(v.as_bytes());
            }
        }
        match name {
            "key" => first(&mut self.key, value),
            "hostname" => first(&mut self.hostname, value),
            "registry_hostname" => first(&mut self.registry_hostname, value),
            "machine_guid" => first(&mut self.machine_guid, value),
            "update_every" => first_int(&mut self.update_every, value),
            "os" => first(&mut self.os, value),
            "timezone" => first(&mut self.timezone, value),
            "abbrev_timezone" => first(&mut self.abbrev_timezone, value),
            "utc_offset" => first_int(&mut self.utc_offset, value),
            "hops" => first_int(&mut self.hops, value),
            "ml_capable" => first_int(&mut self.ml_capable, value),
            "ml_enabled" => first_int(&mut self.ml_enabled, value),
            "mc_version" => first_int(&mut self.mc_version, value),
            "tags" => first(&mut self.tags, value),
            "ver" => {
                if self.ver.is_none() {
                    let v = parse_strtoll(value.as_bytes()).unwrap_or(0);
                    self.ver = Some(u64::try_from(v).unwrap_or(0));
                }
            }
            "NETDATA_PROTOCOL_VERSION" => self.protocol_version_seen = true,
            n if SYSTEM_INFO_NAMES.contains(&n) => {
                if !self.system_info.iter().any(|(k, _)| k == n) {
                    self.system_info.push((n.to_owned(), value.to_owned()));
                }
            }
            _ => self.unknown.push((name.to_owned(), value.to_owned())),
        }
    }

    /// A system-info value; `NETDATA_SYSTEM_OS_*` and `NETDATA_HOST_OS_*` are interchangeable.
    pub fn system_info(&self, name: &str) -> Option<&str> {
        let alt = if let Some(rest) = name.strip_prefix("NETDATA_SYSTEM_OS_") {
            Some(format!("NETDATA_HOST_OS_{rest}"))
        } else {
            name.strip_prefix("NETDATA_HOST_OS_").map(|rest| format!("NETDATA_SYSTEM_OS_{rest}"))
        };
        self.system_info
            .iter()
            .find(|(k, _)| k == name || alt.as_deref() == Some(k.as_str()))
            .map(|(_, v)| v.as_str())
    }

    /// Spec §2.3 steps 2–3: key, hostname and machine GUID present; key and GUID are UUIDs.
    pub fn check_identity(&self) -> Result<(), RequestDenied> {
        let key = self.key.as_deref().ok_or(RequestDenied::MissingKey)?;
        self.hostname.as_deref().ok_or(RequestDenied::MissingHostname)?;
        let guid = self.machine_guid.as_deref().ok_or(RequestDenied::MissingMachineGuid)?;
        if uuid::Uuid::try_parse(key).is_err() {
            return Err(RequestDenied::KeyNotUuid(key.to_owned()));
        }
        if uuid::Uuid::try_parse(guid).is_err() {
            return Err(RequestDenied::MachineGuidNotUuid(guid.to_owned()));
        }
        Ok(())
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Netdata's URL decoding of the whole target: `%xx` and `+` → space. An escape must have two
/// hex digits and must not decode to NUL or a control character; the result must be UTF-8 and
/// fit [`MAX_DECODED_TARGET`].
pub fn url_decode(target: &[u8]) -> Result<String, RequestError> {
    let mut out = Vec::with_capacity(target.len());
    let mut i = 0;
    while i < target.len() {
        let c = target[i];
        match c {
            b'%' => {
                let (Some(&h), Some(&l)) = (target.get(i + 1), target.get(i + 2)) else {
                    return Err(RequestError::BadEncoding { at: i, reason: "truncated escape" });
                };
                let (Some(h), Some(l)) = (hex(h), hex(l)) else {
                    return Err(RequestError::BadEncoding { at: i, reason: "escape is not hex" });
                };
                let b = h << 4 | l;
                if b < 0x20 || b == 0x7f {
                    return Err(RequestError::BadEncoding {
                        at: i,
                        reason: "escape decodes to a control character",
                    });
                }
                out.push(b);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
        if out.len() > MAX_DECODED_TARGET {
            return Err(RequestError::TooLarge { len: out.len(), max: MAX_DECODED_TARGET });
        }
    }
    String::from_utf8(out).map_err(|_| RequestError::InvalidUtf8)
}

/// Netdata's URL encoder: keeps `[A-Za-z0-9-_.~]`, space → `+`, everything else `%xx`
/// (lowercase hex).
pub fn url_encode(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
}

/// What our child role sends: builds the request exactly in a 1.37.1 child's parameter order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildRequest {
    pub key: String,
    pub hostname: String,
    pub registry_hostname: String,
    pub machine_guid: String,
    pub update_every: i64,
    pub os: String,
    pub timezone: String,
    pub abbrev_timezone: String,
    pub utc_offset: i64,
    /// Hops of the host on the sender + 1 (a direct child sends 1).
    pub hops: i64,
    pub ml_capable: bool,
    pub ml_enabled: bool,
    pub mc_version: u32,
    pub tags: String,
    pub capabilities: Capabilities,
    /// `NETDATA_*` values by name; the five of [`MANDATORY_SYSTEM_INFO`] are sent as `unknown`
    /// when missing or empty, the other names of the 1.37.1 list are sent only when present.
    pub system_info: Vec<(String, String)>,
    /// `User-Agent` as `program/version`.
    pub user_agent: String,
}

/// How many of [`SYSTEM_INFO_NAMES`], from the first, a 1.37.1 child sends, in that order.
const CHILD_SENDS: usize = 27;

/// The order a 1.37.1 child sends system info in.
const CHILD_SYSTEM_INFO_ORDER: &[&str] = SYSTEM_INFO_NAMES.split_at(CHILD_SENDS).0;

impl ChildRequest {
    /// The request bytes (line, `User-Agent`, `Accept`, empty line). Every value is
    /// percent-encoded (the parent decodes the whole target, so this is always safe; Netdata
    /// itself encodes only five fields and sends the rest raw). A `&` inside a value cannot
    /// survive Netdata's decode-then-split and is sent as `_`.
    pub fn encode(&self) -> Result<Vec<u8>, RequestError> {
        let mut t = String::with_capacity(2048);
        let param = |t: &mut String, name: &str, value: &str| {
            if !t.is_empty() {
                t.push('&');
            }
            t.push_str(name);
            t.push('=');
            // the parent decodes before splitting, so even `%26` would split: `&` cannot be sent
            url_encode(&value.replace('&', "_"), t);
        };
        let b = |v: bool| if v { "1" } else { "0" };
        param(&mut t, "key", &self.key);
        param(&mut t, "hostname", &self.hostname);
        param(&mut t, "registry_hostname", &self.registry_hostname);
        param(&mut t, "machine_guid", &self.machine_guid);
        param(&mut t, "update_every", &self.update_every.to_string());
        param(&mut t, "os", &self.os);
        param(&mut t, "timezone", &self.timezone);
        param(&mut t, "abbrev_timezone", &self.abbrev_timezone);
        param(&mut t, "utc_offset", &self.utc_offset.to_string());
        param(&mut t, "hops", &self.hops.to_string());
        param(&mut t, "ml_capable", b(self.ml_capable));
        param(&mut t, "ml_enabled", b(self.ml_enabled));
        param(&mut t, "mc_version", &self.mc_version.to_string());
        param(&mut t, "tags", &self.tags);
        param(&mut t, "ver", &self.capabilities.bits().to_string());
        for &name in CHILD_SYSTEM_INFO_ORDER {
            let v = self
                .system_info
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty());
            match v {
                Some(v) => param(&mut t, name, v),
                None if MANDATORY_SYSTEM_INFO.contains(&name) => param(&mut t, name, "unknown"),
                None => {}
            }
        }
        // Our own extensions (e.g. NETDATA_VIA_PARENT_GUID): a 1.37.1 parent logs and ignores them.
        for (k, v) in &self.system_info {
            if !v.is_empty() && !CHILD_SYSTEM_INFO_ORDER.contains(&k.as_str()) && k.starts_with("NETDATA_") {
                param(&mut t, k, v);
            }
        }
        param(&mut t, "NETDATA_PROTOCOL_VERSION", "1.1");
        let mut out = Vec::with_capacity(t.len() + 128);
        out.extend_from_slice(STREAM_PREFIX);
        out.extend_from_slice(t.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\nUser-Agent: ");
        out.extend(self.user_agent.bytes().filter(|&c| c != b'\r' && c != b'\n'));
        out.extend_from_slice(b"\r\nAccept: */*\r\n\r\n");
        if out.len() > MAX_BUILT_REQUEST {
            return Err(RequestError::TooLarge { len: out.len(), max: MAX_BUILT_REQUEST });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURED: &str = "STREAM key=11111111-2222-3333-4444-555555555555&hostname=ndchild&registry_hostname=ndchild&machine_guid=c325f67c-e903-11f1-a751-02fc00000001&update_every=1&os=linux&timezone=Etc/UTC&abbrev_timezone=UTC&utc_offset=0&hops=1&ml_capable=0&ml_enabled=0&mc_version=1&tags=&ver=15352&NETDATA_INSTANCE_CLOUD_TYPE=unknown&NETDATA_SYSTEM_OS_NAME=unknown&NETDATA_CONTAINER_OS_NAME=Debian GNU/Linux&NETDATA_CONTAINER_OS_VERSION=12 (bookworm)&NETDATA_SYSTEM_CPU_FREQ=2.3e+09&NETDATA_PROTOCOL_VERSION=1.1 HTTP/1.1\r\nUser-Agent: netdata/v1.37.1\r\nAccept: */*\r\n\r\n";

    #[test]
    fn dispatch_by_first_bytes() {
        assert_eq!(is_stream_request(b""), None);
        assert_eq!(is_stream_request(b"STRE"), None);
        assert_eq!(is_stream_request(b"STREAM "), Some(true));
        assert_eq!(is_stream_request(b"STREAM key=x"), Some(true));
        assert_eq!(is_stream_request(b"GET /api/v1/info"), Some(false));
        assert_eq!(is_stream_request(b"STREAMX"), Some(false));
        assert_eq!(is_stream_request(b"S"), None);
    }

    #[test]
    fn parses_a_captured_request_with_raw_spaces() {
        let mut buf = CAPTURED.as_bytes().to_vec();
        buf.extend_from_slice(b"trailing");
        let (r, used) = StreamRequest::parse(&buf).ok().flatten().expect("complete");
        assert_eq!(used, CAPTURED.len());
        assert_eq!(r.key.as_deref(), Some("11111111-2222-3333-4444-555555555555"));
        assert_eq!(r.hostname.as_deref(), Some("ndchild"));
        assert_eq!(r.machine_guid.as_deref(), Some("c325f67c-e903-11f1-a751-02fc00000001"));
        assert_eq!(r.update_every, Some(1));
        assert_eq!(r.timezone.as_deref(), Some("Etc/UTC"));
        assert_eq!(r.hops, Some(1));
        assert_eq!(r.tags, None, "empty values are skipped");
        assert_eq!(r.ver, Some(15352));
        assert!(r.protocol_version_seen);
        assert_eq!(r.system_info("NETDATA_CONTAINER_OS_NAME"), Some("Debian GNU/Linux"));
        assert_eq!(r.system_info("NETDATA_CONTAINER_OS_VERSION"), Some("12 (bookworm)"));
        // '+' is decoded to a space over the whole target, as Netdata does
        assert_eq!(r.system_info("NETDATA_SYSTEM_CPU_FREQ"), Some("2.3e 09"));
        assert_eq!(r.system_info("NETDATA_HOST_OS_NAME"), Some("unknown"));
        assert_eq!(r.user_agent, Some(("netdata".into(), "v1.37.1".into())));
        assert!(r.unknown.is_empty());
        assert_eq!(r.check_identity(), Ok(()));
    }

    #[test]
    fn child_order_is_the_order_a_real_child_sends() {
        assert_eq!(CHILD_SYSTEM_INFO_ORDER.last(), Some(&"NETDATA_SYSTEM_TOTAL_DISK_SIZE"));
        // The request line of a real 1.37.1 child (captured; the fixture of tests/proto_captures.rs).
        let real = include_str!("../../tests/fixtures/proto/c2p-compressed.request");
        let sent: Vec<&str> = real
            .split(['?', '&'])
            .filter_map(|kv| kv.split_once('=').map(|(k, _)| k))
            .filter(|k| CHILD_SYSTEM_INFO_ORDER.contains(k))
            .collect();
        let ours: Vec<&str> = CHILD_SYSTEM_INFO_ORDER.iter().copied().filter(|k| sent.contains(k)).collect();
        assert_eq!(sent.len(), CHILD_SENDS, "{sent:?}");
        assert_eq!(sent, ours);
    }

    #[test]
    fn incomplete_and_oversized_requests() {
        let cut = &CAPTURED.as_bytes()[..CAPTURED.len() - 1];
        assert_eq!(StreamRequest::parse(cut), Ok(None));
        let big = format!("STREAM key={}", "a".repeat(MAX_REQUEST_LEN));
        assert!(matches!(StreamRequest::parse(big.as_bytes()), Err(RequestError::TooLarge { .. })));
        assert_eq!(StreamRequest::parse(b"GET / HTTP/1.1\r\n\r\n"), Err(RequestError::NotStream));
        assert_eq!(StreamRequest::parse(b"STREAM key=a\r\n\r\n"), Err(RequestError::NoHttpVersion));
    }

    #[test]
    fn decoding_happens_before_splitting() {
        let (r, _) = StreamRequest::parse(b"STREAM hostname=a%26key%3Dk&ver=0x10 HTTP/1.1\r\n\r\n")
            .ok()
            .flatten()
            .expect("complete");
        assert_eq!(r.hostname.as_deref(), Some("a"));
        assert_eq!(r.key.as_deref(), Some("k"));
        assert_eq!(r.ver, Some(16));
        assert_eq!(r.check_identity(), Err(RequestDenied::MissingMachineGuid));
        for bad in [&b"STREAM a=%00 HTTP/1.1\r\n\r\n"[..], b"STREAM a=%0a HTTP/1.1\r\n\r\n", b"STREAM a=%zz HTTP/1.1\r\n\r\n", b"STREAM a=% HTTP/1.1\r\n\r\n"] {
            assert!(matches!(StreamRequest::parse(bad), Err(RequestError::BadEncoding { .. })), "{bad:?}");
        }
        assert_eq!(StreamRequest::parse(b"STREAM a=%ff HTTP/1.1\r\n\r\n"), Err(RequestError::InvalidUtf8));
        let (r, _) = StreamRequest::parse("STREAM hostname=caf%c3%a9&x=1 HTTP/1.1\r\n\r\n".as_bytes())
            .ok()
            .flatten()
            .expect("complete");
        assert_eq!(r.hostname.as_deref(), Some("café"));
        assert_eq!(r.unknown, vec![("x".to_owned(), "1".to_owned())]);
    }

    #[test]
    fn identity_checks() {
        let mut r = StreamRequest {
            key: Some("not-a-uuid".into()),
            hostname: Some("h".into()),
            machine_guid: Some("c325f67c-e903-11f1-a751-02fc00000001".into()),
            ..Default::default()
        };
        assert_eq!(r.check_identity(), Err(RequestDenied::KeyNotUuid("not-a-uuid".into())));
        r.key = None;
        assert_eq!(r.check_identity(), Err(RequestDenied::MissingKey));
    }

    #[test]
    fn child_request_round_trips_and_never_omits_os_fields() {
        let req = ChildRequest {
            key: "11111111-2222-3333-4444-555555555555".into(),
            hostname: "my host&co".into(),
            registry_hostname: "my host&co".into(),
            machine_guid: "c325f67c-e903-11f1-a751-02fc00000001".into(),
            update_every: 1,
            os: "linux".into(),
            timezone: "Etc/GMT+5".into(),
            abbrev_timezone: "UTC".into(),
            utc_offset: -18000,
            hops: 1,
            ml_capable: false,
            ml_enabled: false,
            mc_version: 1,
            tags: String::new(),
            capabilities: Capabilities::NETDATA_1_37_NO_COMPRESSION,
            system_info: vec![
                ("NETDATA_SYSTEM_OS_NAME".into(), "Fake OS".into()),
                ("NETDATA_SYSTEM_KERNEL_VERSION".into(), String::new()),
                ("NETDATA_CONTAINER_OS_NAME".into(), "Debian GNU/Linux".into()),
            ],
            user_agent: "netdatad/0.1".into(),
        };
        let bytes = req.encode().expect("fits");
        let s = String::from_utf8_lossy(&bytes);
        assert!(s.starts_with("STREAM key=11111111-2222-3333-4444-555555555555&hostname=my+host_co&"), "{s}");
        assert!(s.contains("&NETDATA_SYSTEM_OS_NAME=Fake+OS&"));
        assert!(s.ends_with("&NETDATA_PROTOCOL_VERSION=1.1 HTTP/1.1\r\nUser-Agent: netdatad/0.1\r\nAccept: */*\r\n\r\n"));
        let (r, used) = StreamRequest::parse(&bytes).ok().flatten().expect("complete");
        assert_eq!(used, bytes.len());
        assert_eq!(r.hostname.as_deref(), Some("my host_co"));
        assert_eq!(r.timezone.as_deref(), Some("Etc/GMT+5"));
        assert_eq!(r.utc_offset, Some(-18000));
        assert_eq!(r.ver, Some(15352));
        for name in MANDATORY_SYSTEM_INFO {
            assert!(r.system_info(name).is_some_and(|v| !v.is_empty()), "{name}");
        }
        assert_eq!(r.system_info("NETDATA_SYSTEM_KERNEL_VERSION"), Some("unknown"));
        assert_eq!(r.system_info("NETDATA_CONTAINER_OS_NAME"), Some("Debian GNU/Linux"));
        assert_eq!(r.tags, None);
    }
}
