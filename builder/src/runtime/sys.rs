//! Raw system calls nix does not wrap safely. Each function is one small,
//! commented unsafe block; the rest of the runtime is safe code.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::sys::signal::{SigHandler, Signal};
use nix::unistd::ForkResult;

/// fork(2). Only called by the init, which is single-threaded (a fresh exec
/// of the strata binary that never starts threads), so the child may do
/// anything afterwards, not only async-signal-safe calls.
pub fn fork_single_threaded() -> nix::Result<ForkResult> {
    // SAFETY: the caller is single-threaded (see above), so no lock or
    // allocator state can be held by another thread at the fork.
    unsafe { nix::unistd::fork() }
}

/// Makes `fd` the child's descriptor `target` (without close-on-exec) in a
/// command about to be spawned. The parent's copy keeps close-on-exec, so no
/// other child spawned concurrently by another thread inherits it.
pub fn pass_fd(cmd: &mut Command, fd: RawFd, target: RawFd) {
    let hook = move || {
        if fd == target {
            // dup2 to itself would keep FD_CLOEXEC; clear it instead.
            nix::fcntl::fcntl(
                // SAFETY: fd is open in the child (inherited from the parent,
                // which keeps it open until spawn returns).
                unsafe { BorrowedFd::borrow_raw(fd) },
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
            )?;
        } else {
            // SAFETY: dup2 is async-signal-safe; both numbers are plain ints.
            Errno::result(unsafe { libc::dup2(fd, target) })?;
        }
        Ok(())
    };
    // SAFETY: the hook only calls async-signal-safe functions (dup2, fcntl)
    // and does not allocate, as required between fork and exec.
    unsafe { cmd.pre_exec(hook) };
}

/// `fd` renumbered to the lowest free descriptor >= `min` (close-on-exec),
/// its old number closed; unchanged when it already is >= `min`. A
/// descriptor the child must still see after [`pass_fd`] has to stay clear
/// of the target numbers: fds are process-wide, so another thread may have
/// freed a low number just before ours was allocated.
pub fn fd_at_least(fd: OwnedFd, min: RawFd) -> nix::Result<OwnedFd> {
    if fd.as_raw_fd() >= min {
        return Ok(fd);
    }
    let new = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(min))?;
    // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Sets `IFF_UP` on `lo` in the current network namespace (what `ip link set
/// lo up` does) through SIOCGIFFLAGS/SIOCSIFFLAGS on a datagram socket.
pub fn set_loopback_up() -> nix::Result<()> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: the ioctls read/write only `req`, which outlives the calls.
    unsafe {
        Errno::result(libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req))?;
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        Errno::result(libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req))?;
    }
    Ok(())
}

/// Drops every capability not in `keep` (a bit mask) from the bounding set.
pub fn drop_bounding_caps(keep: u64, last_cap: u32) -> nix::Result<()> {
    for cap in 0..=last_cap {
        if keep & (1u64 << cap) == 0 {
            // SAFETY: prctl with integer arguments only.
            Errno::result(unsafe {
                libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0)
            })?;
        }
    }
    Ok(())
}

/// Empties the ambient set.
pub fn clear_ambient_caps() -> nix::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let res = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    Errno::result(res).map(drop)
}

/// capset(2), version 3: sets the effective, permitted and inheritable sets
/// of the calling thread to the given 64-bit masks.
pub fn capset(effective: u64, permitted: u64, inheritable: u64) -> nix::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let half = |mask: u64, high: bool| (if high { mask >> 32 } else { mask }) as u32;
    let data = [false, true].map(|high| Data {
        effective: half(effective, high),
        permitted: half(permitted, high),
        inheritable: half(inheritable, high),
    });
    // SAFETY: header and data are laid out as the kernel's
    // __user_cap_header_struct and two __user_cap_data_struct (version 3).
    let res = unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) };
    Errno::result(res).map(drop)
}

