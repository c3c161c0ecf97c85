//! The system calls that set up a container's filesystem and namespaces,
//! behind a trait (youki `syscall/syscall.rs`) so that the setup sequence in
//! [`super::rootfs`] runs against [`LinuxSyscall`] in the init and against
//! the recording [`FakeSyscall`] in unit tests, without root.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use nix::sys::stat::{Mode, SFlag};

/// File-level operations the container setup needs. Every method maps to one
/// system call (or a tiny fixed group of them) and returns its errno.
pub trait Syscall {
    fn unshare(&self, flags: CloneFlags) -> nix::Result<()>;
    fn sethostname(&self, name: &str) -> nix::Result<()>;
    /// Brings the loopback interface of the current network namespace up.
    fn set_loopback_up(&self) -> nix::Result<()>;
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()>;
    fn umount2(&self, target: &Path, flags: MntFlags) -> nix::Result<()>;
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> nix::Result<()>;
    fn chdir(&self, path: &Path) -> nix::Result<()>;
    /// `mkdir -p` with `mode` for the directories it creates.
    fn mkdir_all(&self, path: &Path, mode: u32) -> nix::Result<()>;
    /// Creates an empty regular file (a mount point) unless one exists.
    fn create_file(&self, path: &Path) -> nix::Result<()>;
    fn write_file(&self, path: &Path, contents: &[u8]) -> nix::Result<()>;
    fn read_file(&self, path: &Path) -> nix::Result<Vec<u8>>;
    fn mknod(&self, path: &Path, kind: SFlag, perm: u32, major: u64, minor: u64)
    -> nix::Result<()>;
    fn symlink(&self, target: &Path, link: &Path) -> nix::Result<()>;
    /// The target of `path` if it is a symlink (the last component is not
    /// followed).
    fn read_link(&self, path: &Path) -> Option<PathBuf>;
    /// Whether `path` exists, and whether it is a directory (symlinks followed).
    fn stat_kind(&self, path: &Path) -> Option<FileKind>;
    /// Adds `nodev` to the mount at `path` and every mount below it, leaving
    /// their other flags as they are.
    fn set_nodev(&self, path: &Path) -> nix::Result<()>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Dir,
    Other,
}

fn errno_of(err: std::io::Error) -> Errno {
    Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO))
}

/// The real thing, for the init process.
#[derive(Debug, Default, Clone, Copy)]
pub struct LinuxSyscall;

impl Syscall for LinuxSyscall {
    fn unshare(&self, flags: CloneFlags) -> nix::Result<()> {
        nix::sched::unshare(flags)
    }

    fn sethostname(&self, name: &str) -> nix::Result<()> {
        nix::unistd::sethostname(name)
    }

    fn set_loopback_up(&self) -> nix::Result<()> {
        super::sys::set_loopback_up()
    }

    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()> {
        nix::mount::mount(source, target, fstype, flags, data)
    }

    fn umount2(&self, target: &Path, flags: MntFlags) -> nix::Result<()> {
        nix::mount::umount2(target, flags)
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> nix::Result<()> {
        nix::unistd::pivot_root(new_root, put_old)
    }

    fn chdir(&self, path: &Path) -> nix::Result<()> {
        nix::unistd::chdir(path)
    }

    fn mkdir_all(&self, path: &Path, mode: u32) -> nix::Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(path)
            .map_err(errno_of)
    }

    fn create_file(&self, path: &Path) -> nix::Result<()> {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)
            .map(drop)
            .map_err(errno_of)
    }

    fn write_file(&self, path: &Path, contents: &[u8]) -> nix::Result<()> {
        std::fs::write(path, contents).map_err(errno_of)
    }

    fn read_file(&self, path: &Path) -> nix::Result<Vec<u8>> {
        std::fs::read(path).map_err(errno_of)
    }

    fn mknod(
        &self,
        path: &Path,
        kind: SFlag,
        perm: u32,
        major: u64,
        minor: u64,
    ) -> nix::Result<()> {
        nix::sys::stat::mknod(
            path,
            kind,
            Mode::from_bits_truncate(perm),
            nix::sys::stat::makedev(major, minor),
        )?;
        // mknod's mode is filtered by the umask; devices must be 0666.
        nix::sys::stat::fchmodat(
            nix::fcntl::AT_FDCWD,
            path,
            Mode::from_bits_truncate(perm),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
    }

    fn symlink(&self, target: &Path, link: &Path) -> nix::Result<()> {
        std::os::unix::fs::symlink(target, link).map_err(errno_of)
    }

    fn read_link(&self, path: &Path) -> Option<PathBuf> {
        std::fs::read_link(path).ok()
    }

    fn set_nodev(&self, path: &Path) -> nix::Result<()> {
        super::sys::set_nodev_recursive(path)
    }

    fn stat_kind(&self, path: &Path) -> Option<FileKind> {
        let meta = std::fs::metadata(path).ok()?;
        Some(if meta.is_dir() {
            FileKind::Dir
        } else {
            FileKind::Other
        })
    }
}

