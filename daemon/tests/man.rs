//! `man/netdatad.8` is generated from the clap definition and the config key catalog; this
//! fails when the committed page drifts. Regenerate: `UPDATE_MAN=1 cargo test -p netdatad --test man`.

#[test]
fn man_page_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../man/netdatad.8");
    let page = netdatad::args::man_page();
    if std::env::var_os("UPDATE_MAN").is_some() {
        std::fs::write(&path, &page).expect("write man page");
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(committed == page, "man/netdatad.8 is out of date; run UPDATE_MAN=1 cargo test -p netdatad --test man");
    let text = String::from_utf8_lossy(&page);
    for key in ["storage tiers", "dbengine tier N retention size", "bind to", "api key", "seconds to replicate"] {
        assert!(text.contains(&key.replace('-', "\\-")), "man page lacks key {key}");
    }
}
