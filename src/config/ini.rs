//! Netdata's INI dialect, read and edited without disturbing the layout.
//!
//! The dialect, as Netdata 1.37's `appconfig_load` reads it:
//! * one statement per line (`\n` or `\r\n`); each line is trimmed of ASCII white space first;
//! * an empty line, or a line whose first non-blank byte is `#`, is ignored (a comment);
//!   there are no end-of-line comments: in `key = a # b` the value is `a # b`;
//! * `[name]` opens a section (the name is what is between the brackets, *not* trimmed);
//!   a section may appear several times, its keys then merge;
//! * `key = value` splits at the first `=`; key and value are trimmed; keys may contain spaces;
//!   keys and section names are case-sensitive; a key given twice: the later one wins;
//! * a line without `=`, or before the first section, is ignored (we report a warning).
//!
//! [`IniDocument`] keeps every line's bytes, so writing it back is byte-identical, and its
//! editing methods change only the lines they must (see [`IniDocument::set`]).
//!
//! **Invariant:** an edit never changes a byte outside the lines it inserts, removes or
//! whose value it replaces (plus, at most, a line ending added to a last line that lacked one).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::{ConfigError, Warning};

/// Largest configuration file we read (bounds memory; real files are a few KiB).
pub const MAX_FILE_BYTES: usize = 4 << 20;

/// What one line of a file is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineKind {
    Blank,
    Comment,
    /// `[name]`.
    Section {
        name: String,
    },
    /// `key = value`. `value` is the byte range of the (trimmed) value inside the line text,
    /// so an edit can replace exactly that.
    Entry {
        key: String,
        value_start: usize,
        value_end: usize,
    },
    /// A line Netdata ignores (no `=`, empty key, or outside every section).
    Ignored {
        reason: &'static str,
    },
}

/// One line: its text including its line ending (if any), and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    text: String,
    kind: LineKind,
    /// Index (into `IniDocument::lines`) of the section line this line belongs to.
    section: Option<usize>,
}

impl Line {
    pub fn text(&self) -> &str {
        &self.text
    }
    pub fn kind(&self) -> &LineKind {
        &self.kind
    }
}

/// A `key = value` as read, with its 1-based line number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub section: &'a str,
    pub key: &'a str,
    pub value: &'a str,
    pub line: usize,
}

/// Why an edit was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("section name {0:?} is not allowed: it must not be empty, contain `]` or a line break")]
    BadSection(String),
    #[error("key {0:?} is not allowed: it must not be empty, start with `#` or `[`, contain `=` or a line break, or have blanks around it")]
    BadKey(String),
    #[error("value {0:?} is not allowed: it must not contain a line break or have blanks around it")]
    BadValue(String),
}

/// A parsed file that can be edited and written back byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IniDocument {
    file: String,
    lines: Vec<Line>,
    /// section → key → index of the effective (last) line of that key; rebuilt on every edit,
    /// so lookups stay cheap on large files.
    index: HashMap<String, HashMap<String, usize>>,
}

fn is_blank(c: char) -> bool {
    // C's isspace() in the "C" locale.
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

fn classify(body: &str, in_section: bool) -> LineKind {
    let t = body.trim_matches(is_blank);
    if t.is_empty() {
        return LineKind::Blank;
    }
    if t.starts_with('#') {
        return LineKind::Comment;
    }
    if t.len() >= 2 && t.starts_with('[') && t.ends_with(']') {
        return LineKind::Section { name: t[1..t.len() - 1].to_string() };
    }
    if !in_section {
        return LineKind::Ignored { reason: "it is outside every section" };
    }
    let Some(eq) = body.find('=') else {
        return LineKind::Ignored { reason: "there is no `=` in it" };
    };
    let key = body[..eq].trim_matches(is_blank);
    if key.is_empty() {
        return LineKind::Ignored { reason: "its key is empty" };
    }
    let raw_value = &body[eq + 1..];
    let lead = raw_value.len() - raw_value.trim_start_matches(is_blank).len();
    let value = raw_value.trim_matches(is_blank);
    let value_start = eq + 1 + lead;
    LineKind::Entry { key: key.to_string(), value_start, value_end: value_start + value.len() }
}

fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive('\n')
}

