//! `container run -it` driven through a pseudo-terminal the test opens as
//! the user's terminal (root and FUSE needed).
#![allow(clippy::unwrap_used)]

mod common;
mod container_support;

use std::process::{Command, Stdio};

use common::pty::read_until;
use container_support::Fixture;

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
