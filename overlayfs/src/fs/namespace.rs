//! Names: lookup, creating objects (file, dir, node, symlink, hard link)
//! and removing them (unlink, rmdir).
//!
//! A new object is built completely in the scratch dir (owner, mode) and
//! renamed into `upper/` in one step, replacing a whiteout if there is one
//! (a directory replacing a whiteout is made opaque, so the lower
//! directory it replaces stays hidden). A removed name that a lower layer
//! still shows is replaced by a whiteout, again by a single rename.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use fuser::{Errno, FileAttr};
use nix::fcntl::RenameFlags;
use nix::sys::stat::{Mode, SFlag};

use super::acl::Inherited;
use super::{Child, Creds, Res, UnionFs, errno, nix_errno};
use crate::copyup::{self, remove_any, rename2};
use crate::layers::{self, Layer};
use crate::table::Node;
use crate::{markers, readdir};

/// What to create.
pub enum NewObject<'a> {
    /// A regular file, opened with the caller's open flags.
    File {
        mode: u32,
        flags: i32,
    },
    Dir {
        mode: u32,
    },
    /// fifo, socket, character or block device (`mode` includes the type).
    Special {
        mode: u32,
        rdev: u64,
    },
    Symlink {
        target: &'a Path,
    },
    /// A hard link to an existing inode.
    Link {
        ino: u64,
    },
}

/// Open flags worth keeping on a backing file: the access mode is decided
/// by the caller, creation flags are handled by the union, O_DIRECT would
/// require aligned buffers the FUSE path does not give.
pub fn backing_flags(flags: i32) -> i32 {
    flags & (libc::O_APPEND | libc::O_NONBLOCK | libc::O_SYNC | libc::O_DSYNC | libc::O_NOATIME)
}

pub(crate) fn check_new_name(name: &OsStr) -> Res<()> {
    if readdir::name_too_long(name) {
        return Err(Errno::ENAMETOOLONG);
    }
    if markers::is_marker_name(name) {
        // `.wh.*` names are whiteout markers in the layer formats we read.
        return Err(Errno::EINVAL);
    }
    Ok(())
}

impl UnionFs {
    pub fn lookup(&self, parent: u64, name: &OsStr) -> Res<FileAttr> {
        // The kernel may be forgetting the name's inode (an evicted dentry:
        // FORGET is served by another thread) while it looks the name up
        // again. The node is counted before anything else is read from it,
        // so that FORGET can no longer remove it; when it already did, in
        // the moment between finding the node and counting it, the lookup
        // runs again and builds the node anew under the same inode number
        // (reserved by its key). Replying with a removed node, or ENOENT
        // from reading it, made `stat` of an existing file fail
        // (`a_name_looked_up_while_its_inode_is_forgotten_is_found`).
        for _ in 0..16 {
            if let Some(attr) = self.lookup_counted(parent, name)? {
                return Ok(attr);
            }
        }
        Err(Errno::ESTALE)
    }

    /// One try of `lookup`: None if the node went before it was counted.
    fn lookup_counted(&self, parent: u64, name: &OsStr) -> Res<Option<FileAttr>> {
        let shared = self.read_ns();
        let mut _exclusive = None;
        let (ino, fresh) = match self.child_shared(parent, name)? {
            Child::Found(ino) => (ino.ok_or(Errno::ENOENT)?, None),
            Child::Fresh(ino, meta) => (ino, Some(meta)),
            Child::NeedsExclusive => {
                drop(shared);
                _exclusive = Some(self.write_ns()?);
                (self.child(parent, name)?.ok_or(Errno::ENOENT)?, None)
            }
        };
        if !self.table().inc_lookup(ino) {
            return Ok(None);
        }
        let attr = match fresh {
            // Just stat-ed: no second stat for the reply.
            Some(meta) => self.fresh_attr(ino, &meta),
            None => self.attr(ino),
        };
        if attr.is_err() {
            self.forget(ino, 1);
        }
        attr.map(Some)
    }

    pub fn getattr(&self, ino: u64) -> Res<FileAttr> {
        let _ns = self.read_ns();
        self.attr(ino)
    }

    pub fn readlink(&self, ino: u64) -> Res<Vec<u8>> {
        let _ns = self.read_ns();
        let (_, path) = self.backing_path(ino)?;
        let target = fs::read_link(path).map_err(errno)?;
        Ok(std::os::unix::ffi::OsStrExt::as_bytes(target.as_os_str()).to_vec())
    }

    /// Creates `name` in `parent`, owned by `creds` (group from a setgid
    /// parent). Returns the new inode's attributes and, for a file, the
    /// open backing file.
    pub fn create_object(
        &self,
        parent: u64,
        name: &OsStr,
        creds: Creds,
        new: NewObject<'_>,
    ) -> Res<(FileAttr, Option<File>)> {
        check_new_name(name)?;
        if let NewObject::Special { mode, rdev } = new
            && markers::would_be_whiteout(mode, rdev)
        {
            return Err(Errno::EPERM);
        }
        let _ns = self.write_ns()?;
        let (new, acls) = self.inherit_acl(parent, new, creds.umask)?;
        let made = self.create_locked(parent, name, creds, new, &acls)?;
        self.listing_added(parent, name, made.0.ino.0, made.0.kind);
        Ok(made)
    }

