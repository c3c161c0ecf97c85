//! The container's view of the world, set up by its first process before it
//! execs (runc `libcontainer/rootfs_linux.go`): namespaces, private mounts,
//! `/proc`, a minimal `/dev`, read-only `/sys`, the `/etc` files, bind
//! mounts, `pivot_root`, then Docker's masked and read-only paths.
//! Everything goes through [`Syscall`] so the sequence is unit-tested.

use std::path::{Component, Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use super::error::{Result, RuntimeError};
use super::spec::{ContainerSpec, NetworkMode};
use super::syscall::{FileKind, Syscall};

/// Docker's masked paths: files get `/dev/null` bound over them,
/// directories an empty read-only tmpfs (moby `oci/defaults.go`).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The devices of the minimal `/dev` (host nodes bound in): null zero full
/// random urandom tty, Docker's default set.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

const DEV_SYMLINKS: &[(&str, &str)] = &[
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
    ("pts/ptmx", "ptmx"),
    ("/proc/kcore", "core"),
];

/// Lines of `/etc/hosts` without the host's network (Docker's defaults).
const DEFAULT_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// The namespaces a container's PID 1 creates for itself (the PID namespace
/// was created by the init before forking it, see `init.rs`).
pub fn namespace_flags(spec: &ContainerSpec) -> CloneFlags {
    let mut flags = CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC;
    if spec.network == NetworkMode::None {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    flags
}

/// Runs the whole sequence; on return the process's root is the container's
/// and its cwd is `/`. Must run in the process that will exec the command,
/// inside the new PID namespace (so `/proc` shows the container's pids).
pub fn prepare(sys: &dyn Syscall, spec: &ContainerSpec) -> Result<()> {
    fn fail<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(nix::Error) -> RuntimeError + 'a {
        move |e| RuntimeError::sys(op, path, e)
    }
    sys.unshare(namespace_flags(spec))
        .map_err(fail("unshare namespaces", Path::new("")))?;
    sys.sethostname(&spec.hostname)
        .map_err(fail("sethostname", Path::new(&spec.hostname)))?;
    if spec.network == NetworkMode::None {
        sys.set_loopback_up()
            .map_err(fail("bring up loopback", Path::new("lo")))?;
    }
    // Nothing we mount may propagate back to the host (systemd makes / shared).
    sys.mount(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )
    .map_err(fail("make mounts private", Path::new("/")))?;
    let root = &spec.rootfs;
    // pivot_root needs the new root to be a mount point.
    mount(
        sys,
        Some(root),
        root,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    // No device node of the image (a layer may carry any) and none a
    // container's root makes with CAP_MKNOD is usable: without a device
    // cgroup, `nodev` is what stands between the container and the host's
    // disks. /dev gets the few devices Docker allows, bound from the host.
    sys.set_nodev(root)
        .map_err(|e| RuntimeError::sys("set nodev", root, e))?;
    mount_proc_dev_sys(sys, root)?;
    write_etc_files(sys, spec)?;
    for m in &spec.mounts {
        bind_mount(sys, root, &m.source, &m.destination, m.readonly)?;
    }
    pivot(sys, root)?;
    if spec.readonly_rootfs {
        // A remount replaces the flags: keep nodev.
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NODEV;
        mount(sys, None, Path::new("/"), None, flags, None)?;
    }
    mask_paths(sys)
}

fn mount(
    sys: &dyn Syscall,
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    sys.mount(source, target, fstype, flags, data)
        .map_err(|e| RuntimeError::sys("mount", target, e))
}

fn mkdir_all(sys: &dyn Syscall, path: &Path, mode: u32) -> Result<()> {
    sys.mkdir_all(path, mode)
        .map_err(|e| RuntimeError::sys("mkdir", path, e))
}

fn mount_proc_dev_sys(sys: &dyn Syscall, root: &Path) -> Result<()> {
    let nosuid_nodev_noexec = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let proc = root.join("proc");
    mkdir_all(sys, &proc, 0o555)?;
    let proc_src = Some(Path::new("proc"));
    mount(
        sys,
        proc_src,
        &proc,
        Some("proc"),
        nosuid_nodev_noexec,
        None,
    )?;

    let dev = root.join("dev");
    mkdir_all(sys, &dev, 0o755)?;
    let dev_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_STRICTATIME;
    let tmpfs = Some(Path::new("tmpfs"));
    mount(
        sys,
        tmpfs,
        &dev,
        Some("tmpfs"),
        dev_flags,
        Some("mode=755,size=65536k"),
    )?;
    // The /dev tmpfs is nodev (see prepare): each allowed device is the
    // host's node bound onto an empty file, the bind keeping the host /dev's
    // flags (what runc does in a user namespace).
    for name in DEVICES {
        let path = dev.join(name);
        let host = Path::new("/dev").join(name);
        sys.create_file(&path)
            .map_err(|e| RuntimeError::sys("create device mount point", &path, e))?;
        mount(sys, Some(&host), &path, None, MsFlags::MS_BIND, None)?;
    }
    for (target, name) in DEV_SYMLINKS {
        let link = dev.join(name);
        sys.symlink(Path::new(target), &link)
            .map_err(|e| RuntimeError::sys("symlink", &link, e))?;
    }
    // A private devpts instance: the container sees only its own ptys, and
    // a pty allocated in it is /dev/pts/0 (gid 5 = tty, as Docker).
    let pts = dev.join("pts");
    mkdir_all(sys, &pts, 0o755)?;
    let pts_flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    let pts_data = "newinstance,ptmxmode=0666,mode=0620,gid=5";
    mount(
        sys,
        Some(Path::new("devpts")),
        &pts,
        Some("devpts"),
        pts_flags,
        Some(pts_data),
    )?;
    let shm = dev.join("shm");
    mkdir_all(sys, &shm, 0o1777)?;
    let shm_data = Some("mode=1777,size=65536k");
    mount(
        sys,
        Some(Path::new("shm")),
        &shm,
        Some("tmpfs"),
        nosuid_nodev_noexec,
        shm_data,
    )?;
    let mqueue = dev.join("mqueue");
    mkdir_all(sys, &mqueue, 0o755)?;
    let mq_src = Some(Path::new("mqueue"));
    mount(
        sys,
        mq_src,
        &mqueue,
        Some("mqueue"),
        nosuid_nodev_noexec,
        None,
    )?;

    let sysfs = root.join("sys");
    mkdir_all(sys, &sysfs, 0o555)?;
    let sys_flags = nosuid_nodev_noexec | MsFlags::MS_RDONLY;
    mount(
        sys,
        Some(Path::new("sysfs")),
        &sysfs,
        Some("sysfs"),
        sys_flags,
        None,
    )
}

/// `/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf`: written to the state
/// dir and bind-mounted, so the rootfs (a container's upper) keeps only an
/// empty mount point when the image lacked the file.
fn write_etc_files(sys: &dyn Syscall, spec: &ContainerSpec) -> Result<()> {
    let host_net = spec.network == NetworkMode::Host;
    let read_host = |path: &str| {
        sys.read_file(Path::new(path))
            .ok()
            .filter(|_| host_net)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    };
    let mut hosts = read_host("/etc/hosts").unwrap_or_else(|| DEFAULT_HOSTS.to_string());
    if !hosts.ends_with('\n') && !hosts.is_empty() {
        hosts.push('\n');
    }
    hosts.push_str(&format!("127.0.1.1\t{}\n", spec.hostname));
    let resolv = read_host("/etc/resolv.conf").unwrap_or_default();
    let files = [
        ("hostname", format!("{}\n", spec.hostname)),
        ("hosts", hosts),
        ("resolv.conf", resolv),
    ];
    mkdir_all(sys, &spec.state_dir, 0o700)?;
    for (name, contents) in files {
        let source = spec.state_dir.join(name);
        sys.write_file(&source, contents.as_bytes())
            .map_err(|e| RuntimeError::sys("write", &source, e))?;
        let dest = format!("/etc/{name}");
        bind_mount(sys, &spec.rootfs, &source, &dest, false)?;
    }
    Ok(())
}

/// [`container_path`] on the real filesystem, for callers outside the
/// container (the builder resolves mount targets and `from=` sources the
/// same way the runtime will, so neither can escape `root`).
pub fn resolve_in_root(root: &Path, destination: &str) -> Result<PathBuf> {
    container_path(&super::syscall::LinuxSyscall, root, destination)
}

/// `destination` (absolute, inside the container) as a host path under
/// `root`, resolved as the kernel would after pivot_root: symlinks in the
/// rootfs are followed with `root` as `/`, and `..` stops at `root` (runc's
/// securejoin). Without this an image's `/etc/hosts -> /host/path` would
/// make us create or mount over a host path.
fn container_path(sys: &dyn Syscall, root: &Path, destination: &str) -> Result<PathBuf> {
    const MAX_LINKS: u32 = 40; // the kernel's limit (ELOOP)
    let dest = Path::new(destination);
    if !dest.is_absolute() {
        return Err(RuntimeError::sys(
            "mount destination",
            dest,
            nix::Error::EINVAL,
        ));
    }
    let push_parts = |pending: &mut Vec<std::ffi::OsString>, path: &Path| {
        for c in path.components().rev() {
            match c {
                Component::Normal(name) => pending.push(name.to_os_string()),
                Component::ParentDir => pending.push("..".into()),
                Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            }
        }
    };
    let mut pending = Vec::new();
    push_parts(&mut pending, dest);
    let mut resolved = PathBuf::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&part);
        match sys.read_link(&root.join(&candidate)) {
            None => resolved = candidate,
            Some(target) => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(RuntimeError::sys(
                        "mount destination",
                        dest,
                        nix::Error::ELOOP,
                    ));
                }
                if target.is_absolute() {
                    resolved = PathBuf::new();
                }
                push_parts(&mut pending, &target);
            }
        }
    }
    Ok(root.join(resolved))
}

