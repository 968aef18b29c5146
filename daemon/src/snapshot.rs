//! `/api/v1/cluster/*`: a consistent snapshot of the cache directory while the daemon keeps
//! ingesting, for `netdatactl duplicate --from http://HOST:PORT` (the client and the exact
//! interface are documented in `cli/src/snapshot.rs`). Off unless `[cluster] snapshot key` is
//! set: then every request must carry `key=` equal to it (`403` otherwise); without a key the
//! endpoints answer `404`.
//!
//! # Consistency
//! Taking a snapshot flushes the store, then opens every file of the cache directory and
//! records its length, **holding the open file** until the snapshot expires. What the store
//! does afterwards cannot change what the snapshot serves:
//! * sealed data files are immutable; when retention deletes one, the open descriptor keeps
//!   its bytes readable;
//! * the active data file of each tier and the WAL are only appended: the snapshot serves
//!   their first `size` bytes (the length at snapshot time, read with `pread`, never mapped);
//! * `metadata.ndm` is rewritten by temp + rename: the descriptor keeps the old inode, i.e.
//!   the metadata as of the snapshot;
//! * a checkpoint between the first and the last file opened (metadata committed with a newer
//!   generation, old WAL deleted) is detected by `metadata.ndm` being another inode after the
//!   walk, and the walk is retried.
//!
//! Files are opened in name order (`metadata.ndm`, then `tierN/*`, then `wal-*`), so the
//! metadata is never newer than the data and the WAL, and every point accepted before the
//! flush is either in a data file or in the WAL. Never listed: `netdatad.pid`, `LOCK`, temp
//! files (`*.tmp`), the machine GUID file.
//!
//! A snapshot lives 10 minutes after its last use; at most [`MAX_SNAPSHOTS`] at once (the least
//! recently used one goes first).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ndcluster::api::http::{Method, Request, Response};
use ndcluster::snapshot::{hash_prefix, is_excluded, read_exact_at, safe_rel_path, tier_of, FileEntry, Manifest, TierInfo};

use crate::Shared;

/// Idle time after which a snapshot is dropped.
pub const SNAPSHOT_TTL: Duration = Duration::from_secs(600);
/// Snapshots kept at once.
pub const MAX_SNAPSHOTS: usize = 4;
/// Files in one snapshot (each one an open descriptor while the snapshot lives).
pub const MAX_FILES: usize = 20_000;
/// Directory depth walked below the cache directory.
const MAX_DEPTH: usize = 8;
/// Largest body of `POST /api/v1/cluster/delta` (an rsync signature).
pub use ndcluster::snapshot::MAX_SIGNATURE;
/// Largest request head on the body-carrying path.
const MAX_HEAD: usize = 64 * 1024;
/// Largest range of an answer built in memory (HEAD, deltas); GETs of files are streamed.
pub const MAX_SERVE: u64 = 256 << 20;
/// Attempts at a walk without a checkpoint in the middle.
const WALK_ATTEMPTS: usize = 5;

const PREFIX: &str = "/api/v1/cluster/";
const CT_BIN: &str = "application/octet-stream";

struct SnapFile {
    file: Arc<File>,
    size: u64,
    hash: String,
}

struct Snapshot {
    files: BTreeMap<String, SnapFile>,
    last_used: Instant,
}

/// The live snapshots and a hash cache of unchanged files.
#[derive(Default)]
pub struct Snapshots {
    live: Mutex<HashMap<String, Snapshot>>,
    /// (dev, inode, size, mtime ns) → BLAKE3 hex: sealed files are hashed once.
    hashes: Mutex<HashMap<(u64, u64, u64, i64), String>>,
    /// One snapshot is taken at a time.
    taking: Mutex<()>,
}

impl Snapshots {
    fn expire(&self) {
        let mut g = self.live.lock().unwrap_or_else(|p| p.into_inner());
        g.retain(|_, s| s.last_used.elapsed() < SNAPSHOT_TTL);
    }