fn line_body(text: &str) -> &str {
    text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(text)
}

impl IniDocument {
    /// Parses `text`; `file` is the name used in warnings and errors.
    pub fn parse(text: &str, file: &str) -> IniDocument {
        let mut lines = Vec::new();
        let mut section: Option<usize> = None;
        for raw in split_lines(text) {
            let kind = classify(line_body(raw), section.is_some());
            let idx = lines.len();
            if matches!(kind, LineKind::Section { .. }) {
                section = Some(idx);
            }
            lines.push(Line { text: raw.to_string(), kind, section });
        }
        let mut doc = IniDocument { file: file.to_string(), lines, index: HashMap::new() };
        doc.reindex();
        doc
    }

    /// Reads and parses a file (at most [`MAX_FILE_BYTES`], UTF-8).
    pub fn load(path: &Path) -> Result<IniDocument, ConfigError> {
        let text = read_config_file(path)?;
        Ok(Self::parse(&text, &path.display().to_string()))
    }

    /// An empty document.
    pub fn empty(file: &str) -> IniDocument {
        IniDocument { file: file.to_string(), lines: Vec::new(), index: HashMap::new() }
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    fn section_of(&self, line: &Line) -> &str {
        match line.section.and_then(|i| self.lines.get(i)).map(|l| &l.kind) {
            Some(LineKind::Section { name }) => name,
            _ => "",
        }
    }

    fn entry_at(&self, idx: usize) -> Option<Entry<'_>> {
        let line = self.lines.get(idx)?;
        match &line.kind {
            LineKind::Entry { key, value_start, value_end } => Some(Entry {
                section: self.section_of(line),
                key,
                value: line.text.get(*value_start..*value_end).unwrap_or(""),
                line: idx + 1,
            }),
            _ => None,
        }
    }

    /// Every `key = value` in file order (duplicates included).
    pub fn entries(&self) -> impl Iterator<Item = Entry<'_>> + '_ {
        (0..self.lines.len()).filter_map(|i| self.entry_at(i))
    }

