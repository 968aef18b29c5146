//! `netdatactl duplicate`: clone a parent's cache directory, safely.
//!
//! 1. **Source**: a local directory, or a running parent (`http://HOST:PORT`) through the
//!    cluster snapshot endpoints (see [`crate::snapshot`] for the exact HTTP interface).
//! 2. **Preflight** (before any byte is copied): the destination's lock (a running daemon
//!    refuses), each tier's retention (`[db] dbengine tier N retention size/time` and
//!    `storage tiers` of the destination's netdata.conf, `--config`) against the source's
//!    data per tier, and free disk space. A failing preflight prints the table of tiers and
//!    the fix, and stops — unless `--fix-config` rewrites those keys (layout kept).
//! 3. **Copy**, file by file (walkdir order): unchanged files (same size and mtime; `--checksum`
//!    also compares hashes) are skipped; a file that only grew (the destination is a prefix
//!    of the source, checked by hash) gets only its tail appended; any other changed file is
//!    rebuilt from an rsync delta (fast_rsync) against the destination's copy into a temporary
//!    name; new files are streamed into a temporary name. Every file is verified with BLAKE3
//!    against the source before it is renamed into place and given the source's mtime, so an
//!    interrupted run resumes where it stopped.
//! 4. **Identity** is never copied: `netdatad.pid`, `registry/netdata.public.unique.id` and
//!    the CLI's own state files are excluded; a warning is printed when the destination's
//!    machine GUID equals the source's.
//!
//! Tier directories are found generically: a directory named `tierN`, `dbengine` (tier 0) or
//! `dbengine-tierN` at depth 1 or 2 of the cache directory holds tier N's files.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use blake3::Hasher;

use crate::error::{Error, Kind, Result};
use crate::snapshot::{self, FileEntry, Manifest};
use crate::{output, Ctx};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Source: a cache directory, or a running parent as http://HOST:PORT.
    #[arg(long, value_name = "DIR|http://HOST:PORT")]
    pub from: String,
    /// Destination cache directory of the new parent.
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Print the preflight and the copy plan; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Raise the destination's retention settings (in --config) to fit the source's data.
    #[arg(long)]
    pub fix_config: bool,
    /// Key of the source parent's snapshot endpoint (http sources): its netdata.conf
    /// `[cluster] snapshot key`.
    #[arg(long, value_name = "KEY", env = "NETDATACTL_SNAPSHOT_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// netdata.conf of a local source, for its retention limits.
    #[arg(long, value_name = "FILE")]
    pub from_config: Option<PathBuf>,
    /// Compare hashes of files whose size and mtime match too (slower, catches silent changes).
    #[arg(long)]
    pub checksum: bool,
    /// Keep destination files the source no longer has (by default they are deleted, only in
    /// directories the source has, so the copy mirrors the source's store).
    #[arg(long)]
    pub keep_extra: bool,
    /// fsync every file before it is renamed into place (durable against power loss, slower;
    /// like rsync, the default leaves write-back to the kernel).
    #[arg(long)]
    pub fsync: bool,
    /// Skip the free disk space check.
    #[arg(long)]
    pub no_space_check: bool,
}

pub use ndcluster::snapshot::{is_excluded, tier_of, EXCLUDED, PART_SUFFIX};

/// What a file needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Skip,
    Copy,
    Append,
    Delta,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PlanItem {
    pub path: String,
    pub action: Action,
    pub size: u64,
    /// Size of the destination's existing copy.
    pub dest_size: Option<u64>,
}

/// One tier's row in the preflight.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TierCheck {
    pub tier: u32,
    pub source_bytes: u64,
    pub source_first_time: Option<i64>,
    pub source_retention_bytes: Option<u64>,
    pub source_retention_secs: Option<u64>,
    pub dest_retention_bytes: u64,
    pub dest_retention_secs: u64,
    pub dest_tier_enabled: bool,
    /// Values the destination needs (None: fine as it is).
    pub fix_bytes: Option<u64>,
    pub fix_secs: Option<u64>,
    pub ok: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub source: String,
    pub destination: PathBuf,
    pub dry_run: bool,
    pub tiers: Vec<TierCheck>,
    pub free_bytes: Option<u64>,
    pub needed_bytes: u64,
    pub files: usize,
    pub skipped: usize,
    pub copied: usize,
    pub appended: usize,
    pub delta: usize,
    /// Destination files the source no longer has (deleted unless --keep-extra).
    pub deleted: Vec<String>,
    /// Bytes that crossed from the source (file data, tails, rsync deltas).
    pub bytes_transferred: u64,
    pub bytes_total: u64,
    pub seconds: f64,
    pub warnings: Vec<String>,
    pub plan: Vec<PlanItem>,
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// BLAKE3 of a whole file, hex.
pub fn hash_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(|e| Error::new(Kind::Other, format!("{}: {e}", path.display())))?;
    let mut h = Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::new(Kind::Other, format!("{}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().to_hex().to_string())
}

fn mtime_ns(meta: &std::fs::Metadata) -> i128 {
    meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_nanos() as i128).unwrap_or(0)
}