    /// `create_object` under the namespace lock (held exclusively).
    fn create_locked(
        &self,
        parent: u64,
        name: &OsStr,
        creds: Creds,
        new: NewObject<'_>,
        acls: &Inherited,
    ) -> Res<(FileAttr, Option<File>)> {
        // Made in place, the object gets `acls` from the backing fs.
        if let Some(done) = self.create_fast(parent, name, creds, &new)? {
            return Ok(done);
        }
        if self.child(parent, name)?.is_some() {
            return Err(Errno::EEXIST);
        }
        let dir = self.dir_of(parent)?.0;
        self.ensure_upper_dir(&dir)?;
        let pmeta = self.stack.upper_path(&dir).metadata().map_err(errno)?;
        let setgid_dir = pmeta.mode() & libc::S_ISGID != 0;
        if let Some(done) = self.create_in_place(&dir.join(name), creds, &new, setgid_dir)? {
            return Ok(done);
        }
        let gid = if setgid_dir { pmeta.gid() } else { creds.gid };
        let tmp = self.tmp_path()?;
        let built = (self.build(&tmp, &new, creds.uid, gid, setgid_dir))
            .and_then(|f| acls.apply(&tmp).map(|()| f).map_err(errno));
        let file = match built {
            Ok(f) => f,
            Err(e) => {
                remove_any(&tmp);
                return Err(e);
            }
        };
        let path = dir.join(name);
        let is_dir = matches!(new, NewObject::Dir { .. });
        if let Err(e) = self.place(&tmp, &path, is_dir) {
            remove_any(&tmp);
            return Err(e);
        }
        if is_dir {
            self.stack.upper_markers.made_empty(&path);
        }
        let ino = match new {
            NewObject::Link { ino } => {
                self.table().add_alias(ino, &path);
                ino
            }
            _ => {
                // The name showed nothing before (checked above, under the
                // exclusive lock): the new object is all there is, and a
                // new directory merges with nothing (it replaced a
                // whiteout as an opaque dir, or stands alone).
                let meta = self.stack.upper_path(&path).symlink_metadata();
                let found = crate::layers::Found {
                    layer: Layer::Upper,
                    meta: meta.map_err(errno)?,
                    merged: vec![Layer::Upper],
                };
                self.register(&path, found)
            }
        };
        let attr = self.attr(ino)?;
        // A node just made from a new backing inode (no kernel reference to
        // forget yet), or a link's source, which the kernel holds during
        // the link: no FORGET can remove it here.
        let counted = self.table().inc_lookup(ino);
        debug_assert!(counted, "a node just made or linked is in the table");
        Ok((attr, file))
    }

    /// Builds the object at `tmp` with its final owner and mode.
    fn build(
        &self,
        tmp: &Path,
        new: &NewObject<'_>,
        uid: u32,
        gid: u32,
        setgid_dir: bool,
    ) -> Res<Option<File>> {
        match *new {
            NewObject::File { mode, flags } => {
                let f = File::options()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(backing_flags(flags))
                    .open(tmp)
                    .map_err(errno)?;
                copyup::set_owner_mode(tmp, uid, gid, Some(mode)).map_err(errno)?;
                Ok(Some(f))
            }
            NewObject::Dir { mode } => {
                fs::DirBuilder::new()
                    .mode(0o700)
                    .create(tmp)
                    .map_err(errno)?;
                let mode = if setgid_dir {
                    mode | libc::S_ISGID
                } else {
                    mode
                };
                copyup::set_owner_mode(tmp, uid, gid, Some(mode)).map_err(errno)?;
                Ok(None)
            }
            NewObject::Special { mode, rdev } => {
                let kind = SFlag::from_bits_truncate(mode & libc::S_IFMT);
                nix::sys::stat::mknodat(
                    nix::fcntl::AT_FDCWD,
                    tmp,
                    kind,
                    Mode::from_bits_truncate(0o600),
                    rdev,
                )
                .map_err(nix_errno)?;
                copyup::set_owner_mode(tmp, uid, gid, Some(mode)).map_err(errno)?;
                Ok(None)
            }
            NewObject::Symlink { target } => {
                std::os::unix::fs::symlink(target, tmp).map_err(errno)?;
                copyup::set_owner_mode(tmp, uid, gid, None).map_err(errno)?;
                Ok(None)
            }
            NewObject::Link { ino } => {
                let node = self.node(ino)?;
                if node.is_dir() {
                    return Err(Errno::EPERM);
                }
                self.copy_up(ino)?;
                let (_, path) = self.backing_path(ino)?;
                fs::hard_link(path, tmp).map_err(errno)?;
                Ok(None)
            }
        }
    }

