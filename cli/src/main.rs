use std::io::IsTerminal;

use clap::Parser;

fn main() {
    let cli = netdatactl::Cli::parse();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut err = std::io::stderr();
    let tty = std::io::stderr().is_terminal();
    match netdatactl::run(cli, &mut out, &mut err, tty) {
        Ok(()) => {}
        Err(e) if netdatactl::is_broken_pipe(&e) => std::process::exit(0),
        Err(e) => {
            drop(out);
            eprintln!("netdatactl: error: {e}");
            std::process::exit(e.exit_code());
        }
    }
}
