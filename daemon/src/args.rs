//! Command-line arguments of `netdatad`, shared by the binary and the man page generator.

use std::path::PathBuf;

use clap::Parser;

/// Netdata-compatible parent: collects this host, receives and re-sends Netdata streams,
/// keeps tiered storage and serves Netdata's HTTP API.
#[derive(Parser, Debug)]
#[command(
    name = "netdatad",
    version,
    about,
    long_about = "Netdata-compatible parent: collects this host, receives and re-sends Netdata 1.37 streams \
(real Netdata agents can be its children and its parents), keeps tiered storage and serves Netdata's HTTP API \
and streams on one port (default 127.0.0.1:19999).",
    after_help = "Signals: SIGTERM/SIGINT stop accepting, flush and exit 0; SIGHUP re-reads stream.conf \
(streams whose API key or machine GUID is no longer allowed are dropped).\n\
Environment: NETDATAD_LOG sets the log level or filter (overridden by --log-level).\n\
Files: netdata.conf (given with -c) and stream.conf beside it or in [directories] config; \
[directories] cache holds the data (dbengine/) and netdatad.pid; [directories] lib holds \
registry/netdata.public.unique.id (the machine GUID)."
)]
pub struct Args {
    /// netdata.conf to read; stream.conf is read from beside it (or `[directories] config`).
    /// Without it: built-in defaults, listening on 127.0.0.1:19999, data under a per-user
    /// directory printed at start.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log level (error, warn, info, debug, trace) or a tracing filter; overrides NETDATAD_LOG.
    #[arg(long = "log-level", value_name = "LEVEL")]
    pub log_level: Option<String>,
}

/// The man page `netdatad(8)`: options from the clap definition, then a `NETDATA.CONF AND
/// STREAM.CONF` section listing every key the daemon reads (from the config key catalog).
pub fn man_page() -> Vec<u8> {
    use clap::CommandFactory;
    let man = clap_mangen::Man::new(Args::command()).section("8").source(format!("netdatad {}", env!("CARGO_PKG_VERSION"))).manual("Netdata cluster");
    let mut buf = Vec::new();
    let _ = man.render(&mut buf);
    let mut text = String::from_utf8_lossy(&buf).replace(".SH EXTRA\n", ".SH \"SIGNALS, ENVIRONMENT, FILES\"\n");
    text.push_str(".SH \"NETDATA.CONF AND STREAM.CONF\"\n");
    text.push_str("Every key read, with its default. Unknown keys are warned about with file:line; bad values stop the start with file, line, key, value and what is accepted. In keys, N is a tier number (0\\-4); API_KEY and MACHINE_GUID stand for sections named by an API key or a machine GUID.\n");
    let mut current = String::new();
    for k in ndcluster::config::known_keys() {
        let file = k.file.file_name();
        let head = format!("{file}: [{}]", k.section);
        if head != current {
            text.push_str(&format!(".SS \"{}\"\n", esc(&head)));
            current = head;
        }
        text.push_str(".TP\n");
        let default = if k.default.is_empty() { "(empty)".to_string() } else { k.default.to_string() };
        text.push_str(&format!("\\fB{}\\fR = {}\n", esc(k.key), esc(&default)));
        let mut desc = k.description.to_string();
        if let Some(a) = k.alias_of {
            desc.push_str(&format!(" (old spelling of `{a}`)"));
        }
        text.push_str(&esc(&desc));
        text.push('\n');
    }
    text.into_bytes()
}

fn esc(s: &str) -> String {
    let s = s.replace('\\', "\\\\").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}
