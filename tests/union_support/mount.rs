//! Mount guards: the union program under test (`strata-overlayfs`, or any
//! fuse-overlayfs-compatible program named by `STRATA_UNION_PROGRAM`) and
//! kernel overlayfs as the reference. Every guard unmounts on drop, with a
//! lazy unmount as the fallback, so a failing test leaves nothing mounted.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::mount::{MntFlags, MsFlags};

/// Kernel overlayfs options of the reference mounts. The module defaults
/// here (`redirect_dir=off index=off`) give EXDEV on renaming a lower
/// directory and break hard links on copy-up; strata must do neither, so the
/// reference is the kernel in the mode where it does the same. Overridable
/// with `STRATA_KERNEL_OVERLAY_OPTS` (e.g. to compare against the defaults).
pub fn kernel_options() -> String {
    std::env::var("STRATA_KERNEL_OVERLAY_OPTS")
        .unwrap_or_else(|_| "redirect_dir=on,index=on".into())
}

/// The mount program under test.
pub fn program() -> PathBuf {
    match std::env::var_os("STRATA_UNION_PROGRAM") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => crate::common::bin("strata-overlayfs"),
    }
}

/// Where a test's mount lives: lower layers (top-most first), upper, work
/// and mountpoint, all under one temp dir.
pub struct Layout {
    pub lowers: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub mnt: PathBuf,
}

impl Layout {
    /// Creates `n_lowers` empty lower dirs `l0` (top) .. plus upper, work and
    /// mnt under `root`.
    pub fn create(root: &Path, n_lowers: usize) -> Layout {
        let lowers: Vec<PathBuf> = (0..n_lowers).map(|i| root.join(format!("l{i}"))).collect();
        let layout = Layout {
            lowers,
            upper: root.join("upper"),
            work: root.join("work"),
            mnt: root.join("mnt"),
        };
        for dir in layout
            .lowers
            .iter()
            .chain([&layout.upper, &layout.work, &layout.mnt])
        {
            std::fs::create_dir_all(dir).expect("create layout dir");
        }
        layout
    }

    pub fn options(&self) -> String {
        format!(
            "{},upperdir={},workdir={}",
            lowerdir_option(&self.lowers),
            self.upper.display(),
            self.work.display()
        )
    }
}

pub fn lowerdir_option(lowers: &[PathBuf]) -> String {
    let joined: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
    format!("lowerdir={}", joined.join(":"))
}

/// What a run of the mount program left: its exit status and stderr.
pub struct Outcome {
    pub status: ExitStatus,
    pub stderr: String,
}

/// Runs the program under test with `-o OPTIONS MOUNTPOINT` and waits for it
/// to return (it daemonizes once mounted). Output goes to `MOUNTPOINT.stderr`, not pipes:
/// the daemon inherits them and a pipe would never reach EOF. A program that
/// has not returned after a generous time is killed and the test fails.
pub fn run_program(options: &str, mountpoint: &Path) -> Outcome {
    run_program_under(&[], options, mountpoint)
}

/// [`run_program`] under a wrapper command (`setpriv ... --`), e.g. to run
/// it without some capabilities.
pub fn run_program_under(wrapper: &[&str], options: &str, mountpoint: &Path) -> Outcome {
    // Next to the mountpoint (inside the test's temp dir), so the daemon's
    // later messages stay readable while the test runs.
    let name = mountpoint
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let err_path = mountpoint.with_file_name(format!("{name}.stderr"));
    let stderr = File::create(&err_path).expect("create stderr file");
    let mut cmd = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(program());
            c
        }
        None => Command::new(program()),
    };
    let mut child = cmd
        .arg("-o")
        .arg(options)
        .arg(mountpoint)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", program().display()));
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for mount program") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} -o {options} {} did not return within 120 s",
                program().display(),
                mountpoint.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    Outcome { status, stderr }
}

/// Number of mounts whose mountpoint is `path`, from /proc/self/mountinfo.
pub fn mounts_at(path: &Path) -> usize {
    devices_at(path).len()
}

/// The `major:minor` device of every mount at `path`, oldest first, from
/// /proc/self/mountinfo (never touching the mount itself, which may hang).
fn devices_at(path: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    let want = path.to_string_lossy();
    info.lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            let point = unescape_mountinfo(fields.get(4)?);
            (point == want).then(|| fields[2].to_string())
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = std::str::from_utf8(&bytes[i + 1..i + 4]).ok();
            if let Some(v) = digits.and_then(|d| u8::from_str_radix(d, 8).ok()) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Union,
    Kernel,
}

/// A mounted union; unmounts on drop.
pub struct Mount {
    path: PathBuf,
    kind: Kind,
    mounted: bool,
}

impl Mount {
    /// Mounts `layout` with the program under test; panics with its stderr
    /// when it fails.
    pub fn union(layout: &Layout) -> Mount {
        Mount::union_opts(&layout.options(), &layout.mnt)
    }

    /// Mounts with the program under test and explicit `-o` options.
    pub fn union_opts(options: &str, mnt: &Path) -> Mount {
        let before = mounts_at(mnt);
        let out = run_program(options, mnt);
        // Built first so that a failed assertion below still unmounts.
        let guard = Mount {
            path: mnt.to_path_buf(),
            kind: Kind::Union,
            mounted: mounts_at(mnt) > before,
        };
        assert!(
            out.status.success(),
            "{} -o {options} {} failed ({}): {}",
            program().display(),
            mnt.display(),
            out.status,
            out.stderr
        );
        assert!(
            guard.mounted,
            "{} returned success but nothing is mounted at {}",
            program().display(),
            mnt.display()
        );
        guard
    }

