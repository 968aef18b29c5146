//! Research (ignored): lossless models of the tier-0 corpus, see bench/results/storage-model.md.

use ndcluster::storage::corpus::{self, CorpusSeries};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/corpus/system.ndc");

fn load() -> Vec<CorpusSeries> {
    let path = std::env::var("NDCLUSTER_CORPUS").unwrap_or_else(|_| FIXTURE.to_string());
    corpus::decode(&std::fs::read(path).expect("read corpus")).expect("decode corpus")
}

/// Bytes of the current tier-0 codec for the whole series as one page (no header).
fn codec_bytes(c: &CorpusSeries) -> usize {
    let mut e = ndcluster::storage::codec::NumEncoder::default();
    for (_, w) in c.points() {
        e.push(w.0);
    }
    let mut buf = Vec::new();
    e.finish_into(&mut buf);
    buf.len()
}

/// `NDCLUSTER_DUMP=/tmp/c.tsv cargo test --release --test storage_model -- --ignored dump`
#[test]
#[ignore]
fn dump() {
    use std::fmt::Write;
    let out = std::env::var("NDCLUSTER_DUMP").expect("NDCLUSTER_DUMP");
    let mut s = String::new();
    for c in load() {
        let _ = write!(
            s,
            "{}\t{}\t{}\t{}\t{}\t",
            c.chart,
            c.dim,
            c.first,
            c.update_every,
            codec_bytes(&c)
        );
        for (i, w) in c.words.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "{w}");
        }
        s.push('\n');
    }
    std::fs::write(out, s).expect("write dump");
}

use ndcluster::storage::codec::word_to_decimal;
use ndcluster::storage::StorageNumber;
use std::collections::BTreeMap;

const FLAGS: u32 = 1 << 24;
const U: i64 = 1_000_000;

/// Adaptive code length of integer streams: a symbol per value (bucket = bit length of the
/// zig-zag value, 0..=64, plus 65 = escape), coded with adaptive frequencies conditioned on the
/// previous bucket, then the bits below the leading one verbatim. What an arithmetic coder
/// with this model spends, to within its rounding (well under 1 %).
#[derive(Clone)]
struct Model {
    counts: Vec<[u32; 66]>,
    totals: Vec<u32>,
    prev: usize,
    bits: f64,
}

impl Model {
    fn new() -> Self {
        Self {
            counts: vec![[0; 66]; 66],
            totals: vec![0; 66],
            prev: 0,
            bits: 0.0,
        }
    }
    fn symbol(&mut self, s: usize) {
        let c = self.prev;
        let p = (f64::from(self.counts[c][s]) + 0.4) / (f64::from(self.totals[c]) + 0.4 * 66.0);
        self.bits -= p.log2();
        self.counts[c][s] += 1;
        self.totals[c] += 1;
        self.prev = s;
    }
    fn value(&mut self, z: u64) {
        let b = (64 - z.leading_zeros()) as usize;
        self.symbol(b);
        self.bits += b.saturating_sub(1) as f64;
    }
    fn signed(&mut self, d: i64) {
        self.value(((d << 1) ^ (d >> 63)) as u64);
    }
    /// An escape symbol followed by `raw` bits.
    fn escape(&mut self, raw: f64) {
        self.symbol(65);
        self.bits += raw;
    }
}

fn word_value(w: u32) -> f64 {
    StorageNumber(w).value()
}

fn pack(x: f64) -> u32 {
    StorageNumber::pack(x, FLAGS).0
}

/// H2: the current codec's decimal deltas (N = value·10^7, divided per 64-block by their
/// common power of ten) under the adaptive context model. Returns bits.
fn h2_bits(words: &[u32]) -> f64 {
    let mut m = Model::new();
    let mut prev: Option<i64> = None;
    let pts: Vec<u32> = words.iter().copied().filter(|&w| w != StorageNumber::EMPTY.0).collect();
    // gaps: the presence runs cost the same as today; corpus series are gap-free but a few
    let mut block_bits = 0.0;
    for chunk in pts.chunks(64) {
        let mut ds = Vec::with_capacity(64);
        for &w in chunk {
            match word_to_decimal(w) {
                Some((n, 1)) => {
                    let d = prev.map_or(n, |p| n.wrapping_sub(p));
                    prev = Some(n);
                    ds.push(Some(d));
                }
                _ => ds.push(None),
            }
        }
        let mut g = 0u32;
        while g < 18 && ds.iter().flatten().all(|d| d % 10i64.pow(g + 1) == 0) {
            g += 1;
        }
        block_bits += 5.0;
        for d in ds {
            match d {
                Some(d) => m.signed(d / 10i64.pow(g)),
                None => m.escape(32.0),
            }
        }
    }
    m.bits + block_bits
}

