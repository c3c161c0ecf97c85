//! Daemon mode: the process forks before any thread exists, the child
//! mounts and serves, and the parent exits only once the child reports
//! through a pipe that the mount is ready (status 0) or failed (the error
//! line, status 1).
//!
//! This module may use `unsafe` for the one `fork(2)` call.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::ExitCode;

use overlayfs::options::Args;

/// `fork(2)`. Called from `main` before anything starts a thread (no FUSE
/// session, no logger thread), so the child cannot inherit a lock held by
/// another thread.
fn fork() -> nix::Result<nix::unistd::ForkResult> {
    // SAFETY: the process is single-threaded here (see above).
    unsafe { nix::unistd::fork() }
}

pub fn daemonize(args: Args) -> ExitCode {
    let (rx, tx) = match nix::unistd::pipe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("strata-overlayfs: pipe: {e}");
            return ExitCode::FAILURE;
        }
    };
    match fork() {
        Err(e) => {
            eprintln!("strata-overlayfs: fork: {e}");
            ExitCode::FAILURE
        }
        Ok(nix::unistd::ForkResult::Parent { .. }) => {
            drop(tx);
            let mut msg = String::new();
            let _ = std::fs::File::from(rx).read_to_string(&mut msg);
            match msg.strip_prefix('0') {
                Some(_) => ExitCode::SUCCESS,
                None => {
                    let msg = msg
                        .strip_prefix('1')
                        .unwrap_or("the daemon exited before the mount was ready");
                    eprintln!("strata-overlayfs: {msg}");
                    ExitCode::FAILURE
                }
            }
        }
        Ok(nix::unistd::ForkResult::Child) => {
            drop(rx);
            child(args, tx)
        }
    }
}

fn child(args: Args, tx: OwnedFd) -> ExitCode {
    let _ = nix::unistd::setsid();
    let _ = std::env::set_current_dir("/");
    redirect_stdio(false);
    // The pipe is written once: "0" when ready, or "1<error>" on failure
    // before that; closing it without a word also tells the parent we died.
    let tx = RefCell::new(Some(std::fs::File::from(tx)));
    let ready = || {
        if let Some(mut t) = tx.borrow_mut().take() {
            let _ = t.write_all(b"0");
        }
        redirect_stdio(true);
    };
    if let Err(e) = crate::signals::detach_on_signal(args.mountpoint.clone()) {
        if let Some(mut t) = tx.borrow_mut().take() {
            let _ = t.write_all(format!("1signals: {e}").as_bytes());
        }
        return ExitCode::FAILURE;
    }
    match overlayfs::serve_with_ready(args.config, &args.mountpoint, ready) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(mut t) = tx.borrow_mut().take() {
                let _ = t.write_all(format!("1{e}").as_bytes());
            }
            ExitCode::FAILURE
        }
    }
}

/// Points stdin, stdout (and once mounted, stderr) at /dev/null, keeping
/// fds 0-2 open so no later file lands on them.
fn redirect_stdio(stderr_too: bool) {
    let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    else {
        return;
    };
    let _ = nix::unistd::dup2_stdin(&null);
    let _ = nix::unistd::dup2_stdout(&null);
    if stderr_too {
        let _ = nix::unistd::dup2_stderr(&null);
    }
}
