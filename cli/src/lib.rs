//! `netdatactl`: the operator's side of a Netdata-compatible parent cluster.
//!
//! `main.rs` only parses arguments and maps errors to exit codes; everything runs here so
//! tests call [`run`] in-process. One module per subcommand (`cmd::*`), each with its clap
//! `Args` and a `run`.

pub mod cmd;
pub mod conf;
pub mod daemon;
pub mod error;
pub mod http;
pub mod man;
pub mod output;
pub mod snapshot;
pub mod streaming;

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use error::{exit_code, Error, Kind, Result};

/// Default `netdata.conf` of a parent.
pub const DEFAULT_CONFIG: &str = "/etc/netdata/netdata.conf";

/// Operate a cluster of Netdata-compatible parents: clone a parent, manage stream API keys,
/// quarantine a restored parent from its children, watch replication.
#[derive(Debug, Parser)]
#[command(name = "netdatactl", version, after_help = error::EXIT_CODES_HELP, propagate_version = true)]
pub struct Cli {
    /// The parent's netdata.conf (stream.conf is read beside it or from [directories] config).
    #[arg(long, short = 'c', global = true, value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,

    /// Print machine-readable JSON on stdout instead of tables.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Clone a parent's cache directory (local or from a running parent) with a retention preflight.
    Duplicate(cmd::duplicate::Args),
    /// List, add, enable and disable the stream API keys in stream.conf.
    Keys(cmd::keys::Args),
    /// Block children (but not sibling parents) while a restored parent catches up.
    Quarantine(cmd::quarantine::Args),
    /// Show every node against every parent: live, replicating, offline, missing.
    Status(cmd::status::Args),
}

/// Where a command writes: stdout for reports, stderr for notes and progress.
pub struct Ctx<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub json: bool,
    pub config: PathBuf,
    /// Whether stderr is a terminal (progress bars only then).
    pub tty: bool,
}

impl Ctx<'_> {
    /// A note on stderr (errors writing it are ignored: notes are best effort).
    pub fn note(&mut self, msg: impl std::fmt::Display) {
        let _ = writeln!(self.err, "{msg}");
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write, tty: bool) -> Result<()> {
    let mut ctx = Ctx { out, err, json: cli.json, config: cli.config, tty };
    let r = match cli.command {
        Command::Duplicate(a) => cmd::duplicate::run(&mut ctx, a),
        Command::Keys(a) => cmd::keys::run(&mut ctx, a),
        Command::Quarantine(a) => cmd::quarantine::run(&mut ctx, a),
        Command::Status(a) => cmd::status::run(&mut ctx, a),
    };
    ctx.out.flush()?;
    r
}

/// Parses `args` (including the program name) and runs; for tests.
pub fn run_args<I, S>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> Result<()>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(args).map_err(|e| Error::new(Kind::Usage, e.to_string()))?;
    run(cli, out, err, false)
}

/// Whether an error is a broken pipe on stdout (the reader went away: exit quietly).
pub fn is_broken_pipe(e: &Error) -> bool {
    e.inner.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<serde_json::Error>().and_then(|j| j.io_error_kind()) == Some(std::io::ErrorKind::BrokenPipe)
    })
}
