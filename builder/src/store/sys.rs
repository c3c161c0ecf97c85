//! Extended attributes on paths without following symlinks (l*xattr). nix
//! has no xattr API, so this is the one place in the store that calls libc
//! directly; each function is a thin, checked wrapper around one syscall.
#![allow(unsafe_code)]

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn cname(n: &OsStr) -> io::Result<CString> {
    CString::new(n.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Names of the extended attributes of `path` (not following a final symlink).
pub fn list_xattrs(path: &Path) -> io::Result<Vec<OsString>> {
    let p = cpath(path)?;
    loop {
        // SAFETY: p is NUL-terminated; a null buffer with size 0 asks for the size.
        let size = unsafe { libc::llistxattr(p.as_ptr(), std::ptr::null_mut(), 0) };
        if size < 0 {
            return Err(io::Error::last_os_error());
        }
        if size == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; size as usize];
        // SAFETY: buf is valid for buf.len() bytes.
        let n = unsafe { libc::llistxattr(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ERANGE) {
                continue; // grew between the two calls
            }
            return Err(e);
        }
        buf.truncate(n as usize);
        return Ok(buf
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| OsString::from_vec(s.to_vec()))
            .collect());
    }
}

/// Value of attribute `name` of `path`; `None` when it is absent.
pub fn get_xattr(path: &Path, name: &OsStr) -> io::Result<Option<Vec<u8>>> {
    let p = cpath(path)?;
    let n = cname(name)?;
    loop {
        // SAFETY: NUL-terminated strings; null buffer asks for the size.
        let size = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), std::ptr::null_mut(), 0) };
        if size < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ENODATA) => Ok(None),
                _ => Err(e),
            };
        }
        let mut buf = vec![0u8; size as usize];
        // SAFETY: buf is valid for buf.len() bytes.
        let got =
            unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if got < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ERANGE) {
                continue;
            }
            return Err(e);
        }
        buf.truncate(got as usize);
        return Ok(Some(buf));
    }
}

/// Sets attribute `name` of `path` to `value` (not following a final symlink).
pub fn set_xattr(path: &Path, name: &OsStr, value: &[u8]) -> io::Result<()> {
    let p = cpath(path)?;
    let n = cname(name)?;
    // SAFETY: NUL-terminated strings; value is valid for value.len() bytes.
    let r = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
