//! A minimal, strict HTTP/1.1 request parser and response encoder (no I/O).
//!
//! The socket loop feeds the bytes it has read to [`parse_request`]: `Ok(None)` means "read
//! more", `Ok(Some((request, consumed)))` gives a request and how many bytes it used (the rest
//! may be a pipelined next request), `Err` is a request that must be answered with
//! [`HttpError::to_response`] and the connection closed.
//!
//! **Invariant:** every length from the peer is bounded before use ([`MAX_URL_LEN`],
//! [`MAX_HEADER_BYTES`], [`MAX_HEADERS`], [`MAX_BODY`]); the parser never panics on input.

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::model::UnixTime;

/// Longest accepted request target (path + query), bytes. Longer → 414.
pub const MAX_URL_LEN: usize = 16 * 1024;
/// Largest accepted header block (after the request line), bytes. Larger → 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Most header lines accepted. More → 431.
pub const MAX_HEADERS: usize = 100;
/// Largest request body accepted (bodies are read and ignored). Larger → 413.
pub const MAX_BODY: usize = 64 * 1024;
/// Most `name=value` pairs accepted in a query string. More → 400.
pub const MAX_QUERY_PAIRS: usize = 256;

/// The request methods we answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Options,
    Post,
}

/// A parsed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The request target exactly as sent (path and query, still percent-encoded).
    pub target: String,
    /// The percent-decoded path, e.g. `/host/child1/api/v1/data`.
    pub path: String,
    /// Percent-decoded `name=value` pairs of the query string, in order (`+` reads as space).
    pub query: Vec<(String, String)>,
    /// Header names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
    /// `HTTP/1.x` minor version.
    pub minor_version: u8,
    /// Whether the connection may stay open after the answer.
    pub keep_alive: bool,
    /// The peer address; not set by the parser, the socket loop fills it (used as the
    /// Prometheus scraper key when `server=` is not given).
    pub peer: Option<IpAddr>,
}

impl Request {
    /// The first value of query parameter `name` (case-sensitive, like Netdata).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    /// The first value of header `name` (give it lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A GET request for `target` (for tests and in-process callers).
    pub fn get(target: &str) -> Result<Self, HttpError> {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        match parse_request(raw.as_bytes())? {
            Some((r, _)) => Ok(r),
            None => Err(HttpError::Malformed("incomplete request".into())),
        }
    }
}

/// Why a request was refused before routing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("request URL too long: more than {max} bytes", max = MAX_URL_LEN)]
    UriTooLong,
    #[error("request header fields too large: more than {max} bytes or {count} lines", max = MAX_HEADER_BYTES, count = MAX_HEADERS)]
    HeadersTooLarge,
    #[error("request body too large: {0} bytes (max {max})", max = MAX_BODY)]
    BodyTooLarge(u64),
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("method not allowed: {0}")]
    MethodNotAllowed(String),
    #[error("HTTP version not supported: {0}")]
    VersionNotSupported(String),
}

impl HttpError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Self::UriTooLong => 414,
            Self::HeadersTooLarge => 431,
            Self::BodyTooLarge(_) => 413,
            Self::Malformed(_) => 400,
            Self::MethodNotAllowed(_) => 405,
            Self::VersionNotSupported(_) => 505,
        }
    }
    /// A plain-text answer; the connection must be closed after it.
    pub fn to_response(&self) -> Response {
        let mut r = Response::text(self.status(), format!("{self}\n"));
        r.close = true;
        r
    }
}

fn find_line_end(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?.iter().position(|&b| b == b'\n').map(|p| p + from)
}

