//! The container init: `strata __init`, a fresh exec of the strata binary,
//! hence single-threaded, which is what makes fork and setns safe here.
//! It reads one request from the channel on fd [`INIT_FD`], creates the PID
//! namespace and forks the container's PID 1 (or joins a running
//! container's namespaces for exec), then stays outside as the waiter:
//! relays signals, tees output to the log, reports start and exit.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd, RawFd};

use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};

use super::channel::{Channel, ExitStatus, Message};
use super::child::{LogPipes, exec_process};
use super::error::{RuntimeError, StartFailure};
use super::log::LogWriter;
use super::rootfs;
use super::spec::{ContainerSpec, ProcessSpec};
use super::sys;
use super::syscall::LinuxSyscall;

/// The hidden argument that turns the strata binary into the init.
pub const INIT_ARG: &str = "__init";
/// Descriptor number of the channel in the init.
pub const INIT_FD: RawFd = 3;

/// Signals the waiter forwards to the container (Docker's sig-proxy).
const RELAYED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// Entry point of `strata __init`; returns the process exit code (the
/// container's, Docker-style, or 125 when the runtime failed, reported over
/// the channel). An error only when there is no channel to report on.
pub fn init_main() -> Result<i32, RuntimeError> {
    // The parent placed the channel at INIT_FD for us alone (pass_fd).
    // Run by hand, there is no channel: refuse before taking ownership of
    // whatever descriptor 3 might be.
    use std::os::unix::fs::FileTypeExt;
    let is_socket = std::fs::metadata(format!("/proc/self/fd/{INIT_FD}"))
        .is_ok_and(|m| m.file_type().is_socket());
    if !is_socket {
        return Err(RuntimeError::NoChannel);
    }
    let chan = Channel::from_fd(sys::owned_fd(INIT_FD));
    // Before anything enters a container namespace: no container process
    // may ptrace us or open our /proc entries (exe, fds) meanwhile.
    if let Err(e) = sys::set_not_dumpable() {
        let _ = chan.send(&Message::Failed(setup_err("prctl(PR_SET_DUMPABLE)", e)));
        return Ok(125);
    }
    let report = |f: StartFailure| {
        let code = f.exit_code();
        let _ = chan.send(&Message::Failed(f));
        code
    };
    Ok(match chan.recv() {
        Ok(Some((Message::Run(spec), _))) => run_container(&chan, &spec).unwrap_or_else(report),
        Ok(Some((Message::Exec { pid, process }, _))) => {
            exec_in_container(&chan, pid, &process).unwrap_or_else(report)
        }
        Ok(Some((other, _))) => report(StartFailure::setup(format!("unexpected {other:?}"))),
        Ok(None) => 125,
        Err(e) => report(StartFailure::setup(e.to_string())),
    })
}

fn setup_err(what: &str, e: impl std::fmt::Display) -> StartFailure {
    StartFailure::setup(format!("{what}: {e}"))
}

/// Blocks the relayed signals and SIGCHLD (before forking, so none is lost)
/// and returns a signalfd for them plus the previous mask for the child.
fn block_signals() -> Result<(SignalFd, SigSet), StartFailure> {
    let mut mask = SigSet::empty();
    for s in RELAYED.iter().chain([&Signal::SIGCHLD]) {
        // An ignored signal is discarded, never queued to the signalfd, and
        // the ignore would survive into the container's exec: a caller
        // ignoring SIGINT must not leave the container deaf to ^C.
        sys::default_signal(*s).map_err(|e| setup_err("reset signal", e))?;
        mask.add(*s);
    }
    let mut old = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), Some(&mut old))
        .map_err(|e| setup_err("sigprocmask", e))?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| setup_err("signalfd", e))?;
    Ok((sfd, old))
}

fn pipe() -> Result<(OwnedFd, OwnedFd), StartFailure> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| setup_err("pipe", e))
}