    /// The file `path` of snapshot `id` (its descriptor and size), refreshing the snapshot.
    fn file(&self, id: &str, path: &str) -> Result<(Arc<File>, u64, String), Response> {
        self.expire();
        let mut g = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let Some(s) = g.get_mut(id) else {
            return Err(Response::text(410, format!("snapshot {id:?} is unknown or expired; take a new one\n")));
        };
        s.last_used = Instant::now();
        match s.files.get(path) {
            Some(f) => Ok((f.file.clone(), f.size, f.hash.clone())),
            None => Err(Response::text(404, format!("{path:?} is not part of snapshot {id}\n"))),
        }
    }

    fn insert(&self, id: String, s: Snapshot) {
        let mut g = self.live.lock().unwrap_or_else(|p| p.into_inner());
        while g.len() >= MAX_SNAPSHOTS {
            let Some(oldest) = g.iter().min_by_key(|(_, s)| s.last_used).map(|(k, _)| k.clone()) else { break };
            tracing::info!(snapshot = %oldest, "dropping the least recently used cache snapshot");
            g.remove(&oldest);
        }
        g.insert(id, s);
    }

    /// Snapshots alive now.
    pub fn count(&self) -> usize {
        self.expire();
        self.live.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Constant-time comparison of the given key with the configured one.
fn key_ok(given: Option<&str>, want: &str) -> bool {
    let Some(g) = given else { return false };
    let (a, b) = (g.as_bytes(), want.as_bytes());
    let mut diff = a.len() ^ b.len();
    for (i, w) in b.iter().enumerate() {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ w);
    }
    diff == 0
}

/// `GET|POST /api/v1/cluster/*` (`body`: the request body of a POST, when read).
pub fn handle(shared: &Shared, req: &Request, body: Option<&[u8]>) -> Response {
    if let Err(r) = authorize(shared, req) {
        return r;
    }
    let endpoint = req.path.strip_prefix(PREFIX).unwrap_or("");
    let r = match (endpoint, req.method) {
        ("snapshot", Method::Get | Method::Head) => take(shared),
        ("file", Method::Get | Method::Head) => file(shared, req),
        ("hash", Method::Get | Method::Head) => hash(shared, req),
        ("delta", Method::Post) => delta(shared, req, body.unwrap_or_default()),
        ("snapshot" | "file" | "hash" | "delta", _) => Err(Response::text(405, "method not allowed here\n")),
        _ => Err(Response::text(404, format!("no such cluster endpoint {:?}\n", req.path))),
    };
    r.unwrap_or_else(|e| e)
}

/// `404` when the endpoints are off, `403` on a wrong or missing key.
fn authorize(shared: &Shared, req: &Request) -> Result<(), Response> {
    let Some(want) = shared.settings.snapshot_key.as_deref() else {
        return Err(Response::text(404, "the cluster snapshot endpoints are off; set [cluster] snapshot key in netdata.conf\n"));
    };
    if !key_ok(req.param("key"), want) {
        tracing::warn!(peer = ?req.peer, path = %req.path, "cluster snapshot request with a wrong or missing key");
        return Err(Response::text(403, "wrong or missing snapshot key\n"));
    }
    Ok(())
}

fn param<'a>(req: &'a Request, name: &str) -> Result<&'a str, Response> {
    req.param(name).ok_or_else(|| Response::text(400, format!("missing query parameter {name}\n")))
}

fn num_param(req: &Request, name: &str) -> Result<u64, Response> {
    param(req, name)?.parse::<u64>().map_err(|_| Response::text(400, format!("{name}: expected a non-negative integer\n")))
}

