//! The cache-directory snapshot shared by both sides of `netdatactl duplicate --from
//! http://HOST:PORT`: the manifest (`GET /api/v1/cluster/snapshot`), which files are never
//! copied, path safety, prefix hashes and rsync deltas. The daemon serves it
//! (`daemon/src/snapshot.rs`); the CLI pulls it (`cli/src/snapshot.rs`, where the HTTP
//! interface is documented).

use std::fs::File;
use std::os::unix::fs::FileExt;

/// Manifest format version.
pub const VERSION: u32 = 1;
/// Bounds on what a manifest may hold.
pub const MAX_FILES: usize = 2_000_000;
pub const MAX_PATH: usize = 4096;
pub const MAX_FILE_SIZE: u64 = 1 << 46;
/// Largest rsync signature a server accepts (the body of `POST /api/v1/cluster/delta`).
pub const MAX_SIGNATURE: usize = 64 << 20;

/// Files never copied nor listed (relative paths, `/`-separated): the daemon's pid file, the
/// machine GUID (when the lib dir sits inside the cache dir), the CLI's quarantine state.
pub const EXCLUDED: &[&str] = &["netdatad.pid", "registry/netdata.public.unique.id", "netdatactl-quarantine.json"];
/// Suffix of the CLI's partial files.
pub const PART_SUFFIX: &str = ".netdatactl-part";

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("bad rsync signature: {0}")]
    BadSignature(String),
    #[error("computing the delta: {0}")]
    Delta(String),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: shorter than {len} bytes")]
    Short { path: String, len: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    #[serde(default)]
    pub mtime_ns: i128,
    /// BLAKE3 of the first `size` bytes, hex (JSON name `blake3`).
    #[serde(default, rename = "blake3", skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TierInfo {
    pub tier: u32,
    #[serde(default)]
    pub bytes: u64,
    #[serde(default)]
    pub files: u64,
    #[serde(default)]
    pub first_time: Option<i64>,
    #[serde(default)]
    pub last_time: Option<i64>,
    #[serde(default)]
    pub retention_bytes: Option<u64>,
    #[serde(default)]
    pub retention_secs: Option<u64>,
}

impl TierInfo {
    /// An empty tier row.
    pub fn new(tier: u32) -> Self {
        Self { tier, bytes: 0, files: 0, first_time: None, last_time: None, retention_bytes: None, retention_secs: None }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub version: u32,
    #[serde(default)]
    pub snapshot: String,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub guid: Option<String>,
    #[serde(default)]
    pub tiers: Vec<TierInfo>,
    pub files: Vec<FileEntry>,
}

/// A relative path is safe to join under a directory: not empty nor absolute, no `.`, `..`
/// or empty components, no NUL or backslash, at most [`MAX_PATH`] bytes.
pub fn safe_rel_path(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= MAX_PATH
        && !p.starts_with('/')
        && !p.contains('\0')
        && !p.contains('\\')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Never copied nor listed: [`EXCLUDED`], pid and lock files, the machine GUID file wherever
/// it is, the CLI's partial files and temp files of atomic rewrites (`*.tmp`).
pub fn is_excluded(rel: &str) -> bool {
    let base = rel.rsplit('/').next().unwrap_or(rel);
    EXCLUDED.contains(&rel)
        || base.ends_with(PART_SUFFIX)
        || base.ends_with(".tmp")
        || base == "netdatad.pid"
        || base == "LOCK"
        || base == "netdata.public.unique.id"
}

/// The tier a relative path belongs to, from its directory names: a `tierN` or
/// `dbengine-tierN` directory (our store: `dbengine/tierN/*.ndd`), or Netdata's own tier-0
/// files (`dbengine/datafile-*`, `dbengine/journalfile-*`). Other files (metadata, WAL) have
/// no tier.
pub fn tier_of(rel: &str) -> Option<u32> {
    let comps: Vec<&str> = rel.split('/').collect();
    let (file, dirs) = comps.split_last()?;
    for c in dirs.iter().take(3) {
        let rest = c.strip_prefix("dbengine-tier").or_else(|| c.strip_prefix("tier"));
        if let Some(n) = rest.and_then(|r| r.parse::<u32>().ok()) {
            if n < 16 {
                return Some(n);
            }
        }
    }
    if dirs.last() == Some(&"dbengine") && (file.starts_with("datafile-") || file.starts_with("journalfile-")) {
        return Some(0);
    }
    None
}

/// Validates a manifest from the network: bounded counts, safe paths, well-formed hashes, no
/// duplicates.
pub fn validate(m: &Manifest) -> Result<(), String> {
    if m.files.len() > MAX_FILES {
        return Err(format!("{} files (at most {MAX_FILES})", m.files.len()));
    }
    if m.tiers.len() > 16 {
        return Err(format!("{} tiers", m.tiers.len()));
    }
    let mut seen = std::collections::HashSet::new();
    for f in &m.files {
        if !safe_rel_path(&f.path) {
            return Err(format!("unsafe path {:?}", f.path));
        }
        if f.size > MAX_FILE_SIZE {
            return Err(format!("{}: size {} too large", f.path, f.size));
        }
        if let Some(h) = &f.hash {
            if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("{}: bad blake3 hash {h:?}", f.path));
            }
        }
        if !seen.insert(f.path.as_str()) {
            return Err(format!("{} listed twice", f.path));
        }
    }
    Ok(())
}

/// rsync block size for a file of `len` bytes (about √len, 1 KiB … 64 KiB).
pub fn signature_options(len: u64) -> fast_rsync::SignatureOptions {
    let b = ((len as f64).sqrt() as u32).clamp(1024, 64 * 1024);
    fast_rsync::SignatureOptions { block_size: b.next_power_of_two(), crypto_hash_size: 8 }
}

