//! The on-disk [`Store`]: per-tier append-only data files of compressed pages, a write-ahead
//! log of recent points, and a self-describing metadata file.
//!
//! # Layout of a store directory
//! * `LOCK` — held with an exclusive `flock` while a [`DiskStore`] is open
//!   ([`StoreError::Locked`] for a second opener).
//! * `metadata.ndm` — `NDTSMETA 1 <crc32 hex>\n` then JSON: every host, chart and dimension
//!   (their index is their id), the committed checkpoint *generation* and the list of aborted
//!   generations. Rewritten atomically (temp, fsync, rename, fsync dir) at each checkpoint;
//!   changes in between are WAL records.
//! * `tier{N}/{seq:010}.ndd` — data files of tier N. 32-byte header (`NDTSDAT1`, format
//!   version, tier, seq, crc32), then page records, and once *sealed* a 24-byte trailer
//!   (`NDTSSEAL`, data length, record count, crc32). A record is a header and a payload (see
//!   [`super::codec`], LZ4-compressed when that saves ≥ 1/8; a noisy series' tier-0 pages
//!   are not always tried, see `Lz4Hint`). Format 2 (written since
//!   2026-11-26): a compact header of 12–19 bytes, 14.9 on average on the benchmark corpus
//!   ([`Rec2`]: magic byte, crc32 of header + payload + the predecessor it is coded against,
//!   kind, then varints: payload length, series id, generation and first time as differences
//!   to the file's previous record, grid step, point count, holes). Format 3 (written since
//!   2026-11-26 evening) is format 2 whose tier-0 pages may hold lattice blocks (values
//!   `n/1024`, see [`super::codec`]). Format 1 (still read): a
//!   48-byte header with its own magic, crc32 of header + payload, series id, generation, time
//!   range, grid step, point count. Only sealed files are mapped
//!   ([`super::mmap`]); the one *active* file per tier is appended with `write` and read with
//!   `pread`. A sealed file that fails any check is renamed `*.corrupt` with a warning naming
//!   it; an unsealed file (crash) keeps its longest valid prefix and is sealed.
//! * `wal-{gen:010}.log` — write-ahead log of generation `gen` (`NDTSWAL1` header, then
//!   crc-checked chunks of records: tier-0 point, run of tier-0 points on a grid, row of live
//!   tier-0 points (one time, consecutive series), ready-made aggregate, host / chart /
//!   dimension upsert, and the snapshot of upper-tier open pages and running slots).
//!
//! Live points (`write_many`) wait in a one-cache-line buffer per series (`LiveBuf`, up to 13)
//! before they go to the open tier-0 page in one run; they are logged and counted at arrival,
//! and every read of the series, other write to it and checkpoint moves them into the page
//! first, so no reader sees the store without them and `kill -9` loses what it lost before.
//!
//! # Durability
//! Every accepted point and metadata change is appended to an in-memory WAL buffer; a
//! background thread writes it to the WAL file every [`wal_write_period`] (the flush interval
//! less a second of margin for a late wake-up, at least half of it), so `kill -9` loses at
//! most the points accepted in the last `flush_interval_secs` (default 5 s). The same thread `fdatasync`s the WAL and the active data
//! files that grew at most every [`SYNC_SECS`] (30 s: what a power loss can lose), and
//! `flush()` (clean shutdown) syncs everything.
//!
//! Tier-0 pages are written when full (the WAL buffer is written first, so a replay knows
//! their points). Upper-tier pages are written only at *checkpoints* (every
//! [`CHECKPOINT_SECS`], when the WAL passes [`WAL_MAX_BYTES`], and on drop): every open tier-0
//! page, back-filled point and upper-tier page of at least [`UPPER_PAGE_BYTES`] is written as a
//! record tagged with the next generation; the data files are fsynced; a new WAL starts with a
//! snapshot of the smaller upper-tier pages and running slots and is fsynced; then
//! `metadata.ndm` is rewritten with the new generation (the commit) and the old WAL deleted.
//! On open, records of generations newer than the committed one are ignored (and listed as
//! aborted for good) and the committed WAL is replayed: tier-0 points already in a data file
//! are skipped, but their roll-ups are re-applied — upper tiers hold nothing newer than the
//! WAL's start, so no point is ever counted twice. `flush()` (write + fsync the WAL) and drop
//! (checkpoint + seal) lose nothing.
//!
//! # Retention
//! Per tier, after a data file is sealed: delete the oldest sealed files while the sealed
//! bytes exceed the size limit, and those whose newest point is older than the time limit. The
//! active file is at most [`file_max`] bytes, so a tier never uses more than limit + one file.
//!
//! # Memory
//! Per series and tier: one open page (tier 0: an incremental [`NumEncoder`] keeps ≤ 64
//! words unpacked, pages are cut at 4096 points or 640 encoded bytes and at checkpoints;
//! tiers 1..: an [`AggEncoder`] of ~6–15 bytes per point until the next checkpoint), the
//! running partial aggregate, and 32 bytes of index per stored page.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::codec::{self, AggEncoder, NumEncoder, Runs};
use super::mmap::{self, SealedMap};
use super::*;

/// Format of the data files written: 3 (format 2 whose tier-0 pages may hold lattice blocks,
/// see [`codec`]: a build that predates them refuses the file by its version instead of
/// failing on a page). Format 2 (compact page record headers, see [`Rec2`]) and format 1
/// (48-byte record headers, [`RecHeader::parse`]) are still read.
const FORMAT_VERSION: u32 = 3;
const FORMAT_V2: u32 = 2;
const FORMAT_V1: u32 = 1;
const DATA_MAGIC: &[u8; 8] = b"NDTSDAT1";
const SEAL_MAGIC: &[u8; 8] = b"NDTSSEAL";
const WAL_MAGIC: &[u8; 8] = b"NDTSWAL1";
const META_MAGIC: &str = "NDTSMETA";
const REC_MAGIC: u32 = 0x4547_4150; // "PAGE"
const CHUNK_MAGIC: u32 = 0x434c_4157; // "WALC"
const FILE_HEADER: usize = 32;
/// A format-1 record header; no format-2 header is longer ([`REC2_MAX`]).
const REC_HEADER: usize = 48;
/// First byte of a format-2 record (a format-1 record starts with `P`).
const REC2_MAGIC: u8 = 0xD5;
/// Longest format-2 record header: magic, crc, kind, then varints of at most 5 (u32 and
/// zig-zagged differences of u32) or 10 (time difference) bytes.
const REC2_MAX: usize = 1 + 4 + 1 + 5 + 5 + 5 + 10 + 5 + 5 + 5;
const _: () = assert!(REC2_MAX <= REC_HEADER);
/// Kind byte of a format-2 record: payload LZ4-compressed ([`FLAG_LZ4`]), six columns.
const KIND_AGG: u8 = 2;
const TRAILER: usize = 24;
const FLAG_LZ4: u8 = 1;
/// Points per tier-0 page before it is written out.
pub const PAGE_POINTS: u32 = 4096;
/// Encoded bytes of an open page before it is written out.
pub const PAGE_BYTES: usize = 640;
/// An open upper-tier page is written at a checkpoint once it holds this many bytes;
/// smaller ones are carried over in the next WAL (a snapshot record).
pub const UPPER_PAGE_BYTES: usize = 192;
/// Seconds between checkpoints.
pub const CHECKPOINT_SECS: u64 = 1800;
/// The flusher hands the WAL to the kernel every [`wal_write_period`] (what `kill -9` can
/// lose) and fdatasyncs the grown files at most this often (what a power loss can lose).
pub const SYNC_SECS: u64 = 30;
/// WAL size that forces a checkpoint.
pub const WAL_MAX_BYTES: u64 = 256 << 20;
const WAL_BUF_MAX: usize = 1 << 20;
/// How many points ahead a batch write starts loading a series' state (see
/// [`Inner::prefetch_series`]).
const PREFETCH_AHEAD: usize = 16;
/// Largest metadata file / WAL chunk we accept.
const META_MAX_BYTES: u64 = 1 << 30;
const CHUNK_MAX_BYTES: usize = 64 << 20;

/// Size of one data file of a tier whose limit is `limit` bytes.
pub fn file_max(limit: u64) -> u64 {
    (limit / 8).clamp(4096, 64 << 20)
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn rd_u32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}
fn rd_u64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// fsync of a directory (after a rename or create in it).
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io_err(dir))
}

/// The durable write recipe: temp file, fsync, rename, fsync the directory.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

fn set_aside(path: &Path, reason: &str) {
    let to = path.with_extension(format!(
        "{}.corrupt",
        path.extension().and_then(|e| e.to_str()).unwrap_or("dat")
    ));
    warn!(path = %path.display(), reason, set_aside_as = %to.display(), "corrupt store file set aside");
    if let Err(e) = fs::rename(path, &to) {
        warn!(path = %path.display(), error = %e, "cannot rename corrupt file");
    }
}

// ---------------------------------------------------------------------------------------------
// Page records

#[derive(Clone, Copy, Debug)]
struct RecHeader {
    payload_len: u32,
    series: u32,
    generation: u32,
    tier: u8,
    flags: u8,
    ncols: u8,
    t0: i64,
    last: i64,
    step: u32,
    npoints: u32,
}

impl RecHeader {
    /// The format-1 header (written only by tests now).
    #[cfg(test)]
    fn encode(&self, payload: &[u8]) -> [u8; REC_HEADER] {
        let mut h = [0u8; REC_HEADER];
        h[0..4].copy_from_slice(&REC_MAGIC.to_le_bytes());
        h[8..12].copy_from_slice(&self.payload_len.to_le_bytes());
        h[12..16].copy_from_slice(&self.series.to_le_bytes());
        h[16..20].copy_from_slice(&self.generation.to_le_bytes());
        h[20] = self.tier;
        h[21] = self.flags;
        h[22] = self.ncols;
        h[24..32].copy_from_slice(&self.t0.to_le_bytes());
        h[32..40].copy_from_slice(&self.last.to_le_bytes());
        h[40..44].copy_from_slice(&self.step.to_le_bytes());
        h[44..48].copy_from_slice(&self.npoints.to_le_bytes());
        let mut c = crc32fast::Hasher::new();
        c.update(&h[8..]);
        c.update(payload);
        h[4..8].copy_from_slice(&c.finalize().to_le_bytes());
        h
    }
    /// Parses (without the crc check) a header at the start of `b`.
    fn parse(b: &[u8]) -> Option<Self> {
        if b.len() < REC_HEADER || rd_u32(b, 0) != REC_MAGIC {
            return None;
        }
        let h = Self {
            payload_len: rd_u32(b, 8),
            series: rd_u32(b, 12),
            generation: rd_u32(b, 16),
            tier: b[20],
            flags: b[21],
            ncols: b[22],
            t0: rd_u64(b, 24) as i64,
            last: rd_u64(b, 32) as i64,
            step: rd_u32(b, 40),
            npoints: rd_u32(b, 44),
        };
        let ok = h.npoints >= 1
            && h.npoints as usize <= codec::MAX_PAGE_POINTS
            && h.step >= 1
            && h.last >= h.t0
            && (h.ncols == 1 || h.ncols == 6)
            && h.payload_len as usize <= 16 * codec::MAX_PAGE_POINTS * 6;
        ok.then_some(h)
    }
    /// Checks the crc of a whole record `b` (header + payload).
    fn check(b: &[u8]) -> Option<Self> {
        let h = Self::parse(b)?;
        let end = REC_HEADER + h.payload_len as usize;
        if b.len() < end {
            return None;
        }
        let mut c = crc32fast::Hasher::new();
        c.update(&b[8..end]);
        (c.finalize() == rd_u32(b, 4)).then_some(h)
    }
}

/// What a format-2 record header is coded against: the previous record of the same file (the
/// first record of a file: all zero).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct RecCtx {
    series: u32,
    generation: u32,
    t0: i64,
}

impl RecCtx {
    fn after(h: &RecHeader) -> Self {
        Self {
            series: h.series,
            generation: h.generation,
            t0: h.t0,
        }
    }
    fn bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..4].copy_from_slice(&self.series.to_le_bytes());
        b[4..8].copy_from_slice(&self.generation.to_le_bytes());
        b[8..16].copy_from_slice(&self.t0.to_le_bytes());
        b
    }
}

fn zigzag(d: i64) -> u64 {
    ((d << 1) ^ (d >> 63)) as u64
}
fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// A format-2 page record header, as stored (typically 12–19 bytes instead of 48):
/// `REC2_MAGIC`, crc32 (LE), kind (bit 0 LZ4, bit 1 six columns, others zero), then varints:
/// payload length, zig-zagged differences to the previous record of the file ([`RecCtx`]) of
/// the series id, the generation and the first time, grid step, point count, and the holes
/// (slots of the page's span without a point: the last time is `t0 + step · (points − 1 +
/// holes)`). The crc covers the previous record's series, generation and first time (so a
/// record read against the wrong predecessor fails), the header after the crc and the payload.
#[derive(Clone, Copy, Debug)]
struct Rec2 {
    kind: u8,
    payload_len: u32,
    d_series: i64,
    d_generation: i64,
    d_t0: i64,
    step: u32,
    npoints: u32,
    holes: u32,
    /// Bytes of the header.
    len: usize,
}

impl Rec2 {
    /// Appends the header of `h` (its `payload_len` set) coded against `prev` to `out`.
    /// `None` if `h` is not a valid page (its last time not on its grid, more points than its
    /// span holds, unknown flags).
    fn encode(h: &RecHeader, prev: &RecCtx, payload: &[u8], out: &mut Vec<u8>) -> Option<()> {
        if h.flags & !FLAG_LZ4 != 0 || h.step == 0 || h.npoints == 0 || h.last < h.t0 {
            return None;
        }
        let span = (h.last - h.t0) / i64::from(h.step);
        if (h.last - h.t0) % i64::from(h.step) != 0 || span + 1 < i64::from(h.npoints) {
            return None;
        }
        let holes = u32::try_from(span + 1 - i64::from(h.npoints)).ok()?;
        let kind = h.flags | if h.ncols == 6 { KIND_AGG } else { 0 };
        let at = out.len();
        out.push(REC2_MAGIC);
        out.extend_from_slice(&[0; 4]);
        out.push(kind);
        codec::put_varint(out, u64::from(h.payload_len));
        codec::put_varint(out, zigzag(i64::from(h.series) - i64::from(prev.series)));
        codec::put_varint(out, zigzag(i64::from(h.generation) - i64::from(prev.generation)));
        codec::put_varint(out, zigzag(h.t0.wrapping_sub(prev.t0)));
        codec::put_varint(out, u64::from(h.step));
        codec::put_varint(out, u64::from(h.npoints));
        codec::put_varint(out, u64::from(holes));
        let mut c = crc32fast::Hasher::new();
        c.update(&prev.bytes());
        c.update(&out[at + 5..]);
        c.update(payload);
        let crc = c.finalize().to_le_bytes();
        out[at + 1..at + 5].copy_from_slice(&crc);
        Some(())
    }

    /// Parses (without the crc check) a header at the start of `b`.
    fn parse(b: &[u8]) -> Option<Self> {
        if b.first() != Some(&REC2_MAGIC) || b.len() < 6 {
            return None;
        }
        let kind = b[5];
        if kind & !(FLAG_LZ4 | KIND_AGG) != 0 {
            return None;
        }
        let mut pos = 6;
        let mut v = || codec::get_varint(b, &mut pos).ok();
        let u32v = |x: Option<u64>| x.and_then(|x| u32::try_from(x).ok());
        let payload_len = u32v(v())?;
        let d_series = unzigzag(v()?);
        let d_generation = unzigzag(v()?);
        let d_t0 = unzigzag(v()?);
        let step = u32v(v())?;
        let npoints = u32v(v())?;
        let holes = u32v(v())?;
        let ok = npoints >= 1
            && npoints as usize <= codec::MAX_PAGE_POINTS
            && step >= 1
            && payload_len as usize <= 16 * codec::MAX_PAGE_POINTS * 6;
        ok.then_some(Self {
            kind,
            payload_len,
            d_series,
            d_generation,
            d_t0,
            step,
            npoints,
            holes,
            len: pos,
        })
    }

    /// The header of this record for a page of `series` and `generation` starting at `t0`.
    fn header(&self, tier: u8, series: u32, generation: u32, t0: i64) -> Option<RecHeader> {
        let span = i64::from(self.npoints - 1) + i64::from(self.holes);
        let last = span
            .checked_mul(i64::from(self.step))
            .and_then(|d| t0.checked_add(d))?;
        Some(RecHeader {
            payload_len: self.payload_len,
            series,
            generation,
            tier,
            flags: self.kind & FLAG_LZ4,
            ncols: if self.kind & KIND_AGG != 0 { 6 } else { 1 },
            t0,
            last,
            step: self.step,
            npoints: self.npoints,
        })
    }

    /// Checks a whole record `b` (header + payload) that follows `prev` in a file of `tier`:
    /// its header and length in bytes.
    fn check(b: &[u8], prev: &RecCtx, tier: u8) -> Option<(RecHeader, usize)> {
        let r = Self::parse(b)?;
        let end = r.len + r.payload_len as usize;
        if b.len() < end {
            return None;
        }
        let series = u32::try_from(i64::from(prev.series) + r.d_series).ok()?;
        let generation = u32::try_from(i64::from(prev.generation) + r.d_generation).ok()?;
        let t0 = prev.t0.checked_add(r.d_t0)?;
        let mut c = crc32fast::Hasher::new();
        c.update(&prev.bytes());
        c.update(&b[5..end]);
        if c.finalize() != rd_u32(b, 1) {
            return None;
        }
        Some((r.header(tier, series, generation, t0)?, end))
    }
}

/// Decoded content of a page: slot indexes and columns.
#[derive(Default)]
struct Decoded {
    slots: Vec<u32>,
    cols: Vec<Vec<u32>>,
    scratch: Vec<u8>,
}

