//! Netdata's INI dialect: reading, and the layout-preserving editor (byte identity).

use ndcluster::config::ini::{IniDocument, LineKind};
use ndcluster::config::{EditError, NetdataConf, StreamConf};
use ndcluster::testkit::XorShift64Star;

const FIXTURES: &[&str] = &[
    "tests/fixtures/config/stock-stream.conf",
    "tests/fixtures/config/generated-netdata-1.37.1.conf",
    "tests/fixtures/config/debian-netdata.conf",
    "tests/fixtures/config/lab-netdata.conf",
];

fn fixture(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Lines of `after` that are not in `before`, and vice versa (a multiset line diff).
fn changed_lines(before: &str, after: &str) -> (Vec<String>, Vec<String>) {
    let mut removed: Vec<String> = before.split_inclusive('\n').map(String::from).collect();
    let mut added = Vec::new();
    for l in after.split_inclusive('\n') {
        if let Some(i) = removed.iter().position(|r| r == l) {
            removed.remove(i);
        } else {
            added.push(l.to_string());
        }
    }
    (removed, added)
}

#[test]
fn every_fixture_round_trips_byte_for_byte() {
    for path in FIXTURES {
        let text = fixture(path);
        let doc = IniDocument::parse(&text, path);
        assert_eq!(doc.to_string(), text, "{path}");
        assert_eq!(doc.lines().len(), text.lines().count(), "{path}");
    }
}

#[test]
fn dialect_rules() {
    let text = "top = ignored\n[a]\n  # indented comment = x\n\tkey with spaces   =   value with # hash  \nnoequals\n = empty key\nK=1\nk=2\n[ spaced ]\nx=\n[a]\nk=3\r\n";
    let doc = IniDocument::parse(text, "t.conf");
    assert_eq!(doc.get("a", "key with spaces").map(|e| e.value), Some("value with # hash"));
    assert_eq!(doc.get("a", "# indented comment"), None);
    // case-sensitive keys, later value wins, sections merge
    assert_eq!(doc.get("a", "K").map(|e| e.value), Some("1"));
    let k = doc.get("a", "k").expect("k");
    assert_eq!((k.value, k.line), ("3", 12));
    // section names are not trimmed (Netdata's behaviour)
    assert_eq!(doc.get(" spaced ", "x").map(|e| e.value), Some(""));
    assert_eq!(doc.get("spaced", "x"), None);
    let kinds: Vec<&LineKind> = doc.lines().iter().map(|l| l.kind()).collect();
    assert!(matches!(kinds[0], LineKind::Ignored { .. }));
    assert!(matches!(kinds[2], LineKind::Comment));
    assert!(matches!(kinds[4], LineKind::Ignored { .. }));
    assert!(matches!(kinds[5], LineKind::Ignored { .. }));
    let w = doc.syntax_warnings();
    let lines: Vec<usize> = w.iter().map(|w| w.line).collect();
    assert!(lines.contains(&1) && lines.contains(&5) && lines.contains(&6), "{w:?}");
    // the repeated `k` (line 8) is reported, pointing at the later one
    assert!(w.iter().any(|w| w.line == 8 && w.message.contains("line 12")), "{w:?}");
    assert_eq!(w[0].to_string(), format!("t.conf:1: {}", w[0].message));
}

#[test]
fn setting_an_existing_key_changes_only_its_value_bytes() {
    let text = fixture("tests/fixtures/config/stock-stream.conf");
    let mut doc = IniDocument::parse(&text, "stream.conf");
    doc.set("stream", "timeout seconds", "120").expect("set");
    let out = doc.to_string();
    let (removed, added) = changed_lines(&text, &out);
    assert_eq!(removed, vec!["    timeout seconds = 60\n".to_string()]);
    assert_eq!(added, vec!["    timeout seconds = 120\n".to_string()]);
    assert_eq!(out.len(), text.len() + 1);
    // and it reads back
    let (conf, _) = StreamConf::parse_str(&out, "stream.conf").expect("parses");
    assert_eq!(conf.stream.timeout_secs, 120);
}

#[test]
fn empty_value_can_be_set_and_trailing_blanks_stay() {
    let text = "[stream]\n    destination =\n    api key =   \t\n";
    let mut doc = IniDocument::parse(text, "s");
    doc.set("stream", "destination", "10.0.0.1:19999").expect("set");
    doc.set("stream", "api key", "k").expect("set");
    assert_eq!(doc.to_string(), "[stream]\n    destination = 10.0.0.1:19999\n    api key = k  \t\n");
    assert_eq!(doc.get("stream", "api key").map(|e| e.value), Some("k"));
    assert_eq!(doc.get("stream", "destination").map(|e| e.value), Some("10.0.0.1:19999"));
    doc.set("stream", "api key", "").expect("set");
    assert_eq!(doc.to_string(), "[stream]\n    destination = 10.0.0.1:19999\n    api key =   \t\n");
}

#[test]
fn new_key_goes_after_its_commented_out_line_with_the_section_indentation() {
    let text = fixture("tests/fixtures/config/stock-stream.conf");
    let mut doc = IniDocument::parse(&text, "stream.conf");
    doc.set("stream", "enable compression", "no").expect("set");
    let out = doc.to_string();
    let (removed, added) = changed_lines(&text, &out);
    assert!(removed.is_empty());
    assert_eq!(added, vec!["    enable compression = no\n".to_string()]);
    let pos_comment = out.find("    #enable compression = yes\n").expect("comment kept");
    let pos_new = out.find("    enable compression = no\n").expect("inserted");
    assert_eq!(pos_new, pos_comment + "    #enable compression = yes\n".len());
}

#[test]
fn new_key_without_comment_goes_after_the_last_entry_of_the_section() {
    let text = "# head\n[a]\n\tx = 1\n\n\t# trailing comment\n[b]\n\ty = 2\n";
    let mut doc = IniDocument::parse(text, "t");
    doc.set("a", "z", "3").expect("set");
    assert_eq!(doc.to_string(), "# head\n[a]\n\tx = 1\n\tz = 3\n\n\t# trailing comment\n[b]\n\ty = 2\n");
    let mut doc = IniDocument::parse("[empty]\n[b]\n  y = 2\n", "t");
    doc.set("empty", "k", "v").expect("set");
    assert_eq!(doc.to_string(), "[empty]\n  k = v\n[b]\n  y = 2\n");
}

#[test]
fn adding_a_section_appends_it_after_a_blank_line() {
    let text = fixture("tests/fixtures/config/stock-stream.conf");
    let mut doc = IniDocument::parse(&text, "stream.conf");
    let key = "11111111-2222-3333-4444-555555555555";
    assert!(doc.add_section(key).expect("add"));
    assert!(!doc.add_section(key).expect("again"));
    doc.set(key, "type", "api").expect("set");
    doc.set(key, "enabled", "yes").expect("set");
    let out = doc.to_string();
    assert!(out.starts_with(&text), "the original bytes are a prefix");
    assert_eq!(&out[text.len()..], format!("\n[{key}]\n    type = api\n    enabled = yes\n"));
    let (conf, _) = StreamConf::parse_str(&out, "stream.conf").expect("parses");
    assert_eq!(conf.section(key).and_then(|s| s.enabled), Some(true));
}

#[test]
fn removing_a_key_removes_every_line_of_it_and_nothing_else() {
    let text = "[a]\n  k = 1\n  # k = 0\n  j = 2\n  k = 3\n[b]\n  k = 4\n";
    let mut doc = IniDocument::parse(text, "t");
    assert_eq!(doc.remove_key("a", "k"), 2);
    assert_eq!(doc.to_string(), "[a]\n  # k = 0\n  j = 2\n[b]\n  k = 4\n");
    assert_eq!(doc.remove_key("a", "k"), 0);
    assert_eq!(doc.get("b", "k").map(|e| e.line), Some(5));
}

#[test]
fn crlf_files_and_missing_final_newline() {
    let text = "[a]\r\n  x = 1\r\n  y = 2";
    let mut doc = IniDocument::parse(text, "t");
    assert_eq!(doc.to_string(), text);
    doc.set("a", "y", "3").expect("set");
    assert_eq!(doc.to_string(), "[a]\r\n  x = 1\r\n  y = 3");
    doc.set("a", "z", "4").expect("set");
    assert_eq!(doc.to_string(), "[a]\r\n  x = 1\r\n  y = 3\r\n  z = 4\r\n");
    doc.set("new", "k", "v").expect("set");
    assert_eq!(doc.to_string(), "[a]\r\n  x = 1\r\n  y = 3\r\n  z = 4\r\n\r\n[new]\r\n  k = v\r\n");
}

#[test]
fn edits_that_would_break_the_file_are_refused() {
    let mut doc = IniDocument::parse("[a]\n", "t");
    assert!(matches!(doc.set("a", "k", "two\nlines"), Err(EditError::BadValue(_))));
    assert!(matches!(doc.set("a", "k=x", "v"), Err(EditError::BadKey(_))));
    assert!(matches!(doc.set("a", "#k", "v"), Err(EditError::BadKey(_))));
    assert!(matches!(doc.set("a", " k", "v"), Err(EditError::BadKey(_))));
    assert!(matches!(doc.set("a]", "k", "v"), Err(EditError::BadSection(_))));
    assert!(matches!(doc.add_section(""), Err(EditError::BadSection(_))));
    assert_eq!(doc.to_string(), "[a]\n");
}

#[test]
fn write_atomic_keeps_bytes_and_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("stream.conf");
    let text = fixture("tests/fixtures/config/stock-stream.conf");
    std::fs::write(&path, &text).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let mut doc = IniDocument::load(&path).expect("load");
    doc.write_atomic(&path).expect("write");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
    doc.set("stream", "enabled", "yes").expect("set");
    doc.write_atomic(&path).expect("write");
    let back = std::fs::read_to_string(&path).expect("read");
    assert_eq!(back, text.replacen("    enabled = no\n", "    enabled = yes\n", 1));
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").collect();
    assert_eq!(leftovers.len(), 1, "no temp file left behind");
}