/// The delta turning the file described by `signature` into `data` (the server side of
/// `POST /api/v1/cluster/delta`).
pub fn delta_for(data: &[u8], signature: &[u8]) -> Result<Vec<u8>, SnapshotError> {
    if signature.len() > MAX_SIGNATURE {
        return Err(SnapshotError::BadSignature(format!("{} bytes (at most {MAX_SIGNATURE})", signature.len())));
    }
    let sig = fast_rsync::Signature::deserialize(signature.to_vec()).map_err(|e| SnapshotError::BadSignature(e.to_string()))?;
    let mut out = Vec::new();
    fast_rsync::diff(&sig.index(), data, &mut out).map_err(|e| SnapshotError::Delta(e.to_string()))?;
    Ok(out)
}

/// Reads bytes `from .. from + buf.len()` of `f` with `pread` (never past what the caller
/// recorded, whatever is appended meanwhile); `path` names it in errors.
pub fn read_exact_at(f: &File, buf: &mut [u8], from: u64, path: &str) -> Result<(), SnapshotError> {
    let mut done = 0usize;
    while done < buf.len() {
        match f.read_at(&mut buf[done..], from + done as u64) {
            Ok(0) => return Err(SnapshotError::Short { path: path.to_string(), len: from + buf.len() as u64 }),
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => return Err(SnapshotError::Io { path: path.to_string(), source }),
        }
    }
    Ok(())
}

/// BLAKE3 (hex) of the first `len` bytes of `f`.
pub fn hash_prefix(f: &File, len: u64, path: &str) -> Result<String, SnapshotError> {
    let mut h = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0u64;
    while at < len {
        let n = ((len - at).min(buf.len() as u64)) as usize;
        read_exact_at(f, &mut buf[..n], at, path)?;
        h.update(&buf[..n]);
        at += n as u64;
    }
    Ok(h.finalize().to_hex().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_paths_are_refused() {
        for p in ["", "/etc/passwd", "../x", "a/../../b", "a//b", "./a", "a\\b", "a\0b"] {
            assert!(!safe_rel_path(p), "{p:?}");
        }
        assert!(safe_rel_path("tier0/datafile-1.ndf"));
        assert!(!safe_rel_path(&"a".repeat(MAX_PATH + 1)));
    }

    #[test]
    fn identity_lock_and_temp_files_are_excluded() {
        for p in ["netdatad.pid", "registry/netdata.public.unique.id", "lib/registry/netdata.public.unique.id", "dbengine/LOCK", "dbengine/metadata.ndm.tmp", "dbengine/tier0/.x.ndd.netdatactl-part"] {
            assert!(is_excluded(p), "{p}");
        }
        for p in ["dbengine/metadata.ndm", "dbengine/tier0/0000000001.ndd", "dbengine/wal-0000000001.log"] {
            assert!(!is_excluded(p), "{p}");
        }
    }

    #[test]
    fn tiers_from_directory_names() {
        assert_eq!(tier_of("dbengine/tier2/0000000001.ndd"), Some(2));
        assert_eq!(tier_of("dbengine-tier1/datafile-1-0000000001.ndf"), Some(1));
        assert_eq!(tier_of("dbengine/datafile-1-0000000001.ndf"), Some(0));
        assert_eq!(tier_of("dbengine/wal-0000000001.log"), None);
        assert_eq!(tier_of("tier1"), None);
    }

    #[test]
    fn manifests_round_trip_and_bad_ones_are_refused() {
        let m = Manifest {
            version: VERSION,
            snapshot: "s".into(),
            created: 1,
            hostname: Some("h".into()),
            guid: None,
            tiers: vec![TierInfo::new(0)],
            files: vec![FileEntry { path: "dbengine/metadata.ndm".into(), size: 3, mtime_ns: 5, hash: Some("a".repeat(64)) }],
        };
        let text = serde_json::to_string(&m).expect("json");
        assert!(text.contains("\"blake3\":\""), "{text}");
        let back: Manifest = serde_json::from_str(&text).expect("parse");
        assert_eq!(back, m);
        assert!(validate(&m).is_ok());
        let mut bad = m.clone();
        bad.files.push(bad.files[0].clone());
        assert!(validate(&bad).expect_err("duplicate").contains("twice"));
        let mut bad = m.clone();
        bad.files[0].path = "../x".into();
        assert!(validate(&bad).is_err());
        let mut bad = m;
        bad.files[0].hash = Some("zz".into());
        assert!(validate(&bad).is_err());
    }

    #[test]
    fn delta_round_trip_and_garbage_signatures() {
        let old: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut new = old.clone();
        new[5000] ^= 0xff;
        new.extend_from_slice(b"tail");
        let sig = fast_rsync::Signature::calculate(&old, signature_options(old.len() as u64));
        let d = delta_for(&new, sig.serialized()).expect("delta");
        assert!(d.len() < new.len() / 10, "delta {} bytes", d.len());
        let mut out = Vec::new();
        fast_rsync::apply(&old, &d, &mut out).expect("apply");
        assert_eq!(out, new);
        assert!(matches!(delta_for(&new, b"garbage"), Err(SnapshotError::BadSignature(_))));
    }

    #[test]
    fn prefix_hashes_and_short_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello world").expect("write");
        let f = File::open(&p).expect("open");
        assert_eq!(hash_prefix(&f, 5, "f").expect("hash"), blake3::hash(b"hello").to_hex().to_string());
        assert_eq!(hash_prefix(&f, 0, "f").expect("hash"), blake3::hash(b"").to_hex().to_string());
        let e = hash_prefix(&f, 100, "f").expect_err("short");
        assert_eq!(e.to_string(), "f: shorter than 100 bytes");
    }
}
