//! Fixtures of the union filesystem's integration tests: real FUSE mounts
//! of temporary layer directories, unmounted by a Drop guard even when a
//! test panics. These tests need root and /dev/fuse and fail loudly, not
//! skip, without them.
#![allow(dead_code, clippy::unwrap_used)]

pub mod evict;
pub mod sys;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use overlayfs::{Config, MountGuard};

pub fn require_root_and_fuse() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "this test needs root"
    );
    assert!(
        Path::new("/dev/fuse").exists(),
        "this test needs /dev/fuse (apt-get install fuse3)"
    );
}

/// Temporary layers `l0..lN` (l0 top-most), `upper`, `work` and `mnt`.
pub struct Layers {
    pub dir: tempfile::TempDir,
    pub n: usize,
}

/// A mounted union. Field order matters: the guard (unmount) drops before
/// the temporary directory is removed.
pub struct Union {
    guard: Option<MountGuard>,
    pub layers: Layers,
}

pub fn layers(n: usize) -> Layers {
    require_root_and_fuse();
    let dir = tempfile::tempdir().unwrap();
    for i in 0..n {
        fs::create_dir(dir.path().join(format!("l{i}"))).unwrap();
    }
    for d in ["upper", "work", "mnt"] {
        fs::create_dir(dir.path().join(d)).unwrap();
    }
    Layers { dir, n }
}

impl Layers {
    /// Path `rel` in lower layer `i`.
    pub fn lower(&self, i: usize, rel: &str) -> PathBuf {
        self.dir.path().join(format!("l{i}")).join(rel)
    }

    pub fn upper(&self, rel: &str) -> PathBuf {
        self.dir.path().join("upper").join(rel)
    }

    pub fn mnt_dir(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    fn lowerdirs(&self) -> Vec<PathBuf> {
        (0..self.n)
            .map(|i| self.dir.path().join(format!("l{i}")))
            .collect()
    }

    /// The union of these layers. `STRATA_TEST_PASSTHROUGH=off` runs a
    /// whole suite with file data through the daemon instead of FUSE
    /// passthrough, `STRATA_TEST_IO_URING=on` with requests over FUSE over
    /// io_uring (scripts/test runs this crate's suites that way too).
    pub fn config(&self) -> Config {
        Config {
            lowerdirs: self.lowerdirs(),
            upperdir: Some(self.dir.path().join("upper")),
            workdir: Some(self.dir.path().join("work")),
            disable_passthrough: passthrough_off_by_env(),
            io_uring: io_uring_on_by_env(),
            ..Default::default()
        }
    }

    pub fn mount(self) -> Union {
        let config = self.config();
        self.mount_config(config)
    }

    /// Mounts with passthrough forced on (`true`, where the kernel has it)
    /// or off, whatever the environment says.
    pub fn mount_passthrough(self, on: bool) -> Union {
        let config = Config {
            disable_passthrough: !on,
            ..self.config()
        };
        self.mount_config(config)
    }

    pub fn mount_config(self, config: Config) -> Union {
        let guard = overlayfs::mount(config, &self.mnt_dir()).unwrap();
        Union {
            guard: Some(guard),
            layers: self,
        }
    }

    /// A read-only union (no upper layer).
    pub fn mount_ro(self) -> Union {
        let config = Config {
            lowerdirs: self.lowerdirs(),
            disable_passthrough: passthrough_off_by_env(),
            io_uring: io_uring_on_by_env(),
            ..Default::default()
        };
        let guard = overlayfs::mount(config, &self.mnt_dir()).unwrap();
        Union {
            guard: Some(guard),
            layers: self,
        }
    }

    /// Writes `content` at `rel` in lower `i`, creating parent dirs.
    pub fn file(&self, i: usize, rel: &str, content: &str) -> PathBuf {
        let p = self.lower(i, rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, content).unwrap();
        p
    }

    pub fn dir(&self, i: usize, rel: &str) -> PathBuf {
        let p = self.lower(i, rel);
        fs::create_dir_all(&p).unwrap();
        p
    }

    /// A kernel-format whiteout (0/0 char device) at `rel` in lower `i`.
    pub fn whiteout(&self, i: usize, rel: &str) {
        sys::mknod(&self.lower(i, rel), libc::S_IFCHR | 0o644, 0).unwrap();
    }
}

impl Union {
    /// Path `rel` through the mount.
    pub fn m(&self, rel: &str) -> PathBuf {
        self.layers.mnt_dir().join(rel)
    }

    pub fn upper(&self, rel: &str) -> PathBuf {
        self.layers.upper(rel)
    }

