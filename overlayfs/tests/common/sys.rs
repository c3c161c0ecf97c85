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

/// A directory stream of opendir(3), closed on drop.
struct Stream(*mut libc::DIR);

impl Stream {
    fn open(dir: &Path) -> Stream {
        let cp = c(dir);
        // SAFETY: opendir on a valid C string; the stream is closed on drop.
        let d = unsafe { libc::opendir(cp.as_ptr()) };
        assert!(!d.is_null(), "opendir {}", dir.display());
        Stream(d)
    }

    /// The next name (readdir(3)), None at the end.
    fn next_name(&mut self) -> Option<String> {
        // SAFETY: self.0 is an open directory stream.
        let ent = unsafe { libc::readdir(self.0) };
        if ent.is_null() {
            return None;
        }
        // SAFETY: ent is a valid dirent returned by readdir; d_name is NUL-terminated.
        let name = unsafe { std::ffi::CStr::from_ptr((*ent).d_name.as_ptr()) };
        Some(name.to_string_lossy().into_owned())
    }

    fn tell(&self) -> libc::c_long {
        // SAFETY: self.0 is an open directory stream.
        unsafe { libc::telldir(self.0) }
    }

    /// seekdir(3): glibc hands the position to lseek, so a telldir()
    /// value of another stream of the same directory is valid too.
    fn seek(&mut self, pos: libc::c_long) {
        // SAFETY: self.0 is an open directory stream.
        unsafe { libc::seekdir(self.0, pos) };
    }

    fn rewind(&mut self) {
        // SAFETY: self.0 is an open directory stream.
        unsafe { libc::rewinddir(self.0) };
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // SAFETY: self.0 is open and never used after this.
        unsafe { libc::closedir(self.0) };
    }
}

/// Reads a directory with readdir(3), recording telldir() before every
/// entry; then seeks back to each recorded position with seekdir() and
/// checks the entry read there is the same. Returns the names read.
pub fn telldir_roundtrip(dir: &Path) -> Vec<String> {
    let mut d = Stream::open(dir);
    let seen = tell_stream(&mut d);
    for (pos, name) in seen.iter().rev().step_by(7) {
        d.seek(*pos);
        let got = d.next_name();
        assert_eq!(got.as_ref(), Some(name), "seekdir({pos})");
    }
    seen.into_iter().map(|(_, n)| n).collect()
}

/// The rest of stream `d`: each name with the telldir() position before it.
fn tell_stream(d: &mut Stream) -> Vec<(libc::c_long, String)> {
    let mut seen = Vec::new();
    loop {
        let pos = d.tell();
        let Some(name) = d.next_name() else { break };
        seen.push((pos, name));
    }
    seen
}

/// The rest of stream `d`, in the order read.
fn names_of(d: &mut Stream) -> Vec<String> {
    std::iter::from_fn(|| d.next_name()).collect()
}

/// Opens `dir` with opendir(3), reads it to the end, runs `change`, then
/// rewinddir(3)s and returns the names (without `.` and `..`) read after
/// the rewind: POSIX has the rewound stream show the directory's state
/// at that time.
pub fn rewinddir_after(dir: &Path, change: impl FnOnce()) -> Vec<String> {
    let mut d = Stream::open(dir);
    names_of(&mut d);
    change();
    d.rewind();
    let mut names: Vec<String> = names_of(&mut d)
        .into_iter()
        .filter(|n| n != "." && n != "..")
        .collect();
    names.sort();
    names
}

/// Reads all of `dir` with readdir(3): each name with the telldir()
/// position before it (where seekdir() brings a stream back to it).
pub fn tell_all(dir: &Path) -> Vec<(libc::c_long, String)> {
    tell_stream(&mut Stream::open(dir))
}

/// Opens `dir` anew, seekdir(3)s to `pos` (a telldir() value of another
/// stream) and returns the names read from there to the end.
pub fn read_from(dir: &Path, pos: libc::c_long) -> Vec<String> {
    let mut d = Stream::open(dir);
    d.seek(pos);
    names_of(&mut d)
}
