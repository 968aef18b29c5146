//! Finding the running `netdatad` of a cache directory and signalling it.
//!
//! The daemon holds an exclusive OS lock (flock) on `CACHE/netdatad.pid` while it runs and
//! writes its pid into it. A file that nobody locks is stale and names no daemon.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Kind, Result};

pub const PID_FILE: &str = "netdatad.pid";

/// The pid of the daemon holding `cache_dir`, if one is running.
pub fn running_pid(cache_dir: &Path) -> Result<Option<u32>> {
    let path = cache_dir.join(PID_FILE);
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::new(Kind::Other, format!("{}: {e}", path.display()))),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(None),
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut s = String::new();
            file.read_to_string(&mut s).map_err(|e| Error::new(Kind::Other, format!("{}: {e}", path.display())))?;
            let pid = s.trim().parse::<u32>().map_err(|_| {
                Error::new(Kind::Other, format!("{} is locked but holds no pid ({:?})", path.display(), s.trim()))
            })?;
            Ok(Some(pid))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(Error::new(Kind::Other, format!("locking {}: {e}", path.display()))),
    }
}

/// Sends SIGHUP to `pid` (through kill(1): the crate has no unsafe code).
pub fn sighup(pid: u32) -> Result<()> {
    let out = std::process::Command::new("kill")
        .arg("-HUP")
        .arg(pid.to_string())
        .output()
        .map_err(|e| Error::new(Kind::Other, format!("running kill -HUP {pid}: {e}")))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let kind = if msg.contains("not permitted") { Kind::Permission } else { Kind::Other };
        return Err(Error::new(kind, format!("kill -HUP {pid}: {msg}")));
    }
    Ok(())
}

/// Asks the daemon of `cache_dir` to reload `stream.conf`. Returns the pid signalled, or None
/// when no daemon runs (the change applies at its next start).
pub fn reload(cache_dir: &Path) -> Result<Option<u32>> {
    match running_pid(cache_dir)? {
        Some(pid) => {
            sighup(pid)?;
            Ok(Some(pid))
        }
        None => Ok(None),
    }
}

/// Whether this process runs as root (owner of /proc/self is the effective uid).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}