fn decode_payload(h: &RecHeader, payload: &[u8], d: &mut Decoded) -> Result<(), codec::CodecError> {
    let buf: &[u8] = if h.flags & FLAG_LZ4 != 0 {
        // bound the size the payload claims before allocating it
        let claimed = payload.get(0..4).map_or(usize::MAX, |b| {
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
        });
        if claimed > 64 * codec::MAX_PAGE_POINTS {
            return Err(codec::CodecError::Invalid("lz4 payload too large"));
        }
        d.scratch.clear();
        let raw = lz4_flex::block::decompress_size_prepended(payload)
            .map_err(|_| codec::CodecError::Invalid("lz4 payload"))?;
        d.scratch = raw;
        &d.scratch
    } else {
        payload
    };
    let n = h.npoints as usize;
    let mut pos = 0;
    let runs = Runs::decode(buf, &mut pos, n)?;
    d.slots.clear();
    runs.slots(&mut d.slots);
    d.cols.resize_with(h.ncols as usize, Vec::new);
    if h.ncols == 1 {
        d.cols[0].clear();
        codec::decode_numbers(buf, &mut pos, n, &mut d.cols[0])?;
    } else {
        codec::decode_aggs(buf, &mut pos, n, &mut d.cols)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// In-memory state

/// A partial aggregate of one slot of an upper tier (f64 accumulators).
#[derive(Clone, Copy, Debug)]
struct Agg {
    sum: f64,
    min: f64,
    max: f64,
    count: u32,
    anomalous: u32,
    reset: bool,
}

impl Agg {
    fn of(p: &TierPoint) -> Self {
        Self {
            sum: p.sum,
            min: p.min,
            max: p.max,
            count: p.count,
            anomalous: p.anomalous,
            reset: p.reset,
        }
    }
    fn fold(&mut self, p: &Agg) {
        self.sum += p.sum;
        self.min = self.min.min(p.min);
        self.max = self.max.max(p.max);
        self.count += p.count;
        self.anomalous += p.anomalous;
        self.reset |= p.reset;
    }
    fn cols(&self) -> [u32; 6] {
        [
            (self.sum as f32).to_bits(),
            (self.min as f32).to_bits(),
            (self.max as f32).to_bits(),
            self.count,
            self.anomalous,
            u32::from(self.reset),
        ]
    }
    fn point(&self, time: UnixTime) -> TierPoint {
        TierPoint {
            time,
            sum: self.sum as f32 as f64,
            min: self.min as f32 as f64,
            max: self.max as f32 as f64,
            count: self.count,
            reset: self.reset,
            anomalous: self.anomalous,
        }
    }
}

/// A page being filled (times on the grid `t0 + step * k`, strictly increasing).
#[derive(Clone, Debug)]
struct OpenPage {
    t0: i64,
    step: u32,
    last: i64,
    runs: Runs,
    cols: Cols,
}

/// Tier 0: one [`NumEncoder`]; tiers 1..: an [`AggEncoder`] of six u32 columns.
#[derive(Clone, Debug)]
enum Cols {
    Num(Box<NumEncoder>),
    Agg(Box<AggEncoder>),
}

impl OpenPage {
    fn new(t: i64, step: u32, ncols: usize) -> Self {
        let cols = if ncols == 1 {
            Cols::Num(Box::default())
        } else {
            Cols::Agg(Box::default())
        };
        Self {
            t0: t,
            step,
            last: t,
            runs: Runs::default(),
            cols,
        }
    }
    fn n(&self) -> u32 {
        match &self.cols {
            Cols::Num(e) => e.len(),
            Cols::Agg(c) => c.len(),
        }
    }
    fn ncols(&self) -> u8 {
        match &self.cols {
            Cols::Num(_) => 1,
            Cols::Agg(_) => 6,
        }
    }
    fn encoded_len(&self) -> usize {
        match &self.cols {
            Cols::Num(e) => e.encoded_len(),
            Cols::Agg(c) => c.encoded_len(),
        }
    }
    fn can_take(&self, t: i64) -> bool {
        if self.n() == 0 {
            return true;
        }
        t > self.last
            && (t - self.t0) % i64::from(self.step) == 0
            && (t - self.t0) / i64::from(self.step) < i64::from(u32::MAX / 2)
    }
    fn full(&self) -> bool {
        self.n() >= PAGE_POINTS || self.encoded_len() >= PAGE_BYTES
    }
    fn push(&mut self, t: i64, vals: &[u32]) {
        if self.n() == 0 {
            self.t0 = t;
        }
        let gap = if self.n() == 0 {
            0
        } else {
            ((t - self.last) / i64::from(self.step) - 1) as u32
        };
        self.runs.push(gap);
        match &mut self.cols {
            Cols::Num(e) => e.push(vals[0]),
            Cols::Agg(c) => {
                let mut a = [0u32; 6];
                for (x, &v) in a.iter_mut().zip(vals) {
                    *x = v;
                }
                c.push(&a);
            }
        }
        self.last = t;
    }
    /// Pushes `words[0]` at `t` ([`OpenPage::push`]; the page must take it, the word must not
    /// be empty), then the next words at `t + step`, `t + 2 step`, … up to the first empty one
    /// while the page is not [`OpenPage::full`]: the same as pushing each. Returns how many
    /// went in.
    fn push_grid(&mut self, t: i64, words: &[StorageNumber]) -> usize {
        let Some((w0, rest)) = words.split_first() else { return 0 };
        self.push(t, &[w0.0]);
        let Cols::Num(e) = &mut self.cols else { return 1 };
        if rest.len() >= 64 {
            // the page's packed bytes grow without a reallocation per block (the caller
            // shrinks the open page at the end of the run)
            e.reserve(PAGE_BYTES);
        }
        // slot indexes stay below u32::MAX / 2 (see `can_take`)
        let room = (i64::from(u32::MAX / 2) - 1 - (t - self.t0) / i64::from(self.step)).max(0);
        let mut k = 0usize;
        for w in rest.iter().take(room as usize) {
            if w.is_empty() || e.len() >= PAGE_POINTS || e.encoded_len() >= PAGE_BYTES {
                break;
            }
            e.push(w.0);
            k += 1;
        }
        if k > 0 {
            self.runs.extend_present(k as u32);
            self.last = t + k as i64 * i64::from(self.step);
        }
        1 + k
    }
    fn has(&self, t: i64) -> bool {
        t >= self.t0
            && t <= self.last
            && (t - self.t0) % i64::from(self.step) == 0
            && self.runs.has(((t - self.t0) / i64::from(self.step)) as u64)
    }
    fn payload(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.encoded_len());
        self.runs.encode(&mut out);
        match &self.cols {
            Cols::Num(e) => e.finish_into(&mut out),
            Cols::Agg(c) => c.finish_into(&mut out),
        }
        out
    }
    fn header(&self, series: u32, tier: usize, generation: u32) -> RecHeader {
        RecHeader {
            payload_len: 0,
            series,
            generation,
            tier: tier as u8,
            flags: 0,
            ncols: self.ncols(),
            t0: self.t0,
            last: self.last,
            step: self.step,
            npoints: self.n(),
        }
    }
    fn heap_bytes(&self) -> usize {
        self.runs.heap_bytes()
            + match &self.cols {
                Cols::Num(e) => e.heap_bytes() + std::mem::size_of::<NumEncoder>(),
                Cols::Agg(c) => c.heap_bytes(),
            }
    }
}

/// Where a stored page is: file sequence number and byte range of its record.
#[derive(Clone, Copy, Debug)]
struct PageRef {
    /// The page's first time, exactly its header's (a format-2 header holds it only as a
    /// difference to the previous record: [`load`] takes it from here).
    first: i64,
    last: i64,
    seq: u32,
    off: u32,
    len: u32,
}

/// A map of back-filled points, allocated only when used (8 bytes when empty instead of 24:
/// every series carries three of these).
#[allow(clippy::box_collection)]
struct BackMap<V>(Option<Box<BTreeMap<i64, V>>>);

impl<V> Default for BackMap<V> {
    fn default() -> Self {
        Self(None)
    }
}

impl<V> BackMap<V> {
    fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |m| m.len())
    }
    fn contains_key(&self, t: &i64) -> bool {
        self.0.as_ref().is_some_and(|m| m.contains_key(t))
    }
    fn map(&mut self) -> &mut BTreeMap<i64, V> {
        self.0.get_or_insert_with(Default::default)
    }
    fn take(&mut self) -> BTreeMap<i64, V> {
        self.0.take().map(|b| *b).unwrap_or_default()
    }
    fn range(&self, a: i64, b: i64) -> impl Iterator<Item = (&i64, &V)> {
        self.0.iter().flat_map(move |m| m.range(a..=b))
    }
    fn first_last(&self) -> [Option<i64>; 2] {
        match &self.0 {
            Some(m) => [m.keys().next().copied(), m.keys().next_back().copied()],
            None => [None, None],
        }
    }
}

struct SeriesTier {
    /// Stored pages, sorted by `first`; entries of deleted files are skipped and pruned.
    pages: Vec<PageRef>,
    open: Option<OpenPage>,
    /// Points (tier 0: the word in col 0) / partial aggregates behind the head, written at
    /// the next checkpoint.
    back0: BackMap<u32>,
    backk: BackMap<Agg>,
    /// Newest time written to `pages`/`open` (the head); `i64::MIN` before any.
    head: i64,
}

impl Default for SeriesTier {
    fn default() -> Self {
        Self {
            pages: Vec::new(),
            open: None,
            back0: BackMap::default(),
            backk: BackMap::default(),
            head: i64::MIN,
        }
    }
}

/// Tier-0 points of a live series not yet in its open page: the newest rows of a chart
/// arrive one per interval, and appending each to the series' open page and rolling it up
/// into every upper tier costs a handful of cache misses per point (the state of 100 k series
/// is cold after a second). [`DiskStore::write_many`] puts a point that extends the series on
/// its grid here instead (one cache line per series, adjacent for a chart's series) and
/// moves the buffer into the page in one run when it is full (`LIVE_ROWS` points: one
/// append loop, one fold per upper-tier slot). A buffered point is stored: it is logged to
/// the WAL at arrival (kill -9 loses what it lost before), counted, and every reader of the
/// series (reads, aggregates, retention, other writes, checkpoints) first moves the buffer
/// into the page ([`Inner::live_drain`]), so nothing ever sees the store without it.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct LiveBuf {
    /// `words[i]` is at `last - (n - 1 - i) * update_every`; empty words are gaps.
    words: [StorageNumber; LIVE_ROWS],
    n: u32,
    /// Time of the newest buffered word; with none buffered, a time at or after the series'
    /// tier-0 head ([`LIVE_HEAD_UNKNOWN`]: look at the head).
    last: i64,
}

/// Points a [`LiveBuf`] holds: what fills one cache line.
const LIVE_ROWS: usize = 13;
const LIVE_HEAD_UNKNOWN: i64 = i64::MAX;

impl Default for LiveBuf {
    fn default() -> Self {
        Self {
            words: [StorageNumber::EMPTY; LIVE_ROWS],
            n: 0,
            last: LIVE_HEAD_UNKNOWN,
        }
    }
}

/// What [`Inner::live_put`] did with a point.
enum LivePut {
    /// Buffered (stored); `true` when the buffer is now full.
    Taken(bool),
    /// Not for the buffer (not after the series' newest point on its grid, or the buffer
    /// cannot reach it): the point goes the per-point way after a drain.
    No,
}

/// The in-memory state of every series, as one dense vector per tier and field (struct of
/// arrays) indexed by series id: no heap block per series, and the series of a chart (created
/// together, so consecutive ids) sit next to each other — a row of points written at one
/// `END` touches consecutive memory instead of a cache miss per series and tier.
struct SeriesTable {
    ue: Vec<u32>,
    /// `tiers[k][series]`.
    tiers: Vec<Vec<SeriesTier>>,
    /// `partial[k - 1][series]`: running aggregate of the head slot of tier `k >= 1`.
    partial: Vec<Vec<Option<(i64, Agg)>>>,
    /// Buffered live tier-0 points of each series ([`LiveBuf`]).
    live: Vec<LiveBuf>,
}

impl SeriesTable {
    fn new(tiers: usize) -> Self {
        Self {
            ue: Vec::new(),
            tiers: (0..tiers).map(|_| Vec::new()).collect(),
            partial: (1..tiers).map(|_| Vec::new()).collect(),
            live: Vec::new(),
        }
    }
    fn len(&self) -> usize {
        self.ue.len()
    }
    fn exists(&self, idx: usize) -> bool {
        idx < self.ue.len()
    }
    fn push(&mut self, ue: u32) {
        self.ue.push(ue);
        for t in &mut self.tiers {
            t.push(SeriesTier::default());
        }
        for p in &mut self.partial {
            p.push(None);
        }
        self.live.push(LiveBuf::default());
    }
    fn get(&self, idx: usize, k: usize) -> Option<&SeriesTier> {
        self.tiers.get(k)?.get(idx)
    }
    fn get_mut(&mut self, idx: usize, k: usize) -> Option<&mut SeriesTier> {
        self.tiers.get_mut(k)?.get_mut(idx)
    }
    /// The running slot of tier `k` (none for tier 0).
    fn partial(&self, idx: usize, k: usize) -> Option<(i64, Agg)> {
        self.partial.get(k.checked_sub(1)?)?.get(idx).copied().flatten()
    }
    fn all_tiers(&self) -> impl Iterator<Item = &SeriesTier> {
        self.tiers.iter().flatten()
    }
}

struct DataFile {
    seq: u32,
    path: PathBuf,
    map: Arc<SealedMap>,
    bytes: u64,
    max_time: i64,
    points: u64,
}

struct ActiveFile {
    seq: u32,
    path: PathBuf,
    file: Arc<File>,
    len: u64,
    max_time: i64,
    points: u64,
    records: u32,
    /// The last record appended (what the next one's header is coded against).
    prev: RecCtx,
}

struct TierFiles {
    tier: usize,
    dir: PathBuf,
    sealed: std::collections::VecDeque<DataFile>,
    active: Option<ActiveFile>,
    next_seq: u32,
    min_live_seq: u32,
    sealed_bytes: u64,
    sealed_points: u64,
    limit: u64,
    retention_secs: u64,
    /// Reused by `append`: the compressed payload, the record.
    lz: Vec<u8>,
    /// Per series id: whether `append` tries LZ4 on its next page ([`Lz4Hint`]).
    lz4_hint: Vec<Lz4Hint>,
    rec: Vec<u8>,
    /// While set, `append` puts records in `pending` instead of writing them (see
    /// [`TierFiles::write_pending`]): a run of a replication reply seals a page every few
    /// hundred points, one `write` for all of them instead of one each.
    defer: bool,
    /// Records appended but not written yet, at the active file's offset `pending_from` on,
    /// the first coded against `pending_prev`.
    pending: Vec<u8>,
    pending_from: u64,
    pending_prev: RecCtx,
}

/// Series ids below this keep an [`Lz4Hint`] (one byte each).
const LZ4_HINT_SERIES: usize = 1 << 24;
/// Payloads shorter than this are always tried with LZ4, whatever the series' [`Lz4Hint`].
const LZ4_SKIP_MIN: usize = PAGE_BYTES * 3 / 4;

/// Whether to try LZ4 on a series' next tier-0 page. Noisy numbers are already bit-packed:
/// LZ4 cannot shorten their pages at all, page after page. After such a page the next 1, 3,
/// 7, then 15 pages in a row are written without trying (a try costs a scan of the page and
/// an 8 KiB table zeroed); any page LZ4 shortens, even by less than the 1/8 that keeps the
/// compressed form, resets it. Memory only: a reopened store tries every series again.
#[derive(Clone, Copy, Debug, Default)]
struct Lz4Hint(u8);

impl Lz4Hint {
    /// Pages to write untried after the `level`-th failure in a row.
    const SKIPS: [u8; 5] = [0, 0, 1, 3, 7];
    fn level(self) -> usize {
        usize::from(self.0 >> 4)
    }
    /// Whether this page is tried (else it counts as one skipped).
    fn try_now(&mut self) -> bool {
        if self.0 & 15 == 0 {
            return true;
        }
        self.0 -= 1;
        false
    }
    /// The result of a try: LZ4 could not shorten the page at all (`hopeless`) or could.
    fn tried(&mut self, hopeless: bool) {
        if !hopeless {
            self.0 = 0;
        } else {
            let level = (self.level() + 1).min(Self::SKIPS.len() - 1);
            self.0 = ((level as u8) << 4) | Self::SKIPS[level];
        }
    }
}

#[derive(Default, Serialize, Deserialize)]
struct MetaFile {
    generation: u32,
    aborted: Vec<u32>,
    hosts: Vec<HostMeta>,
    charts: Vec<(u32, ChartMeta)>,
    dims: Vec<(u32, DimMeta)>,
}

/// Records not yet written to the WAL file, behind room for their chunk header (magic, length,
/// crc): a chunk is written straight from this buffer, without a copy.
struct WalBuf(Vec<u8>, Option<WalRow>);

/// The kind-9 record at the end of a [`WalBuf`] (a row of live points: one time, consecutive
/// series), which the next point of the row extends: where it starts, its time, the next
/// series and the buffer's length after it (anything else appended since ends the row).
#[derive(Clone, Copy, Debug)]
struct WalRow {
    at: usize,
    time: i64,
    next: u32,
    count: u16,
    end: usize,
}

const WAL_CHUNK_HEADER: usize = 12;

impl Default for WalBuf {
    fn default() -> Self {
        Self(vec![0; WAL_CHUNK_HEADER], None)
    }
}