    /// Every `key = value` of `section` in file order (duplicates included).
    pub fn section_entries<'a>(&'a self, section: &'a str) -> impl Iterator<Item = Entry<'a>> + 'a {
        self.entries().filter(move |e| e.section == section)
    }

    /// Section names in order of first appearance, each once, with the line of its first header.
    pub fn sections(&self) -> Vec<(&str, usize)> {
        let mut seen = HashSet::new();
        let mut out: Vec<(&str, usize)> = Vec::new();
        for (i, l) in self.lines.iter().enumerate() {
            if let LineKind::Section { name } = &l.kind {
                if seen.insert(name.as_str()) {
                    out.push((name, i + 1));
                }
            }
        }
        out
    }

    pub fn has_section(&self, section: &str) -> bool {
        self.lines.iter().any(|l| matches!(&l.kind, LineKind::Section { name } if name == section))
    }

    /// The effective (last) entry of `key` in `section`.
    pub fn get(&self, section: &str, key: &str) -> Option<Entry<'_>> {
        let idx = *self.index.get(section)?.get(key)?;
        self.entry_at(idx)
    }

    /// Warnings about lines Netdata ignores and keys given more than once.
    pub fn syntax_warnings(&self) -> Vec<Warning> {
        let mut out = Vec::new();
        for (i, l) in self.lines.iter().enumerate() {
            if let LineKind::Ignored { reason } = &l.kind {
                out.push(Warning::new(&self.file, i + 1, format!("line ignored: {reason}")));
            }
        }
        for e in self.entries() {
            if let Some(last) = self.get(e.section, e.key).filter(|last| last.line != e.line) {
                out.push(Warning::new(
                    &self.file,
                    e.line,
                    format!("[{}] {} is given again at line {}; the later value is used", e.section, e.key, last.line),
                ));
            }
        }
        out.sort_by_key(|w| w.line);
        out
    }

    fn newline(&self) -> &'static str {
        let crlf = self.lines.iter().filter(|l| l.text.ends_with("\r\n")).count();
        let lf = self.lines.iter().filter(|l| l.text.ends_with('\n')).count();
        if crlf * 2 > lf {
            "\r\n"
        } else {
            "\n"
        }
    }

    fn insert_line(&mut self, at: usize, body: &str) {
        let nl = self.newline();
        if at > 0 {
            if let Some(prev) = self.lines.get_mut(at - 1) {
                if !prev.text.ends_with('\n') {
                    prev.text.push_str(nl);
                }
            }
        }
        let mut text = body.to_string();
        text.push_str(nl);
        let kind = classify(body, true);
        self.lines.insert(at, Line { text, kind, section: None });
        self.reindex();
    }

    fn remove_line(&mut self, at: usize) {
        self.lines.remove(at);
        self.reindex();
    }

    fn reindex(&mut self) {
        let mut section: Option<(usize, &str)> = None;
        let mut index: HashMap<String, HashMap<String, usize>> = HashMap::new();
        for (i, l) in self.lines.iter_mut().enumerate() {
            match &l.kind {
                LineKind::Section { name } => section = Some((i, name.as_str())),
                LineKind::Entry { key, .. } => {
                    if let Some((_, name)) = section {
                        index.entry(name.to_string()).or_default().insert(key.clone(), i);
                    }
                }
                _ => {}
            }
            l.section = section.map(|(i, _)| i);
        }
        self.index = index;
    }

    /// Index of the last header line of `section`.
    fn last_header(&self, section: &str) -> Option<usize> {
        self.lines.iter().rposition(|l| matches!(&l.kind, LineKind::Section { name } if name == section))
    }

    /// Adds `[section]` at the end of the file (after a blank line) unless it exists.
    /// Returns whether it was added.
    pub fn add_section(&mut self, section: &str) -> Result<bool, EditError> {
        check_section(section)?;
        if self.has_section(section) {
            return Ok(false);
        }
        let at = self.lines.len();
        let needs_blank = self.lines.last().is_some_and(|l| l.kind != LineKind::Blank);
        if needs_blank {
            self.insert_line(at, "");
        }
        let at = self.lines.len();
        self.insert_line(at, &format!("[{section}]"));
        Ok(true)
    }

    /// Sets `key = value` in `section`.
    ///
    /// * If the key exists, only the value bytes of its effective (last) line change.
    /// * Else a new line is inserted in the last block of the section: right after a
    ///   commented-out `# key = ...` line if there is one, else after the last entry, else right
    ///   after the header; its indentation copies a neighbouring entry's.
    /// * Else the section is added at the end of the file first.
    pub fn set(&mut self, section: &str, key: &str, value: &str) -> Result<(), EditError> {
        check_section(section)?;
        check_key(key)?;
        check_value(value)?;
        if let Some(e) = self.get(section, key) {
            let idx = e.line - 1;
            if let Some(line) = self.lines.get_mut(idx) {
                if let LineKind::Entry { value_start, value_end, .. } = &mut line.kind {
                    let mut new_value = value.to_string();
                    if value_start == value_end {
                        // An empty value: write right after `= ` (adding the blank if missing),
                        // leaving any trailing blanks where they are.
                        let eq = line.text.find('=').unwrap_or(*value_start);
                        let after = line.text.as_bytes().get(eq + 1).copied();
                        if matches!(after, Some(b' ' | b'\t')) {
                            *value_start = eq + 2;
                        } else {
                            *value_start = eq + 1;
                            new_value.insert(0, ' ');
                        }
                        *value_end = *value_start;
                    }
                    line.text.replace_range(*value_start..*value_end, &new_value);
                    *value_end = *value_start + new_value.len();
                    if new_value.starts_with(' ') {
                        *value_start += 1;
                    }
                }
            }
            return Ok(());
        }
        self.add_section(section)?;
        let header = self.last_header(section).unwrap_or(0);
        let end = self.lines[header + 1..]
            .iter()
            .position(|l| matches!(l.kind, LineKind::Section { .. }))
            .map_or(self.lines.len(), |p| header + 1 + p);
        let block = header + 1..end;
        let commented = block.clone().rev().find(|&i| commented_key(&self.lines[i].text) == Some(key));
        let last_entry = block.clone().rev().find(|&i| matches!(self.lines[i].kind, LineKind::Entry { .. }));
        let at = commented.or(last_entry).map_or(header + 1, |i| i + 1);
        let indent = last_entry
            .or_else(|| block.clone().find(|&i| matches!(self.lines[i].kind, LineKind::Entry { .. })))
            .or_else(|| self.lines.iter().position(|l| matches!(l.kind, LineKind::Entry { .. })))
            .map(|i| leading_blanks(&self.lines[i].text).to_string())
            .unwrap_or_else(|| "    ".to_string());
        self.insert_line(at, &format!("{indent}{key} = {value}"));
        Ok(())
    }

    /// Removes every `key = ...` line of `section`; returns how many were removed.
    pub fn remove_key(&mut self, section: &str, key: &str) -> usize {
        let idxs: Vec<usize> =
            self.entries().filter(|e| e.section == section && e.key == key).map(|e| e.line - 1).collect();
        for &i in idxs.iter().rev() {
            self.remove_line(i);
        }
        idxs.len()
    }

    /// Writes the document to `path` durably: temp file, fsync, rename, fsync of the directory.
    /// The permissions of an existing file are kept (stream.conf holds API keys).
    pub fn write_atomic(&self, path: &Path) -> Result<(), ConfigError> {
        use std::io::Write;
        let io = |source| ConfigError::Io { path: path.to_path_buf(), source };
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            if let Ok(meta) = std::fs::metadata(path) {
                f.set_permissions(meta.permissions())?;
            }
            f.write_all(self.to_string().as_bytes())?;
            f.sync_all()?;
            drop(f);
            std::fs::rename(&tmp, path)?;
            std::fs::File::open(dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(io)
    }
}

