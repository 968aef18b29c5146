//! The only module of the crate with `unsafe` code: read-only memory maps of sealed data
//! files, the `flock` of the store directory, and a cache prefetch hint.
//!
//! **Contract (holds for the whole crate):** a file is mapped only once it is *sealed* — it
//! ends with a valid seal trailer, the store never writes to it again, and it is never
//! truncated or rewritten while any mapping exists. The only later operations are `rename`
//! (to `*.corrupt`) and `unlink` (retention), both of which leave existing mappings intact on
//! Unix. The store directory is held under an exclusive `flock`, so no other cooperating
//! process modifies the files; an outside process that truncates a sealed file breaks this
//! contract (as it would for any mmap-based database).
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// A read-only mapping of a sealed, immutable file.
#[derive(Debug)]
pub struct SealedMap {
    map: memmap2::Mmap,
}

impl SealedMap {
    /// Maps `file`, which the caller has sealed (see the module contract).
    pub fn map_sealed(file: &File) -> io::Result<Self> {
        // SAFETY: per the module contract the file is sealed: nothing in this process writes
        // to or truncates it again, and the directory lock keeps other stores out, so the
        // mapped bytes stay valid and unchanged for the life of the mapping.
        let map = unsafe { memmap2::MmapOptions::new().map(file)? };
        Ok(Self { map })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.map
    }
}

/// Takes an exclusive, non-blocking `flock` on `file`. `Ok(false)` if another holder has it.
/// The lock lives as long as the open file description.
pub fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    // SAFETY: flock only reads its integer arguments; the fd is valid for the duration of the
    // call because `file` is borrowed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

/// Asks the CPU to start loading the cache line holding `*r` (a hint: no effect on results).
///
/// The hot ingest loops touch per-series state spread over hundreds of megabytes once per
/// second; issuing the loads of the next few series ahead overlaps their cache misses instead
/// of paying them one after another.
#[inline(always)]
pub fn prefetch<T: ?Sized>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch never faults and has no architectural effect; the pointer comes
        // from a live reference anyway.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((r as *const T).cast::<i8>()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

/// [`prefetch`] of every cache line `s` touches, up to `max_lines` lines.
#[inline]
pub fn prefetch_slice<T>(s: &[T], max_lines: usize) {
    let start = s.as_ptr() as usize & !63;
    let end = s.as_ptr() as usize + std::mem::size_of_val(s);
    let mut line = start;
    for _ in 0..max_lines {
        if line >= end {
            break;
        }
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            // SAFETY: a prefetch never faults, whatever the address; this one is a line the
            // slice overlaps.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line as *const i8) }
        }
        line += 64;
    }
}

/// Caps glibc's malloc arenas at `n` unless the user chose a value with `MALLOC_ARENA_MAX`.
///
/// glibc gives each thread that allocates under contention its own arena (up to 8 per core),
/// and memory freed into one arena is not reused by another: a parent whose async workers
/// take turns building the same long-lived per-series state ends up with several half-empty
/// arenas. Measured on the 50-child load run (220 s, 100 k metrics): RSS 314 MB with glibc's
/// default, 268 MB with two arenas, 254 MB with one, at the same CPU (small allocations
/// mostly hit the per-thread cache without taking the arena lock).
pub fn limit_malloc_arenas(n: i32) {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only reads its two integer arguments; it is called at start-up before
    // the daemon spawns threads.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, n);
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = n;
}

/// Size of a transparent huge page (x86-64, aarch64 with 4 KiB pages).
const HUGE_PAGE: usize = 2 << 20;

