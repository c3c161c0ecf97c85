//! The FUSE floor: an in-memory filesystem that does no I/O at all, served
//! with the same fuser session settings as strata-overlayfs (threads,
//! clone_fd, max_write, readdirplus, parallel dirops, entry/attr TTLs,
//! default_permissions, transport). What a workload costs on it is what the FUSE
//! protocol itself costs on this machine: requests, context switches,
//! kernel inode and dentry work. No FUSE filesystem can be faster, so
//! `scripts/bench` shows it beside strata for the workloads it can run
//! (creating, listing, deleting, untarring). File contents are not kept:
//! a write only moves the size, a read returns zeros.
//!
//! `--from LOWER[:LOWER...]` starts it with a snapshot of the names and
//! attributes of those layers merged (top first, kernel whiteouts and
//! opaque dirs applied), so listing, stat-ing, reading and deleting a
//! lower tree can be measured too; taking it is not part of any timing.
//!
//! Usage (root): `fuse_floor [--from LOWERS] MOUNTPOINT` (serves in the
//! foreground until unmounted).

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    KernelConfig, LockOwner, MountOption, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite, Request, Session,
    SessionACL, TimeOrNow, WriteFlags,
};

/// As in strata-overlayfs (adapter.rs).
const TTL: Duration = Duration::from_secs(60);

struct Node {
    attr: FileAttr,
    /// Children of a directory, by name.
    kids: BTreeMap<OsString, u64>,
    target: PathBuf,
}

#[derive(Default)]
struct Inner {
    nodes: HashMap<u64, Node>,
    next: u64,
    /// Open directory handles: the listing taken at opendir.
    dirs: HashMap<u64, Vec<(OsString, u64)>>,
    next_fh: u64,
}

struct Floor(Mutex<Inner>);

