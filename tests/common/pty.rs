//! Reading what a program writes to a pseudo-terminal the test opened.

use std::os::fd::{AsFd, OwnedFd};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// Reads the terminal until `needle` shows up (a long poll is a hang guard).
pub fn read_until(master: &OwnedFd, seen: &mut String, needle: &str) {
    read_until_match(master, seen, needle, |s| s.contains(needle));
}

/// Reads the terminal until `done(seen)` holds; `what` names it in panics.
pub fn read_until_match(
    master: &OwnedFd,
    seen: &mut String,
    what: &str,
    done: impl Fn(&str) -> bool,
) {
    let mut buf = [0u8; 4096];
    while !done(seen) {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        let n = poll(&mut fds, PollTimeout::from(60_000u16)).expect("poll");
        assert!(n > 0, "nothing while waiting for {what:?}; got {seen:?}");
        match nix::unistd::read(master, &mut buf) {
            Ok(0) | Err(nix::Error::EIO) => panic!("EOF waiting for {what:?}; got {seen:?}"),
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) => panic!("read: {e}"),
        }
    }
}
