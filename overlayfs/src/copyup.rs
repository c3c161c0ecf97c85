//! Copying one object from a lower layer into the upper layer.
//!
//! Atomicity: the copy is built completely under `work/` (data, owner,
//! mode, xattrs, times, fsync) and only then renamed to its place in
//! `upper/`, so no reader and no crash can observe a partial copy: the
//! name in upper either does not exist (the lower object still shows) or
//! is complete.

use std::ffi::OsStr;
use std::fs::{self, File, Metadata};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use nix::fcntl::{AT_FDCWD, RenameFlags};
use nix::sys::stat::{Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, Whence};

use crate::{markers, sys};

pub fn nix_io(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Copies `[0, len)` of `src` to `dst` keeping holes: only the data
/// extents reported by SEEK_DATA/SEEK_HOLE are copied, and the size is set
/// at the end so a trailing hole stays a hole.
pub fn copy_sparse(src: &File, dst: &File, len: u64) -> io::Result<()> {
    let mut off: i64 = 0;
    let end = len as i64;
    while off < end {
        let data = match nix::unistd::lseek64(src, off, Whence::SeekData) {
            Ok(d) => d,
            Err(nix::Error::ENXIO) => break,
            Err(e) => return Err(nix_io(e)),
        };
        let hole = nix::unistd::lseek64(src, data, Whence::SeekHole)
            .map_err(nix_io)?
            .min(end);
        copy_range(src, dst, data, hole - data)?;
        off = hole;
    }
    dst.set_len(len)
}

/// Copies `len` bytes at `off` from `src` to the same offset of `dst`,
/// with copy_file_range (reflinks where the filesystem can) and a plain
/// read/write fallback.
fn copy_range(src: &File, dst: &File, off: i64, len: i64) -> io::Result<()> {
    let (mut in_off, mut out_off) = (off, off);
    let mut left = len;
    while left > 0 {
        match nix::fcntl::copy_file_range(
            src,
            Some(&mut in_off),
            dst,
            Some(&mut out_off),
            left as usize,
        ) {
            Ok(0) => return Ok(()),
            Ok(n) => left -= n as i64,
            Err(
                nix::Error::EXDEV
                | nix::Error::ENOSYS
                | nix::Error::EINVAL
                | nix::Error::EOPNOTSUPP,
            ) => {
                return copy_range_rw(src, dst, in_off, left);
            }
            Err(e) => return Err(nix_io(e)),
        }
    }
    Ok(())
}

fn copy_range_rw(src: &File, dst: &File, mut off: i64, mut left: i64) -> io::Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let want = buf.len().min(left as usize);
        let n = src.read_at(&mut buf[..want], off as u64)?;
        if n == 0 {
            break;
        }
        dst.write_all_at(&buf[..n], off as u64)?;
        off += n as i64;
        left -= n as i64;
    }
    Ok(())
}

/// Copies the user-visible xattrs of `src` to `dst`. Union-private names
/// are not copied (the copy gets its own markers). security.* names the
/// destination refuses are skipped, as the kernel does.
pub fn copy_xattrs(src: &Path, dst: &Path) -> io::Result<()> {
    let names = match sys::llistxattr(src) {
        Ok(n) => n,
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => return Ok(()),
        Err(e) => return Err(e),
    };
    for name in names.iter().filter(|n| !markers::is_private_xattr(n)) {
        let value = match sys::lgetxattr(src, name) {
            Ok(v) => v,
            Err(e) if e.raw_os_error() == Some(libc::ENODATA) => continue,
            Err(e) => return Err(e),
        };
        if let Err(e) = sys::lsetxattr(dst, name, &value, 0) {
            let skippable = name.to_string_lossy().starts_with("security.")
                && matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EOPNOTSUPP));
            if !skippable {
                return Err(e);
            }
        }
    }
    Ok(())
}

fn timespec(sec: i64, nsec: i64) -> TimeSpec {
    TimeSpec::new(sec, nsec)
}

