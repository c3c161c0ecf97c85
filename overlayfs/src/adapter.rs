//! The thin layer between fuser and the union core: unpack requests, call
//! `UnionFs`, turn results into replies. No filesystem logic here.

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fuser::{
    AccessFlags, BackingId, CopyFileRangeFlags, Errno, FileAttr, FileHandle, Filesystem,
    FopenFlags, Generation, INodeNo, KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr,
    ReplyCreate, ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyLseek,
    ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};

use crate::fs::{Creds, ListingCache, NewObject, SetAttr, UnionFs, without_suidgid};
use crate::passthrough::{Passthrough, Reply};

/// Entry and attribute cache lifetime, also for negative entries. The
/// mount is private: every change goes through it, so the kernel's caches
/// stay right by themselves, and what strata changes on its own (link
/// counts at a hard-link copy-up) is invalidated through the notifier.
/// Changing the layers behind a mounted union is undefined, as for kernel
/// overlayfs.
const TTL: Duration = Duration::from_secs(60);

pub struct Adapter {
    pub fs: Arc<UnionFs>,
    /// Asked for (`Config::disable_passthrough` unset).
    want_passthrough: bool,
    /// Asked for (`Config::io_uring`).
    want_io_uring: bool,
    /// Asked for (`Config::disable_acl` unset).
    want_acl: bool,
    pt: Passthrough,
}

impl Adapter {
    /// mknod, mkdir, symlink: create the object and reply with its entry.
    fn new_entry(
        &self,
        creds: Creds,
        parent: INodeNo,
        name: &OsStr,
        new: NewObject,
        reply: ReplyEntry,
    ) {
        let res = self.fs.create_object(parent.0, name, creds, new);
        entry(reply, res.map(|(attr, _)| attr));
    }

    pub fn new(fs: Arc<UnionFs>, want_passthrough: bool, want_io_uring: bool) -> Self {
        Adapter {
            fs,
            want_passthrough,
            want_io_uring,
            want_acl: false,
            pt: Passthrough::new(),
        }
    }

    /// Asks the kernel to enforce and cache POSIX ACLs (FUSE_POSIX_ACL).
    pub fn with_acl(mut self, want: bool) -> Self {
        self.want_acl = want;
        self
    }

    /// Answers an open of `ino` as handle `fh`: passthrough to the backing
    /// file when the kernel allows it, else data through this process.
    fn open_reply(&self, ino: u64, fh: u64, reply: impl OpenReply) {
        if !self.pt.enabled() {
            return reply.cached(fh);
        }
        let file = self.fs.files.get(fh);
        let mut table = self.pt.lock();
        let decision = table.open(ino, fh, || {
            // Lower files stay on the daemon path (see passthrough.rs),
            // unless nothing can be copied up: a read-only union.
            let read_only = self.fs.stack.upper.is_none();
            let file = file.filter(|f| f.is_upper() || read_only)?.current();
            // A passthrough write by a caller without CAP_FSETID would
            // keep S_ISUID/S_ISGID (the kernel leaves killing them to us
            // under FUSE_HANDLE_KILLPRIV_V2, and the backing write runs
            // with our credentials): such files go through this process.
            let mode = file.metadata().ok()?.mode();
            if without_suidgid(mode).is_some() {
                return None;
            }
            match reply.backing(&file) {
                Ok(id) => Some(id),
                Err(e) => {
                    self.pt.warn_once(&e);
                    None
                }
            }
        });
        match decision {
            Reply::Passthrough(id) => reply.passthrough(fh, id),
            Reply::Cached => reply.cached(fh),
        }
    }
}

/// The two replies that open a file (open, create).
trait OpenReply {
    fn backing(&self, file: &std::fs::File) -> std::io::Result<BackingId>;
    fn passthrough(self, fh: u64, id: &BackingId);
    fn cached(self, fh: u64);
}