fn snap_file(shared: &Shared, req: &Request) -> Result<(String, Arc<File>, u64, String), Response> {
    let id = param(req, "snapshot")?;
    let path = param(req, "path")?;
    if !safe_rel_path(path) {
        return Err(Response::text(400, format!("unsafe path {path:?}\n")));
    }
    let (f, size, hash) = shared.snapshots.file(id, path)?;
    Ok((path.to_string(), f, size, hash))
}

fn internal(what: &str, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "{what}");
    Response::text(500, format!("{what}: {e}\n"))
}

/// Bytes `from .. to` of `f`, with `pread` (the file may grow meanwhile; never past `to`).
fn read_range(f: &File, from: u64, to: u64, path: &str) -> Result<Vec<u8>, Response> {
    let len = to.saturating_sub(from);
    if len > MAX_SERVE {
        return Err(Response::text(413, format!("{path}: {len} bytes is more than one answer carries ({MAX_SERVE})\n")));
    }
    let mut out = vec![0u8; len as usize];
    read_exact_at(f, &mut out, from, path).map_err(|e| internal("reading a snapshot file", e))?;
    Ok(out)
}

struct Walked {
    rel: String,
    file: File,
    meta: std::fs::Metadata,
}

/// Opens every regular file below `root` in name order (symlinks not followed).
fn walk(root: &Path) -> Result<Vec<Walked>, String> {
    let mut out = Vec::new();
    walk_into(root, root, 0, &mut out)?;
    Ok(out)
}

fn walk_into(root: &Path, dir: &Path, depth: usize, out: &mut Vec<Walked>) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && depth > 0 => return Ok(()),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let mut entries: Vec<_> = rd.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let Ok(ft) = e.file_type() else { continue };
        let Some(rel) = path.strip_prefix(root).ok().and_then(|r| r.to_str()).map(|r| r.replace(std::path::MAIN_SEPARATOR, "/")) else {
            continue;
        };
        if ft.is_dir() {
            walk_into(root, &path, depth + 1, out)?;
        } else if ft.is_file() && !is_excluded(&rel) && safe_rel_path(&rel) {
            // A file deleted between listing and opening (retention, old WAL) is simply not
            // part of the snapshot.
            let file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(format!("{}: {e}", path.display())),
            };
            let meta = file.metadata().map_err(|e| format!("{}: {e}", path.display()))?;
            out.push(Walked { rel, file, meta });
            if out.len() > MAX_FILES {
                return Err(format!("{}: more than {MAX_FILES} files", root.display()));
            }
        }
    }
    Ok(())
}

/// Walks `root` until no checkpoint happened during the walk (`metadata.ndm` is still the
/// inode the walk opened), at most [`WALK_ATTEMPTS`] times; `None` when it kept changing.
/// `between(attempt)` runs after each walk, before the check (tests use it).
fn consistent_walk(root: &Path, mut between: impl FnMut(usize)) -> Result<Option<Vec<Walked>>, String> {
    let meta_path = root.join("dbengine").join("metadata.ndm");
    for attempt in 0..WALK_ATTEMPTS {
        let w = walk(root)?;
        between(attempt);
        let captured = w.iter().find(|f| f.rel == "dbengine/metadata.ndm").map(|f| (f.meta.dev(), f.meta.ino()));
        if captured == inode_of(&meta_path) {
            return Ok(Some(w));
        }
        tracing::info!(attempt, "the store rewrote its metadata during a snapshot walk; walking again");
    }
    Ok(None)
}