fn run_container(chan: &Channel, spec: &ContainerSpec) -> Result<i32, StartFailure> {
    let (sfd, old_mask) = block_signals()?;
    if spec.new_pid_ns {
        // Affects only our children: the next fork becomes PID 1 in it.
        nix::sched::unshare(CloneFlags::CLONE_NEWPID)
            .map_err(|e| setup_err("unshare PID namespace", e))?;
    }
    let mut log = None;
    let mut pipes = None;
    if let (Some(path), false) = (&spec.log_path, spec.process.tty) {
        log = Some(LogWriter::open(path).map_err(|e| setup_err("log", e))?);
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        pipes = Some((
            (out_r, err_r),
            LogPipes {
                stdout: out_w,
                stderr: err_w,
            },
        ));
    }
    let (sync_r, sync_w) = pipe()?;
    match sys::fork_single_threaded().map_err(|e| setup_err("fork", e))? {
        ForkResult::Child => {
            drop(sync_r);
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
            let child_pipes = pipes.map(|(_, w)| w);
            let failure = match rootfs::prepare(&LinuxSyscall, spec) {
                Ok(()) => exec_process(chan, &spec.process, child_pipes),
                Err(e) => StartFailure::setup(e.to_string()),
            };
            child_exit(sync_w, &failure)
        }
        ForkResult::Parent { child } => {
            drop(sync_w);
            let readers = pipes.map(|(r, _)| r);
            wait_started(chan, child, sync_r)?;
            Ok(supervise(chan, child, &sfd, readers, log, true))
        }
    }
}

fn exec_in_container(chan: &Channel, pid: i32, process: &ProcessSpec) -> Result<i32, StartFailure> {
    let (sfd, old_mask) = block_signals()?;
    // Open every namespace first: after joining the mount namespace, /proc
    // is the container's and `pid` means nothing there.
    let kinds = [
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("pid", CloneFlags::CLONE_NEWPID),
        ("mnt", CloneFlags::CLONE_NEWNS),
    ];
    let mut fds = Vec::new();
    for (name, flag) in kinds {
        let path = format!("/proc/{pid}/ns/{name}");
        let fd = nix::fcntl::open(
            path.as_str(),
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| setup_err(&format!("open {path}"), e))?;
        fds.push((path, fd, flag));
    }
    // setns(CLONE_NEWNS) also moves our root and cwd to the namespace's
    // root, which pivot_root made the container's rootfs.
    for (path, fd, flag) in &fds {
        nix::sched::setns(fd.as_fd(), *flag).map_err(|e| setup_err(&format!("setns {path}"), e))?;
    }
    drop(fds);
    let (sync_r, sync_w) = pipe()?;
    match sys::fork_single_threaded().map_err(|e| setup_err("fork", e))? {
        ForkResult::Child => {
            drop(sync_r);
            let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
            let failure = exec_process(chan, process, None);
            child_exit(sync_w, &failure)
        }
        ForkResult::Parent { child } => {
            drop(sync_w);
            wait_started(chan, child, sync_r)?;
            // An exec'd process outlives a killed `container exec` (Docker):
            // the container's own supervisor still serves its filesystem.
            Ok(supervise(chan, child, &sfd, None, None, false))
        }
    }
}

/// The child reports its failure on the sync pipe and exits with Docker's
/// code for it.
fn child_exit(sync_w: OwnedFd, failure: &StartFailure) -> ! {
    if let Ok(bytes) = serde_json::to_vec(failure) {
        let _ = nix::unistd::write(&sync_w, &bytes);
    }
    std::process::exit(failure.exit_code())
}

/// Waits for the child's exec: the close-on-exec sync pipe reaches EOF with
/// no data on success, or carries the child's [`StartFailure`].
fn wait_started(chan: &Channel, child: Pid, sync_r: OwnedFd) -> Result<(), StartFailure> {
    let mut data = Vec::new();
    let mut file = std::fs::File::from(sync_r);
    let _ = file.read_to_end(&mut data);
    if data.is_empty() {
        chan.send(&Message::Started {
            pid: child.as_raw(),
        })
        .map_err(|e| setup_err("report start", e))?;
        return Ok(());
    }
    let _ = waitpid(child, None);
    Err(serde_json::from_slice(&data)
        .unwrap_or_else(|_| StartFailure::setup(String::from_utf8_lossy(&data).into_owned())))
}