/// Parses one request from the start of `buf`.
///
/// Returns `Ok(None)` when `buf` holds only part of a request (and is still within bounds),
/// `Ok(Some((request, consumed)))` when complete.
pub fn parse_request(buf: &[u8]) -> Result<Option<(Request, usize)>, HttpError> {
    // Netdata (and browsers) tolerate empty lines before a request; skip a few.
    let mut start = 0;
    while start < buf.len() && start < 8 && (buf[start] == b'\r' || buf[start] == b'\n') {
        start += 1;
    }
    let Some(line_end) = find_line_end(buf, start) else {
        if buf.len() - start > MAX_URL_LEN + 32 {
            return Err(HttpError::UriTooLong);
        }
        return Ok(None);
    };
    let line = trim_cr(&buf[start..line_end]);
    let (method, target, minor_version) = parse_request_line(line)?;

    // headers
    let mut headers = Vec::new();
    let mut pos = line_end + 1;
    let headers_start = pos;
    loop {
        let Some(end) = find_line_end(buf, pos) else {
            if buf.len() - headers_start > MAX_HEADER_BYTES {
                return Err(HttpError::HeadersTooLarge);
            }
            return Ok(None);
        };
        if end - headers_start > MAX_HEADER_BYTES {
            return Err(HttpError::HeadersTooLarge);
        }
        let l = trim_cr(&buf[pos..end]);
        pos = end + 1;
        if l.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(HttpError::HeadersTooLarge);
        }
        if l[0] == b' ' || l[0] == b'\t' {
            return Err(HttpError::Malformed("obsolete header line folding".into()));
        }
        let colon = l.iter().position(|&b| b == b':').ok_or_else(|| HttpError::Malformed("header line without ':'".into()))?;
        let name = &l[..colon];
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(HttpError::Malformed("invalid header name".into()));
        }
        let value = std::str::from_utf8(&l[colon + 1..]).map_err(|_| HttpError::Malformed("header value is not UTF-8".into()))?;
        if value.bytes().any(|b| b == 0 || b == b'\r') {
            return Err(HttpError::Malformed("control character in header value".into()));
        }
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        headers.push((name, value.trim().to_string()));
    }

    // body (read and ignored)
    let find = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    if find("transfer-encoding").is_some() {
        return Err(HttpError::Malformed("Transfer-Encoding is not supported".into()));
    }
    let body_len = match find("content-length") {
        None => 0,
        Some(v) => {
            let n: u64 = v.parse().map_err(|_| HttpError::Malformed(format!("bad Content-Length {v:?}")))?;
            if n > MAX_BODY as u64 {
                return Err(HttpError::BodyTooLarge(n));
            }
            n as usize
        }
    };
    if buf.len() - pos < body_len {
        return Ok(None);
    }
    let consumed = pos + body_len;

    let connection = find("connection").map(str::to_ascii_lowercase);
    let keep_alive = match minor_version {
        0 => connection.as_deref().is_some_and(|c| c.contains("keep-alive")),
        _ => !connection.as_deref().is_some_and(|c| c.contains("close")),
    };

    let (raw_path, raw_query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target.as_str(), None),
    };
    let path = percent_decode(raw_path, false)?;
    let query = match raw_query {
        Some(q) => parse_query(q)?,
        None => Vec::new(),
    };
    Ok(Some((Request { method, target, path, query, headers, minor_version, keep_alive, peer: None }, consumed)))
}

