//! Netdata's `diskspace.plugin`: `disk_space.MOUNT` and `disk_inodes.MOUNT` from `statvfs`
//! of every mount point of `/proc/self/mountinfo` (re-read every [`REMOUNT_PASSES`] passes).
//!
//! Netdata's defaults are followed: pseudo file systems, read-only mounts and the paths/file
//! systems of its default exclusion lists are skipped, and a chart appears only when its totals are non-zero
//! ("auto"). Values are blocks of `f_frsize` bytes (the dimensions' multiplier) and inodes.

use std::path::{Path, PathBuf};

use crate::model::ChartType;

use super::util::{
    cn, dim, dim_named, fix_id, join, lines, simple_match, words, ChartSpec, ProcFile, ABS,
    LABEL_SOURCE_AUTO,
};
use super::CollectedChart;

const PLUGIN: &str = "diskspace.plugin";
/// Re-read mountinfo every this many passes (Netdata: "check for new mount points every").
const REMOUNT_PASSES: u32 = 15;
/// Most mount points we chart.
const MAX_MOUNTS: usize = 2048;
const EXCLUDED_PATHS: &str = "/proc/* /sys/* /var/run/user/* /run/user/* /snap/* /var/lib/docker/*";
const EXCLUDED_FS: &str =
    "*gvfs *gluster* *s3fs *ipfs *davfs2 *httpfs *sshfs *gdfs *moosefs fusectl autofs";
/// File systems without real storage (Netdata's "dummy" mounts).
const DUMMY_FS: &str = "autofs binfmt_misc bpf cgroup cgroup2 configfs debugfs devpts efivarfs fusectl hugetlbfs mqueue \
nsfs proc pstore rpc_pipefs securityfs selinuxfs sysfs tracefs";

/// A mounted device: `major:minor` → mount point (used by diskstats for families/labels).
#[derive(Clone, Debug)]
pub(crate) struct MountedDev {
    pub major: u32,
    pub minor: u32,
    pub mount_point: String,
}

struct Mount {
    mount_point: String,
    filesystem: String,
    mount_root: String,
    path: PathBuf,
    seen: bool,
    space: Option<CollectedChart>,
    inodes: Option<CollectedChart>,
    block_size: u64,
}

pub(crate) struct DiskSpace {
    root: PathBuf,
    update_every: u32,
    mountinfo: ProcFile,
    passes: u32,
    mounts: Vec<Mount>,
    devs: Vec<MountedDev>,
    gone: Vec<CollectedChart>,
}

impl DiskSpace {
    pub(crate) fn new(root: &Path, update_every: u32) -> Self {
        Self {
            root: root.to_path_buf(),
            update_every,
            mountinfo: ProcFile::new(root, "/proc/self/mountinfo"),
            passes: 0,
            mounts: Vec::new(),
            devs: Vec::new(),
            gone: Vec::new(),
        }
    }

    /// Mounted devices as of the last mountinfo read.
    pub(crate) fn mounts(&self) -> &[MountedDev] {
        &self.devs
    }

    fn reread_mountinfo(&mut self) {
        let Some(buf) = self.mountinfo.read() else {
            return;
        };
        self.devs.clear();
        for m in &mut self.mounts {
            m.seen = false;
        }
        for line in lines(buf) {
            // id parent major:minor root mount_point options [optional...] - fstype source superopts
            let w: Vec<&[u8]> = words(line).take(64).collect();
            if w.len() < 7 {
                continue;
            }
            let Some(sep) = w.iter().position(|x| *x == b"-") else {
                continue;
            };
            if sep + 1 >= w.len() || sep < 6 {
                continue;
            }
            let mount_point = unescape(w[4]);
            let mount_root = unescape(w[3]);
            let filesystem = String::from_utf8_lossy(w[sep + 1]).into_owned();
            if let Some((maj, min)) = std::str::from_utf8(w[2])
                .ok()
                .and_then(|s| s.split_once(':'))
            {
                if let (Ok(major), Ok(minor)) = (maj.parse(), min.parse()) {
                    if !self
                        .devs
                        .iter()
                        .any(|d| d.major == major && d.minor == minor)
                        && self.devs.len() < MAX_MOUNTS
                    {
                        self.devs.push(MountedDev {
                            major,
                            minor,
                            mount_point: mount_point.clone(),
                        });
                    }
                }
            }
            // Netdata skips read-only mounts it was not told to chart ("auto").
            let read_only = w[5].split(|&b| b == b',').any(|o| o == b"ro");
            if read_only
                || simple_match(DUMMY_FS, &filesystem)
                || simple_match(EXCLUDED_FS, &filesystem)
                || simple_match(EXCLUDED_PATHS, &mount_point)
            {
                continue;
            }
            if let Some(m) = self
                .mounts
                .iter_mut()
                .find(|m| m.mount_point == mount_point)
            {
                m.seen = true;
                continue;
            }
            if self.mounts.len() >= MAX_MOUNTS {
                continue;
            }
            let path = join(&self.root, &mount_point);
            self.mounts.push(Mount {
                mount_point,
                filesystem,
                mount_root,
                path,
                seen: true,
                space: None,
                inodes: None,
                block_size: 0,
            });
        }
        let gone = &mut self.gone;
        self.mounts.retain_mut(|m| {
            if m.seen {
                return true;
            }
            for mut c in [m.space.take(), m.inodes.take()].into_iter().flatten() {
                c.make_obsolete();
                gone.push(c);
            }
            false
        });
    }

