//! Default-ACL inheritance for objects built in the scratch dir.
//!
//! With FUSE_POSIX_ACL the kernel enforces and caches ACLs but leaves
//! inheritance at create to the filesystem, and with FUSE_DONT_MASK it
//! also leaves the umask to us (it passes the caller's umask along). An
//! object created straight at its place in upper gets both from the
//! backing fs (ext4 applies the parent's default ACL, or the umask when
//! there is none). An object built in the scratch dir and renamed in
//! would get the scratch dir's instead: this module does for it what the
//! kernel's `posix_acl_create` does, from the parent's default ACL.
//!
//! Values are the kernel's xattr format (what getfacl/setfacl exchange
//! with `system.posix_acl_*`): a little-endian u32 version 2, then
//! entries of u16 tag, u16 perm, u32 id.

use std::ffi::OsStr;
use std::io;
use std::path::Path;

use super::namespace::NewObject;
use super::{Res, UnionFs, errno};
use crate::sys;

pub const ACCESS: &str = "system.posix_acl_access";
pub const DEFAULT: &str = "system.posix_acl_default";

/// Whether `name` is one of the two ACL xattrs.
pub fn is_acl_name(name: &OsStr) -> bool {
    name == ACCESS || name == DEFAULT
}

const VERSION: u32 = 2;
const USER_OBJ: u16 = 0x01;
const USER: u16 = 0x02;
const GROUP_OBJ: u16 = 0x04;
const GROUP: u16 = 0x08;
const MASK: u16 = 0x10;
const OTHER: u16 = 0x20;

/// The ACL xattrs a new object gets from its parent's default ACL.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Inherited {
    /// `system.posix_acl_access`, None when the mode says it all.
    pub access: Option<Vec<u8>>,
    /// `system.posix_acl_default` (directories only).
    pub default: Option<Vec<u8>>,
}

impl Inherited {
    /// Sets the xattrs on `path` (mode and owner already final: setting
    /// an access ACL also sets the permission bits, to the same values).
    pub fn apply(&self, path: &Path) -> io::Result<()> {
        for (name, value) in [(ACCESS, &self.access), (DEFAULT, &self.default)] {
            if let Some(v) = value {
                sys::lsetxattr(path, OsStr::new(name), v, 0)?;
            }
        }
        Ok(())
    }
}

/// `posix_acl_create_masq`: masks the default ACL `dacl` with the
/// requested `mode`, returning the new mode and the access ACL (None when
/// it is equivalent to the mode: no named entries, no mask). EIO for a
/// value the kernel would not have stored.
fn create_masq(dacl: &[u8], mode: u32) -> io::Result<(u32, Option<Vec<u8>>)> {
    let bad = || io::Error::from_raw_os_error(libc::EIO);
    let (head, body) = dacl.split_at_checked(4).ok_or_else(bad)?;
    if u32::from_le_bytes(head.try_into().map_err(|_| bad())?) != VERSION || body.len() % 8 != 0 {
        return Err(bad());
    }
    let mut acl = dacl.to_vec();
    let mut perms = mode & 0o777;
    let mut not_equiv = false;
    let (mut group_obj, mut mask) = (None, None);
    for i in 0..body.len() / 8 {
        let at = 4 + i * 8;
        let tag = u16::from_le_bytes([acl[at], acl[at + 1]]);
        let perm = u16::from_le_bytes([acl[at + 2], acl[at + 3]]) as u32;
        let new_perm = match tag {
            USER_OBJ => {
                let p = perm & (perms >> 6);
                perms &= (p << 6) | !0o700;
                p
            }
            OTHER => {
                let p = perm & perms;
                perms &= p | !0o007;
                p
            }
            USER | GROUP => {
                not_equiv = true;
                perm
            }
            GROUP_OBJ => {
                group_obj = Some(at);
                perm
            }
            MASK => {
                mask = Some(at);
                not_equiv = true;
                perm
            }
            _ => return Err(bad()),
        };
        acl[at + 2..at + 4].copy_from_slice(&(new_perm as u16).to_le_bytes());
    }
    // The mask, if any, stands for the group class; else the owning group.
    let at = mask.or(group_obj).ok_or_else(bad)?;
    let p = u16::from_le_bytes([acl[at + 2], acl[at + 3]]) as u32 & (perms >> 3);
    perms &= (p << 3) | !0o070;
    acl[at + 2..at + 4].copy_from_slice(&(p as u16).to_le_bytes());
    let mode = (mode & !0o777) | perms;
    Ok((mode, not_equiv.then_some(acl)))
}

/// What `posix_acl_create` gives an object of `mode` (type bits included)
/// made in a directory with default ACL `dacl` (None: none there) by a
/// caller with `umask`: the final mode and the ACLs to set.
pub fn inherit(dacl: Option<&[u8]>, mode: u32, umask: u32) -> io::Result<(u32, Inherited)> {
    // An empty value is no ACL (the kernel reads it as none).
    let Some(dacl) = dacl.filter(|v| v.len() > 4) else {
        return Ok((mode & !(umask & 0o777), Inherited::default()));
    };
    let (mode, access) = create_masq(dacl, mode)?;
    let default = (mode & libc::S_IFMT == libc::S_IFDIR).then(|| dacl.to_vec());
    Ok((mode, Inherited { access, default }))
}

