//! `-t`: relaying between the user's terminal and the container's pty
//! master. The user's terminal goes into raw mode (restored by a guard on
//! every exit path) so ^C, ^Z and friends reach the container as bytes and
//! its own line discipline turns them into signals; window size changes
//! follow SIGWINCH.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};

use super::error::{Result, RuntimeError};
use super::log::LogWriter;
use super::sys;

fn tty_err(op: &'static str) -> impl FnOnce(nix::Error) -> RuntimeError {
    move |source| RuntimeError::Tty { op, source }
}

/// Puts a terminal into raw mode; restores the previous mode on drop.
pub struct RawModeGuard<'a> {
    fd: BorrowedFd<'a>,
    saved: Termios,
}

impl<'a> RawModeGuard<'a> {
    pub fn new(fd: BorrowedFd<'a>) -> Result<Self> {
        let saved = tcgetattr(fd).map_err(tty_err("tcgetattr"))?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(fd, SetArg::TCSANOW, &raw).map_err(tty_err("tcsetattr"))?;
        Ok(RawModeGuard { fd, saved })
    }
}

impl Drop for RawModeGuard<'_> {
    fn drop(&mut self) {
        // TCSAFLUSH would drop typed-ahead input the shell may want.
        let _ = tcsetattr(self.fd, SetArg::TCSADRAIN, &self.saved);
    }
}

/// Routes SIGWINCH to a pipe for as long as it lives.
struct WinchGuard {
    read: OwnedFd,
    _write: OwnedFd,
    slot: usize,
}

impl WinchGuard {
    fn new() -> Result<Self> {
        let (read, write) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).map_err(tty_err("pipe"))?;
        let slot = sys::register_winch_pipe(write.as_raw_fd()).map_err(tty_err("sigaction"))?;
        Ok(WinchGuard {
            read,
            _write: write,
            slot,
        })
    }

    fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!(nix::unistd::read(&self.read, &mut buf), Ok(n) if n > 0) {}
    }
}

impl Drop for WinchGuard {
    fn drop(&mut self) {
        sys::unregister_winch_pipe(self.slot);
    }
}

/// Columns of the terminal `fd` refers to (None when it is not one).
pub fn columns(fd: BorrowedFd<'_>) -> Option<u16> {
    sys::get_winsize(fd)
        .ok()
        .map(|ws| ws.ws_col)
        .filter(|c| *c > 0)
}

fn copy_winsize(from: BorrowedFd<'_>, to: BorrowedFd<'_>) {
    if let Ok(ws) = sys::get_winsize(from) {
        let _ = sys::set_winsize(to, &ws);
    }
}

fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> nix::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(nix::Error::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Copies `input` (the user's terminal) to the pty `master` and the master
/// to `output` until the container side closes (all its slave descriptors
/// gone, read gives EIO). When `input` is a terminal it is put into raw
/// mode for the duration and its window size is forwarded, now and on
/// every SIGWINCH. End of input stops reading input but keeps relaying
/// output, as `docker run -it` does. With `log`, the container's output is
/// also appended there as `stdout` entries (Docker logs tty sessions too).
pub fn relay(
    master: &OwnedFd,
    input: BorrowedFd<'_>,
    output: BorrowedFd<'_>,
    log: Option<&Path>,
) -> Result<()> {
    let mut log = log.map(LogWriter::open).transpose()?;
    let is_tty = nix::unistd::isatty(input).unwrap_or(false);
    let _raw = if is_tty {
        Some(RawModeGuard::new(input)?)
    } else {
        None
    };
    let winch = if is_tty {
        copy_winsize(input, master.as_fd());
        Some(WinchGuard::new()?)
    } else {
        None
    };
    let mut input_open = true;
    let mut buf = [0u8; 16384];
    loop {
        let mut fds = vec![PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if input_open {
            fds.push(PollFd::new(input, PollFlags::POLLIN));
        }
        if let Some(w) = &winch {
            fds.push(PollFd::new(w.read.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return Err(tty_err("poll")(e)),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            match nix::unistd::read(master, &mut buf) {
                // EIO: the last slave descriptor closed, the container is done.
                Ok(0) | Err(nix::Error::EIO) => return Ok(()),
                Ok(n) => {
                    write_all(output, &buf[..n]).map_err(tty_err("write output"))?;
                    if let Some(log) = log.as_mut() {
                        // Logging never interrupts the session.
                        let _ = log.write("stdout", &buf[..n]);
                    }
                }
                Err(nix::Error::EINTR | nix::Error::EAGAIN) => {}
                Err(e) => return Err(tty_err("read pty")(e)),
            }
        }
        let mut next = 1;
        if input_open {
            if ready[next] {
                match nix::unistd::read(input, &mut buf) {
                    Ok(0) | Err(nix::Error::EIO) => input_open = false,
                    Ok(n) => write_all(master.as_fd(), &buf[..n]).map_err(tty_err("write pty"))?,
                    Err(nix::Error::EINTR | nix::Error::EAGAIN) => {}
                    Err(e) => return Err(tty_err("read input")(e)),
                }
            }
            next += 1;
        }
        if let Some(w) = winch.as_ref().filter(|_| ready[next]) {
            w.drain();
            copy_winsize(input, master.as_fd());
        }
    }
}