    pub(crate) fn collect(&mut self) {
        self.gone.clear();
        if self.passes.is_multiple_of(REMOUNT_PASSES) {
            self.reread_mountinfo();
        }
        self.passes = self.passes.wrapping_add(1);
        let ue = self.update_every;
        for m in &mut self.mounts {
            let Ok(st) = rustix::fs::statvfs(&m.path) else {
                for c in [m.space.as_mut(), m.inodes.as_mut()].into_iter().flatten() {
                    c.values.iter_mut().for_each(|v| *v = None);
                }
                continue;
            };
            let bsize = if st.f_frsize != 0 {
                st.f_frsize
            } else {
                st.f_bsize
            };
            if m.space.is_none() && st.f_blocks > 0 {
                m.space = Some(mount_chart(
                    m,
                    "disk_space",
                    "Disk Space Usage",
                    "GiB",
                    "disk.space",
                    2023,
                    bsize,
                    ue,
                ));
                m.block_size = bsize;
            }
            if let Some(c) = m.space.as_mut() {
                if bsize != m.block_size {
                    m.block_size = bsize;
                    for d in &mut c.dims {
                        d.multiplier = bsize as i64;
                    }
                    c.version = super::next_version();
                }
                c.set_all(&[
                    cn(st.f_bavail),
                    cn(st.f_blocks.wrapping_sub(st.f_bfree)),
                    cn(st.f_bfree.wrapping_sub(st.f_bavail)),
                ]);
            }
            if m.inodes.is_none() && st.f_files > 0 {
                m.inodes = Some(mount_chart(
                    m,
                    "disk_inodes",
                    "Disk Files (inodes) Usage",
                    "inodes",
                    "disk.inodes",
                    2024,
                    0,
                    ue,
                ));
            }
            if let Some(c) = m.inodes.as_mut() {
                c.set_all(&[
                    cn(st.f_favail),
                    cn(st.f_files.wrapping_sub(st.f_ffree)),
                    cn(st.f_ffree.wrapping_sub(st.f_favail)),
                ]);
            }
        }
    }

    pub(crate) fn charts<'a>(&'a mut self, out: &mut Vec<&'a mut CollectedChart>) {
        for m in &mut self.mounts {
            out.extend(m.space.as_mut());
            out.extend(m.inodes.as_mut());
        }
        out.extend(self.gone.iter_mut());
    }
}

/// `block_size` 0 makes the inodes chart (multiplier/divisor 1).
#[allow(clippy::too_many_arguments)]
fn mount_chart(
    m: &Mount,
    type_: &str,
    title: &str,
    units: &str,
    context: &str,
    priority: i64,
    block_size: u64,
    update_every: u32,
) -> CollectedChart {
    let id = format!("{type_}.{}", fix_id(&m.mount_point));
    let labels = [
        ("mount_point", m.mount_point.as_str(), LABEL_SOURCE_AUTO),
        ("filesystem", m.filesystem.as_str(), LABEL_SOURCE_AUTO),
        ("mount_root", m.mount_root.as_str(), LABEL_SOURCE_AUTO),
    ];
    let (mul, div) = if block_size == 0 {
        (1, 1)
    } else {
        (block_size as i64, 1 << 30)
    };
    let dims = vec![
        dim("avail", ABS, mul, div),
        dim("used", ABS, mul, div),
        dim_named("reserved_for_root", "reserved for root", ABS, mul, div),
    ];
    ChartSpec {
        id: &id,
        title,
        units,
        family: &m.mount_point,
        context,
        chart_type: ChartType::Stacked,
        priority,
        detail: false,
        plugin: PLUGIN,
        module: "",
    }
    .build(update_every, &labels, dims)
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(w: &[u8]) -> String {
    let mut out = Vec::with_capacity(w.len());
    let mut i = 0;
    while i < w.len() {
        if w[i] == b'\\'
            && i + 3 < w.len()
            && w[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (w[i + 1] - b'0') as u32 * 64
                + (w[i + 2] - b'0') as u32 * 8
                + (w[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(w[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn unescape_decodes_octal() {
        assert_eq!(super::unescape(br"/mnt/a\040b"), "/mnt/a b");
        assert_eq!(super::unescape(br"/x\04"), r"/x\04");
    }
}