fn set_mtime(path: &Path, ns: i128) -> Result<()> {
    if ns <= 0 {
        return Ok(());
    }
    let t = UNIX_EPOCH + Duration::from_nanos(ns.min(u64::MAX as i128) as u64);
    let f = OpenOptions::new().write(true).open(path).map_err(|e| Error::new(Kind::Other, format!("{}: {e}", path.display())))?;
    f.set_modified(t).map_err(|e| Error::new(Kind::Other, format!("setting mtime of {}: {e}", path.display())))
}

/// Where the bytes come from.
pub trait Source {
    fn describe(&self) -> String;
    fn manifest(&mut self) -> Result<Manifest>;
    /// Streams bytes `offset..entry.size` into `out`; returns the count.
    fn copy_range(&mut self, e: &FileEntry, offset: u64, out: &mut dyn Write) -> Result<u64>;
    /// BLAKE3 (hex) of the first `len` bytes.
    fn prefix_hash(&mut self, e: &FileEntry, len: u64) -> Result<String>;
    /// An rsync delta of the source file against `signature` (fast_rsync format).
    fn delta(&mut self, e: &FileEntry, signature: &[u8]) -> Result<Vec<u8>>;
    /// BLAKE3 (hex) of the whole file as of the manifest.
    fn full_hash(&mut self, e: &FileEntry) -> Result<String>;
}

/// A local cache directory.
pub struct LocalSource {
    pub root: PathBuf,
    pub config: Option<PathBuf>,
}

impl LocalSource {
    fn path(&self, e: &FileEntry) -> PathBuf {
        self.root.join(&e.path)
    }
    fn open(&self, e: &FileEntry) -> Result<File> {
        let p = self.path(e);
        File::open(&p).map_err(|err| Error::new(Kind::Other, format!("{}: {err}", p.display())))
    }
    fn read_all(&self, e: &FileEntry) -> Result<Vec<u8>> {
        let mut v = Vec::with_capacity(e.size as usize);
        self.open(e)?.take(e.size).read_to_end(&mut v).map_err(|err| Error::new(Kind::Other, format!("{}: {err}", e.path)))?;
        if (v.len() as u64) < e.size {
            return Err(Error::new(Kind::Verify, format!("{}: the source shrank while copying", e.path)));
        }
        Ok(v)
    }
}

