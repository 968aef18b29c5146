//! Adapter over Netdata's INI files (`netdata.conf`, `stream.conf`) for the CLI.
//!
//! This is a small, layout-preserving line model: reading keeps every byte, and edits change
//! only the lines they must (replace a value in place keeping the indentation and the spacing
//! around `=`, or insert one line). The core crate's `ndcluster::config` is the typed model the
//! daemon uses; the CLI only needs a handful of keys and byte-exact edits, which live here so
//! the rest of the CLI does not depend on that API's shape.
//!
//! **Invariant**: `Doc::parse(text).to_string() == text` for any input, and an edit changes at
//! most the lines it names.

use std::path::{Path, PathBuf};

use crate::error::{Kind, Result, ResultExt};

/// Netdata's default config directory and cache directory.
pub const DEFAULT_CACHE_DIR: &str = "/var/cache/netdata";
pub const DEFAULT_LIB_DIR: &str = "/var/lib/netdata";

#[derive(Debug, Clone)]
struct Line {
    /// The full line including its terminator (`\n`, `\r\n` or none at EOF).
    text: String,
}

impl Line {
    fn body(&self) -> &str {
        self.text.trim_end_matches(['\n', '\r'])
    }
    fn ending(&self) -> &str {
        &self.text[self.body().len()..]
    }
}

/// What a line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineKind {
    Blank,
    Comment(String),
    Section(String),
    KeyValue { key: String, value: String },
    Other,
}

fn classify(body: &str) -> LineKind {
    let t = body.trim();
    if t.is_empty() {
        LineKind::Blank
    } else if let Some(c) = t.strip_prefix('#').or_else(|| t.strip_prefix(';')) {
        LineKind::Comment(c.trim().to_string())
    } else if t.starts_with('[') && t.ends_with(']') && t.len() >= 2 {
        LineKind::Section(t[1..t.len() - 1].trim().to_string())
    } else if let Some((k, v)) = t.split_once('=') {
        LineKind::KeyValue { key: k.trim().to_string(), value: v.trim().to_string() }
    } else {
        LineKind::Other
    }
}

/// One section as [`Doc::section_index`] sees it.
#[derive(Debug, Clone, Default)]
pub struct SectionView {
    pub name: String,
    pub comments_above: Vec<String>,
    pub keys: std::collections::HashMap<String, String>,
}

/// A parsed INI file that can be written back byte for byte.
#[derive(Debug, Clone, Default)]
pub struct Doc {
    lines: Vec<Line>,
}