    pub fn lower(&self, i: usize, rel: &str) -> PathBuf {
        self.layers.lower(i, rel)
    }

    /// What the mounted union keeps in memory.
    pub fn stats(&self) -> overlayfs::Stats {
        self.guard.as_ref().expect("mounted").stats()
    }

    /// Unmounts now (and asserts it worked), for tests of what remains.
    pub fn unmount(&mut self) {
        if let Some(g) = self.guard.take() {
            g.unmount().unwrap();
        }
    }

    /// The sorted names of directory `rel` through the mount.
    pub fn ls(&self, rel: &str) -> Vec<String> {
        ls(&self.m(rel))
    }

    /// The work dir holds nothing but our empty scratch dir (no leftover
    /// of a copy-up or a replacement).
    pub fn assert_work_clean(&self) {
        let scratch = self.layers.dir.path().join("work/strata");
        assert!(
            ls(&scratch).is_empty(),
            "leftovers in work/: {:?}",
            ls(&scratch)
        );
    }
}

fn io_uring_on_by_env() -> bool {
    std::env::var("STRATA_TEST_IO_URING").is_ok_and(|v| v == "on")
}

/// Whether something is mounted at `p` (as this process sees it).
pub fn mounted(p: &Path) -> bool {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let p = p.to_str().unwrap();
    info.lines().any(|l| l.split(' ').nth(4) == Some(p))
}

/// Detaches the mount at `.0` on drop if a test left it mounted.
pub struct Unmount(pub PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        if mounted(&self.0) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// A kernel overlayfs of `dir`'s `lower`, `upper` and `work` (created
/// here, with `mnt`) mounted on `dir/mnt`, for comparisons: unmounted when
/// the returned guard drops. `prepare` fills `lower` before the mount.
pub fn kernel_overlay(dir: &Path, prepare: impl FnOnce(&Path)) -> Unmount {
    let d = |n: &str| dir.join(n);
    for n in ["lower", "upper", "work", "mnt"] {
        fs::create_dir(d(n)).unwrap();
    }
    prepare(&d("lower"));
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        d("lower").display(),
        d("upper").display(),
        d("work").display()
    );
    let guard = Unmount(d("mnt"));
    let st = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &opts])
        .arg(d("mnt"))
        .status()
        .unwrap();
    assert!(st.success(), "mount -t overlay");
    guard
}

fn passthrough_off_by_env() -> bool {
    std::env::var("STRATA_TEST_PASSTHROUGH").is_ok_and(|v| v == "off")
}

pub fn ls(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

pub fn is_whiteout(p: &Path) -> bool {
    p.symlink_metadata()
        .is_ok_and(|m| m.file_type().is_char_device() && m.rdev() == 0)
}

/// Value of xattr `name` on `p` via getfattr, None if absent.
pub fn getxattr(p: &Path, name: &str) -> Option<String> {
    let out = Command::new("getfattr")
        .args(["-h", "--only-values", "-n", name])
        .arg(p)
        .output()
        .expect("getfattr (apt-get install attr)");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn setxattr(p: &Path, name: &str, value: &str) -> Output {
    Command::new("setfattr")
        .args(["-h", "-n", name, "-v", value])
        .arg(p)
        .output()
        .expect("setfattr")
}

/// All xattr names of `p` (getfattr -m -).
pub fn listxattr(p: &Path) -> Vec<String> {
    let out = Command::new("getfattr")
        .args(["-h", "-m", "-", "--absolute-names"])
        .arg(p)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split('=').next().unwrap_or(l).to_string())
        .collect()
}

pub fn is_opaque(p: &Path) -> bool {
    getxattr(p, "trusted.overlay.opaque").as_deref() == Some("y")
}

/// Runs `sh -c script` as `uid:gid` (no supplementary groups).
pub fn as_user(uid: u32, gid: u32, script: &str) -> Output {
    use std::os::unix::process::CommandExt;
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .uid(uid)
        .gid(gid)
        .output()
        .unwrap()
}

pub fn errno_of<T>(r: std::io::Result<T>) -> i32 {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.raw_os_error().unwrap_or(0),
    }
}

pub fn ino(p: &Path) -> u64 {
    p.symlink_metadata().unwrap().ino()
}

/// st_ctime with nanoseconds, not following a final symlink.
pub fn ctime(p: &Path) -> (i64, i64) {
    let m = p.symlink_metadata().unwrap();
    (m.ctime(), m.ctime_nsec())
}

pub fn name(s: &str) -> &OsStr {
    OsStr::new(s)
}
