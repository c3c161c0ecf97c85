//! The parent side: start a container or an exec'd process through the
//! init, and control it (wait, signal, stop).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use nix::sys::signal::Signal;

use super::channel::{Channel, ExitStatus, Message};
use super::control;
use super::error::{Result, RuntimeError};
use super::init::{INIT_ARG, INIT_FD};
use super::spec::{ContainerSpec, ProcessSpec};
use super::sys;

/// Starts containers by re-executing `init_program` (the strata binary) as
/// `strata __init`: spawning from a multi-threaded program (FUSE threads)
/// is safe because all namespace work happens in that fresh process.
#[derive(Debug, Clone)]
pub struct Runtime {
    init_program: PathBuf,
}

impl Runtime {
    /// `init_program` must dispatch `__init` to [`super::init_main`]; the
    /// strata CLI passes `std::env::current_exe()`.
    pub fn new(init_program: impl Into<PathBuf>) -> Self {
        Runtime {
            init_program: init_program.into(),
        }
    }

    /// Starts the container and returns once its command was exec'd, or
    /// with [`RuntimeError::Start`] (exit code 125/126/127) when it could not
    /// be. Stdin/stdout/stderr are this process's (unless `tty`).
    pub fn run(&self, spec: &ContainerSpec) -> Result<Container> {
        self.run_with_stdio(spec, Stdio::default())
    }

    /// [`Runtime::run`] with the container's stdin/stdout/stderr taken from
    /// `stdio` instead of this process's (a `-d` supervisor passes
    /// `/dev/null`; `start -a -i` passes its streams). With a log path the
    /// init still tees stdout/stderr into the log.
    pub fn run_with_stdio(&self, spec: &ContainerSpec, stdio: Stdio) -> Result<Container> {
        let stop_signal = control::parse_signal(&spec.process.stop_signal)?;
        self.start(Message::Run(Box::new(spec.clone())), stop_signal, stdio)
    }

    /// `container exec`: starts `process` in the namespaces of the running
    /// container whose PID 1 has host pid `container_pid`.
    pub fn exec(&self, container_pid: i32, process: &ProcessSpec) -> Result<Container> {
        let stop_signal = control::parse_signal(&process.stop_signal)?;
        let request = Message::Exec {
            pid: container_pid,
            process: Box::new(process.clone()),
        };
        self.start(request, stop_signal, Stdio::default())
    }

    fn start(&self, request: Message, stop_signal: Signal, stdio: Stdio) -> Result<Container> {
        let (ours, theirs) = Channel::pair()?;
        // The init runs from a read-only clone of the binary (see
        // sys::readonly_clone): its /proc/self/exe must not be a writable
        // path to the host's strata binary, since the init enters the
        // container's namespaces (CVE-2019-5736). The clone stays alive
        // until spawn has exec'd it.
        let spawn_err = |source| RuntimeError::SpawnInit {
            program: self.init_program.clone(),
            source,
        };
        // pass_fd puts the channel at INIT_FD in the child: a clone sitting
        // there (another thread freed that number after Channel::pair) would
        // be replaced before the exec, which then ran the socket (EACCES).
        let sealed = sys::readonly_clone(&self.init_program)
            .and_then(|fd| sys::fd_at_least(fd, INIT_FD + 1))
            .map_err(|e| spawn_err(std::io::Error::from(e)))?;
        let mut cmd = Command::new(format!("/proc/self/fd/{}", sealed.as_raw_fd()));
        cmd.arg(INIT_ARG);
        if let Some(fd) = stdio.stdin {
            cmd.stdin(fd);
        }
        if let Some(fd) = stdio.stdout {
            cmd.stdout(fd);
        }
        if let Some(fd) = stdio.stderr {
            cmd.stderr(fd);
        }
        sys::pass_fd(&mut cmd, theirs.as_raw_fd(), INIT_FD);
        let init = cmd.spawn().map_err(spawn_err)?;
        drop((theirs, sealed));
        let mut container = Container {
            init,
            chan: ours,
            pid: 0,
            pty: None,
            stop_signal,
            status: None,
        };
        container.chan.send(&request)?;
        loop {
            match container.chan.recv()? {
                Some((Message::Pty, Some(fd))) => container.pty = Some(fd),
                Some((Message::Started { pid }, _)) => {
                    container.pid = pid;
                    return Ok(container);
                }
                Some((Message::Failed(failure), _)) => {
                    let _ = container.init.wait();
                    return Err(RuntimeError::Start(failure));
                }
                Some((other, _)) => {
                    return Err(RuntimeError::Protocol(format!("{other:?} before start")));
                }
                None => {
                    let status = container.init.wait().ok();
                    return Err(RuntimeError::Protocol(format!(
                        "the init exited ({status:?}) before starting the container"
                    )));
                }
            }
        }
    }
}

/// Where the container's standard streams go; `None` inherits ours.
#[derive(Debug, Default)]
pub struct Stdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// A started container (or exec'd process).
#[derive(Debug)]
pub struct Container {
    init: Child,
    chan: Channel,
    pid: i32,
    pty: Option<OwnedFd>,
    stop_signal: Signal,
    status: Option<ExitStatus>,
}

impl Container {
    /// Host pid of the container's PID 1 (or of the exec'd process): what
    /// `exec`, `pause` and the catalog use.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Host pid of the init that waits for it.
    pub fn init_pid(&self) -> u32 {
        self.init.id()
    }

    /// The pty master with `tty: true` (once); see [`super::tty::relay`].
    pub fn take_pty_master(&mut self) -> Option<OwnedFd> {
        self.pty.take()
    }

    /// Waits for the process to end.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let mut status = None;
        while let Some((msg, _)) = self.chan.recv()? {
            if let Message::Exited(s) = msg {
                status = Some(s);
                break;
            }
        }
        let init = self
            .init
            .wait()
            .map_err(|e| RuntimeError::io("wait for the init of", self.pid_path(), e))?;
        // Without a report the init itself died: take its own status.
        let status = status.unwrap_or_else(|| {
            use std::os::unix::process::ExitStatusExt;
            ExitStatus {
                code: init.code(),
                signal: init.signal(),
            }
        });
        self.status = Some(status);
        Ok(status)
    }

    fn pid_path(&self) -> PathBuf {
        Path::new("/proc").join(self.pid.to_string())
    }

    /// Whether the process already ended, without blocking.
    pub fn has_exited(&self) -> bool {
        if self.status.is_some() {
            return true;
        }
        let mut fds = [nix::poll::PollFd::new(
            self.chan.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        matches!(nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO), Ok(n) if n > 0)
    }

    /// Sends `sig` to the process (a container's PID 1 ignores signals it
    /// has no handler for, except SIGKILL and SIGSTOP).
    pub fn signal(&self, sig: Signal) -> Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        control::signal_process(self.pid, sig)
    }

    /// `container stop`: the stop signal, then SIGKILL after `timeout`.
    pub fn stop(&mut self, timeout: Duration) -> Result<ExitStatus> {
        if self.status.is_none() {
            control::stop_process(self.pid, self.stop_signal, timeout)?;
        }
        self.wait()
    }
}