/// Per-series lattice: value = n·mul/div exactly (Netdata's absolute algorithm), n coded as
/// deltas under the adaptive model; points off the lattice escape with 32 raw bits.
const LATTICE: [(f64, f64); 12] = [
    (1.0, 1.0),
    (1.0, 1024.0),
    (1.0, 1_048_576.0),
    (1.0, 1000.0),
    (1.0, 100.0),
    (1.0, 10.0),
    (8.0, 1000.0),
    (1.0, 1_000_000.0),
    (1.0, 10_000.0),
    (1.0, 100_000.0),
    (4096.0, 1_048_576.0),
    (512.0, 1024.0),
];

/// The lattice with today's packing instead of the adaptive model: per 64-block one width
/// byte and the zig-zag deltas of `n` at that width; an escape bitmap byte per block with
/// escapes, each escape 32 bits.
fn lattice_packed_bits(words: &[u32]) -> f64 {
    let pts: Vec<u32> = words.iter().copied().filter(|&w| w != StorageNumber::EMPTY.0).collect();
    let mut best = f64::INFINITY;
    for &(mul, div) in &LATTICE {
        let mut prev = 0i64;
        let mut bits = 16.0;
        for chunk in pts.chunks(64) {
            let mut width = 0u32;
            let mut esc = 0usize;
            for &w in chunk {
                let n = (word_value(w) * div / mul).round();
                if n.abs() < 9e15 && pack(n * mul / div) == w {
                    let d = n as i64 - prev;
                    prev = n as i64;
                    width = width.max(64 - ((d << 1) ^ (d >> 63)).leading_zeros());
                } else {
                    esc += 1;
                }
            }
            bits += 8.0 + f64::from(width) * (chunk.len() - esc) as f64;
            if esc > 0 {
                bits += 64.0 + 32.0 * esc as f64;
            }
        }
        best = best.min(bits);
    }
    best
}

fn lattice_bits(words: &[u32]) -> (f64, usize, (f64, f64)) {
    let pts: Vec<u32> = words.iter().copied().filter(|&w| w != StorageNumber::EMPTY.0).collect();
    let mut best = (f64::INFINITY, 0, (1.0, 1.0));
    for &(mul, div) in &LATTICE {
        let mut m = Model::new();
        let mut prev = 0i64;
        let mut hits = 0;
        for &w in &pts {
            let n = (word_value(w) * div / mul).round();
            if n.abs() < 9e15 && pack(n * mul / div) == w {
                let n = n as i64;
                m.signed(n - prev);
                prev = n;
                hits += 1;
            } else {
                m.escape(32.0);
            }
        }
        if m.bits < best.0 {
            best = (m.bits, hits, (mul, div));
        }
    }
    best
}

/// The series of one chart on a common 1 s grid: `cols[dim][slot]`.
struct Chart<'a> {
    name: &'a str,
    series: Vec<&'a CorpusSeries>,
    cols: Vec<Vec<Option<u32>>>,
}

fn charts(all: &[CorpusSeries]) -> Vec<Chart<'_>> {
    let mut by: BTreeMap<&str, Vec<&CorpusSeries>> = BTreeMap::new();
    for s in all {
        by.entry(s.chart.as_str()).or_default().push(s);
    }
    let mut out = Vec::new();
    for (name, series) in by {
        let ue = i64::from(series[0].update_every);
        if series.iter().any(|s| i64::from(s.update_every) != ue) {
            continue;
        }
        let t0 = series.iter().map(|s| s.first).min().unwrap_or(0);
        let t1 = series
            .iter()
            .map(|s| s.first + s.words.len() as i64 * ue)
            .max()
            .unwrap_or(0);
        let n = ((t1 - t0) / ue) as usize;
        let cols = series
            .iter()
            .map(|s| {
                let mut c = vec![None; n];
                let off = ((s.first - t0) / ue) as usize;
                for (k, &w) in s.words.iter().enumerate() {
                    if w != StorageNumber::EMPTY.0 {
                        c[off + k] = Some(w);
                    }
                }
                c
            })
            .collect();
        out.push(Chart { name, series, cols });
    }
    out
}