impl WalBuf {
    fn extend_from_slice(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    fn push(&mut self, b: u8) {
        self.0.push(b);
    }
    /// Logs the live tier-0 point (`series`, `time`, `word`): it extends the row record at
    /// the end of the buffer when it is the row's next series at the same time, else starts
    /// one. Kind 9: time (i64), first series (u32), count (u16), then `count` words — 4 bytes
    /// a point instead of kind 1's 17.
    #[inline]
    fn log_live(&mut self, series: u32, time: i64, word: u32) {
        if let Some(r) = &mut self.1 {
            if r.end == self.0.len() && r.time == time && r.next == series && r.count < u16::MAX {
                r.count += 1;
                r.next = series.wrapping_add(1);
                self.0[r.at + 13..r.at + 15].copy_from_slice(&r.count.to_le_bytes());
                self.0.extend_from_slice(&word.to_le_bytes());
                r.end = self.0.len();
                return;
            }
        }
        let at = self.0.len();
        let mut rec = [0u8; 19];
        rec[0] = 9;
        rec[1..9].copy_from_slice(&time.to_le_bytes());
        rec[9..13].copy_from_slice(&series.to_le_bytes());
        rec[13..15].copy_from_slice(&1u16.to_le_bytes());
        rec[15..19].copy_from_slice(&word.to_le_bytes());
        self.0.extend_from_slice(&rec);
        self.1 = Some(WalRow { at, time, next: series.wrapping_add(1), count: 1, end: self.0.len() });
    }
    /// Bytes of records held.
    fn len(&self) -> usize {
        self.0.len() - WAL_CHUNK_HEADER
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn clear(&mut self) {
        self.1 = None;
        self.0.truncate(WAL_CHUNK_HEADER);
        // A burst (definitions of a new fleet, a checkpoint's snapshot) must not pin its
        // size in memory for good.
        if self.0.capacity() > 2 * WAL_BUF_MAX {
            self.0 = Vec::with_capacity(WAL_BUF_MAX);
            self.0.resize(WAL_CHUNK_HEADER, 0);
        }
    }
    /// The held records as one chunk, header filled in.
    fn chunk(&mut self) -> &[u8] {
        let len = self.len() as u32;
        let crc = crc32fast::hash(&self.0[WAL_CHUNK_HEADER..]);
        self.0[0..4].copy_from_slice(&CHUNK_MAGIC.to_le_bytes());
        self.0[4..8].copy_from_slice(&len.to_le_bytes());
        self.0[8..12].copy_from_slice(&crc.to_le_bytes());
        &self.0
    }
}

struct Wal {
    path: PathBuf,
    file: Option<Arc<File>>,
    buf: WalBuf,
    file_len: u64,
    meta_unsynced: bool,
    replaying: bool,
}

/// A dimension's definition as the store keeps it: a name equal to the id (nearly all of
/// them; Netdata's default) is kept empty, one heap string less per series.
fn stored_dim(meta: &DimMeta) -> DimMeta {
    let mut d = meta.clone();
    if d.name == d.id {
        d.name = String::new();
    }
    d
}

/// The inverse of [`stored_dim`] (Netdata names an unnamed dimension by its id).
fn loaded_dim(stored: &DimMeta) -> DimMeta {
    let mut d = stored.clone();
    if d.name.is_empty() {
        d.name.clone_from(&d.id);
    }
    d
}

/// A fixed 64-bit hash of a dimension id (the index key; equal ids are still compared).
fn id_hash(id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

struct Inner {
    dir: PathBuf,
    meta: MetaFile,
    host_by_guid: HashMap<String, u32>,
    chart_by_key: HashMap<(u32, String), u32>,
    /// (chart, hash of the dimension id) → series: no heap string per series. A second id
    /// with the same hash in the same chart is not indexed; its chart goes to
    /// `dim_hash_collided` and is searched through `chart_dims` instead.
    dim_by_key: HashMap<(u32, u64), u32>,
    dim_hash_collided: std::collections::HashSet<u32>,
    /// Series of each chart (index = chart id), in definition order.
    chart_dims: Vec<Vec<u32>>,
    series: SeriesTable,
    tiers: Vec<TierFiles>,
    wal: Wal,
    written: u64,
    overlap: u64,
    last_checkpoint: Instant,
    widths_cache: Vec<u32>,
    /// Points (tier 0) / slots (upper tiers) held in memory per tier — open pages, back-fill
    /// maps, running slots — kept up to date at every mutation so `stats()` is O(tiers)
    /// instead of a walk over every series (it runs every second for self-monitoring).
    mem_points: [i64; MAX_TIERS],
    /// Reused by `write_many`: the series whose [`LiveBuf`] a batch filled.
    live_full: Vec<u32>,
    /// Reused by `write_run`: the values of a run.
    run_vals: Vec<f64>,
    /// First replay pass at open: only hosts / charts / dimensions (so that data pages of
    /// series created since the last checkpoint can be indexed).
    replay_meta_only: bool,
}

struct Shared {
    config: StoreConfig,
    inner: RwLock<Inner>,
}

impl Shared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// The on-disk [`Store`]. See the module documentation for files and guarantees.
pub struct DiskStore {
    shared: Arc<Shared>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    flusher: Option<JoinHandle<()>>,
    _lock: File,
}

// ---------------------------------------------------------------------------------------------
// Files of a tier

impl TierFiles {
    fn file_path(&self, seq: u32) -> PathBuf {
        self.dir.join(format!("{seq:010}.ndd"))
    }

    fn bytes(&self) -> u64 {
        self.sealed_bytes + self.active.as_ref().map_or(0, |a| a.len)
    }

    fn new_active(&mut self) -> Result<(), StoreError> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let path = self.file_path(seq);
        let mut f = OpenOptions::new()
            .create_new(true)
            .append(true)
            .read(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let mut h = [0u8; FILE_HEADER];
        h[0..8].copy_from_slice(DATA_MAGIC);
        h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&(self.tier as u32).to_le_bytes());
        h[16..20].copy_from_slice(&seq.to_le_bytes());
        let crc = crc32fast::hash(&h[0..24]);
        h[24..28].copy_from_slice(&crc.to_le_bytes());
        f.write_all(&h).map_err(io_err(&path))?;
        sync_dir(&self.dir)?;
        self.active = Some(ActiveFile {
            seq,
            path,
            file: Arc::new(f),
            len: FILE_HEADER as u64,
            max_time: i64::MIN,
            points: 0,
            records: 0,
            prev: RecCtx::default(),
        });
        Ok(())
    }

    /// Writes the records deferred by `append` to the active file. On an error they are not
    /// in the file: returns the active file's seq and the offset from which its page
    /// references are void (the caller drops them), with the error.
    fn write_pending(&mut self) -> Result<(), (u32, u64, StoreError)> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let from = self.pending_from;
        let Some(a) = self.active.as_mut() else {
            self.pending.clear();
            return Err((u32::MAX, 0, StoreError::Invalid("no active file".into())));
        };
        let r = (&*a.file).write_all(&self.pending);
        self.pending.clear();
        if self.pending.capacity() > 1 << 20 {
            self.pending = Vec::new();
        }
        let pending_prev = self.pending_prev;
        r.map_err(|e| {
            // as an append that failed: the offsets of later records follow the last good one
            // (and the next record's header is coded against it)
            a.len = from;
            a.prev = pending_prev;
            (a.seq, from, io_err(&a.path)(e))
        })
    }

    /// Seals the active file (trailer, fsync, map) and applies retention.
    fn seal_active(&mut self) -> Result<bool, StoreError> {
        // (the records deferred are written by the caller before, after the WAL; this is for
        // a caller that did not)
        self.write_pending().map_err(|(_, _, e)| e)?;
        let Some(a) = self.active.take() else {
            return Ok(false);
        };
        let mut t = [0u8; TRAILER];
        t[0..8].copy_from_slice(SEAL_MAGIC);
        t[8..16].copy_from_slice(&a.len.to_le_bytes());
        t[16..20].copy_from_slice(&a.records.to_le_bytes());
        let crc = crc32fast::hash(&t[0..20]);
        t[20..24].copy_from_slice(&crc.to_le_bytes());
        (&*a.file)
            .write_all(&t)
            .and_then(|_| a.file.sync_all())
            .map_err(io_err(&a.path))?;
        let map = SealedMap::map_sealed(&a.file).map_err(io_err(&a.path))?;
        let bytes = a.len + TRAILER as u64;
        self.sealed_bytes += bytes;
        self.sealed_points += a.points;
        self.sealed.push_back(DataFile {
            seq: a.seq,
            path: a.path,
            map: Arc::new(map),
            bytes,
            max_time: a.max_time,
            points: a.points,
        });
        Ok(self.enforce_retention())
    }

    /// Deletes the oldest sealed files beyond the size or time limit. True if any went.
    fn enforce_retention(&mut self) -> bool {
        let cutoff = if self.retention_secs > 0 {
            now_secs() - self.retention_secs as i64
        } else {
            i64::MIN
        };
        let mut any = false;
        while let Some(f) = self.sealed.front() {
            if self.sealed_bytes <= self.limit && f.max_time >= cutoff {
                break;
            }
            let Some(f) = self.sealed.pop_front() else {
                break;
            };
            if let Err(e) = fs::remove_file(&f.path) {
                warn!(path = %f.path.display(), error = %e, "cannot delete expired data file");
            }
            self.sealed_bytes -= f.bytes;
            self.sealed_points -= f.points;
            self.min_live_seq = f.seq + 1;
            any = true;
        }
        any
    }

    /// Series `series`'s [`Lz4Hint`] (none for an id beyond [`LZ4_HINT_SERIES`] and in upper
    /// tiers, whose few large pages are written at checkpoints: always tried).
    fn lz4_hint_mut(&mut self, series: u32) -> Option<&mut Lz4Hint> {
        let i = series as usize;
        if i >= LZ4_HINT_SERIES || self.tier != 0 {
            return None;
        }
        if i >= self.lz4_hint.len() {
            self.lz4_hint.resize(i + 1, Lz4Hint::default());
        }
        self.lz4_hint.get_mut(i)
    }

    /// Appends one record; returns where it went and whether files were deleted.
    fn append(
        &mut self,
        mut h: RecHeader,
        payload: Vec<u8>,
    ) -> Result<(PageRef, bool), StoreError> {
        // LZ4 with the uncompressed size first (`compress_prepend_size`'s bytes), into a buffer
        // kept across records
        // (taken out while in use; an error drops them, nothing else)
        let (mut lz, mut rec) = (std::mem::take(&mut self.lz), std::mem::take(&mut self.rec));
        // (a page smaller than [`LZ4_SKIP_MIN`] was not cut for its size: it may be of a
        // quieter stretch of the series, it is always tried)
        let skip = payload.len() >= LZ4_SKIP_MIN && self.lz4_hint_mut(h.series).is_some_and(|x| !x.try_now());
        let clen = if !skip {
            let max = lz4_flex::block::get_maximum_output_size(payload.len());
            // (only grown: what the previous records left in it is overwritten, not zeroed)
            if lz.len() < 4 + max {
                lz.resize(4 + max, 0);
            }
            lz[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
            let clen = lz4_flex::block::compress_into(&payload, &mut lz[4..]).map_or(usize::MAX, |n| n + 4);
            // only a page LZ4 could shorten by less than 1/32 makes the next ones skip it
            // (block headers and such repeat a little even in noise; one that saved more,
            // if less than 1/8, is nearer the line: the next may cross it)
            let hopeless = clen.saturating_add(clen / 32) >= payload.len();
            if let Some(x) = self.lz4_hint_mut(h.series) {
                x.tried(hopeless);
            }
            clen
        } else {
            usize::MAX
        };
        let payload: &[u8] = if clen.saturating_add(clen / 8) < payload.len() {
            h.flags |= FLAG_LZ4;
            &lz[..clen]
        } else {
            &payload
        };
        h.payload_len = payload.len() as u32;
        let max = file_max(self.limit);
        let mut deleted = false;
        // the record (its header coded against the active file's last record) in `rec`
        let bad_page = || StoreError::Invalid(format!("tier {} page of series {} not on its grid", h.tier, h.series));
        rec.clear();
        if let Some(a) = &self.active {
            Rec2::encode(&h, &a.prev, payload, &mut rec).ok_or_else(bad_page)?;
            if a.len + (rec.len() + payload.len() + TRAILER) as u64 > max && a.records > 0 {
                deleted = self.seal_active()?;
            }
        }
        if self.active.is_none() {
            self.new_active()?;
            rec.clear();
            Rec2::encode(&h, &RecCtx::default(), payload, &mut rec).ok_or_else(bad_page)?;
        }
        let Some(a) = self.active.as_mut() else {
            return Err(StoreError::Invalid("no active file".into()));
        };
        let rec_len = (rec.len() + payload.len()) as u64;
        if self.defer {
            if self.pending.is_empty() {
                self.pending_from = a.len;
                self.pending_prev = a.prev;
            }
            self.pending.extend_from_slice(&rec);
            self.pending.extend_from_slice(payload);
        } else {
            rec.extend_from_slice(payload);
            (&*a.file).write_all(&rec).map_err(io_err(&a.path))?;
        }
        a.prev = RecCtx::after(&h);
        // a large record (a checkpoint's upper-tier page) does not pin its size
        if rec.capacity() <= 1 << 20 {
            (self.lz, self.rec) = (lz, rec);
        }
        let r = PageRef {
            first: h.t0,
            last: h.last,
            seq: a.seq,
            off: a.len as u32,
            len: rec_len as u32,
        };
        a.len += rec_len;
        a.records += 1;
        a.points += u64::from(h.npoints);
        a.max_time = a.max_time.max(h.last);
        Ok((r, deleted))
    }
}

/// Where to read a page from, outside the store lock.
enum Src {
    Map(Arc<SealedMap>),
    Active(Arc<File>),
}

fn locate(t: &TierFiles, r: &PageRef) -> Option<Src> {
    if r.seq < t.min_live_seq {
        return None;
    }
    if let Some(a) = &t.active {
        if a.seq == r.seq {
            return Some(Src::Active(a.file.clone()));
        }
    }
    let i = t.sealed.binary_search_by_key(&r.seq, |f| f.seq).ok()?;
    Some(Src::Map(t.sealed[i].map.clone()))
}

/// Reads and decodes one record into `d`; returns its header.
fn load(src: &Src, r: &PageRef, d: &mut Decoded, buf: &mut Vec<u8>) -> Option<RecHeader> {
    let bytes: &[u8] = match src {
        Src::Map(m) => m
            .bytes()
            .get(r.off as usize..(r.off as usize + r.len as usize))?,
        Src::Active(f) => {
            buf.resize(r.len as usize, 0);
            f.read_exact_at(buf, u64::from(r.off)).ok()?;
            buf
        }
    };
    // (a page reference points at a record checked at open or written by us: its first byte
    // tells its format; a format-2 header holds the first time only as a difference to the
    // previous record, the reference holds it)
    let (h, hlen) = if bytes.first() == Some(&REC2_MAGIC) {
        let c = Rec2::parse(bytes)?;
        (c.header(0, 0, 0, r.first)?, c.len)
    } else {
        (RecHeader::parse(bytes)?, REC_HEADER)
    };
    let payload = bytes.get(hlen..hlen + h.payload_len as usize)?;
    decode_payload(&h, payload, d).ok()?;
    Some(h)
}

// ---------------------------------------------------------------------------------------------
// Opening

/// Result of scanning one data file at open.
struct Scanned {
    records: Vec<(RecHeader, u32, u32)>,
    good_len: u64,
    sealed: bool,
}

fn scan_file(bytes: &[u8], tier: usize, seq: u32) -> Result<Scanned, String> {
    if bytes.len() < FILE_HEADER || &bytes[0..8] != DATA_MAGIC {
        return Err("bad file magic".into());
    }
    if crc32fast::hash(&bytes[0..24]) != rd_u32(bytes, 24) {
        return Err("file header checksum mismatch".into());
    }
    let version = rd_u32(bytes, 8);
    if version != FORMAT_VERSION && version != FORMAT_V2 && version != FORMAT_V1 {
        return Err(format!("unsupported format version {version}"));
    }
    if rd_u32(bytes, 12) as usize != tier || rd_u32(bytes, 16) != seq {
        return Err("file header names another tier or sequence number".into());
    }
    // Sealed?
    let mut data_end = bytes.len();
    let mut sealed = false;
    let mut want_records = None;
    if bytes.len() >= FILE_HEADER + TRAILER {
        let t = &bytes[bytes.len() - TRAILER..];
        if &t[0..8] == SEAL_MAGIC && crc32fast::hash(&t[0..20]) == rd_u32(t, 20) {
            if rd_u64(t, 8) != (bytes.len() - TRAILER) as u64 {
                return Err("seal trailer length mismatch".into());
            }
            data_end = bytes.len() - TRAILER;
            sealed = true;
            want_records = Some(rd_u32(t, 16));
        }
    }
    let mut pos = FILE_HEADER;
    let mut records = Vec::new();
    let mut prev = RecCtx::default();
    while pos < data_end {
        let rec = if version == FORMAT_V1 {
            RecHeader::check(&bytes[pos..data_end])
                .filter(|h| h.tier as usize == tier)
                .map(|h| (h, REC_HEADER + h.payload_len as usize))
        } else {
            Rec2::check(&bytes[pos..data_end], &prev, tier as u8)
        };
        match rec {
            Some((h, len)) => {
                records.push((h, pos as u32, len as u32));
                prev = RecCtx::after(&h);
                pos += len;
            }
            None if sealed => return Err(format!("bad page record at byte {pos}")),
            None => break,
        }
    }
    if let Some(n) = want_records {
        if n as usize != records.len() {
            return Err("record count does not match the seal trailer".into());
        }
    }
    Ok(Scanned {
        records,
        good_len: pos as u64,
        sealed,
    })
}

fn read_meta(path: &Path) -> Result<Option<MetaFile>, StoreError> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(StoreError::Io {
                path: path.to_path_buf(),
                source: e,
            })
        }
    };
    let mut s = String::new();
    Read::by_ref(&mut f)
        .take(META_MAX_BYTES)
        .read_to_string(&mut s)
        .map_err(io_err(path))?;
    let (first, body) = s
        .split_once('\n')
        .ok_or_else(|| corrupt(path, "no header line"))?;
    let mut w = first.split(' ');
    if w.next() != Some(META_MAGIC) {
        return Err(corrupt(path, "bad magic"));
    }
    if w.next() != Some("1") {
        return Err(corrupt(path, "unsupported format version"));
    }
    let crc = w
        .next()
        .and_then(|c| u32::from_str_radix(c, 16).ok())
        .ok_or_else(|| corrupt(path, "no checksum"))?;
    if crc32fast::hash(body.as_bytes()) != crc {
        return Err(corrupt(path, "checksum mismatch"));
    }
    serde_json::from_str(body)
        .map(Some)
        .map_err(|e| corrupt(path, e.to_string()))
}

fn write_meta(dir: &Path, meta: &MetaFile) -> Result<(), StoreError> {
    let path = dir.join("metadata.ndm");
    let body = serde_json::to_string(meta).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let text = format!(
        "{META_MAGIC} 1 {:08x}\n{body}",
        crc32fast::hash(body.as_bytes())
    );
    write_atomic(&path, text.as_bytes())
}

fn wal_path(dir: &Path, generation: u32) -> PathBuf {
    dir.join(format!("wal-{generation:010}.log"))
}