fn inode_of(p: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

/// `GET /api/v1/cluster/snapshot`: take a snapshot, answer its manifest.
fn take(shared: &Shared) -> Result<Response, Response> {
    let _one = shared.snapshots.taking.lock().unwrap_or_else(|p| p.into_inner());
    let started = Instant::now();
    shared.store.flush().map_err(|e| internal("flushing the store before a snapshot", e))?;
    let root = &shared.settings.cache_dir;
    let walked = consistent_walk(root, |_| {}).map_err(|e| internal("listing the cache directory", e))?;
    let walked = walked.ok_or_else(|| Response::text(503, "the store kept changing its metadata during the snapshot; try again\n"))?;

    let db = &shared.settings.netdata.db;
    let tiers_n = db.storage_tiers.min(db.tiers.len());
    let mut tiers: Vec<TierInfo> = (0..tiers_n)
        .map(|t| TierInfo { retention_bytes: Some(db.tiers[t].retention_bytes), retention_secs: Some(db.tiers[t].retention_secs), ..TierInfo::new(t as u32) })
        .collect();
    let mut files = BTreeMap::new();
    let mut entries = Vec::with_capacity(walked.len());
    for w in walked {
        let size = w.meta.len();
        let key = (w.meta.dev(), w.meta.ino(), size, w.meta.mtime().saturating_mul(1_000_000_000).saturating_add(w.meta.mtime_nsec()));
        let cached = shared.snapshots.hashes.lock().unwrap_or_else(|p| p.into_inner()).get(&key).cloned();
        let hash = match cached {
            Some(h) => h,
            None => {
                let h = hash_prefix(&w.file, size, &w.rel).map_err(|e| internal("hashing a snapshot file", e))?;
                let mut g = shared.snapshots.hashes.lock().unwrap_or_else(|p| p.into_inner());
                if g.len() > 100_000 {
                    g.clear();
                }
                g.insert(key, h.clone());
                h
            }
        };
        if let Some(t) = tier_of(&w.rel).and_then(|t| tiers.get_mut(t as usize)) {
            t.bytes += size;
            t.files += 1;
        }
        let mtime_ns = i128::from(w.meta.mtime()) * 1_000_000_000 + i128::from(w.meta.mtime_nsec());
        entries.push(FileEntry { path: w.rel.clone(), size, mtime_ns, hash: Some(hash.clone()) });
        files.insert(w.rel, SnapFile { file: Arc::new(w.file), size, hash });
    }

    // Time ranges per tier over every series.
    let store = &shared.store;
    for (hid, _) in store.hosts() {
        for (cid, _) in store.charts(hid) {
            for (sid, _) in store.dimensions(cid) {
                for (t, r) in tiers.iter_mut().enumerate() {
                    if let Some(ret) = store.retention(sid, t) {
                        r.first_time = Some(r.first_time.map_or(ret.first, |f| f.min(ret.first)));
                        r.last_time = Some(r.last_time.map_or(ret.last, |l| l.max(ret.last)));
                    }
                }
            }
        }
    }

    let id = uuid::Uuid::new_v4().to_string();
    let total: u64 = entries.iter().map(|e| e.size).sum();
    let n = entries.len();
    let manifest = Manifest {
        version: ndcluster::snapshot::VERSION,
        snapshot: id.clone(),
        created: crate::local::now_s(),
        hostname: Some(shared.hostname.clone()),
        guid: Some(shared.guid.clone()),
        tiers,
        files: entries,
    };
    let body = serde_json::to_vec(&manifest).map_err(|e| internal("encoding the snapshot manifest", e))?;
    shared.snapshots.insert(id.clone(), Snapshot { files, last_used: Instant::now() });
    tracing::info!(snapshot = %id, files = n, bytes = total, took_ms = started.elapsed().as_millis() as u64, "cache snapshot taken");
    Ok(Response::json(body))
}

/// `GET /api/v1/cluster/file`: bytes `offset .. size` of a snapshot file.
/// (Answered in memory for HEAD and in-process callers; the socket loop streams GETs through
/// [`stream_file`].)
fn file(shared: &Shared, req: &Request) -> Result<Response, Response> {
    let r = file_range(shared, req)?;
    Ok(Response::new(200, CT_BIN, read_range(&r.file, r.from, r.to, &r.path)?))
}

/// What `GET /api/v1/cluster/file` answers: bytes `from .. to` of a snapshot file.
pub struct FileRange {
    pub file: Arc<File>,
    pub from: u64,
    pub to: u64,
    pub path: String,
}

/// Checks a `file` request (key, snapshot, path, offset) and finds its range.
pub fn file_range(shared: &Shared, req: &Request) -> Result<FileRange, Response> {
    authorize(shared, req)?;
    let offset = if req.param("offset").is_none() { 0 } else { num_param(req, "offset")? };
    let (path, file, size, _) = snap_file(shared, req)?;
    if offset > size {
        return Err(Response::text(416, format!("{path}: offset {offset} is past its size {size}\n")));
    }
    Ok(FileRange { file, from: offset, to: size, path })
}

/// Bytes read from disk per step while streaming a file answer.
const STREAM_CHUNK: u64 = 1 << 20;

/// Answers `GET /api/v1/cluster/file` on `stream` without holding the file in memory: the
/// head, then the range in [`STREAM_CHUNK`] steps (`pread` on a blocking thread). A read
/// error after the head can only end the connection (the client sees a short body). Returns
/// the bytes written.
pub async fn stream_file<S>(stream: &mut S, shared: &std::sync::Arc<Shared>, req: Request, keep_alive: bool) -> std::io::Result<u64>
where
    S: tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::AsyncWriteExt;
    shared.counters.api_requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let sh = shared.clone();
    let range = tokio::task::spawn_blocking(move || file_range(&sh, &req))
        .await
        .unwrap_or_else(|e| Err(Response::text(500, format!("internal error: {e}\n"))));
    let r = match range {
        Ok(r) => r,
        Err(resp) => {
            let bytes = resp.encode(crate::local::now_s(), keep_alive, true);
            stream.write_all(&bytes).await?;
            return Ok(bytes.len() as u64);
        }
    };
    let len = r.to - r.from;
    let head = format!(
        "HTTP/1.1 200 OK\r\nConnection: {}\r\nContent-Type: {CT_BIN}\r\nCache-Control: no-cache, no-store, must-revalidate\r\nContent-Length: {len}\r\n\r\n",
        if keep_alive { "keep-alive" } else { "close" }
    );
    stream.write_all(head.as_bytes()).await?;
    let mut written = head.len() as u64;
    let mut at = r.from;
    while at < r.to {
        let n = (r.to - at).min(STREAM_CHUNK) as usize;
        let (f, path) = (r.file.clone(), r.path.clone());
        let chunk = tokio::task::spawn_blocking(move || {
            let mut b = vec![0u8; n];
            read_exact_at(&f, &mut b, at, &path).map(|_| b)
        })
        .await;
        match chunk {
            Ok(Ok(b)) => stream.write_all(&b).await?,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "reading a snapshot file while answering; closing the connection");
                return Err(std::io::Error::other(e.to_string()));
            }
            Err(e) => return Err(std::io::Error::other(e.to_string())),
        }
        at += n as u64;
        written += n as u64;
    }
    Ok(written)
}

