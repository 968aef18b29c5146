//! `man/` and `man/completions/` are generated from the clap definitions; this test fails when
//! the committed files drift. Regenerate with `UPDATE_MAN=1 cargo test -p netdatactl --test cli_man`.

use std::path::PathBuf;

#[test]
fn man_pages_and_completions_match_the_clap_definitions() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("man");
    let update = std::env::var_os("UPDATE_MAN").is_some();
    let mut stale = Vec::new();
    let files = netdatactl::man::generated();
    assert!(files.len() >= 8, "expected pages for every subcommand and three shells");
    for (rel, content) in files {
        let path = root.join(&rel);
        if update {
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, &content).expect("write");
            continue;
        }
        match std::fs::read(&path) {
            Ok(old) if old == content => {}
            _ => stale.push(rel),
        }
    }
    assert!(stale.is_empty(), "stale generated files {stale:?}: run UPDATE_MAN=1 cargo test -p netdatactl --test cli_man");
}

#[test]
fn man_page_documents_exit_codes() {
    let files = netdatactl::man::generated();
    let top = files.iter().find(|(n, _)| n == "netdatactl.1").expect("top page");
    let text = String::from_utf8_lossy(&top.1);
    assert!(text.contains("Exit codes"), "{text}");
    assert!(text.contains("not in sync before the timeout"));
}
