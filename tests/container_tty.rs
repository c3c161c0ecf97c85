//! `container run -it` driven through a pseudo-terminal the test opens as
//! the user's terminal (root and FUSE needed).
#![allow(clippy::unwrap_used)]

mod common;
mod container_support;

use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, Stdio};

use container_support::Fixture;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// Reads the terminal until `needle` shows up (a long poll is a hang guard).
fn read_until(master: &OwnedFd, seen: &mut String, needle: &str) {
    let mut buf = [0u8; 4096];
    while !seen.contains(needle) {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        let n = poll(&mut fds, PollTimeout::from(60_000u16)).unwrap();
        assert!(n > 0, "nothing while waiting for {needle:?}; got {seen:?}");
        match nix::unistd::read(master, &mut buf) {
            Ok(0) | Err(nix::Error::EIO) => panic!("EOF waiting for {needle:?}; got {seen:?}"),
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) => panic!("read: {e}"),
        }
    }
}

#[test]
fn interactive_tty_session() {
    let f = Fixture::new();
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave = || Stdio::from(pty.slave.try_clone().unwrap());
    let mut child = Command::new(common::bin("strata"))
        .arg("--root")
        .arg(&f.root)
        .args(["container", "run", "-it", "--rm", "busybox", "sh"])
        .stdin(slave())
        .stdout(slave())
        .stderr(slave())
        .spawn()
        .unwrap();
    let mut seen = String::new();
    nix::unistd::write(&pty.master, b"tty; echo $TERM; exit 7\r").unwrap();
    read_until(&pty.master, &mut seen, "xterm");
    assert!(seen.contains("/dev/pts/0"), "{seen}");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(7), "{seen}");
    assert_eq!(common::store::count_entries(&f.containers_dir()), 0);
    assert!(f.mounts().is_empty(), "{:?}", f.mounts());
}