/// `GET /api/v1/cluster/hash`: BLAKE3 of the first `length` bytes.
fn hash(shared: &Shared, req: &Request) -> Result<Response, Response> {
    let length = num_param(req, "length")?;
    let (path, f, size, full) = snap_file(shared, req)?;
    if length > size {
        return Err(Response::text(416, format!("{path}: length {length} is past its size {size}\n")));
    }
    let h = if length == size { full } else { hash_prefix(&f, length, &path).map_err(|e| internal("hashing a snapshot file", e))? };
    Ok(Response::json(format!("{{\"blake3\": \"{h}\"}}\n")))
}

/// `POST /api/v1/cluster/delta`: the rsync delta from the client's copy (its signature is the
/// body) to the snapshot's file.
fn delta(shared: &Shared, req: &Request, signature: &[u8]) -> Result<Response, Response> {
    let (path, f, size, _) = snap_file(shared, req)?;
    let data = read_range(&f, 0, size, &path)?;
    let out = ndcluster::snapshot::delta_for(&data, signature).map_err(|e| Response::text(400, format!("{path}: {e}\n")))?;
    Ok(Response::new(200, CT_BIN, out))
}

/// Does this (possibly partial) request carry a body we read (`POST /api/v1/cluster/...`)?
pub fn wants_body(buf: &[u8]) -> bool {
    buf.starts_with(format!("POST {PREFIX}").as_bytes())
}