impl Source for LocalSource {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }
    fn manifest(&mut self) -> Result<Manifest> {
        let mut m = snapshot::scan_dir(&self.root, false)?;
        if let Some(cfg) = &self.config {
            let (conf, _) = ndcluster::config::NetdataConf::load(cfg).map_err(|e| Error::new(Kind::Config, e.to_string()))?;
            for t in m.tiers.iter_mut() {
                if let Some(s) = conf.db.tiers.get(t.tier as usize) {
                    t.retention_bytes = Some(s.retention_bytes);
                    t.retention_secs = Some(s.retention_secs);
                }
            }
            let guid = std::fs::read_to_string(conf.directories.lib.join("registry/netdata.public.unique.id")).ok();
            m.guid = guid.map(|g| g.trim().to_string());
        }
        if m.guid.is_none() {
            // Some set-ups keep the registry inside the cache directory (it is never copied).
            m.guid = std::fs::read_to_string(self.root.join("registry/netdata.public.unique.id")).ok().map(|g| g.trim().to_string());
        }
        Ok(m)
    }
    fn copy_range(&mut self, e: &FileEntry, offset: u64, out: &mut dyn Write) -> Result<u64> {
        let mut f = self.open(e)?;
        f.seek(SeekFrom::Start(offset)).map_err(|err| Error::new(Kind::Other, format!("{}: {err}", e.path)))?;
        let want = e.size.saturating_sub(offset);
        // Large reads (io::copy would use 8 KiB through the wrapping writers).
        let mut buf = vec![0u8; (1usize << 20).min(want as usize).max(1)];
        let mut n = 0u64;
        while n < want {
            let chunk = ((want - n) as usize).min(buf.len());
            let got = f.read(&mut buf[..chunk]).map_err(|err| Error::new(Kind::Other, format!("{}: {err}", e.path)))?;
            if got == 0 {
                break;
            }
            out.write_all(&buf[..got]).map_err(|err| Error::new(Kind::Other, format!("{}: {err}", e.path)))?;
            n += got as u64;
        }
        if n < want {
            return Err(Error::new(Kind::Verify, format!("{}: the source shrank while copying", e.path)));
        }
        Ok(n)
    }
    fn prefix_hash(&mut self, e: &FileEntry, len: u64) -> Result<String> {
        let mut h = Hasher::new();
        let mut f = self.open(e)?.take(len);
        std::io::copy(&mut f, &mut HashWriter(&mut h)).map_err(|err| Error::new(Kind::Other, format!("{}: {err}", e.path)))?;
        Ok(h.finalize().to_hex().to_string())
    }
    fn delta(&mut self, e: &FileEntry, signature: &[u8]) -> Result<Vec<u8>> {
        let data = self.read_all(e)?;
        snapshot::delta_for(&data, signature).map_err(|m| Error::new(Kind::Other, format!("{}: {m}", e.path)))
    }
    fn full_hash(&mut self, e: &FileEntry) -> Result<String> {
        if let Some(h) = &e.hash {
            return Ok(h.clone());
        }
        self.prefix_hash(e, e.size)
    }
}

struct HashWriter<'a>(&'a mut Hasher);
impl Write for HashWriter<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.update(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Feeds everything written through it to a hasher.
struct Tee<'h, W: Write> {
    inner: W,
    hasher: &'h mut Hasher,
}
impl<W: Write> Write for Tee<'_, W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(b)?;
        self.hasher.update(&b[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Counts bytes written through it and advances the progress bar.
struct Counting<'a, W: Write> {
    inner: W,
    n: u64,
    pb: &'a indicatif::ProgressBar,
}
impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(b)?;
        self.n += n as u64;
        self.pb.inc(n as u64);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Free bytes of the file system holding `dir` (via `df`; None when it cannot tell).
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let mut d = dir.to_path_buf();
    while !d.exists() {
        d = d.parent()?.to_path_buf();
    }
    let out = std::process::Command::new("df").args(["-B1", "--output=avail"]).arg(&d).output().ok()?;
    String::from_utf8_lossy(&out.stdout).lines().nth(1)?.trim().parse().ok()
}

fn plan_files(src: &Manifest, to: &Path, checksum: bool) -> Result<Vec<PlanItem>> {
    let mut v = Vec::with_capacity(src.files.len());
    for e in &src.files {
        let dp = to.join(&e.path);
        let action;
        let mut dest_size = None;
        match std::fs::metadata(&dp) {
            Ok(m) if m.is_file() => {
                dest_size = Some(m.len());
                let quick_same = m.len() == e.size && mtime_ns(&m) == e.mtime_ns && !checksum;
                let hash_same = || -> Result<bool> {
                    Ok(m.len() == e.size && checksum && e.hash.is_some() && hash_file(&dp)? == e.hash.clone().unwrap_or_default())
                };
                if quick_same || hash_same()? {
                    action = Action::Skip;
                } else if m.len() < e.size && m.len() > 0 {
                    action = Action::Append; // confirmed by hash at apply time, else Delta
                } else {
                    action = Action::Delta;
                }
            }
            _ => action = Action::Copy,
        }
        v.push(PlanItem { path: e.path.clone(), action, size: e.size, dest_size });
    }
    Ok(v)
}

/// Netdata's duration spelling for a number of seconds.
#[allow(clippy::manual_is_multiple_of)] // MSRV 1.80
fn format_secs(s: u64) -> String {
    if s % 86_400 == 0 {
        format!("{}d", s / 86_400)
    } else if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else {
        format!("{s}s")
    }
}

