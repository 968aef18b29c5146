//! Stream parser throughput on the capture corpus (lines/s). Goal: ≥ 20 M lines/s per core
//! (Netdata 1.37.1's C parser: 11.7 M). Results: `bench/results/proto.md`.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ndcluster::proto::compress::{Compressor, Decompressor};
use ndcluster::proto::request::StreamRequest;
use ndcluster::proto::{Command, LineReader, MAX_LINE_LEN};

/// The full child → parent captures when present, else the committed fixtures.
fn corpus() -> Vec<u8> {
    let shared = Path::new("/work/shared/protocol/captures");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proto");
    let files: Vec<_> = if shared.is_dir() {
        ["child-to-parent.raw", "child-to-parent-after-link-cut.raw"].iter().map(|f| shared.join(f)).collect()
    } else {
        ["c2p-head.raw", "c2p-replication.raw"].iter().map(|f| fixtures.join(f)).collect()
    };
    let mut all = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let body = match StreamRequest::parse(&bytes) {
            Ok(Some((_, used))) => &bytes[used..],
            _ => &bytes[..],
        };
        all.extend_from_slice(body);
    }
    all
}

/// On-CPU time of this thread in ns (`/proc/thread-self/schedstat`, first field), so the rate
/// can be reported per core even while other processes share the machine.
fn on_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Parses the corpus repeatedly for about `secs` of wall time; prints lines/s per on-CPU second
/// and per wall second.
fn cpu_time_rate(lines: &[&[u8]], data: &[u8], secs: f64) {
    let (Some(c0), t0) = (on_cpu_ns(), std::time::Instant::now()) else { return };
    let mut total = 0u64;
    let mut ok = 0usize;
    while t0.elapsed().as_secs_f64() < secs {
        for l in lines {
            ok += Command::parse(black_box(l)).is_ok() as usize;
        }
        total += lines.len() as u64;
    }
    let wall = t0.elapsed().as_secs_f64();
    let Some(c1) = on_cpu_ns() else { return };
    let cpu = (c1 - c0) as f64 / 1e9;
    eprintln!(
        "parse_lines on-CPU rate: {:.1} M lines/s per core ({} lines, {:.2} s on CPU, {:.2} s wall, wall rate {:.1} M/s, {} ok)",
        total as f64 / cpu / 1e6,
        total,
        cpu,
        wall,
        total as f64 / wall / 1e6,
        ok
    );
    // the same with the line framer in front (what a receiver loop does)
    let (Some(c0), t0) = (on_cpu_ns(), std::time::Instant::now()) else { return };
    let mut total = 0u64;
    while t0.elapsed().as_secs_f64() < secs {
        let mut r = LineReader::new(MAX_LINE_LEN);
        for chunk in data.chunks(64 * 1024) {
            let _ = r.feed(black_box(chunk));
            while let Some(Ok(line)) = r.next_line() {
                total += Command::parse(line).is_ok() as u64;
            }
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let Some(c1) = on_cpu_ns() else { return };
    let cpu = (c1 - c0) as f64 / 1e9;
    eprintln!(
        "frame_and_parse on-CPU rate: {:.1} M lines/s per core ({:.2} s on CPU, {:.2} s wall)",
        total as f64 / cpu / 1e6,
        cpu,
        wall
    );
}

fn bench(c: &mut Criterion) {
    let data = corpus();
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    let n = lines.len() as u64;
    eprintln!("corpus: {} lines, {} bytes", n, data.len());
    cpu_time_rate(&lines, &data, 5.0);

    let mut g = c.benchmark_group("proto");
    g.throughput(Throughput::Elements(n));
    g.bench_function("parse_lines", |b| {
        b.iter(|| {
            let mut ok = 0usize;
            for l in &lines {
                if let Ok(cmd) = Command::parse(black_box(l)) {
                    ok += matches!(cmd, Command::Set(_)) as usize;
                }
            }
            ok
        })
    });
    g.bench_function("frame_and_parse", |b| {
        b.iter(|| {
            let mut r = LineReader::new(MAX_LINE_LEN);
            let mut ok = 0usize;
            for chunk in data.chunks(64 * 1024) {
                let _ = r.feed(black_box(chunk));
                while let Some(Ok(line)) = r.next_line() {
                    ok += Command::parse(line).is_ok() as usize;
                }
            }
            ok
        })
    });
    let mut wire = Vec::new();
    let mut comp = Compressor::new(true);
    for block in data.chunks(16 * 1024) {
        let _ = comp.compress(block, &mut wire);
    }
    g.bench_function("decompress_frame_and_parse", |b| {
        b.iter(|| {
            let mut r = LineReader::new(MAX_LINE_LEN);
            r.enable_compression();
            let mut ok = 0usize;
            for chunk in wire.chunks(64 * 1024) {
                let _ = r.feed(black_box(chunk));
                while let Some(Ok(line)) = r.next_line() {
                    ok += Command::parse(line).is_ok() as usize;
                }
            }
            ok
        })
    });
    g.finish();

    // per-keyword cost, to see where the time goes
    for kw in ["SET", "BEGIN", "RSET", "RBEGIN", "CHART"] {
        let prefix = format!("{kw} ");
        let some: Vec<&[u8]> = lines.iter().copied().filter(|l| l.starts_with(prefix.as_bytes())).collect();
        let mut g = c.benchmark_group("proto_keyword");
        g.throughput(Throughput::Elements(some.len() as u64));
        g.bench_function(kw, |b| {
            b.iter(|| some.iter().filter(|l| Command::parse(black_box(l)).is_ok()).count())
        });
        g.finish();
    }

    // a replication reply as the issue-5 benchmark child (bench/replgen) sends it: per second
    // `RBEGIN '' s e now` and one `RSET "<dim>" %0.7f ""` per dimension (random walk)
    {
        let mut reply = Vec::new();
        let mut rng = ndcluster::testkit::XorShift64::new(0x9E37_79B9_7F4A_7C15);
        let mut v = [0f64; 10];
        for t in 0..2000u64 {
            reply.extend_from_slice(format!("RBEGIN '' {} {} {}\n", 1_700_000_000 + t, 1_700_000_001 + t, 1_700_003_600).as_bytes());
            for (d, val) in v.iter_mut().enumerate() {
                let x = rng.next_u64();
                *val += (x % 2001) as f64 / 1000.0 - 1.0;
                reply.extend_from_slice(format!("RSET \"dim{d}\" {val:.7} \"\"\n").as_bytes());
            }
        }
        let lines: Vec<&[u8]> = reply.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
        let mut g = c.benchmark_group("proto_replication");
        g.throughput(Throughput::Elements(lines.len() as u64));
        g.bench_function("rbegin_rset_lines", |b| {
            b.iter(|| lines.iter().filter(|l| Command::parse(black_box(l)).is_ok()).count())
        });
        g.finish();
    }

    let mut g = c.benchmark_group("proto_bytes");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("lz4_decode", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(data.len());
            let _ = Decompressor::new().decode(black_box(&wire), &mut out);
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