impl DiskStore {
    /// Opens (creating if needed) the store in `dir`, recovering from a crash if one happened.
    pub fn open(dir: impl AsRef<Path>, config: StoreConfig) -> Result<DiskStore, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        if config.tiers.is_empty() || config.tiers.len() > MAX_TIERS {
            return Err(StoreError::Invalid(format!(
                "{} storage tiers; 1 to {MAX_TIERS} are supported",
                config.tiers.len()
            )));
        }
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        if !mmap::try_lock_exclusive(&lock).map_err(io_err(&lock_path))? {
            return Err(StoreError::Locked {
                path: lock_path,
                detail: "flock is held".into(),
            });
        }
        let meta_path = dir.join("metadata.ndm");
        let meta = match read_meta(&meta_path) {
            Ok(m) => m.unwrap_or_default(),
            Err(StoreError::Corrupt { path, reason }) => {
                set_aside(&path, &reason);
                MetaFile::default()
            }
            Err(e) => return Err(e),
        };
        let mut inner = Inner {
            dir: dir.clone(),
            meta: MetaFile {
                generation: meta.generation,
                aborted: meta.aborted.clone(),
                ..MetaFile::default()
            },
            host_by_guid: HashMap::new(),
            chart_by_key: HashMap::new(),
            dim_by_key: HashMap::new(),
            dim_hash_collided: Default::default(),
            chart_dims: Vec::new(),
            series: SeriesTable::new(config.tiers.len()),
            tiers: Vec::new(),
            wal: Wal {
                path: PathBuf::new(),
                file: None,
                buf: WalBuf::default(),
                file_len: 0,
                meta_unsynced: false,
                replaying: true,
            },
            written: 0,
            overlap: 0,
            last_checkpoint: Instant::now(),
            widths_cache: Vec::new(),
            mem_points: [0; MAX_TIERS],
            live_full: Vec::new(),
            run_vals: Vec::new(),
            replay_meta_only: false,
        };
        for h in &meta.hosts {
            inner.put_host(h);
        }
        for (h, c) in &meta.charts {
            inner.put_chart(&config, HostId(*h), c)?;
        }
        for (c, d) in &meta.dims {
            inner.put_dim(&config, ChartId(*c), d)?;
        }
        let committed = meta.generation;
        // hosts / charts / dimensions declared since the last checkpoint come first, so their
        // data pages are indexed below
        let committed_wal = wal_path(&dir, committed);
        if committed_wal.exists() {
            inner.replay_meta_only = true;
            inner.replay(&config, &committed_wal)?;
            inner.replay_meta_only = false;
        }
        let mut max_gen = committed;
        for (tier, tc) in config.tiers.iter().enumerate() {
            let tdir = dir.join(format!("tier{tier}"));
            fs::create_dir_all(&tdir).map_err(io_err(&tdir))?;
            let mut tf = TierFiles {
                tier,
                dir: tdir.clone(),
                sealed: Default::default(),
                active: None,
                next_seq: 1,
                min_live_seq: 0,
                sealed_bytes: 0,
                sealed_points: 0,
                limit: tc.retention_bytes,
                retention_secs: tc.retention_secs,
                lz: Vec::new(),
                lz4_hint: Vec::new(),
                rec: Vec::new(),
                defer: false,
                pending: Vec::new(),
                pending_from: 0,
                pending_prev: RecCtx::default(),
            };
            let mut seqs = Vec::new();
            for e in fs::read_dir(&tdir).map_err(io_err(&tdir))? {
                let e = e.map_err(io_err(&tdir))?;
                let name = e.file_name();
                let name = name.to_string_lossy();
                if let Some(seq) = name
                    .strip_suffix(".ndd")
                    .and_then(|s| s.parse::<u32>().ok())
                {
                    seqs.push(seq);
                } else if name.ends_with(".tmp") {
                    let _ = fs::remove_file(e.path());
                }
            }
            seqs.sort_unstable();
            for seq in seqs {
                tf.next_seq = tf.next_seq.max(seq + 1);
                let path = tf.file_path(seq);
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .map_err(io_err(&path))?;
                let mut bytes = Vec::new();
                (&file).read_to_end(&mut bytes).map_err(io_err(&path))?;
                let sc = match scan_file(&bytes, tier, seq) {
                    Ok(sc) => sc,
                    Err(reason) => {
                        set_aside(&path, &reason);
                        continue;
                    }
                };
                drop(bytes);
                let mut records = sc.records.len() as u32;
                let mut len = sc.good_len;
                if !sc.sealed {
                    if sc.good_len < file.metadata().map_err(io_err(&path))?.len() {
                        warn!(path = %path.display(), kept = sc.good_len, "torn tail of a data file cut after a crash");
                    }
                    file.set_len(sc.good_len).map_err(io_err(&path))?;
                    let a = ActiveFile {
                        seq,
                        path: path.clone(),
                        file: Arc::new(
                            OpenOptions::new()
                                .append(true)
                                .read(true)
                                .open(&path)
                                .map_err(io_err(&path))?,
                        ),
                        len,
                        max_time: i64::MIN,
                        points: 0,
                        records,
                        prev: RecCtx::default(),
                    };
                    // Seal it through the normal path (trailer + fsync + map), without retention.
                    let mut t = [0u8; TRAILER];
                    t[0..8].copy_from_slice(SEAL_MAGIC);
                    t[8..16].copy_from_slice(&a.len.to_le_bytes());
                    t[16..20].copy_from_slice(&a.records.to_le_bytes());
                    let crc = crc32fast::hash(&t[0..20]);
                    t[20..24].copy_from_slice(&crc.to_le_bytes());
                    (&*a.file)
                        .write_all(&t)
                        .and_then(|_| a.file.sync_all())
                        .map_err(io_err(&path))?;
                    records = a.records;
                    len = a.len;
                }
                let _ = records;
                let map = SealedMap::map_sealed(&file).map_err(io_err(&path))?;
                let mut df = DataFile {
                    seq,
                    path,
                    map: Arc::new(map),
                    bytes: len + TRAILER as u64,
                    max_time: i64::MIN,
                    points: 0,
                };
                for (h, off, rlen) in sc.records {
                    df.max_time = df.max_time.max(h.last);
                    df.points += u64::from(h.npoints);
                    if h.generation > committed {
                        max_gen = max_gen.max(h.generation);
                        if !inner.meta.aborted.contains(&h.generation) {
                            inner.meta.aborted.push(h.generation);
                        }
                        continue;
                    }
                    if inner.meta.aborted.contains(&h.generation) {
                        continue;
                    }
                    let Some(st) = inner.series.get_mut(h.series as usize, tier) else {
                        continue;
                    };
                    st.pages.push(PageRef {
                        first: h.t0,
                        last: h.last,
                        seq,
                        off,
                        len: rlen,
                    });
                    st.head = st.head.max(h.last);
                }
                tf.sealed_bytes += df.bytes;
                tf.sealed_points += df.points;
                tf.sealed.push_back(df);
            }
            tf.min_live_seq = tf.sealed.front().map_or(0, |f| f.seq);
            inner.tiers.push(tf);
        }
        for t in inner.series.tiers.iter_mut().flatten() {
            t.pages.sort_by_key(|p| p.first);
            t.pages.shrink_to_fit();
        }
        inner.meta.hosts.shrink_to_fit();
        // Replay the committed WAL; remove the others.
        let mut wals = Vec::new();
        for e in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let e = e.map_err(io_err(&dir))?;
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(g) = name
                .strip_prefix("wal-")
                .and_then(|s| s.strip_suffix(".log"))
                .and_then(|s| s.parse::<u32>().ok())
            {
                wals.push((g, e.path()));
            }
        }
        let shared_cfg = config.clone();
        for (g, path) in &wals {
            if *g == committed {
                inner.replay(&shared_cfg, path)?;
            }
        }
        inner.meta.generation = committed;
        let next = max_gen.max(committed);
        inner.wal.replaying = false;
        inner.checkpoint(&shared_cfg, Some(next + 1))?;
        for (g, path) in wals {
            if g != inner.meta.generation {
                let _ = fs::remove_file(&path);
            }
        }
        // Bound the aborted list: generations older than every record can go.
        let shared = Arc::new(Shared {
            config,
            inner: RwLock::new(inner),
        });
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flusher = {
            let shared = shared.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("store-flush".into())
                .spawn(move || flusher_loop(&shared, &stop))
                .map_err(io_err(&dir))?
        };
        info!(dir = %dir.display(), "store opened");
        Ok(DiskStore {
            shared,
            stop,
            flusher: Some(flusher),
            _lock: lock,
        })
    }

    /// Writes every open page and partial aggregate to the data files and starts a new WAL.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let cfg = &self.shared.config;
        self.shared.write().checkpoint(cfg, None)
    }

    /// Approximate heap bytes held for open pages / partial aggregates / backfill (excluding
    /// the page index), and the number of series.
    pub fn open_state_bytes(&self) -> (usize, usize) {
        let g = self.shared.read();
        let mut b = 0;
        b += g.series.len()
            * (std::mem::size_of::<u32>()
                + std::mem::size_of::<LiveBuf>()
                + g.series.partial.len() * std::mem::size_of::<Option<(i64, Agg)>>());
        {
            for t in g.series.all_tiers() {
                b += std::mem::size_of::<SeriesTier>();
                // the OpenPage itself is inline in SeriesTier
                b += t.open.as_ref().map_or(0, |o| o.heap_bytes());
                b += t.back0.len() * 40 + t.backk.len() * 72;
            }
        }
        (b, g.series.len())
    }

    /// Bytes of the page index (sealed pages).
    pub fn index_bytes(&self) -> usize {
        let g = self.shared.read();
        g.series
            .all_tiers()
            .map(|t| t.pages.capacity() * std::mem::size_of::<PageRef>())
            .sum()
    }
}

/// How often the flusher writes the WAL buffer to the file for a flush interval of
/// `flush_interval_secs`: one second less (the margin for a wake-up delayed by a busy machine
/// or a long store lock), but at least half the interval (so at least 0.5 s): 0.5 s for 1 s,
/// 4 s for the default 5 s. Each write is a wake-up and a `write` of a few KB whose cost is
/// mostly per call, so fewer, larger writes cost a small daemon less.
pub fn wal_write_period(flush_interval_secs: u32) -> Duration {
    let ms = u64::from(flush_interval_secs.max(1)) * 1000;
    Duration::from_millis(ms.saturating_sub(1000).max(ms / 2))
}