impl Doc {
    pub fn parse(text: &str) -> Self {
        let mut lines = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let end = rest.find('\n').map(|i| i + 1).unwrap_or(rest.len());
            lines.push(Line { text: rest[..end].to_string() });
            rest = &rest[end..];
        }
        Self { lines }
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).kind(Kind::Config, format!("reading {}", path.display()))?;
        Ok(Self::parse(&text))
    }

    /// Writes the file atomically (temp file in the same directory, fsync, rename), keeping
    /// the original's permissions.
    pub fn save(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension("netdatactl.tmp");
        std::fs::write(&tmp, self.to_string()).kind(Kind::Other, format!("writing {}", tmp.display()))?;
        match std::fs::metadata(path) {
            Ok(meta) => {
                let _ = std::fs::set_permissions(&tmp, meta.permissions());
            }
            Err(_) => {
                // A new file may hold API keys: readable by its owner only.
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600));
            }
        }
        std::fs::File::open(&tmp).and_then(|f| f.sync_all()).kind(Kind::Other, format!("syncing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).kind(Kind::Other, format!("renaming {} to {}", tmp.display(), path.display()))?;
        Ok(())
    }

    pub fn line_count(&self) -> usize {
        self.lines.len()
    }

    pub fn kind_of(&self, idx: usize) -> LineKind {
        self.lines.get(idx).map(|l| classify(l.body())).unwrap_or(LineKind::Other)
    }

    /// Section names in file order (repeated sections appear once).
    pub fn sections(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for l in &self.lines {
            if let LineKind::Section(s) = classify(l.body()) {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
        out
    }

    /// Every section in one pass: name (first occurrence order), the comment lines directly
    /// above its first header, and its keys (later occurrences win, as in Netdata).
    pub fn section_index(&self) -> Vec<SectionView> {
        let mut out: Vec<SectionView> = Vec::new();
        let mut pos: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let mut cur: Option<usize> = None;
        let mut comments: Vec<String> = Vec::new();
        for l in &self.lines {
            match classify(l.body()) {
                LineKind::Section(s) => {
                    let idx = *pos.entry(s.clone()).or_insert_with(|| {
                        out.push(SectionView { name: s.clone(), comments_above: std::mem::take(&mut comments), keys: Default::default() });
                        out.len() - 1
                    });
                    comments.clear();
                    cur = Some(idx);
                }
                LineKind::Comment(c) => comments.push(c),
                LineKind::KeyValue { key, value } => {
                    comments.clear();
                    if let Some(i) = cur {
                        out[i].keys.insert(key, value);
                    }
                }
                _ => comments.clear(),
            }
        }
        out
    }

    /// Index of the first header line of `section`.
    pub fn section_header(&self, section: &str) -> Option<usize> {
        self.lines.iter().position(|l| classify(l.body()) == LineKind::Section(section.to_string()))
    }

    /// Line index of `key` in `section` (the last occurrence wins, as in Netdata).
    fn find_key(&self, section: &str, key: &str) -> Option<usize> {
        let mut cur: Option<String> = None;
        let mut found = None;
        for (i, l) in self.lines.iter().enumerate() {
            match classify(l.body()) {
                LineKind::Section(s) => cur = Some(s),
                LineKind::KeyValue { key: k, .. } if cur.as_deref() == Some(section) && k == key => found = Some(i),
                _ => {}
            }
        }
        found
    }

    pub fn get(&self, section: &str, key: &str) -> Option<String> {
        let i = self.find_key(section, key)?;
        match classify(self.lines[i].body()) {
            LineKind::KeyValue { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Comment lines directly above the section header (closest last).
    pub fn comments_above(&self, section: &str) -> Vec<String> {
        let Some(h) = self.section_header(section) else { return Vec::new() };
        let mut out = Vec::new();
        let mut i = h;
        while i > 0 {
            i -= 1;
            match classify(self.lines[i].body()) {
                LineKind::Comment(c) => out.push(c),
                _ => break,
            }
        }
        out.reverse();
        out
    }

    /// Sets `key = value` in `section`. An existing key line gets its value replaced in place
    /// (indentation, spacing around `=` and line ending kept); a missing key is inserted after
    /// the section's last key line (or its header), indented like its siblings; a missing
    /// section is appended at the end. Returns whether the text changed.
    pub fn set(&mut self, section: &str, key: &str, value: &str) -> bool {
        if let Some(i) = self.find_key(section, key) {
            let body = self.lines[i].body().to_string();
            let ending = self.lines[i].ending().to_string();
            let Some(eq) = body.find('=') else { return false };
            let after = &body[eq + 1..];
            let lead_ws: String = after.chars().take_while(|c| c.is_whitespace()).collect();
            let new_body = format!("{}={}{}", &body[..eq], if lead_ws.is_empty() { " " } else { &lead_ws }, value);
            // Trailing spaces of the old value are dropped; nothing else changes.
            if body[eq + 1..].trim() == value {
                return false;
            }
            self.lines[i].text = format!("{new_body}{ending}");
            return true;
        }
        let ending = self.dominant_ending();
        if let Some(h) = self.section_header(section) {
            // Find the end of this section block: last key line before the next header.
            let mut last_kv = h;
            let mut indent = String::from("\t");
            let mut j = h + 1;
            while j < self.lines.len() {
                match classify(self.lines[j].body()) {
                    LineKind::Section(_) => break,
                    LineKind::KeyValue { .. } => {
                        last_kv = j;
                        indent = self.lines[j].body().chars().take_while(|c| c.is_whitespace()).collect();
                    }
                    _ => {}
                }
                j += 1;
            }
            // The line we insert after must end with a newline.
            if self.lines[last_kv].ending().is_empty() {
                self.lines[last_kv].text.push_str(&ending);
            }
            self.lines.insert(last_kv + 1, Line { text: format!("{indent}{key} = {value}{ending}") });
            true
        } else {
            self.append_section(&[], section, &[(key, value)]);
            true
        }
    }

    fn dominant_ending(&self) -> String {
        if self.lines.iter().any(|l| l.ending() == "\r\n") {
            "\r\n".into()
        } else {
            "\n".into()
        }
    }

    /// Appends a new section at the end of the file: a blank separator line, the comment lines,
    /// the header and the keys.
    pub fn append_section(&mut self, comments: &[String], section: &str, keys: &[(&str, &str)]) {
        let e = self.dominant_ending();
        if let Some(last) = self.lines.last_mut() {
            if last.ending().is_empty() {
                last.text.push_str(&e);
            }
        }
        if !self.lines.is_empty() {
            self.lines.push(Line { text: e.clone() });
        }
        for c in comments {
            self.lines.push(Line { text: format!("# {c}{e}") });
        }
        self.lines.push(Line { text: format!("[{section}]{e}") });
        for (k, v) in keys {
            self.lines.push(Line { text: format!("\t{k} = {v}{e}") });
        }
    }
}

impl std::fmt::Display for Doc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for l in &self.lines {
            f.write_str(&l.text)?;
        }
        Ok(())
    }
}

/// Netdata's boolean spelling.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" | "auto" => Some(true),
        "no" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// The parent's configuration as the CLI needs it: where things are.
#[derive(Debug, Clone)]
pub struct Paths {
    pub netdata_conf: PathBuf,
    pub doc: Doc,
    pub config_dir: PathBuf,
    pub cache_dir: PathBuf,
    pub lib_dir: PathBuf,
}

impl Paths {
    /// Reads `netdata.conf`. A missing file is a config error naming the path.
    pub fn load(netdata_conf: &Path) -> Result<Self> {
        let doc = Doc::load(netdata_conf)?;
        Ok(Self::from_doc(netdata_conf, doc))
    }

    /// Like [`Paths::load`] but a missing file means Netdata's defaults.
    pub fn load_or_default(netdata_conf: &Path) -> Result<Self> {
        if netdata_conf.exists() {
            Self::load(netdata_conf)
        } else {
            Ok(Self::from_doc(netdata_conf, Doc::default()))
        }
    }

    fn from_doc(netdata_conf: &Path, doc: Doc) -> Self {
        let here = netdata_conf.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        let config_dir = doc.get("directories", "config").map(PathBuf::from).unwrap_or(here);
        let cache_dir = doc.get("directories", "cache").map(PathBuf::from).unwrap_or_else(|| DEFAULT_CACHE_DIR.into());
        let lib_dir = doc.get("directories", "lib").map(PathBuf::from).unwrap_or_else(|| DEFAULT_LIB_DIR.into());
        Self { netdata_conf: netdata_conf.to_path_buf(), doc, config_dir, cache_dir, lib_dir }
    }

    pub fn stream_conf(&self) -> PathBuf {
        self.config_dir.join("stream.conf")
    }

    /// `http://HOST:PORT` of this parent's API from `[web] bind to` (first entry; a wildcard
    /// address becomes 127.0.0.1). Default `127.0.0.1:19999`.
    pub fn local_url(&self) -> String {
        let bind = self.doc.get("web", "bind to").unwrap_or_default();
        let first = bind.split_whitespace().next().unwrap_or("").to_string();
        let (host, port) = split_host_port(&first, 19999);
        let host = match host.as_str() {
            "" | "*" | "0.0.0.0" | "::" | "[::]" | "localhost" => "127.0.0.1".to_string(),
            h => h.to_string(),
        };
        format!("http://{host}:{port}")
    }
}

/// Splits Netdata's `[tcp:]HOST[:PORT][:SSL]` / `[IPv6]:PORT` forms.
pub fn split_host_port(s: &str, default_port: u16) -> (String, u16) {
    let s = s.strip_prefix("tcp:").unwrap_or(s);
    let s = s.split('=').next().unwrap_or(s); // `bind to = IP:PORT=dashboard|streaming`
    let s = s.strip_suffix(":SSL").unwrap_or(s);
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((h, p)) = rest.split_once(']') {
            let port = p.strip_prefix(':').and_then(|p| p.parse().ok()).unwrap_or(default_port);
            return (format!("[{h}]"), port);
        }
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h.to_string(), p.parse().unwrap_or(default_port)),
        _ => (s.to_string(), default_port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# stream.conf\n[stream]\n    enabled = no\n  destination =  \n\n# netdatactl role: children\n[11111111-2222-3333-4444-555555555555]\n\ttype = api\n\tenabled   =   yes\n\tallow from = *\n\n[22222222-2222-3333-4444-555555555555]\n\ttype = api";

    #[test]
    fn round_trip_keeps_every_byte() {
        for text in [SAMPLE, "", "\n", "a\r\nb\r\n", "[x]\n k = v  \n"] {
            assert_eq!(Doc::parse(text).to_string(), text);
        }
    }

    #[test]
    fn set_replaces_only_the_value() {
        let mut d = Doc::parse(SAMPLE);
        assert!(d.set("11111111-2222-3333-4444-555555555555", "enabled", "no"));
        let out = d.to_string();
        assert_eq!(out, SAMPLE.replace("\tenabled   =   yes", "\tenabled   =   no"));
        assert!(!d.set("11111111-2222-3333-4444-555555555555", "enabled", "no"));
    }

    #[test]
    fn set_inserts_missing_key_after_last_key_of_its_section() {
        let mut d = Doc::parse(SAMPLE);
        assert!(d.set("22222222-2222-3333-4444-555555555555", "enabled", "yes"));
        assert_eq!(d.to_string(), format!("{SAMPLE}\n\tenabled = yes\n"));
        assert_eq!(d.get("22222222-2222-3333-4444-555555555555", "enabled").as_deref(), Some("yes"));
    }

    #[test]
    fn comments_above_section_are_found() {
        let d = Doc::parse(SAMPLE);
        assert_eq!(d.comments_above("11111111-2222-3333-4444-555555555555"), vec!["netdatactl role: children"]);
        assert!(d.comments_above("22222222-2222-3333-4444-555555555555").is_empty());
        assert_eq!(d.get("stream", "destination").as_deref(), Some(""));
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(split_host_port("10.0.0.1:19998", 19999), ("10.0.0.1".into(), 19998));
        assert_eq!(split_host_port("tcp:parent2", 19999), ("parent2".into(), 19999));
        assert_eq!(split_host_port("[::1]:20000:SSL", 19999), ("[::1]".into(), 20000));
        assert_eq!(split_host_port("*", 19999), ("*".into(), 19999));
    }
}