fn preflight_tiers(src: &Manifest, dest_conf: &ndcluster::config::NetdataConf) -> Vec<TierCheck> {
    let mut out = Vec::new();
    for t in &src.tiers {
        if t.bytes == 0 && t.files == 0 {
            continue;
        }
        let settings = dest_conf.db.tiers.get(t.tier as usize);
        let dest_bytes = settings.map(|s| s.retention_bytes).unwrap_or(0);
        let dest_secs = settings.map(|s| s.retention_secs).unwrap_or(0);
        let enabled = (t.tier as usize) < dest_conf.db.storage_tiers && settings.is_some();
        // The destination must hold at least the data copied, and at least the source's own
        // limits (or it would start deleting sooner than the source would).
        let need_bytes = t.bytes.max(t.retention_bytes.unwrap_or(0));
        let fix_bytes = (dest_bytes < need_bytes).then_some(need_bytes);
        let age = t.first_time.map(|f| (now_secs() - f).max(0) as u64).unwrap_or(0);
        let src_secs = t.retention_secs.unwrap_or(0);
        let fix_secs = if dest_secs == 0 {
            None
        } else if src_secs == 0 && t.retention_secs.is_some() {
            Some(0) // the source keeps by size only: lift the time limit too
        } else {
            let need = age.max(src_secs);
            (dest_secs < need).then_some(need)
        };
        out.push(TierCheck {
            tier: t.tier,
            source_bytes: t.bytes,
            source_first_time: t.first_time,
            source_retention_bytes: t.retention_bytes,
            source_retention_secs: t.retention_secs,
            dest_retention_bytes: dest_bytes,
            dest_retention_secs: dest_secs,
            dest_tier_enabled: enabled,
            ok: fix_bytes.is_none() && fix_secs.is_none() && enabled,
            fix_bytes,
            fix_secs,
        });
    }
    out
}

fn fix_lines(tiers: &[TierCheck]) -> Vec<(String, String)> {
    let mut v = Vec::new();
    if let Some(max) = tiers.iter().filter(|t| !t.dest_tier_enabled).map(|t| t.tier + 1).max() {
        v.push(("storage tiers".to_string(), max.to_string()));
    }
    for t in tiers {
        if let Some(b) = t.fix_bytes {
            v.push((format!("dbengine tier {} retention size", t.tier), ndcluster::config::value::format_size(round_up_mib(b))));
        }
        if let Some(s) = t.fix_secs {
            v.push((format!("dbengine tier {} retention time", t.tier), if s == 0 { "0".into() } else { format_secs(round_up_day(s)) }));
        }
    }
    v
}

fn round_up_mib(b: u64) -> u64 {
    b.div_ceil(1 << 20).max(1) << 20
}

fn round_up_day(s: u64) -> u64 {
    s.div_ceil(86_400).max(1) * 86_400
}

fn print_preflight(ctx: &mut Ctx<'_>, tiers: &[TierCheck]) -> Result<()> {
    let mut t = output::table(&["TIER", "SOURCE DATA", "SOURCE LIMITS", "DEST LIMITS", "NEEDED", "OK"]);
    for c in tiers {
        let lim = |b: Option<u64>, s: Option<u64>| {
            format!(
                "{} / {}",
                b.map(output::human_bytes).unwrap_or_else(|| "?".into()),
                s.map(|s| if s == 0 { "no time limit".to_string() } else { output::human_secs(s as f64) }).unwrap_or_else(|| "?".into())
            )
        };
        let mut need = Vec::new();
        if !c.dest_tier_enabled {
            need.push("enable tier".to_string());
        }
        if let Some(b) = c.fix_bytes {
            need.push(format!("size >= {}", output::human_bytes(b)));
        }
        if let Some(s) = c.fix_secs {
            need.push(if s == 0 { "no time limit".into() } else { format!("time >= {}", output::human_secs(s as f64)) });
        }
        let age = c.source_first_time.map(|f| format!(", {} old", output::human_secs((now_secs() - f).max(0) as f64))).unwrap_or_default();
        t.add_row(vec![
            c.tier.to_string(),
            format!("{}{age}", output::human_bytes(c.source_bytes)),
            lim(c.source_retention_bytes, c.source_retention_secs),
            if c.dest_tier_enabled { lim(Some(c.dest_retention_bytes), Some(c.dest_retention_secs)) } else { "tier disabled".into() },
            if need.is_empty() { "-".into() } else { need.join(", ") },
            if c.ok { "yes" } else { "NO" }.into(),
        ]);
    }
    let mut err = Vec::new();
    output::print_table(&mut err, t)?;
    ctx.err.write_all(&err)?;
    Ok(())
}

