//! The cache-directory snapshot: its manifest, the local scanner, rsync deltas, and the
//! client of a running parent's snapshot endpoints.
//!
//! # HTTP interface (served by `netdatad`, off unless a key is configured)
//!
//! All four endpoints take `key=K` (the operator's snapshot key; a wrong or missing key gets
//! `403`, an unconfigured endpoint `404`). Paths are relative to the cache directory,
//! `/`-separated, never absolute, never containing `.` or `..` components.
//!
//! 1. `GET /api/v1/cluster/snapshot?key=K` → `200 application/json`, a [`Manifest`]:
//!    ```json
//!    {"version": 1, "snapshot": "opaque-id", "created": 1732560000,
//!     "hostname": "parent1", "guid": "machine-guid-of-the-source",
//!     "tiers": [{"tier": 0, "bytes": 123, "files": 4, "first_time": 1731000000,
//!                "last_time": 1732560000, "retention_bytes": 1073741824, "retention_secs": 0}],
//!     "files": [{"path": "tier0/000001.ndf", "size": 123, "mtime_ns": 1732560000123456789,
//!                "blake3": "hex BLAKE3 of the first `size` bytes"}]}
//!    ```
//!    The snapshot is consistent: for every file it names, the first `size` bytes stay
//!    readable and unchanged until the snapshot expires (sealed files are immutable; for the
//!    files being appended, `size` is the length at snapshot time — appends after it are not
//!    part of the snapshot). The daemon keeps a snapshot at least 10 minutes after its last
//!    use. Identity files (`netdatad.pid`, `registry/netdata.public.unique.id`) are never listed.
//! 2. `GET /api/v1/cluster/file?key=K&snapshot=S&path=P&offset=N` → `200
//!    application/octet-stream`, bytes `N .. size` of that file as of the snapshot, with
//!    `Content-Length`. `404` unknown path, `410` snapshot expired, `416` offset > size.
//! 3. `GET /api/v1/cluster/hash?key=K&snapshot=S&path=P&length=N` → `200 {"blake3": "hex"}`,
//!    BLAKE3 of the first `N` bytes (`N` ≤ size) — lets the client confirm that its copy is a
//!    prefix before fetching only the tail.
//! 4. `POST /api/v1/cluster/delta?key=K&snapshot=S&path=P` with body = a fast_rsync (librsync
//!    MD4 format) signature of the client's copy → `200 application/octet-stream`, the
//!    fast_rsync delta that turns the client's copy into the snapshot's file. Body at most
//!    64 MiB. [`delta_for`] is the server's whole job here.
//!
//! [`scan_dir`] builds a manifest for a directory (with hashes, as the server needs it).

use std::io::Write;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use crate::error::{Error, Kind, Result};
use crate::http::{self, encode, Url};

pub use ndcluster::snapshot::{
    delta_for, is_excluded, safe_rel_path, signature_options, tier_of, validate, FileEntry, Manifest, SnapshotError, TierInfo, MAX_FILES, MAX_FILE_SIZE,
    MAX_PATH,
};

/// Lists `root` (files only, symlinks not followed, identity and temp files excluded), with
/// per-tier totals; `with_hash` adds each file's BLAKE3.
pub fn scan_dir(root: &Path, with_hash: bool) -> Result<Manifest> {
    use crate::cmd::duplicate::hash_file;
    let mut files = Vec::new();
    let mut tiers: std::collections::BTreeMap<u32, TierInfo> = Default::default();
    for entry in walkdir::WalkDir::new(root).follow_links(false).sort_by_file_name() {
        let entry = entry.map_err(|e| Error::new(Kind::Other, format!("reading {}: {e}", root.display())))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = match entry.path().strip_prefix(root) {
            Ok(r) => r.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/"),
            Err(_) => continue,
        };
        if is_excluded(&rel) {
            continue;
        }
        let meta = entry.metadata().map_err(|e| Error::new(Kind::Other, format!("{}: {e}", entry.path().display())))?;
        let mtime = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok());
        if let Some(t) = tier_of(&rel) {
            let ti = tiers.entry(t).or_insert_with(|| TierInfo::new(t));
            ti.bytes += meta.len();
            ti.files += 1;
            if let Some(m) = mtime {
                let s = m.as_secs() as i64;
                ti.first_time = Some(ti.first_time.map_or(s, |f| f.min(s)));
                ti.last_time = Some(ti.last_time.map_or(s, |l| l.max(s)));
            }
        }
        files.push(FileEntry {
            hash: if with_hash { Some(hash_file(entry.path())?) } else { None },
            path: rel,
            size: meta.len(),
            mtime_ns: mtime.map(|d| d.as_nanos() as i128).unwrap_or(0),
        });
        if files.len() > MAX_FILES {
            return Err(Error::new(Kind::Refused, format!("{}: more than {MAX_FILES} files", root.display())));
        }
    }
    Ok(Manifest {
        version: 1,
        snapshot: String::new(),
        created: std::time::SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0),
        hostname: None,
        guid: None,
        tiers: tiers.into_values().collect(),
        files,
    })
}