    /// Renames the finished object `tmp` to union path `path` in upper,
    /// replacing a whiteout there.
    fn place(&self, tmp: &Path, path: &Path, is_dir: bool) -> Res<()> {
        let target = self.stack.upper_path(path);
        let whiteout = target
            .symlink_metadata()
            .is_ok_and(|m| markers::is_whiteout(&m));
        if whiteout && is_dir {
            copyup::set_opaque(tmp).map_err(errno)?;
            rename2(tmp, &target, RenameFlags::RENAME_EXCHANGE).map_err(errno)?;
            remove_any(tmp);
        } else if whiteout {
            rename2(tmp, &target, RenameFlags::empty()).map_err(errno)?;
        } else {
            rename2(tmp, &target, RenameFlags::RENAME_NOREPLACE).map_err(errno)?;
        }
        Ok(())
    }

    /// Makes union path `path` (in directory `dir` with layers `merged`)
    /// disappear from upper: a whiteout if a lower layer still shows the
    /// name, nothing otherwise. The upper object, if any, is moved out to
    /// the scratch dir and deleted there.
    pub(crate) fn remove_from_upper(
        &self,
        dir: &Path,
        merged: &[Layer],
        name: &OsStr,
        node: &Node,
    ) -> Res<()> {
        // A lower object named by the name is shown there by its layer
        // (lower layers never change, no redirects): no need to ask.
        let lower =
            node.layer != Layer::Upper || self.stack.lower_has(merged, dir, name).map_err(errno)?;
        let path = dir.join(name);
        let target = self.stack.upper_path(&path);
        if !lower {
            // One unlink is atomic already, and its error tells what is
            // there: nothing (or no upper parent), or a directory (it may
            // still hold whiteouts, so it goes out of the way whole, below).
            match fs::remove_file(&target) {
                Ok(()) => return Ok(()),
                Err(e) if layers::is_absent(&e) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EISDIR) => {}
                Err(e) => return Err(errno(e)),
            }
        } else {
            // Made right away where nothing is in upper; the parent is
            // copied up only if missing.
            match self.make_whiteout(&target) {
                Ok(()) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    self.ensure_upper_dir(dir)?;
                    return self.make_whiteout(&target).map_err(errno);
                }
                // Something in upper: swapped for a whiteout below.
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                Err(e) => return Err(errno(e)),
            }
        }
        let Ok(upper_meta) = target.symlink_metadata() else {
            return Ok(());
        };
        if upper_meta.is_dir() {
            // Its `.wh.` files (if any) leave with it.
            self.stack.upper_markers.forget(&path);
            self.lower_absent.clear();
        }
        let tmp = self.tmp_path()?;
        if lower {
            self.make_whiteout(&tmp).map_err(errno)?;
            if let Err(e) = rename2(&tmp, &target, RenameFlags::RENAME_EXCHANGE) {
                remove_any(&tmp);
                return Err(errno(e));
            }
        } else {
            rename2(&target, &tmp, RenameFlags::RENAME_NOREPLACE).map_err(errno)?;
        }
        remove_any(&tmp);
        Ok(())
    }

    pub fn unlink(&self, parent: u64, name: &OsStr) -> Res<()> {
        let _ns = self.write_ns()?;
        let ino = self.child(parent, name)?.ok_or(Errno::ENOENT)?;
        if self.node(ino)?.is_dir() {
            return Err(Errno::EISDIR);
        }
        if self.needs_index(ino)? {
            // The other names of a lower hard link must count one less:
            // that count lives on the indexed copy (kernel: ovl_nlink_start).
            self.copy_up(ino)?;
        }
        let (dir, merged) = self.dir_of(parent)?;
        let node = self.node(ino)?;
        let unknown = self.unknown_names_remain(&node);
        self.remove_from_upper(&dir, &merged, name, &node)?;
        self.table().remove_name(ino, &dir.join(name), unknown);
        self.listing_removed(parent, name);
        self.release_index_if_unused(ino);
        Ok(())
    }

    /// Whether the upper object of `node` keeps names the table does not
    /// know once its only known name goes (an upper hard link whose other
    /// names were not looked up, or whose nodes the kernel forgot): then
    /// the node keeps its keys (`Table::remove_name`). One lstat, for the
    /// last known name of an upper non-directory only.
    pub(crate) fn unknown_names_remain(&self, node: &Node) -> bool {
        node.layer == Layer::Upper
            && !node.is_dir()
            && node.index.is_none()
            && node.aliases.len() == 1
            && self
                .stack
                .upper_path(&node.src)
                .symlink_metadata()
                .is_ok_and(|m| m.nlink() >= 2)
    }

    pub fn rmdir(&self, parent: u64, name: &OsStr) -> Res<()> {
        let _ns = self.write_ns()?;
        let ino = self.child(parent, name)?.ok_or(Errno::ENOENT)?;
        let node = self.node(ino)?;
        if !node.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if !self.merged_listing(ino)?.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        let (dir, merged) = self.dir_of(parent)?;
        self.remove_from_upper(&dir, &merged, name, &node)?;
        self.table().remove_alias(ino, &dir.join(name));
        self.listing_removed(parent, name);
        Ok(())
    }
}