fn flusher_loop(shared: &Shared, stop: &(Mutex<bool>, Condvar)) {
    let period = wal_write_period(shared.config.flush_interval_secs);
    // Length of each file at its last fsync: an unchanged file is not synced again (an idle
    // store costs no fdatasync every period).
    let mut synced: HashMap<PathBuf, u64> = HashMap::new();
    let mut last_sync = Instant::now();
    loop {
        {
            let g = stop.0.lock().unwrap_or_else(|p| p.into_inner());
            let (g, _) = stop
                .1
                .wait_timeout(g, period)
                .unwrap_or_else(|p| p.into_inner());
            if *g {
                return;
            }
        }
        let files = {
            let mut inner = shared.write();
            let due = inner.last_checkpoint.elapsed() >= Duration::from_secs(CHECKPOINT_SECS)
                || inner.wal.file_len >= WAL_MAX_BYTES;
            if due {
                if let Err(e) = inner.checkpoint(&shared.config, None) {
                    warn!(error = %e, "checkpoint failed");
                }
                continue;
            }
            if let Err(e) = inner.wal_write() {
                warn!(error = %e, "writing the WAL failed");
            }
            inner.wal.meta_unsynced = false;
            if last_sync.elapsed() < Duration::from_secs(SYNC_SECS) {
                // Written to the kernel: safe from kill -9. fdatasync (power loss) is rarer.
                continue;
            }
            last_sync = Instant::now();
            inner.sync_targets()
        };
        synced.retain(|p, _| files.iter().any(|(q, _, _)| q == p));
        for (path, f, len) in files {
            if synced.get(&path) == Some(&len) {
                continue;
            }
            match f.sync_data() {
                Ok(()) => {
                    synced.insert(path, len);
                }
                Err(e) => warn!(path = %path.display(), error = %e, "fsync failed"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Inner: metadata, write path, checkpoint, replay

impl Inner {
    /// The files an fsync makes durable — each tier's active data file and the WAL — with
    /// their current length.
    fn sync_targets(&self) -> Vec<(PathBuf, Arc<File>, u64)> {
        let mut files: Vec<(PathBuf, Arc<File>, u64)> = self
            .tiers
            .iter()
            .filter_map(|t| t.active.as_ref().map(|a| (a.path.clone(), a.file.clone(), a.len)))
            .collect();
        if let Some(f) = &self.wal.file {
            files.push((self.wal.path.clone(), f.clone(), self.wal.file_len));
        }
        files
    }

    fn put_host(&mut self, meta: &HostMeta) -> (HostId, bool) {
        if let Some(&id) = self.host_by_guid.get(&meta.guid) {
            let changed = self.meta.hosts[id as usize] != *meta;
            if changed {
                self.meta.hosts[id as usize] = meta.clone();
            }
            return (HostId(id), changed);
        }
        let id = self.meta.hosts.len() as u32;
        self.meta.hosts.push(meta.clone());
        self.host_by_guid.insert(meta.guid.clone(), id);
        (HostId(id), true)
    }

    fn put_chart(
        &mut self,
        config: &StoreConfig,
        host: HostId,
        meta: &ChartMeta,
    ) -> Result<(ChartId, bool), StoreError> {
        if host.0 as usize >= self.meta.hosts.len() {
            return Err(StoreError::UnknownId {
                kind: "host",
                id: host.0,
            });
        }
        let key = (host.0, meta.id.clone());
        if let Some(&id) = self.chart_by_key.get(&key) {
            let changed = self.meta.charts[id as usize].1 != *meta;
            if changed {
                self.meta.charts[id as usize].1 = meta.clone();
                // update_every of its series follows the chart (their buffered points are on
                // the old grid: into their pages first)
                let ue = meta.update_every.max(1);
                let dims = self.chart_dims.get(id as usize).cloned().unwrap_or_default();
                let mut drained = Ok(());
                for &i in &dims {
                    if self.series.ue[i as usize] != ue {
                        let d = self.live_forget(config, i as usize);
                        drained = drained.and(d);
                        self.series.ue[i as usize] = ue;
                    }
                }
                drained?;
            }
            return Ok((ChartId(id), changed));
        }
        let id = self.meta.charts.len() as u32;
        self.meta.charts.push((host.0, meta.clone()));
        self.chart_by_key.insert(key, id);
        Ok((ChartId(id), true))
    }

    fn put_dim(
        &mut self,
        _config: &StoreConfig,
        chart: ChartId,
        meta: &DimMeta,
    ) -> Result<(SeriesId, bool), StoreError> {
        let Some((_, cm)) = self.meta.charts.get(chart.0 as usize) else {
            return Err(StoreError::UnknownId {
                kind: "chart",
                id: chart.0,
            });
        };
        let ue = cm.update_every.max(1);
        let stored = stored_dim(meta);
        if let Some(id) = self.find_dim(chart.0, &meta.id) {
            let changed = self.meta.dims[id as usize].1 != stored;
            if changed {
                self.meta.dims[id as usize].1 = stored;
            }
            return Ok((SeriesId(id), changed));
        }
        let id = self.meta.dims.len() as u32;
        self.meta.dims.push((chart.0, stored));
        match self.dim_by_key.entry((chart.0, id_hash(&meta.id))) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(id);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.dim_hash_collided.insert(chart.0);
            }
        }
        if self.chart_dims.len() <= chart.0 as usize {
            self.chart_dims.resize_with(chart.0 as usize + 1, Vec::new);
        }
        self.chart_dims[chart.0 as usize].push(id);
        self.series.push(ue);
        Ok((SeriesId(id), true))
    }

    /// The series of dimension `dim` of `chart`, if defined.
    fn find_dim(&self, chart: u32, dim: &str) -> Option<u32> {
        if let Some(&id) = self.dim_by_key.get(&(chart, id_hash(dim))) {
            if self.meta.dims.get(id as usize).is_some_and(|(_, d)| d.id == dim) {
                return Some(id);
            }
        }
        if !self.dim_hash_collided.contains(&chart) {
            return None;
        }
        self.chart_dims
            .get(chart as usize)?
            .iter()
            .copied()
            .find(|&id| self.meta.dims.get(id as usize).is_some_and(|(_, d)| d.id == dim))
    }

    /// Series of `chart`, in definition order.
    fn chart_series(&self, chart: u32) -> &[u32] {
        self.chart_dims.get(chart as usize).map_or(&[], Vec::as_slice)
    }

    fn log(&mut self, rec: &[u8]) {
        if self.wal.replaying {
            return;
        }
        self.wal.buf.extend_from_slice(rec);
    }

    fn log_meta(&mut self, kind: u8, parent: u32, json: &str) {
        let mut r = Vec::with_capacity(9 + json.len());
        r.push(kind);
        r.extend_from_slice(&parent.to_le_bytes());
        r.extend_from_slice(&(json.len() as u32).to_le_bytes());
        r.extend_from_slice(json.as_bytes());
        self.log(&r);
        self.wal.meta_unsynced = true;
    }

    /// Writes the WAL buffer as one chunk (no fsync).
    fn wal_write(&mut self) -> Result<(), StoreError> {
        if self.wal.buf.is_empty() {
            return Ok(());
        }
        let Some(f) = self.wal.file.clone() else {
            self.wal.buf.clear();
            return Ok(());
        };
        let chunk = self.wal.buf.chunk();
        let r = (&*f).write_all(chunk).map_err(io_err(&self.wal.path));
        let n = chunk.len() as u64;
        self.wal.buf.clear();
        r?;
        self.wal.file_len += n;
        Ok(())
    }

    /// Before a data page may name a new series, its metadata must be durable.
    fn sync_meta_before_page(&mut self) -> Result<(), StoreError> {
        if self.wal.meta_unsynced {
            self.wal_write()?;
            if let Some(f) = &self.wal.file {
                f.sync_data().map_err(io_err(&self.wal.path))?;
            }
            self.wal.meta_unsynced = false;
        }
        Ok(())
    }

    fn tier_widths(&mut self, config: &StoreConfig) {
        if self.widths_cache.len() != config.tiers.len() {
            self.widths_cache = config.tiers.iter().map(|t| t.iterations.max(1)).collect();
        }
    }

    fn write_point(
        &mut self,
        config: &StoreConfig,
        id: SeriesId,
        time: UnixTime,
        word: u32,
    ) -> Result<WriteOutcome, StoreError> {
        self.write_point_with(config, id, time, word, None)
    }

    /// [`Inner::write_point`]; with `rollups`, the point's roll-ups into the upper tiers are
    /// not done here but queued there, for [`Inner::roll_up_many`] to do tier by tier over a
    /// whole batch (a chart's series are adjacent in each tier's vector, so that pass walks
    /// memory in order instead of jumping between tiers at every point).
    fn write_point_with(
        &mut self,
        config: &StoreConfig,
        id: SeriesId,
        time: UnixTime,
        word: u32,
        rollups: Option<&mut Vec<(u32, i64, u32)>>,
    ) -> Result<WriteOutcome, StoreError> {
        let idx = id.0 as usize;
        let Some(&ue) = self.series.ue.get(idx) else {
            return Err(StoreError::UnknownId {
                kind: "series",
                id: id.0,
            });
        };
        let t0 = &mut self.series.tiers[0][idx];
        let at_head = time > t0.head;
        let mut seal = None;
        let stored0 = if at_head {
            if t0
                .open
                .as_ref()
                .is_some_and(|o| !o.can_take(time) || o.full())
            {
                seal = t0.open.take();
            }
            let o = t0.open.get_or_insert_with(|| OpenPage::new(time, ue, 1));
            o.push(time, &[word]);
            t0.head = time;
            self.mem_points[0] += 1;
            true
        } else if t0.back0.contains_key(&time) || t0.open.as_ref().is_some_and(|o| o.has(time)) {
            false
        } else if !self.wal.replaying
            && config.tiers[0].retention_secs > 0
            && time < now_secs() - config.tiers[0].retention_secs as i64
        {
            return Ok(WriteOutcome::Expired);
        } else {
            let pages: Vec<PageRef> = t0
                .pages
                .iter()
                .filter(|p| p.first <= time && p.last >= time)
                .copied()
                .collect();
            let present = self.stored_has(0, &pages, time);
            if !present {
                self.series.tiers[0][idx].back0.map().insert(time, word);
                self.mem_points[0] += 1;
            }
            !present
        };
        if !stored0 && !self.wal.replaying {
            self.overlap += 1;
            return Ok(WriteOutcome::Overlap);
        }
        if let Some(page) = seal {
            // The WAL records of this page's points must reach the kernel before the page,
            // so a replay after kill -9 re-applies their roll-ups (upper tiers are only
            // written at checkpoints).
            self.wal_write()?;
            self.write_page(idx, 0, &page, self.meta.generation)?;
        }
        match rollups {
            Some(q) => q.push((idx as u32, time, word)),
            None => {
                self.tier_widths(config);
                for k in 1..config.tiers.len() {
                    self.roll_up(idx, k, time, word);
                }
            }
        }
        if !self.wal.replaying {
            let mut r = [0u8; 17];
            r[0] = 1;
            r[1..5].copy_from_slice(&id.0.to_le_bytes());
            r[5..13].copy_from_slice(&time.to_le_bytes());
            r[13..17].copy_from_slice(&word.to_le_bytes());
            self.wal.buf.extend_from_slice(&r);
            if self.wal.buf.len() >= WAL_BUF_MAX {
                self.wal_write()?;
            }
            self.written += 1;
        }
        Ok(WriteOutcome::Stored)
    }

    /// Folds the tier-0 point (`time`, `word`) of series `idx` into tier `k >= 1`
    /// (`widths_cache` must be current).
    fn roll_up(&mut self, idx: usize, k: usize, time: i64, word: u32) {
        let Some(p) = TierPoint::from_number(time, StorageNumber(word)) else {
            return;
        };
        let ue = i64::from(self.series.ue[idx]);
        let width = self.widths_cache[1..=k]
            .iter()
            .fold(ue, |w, &m| w * i64::from(m));
        // fast path: the point falls in the running slot (no division)
        let slot = match self.series.partial[k - 1][idx] {
            Some((s, _)) if time - ue <= s && time - ue > s - width => s,
            _ => tier_slot(time, ue as u32, width),
        };
        self.fold_upper(idx, k, slot, width, &Agg::of(&p));
    }

    /// Buffers the finite point (`time`, `word`) of series `idx` ([`LiveBuf`]) when it comes
    /// after the series' newest point on its grid, within the buffer's reach: logged, counted
    /// as stored. `None` for an unknown series.
    #[inline]
    fn live_put(&mut self, idx: usize, time: i64, word: u32) -> Option<LivePut> {
        let ue = i64::from(*self.series.ue.get(idx)?.max(&1));
        let b = &mut self.series.live[idx];
        let slot = if b.n > 0 {
            let d = time.wrapping_sub(b.last);
            if d <= 0 || d % ue != 0 || d / ue >= LIVE_ROWS as i64 {
                return Some(LivePut::No);
            }
            let j = b.n as usize - 1 + (d / ue) as usize;
            if j >= LIVE_ROWS {
                return Some(LivePut::No);
            }
            // skipped slots are gaps
            for w in &mut b.words[b.n as usize..j] {
                *w = StorageNumber::EMPTY;
            }
            j
        } else {
            if b.last == LIVE_HEAD_UNKNOWN {
                b.last = self.series.tiers[0][idx].head;
            }
            if time <= b.last {
                return Some(LivePut::No);
            }
            0
        };
        b.words[slot] = StorageNumber(word);
        b.n = slot as u32 + 1;
        b.last = time;
        let full = slot + 1 == LIVE_ROWS;
        self.mem_points[0] += 1;
        self.written += 1;
        if !self.wal.replaying {
            self.wal.buf.log_live(idx as u32, time, word);
        }
        Some(LivePut::Taken(full))
    }

    /// Moves the buffered points of series `idx` ([`LiveBuf`]) into its open tier-0 page
    /// (sealing pages as they fill, as point by point) and rolls them up into every upper
    /// tier ([`Inner::roll_up_run`]: the same folds as point by point). They are already
    /// logged and counted. On an error writing a sealed page, the points not yet in a page
    /// are lost from memory (their WAL records remain) and the error is returned.
    fn live_drain(&mut self, config: &StoreConfig, idx: usize) -> Result<(), StoreError> {
        let Some(b) = self.series.live.get_mut(idx) else {
            return Ok(());
        };
        if b.n == 0 {
            return Ok(());
        }
        let n = b.n as usize;
        let words = b.words;
        let last = b.last;
        b.n = 0;
        let values = &words[..n];
        let ue = self.series.ue[idx].max(1);
        let step = i64::from(ue);
        let first = last - (n as i64 - 1) * step;
        let mut res = Ok(());
        let mut j = 0;
        while j < n {
            if values[j].is_empty() {
                j += 1;
                continue;
            }
            let t = first + j as i64 * step;
            let t0 = &mut self.series.tiers[0][idx];
            let seal = match &t0.open {
                Some(o) if !o.can_take(t) || o.full() => t0.open.take(),
                _ => None,
            };
            if let Some(page) = seal {
                // the WAL records of the page's points reach the kernel first (see
                // `write_point_with`)
                res = self.wal_write().and_then(|()| self.write_page(idx, 0, &page, self.meta.generation));
                if res.is_err() {
                    break;
                }
            }
            let t0 = &mut self.series.tiers[0][idx];
            let o = t0.open.get_or_insert_with(|| OpenPage::new(t, ue, 1));
            let pushed = if o.step == ue {
                o.push_grid(t, &values[j..])
            } else {
                o.push(t, &[values[j].0]);
                1
            };
            t0.head = first + (j + pushed - 1) as i64 * step;
            j += pushed;
        }
        let lost = values[j..].iter().filter(|w| !w.is_empty()).count();
        self.mem_points[0] -= lost as i64;
        self.tier_widths(config);
        let mut vals = std::mem::take(&mut self.run_vals);
        vals.clear();
        vals.extend(values[..j].iter().map(|v| v.value()));
        for k in 1..config.tiers.len() {
            self.roll_up_run(idx, k, first, step, 0, &values[..j], &vals);
        }
        self.run_vals = vals;
        self.series.live[idx].last = if res.is_ok() { last } else { LIVE_HEAD_UNKNOWN };
        res
    }

    /// [`Inner::live_drain`] before another way changes series `idx`'s tier-0 state: the
    /// buffer then looks at the head again.
    fn live_forget(&mut self, config: &StoreConfig, idx: usize) -> Result<(), StoreError> {
        let r = self.live_drain(config, idx);
        if let Some(b) = self.series.live.get_mut(idx) {
            b.last = LIVE_HEAD_UNKNOWN;
        }
        r
    }

    /// [`Inner::live_drain`] of every series (checkpoints); the first error is returned after
    /// all are done.
    fn live_drain_all(&mut self, config: &StoreConfig) -> Result<(), StoreError> {
        let mut r = Ok(());
        for idx in 0..self.series.live.len() {
            if self.series.live[idx].n > 0 {
                let d = self.live_drain(config, idx);
                r = r.and(d);
            }
        }
        r
    }

    /// Drains the full buffers named in `full` (see [`DiskStore::write_many`]), with their
    /// state prefetched a few series ahead (it is cold).
    fn live_drain_listed(&mut self, config: &StoreConfig, full: &[u32]) -> Result<(), StoreError> {
        let mut r = Ok(());
        for (i, &idx) in full.iter().enumerate() {
            if let Some(&far) = full.get(i + PREFETCH_AHEAD) {
                self.prefetch_series(far as usize);
            }
            if let Some(&mid) = full.get(i + PREFETCH_AHEAD / 2) {
                self.prefetch_open_page(mid as usize);
            }
            if let Some(&near) = full.get(i + PREFETCH_AHEAD / 4) {
                self.prefetch_encoder_tail(near as usize);
            }
            let d = self.live_drain(config, idx as usize);
            r = r.and(d);
        }
        r
    }

    /// [`Store::write_run`] under the lock (empty numbers: no point).
    /// Points at or before the series' head go the per-point way (back-fill or overlap); the
    /// rest — after a replication reply's first rows, the whole run — are appended to the open
    /// tier-0 page in one loop, logged as one WAL record per page they fill, and folded into
    /// each upper tier with the running slot held in a local while the run stays in it: the
    /// same folds, in the same order, as point by point.
    fn write_run(
        &mut self,
        config: &StoreConfig,
        id: SeriesId,
        first: UnixTime,
        step: u32,
        values: &[StorageNumber],
        counts: &mut WriteCounts,
    ) -> Result<(), StoreError> {
        let r = self.write_run_deferring(config, id, first, step, values, counts);
        let written = self.write_deferred();
        r.and(written)
    }

    /// [`Store::write_runs`] under the lock: the tier-0 pages the runs seal are written at the
    /// end, with the WAL before them, in two `write`s.
    fn write_runs(
        &mut self,
        config: &StoreConfig,
        first: UnixTime,
        step: u32,
        runs: &[(SeriesId, &[StorageNumber])],
        counts: &mut WriteCounts,
    ) -> Result<(), StoreError> {
        let mut r = Ok(());
        for &(id, values) in runs {
            // a live buffer before the run goes to its page first, as for `write_run`
            r = self
                .live_forget(config, id.0 as usize)
                .and_then(|()| self.write_run_deferring(config, id, first, step, values, counts));
            if r.is_err() {
                break;
            }
        }
        let written = self.write_deferred();
        r.and(written)
    }

    /// [`Inner::write_run`] leaving the tier-0 pages it seals in the tier's deferred records
    /// (the caller writes them with [`Inner::write_deferred`]).
    fn write_run_deferring(
        &mut self,
        config: &StoreConfig,
        id: SeriesId,
        first: UnixTime,
        step: u32,
        values: &[StorageNumber],
        counts: &mut WriteCounts,
    ) -> Result<(), StoreError> {
        let idx = id.0 as usize;
        let Some(&ue) = self.series.ue.get(idx) else {
            return Err(StoreError::UnknownId {
                kind: "series",
                id: id.0,
            });
        };
        let step = i64::from(step.max(1));
        // the last index whose time fits an i64 (the run is clipped there)
        let n = values
            .len()
            .min(((i64::MAX - first.max(0)) / step).saturating_add(1).max(0) as usize);
        let values = &values[..n];
        let time = |i: usize| first + i as i64 * step;
        let mut start = 0;
        while let Some(&w) = values.get(start) {
            if !w.is_empty() {
                let t = time(start);
                if t > self.series.tiers[0][idx].head {
                    break;
                }
                // (a back-fill may read tier-0 pages of the active file: none is deferred)
                self.write_deferred()?;
                counts.add(self.write_point(config, id, t, w.0)?);
            }
            start += 1;
        }
        if start == n {
            return Ok(());
        }
        // From `start` on every time is after the head.
        let (end, logged, res) = self.append_run(id, ue, first, step, start, values);
        if let Some(OpenPage { cols: Cols::Num(e), .. }) = &mut self.series.tiers[0][idx].open {
            e.shrink();
        }
        self.log_run(id, first, step, logged, &values[logged..end]);
        let stored = values[start..end].iter().filter(|w| !w.is_empty()).count() as u64;
        counts.stored += stored;
        self.written += stored;
        self.mem_points[0] += stored as i64;
        self.tier_widths(config);
        let mut vals = std::mem::take(&mut self.run_vals);
        vals.clear();
        vals.extend(values[start..end].iter().map(|v| v.value()));
        self.roll_up_run_tiers(idx, config.tiers.len(), first, step, start, &values[start..end], &vals);
        self.run_vals = vals;
        self.tiers[0].defer = false;
        res?;
        if self.wal.buf.len() >= WAL_BUF_MAX {
            self.wal_write()?;
        }
        Ok(())
    }

    /// The appending part of [`Inner::write_run`] from `start` (every time after the head):
    /// returns where it stopped (`values.len()`, or the point whose page could not be made
    /// room for), up to where the points are logged, and the error. The points before the
    /// stop are stored, not yet counted or rolled up.
    fn append_run(
        &mut self,
        id: SeriesId,
        ue: u32,
        first: UnixTime,
        step: i64,
        start: usize,
        values: &[StorageNumber],
    ) -> (usize, usize, Result<(), StoreError>) {
        let idx = id.0 as usize;
        let mut logged = start;
        let mut j = start;
        while j < values.len() {
            if values[j].is_empty() {
                j += 1;
                continue;
            }
            let t = first + j as i64 * step;
            let t0 = &mut self.series.tiers[0][idx];
            let seal = match &t0.open {
                Some(o) if !o.can_take(t) || o.full() => t0.open.take(),
                _ => None,
            };
            if let Some(page) = seal {
                // The WAL records of the page's points reach the kernel before the page (see
                // `write_point_with`): log this run's share of it first. The page is written
                // after the WAL at the end of the run (`write_deferred`).
                self.log_run(id, first, step, logged, &values[logged..j]);
                logged = j;
                self.tiers[0].defer = true;
                let res = self.write_page(idx, 0, &page, self.meta.generation);
                if let Err(e) = res {
                    return (j, logged, Err(e));
                }
            }
            let t0 = &mut self.series.tiers[0][idx];
            let o = t0.open.get_or_insert_with(|| OpenPage::new(t, ue, 1));
            let pushed = if i64::from(o.step) == step {
                // the points up to the next gap go in at once
                o.push_grid(t, &values[j..])
            } else {
                o.push(t, &[values[j].0]);
                1
            };
            t0.head = first + (j + pushed - 1) as i64 * step;
            j += pushed;
        }
        (values.len(), logged, Ok(()))
    }

    /// WAL record of `values` (the points of a run from index `from`, empty words included
    /// and skipped on replay): kind 8, series, time of `values[0]`, step, count, words.
    fn log_run(&mut self, id: SeriesId, first: UnixTime, step: i64, from: usize, values: &[StorageNumber]) {
        if self.wal.replaying || values.is_empty() {
            return;
        }
        let b = &mut self.wal.buf.0;
        b.reserve(21 + 4 * values.len());
        b.push(8);
        b.extend_from_slice(&id.0.to_le_bytes());
        b.extend_from_slice(&(first + from as i64 * step).to_le_bytes());
        b.extend_from_slice(&(step as u32).to_le_bytes());
        b.extend_from_slice(&(values.len() as u32).to_le_bytes());
        for &w in values {
            b.extend_from_slice(&w.0.to_le_bytes());
        }
    }

    /// The roll-ups into tier `k` of the points of `values` (`values[0]` at
    /// `first + from * step`; `vals` their values, NaN for the empty ones), as
    /// [`Inner::roll_up`] point by point would do them: the points that fall in the running
    /// slot are folded into it in one loop (sums in the same order, so bit for bit the same).
    #[allow(clippy::too_many_arguments)]
    fn roll_up_run(&mut self, idx: usize, k: usize, first: UnixTime, step: i64, from: usize, values: &[StorageNumber], vals: &[f64]) {
        let ue = i64::from(self.series.ue[idx]);
        let width = self.widths_cache[1..=k]
            .iter()
            .fold(ue, |w, &m| w * i64::from(m));
        let first = first + from as i64 * step;
        let n = values.len().min(vals.len());
        let mut cur = self.series.partial[k - 1][idx];
        let mut j = 0;
        while j < n {
            if values[j].is_empty() {
                j += 1;
                continue;
            }
            let t = first + j as i64 * step;
            if let Some((s, acc)) = &mut cur {
                if t - ue <= *s && t - ue > *s - width {
                    // every later point up to time s + ue is in this slot too
                    let end = (((*s + ue - first) / step) as usize + 1).min(n);
                    fold_run(acc, &values[j..end], &vals[j..end]);
                    j = end;
                    continue;
                }
            }
            let Some(p) = TierPoint::from_number(t, values[j]) else {
                j += 1;
                continue;
            };
            self.series.partial[k - 1][idx] = cur;
            let slot = tier_slot(t, ue as u32, width);
            self.fold_upper(idx, k, slot, width, &Agg::of(&p));
            cur = self.series.partial[k - 1][idx];
            j += 1;
        }
        self.series.partial[k - 1][idx] = cur;
    }

    /// [`Inner::roll_up_run`] into every upper tier (`1..ntiers`) in one pass over the run:
    /// the stretches of points inside the running slot of every tier are folded into all of
    /// them in one loop (two tiers: [`fold_run2`]); a point that leaves a tier's slot goes
    /// the per-point way for that tier. Per tier the same folds in the same order as
    /// `roll_up_run`, so bit for bit the same.
    #[allow(clippy::too_many_arguments)]
    fn roll_up_run_tiers(&mut self, idx: usize, ntiers: usize, first: UnixTime, step: i64, from: usize, values: &[StorageNumber], vals: &[f64]) {
        const MAX: usize = 4;
        let up = ntiers.saturating_sub(1);
        if up > MAX {
            for k in 1..ntiers {
                self.roll_up_run(idx, k, first, step, from, values, vals);
            }
            return;
        }
        let ue = i64::from(self.series.ue[idx]);
        let mut width = [0i64; MAX];
        let mut cur: [Option<(i64, Agg)>; MAX] = [None; MAX];
        for k in 0..up {
            width[k] = self.widths_cache[1..=k + 1].iter().fold(ue, |w, &m| w * i64::from(m));
            cur[k] = self.series.partial[k][idx];
        }
        let first = first + from as i64 * step;
        let n = values.len().min(vals.len());
        let mut j = 0;
        while j < n {
            if values[j].is_empty() {
                j += 1;
                continue;
            }
            let t = first + j as i64 * step;
            let mut end = n;
            for k in 0..up {
                let inside = |c: &Option<(i64, Agg)>| matches!(c, Some((s, _)) if t - ue <= *s && t - ue > *s - width[k]);
                if inside(&cur[k]) {
                    if let Some((_, acc)) = &mut cur[k] {
                        fold_run(acc, &values[j..=j], &vals[j..=j]);
                    }
                } else if let Some(p) = TierPoint::from_number(t, values[j]) {
                    self.series.partial[k][idx] = cur[k];
                    let slot = tier_slot(t, ue as u32, width[k]);
                    self.fold_upper(idx, k + 1, slot, width[k], &Agg::of(&p));
                    cur[k] = self.series.partial[k][idx];
                }
                // the later points up to the end of the tier's slot (time s + ue) are in it too
                end = match cur[k] {
                    Some((s, _)) if inside(&cur[k]) => end.min((((s + ue - first) / step) as usize + 1).min(n)),
                    _ => j + 1,
                };
            }
            if end > j + 1 {
                let (vs, xs) = (&values[j + 1..end], &vals[j + 1..end]);
                match &mut cur[..up] {
                    [Some((_, a)), Some((_, b))] => fold_run2(a, b, vs, xs),
                    accs => {
                        for (_, acc) in accs.iter_mut().flatten() {
                            fold_run(acc, vs, xs);
                        }
                    }
                }
            }
            j = end.max(j + 1);
        }
        for (partial, c) in self.series.partial.iter_mut().zip(&cur[..up]) {
            partial[idx] = *c;
        }
    }

    /// First prefetch stage of a batch write: the series' dense per-tier entries.
    #[inline]
    fn prefetch_series(&self, idx: usize) {
        let s = &self.series;
        if let Some(t) = s.tiers[0].get(idx) {
            mmap::prefetch_slice(std::slice::from_ref(t), 3);
        }
        for p in &s.partial {
            if let Some(p) = p.get(idx) {
                mmap::prefetch(p);
            }
        }
    }

    /// Second stage: the heap blocks of the tier-0 open page (loaded by the first stage).
    #[inline]
    fn prefetch_open_page(&self, idx: usize) {
        if let Some(o) = self.series.tiers[0].get(idx).and_then(|t| t.open.as_ref()) {
            o.runs.prefetch_tail();
            if let Cols::Num(e) = &o.cols {
                mmap::prefetch_slice(std::slice::from_ref(&**e), 2);
            }
        }
    }

    /// Third stage: the block the tier-0 encoder appends to (its pointer loaded by the second).
    #[inline]
    fn prefetch_encoder_tail(&self, idx: usize) {
        if let Some(o) = self.series.tiers[0].get(idx).and_then(|t| t.open.as_ref()) {
            if let Cols::Num(e) = &o.cols {
                e.prefetch_tail();
            }
        }
    }

    fn fold_upper(&mut self, idx: usize, k: usize, slot: i64, width: i64, agg: &Agg) {
        let s = &mut self.series;
        let (st, partial) = (&mut s.tiers[k][idx], &mut s.partial[k - 1][idx]);
        match partial {
            Some((t, a)) if *t == slot => {
                a.fold(agg);
                return;
            }
            _ => {}
        }
        let head = st.head.max(partial.map_or(i64::MIN, |(t, _)| t));
        // Slots added to memory by this call (the running slot moving into the open page or a
        // back-fill map counts once, in its new place).
        let mut added = 0;
        if slot > head {
            if let Some((t, a)) = partial.take() {
                let o = st
                    .open
                    .get_or_insert_with(|| OpenPage::new(t, width as u32, 6));
                if o.can_take(t) {
                    o.push(t, &a.cols());
                    st.head = t;
                } else {
                    let m = st.backk.map();
                    match m.get_mut(&t) {
                        Some(b) => {
                            b.fold(&a);
                            added -= 1;
                        }
                        None => {
                            m.insert(t, a);
                        }
                    }
                }
            }
            *partial = Some((slot, *agg));
            added += 1;
        } else {
            let m = st.backk.map();
            match m.get_mut(&slot) {
                Some(b) => b.fold(agg),
                None => {
                    m.insert(slot, *agg);
                    added += 1;
                }
            }
        }
        self.mem_points[k] += added;
    }

    /// Whether any stored page in `pages` (of tier `tier`) holds a point at `t`.
    fn stored_has(&self, tier: usize, pages: &[PageRef], t: i64) -> bool {
        let mut d = Decoded::default();
        let mut buf = Vec::new();
        for r in pages {
            let Some(src) = locate(&self.tiers[tier], r) else {
                continue;
            };
            if let Some(h) = load(&src, r, &mut d, &mut buf) {
                if (t - h.t0) % i64::from(h.step) == 0
                    && d.slots
                        .binary_search(&(((t - h.t0) / i64::from(h.step)) as u32))
                        .is_ok()
                {
                    return true;
                }
            }
        }
        false
    }

    fn write_aggregate(
        &mut self,
        id: SeriesId,
        tier: usize,
        p: TierPoint,
        config: &StoreConfig,
    ) -> Result<WriteOutcome, StoreError> {
        let idx = id.0 as usize;
        let (Some(&ue), Some(st)) = (self.series.ue.get(idx), self.series.get(idx, tier)) else {
            return Err(StoreError::UnknownId {
                kind: "series",
                id: id.0,
            });
        };
        let width = config.tier_width(tier, ue);
        let t = p.time;
        let pages: Vec<PageRef> = st
            .pages
            .iter()
            .filter(|r| r.first <= t && r.last >= t)
            .copied()
            .collect();
        let exists = self.series.partial(idx, tier).is_some_and(|(pt, _)| pt == t)
            || st.backk.contains_key(&t)
            || st.open.as_ref().is_some_and(|o| o.has(t))
            || self.stored_has(tier, &pages, t);
        if exists {
            if !self.wal.replaying {
                self.overlap += 1;
            }
            return Ok(WriteOutcome::Overlap);
        }
        self.fold_upper(idx, tier, t, width, &Agg::of(&p));
        if !self.wal.replaying {
            let mut r = Vec::with_capacity(48);
            r.push(2);
            r.extend_from_slice(&id.0.to_le_bytes());
            r.push(tier as u8);
            r.extend_from_slice(&t.to_le_bytes());
            for f in [p.sum, p.min, p.max] {
                r.extend_from_slice(&f.to_le_bytes());
            }
            r.extend_from_slice(&p.count.to_le_bytes());
            r.extend_from_slice(&p.anomalous.to_le_bytes());
            r.push(u8::from(p.reset));
            self.log(&r);
            self.written += 1;
        }
        Ok(WriteOutcome::Stored)
    }

    fn write_page(
        &mut self,
        idx: usize,
        tier: usize,
        page: &OpenPage,
        generation: u32,
    ) -> Result<(), StoreError> {
        if page.n() == 0 {
            return Ok(());
        }
        // Whatever happens next, the page's points leave memory (an append error loses the
        // page, as before; the WAL still holds its points).
        self.mem_points[tier] -= i64::from(page.n());
        self.sync_meta_before_page()?;
        let h = page.header(idx as u32, tier, generation);
        let payload = page.payload();
        let tf = &self.tiers[tier];
        if tf.defer && !tf.pending.is_empty() {
            // sealing the active file writes what is deferred: the WAL goes first
            let max = file_max(tf.limit);
            if tf.active.as_ref().is_some_and(|a| a.len + (REC_HEADER + payload.len() + TRAILER) as u64 > max) {
                self.write_deferred()?;
            }
        }
        let (r, deleted) = self.tiers[tier].append(h, payload)?;
        let pages = &mut self.series.tiers[tier][idx].pages;
        let pos = pages.partition_point(|p| p.first <= r.first);
        pages.reserve_exact(1);
        pages.insert(pos, r);
        if deleted {
            self.prune(tier);
        }
        Ok(())
    }

    /// Writes the tier-0 pages deferred by a run (see [`TierFiles::defer`]), the WAL first
    /// (a page's points reach the kernel in the WAL before the page). On an error the pages
    /// not written are dropped from the index (their points stay in the WAL), as a failed
    /// append loses its page.
    fn write_deferred(&mut self) -> Result<(), StoreError> {
        if self.tiers[0].pending.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.wal_write() {
            // nothing of the pages was written: they are dropped (below, as on a write error)
            let tf = &mut self.tiers[0];
            tf.pending.clear();
            if let Some(a) = tf.active.as_mut() {
                let (seq, from) = (a.seq, tf.pending_from);
                a.len = from;
                self.drop_refs(seq, from);
            }
            return Err(e);
        }
        if let Err((seq, from, e)) = self.tiers[0].write_pending() {
            self.drop_refs(seq, from);
            return Err(e);
        }
        Ok(())
    }

    /// Drops the tier-0 page references into file `seq` at or after offset `from`.
    fn drop_refs(&mut self, seq: u32, from: u64) {
        for st in &mut self.series.tiers[0] {
            st.pages.retain(|p| p.seq != seq || u64::from(p.off) < from);
        }
    }

    fn prune(&mut self, tier: usize) {
        let min = self.tiers[tier].min_live_seq;
        for st in &mut self.series.tiers[tier] {
            st.pages.retain(|p| p.seq >= min);
        }
    }

    /// Persists all in-memory state under generation `next` (default: committed + 1),
    /// commits it and rotates the WAL.
    fn checkpoint(&mut self, config: &StoreConfig, next: Option<u32>) -> Result<(), StoreError> {
        // buffered live points go to their pages first (the new WAL does not carry them)
        self.live_drain_all(config)?;
        let gen = next
            .unwrap_or(self.meta.generation + 1)
            .max(self.meta.generation + 1);
        let replaying = std::mem::replace(&mut self.wal.replaying, true); // page writes need no meta sync
        self.wal.meta_unsynced = false;
        let res = self.checkpoint_pages(config, gen);
        self.wal.replaying = replaying;
        res?;
        for t in &mut self.tiers {
            if let Some(a) = &t.active {
                a.file.sync_data().map_err(io_err(&a.path))?;
            }
        }
        // new WAL, starting with a snapshot of the upper-tier state kept in memory
        let prev = self.meta.generation;
        let path = wal_path(&self.dir, gen);
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let mut h = [0u8; 16];
        h[0..8].copy_from_slice(WAL_MAGIC);
        h[8..12].copy_from_slice(&gen.to_le_bytes());
        let crc = crc32fast::hash(&h[0..12]);
        h[12..16].copy_from_slice(&crc.to_le_bytes());
        f.write_all(&h).map_err(io_err(&path))?;
        let old = std::mem::replace(&mut self.wal.path, path.clone());
        self.wal.file = Some(Arc::new(f));
        self.wal.file_len = 16;
        self.wal.buf.clear();
        self.snapshot_into_wal();
        self.wal_write()?;
        if let Some(f) = &self.wal.file {
            f.sync_all().map_err(io_err(&path))?;
        }
        sync_dir(&self.dir)?;
        // commit
        self.meta.generation = gen;
        self.meta
            .aborted
            .retain(|&g| g > prev.saturating_sub(1_000_000));
        write_meta(&self.dir, &self.meta)?;
        if !old.as_os_str().is_empty() && old != self.wal.path {
            let _ = fs::remove_file(&old);
        }
        let _ = fs::remove_file(wal_path(&self.dir, prev));
        self.last_checkpoint = Instant::now();
        for k in 0..self.tiers.len() {
            if self.tiers[k].enforce_retention() {
                self.prune(k);
            }
        }
        Ok(())
    }

    fn checkpoint_pages(&mut self, config: &StoreConfig, gen: u32) -> Result<(), StoreError> {
        for idx in 0..self.series.len() {
            let ue = self.series.ue[idx];
            for k in 0..config.tiers.len() {
                let width = config.tier_width(k, ue) as u32;
                let st = &mut self.series.tiers[k][idx];
                // upper tiers: the running slot and a small open page stay in memory (the new
                // WAL carries them); tier 0 is always written
                let keep = k > 0
                    && st
                        .open
                        .as_ref()
                        .is_none_or(|o| o.encoded_len() < UPPER_PAGE_BYTES);
                let open = if keep { None } else { st.open.take() };
                let back0 = st.back0.take();
                let backk = st.backk.take();
                if let Some(o) = open {
                    self.write_page(idx, k, &o, gen)?;
                }
                let mut page: Option<OpenPage> = None;
                let ncols = if k == 0 { 1 } else { 6 };
                let items: Vec<(i64, [u32; 6])> = if k == 0 {
                    back0
                        .into_iter()
                        .map(|(t, w)| (t, [w, 0, 0, 0, 0, 0]))
                        .collect()
                } else {
                    backk.into_iter().map(|(t, a)| (t, a.cols())).collect()
                };
                for (t, cols) in items {
                    if page.as_ref().is_some_and(|p| !p.can_take(t) || p.full()) {
                        if let Some(p) = page.take() {
                            self.write_page(idx, k, &p, gen)?;
                        }
                    }
                    page.get_or_insert_with(|| OpenPage::new(t, width, ncols))
                        .push(t, &cols[..ncols]);
                }
                if let Some(p) = page {
                    self.write_page(idx, k, &p, gen)?;
                }
            }
        }
        Ok(())
    }

    /// Appends to the WAL buffer the upper-tier open pages (type 6) and running slots
    /// (type 7) that a checkpoint keeps in memory.
    fn snapshot_into_wal(&mut self) {
        let mut buf = std::mem::take(&mut self.wal.buf);
        let s = &self.series;
        for idx in 0..s.len() {
            for (k, tier) in s.tiers.iter().enumerate().skip(1) {
                let st = &tier[idx];
                if let Some(o) = st.open.as_ref().filter(|o| o.n() > 0) {
                    let payload = o.payload();
                    buf.push(6);
                    buf.extend_from_slice(&(idx as u32).to_le_bytes());
                    buf.push(k as u8);
                    buf.extend_from_slice(&o.t0.to_le_bytes());
                    buf.extend_from_slice(&o.step.to_le_bytes());
                    buf.extend_from_slice(&o.n().to_le_bytes());
                    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
                    buf.extend_from_slice(&payload);
                }
                if let Some((t, a)) = s.partial(idx, k) {
                    buf.push(7);
                    buf.extend_from_slice(&(idx as u32).to_le_bytes());
                    buf.push(k as u8);
                    buf.extend_from_slice(&t.to_le_bytes());
                    for f in [a.sum, a.min, a.max] {
                        buf.extend_from_slice(&f.to_le_bytes());
                    }
                    buf.extend_from_slice(&a.count.to_le_bytes());
                    buf.extend_from_slice(&a.anomalous.to_le_bytes());
                    buf.push(u8::from(a.reset));
                }
            }
        }
        self.wal.buf = buf;
    }

    /// Restores an upper-tier open page from a snapshot record.
    fn restore_open(
        &mut self,
        idx: usize,
        k: usize,
        t0: i64,
        step: u32,
        n: usize,
        payload: &[u8],
    ) -> Result<(), codec::CodecError> {
        let mut pos = 0;
        let runs = Runs::decode(payload, &mut pos, n)?;
        let enc = AggEncoder::restore(&payload[pos..], n)?;
        let mut slots = Vec::new();
        runs.slots(&mut slots);
        let last = t0 + i64::from(slots.last().copied().unwrap_or(0)) * i64::from(step.max(1));
        let Some(st) = self.series.get_mut(idx, k) else {
            return Ok(());
        };
        let before = st.open.as_ref().map_or(0, |o| i64::from(o.n()));
        self.mem_points[k] += n as i64 - before;
        st.open = Some(OpenPage {
            t0,
            step: step.max(1),
            last,
            runs,
            cols: Cols::Agg(Box::new(enc)),
        });
        st.head = st.head.max(last);
        Ok(())
    }

    fn replay(&mut self, config: &StoreConfig, path: &Path) -> Result<(), StoreError> {
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(io_err(path))?;
        if bytes.len() < 16
            || &bytes[0..8] != WAL_MAGIC
            || crc32fast::hash(&bytes[0..12]) != rd_u32(&bytes, 12)
        {
            if !self.replay_meta_only {
                set_aside(path, "bad WAL header");
            }
            return Ok(());
        }
        let mut pos = 16;
        let mut points = 0u64;
        while pos + 12 <= bytes.len() {
            let len = rd_u32(&bytes, pos + 4) as usize;
            if rd_u32(&bytes, pos) != CHUNK_MAGIC
                || len > CHUNK_MAX_BYTES
                || pos + 12 + len > bytes.len()
            {
                break;
            }
            let chunk = &bytes[pos + 12..pos + 12 + len];
            if crc32fast::hash(chunk) != rd_u32(&bytes, pos + 8) {
                break;
            }
            pos += 12 + len;
            points += self.replay_chunk(config, chunk, path)?;
        }
        if pos < bytes.len() && !self.replay_meta_only {
            warn!(path = %path.display(), at = pos, "torn WAL tail ignored (crash)");
        }
        if !self.replay_meta_only {
            info!(path = %path.display(), points, "WAL replayed");
        }
        Ok(())
    }

    fn replay_chunk(
        &mut self,
        config: &StoreConfig,
        c: &[u8],
        path: &Path,
    ) -> Result<u64, StoreError> {
        let mut pos = 0;
        let mut points = 0;
        let bad = || corrupt(path, "bad WAL record");
        while pos < c.len() {
            match c[pos] {
                1 => {
                    let r = c.get(pos + 1..pos + 17).ok_or_else(bad)?;
                    let id = rd_u32(r, 0);
                    let t = rd_u64(r, 4) as i64;
                    let w = rd_u32(r, 12);
                    pos += 17;
                    if (id as usize) < self.series.len() && !self.replay_meta_only {
                        self.write_point(config, SeriesId(id), t, w)?;
                        points += 1;
                    }
                }
                9 => {
                    let r = c.get(pos + 1..pos + 15).ok_or_else(bad)?;
                    let t = rd_u64(r, 0) as i64;
                    let first = rd_u32(r, 8);
                    let n = usize::from(u16::from_le_bytes([r[12], r[13]]));
                    let words = c.get(pos + 15..pos + 15 + 4 * n).ok_or_else(bad)?;
                    pos += 15 + 4 * n;
                    if !self.replay_meta_only {
                        for (i, w) in words.chunks_exact(4).enumerate() {
                            let id = first.wrapping_add(i as u32);
                            let w = rd_u32(w, 0);
                            if (id as usize) < self.series.len() && w != number::EMPTY {
                                self.write_point(config, SeriesId(id), t, w)?;
                                points += 1;
                            }
                        }
                    }
                }
                8 => {
                    let r = c.get(pos + 1..pos + 21).ok_or_else(bad)?;
                    let id = rd_u32(r, 0);
                    let first = rd_u64(r, 4) as i64;
                    let step = i64::from(rd_u32(r, 12).max(1));
                    let n = rd_u32(r, 16) as usize;
                    let words = c.get(pos + 21..pos + 21 + 4 * n).ok_or_else(bad)?;
                    pos += 21 + 4 * n;
                    if (id as usize) < self.series.len() && !self.replay_meta_only {
                        for (i, w) in words.chunks_exact(4).enumerate() {
                            let w = rd_u32(w, 0);
                            if w == number::EMPTY {
                                continue;
                            }
                            let t = first.saturating_add((i as i64).saturating_mul(step));
                            self.write_point(config, SeriesId(id), t, w)?;
                            points += 1;
                        }
                    }
                }
                2 => {
                    let r = c.get(pos + 1..pos + 47).ok_or_else(bad)?;
                    let id = rd_u32(r, 0);
                    let tier = r[4] as usize;
                    let f = |at: usize| f64::from_bits(rd_u64(r, at));
                    let p = TierPoint {
                        time: rd_u64(r, 5) as i64,
                        sum: f(13),
                        min: f(21),
                        max: f(29),
                        count: rd_u32(r, 37),
                        anomalous: rd_u32(r, 41),
                        reset: r[45] != 0,
                    };
                    pos += 47;
                    if (id as usize) < self.series.len()
                        && tier >= 1
                        && tier < config.tiers.len()
                        && !self.replay_meta_only
                    {
                        self.write_aggregate(SeriesId(id), tier, p, config)?;
                        points += 1;
                    }
                }
                6 => {
                    let r = c.get(pos + 1..pos + 26).ok_or_else(bad)?;
                    let id = rd_u32(r, 0) as usize;
                    let tier = r[4] as usize;
                    let t0 = rd_u64(r, 5) as i64;
                    let step = rd_u32(r, 13);
                    let n = rd_u32(r, 17) as usize;
                    let len = rd_u32(r, 21) as usize;
                    let payload = c.get(pos + 26..pos + 26 + len).ok_or_else(bad)?;
                    pos += 26 + len;
                    if n == 0
                        || n > codec::MAX_PAGE_POINTS
                        || tier == 0
                        || tier >= config.tiers.len()
                    {
                        return Err(bad());
                    }
                    if self.replay_meta_only {
                        continue;
                    }
                    self.restore_open(id, tier, t0, step, n, payload)
                        .map_err(|e| corrupt(path, e.to_string()))?;
                }
                7 => {
                    let r = c.get(pos + 1..pos + 47).ok_or_else(bad)?;
                    let id = rd_u32(r, 0) as usize;
                    let tier = r[4] as usize;
                    let f = |at: usize| f64::from_bits(rd_u64(r, at));
                    let t = rd_u64(r, 5) as i64;
                    let a = Agg {
                        sum: f(13),
                        min: f(21),
                        max: f(29),
                        count: rd_u32(r, 37),
                        anomalous: rd_u32(r, 41),
                        reset: r[45] != 0,
                    };
                    pos += 47;
                    if self.replay_meta_only {
                        continue;
                    }
                    if let Some(slot) = tier
                        .checked_sub(1)
                        .and_then(|k| self.series.partial.get_mut(k))
                        .and_then(|p| p.get_mut(id))
                    {
                        if slot.replace((t, a)).is_none() {
                            self.mem_points[tier] += 1;
                        }
                    }
                }
                k @ 3..=5 => {
                    let r = c.get(pos + 1..pos + 9).ok_or_else(bad)?;
                    let parent = rd_u32(r, 0);
                    let len = rd_u32(r, 4) as usize;
                    let js = c.get(pos + 9..pos + 9 + len).ok_or_else(bad)?;
                    pos += 9 + len;
                    let res = match k {
                        3 => serde_json::from_slice::<HostMeta>(js).map(|h| {
                            self.put_host(&h);
                        }),
                        4 => serde_json::from_slice::<ChartMeta>(js).map(|m| {
                            let _ = self.put_chart(config, HostId(parent), &m);
                        }),
                        _ => serde_json::from_slice::<DimMeta>(js).map(|m| {
                            let _ = self.put_dim(config, ChartId(parent), &m);
                        }),
                    };
                    res.map_err(|e| corrupt(path, e.to_string()))?;
                }
                _ => return Err(bad()),
            }
        }
        Ok(points)
    }
}

/// Folds the points of a run that fall in one slot into its aggregate: `values` the words
/// (empty ones skipped), `vals` their values. The same operations, in the same order, as
/// [`Agg::fold`] of each point's [`Agg::of`] (so the sums are bit for bit the same); kept out
/// of line so that the loop's chains stay in registers.
#[inline(never)]
fn fold_run(acc: &mut Agg, values: &[StorageNumber], vals: &[f64]) {
    const _: () = assert!(number::FLAG_NOT_ANOMALOUS == 1 << 24);
    let (mut sum, mut min, mut max) = (acc.sum, acc.min, acc.max);
    let (mut count, mut normal, mut flags) = (0u32, 0u32, 0u32);
    for (w, &v) in values.iter().zip(vals) {
        if w.is_empty() {
            continue;
        }
        sum += v;
        min = min.min(v);
        max = max.max(v);
        count += 1;
        normal += (w.0 >> 24) & 1;
        flags |= w.0;
    }
    acc.sum = sum;
    acc.min = min;
    acc.max = max;
    acc.count += count;
    acc.anomalous += count - normal;
    acc.reset |= flags & number::FLAG_RESET != 0;
}

/// [`fold_run`] into two aggregates at once (the two upper tiers of a run): the same
/// operations on each, in the same order.
fn fold_run2(a: &mut Agg, b: &mut Agg, values: &[StorageNumber], vals: &[f64]) {
    let (mut sa, mut na, mut xa) = (a.sum, a.min, a.max);
    let (mut sb, mut nb, mut xb) = (b.sum, b.min, b.max);
    let (mut count, mut normal, mut flags) = (0u32, 0u32, 0u32);
    for (w, &v) in values.iter().zip(vals) {
        if w.is_empty() {
            continue;
        }
        sa += v;
        na = na.min(v);
        xa = xa.max(v);
        sb += v;
        nb = nb.min(v);
        xb = xb.max(v);
        count += 1;
        normal += (w.0 >> 24) & 1;
        flags |= w.0;
    }
    for (acc, sum, min, max) in [(a, sa, na, xa), (b, sb, nb, xb)] {
        acc.sum = sum;
        acc.min = min;
        acc.max = max;
        acc.count += count;
        acc.anomalous += count - normal;
        acc.reset |= flags & number::FLAG_RESET != 0;
    }
}

fn fold_points(v: Vec<TierPoint>) -> Option<TierPoint> {
    let mut it = v.into_iter();
    let mut acc = it.next()?;
    for p in it {
        acc.sum += p.sum;
        acc.min = acc.min.min(p.min);
        acc.max = acc.max.max(p.max);
        acc.count += p.count;
        acc.anomalous += p.anomalous;
        acc.reset |= p.reset;
        acc.time = acc.time.max(p.time);
    }
    Some(acc)
}

/// Tier-0 aggregate scan straight over decoded words.
struct Scan {
    sum: f64,
    min: f64,
    max: f64,
    count: u32,
    anomalous: u32,
    reset: bool,
    last: i64,
}

impl Default for Scan {
    fn default() -> Self {
        Self {
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            count: 0,
            anomalous: 0,
            reset: false,
            last: i64::MIN,
        }
    }
}

impl Scan {
    fn page(&mut self, h: &RecHeader, d: &Decoded, after: i64, before: i64) {
        let words = &d.cols[0];
        let step = i64::from(h.step);
        let whole = h.t0 >= after && h.last <= before;
        for (i, &w) in words.iter().enumerate() {
            if !whole {
                let t = h.t0 + i64::from(d.slots[i]) * step;
                if t < after || t > before {
                    continue;
                }
            }
            let n = StorageNumber(w);
            let v = n.value();
            if !v.is_finite() {
                continue;
            }
            self.sum += v;
            self.min = self.min.min(v);
            self.max = self.max.max(v);
            self.count += 1;
            self.anomalous += u32::from(w & number::FLAG_NOT_ANOMALOUS == 0);
            self.reset |= w & number::FLAG_RESET != 0;
        }
        let lt = h.t0 + i64::from(d.slots.last().copied().unwrap_or(0)) * step;
        self.last = self.last.max(lt.min(before));
    }
    fn finish(self) -> Option<TierPoint> {
        (self.count > 0).then_some(TierPoint {
            time: self.last,
            sum: self.sum,
            min: self.min,
            max: self.max,
            count: self.count,
            reset: self.reset,
            anomalous: self.anomalous,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Store

type Collected = (
    Vec<(Src, PageRef)>,
    Option<(RecHeader, Vec<u8>)>,
    Vec<TierPoint>,
);

impl DiskStore {
    /// Moves series `id`'s buffered live points into its pages ([`LiveBuf`]) before a read:
    /// the write lock only when there are some.
    fn live_settle(&self, id: SeriesId) -> Result<(), StoreError> {
        let buffered = self.shared.read().series.live.get(id.0 as usize).is_some_and(|b| b.n > 0);
        if buffered {
            self.shared.write().live_drain(&self.shared.config, id.0 as usize)?;
        }
        Ok(())
    }

    /// Under the read lock: where the pages of a range are, plus the in-memory points.
    fn collect(
        &self,
        id: SeriesId,
        tier: usize,
        after: UnixTime,
        before: UnixTime,
    ) -> Result<Option<Collected>, StoreError> {
        self.live_settle(id)?;
        let mut srcs = Vec::new();
        let mut mem: Vec<TierPoint> = Vec::new();
        let mut open_payload = None;
        {
            let g = self.shared.read();
            let idx = id.0 as usize;
            if !g.series.exists(idx) {
                return Err(StoreError::UnknownId {
                    kind: "series",
                    id: id.0,
                });
            }
            let Some(st) = g.series.get(idx, tier).filter(|_| after <= before) else {
                return Ok(None);
            };
            for r in &st.pages {
                if r.first > before {
                    break;
                }
                if r.last >= after {
                    if let Some(src) = locate(&g.tiers[tier], r) {
                        srcs.push((src, *r));
                    }
                }
            }
            if let Some(o) = &st.open {
                if o.t0 <= before && o.last >= after && o.n() > 0 {
                    open_payload = Some((o.header(id.0, tier, 0), o.payload()));
                }
            }
            if tier == 0 {
                mem.extend(
                    st.back0
                        .range(after, before)
                        .filter_map(|(&t, &w)| TierPoint::from_number(t, StorageNumber(w))),
                );
            } else {
                mem.extend(st.backk.range(after, before).map(|(&t, a)| a.point(t)));
                if let Some((t, a)) = g.series.partial(idx, tier) {
                    if t >= after && t <= before {
                        mem.push(a.point(t));
                    }
                }
            }
        }
        Ok(Some((srcs, open_payload, mem)))
    }

    #[allow(clippy::too_many_arguments)]
    fn read_collected(
        &self,
        tier: usize,
        after: UnixTime,
        before: UnixTime,
        srcs: Vec<(Src, PageRef)>,
        open_payload: Option<(RecHeader, Vec<u8>)>,
        mem: Vec<TierPoint>,
        out: &mut Vec<TierPoint>,
    ) {
        let start = out.len();
        let mut d = Decoded::default();
        let mut buf = Vec::new();
        let emit = |h: &RecHeader, d: &Decoded, out: &mut Vec<TierPoint>| {
            for (i, &slot) in d.slots.iter().enumerate() {
                let t = h.t0 + i64::from(slot) * i64::from(h.step);
                if t < after || t > before {
                    continue;
                }
                if tier == 0 {
                    if let Some(p) = TierPoint::from_number(t, StorageNumber(d.cols[0][i])) {
                        out.push(p);
                    }
                } else {
                    let f = |c: usize| f64::from(f32::from_bits(d.cols[c][i]));
                    out.push(TierPoint {
                        time: t,
                        sum: f(0),
                        min: f(1),
                        max: f(2),
                        count: d.cols[3][i],
                        anomalous: d.cols[4][i],
                        reset: d.cols[5][i] != 0,
                    });
                }
            }
        };
        for (src, r) in &srcs {
            if let Some(h) = load(src, r, &mut d, &mut buf) {
                emit(&h, &d, out);
            }
        }
        if let Some((h, payload)) = open_payload {
            if decode_payload(&h, &payload, &mut d).is_ok() {
                emit(&h, &d, out);
            }
        }
        out.extend(mem);
        let got = &mut out[start..];
        if !got.windows(2).all(|w| w[0].time <= w[1].time) {
            got.sort_by_key(|p| p.time);
        }
        if tier > 0 && got.windows(2).any(|w| w[0].time == w[1].time) {
            let mut merged: Vec<TierPoint> = Vec::with_capacity(got.len());
            for p in out.drain(start..) {
                match merged.last_mut() {
                    Some(m) if m.time == p.time => {
                        let mut a = Agg::of(m);
                        a.fold(&Agg::of(&p));
                        *m = a.point(p.time);
                    }
                    _ => merged.push(p),
                }
            }
            out.extend(merged);
        }
    }
}

impl Store for DiskStore {
    fn config(&self) -> &StoreConfig {
        &self.shared.config
    }

    fn put_host(&self, meta: &HostMeta) -> Result<HostId, StoreError> {
        let mut g = self.shared.write();
        let (id, changed) = g.put_host(meta);
        if changed {
            let js = serde_json::to_string(meta).map_err(|e| StoreError::Invalid(e.to_string()))?;
            g.log_meta(3, 0, &js);
        }
        Ok(id)
    }

    fn put_chart(&self, host: HostId, meta: &ChartMeta) -> Result<ChartId, StoreError> {
        let mut g = self.shared.write();
        let (id, changed) = g.put_chart(&self.shared.config, host, meta)?;
        if changed {
            let js = serde_json::to_string(meta).map_err(|e| StoreError::Invalid(e.to_string()))?;
            g.log_meta(4, host.0, &js);
        }
        Ok(id)
    }

    fn put_dimension(&self, chart: ChartId, meta: &DimMeta) -> Result<SeriesId, StoreError> {
        let mut g = self.shared.write();
        let (id, changed) = g.put_dim(&self.shared.config, chart, meta)?;
        if changed {
            let js = serde_json::to_string(meta).map_err(|e| StoreError::Invalid(e.to_string()))?;
            g.log_meta(5, chart.0, &js);
        }
        Ok(id)
    }

    fn hosts(&self) -> Vec<(HostId, HostMeta)> {
        self.shared
            .read()
            .meta
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| (HostId(i as u32), h.clone()))
            .collect()
    }
    fn host(&self, id: HostId) -> Option<HostMeta> {
        self.shared.read().meta.hosts.get(id.0 as usize).cloned()
    }
    fn charts(&self, host: HostId) -> Vec<(ChartId, ChartMeta)> {
        let g = self.shared.read();
        g.meta
            .charts
            .iter()
            .enumerate()
            .filter(|(_, (h, _))| *h == host.0)
            .map(|(i, (_, c))| (ChartId(i as u32), c.clone()))
            .collect()
    }
    fn chart(&self, id: ChartId) -> Option<ChartMeta> {
        self.shared
            .read()
            .meta
            .charts
            .get(id.0 as usize)
            .map(|(_, c)| c.clone())
    }
    fn dimensions(&self, chart: ChartId) -> Vec<(SeriesId, DimMeta)> {
        let g = self.shared.read();
        g.chart_series(chart.0)
            .iter()
            .filter_map(|&i| Some((SeriesId(i), loaded_dim(&g.meta.dims.get(i as usize)?.1))))
            .collect()
    }
    fn series_update_every(&self, id: SeriesId) -> Option<u32> {
        self.shared.read().series.ue.get(id.0 as usize).copied()
    }

    fn write(
        &self,
        id: SeriesId,
        time: UnixTime,
        value: StorageNumber,
    ) -> Result<WriteOutcome, StoreError> {
        if !value.value().is_finite() {
            if !self.shared.read().series.exists(id.0 as usize) {
                return Err(StoreError::UnknownId {
                    kind: "series",
                    id: id.0,
                });
            }
            return Ok(WriteOutcome::Gap);
        }
        let cfg = &self.shared.config;
        let mut g = self.shared.write();
        g.live_forget(cfg, id.0 as usize)?;
        g.write_point(cfg, id, time, value.0)
    }

    /// Live rows go to the series' [`LiveBuf`]s (a point after the series' newest one, on
    /// its grid); a buffer that fills is moved into its page after the batch, all of them in
    /// one prefetched pass. Any other point goes the per-point way (after its series' buffer).
    fn write_many(
        &self,
        points: &[(SeriesId, UnixTime, StorageNumber)],
        counts: &mut WriteCounts,
    ) -> Result<(), StoreError> {
        let cfg = &self.shared.config;
        let mut g = self.shared.write();
        let mut full = std::mem::take(&mut g.live_full);
        full.clear();
        let mut result = Ok(());
        for (i, &(id, time, value)) in points.iter().enumerate() {
            // the buffers of the series a few points ahead (cold: every series is written
            // once per interval)
            if let Some(&(far, _, _)) = points.get(i + PREFETCH_AHEAD) {
                if let Some(b) = g.series.live.get(far.0 as usize) {
                    mmap::prefetch(b);
                }
            }
            let idx = id.0 as usize;
            let o = if !value.value().is_finite() {
                if g.series.exists(idx) {
                    Ok(WriteOutcome::Gap)
                } else {
                    Err(StoreError::UnknownId { kind: "series", id: id.0 })
                }
            } else {
                match g.live_put(idx, time, value.0) {
                    Some(LivePut::Taken(filled)) => {
                        if filled {
                            full.push(id.0);
                        }
                        Ok(WriteOutcome::Stored)
                    }
                    Some(LivePut::No) => g
                        .live_forget(cfg, idx)
                        .and_then(|()| g.write_point(cfg, id, time, value.0)),
                    None => Err(StoreError::UnknownId { kind: "series", id: id.0 }),
                }
            };
            match o {
                Ok(o) => counts.add(o),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        // Also after an error: the buffers filled before it go to their pages.
        let drained = g.live_drain_listed(cfg, &full);
        g.live_full = full;
        if g.wal.buf.len() >= WAL_BUF_MAX {
            let w = g.wal_write();
            result = result.and(w);
        }
        result.and(drained)
    }

    fn write_run(
        &self,
        id: SeriesId,
        first: UnixTime,
        step: u32,
        values: &[StorageNumber],
        counts: &mut WriteCounts,
    ) -> Result<(), StoreError> {
        let cfg = &self.shared.config;
        let mut g = self.shared.write();
        g.live_forget(cfg, id.0 as usize)?;
        g.write_run(cfg, id, first, step, values, counts)
    }

    fn write_runs(
        &self,
        first: UnixTime,
        step: u32,
        runs: &[(SeriesId, &[StorageNumber])],
        counts: &mut WriteCounts,
    ) -> Result<(), StoreError> {
        let cfg = &self.shared.config;
        self.shared.write().write_runs(cfg, first, step, runs, counts)
    }

    fn write_aggregate(
        &self,
        id: SeriesId,
        tier: usize,
        point: TierPoint,
    ) -> Result<WriteOutcome, StoreError> {
        let cfg = &self.shared.config;
        if tier == 0 || tier >= cfg.tiers.len() {
            return Err(StoreError::Invalid(format!(
                "tier {tier} is not an aggregate tier of this store"
            )));
        }
        if point.count == 0 || !point.sum.is_finite() {
            return Ok(WriteOutcome::Gap);
        }
        let mut g = self.shared.write();
        g.live_drain(cfg, id.0 as usize)?;
        g.write_aggregate(id, tier, point, cfg)
    }

    fn aggregate(
        &self,
        id: SeriesId,
        tier: usize,
        after: UnixTime,
        before: UnixTime,
    ) -> Result<Option<TierPoint>, StoreError> {
        if tier != 0 {
            let mut v = Vec::new();
            self.read(id, tier, after, before, &mut v)?;
            return Ok(fold_points(v));
        }
        let Some((srcs, open_payload, mem)) = self.collect(id, tier, after, before)? else {
            return Ok(None);
        };
        let mut acc = Scan::default();
        let mut d = Decoded::default();
        let mut buf = Vec::new();
        for (src, r) in &srcs {
            if let Some(h) = load(src, r, &mut d, &mut buf) {
                acc.page(&h, &d, after, before);
            }
        }
        if let Some((h, payload)) = open_payload {
            if decode_payload(&h, &payload, &mut d).is_ok() {
                acc.page(&h, &d, after, before);
            }
        }
        let mut out = acc.finish();
        for p in mem {
            out = fold_points(out.into_iter().chain([p]).collect());
        }
        Ok(out)
    }

    fn read(
        &self,
        id: SeriesId,
        tier: usize,
        after: UnixTime,
        before: UnixTime,
        out: &mut Vec<TierPoint>,
    ) -> Result<(), StoreError> {
        let Some((srcs, open_payload, mem)) = self.collect(id, tier, after, before)? else {
            return Ok(());
        };
        self.read_collected(tier, after, before, srcs, open_payload, mem, out);
        Ok(())
    }

    fn retention(&self, id: SeriesId, tier: usize) -> Option<Retention> {
        if let Err(e) = self.live_settle(id) {
            warn!(series = id.0, error = %e, "moving buffered points into their page failed");
        }
        let g = self.shared.read();
        let st = g.series.get(id.0 as usize, tier)?;
        let min_seq = g.tiers[tier].min_live_seq;
        let mut first = st.pages.iter().find(|p| p.seq >= min_seq).map(|p| p.first);
        let mut last = st
            .pages
            .iter()
            .rev()
            .filter(|p| p.seq >= min_seq)
            .map(|p| p.last)
            .max();
        let mut see = |t: i64| {
            first = Some(first.map_or(t, |f| f.min(t)));
            last = Some(last.map_or(t, |l| l.max(t)));
        };
        if let Some(o) = &st.open {
            if o.n() > 0 {
                see(o.t0);
                see(o.last);
            }
        }
        if let Some((t, _)) = g.series.partial(id.0 as usize, tier) {
            see(t);
        }
        for m in st
            .back0
            .first_last()
            .into_iter()
            .chain(st.backk.first_last())
            .flatten()
        {
            see(m);
        }
        Some(Retention {
            first: first?,
            last: last?,
        })
    }

    fn flush(&self) -> Result<(), StoreError> {
        let files = {
            let mut g = self.shared.write();
            g.wal_write()?;
            g.wal.meta_unsynced = false;
            g.sync_targets()
        };
        for (path, f, _) in files {
            f.sync_data().map_err(io_err(&path))?;
        }
        Ok(())
    }

    fn stats(&self) -> StoreStats {
        let g = self.shared.read();
        let mut tiers: Vec<TierUsage> = g
            .tiers
            .iter()
            .map(|t| TierUsage {
                bytes: t.bytes(),
                points: t.sealed_points + t.active.as_ref().map_or(0, |a| a.points),
                first: None,
                last: None,
            })
            .collect();
        for (u, &m) in tiers.iter_mut().zip(&g.mem_points) {
            u.points += m.max(0) as u64;
        }
        StoreStats {
            points_written: g.written,
            points_overlap: g.overlap,
            tiers,
        }
    }
}

impl DiskStore {
    /// Points held in memory per tier, counted by walking every series: what the
    /// incrementally kept counters behind `stats()` must equal (tests).
    #[doc(hidden)]
    pub fn mem_points_walk(&self) -> Vec<u64> {
        let g = self.shared.read();
        let mut out = vec![0u64; g.tiers.len()];
        for (k, tier) in g.series.tiers.iter().enumerate() {
            for (idx, st) in tier.iter().enumerate() {
                let Some(u) = out.get_mut(k) else { continue };
                *u += st.open.as_ref().map_or(0, |o| u64::from(o.n()))
                    + st.back0.len() as u64
                    + st.backk.len() as u64
                    + u64::from(g.series.partial(idx, k).is_some());
            }
        }
        // buffered live points are tier-0 points in memory
        for b in &g.series.live {
            out[0] += b.words[..b.n as usize].iter().filter(|w| !w.is_empty()).count() as u64;
        }
        out
    }

    /// The incrementally kept counterpart of [`DiskStore::mem_points_walk`].
    #[doc(hidden)]
    pub fn mem_points_counted(&self) -> Vec<u64> {
        let g = self.shared.read();
        g.mem_points[..g.tiers.len()].iter().map(|&m| m.max(0) as u64).collect()
    }
}

impl Drop for DiskStore {
    fn drop(&mut self) {
        {
            let mut s = self.stop.0.lock().unwrap_or_else(|p| p.into_inner());
            *s = true;
            self.stop.1.notify_all();
        }
        if let Some(h) = self.flusher.take() {
            let _ = h.join();
        }
        let cfg = self.shared.config.clone();
        let mut g = self.shared.write();
        if let Err(e) = g.checkpoint(&cfg, None) {
            warn!(error = %e, "final checkpoint failed; the WAL will be replayed at next open");
            return;
        }
        for t in &mut g.tiers {
            if let Err(e) = t.seal_active() {
                warn!(error = %e, "sealing a data file at close failed");
            }
        }
    }
}

/// The per-series state is paid 100 k times on a big parent: keep its size from creeping up.
#[cfg(all(test, target_pointer_width = "64"))]
mod size_budget {
    #[test]
    fn per_series_state_stays_small() {
        use std::mem::size_of;
        assert!(size_of::<super::SeriesTier>() <= 104, "SeriesTier {}", size_of::<super::SeriesTier>());
        assert!(size_of::<super::OpenPage>() <= 56, "OpenPage {}", size_of::<super::OpenPage>());
        // the encoder holds its pending block of 64 words inline (one heap block per page)
        assert!(size_of::<super::NumEncoder>() <= 360, "NumEncoder {}", size_of::<super::NumEncoder>());
        assert!(size_of::<Option<(i64, super::Agg)>>() <= 48);
        assert_eq!(size_of::<super::LiveBuf>(), 64, "a live buffer is one cache line");
    }
}

#[cfg(test)]
mod dim_index_tests {
    use super::*;

    fn host_chart(store: &DiskStore) -> ChartId {
        let h = store
            .put_host(&HostMeta { guid: "g".into(), hostname: "h".into(), ..Default::default() })
            .expect("host");
        store
            .put_chart(h, &ChartMeta { id: "a.b".into(), update_every: 1, ..Default::default() })
            .expect("chart")
    }

    fn dim(id: &str) -> DimMeta {
        DimMeta { id: id.into(), name: id.into(), multiplier: 1, divisor: 1, ..Default::default() }
    }

    #[test]
    fn dimensions_of_a_chart_in_definition_order_and_found_again() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = DiskStore::open(tmp.path(), StoreConfig::default()).expect("open");
        let c = host_chart(&store);
        let ids: Vec<SeriesId> = (0..40).map(|i| store.put_dimension(c, &dim(&format!("d{i}"))).expect("dim")).collect();
        let listed: Vec<SeriesId> = store.dimensions(c).into_iter().map(|(s, _)| s).collect();
        assert_eq!(listed, ids);
        assert_eq!(store.put_dimension(c, &dim("d7")).expect("again"), ids[7]);
    }

    #[test]
    fn a_hash_collision_falls_back_to_the_charts_list() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = DiskStore::open(tmp.path(), StoreConfig::default()).expect("open");
        let c = host_chart(&store);
        let a = store.put_dimension(c, &dim("x")).expect("dim");
        let b = store.put_dimension(c, &dim("y")).expect("dim");
        {
            // As if "y" had hashed like "x": its key is taken, so it is not indexed.
            let mut g = store.shared.write();
            g.dim_by_key.remove(&(c.0, id_hash("y")));
            g.dim_hash_collided.insert(c.0);
        }
        assert_eq!(store.put_dimension(c, &dim("y")).expect("found by scan"), b);
        assert_eq!(store.put_dimension(c, &dim("x")).expect("found by key"), a);
        assert_eq!(store.dimensions(c).len(), 2);
    }
}

#[cfg(test)]
mod wal_buf_tests {
    use super::*;

    #[test]
    fn a_chunk_is_written_from_the_buffer_and_a_burst_does_not_stay_resident() {
        let mut b = WalBuf::default();
        assert!(b.is_empty());
        b.extend_from_slice(&[1, 2, 3]);
        b.push(4);
        let c = b.chunk().to_vec();
        assert_eq!(rd_u32(&c, 0), CHUNK_MAGIC);
        assert_eq!(rd_u32(&c, 4), 4);
        assert_eq!(rd_u32(&c, 8), crc32fast::hash(&[1, 2, 3, 4]));
        assert_eq!(&c[12..], &[1, 2, 3, 4]);
        b.clear();
        assert!(b.is_empty());
        b.extend_from_slice(&vec![7u8; 3 * WAL_BUF_MAX]);
        assert_eq!(b.len(), 3 * WAL_BUF_MAX);
        b.clear();
        assert!(b.is_empty());
        assert!(b.0.capacity() <= WAL_BUF_MAX + WAL_CHUNK_HEADER, "{}", b.0.capacity());
        b.push(9);
        assert_eq!(&b.chunk()[12..], &[9]);
    }
}

#[cfg(test)]
mod fold_run_tests {
    use super::*;

    /// Words of every kind a run can hold: zeros of both signs, flags, gaps, tiny, huge,
    /// random.
    fn words(seed: u64, n: usize) -> Vec<StorageNumber> {
        let mut rng = crate::testkit::XorShift64::new(seed | 1);
        let fixed = [0u32, 0x8000_0000, 0x0100_0000, 0x8100_0000, 0x0200_0000, number::EMPTY, 1, 0x8000_0001, 0x7FFF_FFFF, 0xFBFF_FFFF];
        (0..n)
            .map(|i| {
                let x = rng.next_u64();
                let w = if i % 3 == 0 { fixed[(x % fixed.len() as u64) as usize] } else { x as u32 };
                StorageNumber(w)
            })
            .collect()
    }

    fn start(i: usize) -> Agg {
        let s = [0.0, -0.0, 1.5, -7.25, f64::NAN][i % 5];
        Agg { sum: s, min: s, max: [0.0, -0.0, -3.0, 9.0, f64::NAN][(i / 5) % 5], count: 1, anomalous: 0, reset: false }
    }

    /// What folding each point's `Agg::of` gives (the definition `fold_run` must match).
    fn reference(mut acc: Agg, values: &[StorageNumber]) -> Agg {
        for (t, &w) in values.iter().enumerate() {
            if w.is_empty() {
                continue;
            }
            if let Some(p) = TierPoint::from_number(t as i64, w) {
                acc.fold(&Agg::of(&p));
            }
        }
        acc
    }

    fn bits(a: &Agg) -> (u64, u64, u64, u32, u32, bool) {
        (a.sum.to_bits(), a.min.to_bits(), a.max.to_bits(), a.count, a.anomalous, a.reset)
    }

    #[test]
    fn fold_run_and_fold_run2_match_point_by_point_folds_bit_for_bit() {
        for seed in 1..400u64 {
            let n = (seed % 70) as usize;
            let values = words(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), n);
            let vals: Vec<f64> = values.iter().map(|v| v.value()).collect();
            let (a0, b0) = (start(seed as usize), start(seed as usize / 7 + 3));
            let mut a = a0;
            fold_run(&mut a, &values, &vals);
            assert_eq!(bits(&a), bits(&reference(a0, &values)), "fold_run seed {seed}");
            let (mut a, mut b) = (a0, b0);
            fold_run2(&mut a, &mut b, &values, &vals);
            assert_eq!(bits(&a), bits(&reference(a0, &values)), "fold_run2 a seed {seed}");
            assert_eq!(bits(&b), bits(&reference(b0, &values)), "fold_run2 b seed {seed}");
        }
    }
}

#[cfg(test)]
mod record_format_tests {
    use super::*;

    /// A page of `series`: `grid` is (step, points, holes).
    fn header(series: u32, generation: u32, t0: i64, grid: (u32, u32, u32), ncols: u8, payload: &[u8]) -> RecHeader {
        let (step, npoints, holes) = grid;
        RecHeader {
            payload_len: payload.len() as u32,
            series,
            generation,
            tier: if ncols == 6 { 1 } else { 0 },
            flags: (series % 2) as u8 * FLAG_LZ4,
            ncols,
            t0,
            last: t0 + i64::from(step) * i64::from(npoints - 1 + holes),
            step,
            npoints,
        }
    }

    fn same(a: &RecHeader, b: &RecHeader) -> bool {
        (a.payload_len, a.series, a.generation, a.tier, a.flags, a.ncols, a.t0, a.last, a.step, a.npoints)
            == (b.payload_len, b.series, b.generation, b.tier, b.flags, b.ncols, b.t0, b.last, b.step, b.npoints)
    }

    /// A file's worth of records: each header is coded against the one before, decodes back to
    /// itself, and is small.
    #[test]
    fn compact_headers_round_trip_against_the_previous_record() {
        let payloads: Vec<Vec<u8>> = (0..200u32).map(|i| (0..(i * 7 % 700)).map(|k| (k * i) as u8).collect()).collect();
        let mut file = Vec::new();
        let mut want = Vec::new();
        let mut prev = RecCtx::default();
        for (i, p) in payloads.iter().enumerate() {
            let i = i as u32;
            let h = match i % 5 {
                // a checkpoint's pages: consecutive series, same start
                0..=2 => header(1000 + i, 7, 1_700_000_000 + i64::from(i / 3) * 600, (1, 600 - i, i % 3), 1, p),
                3 => header(i * 977 % 5000, 8, 1_700_000_000 - i64::from(i) * 4000, (10, 1 + i, 0), 6, p),
                _ => header(u32::MAX - i, 0, i64::from(i) << 40, (u32::MAX, 2, i), 1, p),
            };
            Rec2::encode(&h, &prev, p, &mut file).expect("encode");
            file.extend_from_slice(p);
            prev = RecCtx::after(&h);
            want.push(h);
        }
        let mut pos = 0;
        let mut prev = RecCtx::default();
        for (k, w) in want.iter().enumerate() {
            let (h, len) = Rec2::check(&file[pos..], &prev, w.tier).expect("check");
            assert!(same(&h, w), "record {k}: {h:?} != {w:?}");
            // what `load` sees without the predecessor: the same, given the first time
            let r = Rec2::parse(&file[pos..]).expect("parse");
            let h2 = r.header(w.tier, w.series, w.generation, w.t0).expect("header");
            assert!(same(&h2, w));
            assert!(r.len <= REC2_MAX);
            assert_eq!(len, r.len + w.payload_len as usize);
            prev = RecCtx::after(&h);
            pos += len;
        }
        assert_eq!(pos, file.len());
        // the typical tier-0 record: next series, same start, 640 bytes, no hole
        let p = vec![0u8; 640];
        let mut out = Vec::new();
        let prev = RecCtx { series: 41, generation: 3, t0: 1_700_000_000 };
        Rec2::encode(&header(42, 3, 1_700_000_000, (1, 2000, 0), 1, &p), &prev, &p, &mut out).expect("encode");
        assert!(out.len() <= 16, "{} bytes", out.len());
    }

    #[test]
    fn every_flipped_bit_of_a_record_is_detected() {
        let p: Vec<u8> = (0..300u32).map(|k| (k * 31 + 7) as u8).collect();
        let prev = RecCtx { series: 5, generation: 2, t0: 1_700_000_000 };
        let h = header(9, 2, 1_700_000_060, (1, 250, 3), 1, &p);
        let mut rec = Vec::new();
        Rec2::encode(&h, &prev, &p, &mut rec).expect("encode");
        rec.extend_from_slice(&p);
        assert!(Rec2::check(&rec, &prev, 0).is_some());
        for i in 0..rec.len() {
            for bit in 0..8 {
                let mut bad = rec.clone();
                bad[i] ^= 1 << bit;
                assert!(Rec2::check(&bad, &prev, 0).is_none(), "byte {i} bit {bit} went unnoticed");
            }
        }
        // a torn record (any shorter prefix) is not a record
        for n in 0..rec.len() {
            assert!(Rec2::check(&rec[..n], &prev, 0).is_none(), "prefix of {n} bytes");
        }
        // read against another predecessor (a record lost before it), it fails
        for other in [
            RecCtx { series: 4, ..prev },
            RecCtx { generation: 1, ..prev },
            RecCtx { t0: prev.t0 + 1, ..prev },
            RecCtx::default(),
        ] {
            assert!(Rec2::check(&rec, &other, 0).is_none(), "{other:?}");
        }
    }

    #[test]
    fn pages_off_their_grid_are_refused_not_written() {
        let p = [1u8; 8];
        let mut out = Vec::new();
        let mut h = header(1, 1, 1000, (10, 5, 0), 1, &p);
        h.last += 3;
        assert!(Rec2::encode(&h, &RecCtx::default(), &p, &mut out).is_none());
        let mut h = header(1, 1, 1000, (10, 5, 0), 1, &p);
        h.npoints = 6; // more points than slots
        assert!(Rec2::encode(&h, &RecCtx::default(), &p, &mut out).is_none());
        let mut h = header(1, 1, 1000, (10, 5, 0), 1, &p);
        h.flags = 0x80;
        assert!(Rec2::encode(&h, &RecCtx::default(), &p, &mut out).is_none());
    }

    /// A data file of format 1 (48-byte headers, written by the old encoder) scans as before;
    /// one of format 2 holding the same pages is smaller.
    #[test]
    fn format_1_files_still_scan() {
        let pages: Vec<(RecHeader, Vec<u8>)> = (0..20u32)
            .map(|i| {
                let p: Vec<u8> = (0..100 + i).map(|k| (k ^ i) as u8).collect();
                (header(i, 1, 1_700_000_000 + i64::from(i), (1, 90, 1), 1, &p), p)
            })
            .collect();
        let file = |version: u32| {
            let mut f = vec![0u8; FILE_HEADER];
            f[0..8].copy_from_slice(DATA_MAGIC);
            f[8..12].copy_from_slice(&version.to_le_bytes());
            f[16..20].copy_from_slice(&3u32.to_le_bytes());
            let crc = crc32fast::hash(&f[0..24]);
            f[24..28].copy_from_slice(&crc.to_le_bytes());
            let mut prev = RecCtx::default();
            for (h, p) in &pages {
                if version == 1 {
                    f.extend_from_slice(&h.encode(p));
                } else {
                    Rec2::encode(h, &prev, p, &mut f).expect("encode");
                }
                f.extend_from_slice(p);
                prev = RecCtx::after(h);
            }
            f
        };
        let (v1, v2) = (file(1), file(2));
        for f in [&v1, &v2] {
            let sc = scan_file(f, 0, 3).expect("scan");
            assert!(!sc.sealed);
            assert_eq!(sc.good_len, f.len() as u64);
            assert_eq!(sc.records.len(), pages.len());
            for ((h, off, len), (w, _)) in sc.records.iter().zip(&pages) {
                assert!(same(h, w));
                // and `load` reads each record on its own
                let r = PageRef { first: w.t0, last: w.last, seq: 3, off: *off, len: *len };
                let bytes = &f[*off as usize..(*off + *len) as usize];
                let hh = if bytes[0] == REC2_MAGIC {
                    Rec2::parse(bytes).and_then(|c| c.header(0, 0, 0, r.first))
                } else {
                    RecHeader::parse(bytes)
                }
                .expect("parse");
                assert_eq!((hh.t0, hh.last, hh.step, hh.npoints, hh.payload_len), (w.t0, w.last, w.step, w.npoints, w.payload_len));
            }
        }
        assert!(v2.len() + 20 * 25 < v1.len(), "{} vs {}", v2.len(), v1.len());
        // a torn last record: the prefix before it is kept
        for f in [&v1, &v2] {
            let cut = &f[..f.len() - 5];
            let sc = scan_file(cut, 0, 3).expect("scan");
            assert_eq!(sc.records.len(), pages.len() - 1);
            assert_eq!(sc.records.last().map(|r| (r.1 + r.2) as u64), Some(sc.good_len));
        }
        // format 3 (today's) reads as 2; an unknown version is refused
        let with_version = |v: u8| {
            let mut f = v2.clone();
            f[8] = v;
            let crc = crc32fast::hash(&f[0..24]);
            f[24..28].copy_from_slice(&crc.to_le_bytes());
            f
        };
        assert_eq!(scan_file(&with_version(3), 0, 3).expect("format 3").records.len(), pages.len());
        assert!(scan_file(&with_version(4), 0, 3).is_err());
    }
}

#[cfg(test)]
mod lz4_hint_tests {
    use super::*;
    use crate::model::{ChartMeta, DimMeta, HostMeta};

    /// Pages tried out of `pages`, all of them LZ4-hopeless, from a fresh hint.
    fn tried_of(pages: usize) -> Vec<usize> {
        let mut h = Lz4Hint::default();
        let mut tried = Vec::new();
        for p in 0..pages {
            if h.try_now() {
                tried.push(p);
                h.tried(true);
            }
        }
        tried
    }

    #[test]
    fn lz4_is_skipped_after_two_hopeless_pages_backing_off_to_one_in_eight() {
        assert_eq!(tried_of(40), vec![0, 1, 3, 7, 15, 23, 31, 39]);
        // a page LZ4 shortens (even by less than 1/8) resets the back-off
        let mut h = Lz4Hint::default();
        for _ in 0..6 {
            if h.try_now() {
                h.tried(true);
            }
        }
        while !h.try_now() {}
        h.tried(false);
        assert!(h.try_now() && h.try_now(), "tried again page after page");
        h.tried(true);
        assert!(h.try_now(), "one hopeless page skips none");
    }

    /// A noisy series (LZ4 cannot shorten its pages) and a periodic one (it can) written
    /// through pages: every point reads back the same after a reopen, the noisy series
    /// skips its tries, the periodic one keeps trying (and its pages stay compressed: its
    /// tier-0 bytes are far below the noisy one's).
    #[test]
    fn pages_with_and_without_the_lz4_try_read_back_the_same() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cfg = StoreConfig::default();
        let store = DiskStore::open(tmp.path(), cfg.clone()).expect("open");
        let h = store.put_host(&HostMeta { guid: "g".into(), hostname: "h".into(), ..Default::default() }).expect("host");
        let c = store.put_chart(h, &ChartMeta { id: "a.b".into(), update_every: 1, ..Default::default() }).expect("chart");
        let dim = |id: &str| DimMeta { id: id.into(), name: id.into(), multiplier: 1, divisor: 1, ..Default::default() };
        let noisy = store.put_dimension(c, &dim("noisy")).expect("dim");
        let periodic = store.put_dimension(c, &dim("periodic")).expect("dim");
        let mut rng = crate::testkit::XorShift64::new(0x2545_F491_4F6C_DD1D);
        let mut words = |i: usize, noise: bool| {
            let x = rng.next_u64();
            // periodic: the same 64 values again and again (every packed block alike)
            let v = if noise { (x % 10_000_000) as f64 + 0.5 } else { ((i % 64) * 7919 % 1000) as f64 * 1234.5 };
            StorageNumber::pack(v, crate::storage::number::FLAG_NOT_ANOMALOUS)
        };
        let n = 20_000;
        let t0 = 1_700_000_000;
        let noisy_words: Vec<StorageNumber> = (0..n).map(|i| words(i, true)).collect();
        let periodic_words: Vec<StorageNumber> = (0..n).map(|i| words(i, false)).collect();
        let mut counts = WriteCounts::default();
        for (id, w) in [(noisy, &noisy_words), (periodic, &periodic_words)] {
            for chunk in 0..n / 1000 {
                store.write_run(id, t0 + chunk as i64 * 1000, 1, &w[chunk * 1000..(chunk + 1) * 1000], &mut counts).expect("run");
            }
        }
        {
            let g = store.shared.write();
            let hint = |id: SeriesId| g.tiers[0].lz4_hint.get(id.0 as usize).copied().unwrap_or_default().0;
            assert!(hint(noisy) >> 4 >= 3, "noisy series backs off: {:#x}", hint(noisy));
            assert_eq!(hint(periodic), 0, "periodic series keeps trying");
        }
        store.flush().expect("flush");
        drop(store);
        let store = DiskStore::open(tmp.path(), cfg).expect("reopen");
        for (id, w) in [(noisy, &noisy_words), (periodic, &periodic_words)] {
            let mut out = Vec::new();
            store.read(id, 0, t0, t0 + n as i64, &mut out).expect("read");
            let want: Vec<TierPoint> = w.iter().enumerate().filter_map(|(i, &s)| TierPoint::from_number(t0 + i as i64, s)).collect();
            assert_eq!(out.len(), want.len());
            assert!(out.iter().zip(&want).all(|(a, b)| a.time == b.time && a.sum.to_bits() == b.sum.to_bits() && a.anomalous == b.anomalous), "series {}", id.0);
        }
    }
}