/// Parses a body-carrying request: `Ok(None)` until head and body are complete; the answer to
/// send (and close) on a bad or too large request. Returns the request, its body and the
/// bytes used.
pub fn parse_with_body(buf: &[u8]) -> Result<Option<(Request, Vec<u8>, usize)>, Response> {
    let Some(head_end) = buf.windows(4).take(MAX_HEAD).position(|w| w == b"\r\n\r\n").map(|p| p + 4) else {
        if buf.len() > MAX_HEAD {
            return Err(Response::text(431, "request head too large\n"));
        }
        return Ok(None);
    };
    // The head without Content-Length goes through the common parser; the body is ours.
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| Response::text(400, "request head is not UTF-8\n"))?;
    let mut body_len: Option<usize> = None;
    let mut rest = String::with_capacity(head.len());
    for line in head.split_inclusive("\r\n") {
        match line.split_once(':') {
            Some((name, value)) if name.eq_ignore_ascii_case("content-length") => {
                let n: u64 = value.trim().parse().map_err(|_| Response::text(400, "bad Content-Length\n"))?;
                if n > MAX_SIGNATURE as u64 {
                    return Err(Response::text(413, format!("request body of {n} bytes; at most {MAX_SIGNATURE}\n")));
                }
                if body_len.is_some_and(|b| b as u64 != n) {
                    return Err(Response::text(400, "conflicting Content-Length headers\n"));
                }
                body_len = Some(n as usize);
            }
            _ => rest.push_str(line),
        }
    }
    let body_len = body_len.ok_or_else(|| Response::text(411, "Content-Length required\n"))?;
    let (req, used) = match ndcluster::api::http::parse_request(rest.as_bytes()) {
        Ok(Some(x)) => x,
        Ok(None) => return Err(Response::text(400, "incomplete request head\n")),
        Err(e) => return Err(e.to_response()),
    };
    if used != rest.len() {
        return Err(Response::text(400, "malformed request head\n"));
    }
    if buf.len() < head_end + body_len {
        return Ok(None);
    }
    Ok(Some((req, buf[head_end..head_end + body_len].to_vec(), head_end + body_len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_exactly() {
        assert!(key_ok(Some("0123456789abcdef"), "0123456789abcdef"));
        assert!(!key_ok(Some("0123456789abcdeF"), "0123456789abcdef"));
        assert!(!key_ok(Some("0123456789abcdef0"), "0123456789abcdef"));
        assert!(!key_ok(Some(""), "0123456789abcdef"));
        assert!(!key_ok(None, "0123456789abcdef"));
    }

    #[test]
    fn identity_and_lock_files_are_never_listed() {
        for p in ["netdatad.pid", "dbengine/LOCK", "registry/netdata.public.unique.id", "dbengine/metadata.ndm.tmp"] {
            assert!(is_excluded(p), "{p}");
        }
        assert!(!is_excluded("dbengine/metadata.ndm"));
        assert!(!is_excluded("dbengine/tier0/0000000001.ndd"));
    }

    #[test]
    fn body_requests_are_split_and_bounded() {
        let mut r = b"POST /api/v1/cluster/delta?key=k&path=a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhel".to_vec();
        assert!(wants_body(&r));
        assert!(parse_with_body(&r).expect("ok").is_none(), "body incomplete");
        r.extend_from_slice(b"loGET");
        let (req, body, used) = parse_with_body(&r).expect("ok").expect("complete");
        assert_eq!(body, b"hello");
        assert_eq!(req.param("path"), Some("a"));
        assert_eq!(req.method, Method::Post);
        assert_eq!(used, r.len() - 3);
        let big = format!("POST /api/v1/cluster/delta HTTP/1.1\r\nContent-Length: {}\r\n\r\n", MAX_SIGNATURE + 1);
        assert_eq!(parse_with_body(big.as_bytes()).err().map(|r| r.status), Some(413));
        let none = b"POST /api/v1/cluster/delta HTTP/1.1\r\n\r\n";
        assert_eq!(parse_with_body(none).err().map(|r| r.status), Some(411));
        assert_eq!(parse_with_body(&vec![b'a'; MAX_HEAD + 10]).err().map(|r| r.status), Some(431));
    }

    #[test]
    fn a_checkpoint_during_the_walk_makes_it_walk_again() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("dbengine");
        std::fs::create_dir_all(&db).expect("mkdir");
        std::fs::write(db.join("metadata.ndm"), b"gen 1").expect("w");
        let rewrite = |text: &[u8]| {
            std::fs::write(db.join("metadata.ndm.tmp"), text).expect("w");
            std::fs::rename(db.join("metadata.ndm.tmp"), db.join("metadata.ndm")).expect("rename");
        };
        // Rewritten during the first walk only: the second walk is kept, with the new metadata.
        let mut walks = 0;
        let w = consistent_walk(dir.path(), |attempt| {
            walks += 1;
            if attempt == 0 {
                rewrite(b"gen 2");
            }
        })
        .expect("walk")
        .expect("consistent");
        assert_eq!(walks, 2);
        assert_eq!(read_range(&w[0].file, 0, w[0].meta.len(), "m").ok(), Some(b"gen 2".to_vec()));
        // Rewritten during every walk: given up after WALK_ATTEMPTS.
        let mut walks = 0;
        let none = consistent_walk(dir.path(), |_| {
            walks += 1;
            rewrite(b"gen n");
        })
        .expect("walk");
        assert!(none.is_none());
        assert_eq!(walks, WALK_ATTEMPTS);
    }

    #[test]
    fn a_snapshot_holds_old_inodes_and_lengths() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        std::fs::create_dir_all(root.join("dbengine/tier0")).expect("mkdir");
        std::fs::write(root.join("dbengine/metadata.ndm"), b"old").expect("w");
        std::fs::write(root.join("dbengine/tier0/1.ndd"), b"abc").expect("w");
        std::fs::write(root.join("netdatad.pid"), b"1").expect("w");
        let w = walk(root).expect("walk");
        let names: Vec<&str> = w.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(names, ["dbengine/metadata.ndm", "dbengine/tier0/1.ndd"]);
        // Rewritten by rename, appended, deleted: the snapshot still reads what it captured.
        std::fs::write(root.join("dbengine/m.tmp"), b"new!").expect("w");
        std::fs::rename(root.join("dbengine/m.tmp"), root.join("dbengine/metadata.ndm")).expect("rename");
        let mut a = std::fs::OpenOptions::new().append(true).open(root.join("dbengine/tier0/1.ndd")).expect("open");
        std::io::Write::write_all(&mut a, b"def").expect("append");
        std::fs::remove_file(root.join("dbengine/tier0/1.ndd")).expect("rm");
        assert_eq!(read_range(&w[0].file, 0, w[0].meta.len(), "m").ok(), Some(b"old".to_vec()));
        assert_eq!(read_range(&w[1].file, 1, w[1].meta.len(), "d").ok(), Some(b"bc".to_vec()));
        std::fs::write(root.join("abc"), b"abc").expect("w");
        let want = hash_prefix(&File::open(root.join("abc")).expect("open"), 3, "abc").expect("hash");
        assert_eq!(hash_prefix(&w[1].file, 3, "d").ok(), Some(want), "the deleted, appended file still hashes as captured");
    }
}