/// The writable private anonymous mappings of this process (the malloc heap and malloc's large
/// blocks) of at least `min_len` bytes, from `/proc/self/maps` text: `(start, end)` ranges
/// trimmed inward to huge-page boundaries, empty ones left out. Thread stacks (2 MiB in Rust
/// and tokio) stay below `min_len` when it is above that; `[stack]` and mapped files are not
/// anonymous-unnamed.
pub fn huge_page_candidates(maps: &str, min_len: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for line in maps.lines() {
        let mut f = line.split_ascii_whitespace();
        let (Some(range), Some(perms), Some(_off), Some(_dev), Some(inode)) = (f.next(), f.next(), f.next(), f.next(), f.next()) else { continue };
        let name = f.next().unwrap_or("");
        if perms != "rw-p" || inode != "0" || !(name.is_empty() || name == "[heap]") {
            continue;
        }
        let Some((a, b)) = range.split_once('-') else { continue };
        let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) else { continue };
        if b.saturating_sub(a) < min_len {
            continue;
        }
        let (start, end) = (a.next_multiple_of(HUGE_PAGE), b - b % HUGE_PAGE);
        if start < end {
            out.push((start, end));
        }
    }
    out
}

/// Marks the malloc heap and the large anonymous mappings (at least `min_len` bytes, see
/// [`huge_page_candidates`]) `MADV_HUGEPAGE`: where the system's transparent huge pages are
/// `madvise` (the usual default), their new pages are then 2 MiB ones and khugepaged merges
/// the existing ones. The ingest state of 100 k series is a few hundred MB of the heap, every
/// byte of it touched once a second: with 4 KiB pages nearly every series' state is a TLB
/// miss (each a page walk, dearer still in a VM); with 2 MiB ones the whole of it fits the TLB.
/// The heap grows in new mappings that do not inherit the advice: call this again from time
/// to time. Returns the bytes advised; a hint, errors are ignored (other systems: nothing).
pub fn advise_huge_pages(min_len: usize) -> usize {
    #[cfg(target_os = "linux")]
    {
        let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else { return 0 };
        let mut advised = 0;
        for (start, end) in huge_page_candidates(&maps, min_len) {
            // SAFETY: `start..end` lies inside a private anonymous mapping of this process
            // (listed by the kernel just now; a range unmapped since makes madvise fail with
            // ENOMEM, nothing else). MADV_HUGEPAGE changes only how the kernel backs the pages,
            // never their contents.
            let rc = unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
            if rc == 0 {
                advised += end - start;
            }
        }
        advised
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = min_len;
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_page_candidates_are_large_anonymous_rw_mappings_trimmed_to_huge_pages() {
        let maps = "\
55d0c0a00000-55d0c0c00000 r--p 00000000 08:01 123 /usr/bin/netdatad
5627fab9f000-5627fad9f000 rw-p 00000000 00:00 0                          [heap]
5627fad9f000-562800400000 rw-p 00000000 00:00 0                          [heap]
7f8f3c8cc000-7f8f3d0cd000 rw-p 00000000 00:00 0
7f8f41db6000-7f8f41fb6000 rw-p 00000000 00:00 0
7f8f42000000-7f8f43000000 rw-s 00000000 00:01 77 /dev/zero (deleted)
7f8f44000000-7f8f45000000 rw-p 00000000 08:01 99 /var/lib/x.db
7f8f46000000-7f8f47000000 r--p 00000000 00:00 0
7ffd1c000000-7ffd1d000000 rw-p 00000000 00:00 0                          [stack]
garbage line
";
        let got = huge_page_candidates(maps, 4 << 20);
        // the small heap part (2 MiB) and the 2 MiB thread stack are below min_len; the rest
        // is trimmed inward to 2 MiB boundaries
        assert_eq!(got, vec![(0x5627fae00000, 0x562800400000), (0x7f8f3ca00000, 0x7f8f3d000000)]);
        for (a, b) in &got {
            assert!(a % HUGE_PAGE == 0 && b % HUGE_PAGE == 0 && a < b);
        }
        // nothing is a candidate when min_len exceeds every mapping
        assert!(huge_page_candidates(maps, 1 << 40).is_empty());
    }

    #[test]
    fn advising_huge_pages_keeps_memory_contents() {
        // a large heap block, written before and read after the advice
        let v: Vec<u64> = (0..(8u64 << 20) / 8).collect();
        advise_huge_pages(4 << 20);
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64));
    }
}
