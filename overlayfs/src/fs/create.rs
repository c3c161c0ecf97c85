//! Creating an object directly at its place in upper, as kernel
//! overlayfs does when no whiteout is replaced: one syscall instead of a
//! build in the scratch dir, a chown, a chmod and a rename.
//!
//! Only when the result is exactly what the scratch-dir build gives: the
//! daemon's own uid and gid are the new owner (a setgid parent gives its
//! group either way), and its umask takes nothing from the mode. Anything
//! else (another caller's credentials, a whiteout in the way, odd mode
//! bits) goes the scratch-dir way.
//!
//! The common case, a new name in a directory already in upper, first
//! tries the create itself (`create_fast`): O_EXCL (mkdir, mknod, symlink
//! fail alike) answers in one syscall whether upper holds anything at the
//! name, and only the lower layers are asked whether they show it. Only
//! when something is in the way (an object: EEXIST; a whiteout: replaced
//! through the scratch dir) does the full lookup run.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::OnceLock;

use fuser::FileAttr;
use nix::sys::stat::{Mode, SFlag};

use fuser::Errno;

use super::namespace::backing_flags;
use super::{Creds, NewObject, Res, UnionFs, errno};
use crate::layers::{Found, Layer};

/// The daemon's euid, egid and umask, read once (nothing here changes them).
fn identity() -> (u32, u32, u32) {
    static ID: OnceLock<(u32, u32, u32)> = OnceLock::new();
    *ID.get_or_init(|| {
        let umask = fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Umask:"))
                    .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            })
            // Unknown: every mode bit may be masked, so nothing is made here.
            .unwrap_or(0o7777);
        (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
            umask,
        )
    })
}

/// Whether creating `new` at its place gives the same object as the
/// scratch-dir build with owner `creds` in a parent that is setgid or not.
fn in_place_is_exact(new: &NewObject<'_>, creds: Creds, setgid_dir: bool) -> bool {
    let (uid, gid, umask) = identity();
    if creds.uid != uid || (creds.gid != gid && !setgid_dir) {
        return false;
    }
    match *new {
        NewObject::File { mode, .. } | NewObject::Special { mode, .. } => mode & umask == 0,
        // mkdir(2) ignores the setuid and setgid bits (a setgid parent's
        // bit is inherited either way).
        NewObject::Dir { mode } => mode & umask == 0 && mode & (libc::S_ISUID | libc::S_ISGID) == 0,
        NewObject::Symlink { .. } => true,
        NewObject::Link { .. } => false,
    }
}

impl UnionFs {
    /// Creates `name` in directory `parent` without a lookup in upper
    /// first, if the parent is in upper already. Returns None to have the
    /// caller take the full way (lookup, copy-up of the parent, whiteout,
    /// scratch-dir build): parent not in upper, a lower layer shows the
    /// name, something in upper is in the way, or in place is not exact.
    /// Caller holds `ns` exclusively.
    pub(super) fn create_fast(
        &self,
        parent: u64,
        name: &OsStr,
        creds: Creds,
        new: &NewObject<'_>,
    ) -> Res<Option<(FileAttr, Option<File>)>> {
        let node = self.node(parent)?;
        let Some(dir) = node
            .path()
            .filter(|_| node.is_dir() && node.layer == Layer::Upper)
        else {
            return Ok(None);
        };
        let path = dir.join(name);
        if self.table().ino_by_path(&path).is_some() {
            return Err(Errno::EEXIST);
        }
        let (_, gid, _) = identity();
        // With the daemon's own gid the result is the same in a setgid
        // parent or not (see `in_place_is_exact`): no stat of the parent.
        let setgid_dir = creds.gid != gid
            && self.stack.upper_path(dir).metadata().map_err(errno)?.mode() & libc::S_ISGID != 0;
        if !in_place_is_exact(new, creds, setgid_dir) {
            return Ok(None);
        }
        let lowers: Vec<Layer> = node
            .merged
            .iter()
            .copied()
            .filter(|l| *l != Layer::Upper)
            .collect();
        // Usually the LOOKUP just before found the name in no layer.
        if !lowers.is_empty()
            && !self.lower_absent.take(&path)
            && self
                .stack
                .resolve(&lowers, dir, name)
                .map_err(errno)?
                .is_some()
        {
            // EEXIST, or hidden by a `.wh.` file in upper: the full way knows.
            return Ok(None);
        }
        self.create_in_place(&path, creds, new, setgid_dir)
    }

    /// Creates `new` at union path `path` directly in upper if that is
    /// exact (see the module doc) and nothing (a whiteout) is in the way.
    /// Returns None to have the caller build it in the scratch dir.
    /// Caller holds `ns` exclusively and has checked that the name shows
    /// nothing.
    pub(super) fn create_in_place(
        &self,
        path: &Path,
        creds: Creds,
        new: &NewObject<'_>,
        setgid_dir: bool,
    ) -> Res<Option<(FileAttr, Option<File>)>> {
        if !in_place_is_exact(new, creds, setgid_dir) {
            return Ok(None);
        }
        let target = self.stack.upper_path(path);
        let made = match *new {
            NewObject::File { mode, flags } => File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(mode & 0o7777)
                .custom_flags(backing_flags(flags))
                .open(&target)
                .map(Some),
            NewObject::Dir { mode } => fs::DirBuilder::new()
                .mode(mode & 0o7777)
                .create(&target)
                .map(|()| None),
            NewObject::Special { mode, rdev } => nix::sys::stat::mknodat(
                nix::fcntl::AT_FDCWD,
                &target,
                SFlag::from_bits_truncate(mode & libc::S_IFMT),
                Mode::from_bits_truncate(mode & 0o7777),
                rdev,
            )
            .map(|()| None)
            .map_err(|e| std::io::Error::from_raw_os_error(e as i32)),
            NewObject::Symlink { target: to } => {
                std::os::unix::fs::symlink(to, &target).map(|()| None)
            }
            NewObject::Link { .. } => return Ok(None),
        };
        let file = match made {
            Ok(None) if matches!(new, NewObject::Dir { .. }) => {
                self.stack.upper_markers.made_empty(path);
                None
            }
            Ok(f) => f,
            // A whiteout: replacing it is the scratch dir's job.
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => return Ok(None),
            Err(e) => return Err(errno(e)),
        };
        // A new file is stat-ed through its fd (no path walk).
        let meta = match &file {
            Some(f) => f.metadata(),
            None => target.symlink_metadata(),
        }
        .map_err(errno)?;
        let found = Found {
            layer: Layer::Upper,
            meta: meta.clone(),
            merged: vec![Layer::Upper],
        };
        let ino = self.register(path, found);
        let attr = self.fresh_attr(ino, &meta)?;
        // A node just made from a new backing inode: the kernel holds no
        // reference to it that a FORGET could drop.
        let counted = self.table().inc_lookup(ino);
        debug_assert!(counted, "a node just made is in the table");
        Ok(Some((attr, file)))
    }
}
