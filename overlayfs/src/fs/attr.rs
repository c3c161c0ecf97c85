//! setattr (chmod, chown, truncate, utimens) and statfs.

use std::fs::File;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::UNIX_EPOCH;

use fuser::{Errno, FileAttr, TimeOrNow};
use nix::fcntl::AT_FDCWD;
use nix::sys::stat::UtimensatFlags;
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid};

use super::{Res, UnionFs, errno, nix_errno};
use crate::layers::Layer;

/// What a setattr call changes.
#[derive(Debug, Default, Clone, Copy)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<TimeOrNow>,
    pub mtime: Option<TimeOrNow>,
    pub fh: Option<u64>,
    /// Also clear S_ISUID, and S_ISGID if S_IXGRP is set (the kernel's
    /// FATTR_KILL_SUIDGID: a truncate by a caller without CAP_FSETID, and
    /// any chown of a non-directory).
    pub kill_suidgid: bool,
}

/// `mode` without the bits a write or truncate by a caller without
/// CAP_FSETID drops (the kernel's `setattr_should_drop_suidgid`): S_ISUID,
/// and S_ISGID when S_IXGRP is set (without group execute, S_ISGID marks
/// mandatory locking, not privilege). None if nothing is to be dropped.
pub(crate) fn without_suidgid(mode: u32) -> Option<u32> {
    let mut kill = mode & libc::S_ISUID;
    if mode & (libc::S_ISGID | libc::S_IXGRP) == libc::S_ISGID | libc::S_IXGRP {
        kill |= libc::S_ISGID;
    }
    (kill != 0).then_some(mode & 0o7777 & !kill)
}

/// Drops S_ISUID/S_ISGID of an open regular file as `without_suidgid`
/// says. The daemon's own writes keep them: it has CAP_FSETID.
pub(crate) fn kill_suidgid(file: &File) -> Res<()> {
    let meta = file.metadata().map_err(errno)?;
    match without_suidgid(meta.mode()) {
        Some(mode) if meta.is_file() => file
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(errno),
        _ => Ok(()),
    }
}

/// Filesystem statistics, as statvfs(3) reports them.
#[derive(Debug, Clone, Copy)]
pub struct StatFs {
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub bsize: u32,
    pub namelen: u32,
    pub frsize: u32,
}

fn timespec(t: Option<TimeOrNow>) -> TimeSpec {
    match t {
        None => TimeSpec::UTIME_OMIT,
        Some(TimeOrNow::Now) => TimeSpec::UTIME_NOW,
        Some(TimeOrNow::SpecificTime(t)) => match t.duration_since(UNIX_EPOCH) {
            Ok(d) => TimeSpec::new(d.as_secs() as i64, d.subsec_nanos() as i64),
            Err(e) => {
                let d = e.duration();
                let (mut s, mut ns) = (-(d.as_secs() as i64), -(d.subsec_nanos() as i64));
                if ns < 0 {
                    s -= 1;
                    ns += 1_000_000_000;
                }
                TimeSpec::new(s, ns)
            }
        },
    }
}

impl UnionFs {
    pub fn setattr(&self, ino: u64, set: SetAttr) -> Res<FileAttr> {
        let _ns = self.lock_to_modify(ino)?;
        let node = self.node(ino)?;
        if node.unlinked() {
            return self.setattr_unlinked(ino, set);
        }
        let path = self.stack.path(node.layer, &node.src);
        if set.uid.is_some() || set.gid.is_some() {
            nix::unistd::fchownat(
                AT_FDCWD,
                &path,
                set.uid.map(Uid::from_raw),
                set.gid.map(Gid::from_raw),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map_err(nix_errno)?;
        }
        if let Some(mode) = set.mode {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o7777))
                .map_err(errno)?;
        }
        if let Some(size) = set.size {
            match set
                .fh
                .and_then(|fh| self.files.get(fh))
                .filter(|f| f.ino == ino)
            {
                Some(f) if f.current().set_len(size).is_ok() => {}
                _ => File::options()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(size))
                    .map_err(errno)?,
            }
        }
        // Sent with a truncate and with every non-directory chown
        // (symlinks too: nothing to drop there; the chown above already
        // dropped the bits of a regular file, as the backing fs does).
        if set.kill_suidgid {
            let meta = std::fs::symlink_metadata(&path).map_err(errno)?;
            if let Some(mode) = without_suidgid(meta.mode()).filter(|_| meta.is_file()) {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                    .map_err(errno)?;
            }
        }
        if set.atime.is_some() || set.mtime.is_some() {
            nix::sys::stat::utimensat(
                AT_FDCWD,
                &path,
                &timespec(set.atime),
                &timespec(set.mtime),
                UtimensatFlags::NoFollowSymlink,
            )
            .map_err(nix_errno)?;
        }
        self.attr(ino)
    }

    /// setattr on a file with no name left: only through an open upper file.
    fn setattr_unlinked(&self, ino: u64, set: SetAttr) -> Res<FileAttr> {
        let node = self.node(ino)?;
        let open = self.files.find(|f| f.ino == ino).ok_or(Errno::ENOENT)?;
        if node.layer != Layer::Upper {
            return Err(Errno::EROFS);
        }
        let f = &*open.current();
        if set.uid.is_some() || set.gid.is_some() {
            nix::unistd::fchown(f, set.uid.map(Uid::from_raw), set.gid.map(Gid::from_raw))
                .map_err(nix_errno)?;
        }
        if let Some(mode) = set.mode {
            f.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))
                .map_err(errno)?;
        }
        if let Some(size) = set.size {
            f.set_len(size).map_err(errno)?;
        }
        if set.kill_suidgid {
            kill_suidgid(f)?;
        }
        if set.atime.is_some() || set.mtime.is_some() {
            nix::sys::stat::futimens(f, &timespec(set.atime), &timespec(set.mtime))
                .map_err(nix_errno)?;
        }
        self.attr(ino)
    }

    pub fn statfs(&self) -> Res<StatFs> {
        let top = self
            .stack
            .all_layers()
            .first()
            .copied()
            .unwrap_or(Layer::Lower(0));
        let s = nix::sys::statvfs::statvfs(self.stack.root(top)).map_err(nix_errno)?;
        Ok(StatFs {
            blocks: s.blocks(),
            bfree: s.blocks_free(),
            bavail: s.blocks_available(),
            files: s.files(),
            ffree: s.files_free(),
            bsize: s.block_size() as u32,
            namelen: 255,
            frsize: s.fragment_size() as u32,
        })
    }
}
