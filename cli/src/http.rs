//! A tiny blocking HTTP/1.1 client: GET over `std::net::TcpStream` with timeouts, no TLS.
//!
//! Enough for talking to parents on a trusted network: `Content-Length`, chunked and
//! read-to-close bodies, every size bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::error::{Error, Kind, Result};

/// Largest response header block accepted.
const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Largest body read into memory by [`get`].
pub const MAX_BODY_BYTES: u64 = 256 * 1024 * 1024;

/// A parsed `http://host:port/path?query` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl Url {
    pub fn parse(s: &str) -> Result<Self> {
        let rest = if let Some(r) = s.strip_prefix("http://") {
            r
        } else if s.starts_with("https://") {
            return Err(Error::new(Kind::Usage, format!("{s}: https is not supported; use http:// on a trusted network")));
        } else if s.contains("://") {
            return Err(Error::new(Kind::Usage, format!("{s}: only http:// URLs are supported")));
        } else {
            s
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(Error::new(Kind::Usage, format!("{s}: no host in URL")));
        }
        let (host, port) = if let Some(r) = authority.strip_prefix('[') {
            let (h, p) = r.split_once(']').ok_or_else(|| Error::new(Kind::Usage, format!("{s}: bad IPv6 address")))?;
            (h.to_string(), p.strip_prefix(':').map(str::to_string))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p.to_string())),
                None => (authority.to_string(), None),
            }
        };
        let port = match port {
            Some(p) => p.parse().map_err(|_| Error::new(Kind::Usage, format!("{s}: bad port {p:?}")))?,
            None => 19999,
        };
        Ok(Self { host, port, path: path.to_string() })
    }

    /// The base URL (`http://host:port`) without path.
    pub fn base(&self) -> String {
        if self.host.contains(':') {
            format!("http://[{}]:{}", self.host, self.port)
        } else {
            format!("http://{}:{}", self.host, self.port)
        }
    }

    /// Same host and port, another path.
    pub fn with_path(&self, path: &str) -> Self {
        Self { host: self.host.clone(), port: self.port, path: path.to_string() }
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.base(), self.path)
    }
}

/// Percent-encodes a query parameter value.
pub fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A response whose body has not been read yet.
pub struct Response {
    pub status: u16,
    pub content_length: Option<u64>,
    chunked: bool,
    reader: BufReader<TcpStream>,
    url: String,
}

/// Opens a GET request and reads the status line and headers.
pub fn open(url: &Url, timeout: Duration) -> Result<Response> {
    request(url, "GET", None, timeout)
}

/// Sends `method` with an optional body (`application/octet-stream`) and reads the status
/// line and headers.
pub fn request(url: &Url, method: &str, body: Option<&[u8]>, timeout: Duration) -> Result<Response> {
    let unreachable = |e: std::io::Error| Error::new(Kind::Unreachable, format!("{url}: {e}"));
    let addrs: Vec<_> = (url.host.as_str(), url.port).to_socket_addrs().map_err(unreachable)?.collect();
    let mut last = None;
    let mut stream = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let mut stream = match stream {
        Some(s) => s,
        None => {
            return Err(unreachable(last.unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))))
        }
    };
    stream.set_read_timeout(Some(timeout)).map_err(unreachable)?;
    stream.set_write_timeout(Some(timeout)).map_err(unreachable)?;
    let host = if url.host.contains(':') { format!("[{}]", url.host) } else { url.host.clone() };
    let extra = match body {
        Some(b) => format!("Content-Type: application/octet-stream\r\nContent-Length: {}\r\n", b.len()),
        None => String::new(),
    };
    let req = format!(
        "{method} {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: netdatactl/{}\r\nAccept: */*\r\n{extra}Connection: close\r\n\r\n",
        url.path,
        host,
        url.port,
        env!("CARGO_PKG_VERSION")
    );
    stream.write_all(req.as_bytes()).map_err(unreachable)?;
    if let Some(b) = body {
        stream.write_all(b).map_err(unreachable)?;
    }
    let mut reader = BufReader::new(stream);
    let mut header_bytes = 0usize;
    let mut line = String::new();
    let mut read_line = |reader: &mut BufReader<TcpStream>, line: &mut String| -> Result<()> {
        line.clear();
        let n = reader.by_ref().take((MAX_HEADER_BYTES - header_bytes.min(MAX_HEADER_BYTES)) as u64).read_line(line).map_err(unreachable)?;
        header_bytes += n;
        if n == 0 || header_bytes >= MAX_HEADER_BYTES {
            return Err(Error::new(Kind::Unreachable, format!("{url}: connection closed or header too long")));
        }
        Ok(())
    };
    read_line(&mut reader, &mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .filter(|_| line.starts_with("HTTP/"))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| Error::new(Kind::Unreachable, format!("{url}: not an HTTP answer: {:?}", line.trim_end())))?;
    let mut content_length = None;
    let mut chunked = false;
    loop {
        read_line(&mut reader, &mut line)?;
        let t = line.trim_end();
        if t.is_empty() {
            break;
        }
        if let Some((k, v)) = t.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            let v = v.trim();
            if k == "content-length" {
                content_length = v.parse().ok();
            } else if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                chunked = true;
            }
        }
    }
    Ok(Response { status, content_length, chunked, reader, url: url.to_string() })
}