/// The mode a new object asks for, type bits included (mkdir's mode
/// carries none: S_IFDIR is added).
fn requested_mode(new: &NewObject<'_>) -> Option<u32> {
    match *new {
        NewObject::File { mode, .. } => Some(libc::S_IFREG | (mode & !libc::S_IFMT)),
        NewObject::Dir { mode } => Some(libc::S_IFDIR | (mode & !libc::S_IFMT)),
        NewObject::Special { mode, .. } => Some(mode),
        NewObject::Symlink { .. } | NewObject::Link { .. } => None,
    }
}

/// `new` with its mode bits replaced by `mode`'s.
fn with_mode<'a>(new: NewObject<'a>, mode: u32) -> NewObject<'a> {
    let keep = |old: u32| (old & libc::S_IFMT) | (mode & !libc::S_IFMT);
    match new {
        NewObject::File { mode: m, flags } => NewObject::File {
            mode: keep(m),
            flags,
        },
        NewObject::Dir { mode: m } => NewObject::Dir { mode: keep(m) },
        NewObject::Special { mode: m, rdev } => NewObject::Special {
            mode: keep(m),
            rdev,
        },
        other => other,
    }
}

impl UnionFs {
    /// `new`, to be made in directory `parent` by a caller with `umask`,
    /// with the mode `posix_acl_create` gives it, and the ACLs it
    /// inherits. Reads the parent's default ACL where the parent is now
    /// (a lower dir's is copied up with it). Caller holds `ns`.
    pub(super) fn inherit_acl<'a>(
        &self,
        parent: u64,
        new: NewObject<'a>,
        umask: u32,
    ) -> Res<(NewObject<'a>, Inherited)> {
        let Some(mode) = requested_mode(&new) else {
            return Ok((new, Inherited::default()));
        };
        let (_, dir) = self.backing_path(parent)?;
        let dacl = match sys::lgetxattr(&dir, OsStr::new(DEFAULT)) {
            Ok(v) => Some(v),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENODATA | libc::EOPNOTSUPP)) => None,
            Err(e) => return Err(errno(e)),
        };
        let (mode, inherited) = inherit(dacl.as_deref(), mode, umask).map_err(errno)?;
        Ok((with_mode(new, mode), inherited))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
        let mut v = VERSION.to_le_bytes().to_vec();
        for (tag, perm, id) in entries {
            v.extend_from_slice(&tag.to_le_bytes());
            v.extend_from_slice(&perm.to_le_bytes());
            v.extend_from_slice(&id.to_le_bytes());
        }
        v
    }

    const NONE: u32 = u32::MAX;

    #[test]
    fn no_default_acl_applies_the_umask() {
        let (mode, inh) = inherit(None, libc::S_IFREG | 0o666, 0o022).unwrap();
        assert_eq!(mode, libc::S_IFREG | 0o644);
        assert_eq!(inh, Inherited::default());
    }

    #[test]
    fn default_acl_with_named_user_masks_by_mode_not_umask() {
        // user::rwx user:1000:r-x group::r-x mask::rwx other::---
        let d = acl(&[
            (USER_OBJ, 7, NONE),
            (USER, 5, 1000),
            (GROUP_OBJ, 5, NONE),
            (MASK, 7, NONE),
            (OTHER, 0, NONE),
        ]);
        let (mode, inh) = inherit(Some(&d), libc::S_IFREG | 0o666, 0o077).unwrap();
        // Owner rw (6 & 7), mask 6 & 7 = rw, other 6 & 0.
        assert_eq!(mode, libc::S_IFREG | 0o660);
        let want = acl(&[
            (USER_OBJ, 6, NONE),
            (USER, 5, 1000),
            (GROUP_OBJ, 5, NONE),
            (MASK, 6, NONE),
            (OTHER, 0, NONE),
        ]);
        assert_eq!(inh.access, Some(want));
        assert_eq!(inh.default, None, "a file gets no default ACL");
    }

    #[test]
    fn minimal_default_acl_gives_only_a_mode_and_dirs_keep_the_default() {
        let d = acl(&[(USER_OBJ, 7, NONE), (GROUP_OBJ, 5, NONE), (OTHER, 1, NONE)]);
        let (mode, inh) = inherit(Some(&d), libc::S_IFDIR | 0o777, 0o077).unwrap();
        assert_eq!(mode, libc::S_IFDIR | 0o751);
        assert_eq!(inh.access, None);
        assert_eq!(inh.default, Some(d));
    }

    #[test]
    fn malformed_default_acl_is_eio() {
        let mut d = acl(&[(USER_OBJ, 7, NONE), (OTHER, 0, NONE)]);
        assert!(inherit(Some(&d), 0o644, 0).is_err(), "no group entry");
        d[0] = 3;
        assert!(inherit(Some(&d), 0o644, 0).is_err(), "bad version");
    }
}