#[test]
fn random_bytes_never_panic_and_round_trip() {
    let mut rng = XorShift64Star::new(0x9E37_79B9_7F4A_7C15);
    // Bytes biased towards the dialect's syntax so the parsers see deep paths.
    let alphabet: &[u8] = b"[]=#%:!*\\ \t\r\n\n\nabcdefKMGiBdhmsoy0123456789.-_|,^SSL";
    let keys = [
        "[db]\n",
        "[stream]\n",
        "[web]\n",
        "[global]\n",
        "[11111111-2222-3333-4444-555555555555]\n",
        "storage tiers = ",
        "bind to = ",
        "dbengine tier 1 retention size = ",
        "destination = ",
        "dbengine tier 0 retention time = ",
        "allow from = ",
        "mode = ",
        "type = ",
        "enabled = ",
    ];
    for _ in 0..3000 {
        let len = (rng.next_u64() % 300) as usize;
        let mut bytes = Vec::with_capacity(len);
        while bytes.len() < len {
            let r = rng.next_u64();
            match r % 4 {
                0 => bytes.extend_from_slice(keys[(r >> 8) as usize % keys.len()].as_bytes()),
                1 => bytes.push((r >> 8) as u8),
                _ => bytes.push(alphabet[(r >> 8) as usize % alphabet.len()]),
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        let doc = IniDocument::parse(&text, "fuzz.conf");
        assert_eq!(doc.to_string(), text);
        let _ = doc.syntax_warnings();
        let _ = NetdataConf::parse_str(&text, "fuzz.conf");
        let _ = StreamConf::parse_str(&text, "fuzz.conf");
        let mut doc = doc;
        let _ = doc.set("db", "mode", "ram");
        let _ = doc.set("x", "y", "z");
        let _ = doc.remove_key("stream", "enabled");
        let again = IniDocument::parse(&doc.to_string(), "fuzz.conf");
        assert_eq!(again.get("db", "mode").map(|e| e.value), Some("ram"));
        assert_eq!(again.get("x", "y").map(|e| e.value), Some("z"));
        assert_eq!(again.get("stream", "enabled"), None);
    }
}
