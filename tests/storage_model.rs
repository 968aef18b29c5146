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
    let Ok(out) = std::env::var("NDCLUSTER_DUMP") else {
        eprintln!("set NDCLUSTER_DUMP=<file> to dump the corpus as text");
        return;
    };
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

use ndcluster::storage::codec::{decimal_to_word, word_to_decimal};
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
    /// condition on the previous bucket (else order 0)
    ctx: bool,
    counts: Vec<[u32; 66]>,
    totals: Vec<u32>,
    prev: usize,
    bits: f64,
    /// raw bits of escaped points (included in `bits`)
    esc: f64,
}

impl Model {
    fn new() -> Self {
        Self {
            ctx: true,
            counts: vec![[0; 66]; 66],
            totals: vec![0; 66],
            prev: 0,
            bits: 0.0,
            esc: 0.0,
        }
    }
    fn symbol(&mut self, s: usize) {
        let c = if self.ctx { self.prev } else { 0 };
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
        self.esc += raw;
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
    let pts: Vec<u32> = words
        .iter()
        .copied()
        .filter(|&w| w != StorageNumber::EMPTY.0)
        .collect();
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
    let pts: Vec<u32> = words
        .iter()
        .copied()
        .filter(|&w| w != StorageNumber::EMPTY.0)
        .collect();
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
    lattice_bits_with(words, true)
}

fn lattice_bits_with(words: &[u32], ctx: bool) -> (f64, usize, (f64, f64)) {
    let pts: Vec<u32> = words
        .iter()
        .copied()
        .filter(|&w| w != StorageNumber::EMPTY.0)
        .collect();
    let mut best = (f64::INFINITY, 0, (1.0, 1.0));
    for &(mul, div) in &LATTICE {
        let mut m = Model::new();
        m.ctx = ctx;
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
#[derive(Default, Debug, Clone)]
struct Fit {
    bits: f64,
    exact: usize,
    points: usize,
    /// bits spent on the shared per-slot parameter (phase or row total)
    shared_bits: f64,
    /// bits if every escaped point had cost what an exact point costs on average
    optimistic: f64,
    /// bits of the shared stream and of each dimension's stream
    shared: f64,
    per_dim: Vec<f64>,
}

impl Fit {
    fn finish(mut self, shared: &Model, per_dim: &[Model]) -> Self {
        self.bits = shared.bits + per_dim.iter().map(|m| m.bits).sum::<f64>();
        let esc: f64 = per_dim.iter().map(|m| m.esc).sum();
        let fitted = self.bits - shared.bits - esc;
        self.optimistic = shared.bits + fitted * self.points as f64 / self.exact.max(1) as f64;
        self.shared = shared.bits;
        self.per_dim = per_dim.iter().map(|m| m.bits).collect();
        self
    }
    /// Each dimension takes the chart model or its own per-series code (one flag).
    fn mixed(&self, own: &[f64]) -> f64 {
        self.shared
            + self
                .per_dim
                .iter()
                .zip(own)
                .map(|(a, b)| a.min(*b) + 1.0)
                .sum::<f64>()
    }
}

/// H1a: incremental dimensions interpolated onto the second grid. Per chart and slot one
/// collection phase `phi` (µs after the slot); per dimension one integer counter delta `a`.
/// Netdata's arithmetic (netdata-values.md §1.4) is replayed in f64 and a point counts as exact
/// only when it packs to the stored word. `raw_bits[d]`: cost of an escaped point of dim `d`.
fn fit_interpolated(c: &Chart, raw_bits: &[f64], bootstrap: bool) -> Fit {
    const W: i64 = 60_000;
    let dims = c.cols.len();
    let slots = c.cols[0].len();
    let ue = f64::from(c.series[0].update_every);
    let mut phi: i64 = 453_400;
    let mut prev_phi: i64 = 453_400;
    let mut conf = vec![0u32; dims];
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
        // only dimensions confirmed by two exact slots vote on the phase (a bootstrap may
        // have found a wrong delta)
        let any_conf = (0..dims).any(|d| xs[d].is_some() && conf[d] >= 2);
        let voter = |d: usize| xs[d].is_some() && (!any_conf || conf[d] >= 2);
        let big = (0..dims)
            .filter(|&d| voter(d))
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
            let hits = (0..dims)
                .filter(|&d| {
                    voter(d)
                        && interp_step(phi, p2, xs[d], ratio[d], rem[d], c.cols[d][k], ue).is_some()
                })
                .count();
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
                conf[d] += 1;
                continue;
            }
            conf[d] = 0;
            if word_value(w) == 0.0 {
                // a zero restarts the chain: no remainder is carried
                conf[d] = 2;
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
                    if let Some(ar) =
                        interp_step(phi, p2, xs[d], ratio[d], rem[d], c.cols[d][k], ue)
                    {
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
            // bootstrap a dimension that never shows a zero: search the previous slot's delta
            if bootstrap && k > 0 && rem[d].is_none() {
                if let Some(wp) = c.cols[d][k - 1] {
                    let num1 = (U - prev_phi) as f64;
                    let den1 = (U + phi - prev_phi) as f64;
                    let mut found = None;
                    'r: for &(m, v) in &RATIOS {
                        let centre = (word_value(wp) * ue * v / m).round() as i64;
                        for step in 0..2000i64 {
                            for a1 in [centre + step, centre - step] {
                                if a1 < 0 {
                                    continue;
                                }
                                let c1 = a1 as f64 * m / v;
                                let r1 = c1 - c1 * num1 / den1;
                                let x = Some(word_value(w) * ue - r1);
                                if let Some(ar) =
                                    interp_step(phi, p2, x, Some((m, v)), Some(r1), Some(w), ue)
                                {
                                    found = Some(((m, v), ar));
                                    break 'r;
                                }
                            }
                        }
                    }
                    if let Some((rt, (a, r))) = found {
                        am[d].escape(raw_bits[d]);
                        ratio[d] = Some(rt);
                        prev_a[d] = a;
                        rem[d] = Some(r);
                        fit.exact += 1;
                        continue;
                    }
                }
            }
            am[d].escape(raw_bits[d]);
            rem[d] = None;
        }
        prev_phi = phi;
        phi = p2;
    }
    fit.finish(&pm, &am)
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
    fit.finish(&tm, &am)
}

/// Optimistic bound of H1a for a chart the phase model evidently fits: each dimension costs
/// what its per-second counts (the stored rates rounded, ratio 1) cost under the adaptive
/// model, plus one phase per slot at the 9 bits measured where the fit holds.
fn interp_ideal_bits(c: &Chart) -> f64 {
    let slots = c.cols[0].len() as f64;
    let mut bits = 9.0 * slots;
    for col in &c.cols {
        let mut m = Model::new();
        let mut prev = 0i64;
        for w in col.iter().flatten() {
            let a = word_value(*w).round() as i64;
            m.signed(a - prev);
            prev = a;
        }
        bits += m.bits;
    }
    bits
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
    let mut lat_o0 = 0.0;
    let mut optimistic = 0.0;
    let mut mixed = 0.0;
    let mut ideal = 0.0;
    let mut ideal_pts = 0.0;
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
            lat_o0 += b.min(lattice_bits_with(&s.words, false).0);
            let one = Chart {
                name: &s.chart,
                series: vec![*s],
                cols: vec![s
                    .words
                    .iter()
                    .map(|&w| (w != StorageNumber::EMPTY.0).then_some(w))
                    .collect()],
            };
            let r = [b.min(e) / n];
            let fi1 = fit_interpolated(&one, &r, false).bits;
            let fp1 = fit_percent_row(&one, &r).bits;
            ser_interp += b.min(e).min(l).min(fi1).min(fp1);
            per.push((b, e, l, n));
        }
        let raw: Vec<f64> = per.iter().map(|p| p.0.min(p.1) / p.3).collect();
        let cb: f64 = per.iter().map(|p| p.0).sum();
        let ce: f64 = per.iter().map(|p| p.1).sum();
        let cs: f64 = per.iter().map(|p| p.0.min(p.1).min(p.2)).sum();
        let fi = [
            fit_interpolated(&c, &raw, false),
            fit_interpolated(&c, &raw, true),
        ]
        .into_iter()
        .min_by(|a, b| a.bits.total_cmp(&b.bits))
        .unwrap_or_default();
        let fp = fit_percent_row(&c, &raw);
        let own: Vec<f64> = per.iter().map(|p| p.0.min(p.1).min(p.2)).collect();
        let cx = cs.min(fi.bits).min(fp.bits);
        mixed += cs.min(fi.mixed(&own)).min(fp.mixed(&own));
        let evident = fi.exact as f64 >= 0.4 * fi.points as f64 && fi.shared_bits > 100.0 * 8.0;
        let ideal_i = if evident {
            interp_ideal_bits(&c)
        } else {
            f64::INFINITY
        };
        ideal += cs.min(fi.mixed(&own)).min(fp.mixed(&own)).min(ideal_i);
        if evident {
            ideal_pts += per.iter().map(|p| p.3).sum::<f64>();
        }
        optimistic += cs.min(fi.optimistic).min(fp.optimistic);
        base += cb;
        h2 += ce;
        lat += per.iter().map(|p| p.0.min(p.2)).sum::<f64>();
        best_series += cs;
        cross += cx;
        rows.push((
            ideal_i,
            cb,
            cs,
            fi,
            fp,
            cx,
            c.name.to_string(),
            per.iter().map(|p| p.3).sum::<f64>(),
        ));
    }
    let bpp = |bits: f64| bits / 8.0 / points as f64;
    eprintln!("points {points}");
    eprintln!(
        "current codec (one page per series)      {:.4} B/pt",
        bpp(base)
    );
    eprintln!(
        "H2 adaptive context model of its deltas  {:.4} B/pt",
        bpp(h2)
    );
    eprintln!(
        "lattice n*mul/div (best of it, current)  {:.4} B/pt",
        bpp(lat)
    );
    eprintln!(
        "lattice, today's 64-block bit packing    {:.4} B/pt",
        bpp(lat_packed)
    );
    eprintln!(
        "lattice, adaptive order-0 (no context)   {:.4} B/pt",
        bpp(lat_o0)
    );
    eprintln!(
        "best per-series (current, H2, lattice)   {:.4} B/pt",
        bpp(best_series)
    );
    eprintln!(
        "+ per-series phase / row-total models     {:.4} B/pt",
        bpp(ser_interp)
    );
    eprintln!(
        "+ cross-series chart models (H1)         {:.4} B/pt",
        bpp(cross)
    );
    eprintln!(
        "  per dimension: chart model or own code  {:.4} B/pt",
        bpp(mixed)
    );
    eprintln!(
        "  + ideal phase fit on {:.0} % of points    {:.4} B/pt",
        100.0 * ideal_pts / points as f64,
        bpp(ideal)
    );
    eprintln!(
        "  (if every point of H1 charts fit)       {:.4} B/pt",
        bpp(optimistic)
    );
    page_overhead(&all, points);
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (ii, cb, cs, fi, fp, cx, name, n) in rows.iter().take(60) {
        eprintln!(
            "{name:48} pts {n:6} cur {:6.0} ser {:6.0} interp {:6.0} ({:5.1}% exact, shared {:5.0}) pct {:6.0} ({:5.1}%) best {:6.0} B ideal {:6.0}",
            cb / 8.0,
            cs / 8.0,
            fi.bits / 8.0,
            100.0 * fi.exact as f64 / fi.points.max(1) as f64,
            fi.shared_bits / 8.0,
            fp.bits / 8.0,
            100.0 * fp.exact as f64 / fp.points.max(1) as f64,
            cx / 8.0,
            ii / 8.0
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

// ---------------------------------------------------------------------------------------------
// A real round trip of the per-series lattice model: an adaptive binary range coder (the
// classic LZMA-style coder: 32-bit range, 11-bit probabilities), buckets coded by a 7-level bit
// tree conditioned on the previous bucket, the bits below the leading one coded direct.

const PROB_BITS: u32 = 11;
const PROB_INIT: u16 = 1 << (PROB_BITS - 1);
const MOVE: u32 = 5;
const TOP: u32 = 1 << 24;

struct RangeEnc {
    low: u64,
    range: u32,
    cache: u8,
    cache_size: u64,
    out: Vec<u8>,
}

impl RangeEnc {
    fn new() -> Self {
        Self {
            low: 0,
            range: u32::MAX,
            cache: 0,
            cache_size: 1,
            out: Vec::new(),
        }
    }
    fn shift_low(&mut self) {
        if self.low < 0xFF00_0000 || self.low > 0xFFFF_FFFF {
            let carry = (self.low >> 32) as u8;
            let mut temp = self.cache;
            loop {
                self.out.push(temp.wrapping_add(carry));
                temp = 0xFF;
                self.cache_size -= 1;
                if self.cache_size == 0 {
                    break;
                }
            }
            self.cache = ((self.low >> 24) & 0xFF) as u8;
        }
        self.cache_size += 1;
        self.low = (self.low & 0x00FF_FFFF) << 8;
    }
    fn bit(&mut self, p: &mut u16, b: bool) {
        let bound = (self.range >> PROB_BITS) * u32::from(*p);
        if b {
            self.low += u64::from(bound);
            self.range -= bound;
            *p -= *p >> MOVE;
        } else {
            self.range = bound;
            *p += ((1 << PROB_BITS) - *p) >> MOVE;
        }
        while self.range < TOP {
            self.range <<= 8;
            self.shift_low();
        }
    }
    fn direct(&mut self, v: u64, n: u32) {
        for i in (0..n).rev() {
            self.range >>= 1;
            if (v >> i) & 1 == 1 {
                self.low += u64::from(self.range);
            }
            while self.range < TOP {
                self.range <<= 8;
                self.shift_low();
            }
        }
    }
    fn finish(mut self) -> Vec<u8> {
        for _ in 0..5 {
            self.shift_low();
        }
        self.out
    }
}

struct RangeDec<'a> {
    buf: &'a [u8],
    pos: usize,
    range: u32,
    code: u32,
}

impl<'a> RangeDec<'a> {
    fn new(buf: &'a [u8]) -> Self {
        let mut d = Self {
            buf,
            pos: 1,
            range: u32::MAX,
            code: 0,
        };
        for _ in 0..4 {
            d.code = (d.code << 8) | u32::from(d.byte());
        }
        d
    }
    fn byte(&mut self) -> u8 {
        let b = self.buf.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn bit(&mut self, p: &mut u16) -> bool {
        let bound = (self.range >> PROB_BITS) * u32::from(*p);
        let b = if self.code < bound {
            self.range = bound;
            *p += ((1 << PROB_BITS) - *p) >> MOVE;
            false
        } else {
            self.code -= bound;
            self.range -= bound;
            *p -= *p >> MOVE;
            true
        };
        while self.range < TOP {
            self.range <<= 8;
            self.code = (self.code << 8) | u32::from(self.byte());
        }
        b
    }
    fn direct(&mut self, n: u32) -> u64 {
        let mut v = 0u64;
        for _ in 0..n {
            self.range >>= 1;
            let b = self.code >= self.range;
            if b {
                self.code -= self.range;
            }
            v = (v << 1) | u64::from(b);
            while self.range < TOP {
                self.range <<= 8;
                self.code = (self.code << 8) | u32::from(self.byte());
            }
        }
        v
    }
}

const ESC: usize = 65;

struct TreeModel(Vec<[u16; 128]>);

impl TreeModel {
    fn new() -> Self {
        Self(vec![[PROB_INIT; 128]; 66])
    }
}

/// Encodes the points of one series with lattice `(mul, div)`; returns the bytes.
fn lattice_encode(words: &[u32], (mul, div): (f64, f64)) -> Vec<u8> {
    let mut e = RangeEnc::new();
    let mut t = TreeModel::new();
    let mut ctx = 0usize;
    let mut prev = 0i64;
    for &w in words {
        let n = if mul == 0.0 {
            match word_to_decimal(w) {
                Some((n, 1)) => n as f64,
                _ => f64::NAN,
            }
        } else {
            (word_value(w) * div / mul).round()
        };
        let fits = if mul == 0.0 {
            n.is_finite()
        } else {
            n.abs() < 9e15 && pack(n * mul / div) == w
        };
        let (sym, raw, nb) = if fits {
            let d = n as i64 - prev;
            prev = n as i64;
            let z = ((d << 1) ^ (d >> 63)) as u64;
            let b = (64 - z.leading_zeros()) as usize;
            (b, z, b.saturating_sub(1) as u32)
        } else {
            (ESC, u64::from(w), 32)
        };
        let probs = &mut t.0[ctx];
        let mut node = 1usize;
        for i in (0..7).rev() {
            let bit = (sym >> i) & 1 == 1;
            e.bit(&mut probs[node], bit);
            node = (node << 1) | usize::from(bit);
        }
        e.direct(raw, nb);
        ctx = sym;
    }
    e.finish()
}

fn lattice_decode(buf: &[u8], n: usize, (mul, div): (f64, f64), out: &mut Vec<u32>) {
    let mut d = RangeDec::new(buf);
    let mut t = TreeModel::new();
    let mut ctx = 0usize;
    let mut prev = 0i64;
    for _ in 0..n {
        let probs = &mut t.0[ctx];
        let mut node = 1usize;
        for _ in 0..7 {
            node = (node << 1) | usize::from(d.bit(&mut probs[node]));
        }
        let sym = (node & 127).min(ESC);
        if sym == ESC {
            out.push(d.direct(32) as u32);
        } else {
            let z = if sym <= 1 {
                sym as u64
            } else {
                (1u64 << (sym - 1)) | d.direct(sym as u32 - 1)
            };
            let delta = ((z >> 1) as i64) ^ -((z & 1) as i64);
            prev = prev.wrapping_add(delta);
            if mul == 0.0 {
                out.push(decimal_to_word(prev, 1).unwrap_or(0));
            } else {
                out.push(pack(prev as f64 * mul / div));
            }
        }
        ctx = sym;
    }
}

/// Range-codes a stream of optional integers (`None` = escape): deltas, or deltas of deltas.
fn ints_encode(vals: &[Option<i64>], second: bool) -> Vec<u8> {
    let mut e = RangeEnc::new();
    let mut t = TreeModel::new();
    let (mut ctx, mut prev, mut prev_d) = (0usize, 0i64, 0i64);
    for v in vals {
        let (sym, raw, nb) = match v {
            Some(v) => {
                let d = v.wrapping_sub(prev);
                let c = if second { d.wrapping_sub(prev_d) } else { d };
                prev = *v;
                prev_d = d;
                let z = ((c << 1) ^ (c >> 63)) as u64;
                let b = (64 - z.leading_zeros()) as usize;
                (b, z, b.saturating_sub(1) as u32)
            }
            None => (ESC, 0, 0),
        };
        let probs = &mut t.0[ctx];
        let mut node = 1usize;
        for i in (0..7).rev() {
            let bit = (sym >> i) & 1 == 1;
            e.bit(&mut probs[node], bit);
            node = (node << 1) | usize::from(bit);
        }
        e.direct(raw, nb);
        ctx = sym;
    }
    e.finish()
}

fn ints_decode(buf: &[u8], n: usize, second: bool) -> Vec<Option<i64>> {
    let mut d = RangeDec::new(buf);
    let mut t = TreeModel::new();
    let (mut ctx, mut prev, mut prev_d) = (0usize, 0i64, 0i64);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let probs = &mut t.0[ctx];
        let mut node = 1usize;
        for _ in 0..7 {
            node = (node << 1) | usize::from(d.bit(&mut probs[node]));
        }
        let sym = (node & 127).min(ESC);
        if sym == ESC {
            out.push(None);
        } else {
            let z = if sym <= 1 {
                sym as u64
            } else {
                (1u64 << (sym - 1)) | d.direct(sym as u32 - 1)
            };
            let c = ((z >> 1) as i64) ^ -((z & 1) as i64);
            let delta = if second { prev_d.wrapping_add(c) } else { c };
            prev = prev.wrapping_add(delta);
            prev_d = delta;
            out.push(Some(prev));
        }
        ctx = sym;
    }
    out
}

/// `cargo test --release --test storage_model -- --ignored lattice_round_trip --nocapture`
#[test]
#[ignore]
fn lattice_round_trip() {
    use ndcluster::storage::codec::{decode_numbers, NumEncoder};
    let all = load();
    let mut bytes = 0usize;
    let mut points = 0usize;
    let mut encoded = Vec::new();
    let (mut paged_rc, mut paged_cur) = (0usize, 0usize);
    for s in &all {
        let words: Vec<u32> = s.points().map(|(_, w)| w.0).collect();
        let (_, _, ratio) = lattice_bits(&words);
        let lat = lattice_encode(&words, ratio);
        let dec = lattice_encode(&words, (0.0, 0.0));
        let (lat, ratio) = if dec.len() < lat.len() {
            (dec, (0.0, 0.0))
        } else {
            (lat, ratio)
        };
        // pages: today's cut points (640 encoded bytes), the range coder restarted per page
        let mut e = NumEncoder::default();
        let mut start = 0;
        for (i, &w) in words.iter().enumerate() {
            e.push(w);
            if e.len() >= 4096 || e.encoded_len() >= 640 || i + 1 == words.len() {
                let mut cur = Vec::new();
                e.finish_into(&mut cur);
                let page = &words[start..=i];
                let rc = [
                    lattice_encode(page, ratio).len(),
                    lattice_encode(page, (0.0, 0.0)).len(),
                ];
                paged_rc += 1 + cur.len().min(rc[0]).min(rc[1]);
                paged_cur += cur.len();
                e = NumEncoder::default();
                start = i + 1;
            }
        }
        let mut e = NumEncoder::default();
        for &w in &words {
            e.push(w);
        }
        let mut cur = Vec::new();
        e.finish_into(&mut cur);
        // per series the smaller of the two, one mode byte
        bytes += 1 + lat.len().min(cur.len());
        points += words.len();
        encoded.push((words, ratio, lat, cur));
    }
    let mut out = Vec::new();
    let t = std::time::Instant::now();
    for (words, ratio, lat, _) in &encoded {
        out.clear();
        lattice_decode(lat, words.len(), *ratio, &mut out);
        assert_eq!(&out, words, "lattice round trip");
    }
    let lat_s = t.elapsed().as_secs_f64();
    let t = std::time::Instant::now();
    let mut dec = Vec::new();
    for (words, _, _, cur) in &encoded {
        dec.clear();
        decode_numbers(cur, &mut 0, words.len(), &mut dec).expect("decode");
    }
    let cur_s = t.elapsed().as_secs_f64();
    eprintln!(
        "lattice + range coder, best of it and today's codec per series: {bytes} B, {:.4} B/pt",
        bytes as f64 / points as f64
    );
    eprintln!(
        "paged at today's 640-byte cuts, model restarted per page: range coder {:.4} B/pt, today's codec {:.4} B/pt (payload only)",
        paged_rc as f64 / points as f64,
        paged_cur as f64 / points as f64
    );
    eprintln!(
        "decode: range coder {:.1} M pts/s, today's codec {:.1} M pts/s (all series, one thread)",
        points as f64 / lat_s / 1e6,
        points as f64 / cur_s / 1e6
    );
}

// ---------------------------------------------------------------------------------------------
// "Store what was collected": on a real child's stream (66 s capture of a Netdata 1.37.1
// child, ../shared/protocol/captures/child-to-parent.raw), the cost of the collected integers
// plus each chart's collection clock, against the cost of the tier-0 words the parent computes
// from them (our `ChartState`, the code the golden tests check against a real parent).

fn proto_words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else { break };
        let mut w = String::new();
        if c == '"' || c == '\'' {
            chars.next();
            for ch in chars.by_ref() {
                if ch == c {
                    break;
                }
                w.push(ch);
            }
        } else {
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() {
                    break;
                }
                w.push(ch);
                chars.next();
            }
        }
        out.push(w);
    }
    out
}

