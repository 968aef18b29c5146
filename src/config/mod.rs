//! Configuration: Netdata's INI dialect ([`ini`]) and one typed, validated model of
//! `netdata.conf` ([`NetdataConf`]) and `stream.conf` ([`StreamConf`]), shared by the daemon
//! and the CLI.
//!
//! Loading never panics and never fails on things Netdata tolerates: unknown keys, ignored
//! lines and repeated keys become [`Warning`]s (file:line + message). A value that does not
//! parse, or is out of range, is a [`ValueError`] naming file, line, section, key, the value and
//! what is accepted; all of them are collected and returned together in
//! [`ConfigError::Values`].
//!
//! **Invariant:** this module does no network I/O; the only file I/O is reading a config file
//! (bounded by [`ini::MAX_FILE_BYTES`]) and the editor's atomic write.

pub mod ini;
pub mod keys;
pub mod netdata_conf;
pub mod pattern;
pub mod stream_conf;
pub mod value;

pub use ini::{EditError, IniDocument};
pub use keys::{known_keys, ConfFile, KeyDoc};
pub use netdata_conf::{BindHost, BindTo, DbMode, Directories, NetdataConf, WebAcl};
pub use pattern::{simple_pattern_matches, SimplePattern};
pub use stream_conf::{
    authorize, Accepted, Destination, HealthMode, HostStreamSettings, ParentState, Refusal, StreamConf, StreamRequest,
    StreamSection,
};

use std::path::PathBuf;

/// Something Netdata would accept or ignore, but a person should know about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub file: String,
    /// 1-based line; 0 when the warning is about the file as a whole.
    pub line: usize,
    pub message: String,
}

impl Warning {
    pub fn new(file: &str, line: usize, message: impl Into<String>) -> Warning {
        Warning { file: file.to_string(), line, message: message.into() }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

/// A value that does not parse or is out of range.
///
/// Displays as `netdata.conf:12: [db] storage tiers = 9: expected a number from 1 to 5`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: [{section}] {key} = {value}: {expected}")]
pub struct ValueError {
    pub file: String,
    pub line: usize,
    pub section: String,
    pub key: String,
    pub value: String,
    /// What is accepted, e.g. `expected a number from 1 to 5`.
    pub expected: String,
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: larger than {max} bytes; is this a configuration file?")]
    TooLarge { path: PathBuf, max: usize },
    #[error("{path}:{line}: not valid UTF-8")]
    NotUtf8 { path: PathBuf, line: usize },
    /// One or more bad values (every one found, in file order).
    #[error("{}", display_values(.0))]
    Values(Vec<ValueError>),
}

fn display_values(v: &[ValueError]) -> String {
    v.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

impl ConfigError {
    /// The bad values, if that is what this error is.
    pub fn value_errors(&self) -> &[ValueError] {
        match self {
            ConfigError::Values(v) => v,
            _ => &[],
        }
    }
}

/// Typed reading of one document: collects value errors and warnings, remembers nothing else.
pub(crate) struct Reader<'a> {
    pub doc: &'a IniDocument,
    pub errors: Vec<ValueError>,
    pub warnings: Vec<Warning>,
}

impl<'a> Reader<'a> {
    pub fn new(doc: &'a IniDocument) -> Self {
        Reader { doc, errors: Vec::new(), warnings: doc.syntax_warnings() }
    }

    pub fn raw(&self, section: &str, key: &str) -> Option<ini::Entry<'a>> {
        self.doc.get(section, key)
    }

    /// Parses `[section] key` with `parse` if present; a failure is recorded and gives `None`.
    pub fn get<T>(&mut self, section: &str, key: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let e = self.doc.get(section, key)?;
        match parse(e.value) {
            Ok(v) => Some(v),
            Err(expected) => {
                self.error_at(&e, expected);
                None
            }
        }
    }

    pub fn error_at(&mut self, e: &ini::Entry<'_>, expected: impl Into<String>) {
        self.errors.push(ValueError {
            file: self.doc.file().to_string(),
            line: e.line,
            section: e.section.to_string(),
            key: e.key.to_string(),
            value: e.value.to_string(),
            expected: expected.into(),
        });
    }

    pub fn warn(&mut self, line: usize, message: impl Into<String>) {
        self.warnings.push(Warning::new(self.doc.file(), line, message));
    }

    pub fn finish<T>(mut self, value: T) -> Result<(T, Vec<Warning>), ConfigError> {
        if self.errors.is_empty() {
            self.warnings.sort_by_key(|w| w.line);
            self.warnings.dedup();
            Ok((value, self.warnings))
        } else {
            self.errors.sort_by_key(|e| e.line);
            self.errors.dedup();
            Err(ConfigError::Values(self.errors))
        }
    }
}
