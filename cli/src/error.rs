//! Error kinds and the one function that maps them to exit codes.

use std::fmt;

/// What went wrong, as far as a script calling `netdatactl` needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Anything not covered below (I/O failure, a firewall command that failed, a bug).
    Other,
    /// A configuration file is missing, unreadable or invalid.
    Config,
    /// Something named on the command line does not exist (unknown key, missing directory).
    NotFound,
    /// A parent could not be reached or answered something unusable.
    Unreachable,
    /// The operation needs root (firewall rules, signalling the daemon).
    Permission,
    /// A safety check refused the operation (retention preflight, disk space, a running daemon).
    Refused,
    /// The cluster did not reach the state waited for before the timeout.
    NotSynced,
    /// A copied file did not verify against its source hash.
    Verify,
    /// Bad command-line value that clap could not catch (e.g. an IP list entry).
    Usage,
}

/// Exit code for each error kind. `0` is success; clap's own usage errors exit with 2.
pub fn exit_code(kind: Kind) -> i32 {
    match kind {
        Kind::Other => 1,
        Kind::Usage => 2,
        Kind::Config => 3,
        Kind::NotFound => 4,
        Kind::Unreachable => 5,
        Kind::Permission => 6,
        Kind::Refused => 7,
        Kind::NotSynced => 8,
        Kind::Verify => 9,
    }
}

/// The exit codes as shown in `netdatactl --help` and the man page.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success (status: the report was printed; --wait-synced: the cluster is in sync)
  1  other error (I/O, a firewall command failed)
  2  bad command line
  3  configuration file missing or invalid
  4  not found (unknown key, missing directory or file)
  5  a parent is unreachable or gave an unusable answer
  6  permission denied (root needed)
  7  refused by a safety check (retention preflight, free space, a daemon holds the lock)
  8  not in sync before the timeout (--wait-synced, --until-synced)
  9  a copied file failed verification";

/// An error with its kind and a human message chain.
pub struct Error {
    pub kind: Kind,
    pub inner: anyhow::Error,
}

impl Error {
    pub fn new(kind: Kind, msg: impl fmt::Display) -> Self {
        Self { kind, inner: anyhow::anyhow!("{msg}") }
    }
    pub fn exit_code(&self) -> i32 {
        exit_code(self.kind)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {:#}", self.kind, self.inner)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.inner)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        let kind = match e.kind() {
            std::io::ErrorKind::NotFound => Kind::NotFound,
            std::io::ErrorKind::PermissionDenied => Kind::Permission,
            _ => Kind::Other,
        };
        Self { kind, inner: e.into() }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self { kind: Kind::Other, inner: e.into() }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Attach a kind and context to any error.
pub trait ResultExt<T> {
    fn kind(self, kind: Kind, ctx: impl fmt::Display) -> Result<T>;
}

impl<T, E: Into<anyhow::Error>> ResultExt<T> for std::result::Result<T, E> {
    fn kind(self, kind: Kind, ctx: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error { kind, inner: e.into().context(ctx.to_string()) })
    }
}

/// Shorthand: `bail!(Kind::X, "fmt", args)`.
#[macro_export]
macro_rules! fail {
    ($kind:expr, $($arg:tt)*) => {
        return Err($crate::error::Error::new($kind, format!($($arg)*)))
    };
}
