//! Raw syscalls that neither `std` nor `nix` wrap: extended attributes on
//! paths that must not follow symlinks (`l*xattr`), and glibc's
//! `malloc_trim`.
//!
//! This is the only module of the crate allowed to use `unsafe`: each
//! function is one syscall on pointers it builds from owned Rust values.
#![allow(unsafe_code)]

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn cname(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Returns free heap memory to the system (glibc keeps freed memory in
/// its arenas otherwise, so the RSS would stay at its peak).
pub fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim takes no pointers and only walks the allocator's
    // own free lists, under its locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Fixes glibc's trim and mmap thresholds (process-wide). By default
/// they adapt: freeing fuser's 16 MiB handshake buffer raises the mmap
/// threshold to 16 MiB and the trim threshold to 32 MiB, so the session
/// threads' arenas then never give their freed tops back (and
/// `malloc_trim` leaves the top of a thread's arena alone): after a burst
/// of creates and deletes the daemon kept tens of MB. With fixed values,
/// big buffers are their own mappings and a freed arena top over 1 MiB
/// goes back to the system at once.
pub fn tune_allocator() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt takes two integers and only sets allocator parameters.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 20);
    }
}

/// Turns a `ssize_t` syscall result into a length or the errno.
fn check(res: isize) -> io::Result<usize> {
    if res < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(res as usize)
    }
}

/// `lgetxattr(2)`: the whole value of `name` on `path` (not following a
/// final symlink). Retries when the value grows between the size probe and
/// the read.
pub fn lgetxattr(path: &Path, name: &OsStr) -> io::Result<Vec<u8>> {
    let p = cpath(path)?;
    let n = cname(name)?;
    loop {
        // SAFETY: p and n are NUL-terminated; a null buffer of size 0 asks for the size.
        let size =
            check(unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), std::ptr::null_mut(), 0) })?;
        let mut buf = vec![0u8; size];
        // SAFETY: buf is valid for buf.len() bytes.
        let res =
            unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        match check(res) {
            Ok(len) => {
                buf.truncate(len);
                return Ok(buf);
            }
            Err(e) if e.raw_os_error() == Some(libc::ERANGE) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `lsetxattr(2)` with the caller's `flags` (XATTR_CREATE / XATTR_REPLACE).
pub fn lsetxattr(path: &Path, name: &OsStr, value: &[u8], flags: i32) -> io::Result<()> {
    let p = cpath(path)?;
    let n = cname(name)?;
    // SAFETY: pointers come from live CStrings and a slice of value.len() bytes.
    let res = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            flags,
        )
    };
    if res < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `lremovexattr(2)`.
pub fn lremovexattr(path: &Path, name: &OsStr) -> io::Result<()> {
    let p = cpath(path)?;
    let n = cname(name)?;
    // SAFETY: both pointers are NUL-terminated strings owned here.
    if unsafe { libc::lremovexattr(p.as_ptr(), n.as_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `llistxattr(2)`: the attribute names of `path`.
pub fn llistxattr(path: &Path) -> io::Result<Vec<OsString>> {
    let p = cpath(path)?;
    loop {
        // SAFETY: a null buffer of size 0 asks for the needed size.
        let size = check(unsafe { libc::llistxattr(p.as_ptr(), std::ptr::null_mut(), 0) })?;
        if size == 0 {
            // No attributes (most files): one syscall.
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; size];
        // SAFETY: buf is valid for buf.len() bytes.
        let res = unsafe { libc::llistxattr(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        match check(res) {
            Ok(len) => {
                buf.truncate(len);
                return Ok(buf
                    .split(|b| *b == 0)
                    .filter(|s| !s.is_empty())
                    .map(|s| OsString::from_vec(s.to_vec()))
                    .collect());
            }
            Err(e) if e.raw_os_error() == Some(libc::ERANGE) => continue,
            Err(e) => return Err(e),
        }
    }
}