impl OpenReply for ReplyOpen {
    fn backing(&self, file: &std::fs::File) -> std::io::Result<BackingId> {
        self.open_backing(file)
    }
    fn passthrough(self, fh: u64, id: &BackingId) {
        self.opened_passthrough(FileHandle(fh), FopenFlags::empty(), id)
    }
    fn cached(self, fh: u64) {
        // The page cache stays valid across opens: data only changes
        // through this mount (and a passthrough inode never mixes in).
        self.opened(FileHandle(fh), FopenFlags::FOPEN_KEEP_CACHE)
    }
}

struct CreateReply(ReplyCreate, FileAttr);

impl OpenReply for CreateReply {
    fn backing(&self, file: &std::fs::File) -> std::io::Result<BackingId> {
        self.0.open_backing(file)
    }
    fn passthrough(self, fh: u64, id: &BackingId) {
        let flags = FopenFlags::empty();
        (self.0).created_passthrough(&TTL, &self.1, Generation(0), FileHandle(fh), flags, id)
    }
    fn cached(self, fh: u64) {
        let flags = FopenFlags::FOPEN_KEEP_CACHE;
        (self.0).created(&TTL, &self.1, Generation(0), FileHandle(fh), flags)
    }
}

/// Attributes of a name that does not exist: inode 0 makes the kernel
/// cache a negative entry for the entry TTL.
fn negative_entry() -> FileAttr {
    FileAttr {
        ino: INodeNo(0),
        size: 0,
        blocks: 0,
        atime: std::time::UNIX_EPOCH,
        mtime: std::time::UNIX_EPOCH,
        ctime: std::time::UNIX_EPOCH,
        crtime: std::time::UNIX_EPOCH,
        kind: fuser::FileType::RegularFile,
        perm: 0,
        nlink: 0,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 0,
        flags: 0,
    }
}

fn creds(req: &Request) -> Creds {
    Creds {
        uid: req.uid(),
        gid: req.gid(),
        umask: 0,
    }
}

/// `creds` of a create, with the umask the kernel left to us (nonzero
/// only with FUSE_DONT_MASK).
fn creds_umask(req: &Request, umask: u32) -> Creds {
    Creds {
        umask,
        ..creds(req)
    }
}

fn entry(reply: ReplyEntry, res: Result<FileAttr, Errno>) {
    match res {
        Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
        Err(e) => reply.error(e),
    }
}