/// A running parent's snapshot endpoints.
pub struct HttpSource {
    base: Url,
    key: String,
    snapshot: String,
    timeout: Duration,
}

impl HttpSource {
    pub fn new(url: &str, key: &str) -> Result<Self> {
        let base = Url::parse(url)?;
        Ok(Self { base, key: key.to_string(), snapshot: String::new(), timeout: Duration::from_secs(60) })
    }

    fn url(&self, endpoint: &str, path: Option<&str>, extra: &str) -> Url {
        let mut q = format!("/api/v1/cluster/{endpoint}?key={}", encode(&self.key));
        if !self.snapshot.is_empty() {
            q.push_str(&format!("&snapshot={}", encode(&self.snapshot)));
        }
        if let Some(p) = path {
            q.push_str(&format!("&path={}", encode(p)));
        }
        q.push_str(extra);
        self.base.with_path(&q)
    }

    fn check(&self, r: &http::Response, what: &str) -> Result<()> {
        match r.status {
            200 => Ok(()),
            403 => Err(Error::new(Kind::Permission, format!("{}: the source refused the snapshot key ({what})", self.base.base()))),
            404 if what == "snapshot" => Err(Error::new(
                Kind::Unreachable,
                format!("{}: no snapshot endpoint (is the source one of our parents, with a snapshot key configured?)", self.base.base()),
            )),
            s => Err(Error::new(Kind::Unreachable, format!("{}: HTTP {s} for {what}", self.base.base()))),
        }
    }
}

impl crate::cmd::duplicate::Source for HttpSource {
    fn describe(&self) -> String {
        self.base.base()
    }
    fn manifest(&mut self) -> Result<Manifest> {
        let r = http::open(&self.url("snapshot", None, ""), self.timeout)?;
        self.check(&r, "snapshot")?;
        let body = r.body(http::MAX_BODY_BYTES)?;
        let m: Manifest = serde_json::from_slice(&body)
            .map_err(|e| Error::new(Kind::Unreachable, format!("{}: bad snapshot manifest: {e}", self.base.base())))?;
        validate(&m).map_err(|e| Error::new(Kind::Unreachable, format!("{}: bad snapshot manifest: {e}", self.base.base())))?;
        if let Some(f) = m.files.iter().find(|f| f.hash.is_none()) {
            return Err(Error::new(Kind::Unreachable, format!("{}: the manifest has no blake3 hash for {}", self.base.base(), f.path)));
        }
        let m = Manifest { files: m.files.into_iter().filter(|f| !is_excluded(&f.path)).collect(), ..m };
        self.snapshot = m.snapshot.clone();
        Ok(m)
    }
    fn copy_range(&mut self, e: &crate::snapshot::FileEntry, offset: u64, out: &mut dyn Write) -> Result<u64> {
        let r = http::open(&self.url("file", Some(&e.path), &format!("&offset={offset}")), self.timeout)?;
        self.check(&r, &e.path)?;
        let want = e.size.saturating_sub(offset);
        let n = r.copy_body(out, want)?;
        if n != want {
            return Err(Error::new(Kind::Verify, format!("{}: got {n} bytes from offset {offset}, expected {want}", e.path)));
        }
        Ok(n)
    }
    fn prefix_hash(&mut self, e: &FileEntry, len: u64) -> Result<String> {
        let r = http::open(&self.url("hash", Some(&e.path), &format!("&length={len}")), self.timeout)?;
        self.check(&r, &e.path)?;
        let v: serde_json::Value = serde_json::from_slice(&r.body(4096)?)
            .map_err(|err| Error::new(Kind::Unreachable, format!("{}: bad hash answer: {err}", e.path)))?;
        v.get("blake3")
            .and_then(|h| h.as_str())
            .map(str::to_ascii_lowercase)
            .ok_or_else(|| Error::new(Kind::Unreachable, format!("{}: hash answer without blake3", e.path)))
    }
    fn delta(&mut self, e: &FileEntry, signature: &[u8]) -> Result<Vec<u8>> {
        let r = http::request(&self.url("delta", Some(&e.path), ""), "POST", Some(signature), self.timeout)?;
        self.check(&r, &e.path)?;
        r.body(e.size.saturating_mul(2).saturating_add(1 << 20))
    }
    fn full_hash(&mut self, e: &FileEntry) -> Result<String> {
        e.hash.clone().ok_or_else(|| Error::new(Kind::Unreachable, format!("{}: no blake3 hash in the manifest", e.path)))
    }
}