fn trim_cr(l: &[u8]) -> &[u8] {
    l.strip_suffix(b"\r").unwrap_or(l)
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn parse_request_line(line: &[u8]) -> Result<(Method, String, u8), HttpError> {
    let mut parts = line.split(|&b| b == b' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().ok_or_else(|| HttpError::Malformed("request line without target".into()))?;
    if target.len() > MAX_URL_LEN {
        return Err(HttpError::UriTooLong);
    }
    let version = parts.next().ok_or_else(|| HttpError::Malformed("request line without HTTP version".into()))?;
    if parts.next().is_some() {
        return Err(HttpError::Malformed("extra spaces in request line".into()));
    }
    let minor_version = match version {
        b"HTTP/1.1" => 1,
        b"HTTP/1.0" => 0,
        v if v.starts_with(b"HTTP/") => return Err(HttpError::VersionNotSupported(String::from_utf8_lossy(v).into_owned())),
        _ => return Err(HttpError::Malformed("bad HTTP version".into())),
    };
    let method = match method {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        b"OPTIONS" => Method::Options,
        b"POST" => Method::Post,
        m if !m.is_empty() && m.iter().all(|&b| is_tchar(b)) => {
            return Err(HttpError::MethodNotAllowed(String::from_utf8_lossy(m).into_owned()))
        }
        _ => return Err(HttpError::Malformed("bad method".into())),
    };
    if target.is_empty() || target[0] != b'/' || !target.iter().all(|&b| b > 0x20 && b < 0x7f) {
        return Err(HttpError::Malformed("request target must be an origin-form path of visible ASCII".into()));
    }
    // Checked above: all bytes are ASCII.
    let target = String::from_utf8_lossy(target).into_owned();
    Ok((method, target, minor_version))
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` escapes (and `+` as space when `plus_is_space`). Invalid escapes, NUL and
/// non-UTF-8 results are errors.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Result<String, HttpError> {
    if !s.bytes().any(|b| b == b'%' || (plus_is_space && b == b'+')) {
        return Ok(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let (Some(h), Some(l)) = (b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) else {
                    return Err(HttpError::Malformed(format!("bad percent-escape at byte {i}")));
                };
                let v = h << 4 | l;
                if v == 0 {
                    return Err(HttpError::Malformed("NUL byte in URL".into()));
                }
                out.push(v);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| HttpError::Malformed("URL does not decode to UTF-8".into()))
}

/// Splits a query string on `&` into decoded `name=value` pairs; pairs with an empty name or
/// value are dropped (Netdata ignores them).
pub fn parse_query(q: &str) -> Result<Vec<(String, String)>, HttpError> {
    let mut out = Vec::new();
    for pair in q.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k.is_empty() || v.is_empty() {
            continue;
        }
        if out.len() >= MAX_QUERY_PAIRS {
            return Err(HttpError::Malformed(format!("more than {MAX_QUERY_PAIRS} query parameters")));
        }
        out.push((percent_decode(k, true)?, percent_decode(v, true)?));
    }
    Ok(out)
}

/// Caching policy of an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cache {
    /// `Cache-Control: public`, expires in a day (absolute-window data queries).
    Public,
    /// `Cache-Control: no-cache, no-store, must-revalidate`.
    NoCache,
}

/// An answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    pub cache: Cache,
    /// Extra header lines (name, value).
    pub headers: Vec<(String, String)>,
    /// Close the connection after this answer whatever the client asked.
    pub close: bool,
}

pub const CT_JSON: &str = "application/json; charset=utf-8";
pub const CT_TEXT: &str = "text/plain; charset=utf-8";
pub const CT_PROMETHEUS: &str = "text/plain; version=0.0.4";

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self { status, content_type: content_type.to_string(), body: body.into(), cache: Cache::NoCache, headers: Vec::new(), close: false }
    }
    pub fn json(body: impl Into<Vec<u8>>) -> Self {
        Self::new(200, CT_JSON, body)
    }
    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self::new(status, CT_TEXT, body)
    }
    pub fn body_str(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or("")
    }

    /// The full answer bytes: status line, headers (Netdata's set and order), body (omitted
    /// when `include_body` is false, e.g. for HEAD; Content-Length still tells its size).
    pub fn encode(&self, now: UnixTime, keep_alive: bool, include_body: bool) -> Vec<u8> {
        let mut h = String::with_capacity(320);
        let conn = if keep_alive && !self.close { "keep-alive" } else { "close" };
        let _ = write!(h, "HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        let _ = write!(h, "Connection: {conn}\r\n");
        let _ = write!(h, "Server: {SERVER}\r\n");
        h.push_str("Access-Control-Allow-Origin: *\r\n");
        h.push_str("Access-Control-Allow-Credentials: true\r\n");
        let _ = write!(h, "Content-Type: {}\r\n", self.content_type);
        let _ = write!(h, "Date: {}\r\n", http_date(now));
        match self.cache {
            Cache::Public => {
                h.push_str("Cache-Control: public\r\n");
                let _ = write!(h, "Expires: {}\r\n", http_date(now.saturating_add(86400)));
            }
            Cache::NoCache => {
                h.push_str("Cache-Control: no-cache, no-store, must-revalidate\r\nPragma: no-cache\r\n");
                let _ = write!(h, "Expires: {}\r\n", http_date(now.saturating_add(1)));
            }
        }
        for (k, v) in &self.headers {
            let _ = write!(h, "{k}: {v}\r\n");
        }
        let _ = write!(h, "Content-Length: {}\r\n\r\n", self.body.len());
        let mut out = h.into_bytes();
        if include_body {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// The `Server` header value.
pub const SERVER: &str = concat!("netdatad/", env!("CARGO_PKG_VERSION"));

pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31), proleptic Gregorian.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
pub(crate) fn utc_datetime(t: UnixTime) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86400));
    let s = t.rem_euclid(86400);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// RFC 7231 IMF-fixdate, e.g. `Wed, 25 Nov 2026 19:57:19 GMT`.
pub fn http_date(t: UnixTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = t.div_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    let s = t.rem_euclid(86400);
    let wd = DAYS[days.rem_euclid(7) as usize];
    let mon = MONTHS[(m as usize).saturating_sub(1).min(11)];
    format!("{wd}, {d:02} {mon} {y} {:02}:{:02}:{:02} GMT", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_get_with_query_and_reports_consumed_bytes() {
        let raw = b"GET /api/v1/data?chart=system.cpu&after=-60&dimensions=a%7Cb&x= HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /next";
        let (r, n) = parse_request(raw).expect("valid").expect("complete");
        assert_eq!(&raw[n..], b"GET /next");
        assert_eq!(r.path, "/api/v1/data");
        assert_eq!(r.param("dimensions"), Some("a|b"));
        assert_eq!(r.param("x"), None);
        assert!(!r.keep_alive);
        assert_eq!(r.header("host"), Some("x"));
    }

    #[test]
    fn incomplete_until_the_empty_line() {
        let raw = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        for cut in 0..raw.len() {
            assert_eq!(parse_request(&raw[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(parse_request(raw).expect("ok").is_some());
    }

    #[test]
    fn bounds_and_malformed_requests_are_typed_errors() {
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(100_000));
        assert_eq!(parse_request(long.as_bytes()).map(|_| ()), Err(HttpError::UriTooLong));
        // no line end yet, already too long
        assert_eq!(parse_request(&long.as_bytes()[..50_000]).map(|_| ()), Err(HttpError::UriTooLong));
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "b".repeat(20_000));
        assert_eq!(parse_request(big.as_bytes()).map(|_| ()), Err(HttpError::HeadersTooLarge));
        for bad in [&b"GET\r\n\r\n"[..], b"GET x HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1 x\r\n\r\n", b"GET /%zz HTTP/1.1\r\n\r\n", b"GET / FTP/1\r\n\r\n", b"GET / HTTP/1.1\r\nNoColon\r\n\r\n", b"GET /?a=%00 HTTP/1.1\r\n\r\n"] {
            let e = parse_request(bad).expect_err(&String::from_utf8_lossy(bad));
            assert_eq!(e.status(), 400, "{e}");
        }
        assert_eq!(parse_request(b"DELETE / HTTP/1.1\r\n\r\n").map(|_| ()).map_err(|e| e.status()), Err(405));
        assert_eq!(parse_request(b"GET / HTTP/2.0\r\n\r\n").map(|_| ()).map_err(|e| e.status()), Err(505));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = crate::testkit::XorShift64::new(0x2545_F491_4F6C_DD1D);
        let mut next = || rng.next_u64();
        let alphabet = b"GET /api?=&%+:\r\n HTTP/1.1\x00\xff0aZ";
        for _ in 0..20_000 {
            let len = (next() % 120) as usize;
            let mut buf: Vec<u8> = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
            if next() % 2 == 0 {
                let mut v = b"GET /".to_vec();
                v.append(&mut buf);
                buf = v;
            }
            if let Ok(Some((_, n))) = parse_request(&buf) {
                assert!(n <= buf.len());
            }
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c", true).as_deref(), Ok("a b c"));
        assert_eq!(percent_decode("a+c", false).as_deref(), Ok("a+c"));
        assert!(percent_decode("%e2%82", false).is_err());
        assert_eq!(percent_decode("%E2%82%AC", false).as_deref(), Ok("€"));
    }

    #[test]
    fn dates() {
        assert_eq!(http_date(1795636639), "Wed, 25 Nov 2026 19:57:19 GMT");
        assert_eq!(utc_datetime(1795635792), "2026-11-25 19:43:12");
    }

    #[test]
    fn encodes_netdata_header_set() {
        let r = Response::json("{}");
        let s = String::from_utf8(r.encode(1795636639, false, true)).expect("utf8");
        assert!(s.starts_with("HTTP/1.1 200 OK\r\nConnection: close\r\n"));
        assert!(s.contains("Access-Control-Allow-Origin: *\r\n"));
        assert!(s.contains("Content-Type: application/json; charset=utf-8\r\n"));
        assert!(s.ends_with("Content-Length: 2\r\n\r\n{}"));
    }
}
