//! `netdatad`: thin binary — parse arguments, set up logging, run the daemon library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    ndcluster::storage::mmap::limit_malloc_arenas(1);
    let args = netdatad::args::Args::parse();
    netdatad::logging::init(args.log_level.as_deref());
    match netdatad::run(netdatad::Options { config: args.config }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netdatad: error: {e:#}");
            ExitCode::from(1)
        }
    }
}