/// One recorded call of the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub op: &'static str,
    /// The path acted on (mount target, file created, ...), as passed.
    pub target: PathBuf,
    /// Everything else, rendered for assertions (source, fstype, flags).
    pub detail: String,
}

/// An in-memory stand-in: records every call, keeps a set of existing paths
/// (so a mount on a path nobody created fails with ENOENT as it would for
/// real), and after `pivot_root(".", ".")` resolves absolute paths under
/// the directory it pivoted into.
#[derive(Debug, Default)]
pub struct FakeSyscall {
    calls: RefCell<Vec<Call>>,
    dirs: RefCell<BTreeSet<PathBuf>>,
    files: RefCell<BTreeMap<PathBuf, Vec<u8>>>,
    links: RefCell<BTreeMap<PathBuf, PathBuf>>,
    cwd: RefCell<PathBuf>,
    root: RefCell<PathBuf>,
}

impl FakeSyscall {
    pub fn new() -> Self {
        let fake = FakeSyscall::default();
        fake.dirs.borrow_mut().insert(PathBuf::from("/"));
        *fake.cwd.borrow_mut() = PathBuf::from("/");
        *fake.root.borrow_mut() = PathBuf::from("/");
        fake
    }

    /// Seeds a directory (and its parents), as seen before any pivot.
    pub fn with_dir(self, path: &str) -> Self {
        for a in Path::new(path).ancestors() {
            self.dirs.borrow_mut().insert(a.to_path_buf());
        }
        self
    }

    /// Seeds a file with contents (its parent directories too).
    pub fn with_file(self, path: &str, contents: &str) -> Self {
        let p = PathBuf::from(path);
        let fake = match p.parent().and_then(Path::to_str) {
            Some(parent) => self.with_dir(parent),
            None => self,
        };
        fake.files
            .borrow_mut()
            .insert(p, contents.as_bytes().into());
        fake
    }

    /// Seeds a symlink `link -> target` (host path of the link).
    pub fn with_symlink(self, link: &str, target: &str) -> Self {
        self.links.borrow_mut().insert(link.into(), target.into());
        self
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.borrow().clone()
    }

    /// Contents of a file the code under test wrote (path as seen by the host).
    pub fn file(&self, path: &str) -> Option<String> {
        let files = self.files.borrow();
        let data = files.get(Path::new(path))?;
        Some(String::from_utf8_lossy(data).into_owned())
    }

    fn record(&self, op: &'static str, target: &Path, detail: String) {
        self.calls.borrow_mut().push(Call {
            op,
            target: target.to_path_buf(),
            detail,
        });
    }

    /// Host view of a path given by the code under test.
    fn host(&self, path: &Path) -> PathBuf {
        let base = if path.is_absolute() {
            self.root.borrow().clone()
        } else {
            self.cwd.borrow().clone()
        };
        let rel = path.strip_prefix("/").unwrap_or(path);
        if rel.as_os_str().is_empty() || rel == Path::new(".") {
            return base;
        }
        base.join(rel)
    }

    fn require(&self, path: &Path) -> nix::Result<()> {
        match self.stat_kind(path) {
            Some(_) => Ok(()),
            None => Err(Errno::ENOENT),
        }
    }

    fn require_parent(&self, path: &Path) -> nix::Result<()> {
        let host = self.host(path);
        match host.parent() {
            Some(p) if !self.dirs.borrow().contains(p) => Err(Errno::ENOENT),
            _ => Ok(()),
        }
    }
}