/// pidfd_open(2): a descriptor that becomes readable when `pid` exits and
/// that cannot be confused with a later process reusing the number.
pub fn pidfd_open(pid: i32) -> nix::Result<OwnedFd> {
    // SAFETY: integer arguments only; the result is a new descriptor we own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = Errno::result(fd)?;
    // SAFETY: the kernel returned a fresh, valid descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Makes the terminal `fd` the controlling terminal of the calling session
/// leader (TIOCSCTTY).
pub fn set_controlling_tty(fd: BorrowedFd<'_>) -> nix::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal).
    let res = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    Errno::result(res).map(drop)
}

/// Reads a terminal's window size.
pub fn get_winsize(fd: BorrowedFd<'_>) -> nix::Result<libc::winsize> {
    // SAFETY: winsize is plain old data; TIOCGWINSZ writes exactly one.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let res = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    Errno::result(res).map(|_| ws)
}

/// Sets a terminal's window size (the kernel sends SIGWINCH to its
/// foreground process group).
pub fn set_winsize(fd: BorrowedFd<'_>, ws: &libc::winsize) -> nix::Result<()> {
    // SAFETY: TIOCSWINSZ reads exactly one winsize from `ws`.
    let res = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, ws) };
    Errno::result(res).map(drop)
}

/// Restores the default disposition of `sig` (dispositions set to ignore
/// survive exec; Rust's runtime ignores SIGPIPE).
pub fn default_signal(sig: Signal) -> nix::Result<()> {
    // SAFETY: installing SIG_DFL runs no code of ours in signal context.
    unsafe { nix::sys::signal::signal(sig, SigHandler::SigDfl) }.map(drop)
}

/// Write ends of the pipes the SIGWINCH handler pokes, one per running
/// relay (-1 = free slot). Fixed-size and atomic: the handler can neither
/// lock nor allocate.
static WINCH_PIPES: [AtomicI32; 8] = [const { AtomicI32::new(-1) }; 8];

extern "C" fn on_winch(_: libc::c_int) {
    for slot in &WINCH_PIPES {
        let fd = slot.load(Ordering::Relaxed);
        if fd >= 0 {
            // SAFETY: write(2) is async-signal-safe; a full pipe just drops
            // the byte, which is fine: one pending wake-up is enough.
            unsafe { libc::write(fd, b"w".as_ptr().cast(), 1) };
        }
    }
}

/// Registers `pipe_write` (non-blocking) to receive a byte on every
/// SIGWINCH, the self-pipe trick: works whichever thread of a
/// multi-threaded process gets the signal, unlike signalfd. Returns the
/// slot for [`unregister_winch_pipe`]. The handler stays installed
/// afterwards; with no pipe registered it does nothing, which is what
/// SIGWINCH's default disposition (ignore) does too.
pub fn register_winch_pipe(pipe_write: RawFd) -> nix::Result<usize> {
    let slot = WINCH_PIPES
        .iter()
        .position(|s| {
            s.compare_exchange(-1, pipe_write, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })
        .ok_or(Errno::EBUSY)?;
    // SAFETY: the handler only loads atomics and calls write(2).
    let installed =
        unsafe { nix::sys::signal::signal(Signal::SIGWINCH, SigHandler::Handler(on_winch)) };
    if let Err(e) = installed {
        WINCH_PIPES[slot].store(-1, Ordering::Release);
        return Err(e);
    }
    Ok(slot)
}

/// Undoes [`register_winch_pipe`].
pub fn unregister_winch_pipe(slot: usize) {
    if let Some(s) = WINCH_PIPES.get(slot) {
        s.store(-1, Ordering::Release);
    }
}

/// Takes ownership of a descriptor the kernel just installed for us (one
/// received with SCM_RIGHTS).
pub fn owned_fd(raw: RawFd) -> OwnedFd {
    // SAFETY: only called with descriptors fresh from recvmsg, which nothing
    // else owns.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

/// Marks every descriptor from 3 up close-on-exec (close_range(2) with
/// CLOSE_RANGE_CLOEXEC, Linux 5.11), so nothing the caller leaked into the
/// init (a jobserver pipe, a log file) reaches the container, as runc does.
pub fn cloexec_from_3() -> nix::Result<()> {
    // SAFETY: integer arguments only; descriptors stay open until exec.
    let res = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    Errno::result(res).map(drop)
}

/// A detached, read-only bind mount of the file `program`, as an `O_PATH`
/// descriptor: open_tree(2) with `OPEN_TREE_CLONE` clones a bind mount that
/// is attached nowhere (no path reaches it, mountinfo does not list it), and
/// mount_setattr(2) makes it read-only. Executing `/proc/self/fd/N` gives the
/// process a `/proc/self/exe` on that mount: writing through it fails with
/// EROFS, so a container that gets hold of it cannot overwrite the strata
/// binary (CVE-2019-5736). Needs CAP_SYS_ADMIN (Linux 5.12). The mount lives
/// as long as the descriptor or a process executing from it.
pub fn readonly_clone(program: &std::path::Path) -> nix::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(program.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `path` is a NUL-terminated string that outlives the call; the
    // flags are plain integers.
    let fd = Errno::result(unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC,
        )
    })?;
    // SAFETY: open_tree returned a new descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    mount_setattr(
        fd.as_raw_fd(),
        c"",
        libc::AT_EMPTY_PATH,
        libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV,
    )?;
    Ok(fd)
}