/// Multiplier / divisor pairs tried for incremental dimensions.
const RATIOS: [(f64, f64); 6] = [
    (1.0, 1.0),
    (8.0, 1000.0),
    (512.0, 1024.0),
    (1.0, 1000.0),
    (1.0, 1024.0),
    (4096.0, 1024.0),
];

/// Outcome of a chart-level model: estimated bits, and points it reproduced exactly.
#[derive(Default, Debug, Clone, Copy)]
struct Fit {
    bits: f64,
    exact: usize,
    points: usize,
    /// bits spent on the shared per-slot parameter (phase or row total)
    shared_bits: f64,
}

/// H1a: incremental dimensions interpolated onto the second grid. Per chart and slot one
/// collection phase `phi` (µs after the slot); per dimension one integer counter delta `a`.
/// Netdata's arithmetic (netdata-values.md §1.4) is replayed in f64 and a point counts as exact
/// only when it packs to the stored word. `raw_bits[d]`: cost of an escaped point of dim `d`.
fn fit_interpolated(c: &Chart, raw_bits: &[f64]) -> Fit {
    const W: i64 = 60_000;
    let dims = c.cols.len();
    let slots = c.cols[0].len();
    let ue = f64::from(c.series[0].update_every);
    let mut phi: i64 = 453_400;
    let mut rem: Vec<Option<f64>> = vec![None; dims];
    let mut ratio: Vec<Option<(f64, f64)>> = vec![None; dims];
    let mut prev_a = vec![0i64; dims];
    let mut am: Vec<Model> = vec![Model::new(); dims];
    let mut pm = Model::new();
    let mut fit = Fit::default();
    let mut xs = vec![None; dims];
    for k in 0..slots {
        let mut any = false;
        for d in 0..dims {
            xs[d] = match (c.cols[d][k], rem[d], ratio[d]) {
                (Some(w), Some(r), Some(_)) => Some(word_value(w) * ue - r),
                _ => None,
            };
            any |= c.cols[d][k].is_some();
        }
        if !any {
            continue;
        }
        // candidate phases
        let mut cands = vec![phi];
        let big = (0..dims)
            .filter_map(|d| Some((d, xs[d]?, ratio[d]?)))
            .map(|(d, x, (m, v))| (d, x.abs() * v / m))
            .filter(|&(_, a)| a > 1e-6)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((_, xa)) = big {
            let num = (U - phi) as f64;
            let fmin = num / (U + W) as f64;
            let fmax = (num / (U - W) as f64).min(1.0);
            let centre = (xa / (num / U as f64)).round() as i64;
            let lo = ((xa / fmax).ceil() as i64).max(1).max(centre - 300);
            let hi = ((xa / fmin).floor() as i64).min(centre + 300);
            for a in lo..=hi {
                let f = xa / a as f64;
                let ph = phi as f64 - U as f64 + num / f;
                let r = ph.round() as i64;
                for p2 in [r - 1, r, r + 1] {
                    if (p2 - phi).abs() <= W {
                        cands.push(p2);
                    }
                }
            }
        }
        let mut best = (0usize, i64::MAX, phi);
        for &p2 in &cands {
            let hits = (0..dims).filter(|&d| interp_step(phi, p2, xs[d], ratio[d], rem[d], c.cols[d][k], ue).is_some()).count();
            let key = (hits, -(p2 - phi).abs());
            if key > (best.0, -best.1) {
                best = (hits, (p2 - phi).abs(), p2);
            }
        }
        let p2 = best.2;
        let before = pm.bits;
        pm.signed(p2 - phi);
        fit.shared_bits += pm.bits - before;
        for d in 0..dims {
            let Some(w) = c.cols[d][k] else {
                rem[d] = None;
                continue;
            };
            fit.points += 1;
            if let Some((a, r)) = interp_step(phi, p2, xs[d], ratio[d], rem[d], c.cols[d][k], ue) {
                am[d].signed(a - prev_a[d]);
                prev_a[d] = a;
                rem[d] = Some(r);
                fit.exact += 1;
                continue;
            }
            if word_value(w) == 0.0 {
                // a zero restarts the chain: no remainder is carried
                am[d].escape(0.0);
                rem[d] = Some(0.0);
                prev_a[d] = 0;
                fit.exact += 1;
                continue;
            }
            // unknown ratio: try the table once a remainder is known
            if rem[d].is_some() && ratio[d].is_none() {
                let mut found = None;
                for &rt in &RATIOS {
                    ratio[d] = Some(rt);
                    xs[d] = Some(word_value(w) * ue - rem[d].unwrap_or(0.0));
                    if let Some(ar) = interp_step(phi, p2, xs[d], ratio[d], rem[d], c.cols[d][k], ue) {
                        found = Some((rt, ar));
                        break;
                    }
                }
                ratio[d] = found.map(|f| f.0);
                if let Some((_, (a, r))) = found {
                    am[d].escape(3.0);
                    prev_a[d] = a;
                    rem[d] = Some(r);
                    fit.exact += 1;
                    continue;
                }
            }
            am[d].escape(raw_bits[d]);
            rem[d] = None;
        }
        phi = p2;
    }
    fit.bits = pm.bits + am.iter().map(|m| m.bits).sum::<f64>();
    fit
}