impl Syscall for FakeSyscall {
    fn unshare(&self, flags: CloneFlags) -> nix::Result<()> {
        self.record("unshare", Path::new(""), format!("{flags:?}"));
        Ok(())
    }

    fn sethostname(&self, name: &str) -> nix::Result<()> {
        self.record("sethostname", Path::new(""), name.to_string());
        Ok(())
    }

    fn set_loopback_up(&self) -> nix::Result<()> {
        self.record("loopback_up", Path::new(""), String::new());
        Ok(())
    }

    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()> {
        self.require(target)?;
        let binds = flags.contains(MsFlags::MS_BIND) && !flags.contains(MsFlags::MS_REMOUNT);
        if let (Some(src), None, true) = (source, fstype, binds) {
            self.require(src)?;
        }
        let source = source.map(|s| s.display().to_string()).unwrap_or_default();
        let detail = format!(
            "{source} {} {flags:?} {}",
            fstype.unwrap_or(""),
            data.unwrap_or("")
        );
        self.record("mount", target, detail);
        Ok(())
    }

    fn umount2(&self, target: &Path, flags: MntFlags) -> nix::Result<()> {
        self.record("umount2", target, format!("{flags:?}"));
        Ok(())
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> nix::Result<()> {
        let new_host = self.host(new_root);
        self.require(new_root)?;
        self.record("pivot_root", new_root, put_old.display().to_string());
        *self.root.borrow_mut() = new_host.clone();
        *self.cwd.borrow_mut() = new_host;
        Ok(())
    }

    fn chdir(&self, path: &Path) -> nix::Result<()> {
        let host = self.host(path);
        if !self.dirs.borrow().contains(&host) {
            return Err(Errno::ENOENT);
        }
        self.record("chdir", path, String::new());
        *self.cwd.borrow_mut() = host;
        Ok(())
    }

    fn mkdir_all(&self, path: &Path, mode: u32) -> nix::Result<()> {
        let host = self.host(path);
        if self.files.borrow().contains_key(&host) {
            return Err(Errno::EEXIST);
        }
        for a in host.ancestors() {
            self.dirs.borrow_mut().insert(a.to_path_buf());
        }
        self.record("mkdir_all", path, format!("{mode:o}"));
        Ok(())
    }

    fn create_file(&self, path: &Path) -> nix::Result<()> {
        self.require_parent(path)?;
        let host = self.host(path);
        self.files.borrow_mut().entry(host).or_default();
        self.record("create_file", path, String::new());
        Ok(())
    }

    fn write_file(&self, path: &Path, contents: &[u8]) -> nix::Result<()> {
        self.require_parent(path)?;
        let host = self.host(path);
        self.files.borrow_mut().insert(host, contents.to_vec());
        self.record("write_file", path, String::from_utf8_lossy(contents).into());
        Ok(())
    }

    fn read_file(&self, path: &Path) -> nix::Result<Vec<u8>> {
        let host = self.host(path);
        self.files.borrow().get(&host).cloned().ok_or(Errno::ENOENT)
    }

    fn mknod(
        &self,
        path: &Path,
        kind: SFlag,
        perm: u32,
        major: u64,
        minor: u64,
    ) -> nix::Result<()> {
        self.require_parent(path)?;
        self.files.borrow_mut().insert(self.host(path), Vec::new());
        let detail = format!("{kind:?} {perm:o} {major}:{minor}");
        self.record("mknod", path, detail);
        Ok(())
    }

    fn symlink(&self, target: &Path, link: &Path) -> nix::Result<()> {
        self.require_parent(link)?;
        self.files.borrow_mut().insert(self.host(link), Vec::new());
        self.record("symlink", link, target.display().to_string());
        Ok(())
    }

    fn read_link(&self, path: &Path) -> Option<PathBuf> {
        self.links.borrow().get(&self.host(path)).cloned()
    }

    fn stat_kind(&self, path: &Path) -> Option<FileKind> {
        let host = self.host(path);
        if self.dirs.borrow().contains(&host) {
            Some(FileKind::Dir)
        } else if self.files.borrow().contains_key(&host) {
            Some(FileKind::Other)
        } else {
            None
        }
    }

    fn set_nodev(&self, path: &Path) -> nix::Result<()> {
        self.require(path)?;
        self.record("nodev", path, String::new());
        Ok(())
    }
}
