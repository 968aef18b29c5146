//! `netdatad`: thin binary — parse arguments, set up logging, run the daemon library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Netdata-compatible parent: collects this host, receives and re-sends Netdata streams,
/// keeps tiered storage and serves Netdata's HTTP API.
#[derive(Parser, Debug)]
#[command(name = "netdatad", version, about, long_about = None)]
struct Args {
    /// netdata.conf to read; stream.conf is read from beside it (or `[directories] config`).
    /// Without it, built-in defaults: 127.0.0.1:19999, data under a per-user directory.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log level (error, warn, info, debug, trace) or a tracing filter; overrides NETDATAD_LOG.
    #[arg(long = "log-level", value_name = "LEVEL")]
    log_level: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    netdatad::logging::init(args.log_level.as_deref());
    match netdatad::run(netdatad::Options { config: args.config }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netdatad: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