    /// Mounts `layout` with kernel overlayfs and [`kernel_options`].
    pub fn kernel(layout: &Layout) -> Mount {
        let data = format!("{},{}", layout.options(), kernel_options());
        nix::mount::mount(
            Some("overlay"),
            &layout.mnt,
            Some("overlay"),
            MsFlags::empty(),
            Some(data.as_str()),
        )
        .unwrap_or_else(|e| panic!("mount -t overlay -o {data} {}: {e}", layout.mnt.display()));
        Mount {
            path: layout.mnt.clone(),
            kind: Kind::Kernel,
            mounted: true,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Unmounts now and checks that it worked (the drop fallback is lazy).
    pub fn unmount(mut self) {
        // Tests of one binary run in parallel and fork children; until a
        // child execs it holds copies of our close-on-exec descriptors,
        // which can make the mount busy for a moment. Retry, bounded.
        let mut result = nix::mount::umount2(&self.path, MntFlags::empty());
        for _ in 0..50 {
            if result != Err(nix::errno::Errno::EBUSY) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            result = nix::mount::umount2(&self.path, MntFlags::empty());
        }
        // On failure the panic drops `self` still marked mounted, so Drop
        // detaches the mount: a failing test leaves nothing behind.
        result.unwrap_or_else(|e| panic!("umount {}: {e}", self.path.display()));
        self.mounted = false;
        assert_eq!(
            mounts_at(&self.path),
            0,
            "{} still mounted after umount",
            self.path.display()
        );
    }

    /// Aborts the FUSE connection behind this mount, so threads blocked in it
    /// return ENOTCONN; used by watchdogs before they fail a test.
    pub fn abort_fuse(&self) {
        abort_fuse_at(&self.path);
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if !self.mounted {
            return;
        }
        if nix::mount::umount2(&self.path, MntFlags::empty()).is_err() {
            // Busy (an open file, a stuck thread): detach it so nothing stays
            // visible; the daemon exits once the last user is gone.
            if self.kind == Kind::Union {
                self.abort_fuse();
            }
            let _ = nix::mount::umount2(&self.path, MntFlags::MNT_DETACH);
        }
    }
}

/// Aborts the FUSE connection mounted at `path`, if any, so that threads
/// blocked on it return ENOTCONN. Best effort: used only when already failing.
pub fn abort_fuse_at(path: &Path) {
    // Through fusectl where it is mounted: the top-most mount at `path`; a
    // FUSE connection is named by the minor of its anonymous device.
    if let Some(minor) = devices_at(path)
        .last()
        .and_then(|d| d.split(':').nth(1).map(str::to_string))
    {
        let _ = std::fs::write(format!("/sys/fs/fuse/connections/{minor}/abort"), "1");
    }
    // Otherwise (fusectl is often not mounted) by killing the daemon this
    // test started for `path`: the kernel then fails its pending requests.
    for pid in daemons_serving(path) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// The io_uring instances held by the daemon serving `mnt` (FUSE over
/// io_uring queues, one per CPU, when it got them).
pub fn daemon_io_urings(mnt: &Path) -> usize {
    daemons_serving(mnt)
        .into_iter()
        .flat_map(|pid| {
            std::fs::read_dir(format!("/proc/{pid}/fd"))
                .into_iter()
                .flatten()
        })
        .flatten()
        .filter(|fd| {
            std::fs::read_link(fd.path()).is_ok_and(|t| t.to_string_lossy().contains("[io_uring]"))
        })
        .count()
}

/// Processes (other than this one) whose command line has `path` as an
/// argument: the mount program's daemon for that mountpoint.
fn daemons_serving(path: &Path) -> Vec<i32> {
    let want = path.as_os_str().as_encoded_bytes();
    let me = std::process::id() as i32;
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == want))
        })
        .collect()
}

/// Runs `f` on its own thread and returns its result; if it has not
/// finished after `limit` (generous: only a hang trips it), aborts the FUSE
/// connections at `mountpoints` so the stuck thread can return, and fails.
pub fn watchdog<T: Send + 'static>(
    limit: Duration,
    mountpoints: Vec<PathBuf>,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let value = f();
        let _ = tx.send(());
        value
    });
    if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
        for m in &mountpoints {
            abort_fuse_at(m);
        }
        panic!("hang: no result within {limit:?} (FUSE connections at {mountpoints:?} aborted)");
    }
    // Finished or panicked (the sender is gone): pass the panic on as is.
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// A tmpfs mounted for the life of the guard (a second filesystem for the
/// "upper and work on different filesystems" case).
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    pub fn mount(path: &Path) -> Tmpfs {
        std::fs::create_dir_all(path).expect("create tmpfs mountpoint");
        nix::mount::mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            MsFlags::empty(),
            Some("size=16m"),
        )
        .unwrap_or_else(|e| panic!("mount tmpfs on {}: {e}", path.display()));
        Tmpfs(path.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if nix::mount::umount2(&self.0, MntFlags::empty()).is_err() {
            let _ = nix::mount::umount2(&self.0, MntFlags::MNT_DETACH);
        }
    }
}
