//! One daemon per cache directory: an exclusively locked pid file, `netdatad.pid`.
//!
//! The lock is an OS file lock (released by the kernel when the process dies, also on
//! `kill -9`), so a stale file never blocks a restart. The file holds the pid, which the CLI
//! uses to send SIGHUP (reload `stream.conf`).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

pub const PID_FILE: &str = "netdatad.pid";

/// Holds the lock for as long as it lives.
#[derive(Debug)]
pub struct PidLock {
    _file: File,
    path: PathBuf,
}

impl PidLock {
    pub fn acquire(cache_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(cache_dir).with_context(|| format!("creating cache directory {}", cache_dir.display()))?;
        let path = cache_dir.join(PID_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut other = String::new();
                let _ = file.read_to_string(&mut other);
                bail!(
                    "{}: another netdatad (pid {}) already uses the cache directory {}; stop it first or set another [directories] cache",
                    path.display(),
                    other.trim(),
                    cache_dir.display()
                );
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e).with_context(|| format!("locking {}", path.display())),
        }
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        writeln!(file, "{}", std::process::id())?;
        file.sync_all()?;
        Ok(Self { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads the pid of the daemon holding `cache_dir`, if one is running (the file is locked).
pub fn running_pid(cache_dir: &Path) -> Option<u32> {
    let path = cache_dir.join(PID_FILE);
    let mut file = File::open(&path).ok()?;
    match file.try_lock_shared() {
        Ok(()) => None, // nobody holds it
        Err(_) => {
            let mut s = String::new();
            file.read_to_string(&mut s).ok()?;
            s.trim().parse().ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_same_directory_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = PidLock::acquire(dir.path()).expect("first");
        let err = format!("{:#}", PidLock::acquire(dir.path()).expect_err("second must fail"));
        assert!(err.contains("another netdatad"), "{err}");
        assert_eq!(running_pid(dir.path()), Some(std::process::id()));
        drop(first);
        assert_eq!(running_pid(dir.path()), None);
        PidLock::acquire(dir.path()).expect("after release");
    }
}