/// Sets atime/mtime of `path` (not following symlinks) to those in `meta`.
pub fn set_times(path: &Path, meta: &Metadata) -> io::Result<()> {
    nix::sys::stat::utimensat(
        AT_FDCWD,
        path,
        &timespec(meta.atime(), meta.atime_nsec()),
        &timespec(meta.mtime(), meta.mtime_nsec()),
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(nix_io)
}

/// Sets owner then mode (chown first: it may clear set-id bits).
pub fn set_owner_mode(path: &Path, uid: u32, gid: u32, mode: Option<u32>) -> io::Result<()> {
    nix::unistd::fchownat(
        AT_FDCWD,
        path,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(nix_io)?;
    if let Some(mode) = mode {
        nix::sys::stat::fchmodat(
            AT_FDCWD,
            path,
            Mode::from_bits_truncate(mode & 0o7777),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
        .map_err(nix_io)?;
    }
    Ok(())
}

/// Creates at `tmp` an object of the same kind as `src` (described by
/// `meta`): a file with the data (holes kept), an empty directory, a
/// symlink with the same target, or a special file with the same device.
/// With `durable`, file data is fsynced (else the caller syncs later).
pub fn clone_object(src: &Path, meta: &Metadata, tmp: &Path, durable: bool) -> io::Result<()> {
    let ft = meta.file_type();
    if ft.is_file() {
        let from = File::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(src)?;
        let to = File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(tmp)?;
        copy_sparse(&from, &to, meta.len())?;
        if durable {
            to.sync_all()?;
        }
    } else if ft.is_dir() {
        fs::DirBuilder::new().mode(0o700).create(tmp)?;
    } else if ft.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(src)?, tmp)?;
    } else {
        let kind = SFlag::from_bits_truncate(meta.mode() & libc::S_IFMT);
        nix::sys::stat::mknodat(
            AT_FDCWD,
            tmp,
            kind,
            Mode::from_bits_truncate(0o600),
            meta.rdev(),
        )
        .map_err(nix_io)?;
    }
    Ok(())
}

/// Builds at `tmp` a full copy of `src` (kind, data, owner, mode, xattrs, times).
pub fn copy_to_work(src: &Path, tmp: &Path, durable: bool) -> io::Result<Metadata> {
    let meta = src.symlink_metadata()?;
    clone_object(src, &meta, tmp, durable)?;
    let result = (|| {
        let mode = (!meta.file_type().is_symlink()).then_some(meta.mode());
        set_owner_mode(tmp, meta.uid(), meta.gid(), mode)?;
        copy_xattrs(src, tmp)?;
        set_times(tmp, &meta)
    })();
    if let Err(e) = result {
        remove_any(tmp);
        return Err(e);
    }
    Ok(meta)
}

/// Renames `from` to `to`; `flags` as renameat2(2).
pub fn rename2(from: &Path, to: &Path, flags: RenameFlags) -> io::Result<()> {
    nix::fcntl::renameat2(AT_FDCWD, from, AT_FDCWD, to, flags).map_err(nix_io)
}

/// Removes a file or a directory tree, ignoring errors (cleanup of work/).
pub fn remove_any(path: &Path) {
    let is_dir = path.symlink_metadata().is_ok_and(|m| m.is_dir());
    let _ = if is_dir {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
}

/// Creates a kernel-format whiteout (0/0 character device) at `path`.
pub fn make_whiteout(path: &Path) -> io::Result<()> {
    nix::sys::stat::mknodat(AT_FDCWD, path, SFlag::S_IFCHR, Mode::empty(), 0).map_err(nix_io)
}

/// Marks the directory `path` opaque in the kernel format.
pub fn set_opaque(path: &Path) -> io::Result<()> {
    sys::lsetxattr(path, OsStr::new(markers::OPAQUE_XATTR), b"y", 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn sparse_copy_keeps_holes_and_bytes() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        let f = File::create(&src).unwrap();
        f.write_all_at(b"head", 0).unwrap();
        f.write_all_at(b"tail", 64 << 20).unwrap();
        f.set_len(128 << 20).unwrap();
        let dst = t.path().join("dst");
        let meta = copy_to_work(&src, &dst, true).unwrap();
        let out = fs::metadata(&dst).unwrap();
        assert_eq!(out.len(), meta.len());
        assert!(
            out.blocks() * 512 < 1 << 20,
            "holes were filled: {} blocks",
            out.blocks()
        );
        let g = File::open(&dst).unwrap();
        let mut buf = [0u8; 4];
        g.read_exact_at(&mut buf, 64 << 20).unwrap();
        assert_eq!(&buf, b"tail");
        g.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"head");
        assert_eq!(out.mtime(), meta.mtime());
        assert_eq!(out.mode(), meta.mode());
    }
}