/// Makes this process non-dumpable: until its next exec, processes without
/// CAP_SYS_PTRACE (a container's root) can neither ptrace it nor open its
/// `/proc/<pid>/{exe,fd,mem,environ}`, as runc's init does while it sits in
/// a container's PID namespace. exec(2) resets the flag for the container's
/// own command.
pub fn set_not_dumpable() -> nix::Result<()> {
    // SAFETY: prctl with integer arguments only.
    Errno::result(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) }).map(drop)
}

/// Adds `nodev` to the mount at `path` and, recursively, to every mount
/// below it (mount_setattr(2) with AT_RECURSIVE, Linux 5.12), leaving their
/// other flags alone, unlike a bind remount, which replaces them all.
pub fn set_nodev_recursive(path: &std::path::Path) -> nix::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    mount_setattr(
        libc::AT_FDCWD,
        &path,
        libc::AT_RECURSIVE,
        libc::MOUNT_ATTR_NODEV,
    )
}

/// mount_setattr(2): sets the `set` attributes (MOUNT_ATTR_*) on the mount
/// at `dirfd`/`path`, clearing none.
fn mount_setattr(
    dirfd: RawFd,
    path: &std::ffi::CStr,
    flags: libc::c_int,
    set: u64,
) -> nix::Result<()> {
    let attr = libc::mount_attr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: `path` and `attr` outlive the call and the size of `attr` is
    // passed with it; `dirfd` is a descriptor or AT_FDCWD.
    Errno::result(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            path.as_ptr(),
            flags,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    })
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn fd_at_least_renumbers_low_descriptors_only() {
        let file = std::fs::File::open("/proc/self/exe").expect("open");
        let ino = file.metadata().expect("stat").ino();
        let low = file.as_raw_fd();
        let min = low + 7;
        let moved = fd_at_least(OwnedFd::from(file), min).expect("dup");
        assert!(moved.as_raw_fd() >= min, "{} < {min}", moved.as_raw_fd());
        let moved = std::fs::File::from(moved);
        assert_eq!(moved.metadata().expect("stat").ino(), ino, "same file");
        let flags = nix::fcntl::fcntl(&moved, nix::fcntl::FcntlArg::F_GETFD).expect("getfd");
        assert_ne!(flags & libc::FD_CLOEXEC, 0, "close-on-exec kept");

        let high = moved.as_raw_fd();
        let kept = fd_at_least(OwnedFd::from(moved), 0).expect("no-op");
        assert_eq!(kept.as_raw_fd(), high, "already high enough: unchanged");
    }
}
