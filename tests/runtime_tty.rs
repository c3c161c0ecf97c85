//! `-t`: a session driven through a pseudo-terminal the test opens as the
//! user's terminal, relayed to the container's own pty (root needed).

mod common;

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use builder::runtime::{container_processes, log, tty};
use common::runtime::TestContainer;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// Reads from the user's side until `needle` appeared; panics with what was
/// read when nothing arrives for a long time (a hang guard, not a timing
/// assertion).
fn read_until(master: &OwnedFd, seen: &mut String, needle: &str) {
    let mut buf = [0u8; 4096];
    while !seen.contains(needle) {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        let n = poll(&mut fds, PollTimeout::from(60_000u16)).expect("poll");
        assert!(
            n > 0,
            "no output while waiting for {needle:?}; got {seen:?}"
        );
        match nix::unistd::read(master, &mut buf) {
            Ok(0) | Err(nix::Error::EIO) => panic!("EOF waiting for {needle:?}; got {seen:?}"),
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) => panic!("read: {e}"),
        }
    }
}

fn type_in(master: &OwnedFd, text: &str) {
    nix::unistd::write(master, text.as_bytes()).expect("type");
}

/// pgrp and foreground pgrp of the controlling terminal, from /proc/PID/stat.
fn is_foreground(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let after_comm = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // state ppid pgrp session tty_nr tpgid
    fields.len() > 5 && fields[2] == fields[5]
}

/// Resizes the user's terminal as a terminal emulator would, with stty.
fn set_winsize(fd: &OwnedFd, ws: &nix::pty::Winsize) {
    let path = nix::unistd::ttyname(fd.as_fd()).expect("ttyname");
    let status = std::process::Command::new("stty")
        .arg("-F")
        .arg(&path)
        .args([
            "rows",
            &ws.ws_row.to_string(),
            "cols",
            &ws.ws_col.to_string(),
        ])
        .status()
        .expect("stty");
    assert!(status.success(), "stty -F {}", path.display());
}

fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default()
}

#[test]
fn interactive_shell_through_a_pty() {
    let mut c = TestContainer::new(&["sh"]);
    c.spec.process.tty = true;
    c.spec.process.stdin = true;
    c.spec.process.env = vec!["PS1=$ ".into()];
    let mut running = c.start();
    let pty = running.take_pty_master().expect("pty master");

    // The user's terminal: a pty pair of our own, 30 rows x 100 columns.
    let winsize = nix::pty::Winsize {
        ws_row: 30,
        ws_col: 100,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let user = nix::pty::openpty(Some(&winsize), None).expect("user terminal");
    let (user_master, user_slave) = (user.master, user.slave);
    let user_slave_handle = user_slave.try_clone().expect("dup");
    let log = c.dir.path().join("tty.log");
    let relay = std::thread::spawn(move || {
        let r = tty::relay(&pty, user_slave.as_fd(), user_slave.as_fd(), Some(&log));
        // Raw mode was restored on the user's terminal when relay returned.
        let restored = nix::sys::termios::tcgetattr(user_slave.as_fd()).expect("termios");
        (r, restored)
    });

    let mut seen = String::new();
    type_in(&user_master, "tty; stty size; echo $TERM\n");
    read_until(&user_master, &mut seen, "xterm\r\n");
    assert!(seen.contains("/dev/pts/0\r\n"), "{seen:?}");
    assert!(
        seen.contains("30 100\r\n"),
        "window size propagated: {seen:?}"
    );

    // ^C reaches the container: its line discipline kills the foreground sleep.
    // (A list would be aborted as a whole by ^C, so the check is separate.)
    type_in(&user_master, "sleep 1000\n");
    let pid = running.pid();
    let sleeping = |p: &i32| comm(*p).trim() == "sleep" && is_foreground(*p);
    while !container_processes(pid).expect("list").iter().any(sleeping) {
        std::thread::sleep(Duration::from_millis(20));
    }
    type_in(&user_master, "\x03");
    type_in(&user_master, "echo after-$?\n");
    read_until(&user_master, &mut seen, "after-130");

    // A resize of the user's terminal follows on SIGWINCH.
    let bigger = nix::pty::Winsize {
        ws_row: 50,
        ws_col: 132,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    set_winsize(&user_slave_handle, &bigger);
    nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGWINCH)
        .expect("raise SIGWINCH");
    // The relay may handle the signal after the shell read the next line:
    // ask until the new size shows.
    let mut round = 0;
    while !seen.contains("50 132\r\n") {
        round += 1;
        assert!(round < 200, "window size never propagated: {seen:?}");
        type_in(&user_master, &format!("echo size-{round}; stty size\n"));
        read_until(&user_master, &mut seen, &format!("size-{round}\r\n"));
        read_until(&user_master, &mut seen, "\r\n$ ");
    }

    type_in(&user_master, "exit 5\n");
    assert_eq!(running.wait().expect("wait").exit_code(), 5);
    let (result, termios) = relay.join().expect("relay thread");
    result.expect("relay ends cleanly when the container exits");
    let lflag = termios.local_flags;
    assert!(
        lflag.contains(nix::sys::termios::LocalFlags::ICANON)
            && lflag.contains(nix::sys::termios::LocalFlags::ECHO),
        "terminal mode restored"
    );
    let logged: String = log::read_log(&c.dir.path().join("tty.log"))
        .expect("tty log")
        .into_iter()
        .map(|e| e.log)
        .collect();
    assert!(logged.contains("/dev/pts/0\r\n"), "{logged:?}");
}

#[test]
fn exec_with_a_tty_into_a_running_container() {
    let mut c = TestContainer::new(&["sleep", "1000"]);
    c.spec.hostname = "ttybox".into();
    let mut running = c.start();
    let mut process = builder::runtime::ProcessSpec::new(["sh"]);
    process.tty = true;
    process.stdin = true;
    process.env = vec!["PS1=# ".into()];
    let mut exec = TestContainer::runtime()
        .exec(running.pid(), &process)
        .expect("exec -it starts");
    let pty = exec.take_pty_master().expect("pty master");
    let user = nix::pty::openpty(None, None).expect("user terminal");
    let (user_master, user_slave) = (user.master, user.slave);
    let relay =
        std::thread::spawn(move || tty::relay(&pty, user_slave.as_fd(), user_slave.as_fd(), None));
    let mut seen = String::new();
    type_in(&user_master, "tty; hostname; exit 4\n");
    read_until(&user_master, &mut seen, "ttybox\r\n");
    assert!(seen.contains("/dev/pts/0\r\n"), "{seen:?}");
    assert_eq!(exec.wait().expect("exec wait").exit_code(), 4);
    relay.join().expect("relay thread").expect("relay");
    assert_eq!(
        running
            .stop(std::time::Duration::ZERO)
            .expect("stop")
            .exit_code(),
        137
    );
}
