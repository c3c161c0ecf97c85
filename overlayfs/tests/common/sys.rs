//! Raw syscalls the tests need and std/nix do not offer with the features
//! this workspace enables: mknod of any kind, mmap, and the directory
//! stream calls telldir/seekdir. Each wraps one libc call.
#![allow(unsafe_code, dead_code, clippy::unwrap_used)]

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn c(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

pub fn mknod(p: &Path, mode: u32, dev: u64) -> io::Result<()> {
    let cp = c(p);
    // SAFETY: cp is a valid NUL-terminated path.
    if unsafe { libc::mknod(cp.as_ptr(), mode, dev) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Maps `len` bytes of `file` shared and writable, writes `data` at offset
/// `at` through the mapping, msyncs and unmaps.
pub fn mmap_write(file: &std::fs::File, len: usize, at: usize, data: &[u8]) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    assert!(at + data.len() <= len);
    // SAFETY: a fresh shared mapping of an open fd; only this function touches it.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: [at, at + data.len()) lies within the len-byte mapping.
    unsafe {
        std::ptr::copy_nonoverlapping(data.as_ptr(), (ptr as *mut u8).add(at), data.len());
        let rc = libc::msync(ptr, len, libc::MS_SYNC);
        libc::munmap(ptr, len);
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Reads a directory with readdir(3), recording telldir() before every
/// entry; then seeks back to each recorded position with seekdir() and
/// checks the entry read there is the same. Returns the names read.
pub fn telldir_roundtrip(dir: &Path) -> Vec<String> {
    let cp = c(dir);
    // SAFETY: opendir on a valid path; the stream is closed below.
    let d = unsafe { libc::opendir(cp.as_ptr()) };
    assert!(!d.is_null(), "opendir {}", dir.display());
    let name_of = |ent: *mut libc::dirent| -> String {
        // SAFETY: ent is a valid dirent returned by readdir; d_name is NUL-terminated.
        unsafe { std::ffi::CStr::from_ptr((*ent).d_name.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    let mut seen = Vec::new();
    loop {
        // SAFETY: d is an open directory stream.
        let pos = unsafe { libc::telldir(d) };
        // SAFETY: as above.
        let ent = unsafe { libc::readdir(d) };
        if ent.is_null() {
            break;
        }
        seen.push((pos, name_of(ent)));
    }
    for (pos, name) in seen.iter().rev().step_by(7) {
        // SAFETY: pos came from telldir on this same stream.
        unsafe { libc::seekdir(d, *pos) };
        // SAFETY: d is open.
        let ent = unsafe { libc::readdir(d) };
        assert!(
            !ent.is_null(),
            "seekdir to {pos} gave no entry, expected {name}"
        );
        assert_eq!(&name_of(ent), name, "seekdir({pos})");
    }
    // SAFETY: d is open and not used afterwards.
    unsafe { libc::closedir(d) };
    seen.into_iter().map(|(_, n)| n).collect()
}

/// Opens `dir` with opendir(3), reads it to the end, runs `change`, then
/// rewinddir(3)s and returns the names (without `.` and `..`) read after
/// the rewind: POSIX has the rewound stream show the directory's state
/// at that time.
pub fn rewinddir_after(dir: &Path, change: impl FnOnce()) -> Vec<String> {
    let cp = c(dir);
    // SAFETY: opendir on a valid path; the stream is closed below.
    let d = unsafe { libc::opendir(cp.as_ptr()) };
    assert!(!d.is_null(), "opendir {}", dir.display());
    let read_all = || {
        let mut names = Vec::new();
        loop {
            // SAFETY: d is an open directory stream.
            let ent = unsafe { libc::readdir(d) };
            if ent.is_null() {
                break;
            }
            // SAFETY: ent is a valid dirent; d_name is NUL-terminated.
            let name = unsafe { std::ffi::CStr::from_ptr((*ent).d_name.as_ptr()) };
            let name = name.to_string_lossy().into_owned();
            if name != "." && name != ".." {
                names.push(name);
            }
        }
        names.sort();
        names
    };
    read_all();
    change();
    // SAFETY: d is open.
    unsafe { libc::rewinddir(d) };
    let names = read_all();
    // SAFETY: d is open and not used after this.
    unsafe { libc::closedir(d) };
    names
}