fn bind_mount(
    sys: &dyn Syscall,
    root: &Path,
    source: &Path,
    destination: &str,
    readonly: bool,
) -> Result<()> {
    let target = container_path(sys, root, destination)?;
    let kind = sys
        .stat_kind(source)
        .ok_or_else(|| RuntimeError::sys("bind mount source", source, nix::Error::ENOENT))?;
    match (kind, sys.stat_kind(&target)) {
        (_, Some(_)) => {}
        (FileKind::Dir, None) => mkdir_all(sys, &target, 0o755)?,
        (FileKind::Other, None) => {
            if let Some(parent) = target.parent() {
                mkdir_all(sys, parent, 0o755)?;
            }
            sys.create_file(&target)
                .map_err(|e| RuntimeError::sys("create mount point", &target, e))?;
        }
    }
    let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(sys, Some(source), &target, None, bind, None)?;
    if readonly {
        // A bind mount takes its flags only from a remount.
        let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        mount(sys, None, &target, None, ro, None)?;
    }
    // A bound host directory may hold device nodes (or let the container's
    // root make some): unusable, as under Docker's device cgroup.
    sys.set_nodev(&target)
        .map_err(|e| RuntimeError::sys("set nodev", &target, e))?;
    Ok(())
}

/// `pivot_root(".", ".")` stacks the old root on top of the new one at `/`;
/// the lazy unmount then drops it, so no path leads back to the host
/// (pivot_root(2) NOTES; runc does the same).
fn pivot(sys: &dyn Syscall, root: &Path) -> Result<()> {
    let dot = Path::new(".");
    sys.chdir(root)
        .map_err(|e| RuntimeError::sys("chdir", root, e))?;
    sys.pivot_root(dot, dot)
        .map_err(|e| RuntimeError::sys("pivot_root", root, e))?;
    // The old root may hold shared mounts: make them private first so the
    // unmount does not propagate to the host.
    mount(
        sys,
        None,
        dot,
        None,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None,
    )?;
    sys.umount2(dot, MntFlags::MNT_DETACH)
        .map_err(|e| RuntimeError::sys("detach old root", root, e))?;
    sys.chdir(Path::new("/"))
        .map_err(|e| RuntimeError::sys("chdir", "/", e))
}

fn mask_paths(sys: &dyn Syscall) -> Result<()> {
    for path in MASKED_PATHS.iter().map(Path::new) {
        match sys.stat_kind(path) {
            None => {}
            Some(FileKind::Dir) => {
                let tmpfs = Some(Path::new("tmpfs"));
                mount(sys, tmpfs, path, Some("tmpfs"), MsFlags::MS_RDONLY, None)?
            }
            Some(FileKind::Other) => {
                let null = Some(Path::new("/dev/null"));
                mount(sys, null, path, None, MsFlags::MS_BIND, None)?
            }
        }
    }
    for path in READONLY_PATHS.iter().map(Path::new) {
        if sys.stat_kind(path).is_none() {
            continue;
        }
        let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
        mount(sys, Some(path), path, None, bind, None)?;
        let ro = MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC;
        mount(sys, None, path, None, ro, None)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "rootfs_tests.rs"]
mod tests;