fn attr(ino: u64, kind: FileType, perm: u32, (uid, gid): (u32, u32)) -> FileAttr {
    let now = SystemTime::now();
    FileAttr {
        ino: INodeNo(ino),
        size: 0,
        blocks: 0,
        atime: now,
        mtime: now,
        ctime: now,
        crtime: now,
        kind,
        perm: (perm & 0o7777) as u16,
        nlink: if kind == FileType::Directory { 2 } else { 1 },
        uid,
        gid,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

fn time(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

impl Floor {
    fn new() -> Self {
        let mut inner = Inner {
            next: 2,
            next_fh: 1,
            ..Inner::default()
        };
        let root = attr(1, FileType::Directory, 0o755, (0, 0));
        inner.nodes.insert(
            1,
            Node {
                attr: root,
                kids: BTreeMap::new(),
                target: PathBuf::new(),
            },
        );
        Floor(Mutex::new(inner))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Make `name` in `parent`; EEXIST when taken.
    fn make(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        kind: FileType,
        mode: u32,
        target: &Path,
    ) -> Result<FileAttr, Errno> {
        let mut inner = self.lock();
        let ino = inner.next;
        let dir = inner.nodes.get_mut(&parent.0).ok_or(Errno::ENOENT)?;
        if dir.kids.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        dir.kids.insert(name.to_owned(), ino);
        dir.attr.mtime = SystemTime::now();
        let mut a = attr(ino, kind, mode, (req.uid(), req.gid()));
        a.size = target.as_os_str().len() as u64;
        inner.next += 1;
        inner.nodes.insert(
            ino,
            Node {
                attr: a,
                kids: BTreeMap::new(),
                target: target.to_path_buf(),
            },
        );
        Ok(a)
    }

    fn remove(&self, parent: INodeNo, name: &OsStr, dir: bool) -> Result<(), Errno> {
        let mut inner = self.lock();
        let ino = *inner
            .nodes
            .get(&parent.0)
            .and_then(|p| p.kids.get(name))
            .ok_or(Errno::ENOENT)?;
        let node = inner.nodes.get(&ino).ok_or(Errno::ENOENT)?;
        match (dir, node.attr.kind == FileType::Directory) {
            (true, false) => return Err(Errno::ENOTDIR),
            (false, true) => return Err(Errno::EISDIR),
            (true, true) if !node.kids.is_empty() => return Err(Errno::ENOTEMPTY),
            _ => {}
        }
        if let Some(p) = inner.nodes.get_mut(&parent.0) {
            p.kids.remove(name);
        }
        let gone = match inner.nodes.get_mut(&ino) {
            Some(n) if !dir && n.attr.nlink > 1 => {
                n.attr.nlink -= 1;
                false
            }
            _ => true,
        };
        if gone {
            inner.nodes.remove(&ino);
        }
        Ok(())
    }
}

impl Filesystem for Floor {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let _ = config.set_max_write(1 << 20);
        let _ = config.add_capabilities(fuser::InitFlags::FUSE_PARALLEL_DIROPS);
        let _ = config.add_capabilities(fuser::InitFlags::FUSE_DO_READDIRPLUS);
        // The same transport as strata's default (/dev/fuse), or io_uring
        // with FUSE_FLOOR_IO_URING=on (as strata's `-o io_uring=on`).
        if std::env::var("FUSE_FLOOR_IO_URING").is_ok_and(|v| v == "on") {
            let _ = config.add_capabilities(fuser::InitFlags::FUSE_OVER_IO_URING);
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let inner = self.lock();
        let found = inner
            .nodes
            .get(&parent.0)
            .and_then(|p| p.kids.get(name))
            .and_then(|ino| inner.nodes.get(ino));
        match found {
            Some(n) => reply.entry(&TTL, &n.attr, Generation(0)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.lock().nodes.get(&ino.0) {
            Some(n) => reply.attr(&TTL, &n.attr),
            None => reply.error(Errno::ENOENT),
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
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        _kill_suidgid: bool,
        reply: ReplyAttr,
    ) {
        let mut inner = self.lock();
        let Some(n) = inner.nodes.get_mut(&ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        let a = &mut n.attr;
        if let Some(m) = mode {
            a.perm = (m & 0o7777) as u16;
        }
        a.uid = uid.unwrap_or(a.uid);
        a.gid = gid.unwrap_or(a.gid);
        a.size = size.unwrap_or(a.size);
        a.atime = atime.map(time).unwrap_or(a.atime);
        a.mtime = mtime.map(time).unwrap_or(a.mtime);
        a.ctime = SystemTime::now();
        reply.attr(&TTL, a);
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.lock().nodes.get(&ino.0) {
            Some(n) => reply.data(n.target.as_os_str().as_encoded_bytes()),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        match self.make(req, parent, name, FileType::Directory, mode, Path::new("")) {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        match self.make(req, parent, name, FileType::Symlink, 0o777, target) {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let mut inner = self.lock();
        let Some(dir) = inner.nodes.get_mut(&newparent.0) else {
            return reply.error(Errno::ENOENT);
        };
        if dir.kids.contains_key(newname) {
            return reply.error(Errno::EEXIST);
        }
        dir.kids.insert(newname.to_owned(), ino.0);
        match inner.nodes.get_mut(&ino.0) {
            Some(n) => {
                n.attr.nlink += 1;
                reply.entry(&TTL, &n.attr, Generation(0));
            }
            None => reply.error(Errno::ENOENT),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.remove(parent, name, false) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.remove(parent, name, true) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        _flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        // Enough for the workloads: plain renames of files (tar's
        // temporary names), replacing the target.
        let mut inner = self.lock();
        let Some(ino) = inner
            .nodes
            .get_mut(&parent.0)
            .and_then(|p| p.kids.remove(name))
        else {
            return reply.error(Errno::ENOENT);
        };
        match inner.nodes.get_mut(&newparent.0) {
            Some(p) => {
                p.kids.insert(newname.to_owned(), ino);
                reply.ok()
            }
            None => reply.error(Errno::ENOENT),
        }
    }

    fn open(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _flags: OpenFlags,
        _kill_suidgid: bool,
        reply: ReplyOpen,
    ) {
        reply.opened(FileHandle(0), FopenFlags::FOPEN_KEEP_CACHE);
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        match self.make(
            req,
            parent,
            name,
            FileType::RegularFile,
            mode,
            Path::new(""),
        ) {
            Ok(a) => reply.created(
                &TTL,
                &a,
                Generation(0),
                FileHandle(0),
                FopenFlags::FOPEN_KEEP_CACHE,
            ),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let len = self.lock().nodes.get(&ino.0).map_or(0, |n| n.attr.size);
        let n = len.saturating_sub(offset).min(u64::from(size));
        reply.data(&vec![0; n as usize]);
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        if let Some(n) = self.lock().nodes.get_mut(&ino.0) {
            n.attr.size = n.attr.size.max(offset + data.len() as u64);
            n.attr.mtime = SystemTime::now();
        }
        reply.written(data.len() as u32);
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // As strata-overlayfs: the kernel then stops sending FLUSH.
        reply.error(Errno::ENOSYS);
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let mut inner = self.lock();
        let Some(dir) = inner.nodes.get(&ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        let list: Vec<(OsString, u64)> = dir.kids.iter().map(|(k, v)| (k.clone(), *v)).collect();
        let fh = inner.next_fh;
        inner.next_fh += 1;
        inner.dirs.insert(fh, list);
        reply.opened(FileHandle(fh), FopenFlags::empty());
    }

    fn readdirplus(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let inner = self.lock();
        let Some(list) = inner.dirs.get(&fh.0) else {
            return reply.error(Errno::EBADF);
        };
        for (i, (name, ino)) in list.iter().enumerate().skip(offset as usize) {
            let Some(n) = inner.nodes.get(ino) else {
                continue;
            };
            if reply.add(
                INodeNo(*ino),
                i as u64 + 1,
                name,
                &TTL,
                &n.attr,
                Generation(0),
            ) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.lock().dirs.remove(&fh.0);
        reply.ok();
    }
}

impl Inner {
    /// Add the entries of `dirs` (top layer first) under the node `ino`.
    fn load(&mut self, ino: u64, dirs: &[PathBuf]) -> std::io::Result<()> {
        let mut seen: BTreeMap<OsString, Vec<PathBuf>> = BTreeMap::new();
        let mut hidden = std::collections::HashSet::new();
        for dir in dirs {
            for e in std::fs::read_dir(dir)? {
                let e = e?;
                let name = e.file_name();
                if hidden.contains(&name) {
                    continue;
                }
                let md = e.metadata()?;
                if overlayfs::is_whiteout(&md) {
                    hidden.insert(name);
                    continue;
                }
                let below = seen.entry(name.clone()).or_default();
                // A non-dir hides what is below it; dirs merge.
                if below.is_empty() || md.is_dir() {
                    below.push(e.path());
                }
                if !md.is_dir() {
                    hidden.insert(name);
                }
            }
            if overlayfs::is_opaque_dir(dir) {
                break;
            }
        }
        for (name, paths) in seen {
            let md = std::fs::symlink_metadata(&paths[0])?;
            let child = self.next;
            self.next += 1;
            let kind = if md.is_dir() {
                FileType::Directory
            } else if md.file_type().is_symlink() {
                FileType::Symlink
            } else {
                FileType::RegularFile
            };
            let target = if kind == FileType::Symlink {
                std::fs::read_link(&paths[0])?
            } else {
                PathBuf::new()
            };
            let attr = FileAttr {
                ino: INodeNo(child),
                size: md.len(),
                blocks: md.blocks(),
                atime: md.accessed()?,
                mtime: md.modified()?,
                ctime: md.modified()?,
                crtime: md.modified()?,
                kind,
                perm: (md.mode() & 0o7777) as u16,
                nlink: md.nlink() as u32,
                uid: md.uid(),
                gid: md.gid(),
                rdev: 0,
                blksize: 4096,
                flags: 0,
            };
            let node = Node {
                attr,
                kids: BTreeMap::new(),
                target,
            };
            self.nodes.insert(child, node);
            if let Some(p) = self.nodes.get_mut(&ino) {
                p.kids.insert(name, child);
            }
            if kind == FileType::Directory {
                self.load(child, &paths)?;
            }
        }
        Ok(())
    }
}

fn main() -> std::io::Result<()> {
    env_logger::init();
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let (lowers, mnt) = match args.as_slice() {
        [mnt] => (Vec::new(), mnt),
        [flag, lowers, mnt] if flag == "--from" => {
            (std::env::split_paths(lowers).collect::<Vec<_>>(), mnt)
        }
        _ => {
            eprintln!("usage: fuse_floor [--from LOWER[:LOWER...]] MOUNTPOINT");
            std::process::exit(2);
        }
    };
    let floor = Floor::new();
    floor.lock().load(1, &lowers)?;
    let mut config = fuser::Config::default();
    config.mount_options = vec![
        MountOption::FSName("fuse-floor".into()),
        MountOption::DefaultPermissions,
    ];
    config.acl = SessionACL::All;
    config.n_threads = Some(
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(2, 8),
    );
    config.clone_fd = true;
    Session::new(floor, Path::new(&mnt), &config)?.run()
}