/// `NDCLUSTER_CAPTURE=/work/shared/protocol/captures/child-to-parent.raw cargo test --release
/// --test storage_model -- --ignored collected --nocapture`
#[test]
#[ignore]
fn collected_vs_stored() {
    use ndcluster::collect::compute::{parse_set_value, strtoll0, ChartState, ComputedPoint};
    use ndcluster::model::{Algorithm, ChartMeta, DimMeta};
    let path = std::env::var("NDCLUSTER_CAPTURE")
        .unwrap_or_else(|_| "/work/shared/protocol/captures/child-to-parent.raw".into());
    let Ok(raw) = std::fs::read(&path) else {
        eprintln!("no capture at {path} (set NDCLUSTER_CAPTURE)");
        return;
    };
    let text = String::from_utf8_lossy(&raw);
    struct C {
        state: ChartState,
        words: Vec<Vec<u32>>,
        sets: Vec<Vec<Option<i64>>>,
        usec: Vec<i64>,
        pending: Vec<Option<i64>>,
        clock_bits: f64,
        initial: Option<ChartState>,
        now: i64,
    }
    enum Op {
        Begin(u64, i64),
        Set(usize, Option<i64>),
        End(i64),
    }
    let mut ops: Vec<(String, Op)> = Vec::new();
    let mut charts: BTreeMap<String, C> = BTreeMap::new();
    let mut cur: Option<String> = None;
    let mut now_us: i64 = 1_800_000_000_250_000;
    let mut pts: Vec<ComputedPoint> = Vec::new();
    // all charts' clocks in arrival order, each against the previous BEGIN of the stream
    let mut shared_clock = Model::new();
    let mut last_usec = U;
    let mut arrivals: Vec<(String, i64)> = Vec::new();
    for line in text.lines() {
        let w = proto_words(line);
        let arg = |i: usize| w.get(i).map(String::as_str).unwrap_or("");
        match arg(0) {
            "CHART" => {
                let id = arg(1).to_string();
                let meta = ChartMeta {
                    id: id.clone(),
                    name: id.clone(),
                    update_every: arg(9).parse().unwrap_or(1),
                    options: arg(10).to_string(),
                    ..Default::default()
                };
                charts.entry(id.clone()).or_insert_with(|| C {
                    state: ChartState::new(&meta),
                    words: Vec::new(),
                    sets: Vec::new(),
                    usec: Vec::new(),
                    pending: Vec::new(),
                    clock_bits: 0.0,
                    initial: None,
                    now: 0,
                });
                cur = Some(id);
            }
            "DIMENSION" => {
                let meta = DimMeta {
                    id: arg(1).into(),
                    name: arg(2).into(),
                    algorithm: Algorithm::parse(arg(3)),
                    multiplier: strtoll0(arg(4)),
                    divisor: strtoll0(arg(5)),
                    options: arg(6).into(),
                };
                let Some(c) = cur.as_ref().and_then(|id| charts.get_mut(id)) else {
                    continue;
                };
                if let Ok(i) = c.state.define_dimension(&meta) {
                    while c.words.len() <= i {
                        c.words.push(Vec::new());
                        c.sets.push(Vec::new());
                        c.pending.push(None);
                    }
                }
            }
            "BEGIN" => {
                let id = arg(1).to_string();
                let usec: u64 = arg(2).parse().unwrap_or(0);
                if let Some(c) = charts.get_mut(&id) {
                    // the parent's clock follows the child's (as after replication): only a
                    // chart's first collection reads the shared wall clock
                    let lc = c.state.last_collected_us();
                    let now = if lc > 0 { lc + usec as i64 } else { now_us };
                    now_us = now_us.max(now);
                    c.now = now;
                    if c.initial.is_none() {
                        c.initial = Some(c.state.clone());
                    }
                    ops.push((id.clone(), Op::Begin(usec, now)));
                    c.state.begin(usec, now);
                    c.usec.push(usec as i64);
                    let before = shared_clock.bits;
                    shared_clock.signed(usec as i64 - last_usec);
                    c.clock_bits += shared_clock.bits - before;
                    arrivals.push((id.clone(), usec as i64));
                    last_usec = usec as i64;
                    c.pending.iter_mut().for_each(|p| *p = None);
                }
                cur = Some(id);
            }
            "SET" => {
                let Some(c) = cur.as_ref().and_then(|id| charts.get_mut(id)) else {
                    continue;
                };
                if let Some(i) = c.state.dim_index(arg(1)) {
                    let v = parse_set_value(arg(3));
                    let _ = c.state.set(i, v);
                    if let Some(id) = &cur {
                        ops.push((id.clone(), Op::Set(i, v)));
                    }
                    if let Some(p) = c.pending.get_mut(i) {
                        *p = v;
                    }
                }
            }
            "END" => {
                let Some(c) = cur.as_ref().and_then(|id| charts.get_mut(id)) else {
                    continue;
                };
                pts.clear();
                c.state.end(c.now, &mut pts);
                if let Some(id) = &cur {
                    ops.push((id.clone(), Op::End(c.now)));
                }
                for p in &pts {
                    if let Some(col) = c.words.get_mut(p.dim) {
                        col.push(p.value.0);
                    }
                }
                for (i, p) in c.pending.iter().enumerate() {
                    c.sets[i].push(*p);
                }
            }
            _ => {}
        }
    }
    let (mut stored_pts, mut cur_bits, mut best_bits, mut coll_bits, mut clock_bits) =
        (0usize, 0.0, 0.0, 0.0, 0.0);
    let mut mixed_bits = 0.0;
    let mut chosen = std::collections::BTreeSet::new();
    let mut exact_bits = 0.0;
    let mut chosen_dims_bits = 0.0;
    let mut all_clocks_bits = 0.0;
    let mut by_algo = [(0usize, 0.0f64, 0.0f64); 3];
    for (id, c) in &charts {
        if c.usec.len() < 10 {
            continue;
        }
        // the chart clock: µs of each collection, coded as the offset from the nominal period
        let ue_us = i64::from(c.state.update_every()) * U;
        let mut a = Model::new();
        let mut b = Model::new();
        let mut prev = ue_us;
        for &u in &c.usec {
            a.signed(u - ue_us);
            b.signed(u - prev);
            prev = u;
        }
        clock_bits += a.bits.min(b.bits);
        let (mut chart_stored, mut chart_mixed) = (0.0, 0.0);
        for (i, col) in c.words.iter().enumerate() {
            let words: Vec<u32> = col
                .iter()
                .copied()
                .filter(|&w| w != StorageNumber::EMPTY.0)
                .collect();
            stored_pts += words.len();
            let mut e = ndcluster::storage::codec::NumEncoder::default();
            for &w in &words {
                e.push(w);
            }
            let mut buf = Vec::new();
            e.finish_into(&mut buf);
            let cb = buf.len() as f64 * 8.0;
            cur_bits += cb;
            best_bits += cb.min(h2_bits(&words)).min(lattice_bits(&words).0);
            // collected integers: deltas or deltas of deltas, whichever is smaller
            let mut d1 = Model::new();
            let mut d2 = Model::new();
            let (mut pv, mut pd) = (None::<i64>, 0i64);
            for v in &c.sets[i] {
                match v {
                    Some(v) => {
                        let d = pv.map_or(*v, |p| v.wrapping_sub(p));
                        d1.signed(d);
                        d2.signed(d.wrapping_sub(pd));
                        pv = Some(*v);
                        pd = d;
                    }
                    None => {
                        d1.escape(0.0);
                        d2.escape(0.0);
                    }
                }
            }
            let cb2 = d1.bits.min(d2.bits);
            coll_bits += cb2;
            let stored_best = cb.min(h2_bits(&words)).min(lattice_bits(&words).0);
            chart_stored += stored_best;
            chart_mixed += cb2.min(stored_best);
            let algo = c.state.dimension(i).map(|d| d.algorithm());
            let k = match algo {
                Some(Algorithm::Incremental) => 0,
                Some(Algorithm::Absolute) => 1,
                _ => 2,
            };
            by_algo[k].0 += words.len();
            by_algo[k].1 += stored_best;
            by_algo[k].2 += cb2;
        }
        mixed_bits += chart_stored.min(chart_mixed + c.clock_bits);
        if chart_mixed + c.clock_bits < chart_stored {
            chosen.insert(id.clone());
            exact_bits += chart_mixed;
            chosen_dims_bits += chart_mixed;
        } else {
            exact_bits += chart_stored;
        }
        all_clocks_bits += chart_mixed;
    }
    // replay speed: what reading collected values back costs (ChartState over the same ops)
    let index: BTreeMap<&str, usize> = charts
        .keys()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let flat: Vec<(usize, &Op)> = ops
        .iter()
        .filter_map(|(id, op)| Some((*index.get(id.as_str())?, op)))
        .collect();
    let mut best_ns = f64::INFINITY;
    let mut produced = 0usize;
    for _ in 0..5 {
        let mut states: Vec<Option<ChartState>> =
            charts.values().map(|c| c.initial.clone()).collect();
        produced = 0;
        let t = std::time::Instant::now();
        for &(i, op) in &flat {
            let Some(st) = states[i].as_mut() else {
                continue;
            };
            match op {
                Op::Begin(u, now) => st.begin(*u, *now),
                Op::Set(d, v) => {
                    let _ = st.set(*d, *v);
                }
                Op::End(now) => {
                    pts.clear();
                    st.end(*now, &mut pts);
                    produced += pts.len();
                }
            }
        }
        best_ns = best_ns.min(t.elapsed().as_secs_f64() * 1e9 / produced.max(1) as f64);
    }
    let bpp = |b: f64| b / 8.0 / stored_pts.max(1) as f64;
    eprintln!("{} charts, {stored_pts} stored points", charts.len());
    eprintln!(
        "replaying the collection computation: {produced} points, {best_ns:.1} ns/point ({:.0} M pts/s, best of 5)",
        1e3 / best_ns
    );
    eprintln!(
        "stored words, today's codec (one page per series) {:.4} B/pt",
        bpp(cur_bits)
    );
    eprintln!(
        "stored words, best per-series model (H2/lattice)  {:.4} B/pt",
        bpp(best_bits)
    );
    eprintln!(
        "collected integers + chart clocks                 {:.4} B/pt ({:.4} of it clocks)",
        bpp(coll_bits + clock_bits),
        bpp(clock_bits)
    );
    eprintln!(
        "collected integers + clocks against the previous chart's {:.4} B/pt ({:.4} clocks)",
        bpp(coll_bits + shared_clock.bits),
        bpp(shared_clock.bits)
    );
    eprintln!(
        "per chart stored words, or collected/stored per dimension + its clock {:.4} B/pt",
        bpp(mixed_bits)
    );
    // the clocks of the charts that chose collected values, each against the previous such chart
    let mut own_clock = Model::new();
    let mut last = U;
    for (id, u) in &arrivals {
        if chosen.contains(id) {
            own_clock.signed(u - last);
            last = *u;
        }
    }
    eprintln!(
        "  same, clocks only of the {} charts that use collected values, against each other  {:.4} B/pt",
        chosen.len(),
        bpp(exact_bits + own_clock.bits)
    );
    eprintln!(
        "  conservative: every chart's clock stored, each dimension the cheaper  {:.4} B/pt",
        bpp(all_clocks_bits + shared_clock.bits)
    );
    // Real round trip. Charts that use collected values: every dimension's collected integers,
    // the chart's clock (µs per collection, against the previous such chart in arrival order)
    // and `now` corrections, range coded; decoded, replayed from the chart's state before its
    // first collection and compared word for word. Other charts: their words, range coded
    // (lattice / decimal) or today's codec, whichever is smaller, decoded and compared.
    let mut rt_bytes = 0usize;
    let mut order = Model::new(); // which chart comes next, given the previous one (by index)
    let mut prev_idx = 0usize;
    let mut clock_vals = Vec::new();
    for (id, u) in &arrivals {
        if chosen.contains(id) {
            let i = index[id.as_str()];
            order.symbol((i.wrapping_sub(prev_idx).wrapping_add(32)).min(64));
            prev_idx = i;
            clock_vals.push(Some(*u));
        }
    }
    let clock_buf = ints_encode(&clock_vals, false);
    let mut parts = [0usize; 4]; // words of other charts, collected dims, clocks, now corrections
    parts[2] = clock_buf.len();
    assert_eq!(ints_decode(&clock_buf, clock_vals.len(), false), clock_vals);
    rt_bytes += clock_buf.len();
    let mut clocks_back = clock_vals.iter().flatten().copied();
    let mut per_chart_usec: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (id, _) in &arrivals {
        if chosen.contains(id) {
            per_chart_usec
                .entry(id.as_str())
                .or_default()
                .push(clocks_back.next().unwrap_or(0));
        }
    }
    let mut verified = 0usize;
    for (id, c) in &charts {
        if !chosen.contains(id) {
            for col in &c.words {
                let words: Vec<u32> = col
                    .iter()
                    .copied()
                    .filter(|&w| w != StorageNumber::EMPTY.0)
                    .collect();
                let (_, _, ratio) = lattice_bits(&words);
                let a = lattice_encode(&words, ratio);
                let b = lattice_encode(&words, (0.0, 0.0));
                let (buf, r) = if a.len() <= b.len() {
                    (a, ratio)
                } else {
                    (b, (0.0, 0.0))
                };
                let mut e = ndcluster::storage::codec::NumEncoder::default();
                for &w in &words {
                    e.push(w);
                }
                let mut today = Vec::new();
                e.finish_into(&mut today);
                let mut back = Vec::new();
                lattice_decode(&buf, words.len(), r, &mut back);
                assert_eq!(back, words, "{id}: words round trip");
                rt_bytes += 1 + buf.len().min(today.len());
                parts[0] += 1 + buf.len().min(today.len());
                verified += words.len();
            }
            continue;
        }
        let Some(init) = &c.initial else { continue };
        let usec = &per_chart_usec[id.as_str()];
        // `now` corrections against the trusted clock, computed by a replay on the encoder side
        let mut st = init.clone();
        let mut nows = Vec::new();
        let mut k = 0usize;
        for (oid, op) in &ops {
            if oid != id {
                continue;
            }
            match op {
                Op::Begin(u, now) => {
                    nows.push(Some(now - (st.last_collected_us() + *u as i64)));
                    st.begin(*u, *now);
                }
                Op::Set(d, v) => {
                    let _ = st.set(*d, *v);
                }
                Op::End(now) => {
                    pts.clear();
                    st.end(*now, &mut pts);
                    k += 1;
                }
            }
        }
        let now_buf = ints_encode(&nows, false);
        rt_bytes += now_buf.len();
        parts[3] += now_buf.len();
        let nows = ints_decode(&now_buf, nows.len(), false);
        let mut dims_back = Vec::new();
        for col in &c.sets {
            let a = ints_encode(col, false);
            let b = ints_encode(col, true);
            let (buf, second) = if a.len() <= b.len() {
                (a, false)
            } else {
                (b, true)
            };
            rt_bytes += 1 + buf.len();
            parts[1] += 1 + buf.len();
            dims_back.push(ints_decode(&buf, col.len(), second));
        }
        // decode side: replay from the decoded inputs only
        let mut st = init.clone();
        let mut got: Vec<Vec<u32>> = vec![Vec::new(); c.words.len()];
        for j in 0..k.min(usec.len()) {
            let u = usec[j];
            let now = st.last_collected_us() + u + nows[j].unwrap_or(0);
            st.begin(u as u64, now);
            for (d, col) in dims_back.iter().enumerate() {
                if let Some(v) = col[j] {
                    let _ = st.set(d, Some(v));
                }
            }
            pts.clear();
            st.end(now, &mut pts);
            for p in &pts {
                got[p.dim].push(p.value.0);
            }
        }
        for (d, col) in c.words.iter().enumerate() {
            assert_eq!(
                &got[d], col,
                "{id} dim {d}: replay of decoded collected values"
            );
            verified += col.iter().filter(|&&w| w != StorageNumber::EMPTY.0).count();
        }
    }
    eprintln!(
        "real round trip (every word decoded and compared, {verified} points): {:.4} B/pt + chart order {:.4} B/pt (estimate)",
        rt_bytes as f64 / stored_pts.max(1) as f64,
        bpp(order.bits)
    );
    eprintln!(
        "  bytes: other charts' words {}, collected dims {}, clocks {}, now corrections {}",
        parts[0], parts[1], parts[2], parts[3]
    );
    eprintln!(
        "  estimate of the same: other charts {:.0}, chosen charts' dims {:.0}, clocks {:.0}",
        (exact_bits - chosen_dims_bits) / 8.0,
        chosen_dims_bits / 8.0,
        own_clock.bits / 8.0
    );
    for (name, (n, st, co)) in ["incremental", "absolute", "percentage"]
        .iter()
        .zip(by_algo)
    {
        eprintln!(
            "  {name:12} {n:6} points: stored best {:.4} B/pt, collected {:.4} B/pt",
            st / 8.0 / n.max(1) as f64,
            co / 8.0 / n.max(1) as f64
        );
    }
}