fn empty(reply: ReplyEmpty, res: Result<(), Errno>) {
    match res {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

/// fallocate and copy_file_range carry no kill flag, and with
/// FUSE_HANDLE_KILLPRIV_V2 the kernel leaves S_ISUID/S_ISGID to the daemon,
/// whose own call keeps them (CAP_FSETID). The caller's capabilities are
/// not in the request: a caller other than root is taken to lack
/// CAP_FSETID, and root to have it (the kernel's rule on a local fs).
fn kill_suidgid_unless_root(fs: &UnionFs, req: &Request, fh: u64) -> Result<(), Errno> {
    if req.uid() == 0 {
        return Ok(());
    }
    fs.kill_suidgid(fh)
}

fn xattr_reply(reply: ReplyXattr, size: u32, res: Result<Vec<u8>, Errno>) {
    match res {
        Ok(v) if size == 0 => reply.size(v.len() as u32),
        Ok(v) if v.len() > size as usize => reply.error(Errno::ERANGE),
        Ok(v) => reply.data(&v),
        Err(e) => reply.error(e),
    }
}

impl Filesystem for Adapter {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let _ = config.set_max_write(1 << 20);
        if self.want_passthrough {
            // Depth 1: backing files on a plain filesystem, and a kernel
            // overlayfs may still stack on top of this mount. Layers on a
            // stacked fs fail registration and fall back per inode.
            let granted = config
                .add_capabilities(fuser::InitFlags::FUSE_PASSTHROUGH)
                .is_ok()
                && config.set_max_stack_depth(1).is_ok();
            self.pt.set_enabled(granted);
        }
        if self.pt.enabled() {
            log::info!("file data: FUSE passthrough to the backing files");
        } else if self.want_passthrough {
            log::warn!("file data: through strata-overlayfs (the kernel lacks FUSE passthrough)");
        } else {
            log::info!("file data: through strata-overlayfs (passthrough=off)");
        }
        // Lookups and readdirs of one directory may run concurrently: the
        // core serialises what must be (namespace lock). Older kernels
        // without the flag serialise them instead, which is also correct.
        let _ = config.add_capabilities(fuser::InitFlags::FUSE_PARALLEL_DIROPS);
        // Always with attributes (not READDIRPLUS_AUTO, which lists with
        // plain READDIR after the first buffer and then has every
        // `stat` of a big directory cost a LOOKUP request: `find` over
        // 125k entries made 115k requests). An entry from a lower layer
        // costs one stat here (`lookup_entry`).
        let _ = config.add_capabilities(fuser::InitFlags::FUSE_DO_READDIRPLUS);
        // Killing S_ISUID/S_ISGID on write and truncate is ours: the flag
        // lets the kernel mark the superblock SB_NOSEC, so a write no longer
        // costs a GETXATTR `security.capability` first (once per inode
        // until its attributes are refreshed). Writes, truncates and
        // O_TRUNC opens by callers without CAP_FSETID then carry a kill
        // flag (write, setattr, open below); passthrough writes do not, so
        // such files are kept off passthrough (`open_reply`). Chown and
        // `security.capability` are dropped by the backing fs itself on
        // the daemon's own chown, write and truncate.
        let _ = config.add_capabilities(fuser::InitFlags::FUSE_HANDLE_KILLPRIV_V2);
        // POSIX ACLs: the kernel checks permissions against them (on top
        // of default_permissions) and caches them per inode, a missing
        // one too, so `ls -l` no longer asks for `system.posix_acl_access`
        // of every entry each time. What it leaves to us: inheriting a
        // default ACL at create, keeping mode and ACL in sync on chmod
        // and on setting an ACL (the backing fs does both for objects in
        // upper), and the umask (FUSE_DONT_MASK: it must not be applied
        // when the directory has a default ACL; the kernel passes it on
        // and `acl::inherit` applies it).
        if self.want_acl
            && config
                .add_capabilities(fuser::InitFlags::FUSE_POSIX_ACL)
                .is_ok()
        {
            let _ = config.add_capabilities(fuser::InitFlags::FUSE_DONT_MASK);
            // Setting an access ACL clears S_ISGID of a caller outside the
            // file's group: the kernel says so in the extended SETXATTR.
            let _ = config.add_capabilities(fuser::InitFlags::FUSE_SETXATTR_EXT);
            log::info!("POSIX ACLs: enforced by the kernel");
        }
        // Requests over io_uring queues, one per CPU, served on the CPU
        // that issued them (see third_party/fuser/src/uring.rs). The
        // session logs which transport it got (mount.rs).
        if self.want_io_uring {
            let _ = config.add_capabilities(fuser::InitFlags::FUSE_OVER_IO_URING);
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.fs.lookup(parent.0, name) {
            Err(Errno::ENOENT) => reply.entry(&TTL, &negative_entry(), Generation(0)),
            res => entry(reply, res),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.fs.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        // The node knows where the object is; an open handle may be a
        // lower file since copied up, so it is not used here.
        let _ = fh;
        let res = self.fs.getattr(ino.0);
        match res {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<std::time::SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<std::time::SystemTime>,
        _chgtime: Option<std::time::SystemTime>,
        _bkuptime: Option<std::time::SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        kill_suidgid: bool,
        reply: ReplyAttr,
    ) {
        let set = SetAttr {
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
            fh: fh.map(|f| f.0),
            kill_suidgid,
        };
        match self.fs.setattr(ino.0, set) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.fs.readlink(ino.0) {
            Ok(t) => reply.data(&t),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let new = if mode & libc::S_IFMT == libc::S_IFREG {
            NewObject::File { mode, flags: 0 }
        } else {
            NewObject::Special {
                mode,
                rdev: rdev as u64,
            }
        };
        self.new_entry(creds_umask(req, umask), parent, name, new, reply);
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let new = NewObject::Dir { mode };
        self.new_entry(creds_umask(req, umask), parent, name, new, reply);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        empty(reply, self.fs.unlink(parent.0, name));
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        empty(reply, self.fs.rmdir(parent.0, name));
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let new = NewObject::Symlink { target };
        self.new_entry(creds(req), parent, link_name, new, reply);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        empty(
            reply,
            self.fs
                .rename(parent.0, name, newparent.0, newname, flags.bits()),
        );
    }

    fn link(
        &self,
        req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let new = NewObject::Link { ino: ino.0 };
        entry(
            reply,
            self.fs
                .create_object(newparent.0, newname, creds(req), new)
                .map(|(a, _)| a),
        );
    }

    fn open(
        &self,
        _req: &Request,
        ino: INodeNo,
        flags: OpenFlags,
        kill_suidgid: bool,
        reply: ReplyOpen,
    ) {
        // Only sent with O_TRUNC under FUSE_ATOMIC_O_TRUNC, which is not
        // asked for (the kernel truncates with SETATTR, which carries its
        // own kill flag); honoured all the same.
        let res = self.fs.open(ino.0, flags.0).and_then(|fh| {
            match kill_suidgid.then(|| self.fs.kill_suidgid(fh)) {
                Some(Err(e)) => {
                    self.fs.release(fh);
                    Err(e)
                }
                _ => Ok(fh),
            }
        });
        match res {
            Ok(fh) => self.open_reply(ino.0, fh, reply),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        self.fs.read_with(fh.0, offset, size, |res| match res {
            Ok(data) => reply.data(data),
            Err(e) => reply.error(e),
        });
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        // A writer without CAP_FSETID (FUSE_HANDLE_KILLPRIV_V2): drop
        // S_ISUID/S_ISGID first, as the kernel's file_remove_privs does.
        let res = if write_flags.contains(WriteFlags::FUSE_WRITE_KILL_SUIDGID) {
            self.fs.kill_suidgid(fh.0)
        } else {
            Ok(())
        };
        match res.and_then(|()| self.fs.write(fh.0, offset, data)) {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // Writes go straight to the backing file; nothing is buffered
        // here. ENOSYS makes the kernel stop sending FLUSH at all (one
        // request less per close); close(2) still succeeds.
        reply.error(Errno::ENOSYS);
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.pt.lock().release(fh.0);
        self.fs.release(fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        empty(reply, self.fs.fsync(fh.0, datasync));
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        // Kept while the entries its fill brought are valid in the kernel.
        match self.fs.opendir(ino.0, TTL / 2) {
            // The kernel keeps the listing in the directory's page cache
            // (FOPEN_CACHE_DIR), across opens (FOPEN_KEEP_CACHE), until
            // the directory changes. It fills the cache from several
            // opens and takes d_off as a position of the directory: ours
            // are stable cookies (a hash of the name, `readdir::order`),
            // so the replies of two handles join without a name twice.
            // Changes through the mount bump the directory's version and
            // the cache is dropped at the next opendir/rewind (so it is
            // when the directory's mtime moved); a change it cannot see
            // (a moved directory's `..`) drops it by notification
            // (`UnionFs::listing_changed_behind`). See docs/overlayfs.md.
            // Without FOPEN_KEEP_CACHE the open drops the cached listing
            // (when it is older than half the entry TTL: `UnionFs::opendir`).
            // Off by default (`Config::dir_cache`): the kernel may append a
            // reply computed before a change to a cache refilled after it.
            Ok((fh, cache)) => {
                let flags = match cache {
                    ListingCache::Off => FopenFlags::empty(),
                    ListingCache::Fill => FopenFlags::FOPEN_CACHE_DIR,
                    ListingCache::Keep => {
                        FopenFlags::FOPEN_CACHE_DIR | FopenFlags::FOPEN_KEEP_CACHE
                    }
                };
                reply.opened(FileHandle(fh), flags)
            }
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let res = self.fs.readdir(fh.0, offset, |off, e| {
            reply.add(INodeNo(e.ino), off, e.kind, &e.name)
        });
        match res {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    /// Entries with their attributes, so `ls -l`, `find` and `stat` of a
    /// listing cost one request per buffer instead of one per entry. The
    /// kernel asks for it adaptively (FUSE_READDIRPLUS_AUTO): plain readdir
    /// when nobody looks at the entries.
    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let res = self.fs.readdir(fh.0, offset, |off, e| {
            // The kernel takes a lookup reference for every entry but `.`
            // and `..`, so only those others are looked up (counted).
            let dots = e.name == "." || e.name == "..";
            let attr = if dots {
                self.fs.getattr(e.ino)
            } else {
                self.fs.lookup_entry(ino.0, e)
            };
            // Gone since the listing was taken: left out, as by a later readdir.
            let Ok(attr) = attr else { return false };
            let full = reply.add(attr.ino, off, &e.name, &TTL, &attr, Generation(0));
            if full && !dots {
                // This entry was not sent, nor its reference.
                self.fs.forget(attr.ino.0, 1);
            }
            full
        });
        match res {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.fs.releasedir(fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        empty(reply, self.fs.fsyncdir(ino.0));
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match self.fs.statfs() {
            Ok(s) => reply.statfs(
                s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.bsize, s.namelen, s.frsize,
            ),
            Err(e) => reply.error(e),
        }
    }

    fn setxattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        acl_kill_sgid: bool,
        reply: ReplyEmpty,
    ) {
        let res = self.fs.setxattr(ino.0, name, value, flags);
        // Only for an access ACL set by a caller neither in the file's
        // group nor with CAP_FSETID (the kernel decides; the backing fs
        // sees the daemon, which keeps the bit).
        let res = res.and_then(|()| match acl_kill_sgid {
            true => self.fs.kill_sgid(ino.0),
            false => Ok(()),
        });
        empty(reply, res);
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        xattr_reply(reply, size, self.fs.getxattr(ino.0, name));
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        xattr_reply(reply, size, self.fs.listxattr(ino.0));
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        empty(reply, self.fs.removexattr(ino.0, name));
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        // Permission checks are the kernel's (default_permissions).
        reply.ok();
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let new = NewObject::File { mode, flags };
        match (self.fs).create_object(parent.0, name, creds_umask(req, umask), new) {
            Ok((attr, Some(file))) => {
                let fh =
                    (self.fs.files).insert(crate::handles::OpenFile::new(attr.ino.0, file, true));
                self.open_reply(attr.ino.0, fh, CreateReply(reply, attr));
            }
            Ok((_, None)) => reply.error(Errno::EIO),
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let res = kill_suidgid_unless_root(&self.fs, req, fh.0);
        empty(
            reply,
            res.and_then(|()| self.fs.fallocate(fh.0, offset, length, mode)),
        );
    }

    fn lseek(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: i64,
        whence: i32,
        reply: ReplyLseek,
    ) {
        match self.fs.lseek(fh.0, offset, whence) {
            Ok(o) => reply.offset(o),
            Err(e) => reply.error(e),
        }
    }

    fn copy_file_range(
        &self,
        req: &Request,
        _ino_in: INodeNo,
        fh_in: FileHandle,
        offset_in: u64,
        _ino_out: INodeNo,
        fh_out: FileHandle,
        offset_out: u64,
        len: u64,
        _flags: CopyFileRangeFlags,
        reply: ReplyWrite,
    ) {
        let res = kill_suidgid_unless_root(&self.fs, req, fh_out.0).and_then(|()| {
            (self.fs).copy_file_range(fh_in.0, offset_in, fh_out.0, offset_out, len)
        });
        match res {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e),
        }
    }
}