pub fn run(ctx: &mut Ctx<'_>, args: Args) -> Result<()> {
    let mut source: Box<dyn Source> = if args.from.starts_with("http://") || args.from.starts_with("https://") {
        let key = args.key.clone().ok_or_else(|| {
            Error::new(Kind::Usage, "an http:// source needs --key (the key of the source parent's snapshot endpoint)")
        })?;
        Box::new(snapshot::HttpSource::new(&args.from, &key)?)
    } else {
        let root = PathBuf::from(&args.from);
        if !root.is_dir() {
            return Err(Error::new(Kind::NotFound, format!("{}: no such source directory", root.display())));
        }
        if let Some(pid) = crate::daemon::running_pid(&root)? {
            ctx.note(format!(
                "warning: netdatad (pid {pid}) is running on {}; files may change while they are copied (a running parent is best copied through http://HOST:PORT)",
                root.display()
            ));
        }
        Box::new(LocalSource { root, config: args.from_config.clone() })
    };
    execute(ctx, &args, source.as_mut()).map(|_| ())
}

/// Runs a duplicate from any [`Source`]; the report is printed and returned.
pub fn execute(ctx: &mut Ctx<'_>, args: &Args, source: &mut dyn Source) -> Result<Report> {
    let started = Instant::now();
    let to = args.to.clone();
    if let Ok(src_root) = std::fs::canonicalize(&args.from) {
        if std::fs::canonicalize(&to).ok().as_ref() == Some(&src_root) {
            return Err(Error::new(Kind::Usage, "--from and --to are the same directory"));
        }
    }
    // 1. Nobody may be using the destination.
    if let Some(pid) = crate::daemon::running_pid(&to)? {
        return Err(Error::new(Kind::Refused, format!("{}: netdatad (pid {pid}) is running on the destination; stop it first", to.display())));
    }
    // 2. The destination's retention settings.
    let conf_path = ctx.config.clone();
    let (dest_conf, dest_doc) = if conf_path.exists() {
        let doc = ndcluster::config::IniDocument::load(&conf_path).map_err(|e| Error::new(Kind::Config, e.to_string()))?;
        let (c, _) = ndcluster::config::NetdataConf::from_document(&doc, ndcluster::config::NetdataConf::default())
            .map_err(|e| Error::new(Kind::Config, e.to_string()))?;
        (c, Some(doc))
    } else {
        ctx.note(format!("note: {} does not exist; checking against Netdata's default retention", conf_path.display()));
        let (c, _) = ndcluster::config::NetdataConf::parse_str("", "defaults").map_err(|e| Error::new(Kind::Config, e.to_string()))?;
        (c, None)
    };
    let manifest = source.manifest()?;
    let mut warnings = Vec::new();
    let tiers = preflight_tiers(&manifest, &dest_conf);
    let mut failing = tiers.iter().any(|t| !t.ok);
    if failing {
        print_preflight(ctx, &tiers)?;
        let fixes = fix_lines(&tiers);
        if args.fix_config && !args.dry_run {
            let mut doc = dest_doc.unwrap_or_else(|| ndcluster::config::IniDocument::empty(&conf_path.display().to_string()));
            for (k, v) in &fixes {
                doc.set("db", k, v).map_err(|e| Error::new(Kind::Config, format!("{}: {e}", conf_path.display())))?;
            }
            doc.write_atomic(&conf_path).map_err(|e| Error::new(Kind::Other, e.to_string()))?;
            ctx.note(format!("--fix-config: wrote to {} [db]:", conf_path.display()));
            for (k, v) in &fixes {
                ctx.note(format!("    {k} = {v}"));
            }
            failing = false;
        } else {
            ctx.note(format!("the new parent would delete copied data at its first start; set in {} [db]:", conf_path.display()));
            for (k, v) in &fixes {
                ctx.note(format!("    {k} = {v}"));
            }
            if !args.dry_run {
                return Err(Error::new(Kind::Refused, "retention preflight failed (use --fix-config to apply the settings above)"));
            }
        }
    }
    // 3. The plan and the space it needs.
    let plan = plan_files(&manifest, &to, args.checksum)?;
    let extra = if args.keep_extra { Vec::new() } else { extra_files(&manifest, &to) };
    let needed: u64 = plan
        .iter()
        .map(|p| match p.action {
            Action::Skip => 0,
            Action::Copy | Action::Delta => p.size,
            Action::Append => p.size - p.dest_size.unwrap_or(0),
        })
        .sum();
    let free = free_bytes(&to);
    if let Some(f) = free {
        if needed > f && !args.no_space_check {
            let msg = format!(
                "{}: {} needed, {} free",
                to.display(),
                output::human_bytes(needed),
                output::human_bytes(f)
            );
            if !args.dry_run {
                return Err(Error::new(Kind::Refused, format!("not enough disk space: {msg}")));
            }
            warnings.push(format!("not enough disk space: {msg}"));
        }
    }
    if let (Some(src_guid), Ok(g)) = (&manifest.guid, std::fs::read_to_string(dest_conf.directories.lib.join("registry/netdata.public.unique.id"))) {
        if g.trim() == src_guid {
            warnings.push(format!(
                "the destination's machine GUID ({}) is the source's: delete {} on the new parent so it creates its own",
                src_guid,
                dest_conf.directories.lib.join("registry/netdata.public.unique.id").display()
            ));
        }
    }
    let mut report = Report {
        source: source.describe(),
        destination: to.clone(),
        dry_run: args.dry_run,
        tiers,
        free_bytes: free,
        needed_bytes: needed,
        files: plan.len(),
        skipped: 0,
        copied: 0,
        appended: 0,
        delta: 0,
        deleted: extra,
        bytes_transferred: 0,
        bytes_total: manifest.files.iter().map(|f| f.size).sum(),
        seconds: 0.0,
        warnings,
        plan: Vec::new(),
    };
    if args.dry_run || failing {
        for p in &plan {
            match p.action {
                Action::Skip => report.skipped += 1,
                Action::Copy => report.copied += 1,
                Action::Append => report.appended += 1,
                Action::Delta => report.delta += 1,
            }
        }
        report.plan = plan;
        report.seconds = started.elapsed().as_secs_f64();
        print_report(ctx, &report)?;
        return Ok(report);
    }
    // 4. Copy (after removing temp files an interrupted run left behind).
    std::fs::create_dir_all(&to).map_err(|e| Error::new(Kind::Other, format!("{}: {e}", to.display())))?;
    for entry in walkdir::WalkDir::new(&to).follow_links(false).into_iter().filter_map(|e| e.ok()) {
        if entry.file_type().is_file() && entry.file_name().to_string_lossy().ends_with(PART_SUFFIX) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let pb = output::bytes_bar(ctx.tty, needed);
    let by_path: BTreeMap<&str, &FileEntry> = manifest.files.iter().map(|f| (f.path.as_str(), f)).collect();
    // New files are verified (re-read, hashed, renamed) on a second thread while the next
    // file is copied; everything else is verified in line.
    let (tx, rx) = std::sync::mpsc::sync_channel::<VerifyJob>(2);
    let copy_result = std::thread::scope(|scope| -> Result<()> {
        let verifier = scope.spawn(move || -> Result<()> {
            for job in rx {
                finish_with(&job.want, &job.entry, &job.part, &job.dest)?;
            }
            Ok(())
        });
        let mut run = || -> Result<()> {
            for item in &plan {
                let Some(e) = by_path.get(item.path.as_str()) else { continue };
                pb.set_message(item.path.clone());
                let (action, bytes) = apply_one(source, e, item, &to, &pb, args.fsync, &tx)?;
                report.bytes_transferred += bytes;
                match action {
                    Action::Skip => report.skipped += 1,
                    Action::Copy => report.copied += 1,
                    Action::Append => report.appended += 1,
                    Action::Delta => report.delta += 1,
                }
            }
            Ok(())
        };
        let copied = run();
        drop(tx);
        let verified = verifier.join().unwrap_or_else(|_| Err(Error::new(Kind::Other, "the verification thread panicked")));
        // A verification failure explains a failed hand-over, so it comes first.
        verified.and(copied)
    });
    copy_result?;
    if !args.keep_extra {
        for rel in &report.deleted {
            let p = to.join(rel);
            std::fs::remove_file(&p).map_err(io_err(&p))?;
        }
    }
    pb.finish_and_clear();
    report.seconds = started.elapsed().as_secs_f64();
    print_report(ctx, &report)?;
    Ok(report)
}

/// A copied file waiting for verification and its rename.
struct VerifyJob {
    entry: FileEntry,
    part: PathBuf,
    dest: PathBuf,
    want: String,
}

/// Destination files absent from the source, below directories the source has (a file at
/// the top level only when the source has top-level files too; identity and lock files are
/// never touched).
fn extra_files(m: &Manifest, to: &Path) -> Vec<String> {
    let names: std::collections::HashSet<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    let mut dirs: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for f in &m.files {
        let mut p = f.path.as_str();
        while let Some((d, _)) = p.rsplit_once('/') {
            dirs.insert(d);
            p = d;
        }
    }
    let top_files = m.files.iter().any(|f| !f.path.contains('/'));
    let mut v = Vec::new();
    for entry in walkdir::WalkDir::new(to).follow_links(false).sort_by_file_name().into_iter().filter_map(|e| e.ok()) {
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(to) else { continue };
        let rel = rel.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/");
        if names.contains(rel.as_str()) || is_excluded(&rel) {
            continue;
        }
        let mut under_source = !rel.contains('/') && top_files;
        let mut p = rel.as_str();
        while let Some((d, _)) = p.rsplit_once('/') {
            under_source |= dirs.contains(d);
            p = d;
        }
        if under_source {
            v.push(rel);
        }
    }
    v
}

fn part_path(dest: &Path) -> PathBuf {
    let name = dest.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    dest.with_file_name(format!(".{name}{PART_SUFFIX}"))
}

fn io_err(p: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::new(Kind::Other, format!("{}: {e}", p.display()))
}

/// Applies one plan item; returns what was actually done and the bytes transferred.
fn apply_one(
    src: &mut dyn Source,
    e: &FileEntry,
    item: &PlanItem,
    to: &Path,
    pb: &indicatif::ProgressBar,
    fsync: bool,
    verify: &std::sync::mpsc::SyncSender<VerifyJob>,
) -> Result<(Action, u64)> {
    let dest = to.join(&e.path);
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    match item.action {
        Action::Skip => Ok((Action::Skip, 0)),
        Action::Append => {
            let have = item.dest_size.unwrap_or(0);
            if src.prefix_hash(e, have)? != hash_file(&dest)? {
                return apply_one(src, e, &PlanItem { action: Action::Delta, ..item.clone() }, to, pb, fsync, verify);
            }
            let f = OpenOptions::new().append(true).open(&dest).map_err(io_err(&dest))?;
            let mut w = Counting { inner: std::io::BufWriter::new(f), n: 0, pb };
            let n = src.copy_range(e, have, &mut w)?;
            let f = w.inner.into_inner().map_err(|err| Error::new(Kind::Other, format!("{}: {err}", dest.display())))?;
            if fsync {
                f.sync_all().map_err(io_err(&dest))?;
            }
            let want = src.full_hash(e)?;
            if hash_file(&dest)? != want {
                // The prefix changed under us; rebuild the file from scratch.
                std::fs::remove_file(&dest).map_err(io_err(&dest))?;
                let (_, more) = apply_one(src, e, &PlanItem { action: Action::Copy, dest_size: None, ..item.clone() }, to, pb, fsync, verify)?;
                return Ok((Action::Copy, n + more));
            }
            set_mtime(&dest, e.mtime_ns)?;
            Ok((Action::Append, n))
        }
        Action::Copy => {
            let part = part_path(&dest);
            let f = File::create(&part).map_err(io_err(&part))?;
            // Hash the bytes as they stream by: the source is read once.
            let mut hasher = Hasher::new();
            let mut w = Tee { inner: Counting { inner: std::io::BufWriter::with_capacity(1 << 20, f), n: 0, pb }, hasher: &mut hasher };
            let n = src.copy_range(e, 0, &mut w)?;
            let f = w.inner.inner.into_inner().map_err(|err| Error::new(Kind::Other, format!("{}: {err}", part.display())))?;
            if fsync {
                f.sync_all().map_err(io_err(&part))?;
            }
            drop(f);
            let streamed = hasher.finalize().to_hex().to_string();
            let want = match &e.hash {
                Some(h) if *h != streamed => {
                    let _ = std::fs::remove_file(&part);
                    return Err(Error::new(Kind::Verify, format!("{}: received data has BLAKE3 {streamed}, the manifest says {h}", e.path)));
                }
                _ => streamed,
            };
            verify
                .send(VerifyJob { entry: (*e).clone(), part, dest, want })
                .map_err(|_| Error::new(Kind::Other, "the verification thread stopped"))?;
            Ok((Action::Copy, n))
        }
        Action::Delta => {
            let old = std::fs::read(&dest).map_err(io_err(&dest))?;
            let sig = fast_rsync::Signature::calculate(&old, snapshot::signature_options(old.len() as u64));
            let delta = src.delta(e, sig.serialized())?;
            let part = part_path(&dest);
            let mut out = Vec::with_capacity(e.size as usize);
            fast_rsync::apply_limited(&old, &delta, &mut out, e.size as usize)
                .map_err(|err| Error::new(Kind::Verify, format!("{}: applying the delta: {err}", e.path)))?;
            std::fs::write(&part, &out).map_err(io_err(&part))?;
            if fsync {
                File::open(&part).and_then(|f| f.sync_all()).map_err(io_err(&part))?;
            }
            pb.inc(e.size.saturating_sub(item.dest_size.unwrap_or(0)).max(delta.len() as u64));
            finish(src, e, &part, &dest)?;
            Ok((Action::Delta, delta.len() as u64))
        }
    }
}

/// Verifies `part` against the source hash, renames it over `dest`, sets the mtime.
fn finish(src: &mut dyn Source, e: &FileEntry, part: &Path, dest: &Path) -> Result<()> {
    let want = src.full_hash(e)?;
    finish_with(&want, e, part, dest)
}

fn finish_with(want: &str, e: &FileEntry, part: &Path, dest: &Path) -> Result<()> {
    let got = hash_file(part)?;
    if got != want {
        let _ = std::fs::remove_file(part);
        return Err(Error::new(Kind::Verify, format!("{}: BLAKE3 {got} after copy, source has {want}", e.path)));
    }
    std::fs::rename(part, dest).map_err(io_err(dest))?;
    set_mtime(dest, e.mtime_ns)
}

fn print_report(ctx: &mut Ctx<'_>, r: &Report) -> Result<()> {
    for w in &r.warnings {
        ctx.note(format!("warning: {w}"));
    }
    if ctx.json {
        return output::print_json(ctx.out, r);
    }
    if r.dry_run {
        let mut t = output::table(&["FILE", "ACTION", "SIZE", "DEST SIZE"]);
        for p in r.plan.iter().filter(|p| p.action != Action::Skip) {
            t.add_row(vec![
                p.path.clone(),
                format!("{:?}", p.action).to_lowercase(),
                output::human_bytes(p.size),
                p.dest_size.map(output::human_bytes).unwrap_or_else(|| "-".into()),
            ]);
        }
        for d in &r.deleted {
            t.add_row(vec![d.clone(), "delete".into(), "-".into(), "-".into()]);
        }
        output::print_table(ctx.out, t)?;
        writeln!(
            ctx.out,
            "plan: {} files, {} to copy, {} to append, {} by delta, {} unchanged, {} to delete; up to {} to write, {} free",
            r.files,
            r.copied,
            r.appended,
            r.delta,
            r.skipped,
            r.deleted.len(),
            output::human_bytes(r.needed_bytes),
            r.free_bytes.map(output::human_bytes).unwrap_or_else(|| "?".into())
        )?;
        return Ok(());
    }
    writeln!(
        ctx.out,
        "duplicated {} files ({}) from {} to {}: {} copied, {} appended, {} by delta, {} unchanged, {} deleted; {} transferred in {:.1}s",
        r.files,
        output::human_bytes(r.bytes_total),
        r.source,
        r.destination.display(),
        r.copied,
        r.appended,
        r.delta,
        r.skipped,
        r.deleted.len(),
        output::human_bytes(r.bytes_transferred),
        r.seconds
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_are_found_from_directory_names() {
        assert_eq!(tier_of("dbengine/tier0/0000000001.ndd"), Some(0));
        assert_eq!(tier_of("dbengine/tier2/0000000001.ndd"), Some(2));
        assert_eq!(tier_of("dbengine-tier1/datafile-1-0000000001.ndf"), Some(1));
        assert_eq!(tier_of("dbengine/datafile-1-0000000001.ndf"), Some(0));
        assert_eq!(tier_of("dbengine/metadata.ndm"), None);
        assert_eq!(tier_of("dbengine/wal-0000000001.log"), None);
        assert_eq!(tier_of("tier1"), None);
    }

    #[test]
    fn identity_is_excluded() {
        assert!(is_excluded("netdatad.pid"));
        assert!(is_excluded("registry/netdata.public.unique.id"));
        assert!(is_excluded("dbengine/tier0/.x.ndd.netdatactl-part"));
        assert!(is_excluded("dbengine/LOCK"));
        assert!(!is_excluded("dbengine/tier0/0000000001.ndd"));
    }
}