/// The waiter's loop until the child ends: forwards relayed signals, copies
/// output to our stdout/stderr and the log, then reports the exit.
///
/// With `watch_parent`, the channel hanging up means the strata process that
/// started the container died (SIGKILL: nothing unwound). It was the FUSE
/// server of the container's root, so the container cannot go on: its
/// PID 1 is SIGKILLed (the kernel then kills the rest of its PID
/// namespace) rather than left running on a dead filesystem.
fn supervise(
    chan: &Channel,
    child: Pid,
    sfd: &SignalFd,
    readers: Option<(OwnedFd, OwnedFd)>,
    mut log: Option<LogWriter>,
    mut watch_parent: bool,
) -> i32 {
    let mut streams: Vec<(OwnedFd, &str)> = match readers {
        Some((out, err)) => vec![(out, "stdout"), (err, "stderr")],
        None => Vec::new(),
    };
    let status = loop {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        let parent_slot = watch_parent.then(|| {
            fds.push(PollFd::new(chan.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let first_stream = fds.len();
        fds.extend(
            streams
                .iter()
                .map(|(fd, _)| PollFd::new(fd.as_fd(), PollFlags::POLLIN)),
        );
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(_) => break reap_blocking(child),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        let mut closed = Vec::new();
        if let Some(slot) = parent_slot
            && ready[slot]
            && !matches!(chan.recv(), Ok(Some(_)))
        {
            let _ = kill(child, Signal::SIGKILL);
            watch_parent = false;
        }
        for (i, (fd, name)) in streams.iter().enumerate() {
            if ready[first_stream + i] && !copy_chunk(fd, name, &mut log) {
                closed.push(i);
            }
        }
        for i in closed.into_iter().rev() {
            streams.remove(i);
        }
        if ready[0]
            && let Some(status) = handle_signals(sfd, child)
        {
            break status;
        }
    };
    // PID 1 ended, so the kernel killed the rest of its namespace: drain
    // what they wrote without blocking on a writer that might linger.
    for (fd, name) in &streams {
        let _ = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
        while copy_chunk(fd, name, &mut log) {}
    }
    let _ = chan.send(&Message::Exited(status));
    status.exit_code()
}

/// Copies one read's worth from `fd` to our stdout or stderr and the log;
/// false on EOF or error.
fn copy_chunk(fd: &OwnedFd, stream: &str, log: &mut Option<LogWriter>) -> bool {
    use std::io::Write;
    let mut buf = [0u8; 65536];
    let n = match nix::unistd::read(fd, &mut buf) {
        Ok(0) | Err(_) => return false,
        Ok(n) => n,
    };
    // Our own stdout may be gone (a detached supervisor): keep logging.
    let _ = if stream == "stdout" {
        std::io::stdout().lock().write_all(&buf[..n])
    } else {
        std::io::stderr().lock().write_all(&buf[..n])
    };
    if let Some(log) = log {
        let _ = log.write(stream, &buf[..n]);
    }
    true
}

/// Handles pending signals; returns the child's status once it ended.
fn handle_signals(sfd: &SignalFd, child: Pid) -> Option<ExitStatus> {
    while let Ok(Some(info)) = sfd.read_signal() {
        let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
            continue;
        };
        if sig != Signal::SIGCHLD {
            let _ = kill(child, sig);
        }
    }
    reap(child, Some(WaitPidFlag::WNOHANG))
}

fn reap_blocking(child: Pid) -> ExitStatus {
    // Without WNOHANG, reap only returns None on EINTR.
    loop {
        if let Some(status) = reap(child, None) {
            return status;
        }
    }
}

/// The child's status if it ended (stops and continues are skipped). A
/// child that cannot be waited for any more (ECHILD) counts as ended with
/// an unknown status rather than being waited for forever.
fn reap(child: Pid, flags: Option<WaitPidFlag>) -> Option<ExitStatus> {
    loop {
        let (code, signal) = match waitpid(child, flags) {
            Ok(WaitStatus::Exited(_, code)) => (Some(code), None),
            Ok(WaitStatus::Signaled(_, sig, _)) => (None, Some(sig as i32)),
            Ok(WaitStatus::StillAlive) | Err(nix::Error::EINTR) => return None,
            Ok(_) => continue,
            Err(_) => (None, None),
        };
        return Some(ExitStatus { code, signal });
    }
}