impl std::fmt::Display for IniDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for l in &self.lines {
            f.write_str(&l.text)?;
        }
        Ok(())
    }
}

fn leading_blanks(s: &str) -> &str {
    let n = s.len() - s.trim_start_matches([' ', '\t']).len();
    &s[..n]
}

/// `key` of a commented-out entry such as `    #key = value` or `# key = value`.
fn commented_key(text: &str) -> Option<&str> {
    let t = line_body(text).trim_matches(is_blank).strip_prefix('#')?;
    let (k, _) = t.split_once('=')?;
    let k = k.trim_matches(is_blank);
    (!k.is_empty()).then_some(k)
}

fn check_section(s: &str) -> Result<(), EditError> {
    if s.is_empty() || s.contains([']', '\n', '\r']) || s.trim_matches(is_blank) != s {
        return Err(EditError::BadSection(s.to_string()));
    }
    Ok(())
}

fn check_key(k: &str) -> Result<(), EditError> {
    if k.is_empty() || k.starts_with(['#', '[']) || k.contains(['=', '\n', '\r']) || k.trim_matches(is_blank) != k {
        return Err(EditError::BadKey(k.to_string()));
    }
    Ok(())
}

fn check_value(v: &str) -> Result<(), EditError> {
    if v.contains(['\n', '\r']) || v.trim_matches(is_blank) != v {
        return Err(EditError::BadValue(v.to_string()));
    }
    Ok(())
}

/// Reads a configuration file with the size bound and UTF-8 check.
pub(crate) fn read_config_file(path: &Path) -> Result<String, ConfigError> {
    use std::io::Read;
    let io = |source| ConfigError::Io { path: path.to_path_buf(), source };
    let f = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    f.take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(ConfigError::TooLarge { path: path.to_path_buf(), max: MAX_FILE_BYTES });
    }
    String::from_utf8(bytes).map_err(|e| {
        let good = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..good].iter().filter(|&&b| b == b'\n').count() + 1;
        ConfigError::NotUtf8 { path: path.to_path_buf(), line }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_value_span_is_trimmed() {
        let d = IniDocument::parse("[a]\n  key with spaces =  v a l  \r\n", "t");
        let e = d.get("a", "key with spaces").expect("entry");
        assert_eq!(e.value, "v a l");
        assert_eq!(e.line, 2);
    }

    #[test]
    fn inserted_line_is_classified_as_entry() {
        let mut d = IniDocument::parse("[a]\nx = 1", "t");
        d.set("a", "y", "2").expect("set");
        assert_eq!(d.to_string(), "[a]\nx = 1\ny = 2\n");
        assert_eq!(d.get("a", "y").map(|e| e.value), Some("2"));
    }
}
