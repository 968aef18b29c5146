//! Machine identity: the machine GUID Netdata keeps in
//! `[directories] lib`/`registry/netdata.public.unique.id`, and the hostname.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Path of the machine GUID file below `lib_dir`.
pub fn guid_path(lib_dir: &Path) -> PathBuf {
    lib_dir.join("registry").join("netdata.public.unique.id")
}

/// Reads the machine GUID below `lib_dir`, creating it (once) when missing.
/// A file that does not hold a UUID is an error naming the file, never silently replaced:
/// changing a parent's identity would make its siblings treat it as a new host.
pub fn load_or_create_guid(lib_dir: &Path) -> Result<String> {
    let path = guid_path(lib_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let t = text.trim();
            match uuid::Uuid::parse_str(t) {
                Ok(u) => Ok(u.hyphenated().to_string()),
                Err(e) => bail!("{}: not a machine GUID ({e}); fix or delete the file to create a new identity", path.display()),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let guid = uuid::Uuid::new_v4().hyphenated().to_string();
            let dir = path.parent().unwrap_or(lib_dir);
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let tmp = path.with_extension("id.tmp");
            std::fs::write(&tmp, &guid).with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::File::open(&tmp).and_then(|f| f.sync_all()).with_context(|| format!("syncing {}", tmp.display()))?;
            std::fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))?;
            Ok(guid)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The system's hostname (from /proc, falling back to `localhost`).
pub fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_is_created_once_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = load_or_create_guid(dir.path()).expect("create");
        let b = load_or_create_guid(dir.path()).expect("reload");
        assert_eq!(a, b);
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }

    #[test]
    fn garbage_guid_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = guid_path(dir.path());
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, "not-a-guid").expect("write");
        let err = format!("{:#}", load_or_create_guid(dir.path()).expect_err("must fail"));
        assert!(err.contains("netdata.public.unique.id"), "{err}");
    }
}
