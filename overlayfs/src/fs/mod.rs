//! The union filesystem core: operations that take inode numbers and
//! names and return results or errnos, without knowing about FUSE replies
//! (`adapter.rs` is the thin layer between the two).
//!
//! Concurrency: `ns` is a readers-writer lock over the union's namespace.
//! Operations that change it (create, remove, rename, link, copy-up) take
//! it exclusive, so a lookup never sees a half-done rename or copy-up;
//! everything else takes it shared, including in-place changes of objects
//! already in upper (setattr, xattrs, open for write: see
//! `lock_to_modify`). Data I/O on open files takes no lock. The inode table
//! has its own mutex, held only for bookkeeping, never across I/O; the
//! order is always `ns`, then `table`, then the handle tables.

mod absent;
mod acl;
mod attr;
mod copy_up;
mod create;
mod dir;
mod file;
mod index;
mod memory;
mod namespace;
mod rename;
#[cfg(test)]
mod tests;
mod whiteout;
mod xattr;

use std::ffi::OsStr;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{Errno, FileAttr, FileType, INodeNo};

use crate::handles::{Handles, OpenDir, OpenFile};
use crate::layers::{Found, Layer, Stack};
use crate::readdir;
use crate::table::{Key, Node, ROOT_INO, Table};
use memory::Pin;

pub use attr::SetAttr;
pub(crate) use attr::without_suidgid;
pub use dir::ListingCache;
pub use namespace::NewObject;

pub type Res<T> = Result<T, Errno>;

/// Who asks: new objects are owned by the caller.
#[derive(Debug, Clone, Copy)]
pub struct Creds {
    pub uid: u32,
    pub gid: u32,
    /// The caller's umask, applied here to a new object's mode unless its
    /// directory has a default ACL (FUSE_DONT_MASK); 0 where the kernel
    /// applied it already.
    pub umask: u32,
}

pub fn errno(e: io::Error) -> Errno {
    Errno::from_i32(e.raw_os_error().unwrap_or(libc::EIO))
}

pub fn nix_errno(e: nix::Error) -> Errno {
    Errno::from_i32(e as i32)
}

fn key_of(meta: &std::fs::Metadata) -> Key {
    (meta.dev(), meta.ino())
}