/// One interpolated slot of one dimension: the integer delta and the new remainder, if the
/// phase `p2` (previous `phi`) reproduces the stored word.
fn interp_step(
    phi: i64,
    p2: i64,
    x: Option<f64>,
    ratio: Option<(f64, f64)>,
    rem: Option<f64>,
    word: Option<u32>,
    ue: f64,
) -> Option<(i64, f64)> {
    let (m, v) = ratio?;
    let x = x?;
    let num = (U - phi) as f64;
    let den = (U + p2 - phi) as f64;
    let a = (x * v / m * den / num).round();
    let cval = a * m / v;
    let xx = cval * num / den;
    let val = (xx + rem?) / ue;
    (pack(val) == word?).then_some((a as i64, cval - xx))
}

/// H1b: percentage-of-incremental-row charts (system.cpu, cpu.cpuN): each value is
/// `100·a/T` with one row total `T` per slot shared by all dimensions.
fn fit_percent_row(c: &Chart, raw_bits: &[f64]) -> Fit {
    let dims = c.cols.len();
    let slots = c.cols[0].len();
    let mut tm = Model::new();
    let mut am: Vec<Model> = vec![Model::new(); dims];
    let mut prev_a = vec![0i64; dims];
    let mut prev_t: i64 = 100;
    let mut fit = Fit::default();
    let ok = |t: i64, k: usize, d: usize| -> Option<i64> {
        let w = c.cols[d][k]?;
        let a = (word_value(w) * t as f64 / 100.0).round();
        (pack(100.0 * a / t as f64) == w).then_some(a as i64)
    };
    for k in 0..slots {
        let present: Vec<usize> = (0..dims).filter(|&d| c.cols[d][k].is_some()).collect();
        if present.is_empty() {
            continue;
        }
        let mut found = None;
        for step in 0..20_000i64 {
            for t in [prev_t + step, prev_t - step] {
                if t >= 1 && present.iter().all(|&d| ok(t, k, d).is_some()) {
                    found = Some(t);
                    break;
                }
            }
            if found.is_some() {
                break;
            }
        }
        let t = found.unwrap_or(prev_t);
        let before = tm.bits;
        tm.signed(t - prev_t);
        fit.shared_bits += tm.bits - before;
        prev_t = t;
        for &d in &present {
            fit.points += 1;
            match ok(t, k, d) {
                Some(a) => {
                    am[d].signed(a - prev_a[d]);
                    prev_a[d] = a;
                    fit.exact += 1;
                }
                None => am[d].escape(raw_bits[d]),
            }
        }
    }
    fit.bits = tm.bits + am.iter().map(|m| m.bits).sum::<f64>();
    fit
}

