//! Man pages and shell completions, generated from the same clap definitions as the parser.
//! `cli/tests/cli_man.rs` regenerates them in memory and fails when `man/` differs
//! (`UPDATE_MAN=1 cargo test -p netdatactl --test cli_man` rewrites them).

use clap::CommandFactory;

use crate::Cli;

/// Every generated file: (path relative to the repository's `man/`, contents).
pub fn generated() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let cmd = Cli::command();
    files.push(("netdatactl.1".to_string(), render_page(cmd.clone(), true)));
    for sub in cmd.get_subcommands() {
        let name = format!("netdatactl-{}", sub.get_name());
        let page = sub.clone().name(name.clone()).display_name(name.clone()).bin_name(format!("netdatactl {}", sub.get_name()));
        files.push((format!("{name}.1"), render_page(page, false)));
    }
    for (shell, file) in [
        (clap_complete::Shell::Bash, "completions/netdatactl.bash"),
        (clap_complete::Shell::Zsh, "completions/_netdatactl"),
        (clap_complete::Shell::Fish, "completions/netdatactl.fish"),
    ] {
        let mut buf = Vec::new();
        let mut c = Cli::command();
        clap_complete::generate(shell, &mut c, "netdatactl", &mut buf);
        files.push((file.to_string(), buf));
    }
    files
}

fn render_page(cmd: clap::Command, top: bool) -> Vec<u8> {
    let man = clap_mangen::Man::new(cmd.clone()).source(format!("netdatactl {}", env!("CARGO_PKG_VERSION"))).manual("Netdata cluster");
    let mut buf = Vec::new();
    // render() emits every section, including after_help as an extra section; fall back to
    // nothing on error (only an io error into a Vec, which cannot happen).
    let _ = man.render(&mut buf);
    // after_help holds the exit codes; give its section the conventional name.
    let text = String::from_utf8_lossy(&buf).replace(".SH EXTRA\n", ".SH \"EXIT STATUS\"\n");
    let mut buf = text.into_bytes();
    if top && cmd.get_subcommands().next().is_some() {
        let mut see = String::from(".SH \"SEE ALSO\"\n");
        let names: Vec<String> = cmd.get_subcommands().map(|s| format!("\\fBnetdatactl\\-{}\\fR(1)", s.get_name())).collect();
        see.push_str(&names.join(", "));
        see.push_str(", \\fBnetdatad\\fR(8)\n");
        buf.extend_from_slice(see.as_bytes());
    }
    buf
}