fn system_time(sec: i64, nsec: i64) -> SystemTime {
    if sec >= 0 {
        UNIX_EPOCH + Duration::new(sec as u64, nsec as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs(sec.unsigned_abs()) + Duration::from_nanos(nsec as u64)
    }
}

/// FUSE attributes of a backing object, under the union's inode number.
pub fn file_attr(ino: u64, meta: &std::fs::Metadata, merged_dir: bool) -> FileAttr {
    let kind = FileType::from_std(meta.file_type()).unwrap_or(FileType::RegularFile);
    FileAttr {
        ino: INodeNo(ino),
        size: meta.size(),
        blocks: meta.blocks(),
        atime: system_time(meta.atime(), meta.atime_nsec()),
        mtime: system_time(meta.mtime(), meta.mtime_nsec()),
        ctime: system_time(meta.ctime(), meta.ctime_nsec()),
        crtime: UNIX_EPOCH,
        kind,
        perm: (meta.mode() & 0o7777) as u16,
        // Kernel overlayfs reports 1 for a directory merged from several
        // layers, since its real link count is unknowable (ovl_getattr).
        nlink: if merged_dir { 1 } else { meta.nlink() as u32 },
        uid: meta.uid(),
        gid: meta.gid(),
        rdev: meta.rdev() as u32,
        blksize: meta.blksize() as u32,
        flags: 0,
    }
}

/// What the attributes of a node with a name take from the node besides
/// the stat of its backing object.
#[derive(Clone, Copy)]
pub(crate) struct LinkedAttr {
    merged_dir: bool,
    nlink_bias: i64,
}

impl LinkedAttr {
    fn of(node: &Node) -> Self {
        LinkedAttr {
            merged_dir: node.is_dir() && node.merged.len() > 1,
            nlink_bias: node.nlink_bias,
        }
    }

    fn attr(self, ino: u64, meta: &std::fs::Metadata) -> FileAttr {
        let attr = file_attr(ino, meta, self.merged_dir);
        FileAttr {
            nlink: (attr.nlink as i64 + self.nlink_bias).max(0) as u32,
            ..attr
        }
    }
}

/// Result of a lookup under the shared namespace lock.
pub(crate) enum Child {
    Found(Option<u64>),
    /// Found in the layers just now, with the stat of its backing object.
    Fresh(u64, std::fs::Metadata),
    /// The lookup must write to upper (see `child_impl`).
    NeedsExclusive,
}

/// Either side of the namespace lock, held for its scope.
pub(crate) enum NsGuard<'a> {
    Read(#[allow(dead_code)] RwLockReadGuard<'a, ()>),
    Write(#[allow(dead_code)] RwLockWriteGuard<'a, ()>),
}

/// Work for the housekeeping thread (`mount.rs`), done outside requests.
#[derive(Debug)]
pub enum Chore {
    /// Hand freed memory back to the system once things are quiet.
    Trim,
    /// Drop the kernel's cached attributes of an inode.
    Attrs(u64),
    /// Drop the kernel's cached listing (and attributes) of a directory,
    /// then say so on the channel.
    Listing(u64, std::sync::mpsc::SyncSender<()>),
}

#[derive(Debug)]
pub struct UnionFs {
    pub(crate) stack: Stack,
    table: Mutex<Table>,
    ns: RwLock<()>,
    pub(crate) files: Handles<OpenFile>,
    pub(crate) dirs: Handles<OpenDir>,
    tmp_seq: AtomicU64,
    /// Scratch dir for copy-up and atomic replacement (`<workdir>/strata`).
    scratch: Option<PathBuf>,
    /// Copied-up lower hard links (`<workdir>/strata-index`, see `index`).
    index_dir: Option<PathBuf>,
    /// Inodes whose attributes changed behind the kernel's back (set once
    /// the session exists; `mount.rs` forwards them to the notifier).
    invalidate: OnceLock<Sender<Chore>>,
    /// Much memory was freed: return it to the system when idle.
    trim: AtomicBool,
    /// Names a lookup found absent from the lower layers (`absent.rs`).
    lower_absent: absent::LowerAbsent,
    /// The inode every whiteout made here links to (`whiteout.rs`).
    whiteout: whiteout::SharedWhiteout,
    /// The kernel may keep listings (`Config::dir_cache`, `dir.rs`).
    dir_cache: bool,
    /// When the kernel last began a listing of a directory (`dir.rs`).
    pub(crate) listed: Mutex<std::collections::HashMap<u64, std::time::Instant>>,
}

impl UnionFs {
    /// Builds the union over `stack`. Clears leftovers of a previous
    /// session from the scratch dir under `work/`.
    pub fn new(stack: Stack) -> io::Result<Self> {
        let root = stack.resolve_root()?;
        let key = key_of(&root.meta);
        let node = Node::new(FileType::Directory, root.layer, PathBuf::new(), root.merged);
        let scratch = stack.work.as_ref().map(|w| w.join("strata"));
        if let Some(s) = &scratch {
            if s.symlink_metadata().is_ok() {
                std::fs::remove_dir_all(s)?;
            }
            std::fs::create_dir(s)?;
            std::fs::set_permissions(s, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        }
        let index_dir = stack.work.as_ref().map(|w| w.join(index::INDEX_DIR));
        if let Some(d) = &index_dir {
            if d.symlink_metadata().is_err() {
                std::fs::DirBuilder::new().mode(0o700).create(d)?;
            }
            index::clean(d)?;
        }
        let whiteout = whiteout::SharedWhiteout::new(stack.work.as_deref());
        Ok(UnionFs {
            stack,
            table: Mutex::new(Table::new(node, key)),
            ns: RwLock::new(()),
            files: Handles::default(),
            dirs: Handles::default(),
            tmp_seq: AtomicU64::new(0),
            scratch,
            index_dir,
            invalidate: OnceLock::new(),
            trim: AtomicBool::new(false),
            lower_absent: Default::default(),
            whiteout,
            dir_cache: false,
            listed: Default::default(),
        })
    }

    /// Lets the kernel keep directory listings (`Config::dir_cache`).
    pub fn set_dir_cache(&mut self, on: bool) {
        self.dir_cache = on;
    }

    /// Where to send the inodes whose cached attributes must be dropped.
    pub fn set_invalidator(&self, tx: Sender<Chore>) {
        let _ = self.invalidate.set(tx);
    }

    /// Asks for freed memory to be handed back to the system soon (by the
    /// housekeeping thread, outside any request).
    pub(crate) fn want_trim(&self) {
        if !self.trim.swap(true, Ordering::Relaxed)
            && let Some(tx) = self.invalidate.get()
        {
            let _ = tx.send(Chore::Trim);
        }
    }

    /// Hands freed heap memory back to the system if much was freed since
    /// the last call.
    pub fn trim_if_wanted(&self) {
        if self.trim.swap(false, Ordering::Relaxed) {
            log::debug!("trimming the heap ({} nodes)", self.table().len());
            crate::sys::release_free_memory();
        }
    }

    /// The attributes of `ino` changed without the kernel asking for it.
    pub(crate) fn attrs_changed(&self, ino: u64) {
        if let Some(tx) = self.invalidate.get() {
            // The receiver ends with the session; nothing to tell then.
            let _ = tx.send(Chore::Attrs(ino));
        }
    }

    /// The kernel's cached listing of directory `ino` is out of date:
    /// returns once the kernel dropped it, so the reply to the request
    /// that changed it comes after (a listing right after it is fresh).
    /// Safe to wait for inside a request: dropping a directory's pages
    /// takes no lock a request holds (no inode lock, and the listing
    /// cache's page locks are held only while the kernel copies entries),
    /// unlike an entry invalidation. Bounded, in case the housekeeping
    /// thread is gone.
    pub(crate) fn listing_invalid(&self, ino: u64) {
        if let Some(tx) = self.invalidate.get() {
            let (done, dropped) = std::sync::mpsc::sync_channel(1);
            if tx.send(Chore::Listing(ino, done)).is_ok() {
                let _ = dropped.recv_timeout(std::time::Duration::from_secs(1));
            }
        }
    }

    pub(crate) fn table(&self) -> MutexGuard<'_, Table> {
        // Table updates are single calls that leave it consistent, so a
        // panic elsewhere does not make it unusable.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn read_ns(&self) -> RwLockReadGuard<'_, ()> {
        self.ns.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn write_ns(&self) -> Res<RwLockWriteGuard<'_, ()>> {
        if self.stack.upper.is_none() {
            return Err(Errno::EROFS);
        }
        Ok(self.ns.write().unwrap_or_else(|p| p.into_inner()))
    }

    /// Locks the namespace to change `ino` in place (data, metadata,
    /// xattrs): shared if it is already in upper (the namespace does not
    /// change), else exclusive, after copying it up.
    pub(crate) fn lock_to_modify(&self, ino: u64) -> Res<NsGuard<'_>> {
        if self.stack.upper.is_none() {
            return Err(Errno::EROFS);
        }
        let staged = {
            let shared = self.read_ns();
            let node = self.node(ino)?;
            // A node never leaves upper, so this stays true under the guard.
            if node.layer == Layer::Upper {
                return Ok(NsGuard::Read(shared));
            }
            if node.unlinked() {
                // A removed lower object cannot be copied up (it has no
                // name), and lower layers are never written.
                return Err(Errno::ENOENT);
            }
            // The data copy (the long part) is made holding the lock
            // shared, so lookups and reads elsewhere go on meanwhile;
            // only putting it in place is exclusive.
            if node.is_dir() {
                None
            } else {
                self.stage_data(ino, true)?
            }
        };
        let exclusive = self.write_ns()?;
        match staged {
            Some(staged) => self.install_staged(staged)?,
            None => self.copy_up(ino)?,
        }
        Ok(NsGuard::Write(exclusive))
    }

    /// The backing path of `ino`. An upper object with no name left is
    /// reachable through open files only: its old path may already name
    /// another object, so it is ENOENT here. (A lower object's path stays
    /// valid: lower layers never change.)
    pub(crate) fn backing_path(&self, ino: u64) -> Res<(Node, PathBuf)> {
        let node = self.node(ino)?;
        if node.unlinked() && node.layer == Layer::Upper {
            // An indexed file keeps a link in the index while the union
            // has names of it the table does not know yet.
            let entry = node.index.as_deref().and_then(|e| self.index_path(e));
            return entry.map(|p| (node, p)).ok_or(Errno::ENOENT);
        }
        let path = self.stack.path(node.layer, &node.src);
        Ok((node, path))
    }

    pub(crate) fn node(&self, ino: u64) -> Res<Node> {
        self.table().get(ino).cloned().ok_or(Errno::ENOENT)
    }

    /// A fresh path in the scratch dir.
    pub(crate) fn tmp_path(&self) -> Res<PathBuf> {
        let s = self.scratch.as_ref().ok_or(Errno::EROFS)?;
        Ok(s.join(format!("t{}", self.tmp_seq.fetch_add(1, Ordering::Relaxed))))
    }

    /// Creates a whiteout at `path` (a link of the shared one), failing as
    /// mknod would: EEXIST if a name is there, ENOENT without a directory.
    pub(crate) fn make_whiteout(&self, path: &Path) -> io::Result<()> {
        self.whiteout.make(path)
    }

    /// The path and merged layers of directory `ino`.
    pub(crate) fn dir_of(&self, ino: u64) -> Res<(PathBuf, Vec<Layer>)> {
        self.with_node(ino, |node| {
            if !node.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            let path = node.path().ok_or(Errno::ENOENT)?.to_path_buf();
            Ok((path, node.merged.clone()))
        })?
    }

    /// Attributes of `ino` (from an open file when the node has no name
    /// the table knows).
    pub(crate) fn attr(&self, ino: u64) -> Res<FileAttr> {
        // The common case (a node with a name) copies out only its path:
        // GETATTR is among the most frequent requests.
        let linked = self.with_node(ino, |n| {
            (!n.unlinked()).then(|| (n.layer, n.src.clone(), LinkedAttr::of(n)))
        })?;
        if let Some((layer, src, how)) = linked {
            let meta = self.stack.path(layer, &src).symlink_metadata();
            return Ok(how.attr(ino, &meta.map_err(errno)?));
        }
        let node = self.node(ino)?;
        if node.unlinked() {
            // No known name left: the object lives on for open files, or
            // in the index for names of a lower hard link not joined yet.
            let meta = match self.files.find(|f| f.ino == ino) {
                Some(open) => open.current().metadata().map_err(errno)?,
                None => self
                    .backing_path(ino)?
                    .1
                    .symlink_metadata()
                    .map_err(errno)?,
            };
            // A lower object is reached by a name no longer shown; an upper
            // one counts its remaining links (other upper names, unjoined
            // lower names through the bias), 0 once it has none.
            let nlink = match node.layer {
                Layer::Upper => (meta.nlink() as i64 + node.nlink_bias).max(0) as u32,
                Layer::Lower(_) => 0,
            };
            return Ok(FileAttr {
                nlink,
                ..file_attr(ino, &meta, false)
            });
        }
        let meta = self
            .stack
            .path(node.layer, &node.src)
            .symlink_metadata()
            .map_err(errno)?;
        Ok(self.linked_attr(ino, &node, &meta))
    }

    /// Attributes of `ino`, a node with a name, from `meta` (a stat of
    /// its backing object just made).
    pub(crate) fn linked_attr(&self, ino: u64, node: &Node, meta: &std::fs::Metadata) -> FileAttr {
        LinkedAttr::of(node).attr(ino, meta)
    }

    /// `linked_attr` of `ino`, looked up in the table without copying
    /// the node.
    pub(crate) fn fresh_attr(&self, ino: u64, meta: &std::fs::Metadata) -> Res<FileAttr> {
        Ok(self.with_node(ino, LinkedAttr::of)?.attr(ino, meta))
    }

    /// Runs `f` on node `ino` under the table's lock: for the hot paths,
    /// which need a field or two, where `node` copies every path and list
    /// of the node (several allocations).
    pub(crate) fn with_node<R>(&self, ino: u64, f: impl FnOnce(&Node) -> R) -> Res<R> {
        self.table().get(ino).map(f).ok_or(Errno::ENOENT)
    }

    /// Finds `name` in directory `parent` (known names from the table, the
    /// others through the layers), registering it in the table. Caller
    /// holds `ns` exclusively.
    pub(crate) fn child(&self, parent: u64, name: &OsStr) -> Res<Option<u64>> {
        match self.child_impl(parent, name, true)? {
            Child::Found(ino) => Ok(ino),
            Child::Fresh(ino, _) => Ok(Some(ino)),
            Child::NeedsExclusive => Err(Errno::EIO),
        }
    }

    /// `child` for a caller holding `ns` shared: may answer that the
    /// lookup must be redone holding it exclusively.
    pub(crate) fn child_shared(&self, parent: u64, name: &OsStr) -> Res<Child> {
        self.child_impl(parent, name, false)
    }

    fn child_impl(&self, parent: u64, name: &OsStr, exclusive: bool) -> Res<Child> {
        if readdir::name_too_long(name) {
            return Err(Errno::ENAMETOOLONG);
        }
        let (dir, merged) = self.dir_of(parent)?;
        let path = dir.join(name);
        if let Some(ino) = self.table().ino_by_path(&path) {
            return Ok(Child::Found(Some(ino)));
        }
        let Some(found) = self.stack.resolve(&merged, &dir, name).map_err(errno)? else {
            if merged.iter().any(|l| *l != Layer::Upper) {
                self.lower_absent.note(&path);
            }
            return Ok(Child::Found(None));
        };
        if let Some(ipath) = self.indexed_copy(found.layer, &found.meta) {
            // Another name of a hard link already copied up (in this
            // mount or an earlier one): link this name to the copy so all
            // keep naming one file.
            if !exclusive {
                return Ok(Child::NeedsExclusive);
            }
            return self
                .join(&ipath, &found.meta, &path)
                .map(|i| Child::Found(Some(i)));
        }
        let meta = found.meta.clone();
        Ok(Child::Fresh(self.register(&path, found), meta))
    }

    pub(crate) fn register(&self, path: &Path, found: Found) -> u64 {
        let kind = FileType::from_std(found.meta.file_type()).unwrap_or(FileType::RegularFile);
        let mut node = Node::new(kind, found.layer, path.to_path_buf(), found.merged);
        if found.layer == Layer::Upper {
            let upper = self.stack.upper_path(path);
            self.upper_link_state(&upper, &found.meta, &mut node);
        } else {
            node.lower_nlink = found.meta.nlink();
        }
        self.table().insert_found(path, key_of(&found.meta), node)
    }

    /// Resolves a union path from the root, pinning each directory on the
    /// way (into `pins`): the path need not be one the kernel holds (the
    /// other name of a hard link being copied up, whose directory the
    /// kernel may have forgotten, or be forgetting right now).
    fn lookup_path<'a>(&'a self, path: &Path, pins: &mut Vec<Pin<'a>>) -> Res<u64> {
        let mut ino = ROOT_INO;
        for comp in path.iter() {
            let pin = self.pinned_child(ino, comp)?.ok_or(Errno::ENOENT)?;
            ino = pin.ino();
            pins.push(pin);
        }
        Ok(ino)
    }

    /// Makes sure directory `rel` exists in the upper layer, copying it
    /// and its ancestors up (parents first) with their lower metadata.
    /// Caller holds `ns` exclusively.
    pub(crate) fn ensure_upper_dir(&self, rel: &Path) -> Res<()> {
        if rel.as_os_str().is_empty() || self.stack.upper_path(rel).is_dir() {
            return Ok(());
        }
        let mut pins = Vec::new();
        let ino = self.lookup_path(rel, &mut pins)?;
        // The pins go after the copy-up is recorded.
        self.copy_up(ino)
    }
}