/// `cargo test --release --test storage_model -- --ignored models --nocapture`
#[test]
#[ignore]
fn models() {
    let all = load();
    let points: usize = all.iter().map(|s| s.points().count()).sum();
    let mut base = 0.0;
    let mut h2 = 0.0;
    let mut lat = 0.0;
    let mut best_series = 0.0;
    let mut cross = 0.0;
    let mut lat_packed = 0.0;
    let mut ser_interp = 0.0;
    let mut rows = Vec::new();
    for c in charts(&all) {
        let mut per = Vec::new();
        for s in &c.series {
            let n = s.points().count().max(1) as f64;
            let b = codec_bytes(s) as f64 * 8.0;
            let e = h2_bits(&s.words);
            let (l, _, _) = lattice_bits(&s.words);
            lat_packed += b.min(lattice_packed_bits(&s.words));
            let one = Chart {
                name: &s.chart,
                series: vec![*s],
                cols: vec![s.words.iter().map(|&w| (w != StorageNumber::EMPTY.0).then_some(w)).collect()],
            };
            let r = [b.min(e) / n];
            let fi1 = fit_interpolated(&one, &r).bits;
            let fp1 = fit_percent_row(&one, &r).bits;
            ser_interp += b.min(e).min(l).min(fi1).min(fp1);
            per.push((b, e, l, n));
        }
        let raw: Vec<f64> = per.iter().map(|p| p.0.min(p.1) / p.3).collect();
        let cb: f64 = per.iter().map(|p| p.0).sum();
        let ce: f64 = per.iter().map(|p| p.1).sum();
        let cs: f64 = per.iter().map(|p| p.0.min(p.1).min(p.2)).sum();
        let fi = fit_interpolated(&c, &raw);
        let fp = fit_percent_row(&c, &raw);
        let cx = cs.min(fi.bits).min(fp.bits);
        base += cb;
        h2 += ce;
        lat += per.iter().map(|p| p.0.min(p.2)).sum::<f64>();
        best_series += cs;
        cross += cx;
        rows.push((cb, cs, fi, fp, cx, c.name.to_string(), per.iter().map(|p| p.3).sum::<f64>()));
    }
    let bpp = |bits: f64| bits / 8.0 / points as f64;
    eprintln!("points {points}");
    eprintln!("current codec (one page per series)      {:.4} B/pt", bpp(base));
    eprintln!("H2 adaptive context model of its deltas  {:.4} B/pt", bpp(h2));
    eprintln!("lattice n*mul/div (best of it, current)  {:.4} B/pt", bpp(lat));
    eprintln!("lattice, today's 64-block bit packing    {:.4} B/pt", bpp(lat_packed));
    eprintln!("best per-series (current, H2, lattice)   {:.4} B/pt", bpp(best_series));
    eprintln!("+ per-series phase / row-total models     {:.4} B/pt", bpp(ser_interp));
    eprintln!("+ cross-series chart models (H1)         {:.4} B/pt", bpp(cross));
    page_overhead(&all, points);
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (cb, cs, fi, fp, cx, name, n) in rows.iter().take(60) {
        eprintln!(
            "{name:48} pts {n:6} cur {:6.0} ser {:6.0} interp {:6.0} ({:5.1}% exact, shared {:5.0}) pct {:6.0} ({:5.1}%) best {:6.0} B",
            cb / 8.0,
            cs / 8.0,
            fi.bits / 8.0,
            100.0 * fi.exact as f64 / fi.points.max(1) as f64,
            fi.shared_bits / 8.0,
            fp.bits / 8.0,
            100.0 * fp.exact as f64 / fp.points.max(1) as f64,
            cx / 8.0
        );
    }
}

/// H3: today's codec cut into pages of at most `cap` encoded bytes, each with a `head`-byte
/// record header (no checkpoint cuts).
fn page_overhead(all: &[CorpusSeries], points: usize) {
    use ndcluster::storage::codec::NumEncoder;
    for cap in [640usize, 1024, 2048, 4096] {
        let mut payload = 0usize;
        let mut pages = 0usize;
        for s in all {
            let mut e = NumEncoder::default();
            let mut flush = |e: &mut NumEncoder| {
                let mut buf = Vec::new();
                e.finish_into(&mut buf);
                payload += buf.len();
                pages += 1;
                *e = NumEncoder::default();
            };
            for (_, w) in s.points() {
                e.push(w.0);
                if e.len() >= 4096 || e.encoded_len() >= cap {
                    flush(&mut e);
                }
            }
            if !e.is_empty() {
                flush(&mut e);
            }
        }
        for head in [48usize, 16] {
            eprintln!(
                "pages <= {cap:4} B, header {head:2} B: {pages:6} pages, {:.4} B/pt ({:.4} payload)",
                (payload + pages * head) as f64 / points as f64,
                payload as f64 / points as f64
            );
        }
    }
}