impl Response {
    /// Copies the body into `out`, at most `limit` bytes; returns the byte count.
    pub fn copy_body(mut self, out: &mut dyn Write, limit: u64) -> Result<u64> {
        let url = self.url.clone();
        let err = |e: std::io::Error| Error::new(Kind::Unreachable, format!("{url}: reading the body: {e}"));
        let too_big = || Error::new(Kind::Unreachable, format!("{url}: answer larger than {limit} bytes"));
        if self.chunked {
            let mut total = 0u64;
            let mut line = String::new();
            for _ in 0..10_000_000u64 {
                line.clear();
                (&mut self.reader).take(1024).read_line(&mut line).map_err(err)?;
                let size_txt = line.trim().split(';').next().unwrap_or("");
                let size = u64::from_str_radix(size_txt, 16)
                    .map_err(|_| Error::new(Kind::Unreachable, format!("{url}: bad chunk size {size_txt:?}")))?;
                if size == 0 {
                    return Ok(total);
                }
                total += size;
                if total > limit {
                    return Err(too_big());
                }
                let n = std::io::copy(&mut (&mut self.reader).take(size), out).map_err(err)?;
                if n != size {
                    return Err(Error::new(Kind::Unreachable, format!("{url}: body cut short")));
                }
                line.clear();
                (&mut self.reader).take(2).read_line(&mut line).map_err(err)?;
            }
            Err(too_big())
        } else if let Some(len) = self.content_length {
            if len > limit {
                return Err(too_big());
            }
            let n = std::io::copy(&mut (&mut self.reader).take(len), out).map_err(err)?;
            if n != len {
                return Err(Error::new(Kind::Unreachable, format!("{url}: body cut short ({n} of {len} bytes)")));
            }
            Ok(n)
        } else {
            let n = std::io::copy(&mut (&mut self.reader).take(limit + 1), out).map_err(err)?;
            if n > limit {
                return Err(too_big());
            }
            Ok(n)
        }
    }

    pub fn body(self, limit: u64) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.copy_body(&mut v, limit)?;
        Ok(v)
    }
}

/// GET returning (status, body).
pub fn get(url: &Url, timeout: Duration) -> Result<(u16, Vec<u8>)> {
    let r = open(url, timeout)?;
    let status = r.status;
    Ok((status, r.body(MAX_BODY_BYTES)?))
}

/// GET expecting 200 and a JSON body.
pub fn get_json(url: &Url, timeout: Duration) -> Result<serde_json::Value> {
    let (status, body) = get(url, timeout)?;
    if status != 200 {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).to_string();
        return Err(Error::new(Kind::Unreachable, format!("{url}: HTTP {status}: {}", text.trim())));
    }
    serde_json::from_slice(&body).map_err(|e| Error::new(Kind::Unreachable, format!("{url}: not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let u = Url::parse("http://10.1.2.3:20000/api/v1/info").expect("url");
        assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("10.1.2.3", 20000, "/api/v1/info"));
        let u = Url::parse("127.0.0.1").expect("url");
        assert_eq!((u.port, u.path.as_str()), (19999, "/"));
        let u = Url::parse("http://[::1]:1/x").expect("url");
        assert_eq!(u.base(), "http://[::1]:1");
        assert_eq!(Url::parse("https://x").expect_err("https").kind, Kind::Usage);
        assert_eq!(Url::parse("http://h:99999").expect_err("port").kind, Kind::Usage);
    }

    #[test]
    fn encode_escapes_reserved() {
        assert_eq!(encode("a b&c=d/e"), "a%20b%26c%3Dd/e");
    }
}
