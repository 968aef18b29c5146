//! Tables (comfy-table), JSON and progress bars (indicatif, stderr, only on a terminal).

use std::io::Write;

use comfy_table::{presets, ContentArrangement, Table};

use crate::error::Result;

/// A table with a header row; see [`print_table`] for how it is drawn.
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_HORIZONTAL_ONLY)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().copied());
    t
}

/// Prints a table in plain ASCII (borders and a header rule, no row rules) so output is the
/// same on terminals, in files and in tests.
pub fn print_table(out: &mut dyn Write, mut t: Table) -> Result<()> {
    t.load_preset(presets::ASCII_BORDERS_ONLY_CONDENSED);
    writeln!(out, "{t}")?;
    Ok(())
}

pub fn print_json(out: &mut dyn Write, v: &impl serde::Serialize) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, v)?;
    writeln!(out)?;
    Ok(())
}

/// A byte progress bar on stderr when `tty`, hidden otherwise.
pub fn bytes_bar(tty: bool, total: u64) -> indicatif::ProgressBar {
    if !tty {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb
}

/// Human size (binary units).
pub fn human_bytes(n: u64) -> String {
    const U: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

/// Human duration from seconds (`3d4h`, `5m10s`).
pub fn human_secs(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "-".into();
    }
    let s = s as u64;
    let (d, h, m, sec) = (s / 86400, s % 86400 / 3600, s % 3600 / 60, s % 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else if m > 0 {
        format!("{m}m{sec}s")
    } else {
        format!("{sec}s")
    }
}
