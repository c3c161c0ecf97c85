//! Extended attributes through the union. Names private to union
//! filesystems (markers) are hidden: not listed, and get/set/remove fail
//! with EOPNOTSUPP as kernel overlayfs answers for its own names.

use std::ffi::OsStr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use fuser::Errno;

use super::{Res, UnionFs, acl, errno};
use crate::{markers, sys};

impl UnionFs {
    pub fn getxattr(&self, ino: u64, name: &OsStr) -> Res<Vec<u8>> {
        if markers::is_private_xattr(name) {
            return Err(Errno::EOPNOTSUPP);
        }
        let _ns = self.read_ns();
        let (_, path) = self.backing_path(ino)?;
        sys::lgetxattr(&path, name).map_err(errno)
    }

    /// The names, NUL-terminated and concatenated as listxattr(2) returns them.
    pub fn listxattr(&self, ino: u64) -> Res<Vec<u8>> {
        let _ns = self.read_ns();
        let (_, path) = self.backing_path(ino)?;
        let names = sys::llistxattr(&path).map_err(errno)?;
        let mut out = Vec::new();
        for n in names.iter().filter(|n| !markers::is_private_xattr(n)) {
            out.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(n.as_os_str()));
            out.push(0);
        }
        Ok(out)
    }

    pub fn setxattr(&self, ino: u64, name: &OsStr, value: &[u8], flags: i32) -> Res<()> {
        if markers::is_private_xattr(name) {
            return Err(Errno::EOPNOTSUPP);
        }
        let _ns = self.lock_to_modify(ino)?;
        let (_, path) = self.backing_path(ino)?;
        sys::lsetxattr(&path, name, value, flags).map_err(errno)
    }

    pub fn removexattr(&self, ino: u64, name: &OsStr) -> Res<()> {
        if markers::is_private_xattr(name) {
            return Err(Errno::EOPNOTSUPP);
        }
        // Removing a name the object does not have must not copy it up.
        // An ACL it does not have is removed fine: the kernel's
        // filesystems (and kernel overlayfs) treat it as setting none.
        match self.getxattr(ino, name) {
            Err(Errno::ENODATA) if acl::is_acl_name(name) => return Ok(()),
            res => res?,
        };
        let _ns = self.lock_to_modify(ino)?;
        let (_, path) = self.backing_path(ino)?;
        sys::lremovexattr(&path, name).map_err(errno)
    }

    /// Clears S_ISGID of `ino` (in upper: an ACL was just set on it), as
    /// the kernel asks after an access ACL set by a caller outside the
    /// file's group (FUSE_SETXATTR_ACL_KILL_SGID).
    pub fn kill_sgid(&self, ino: u64) -> Res<()> {
        let _ns = self.lock_to_modify(ino)?;
        let (_, path) = self.backing_path(ino)?;
        let mode = path.symlink_metadata().map_err(errno)?.mode();
        if mode & libc::S_ISGID == 0 {
            return Ok(());
        }
        let perm = std::fs::Permissions::from_mode(mode & 0o7777 & !libc::S_ISGID);
        // The kernel drops its attributes of `ino` after the ACL request.
        std::fs::set_permissions(&path, perm).map_err(errno)
    }
}
