//! Controlling running containers by pid, from any process (the CLI's
//! `stop`, `kill`, `commit --pause` run in a different process than the
//! one that started the container).

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::str::FromStr;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::error::{Result, RuntimeError};
use super::sys;

/// Parses `SIGTERM`, `TERM` or `15` (Docker's `--stop-signal` forms).
pub fn parse_signal(text: &str) -> Result<Signal> {
    let bad = || RuntimeError::InvalidSignal(text.to_string());
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).map_err(|_| bad())
}

pub fn signal_process(pid: i32, sig: Signal) -> Result<()> {
    kill(Pid::from_raw(pid), sig).map_err(|source| RuntimeError::Signal { pid, source })
}

/// How [`stop_process`] ended the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It was not running.
    AlreadyGone,
    /// It exited after the stop signal.
    BySignal,
    /// It outlived the timeout and got SIGKILL.
    Killed,
}

/// Sends `sig`, waits up to `timeout` for the process to exit, then sends
/// SIGKILL and waits for that. A pidfd makes the wait exact and immune to
/// pid reuse; the caller need not be the process's parent.
pub fn stop_process(pid: i32, sig: Signal, timeout: Duration) -> Result<Stopped> {
    let pidfd = match sys::pidfd_open(pid) {
        Ok(fd) => fd,
        Err(nix::Error::ESRCH) => return Ok(Stopped::AlreadyGone),
        Err(source) => return Err(RuntimeError::Signal { pid, source }),
    };
    let exited = |timeout: PollTimeout| -> Result<bool> {
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        loop {
            match poll(&mut fds, timeout) {
                Ok(n) => return Ok(n > 0),
                Err(nix::Error::EINTR) => continue,
                Err(source) => return Err(RuntimeError::Signal { pid, source }),
            }
        }
    };
    let send = |sig| match kill(Pid::from_raw(pid), sig) {
        Ok(()) | Err(nix::Error::ESRCH) => Ok(()),
        Err(source) => Err(RuntimeError::Signal { pid, source }),
    };
    send(sig)?;
    let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    let timeout = PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX);
    if exited(timeout)? {
        return Ok(Stopped::BySignal);
    }
    send(Signal::SIGKILL)?;
    exited(PollTimeout::NONE)?;
    Ok(Stopped::Killed)
}

/// Host pids of every process in the PID namespace of `pid` (the
/// container's PID 1), found by comparing `/proc/N/ns/pid` inodes.
pub fn container_processes(pid: i32) -> Result<Vec<i32>> {
    let ns_path = format!("/proc/{pid}/ns/pid");
    let ns = std::fs::metadata(&ns_path).map_err(|e| RuntimeError::io("stat", &ns_path, e))?;
    let entries = std::fs::read_dir("/proc").map_err(|e| RuntimeError::io("list", "/proc", e))?;
    let mut pids: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            std::fs::metadata(format!("/proc/{p}/ns/pid"))
                .is_ok_and(|m| m.ino() == ns.ino() && m.dev() == ns.dev())
        })
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// Freezes every process of the container (SIGSTOP, which even a
/// namespace's PID 1 cannot ignore), for `commit --pause`.
pub fn pause(pid: i32) -> Result<()> {
    for_each_process(pid, Signal::SIGSTOP)
}

/// Undoes [`pause`].
pub fn resume(pid: i32) -> Result<()> {
    for_each_process(pid, Signal::SIGCONT)
}

fn for_each_process(pid: i32, sig: Signal) -> Result<()> {
    for p in container_processes(pid)? {
        match kill(Pid::from_raw(p), sig) {
            Ok(()) | Err(nix::Error::ESRCH) => {}
            Err(source) => return Err(RuntimeError::Signal { pid: p, source }),
        }
    }
    Ok(())
}

/// A process as the catalog should record it: the pid plus its start time
/// (clock ticks since boot, `/proc/PID/stat` field 22), so a later command
/// can tell a live supervisor or container from a recycled pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProcessIdentity {
    pub pid: i32,
    pub start_time: u64,
}

impl ProcessIdentity {
    /// The identity of the running process `pid`, if there is one.
    pub fn of(pid: i32) -> Option<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // comm may contain spaces and parentheses: fields start after the last ')'.
        let (_, rest) = stat.rsplit_once(')')?;
        let start_time = rest.split_whitespace().nth(19)?.parse().ok()?;
        Some(ProcessIdentity { pid, start_time })
    }

    /// Whether that very process still exists (zombies count as gone).
    pub fn is_alive(&self) -> bool {
        ProcessIdentity::of(self.pid) == Some(*self) && process_state(self.pid) != Some('Z')
    }
}

/// The `State:` letter of `/proc/PID/status` (`T` when stopped).
pub fn process_state(pid: i32) -> Option<char> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("State:"))?;
    line.split_whitespace().nth(1)?.chars().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_in_dockers_forms() {
        assert_eq!(parse_signal("SIGTERM").expect("name"), Signal::SIGTERM);
        assert_eq!(parse_signal("kill").expect("short"), Signal::SIGKILL);
        assert_eq!(parse_signal("2").expect("number"), Signal::SIGINT);
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("999").is_err());
    }

    #[test]
    fn identity_tells_a_live_process_from_a_dead_one() {
        let me = ProcessIdentity::of(std::process::id() as i32).expect("self");
        assert!(me.is_alive());
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let id = ProcessIdentity::of(child.id() as i32).expect("child");
        child.wait().expect("wait");
        assert!(!id.is_alive());
        let recycled = ProcessIdentity {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(!recycled.is_alive(), "same pid, other start time");
    }

    #[test]
    fn our_own_pid_namespace_contains_us() {
        let me = std::process::id() as i32;
        assert!(container_processes(me).expect("list").contains(&me));
    }
}
