//! `strata-overlayfs -o lowerdir=A:B,upperdir=U,workdir=W MOUNTPOINT`:
//! a mount program with fuse-overlayfs's command line.
//!
//! Without `-f` it daemonizes: it forks before any thread exists, the child
//! mounts and serves, and the parent exits only once the child reports
//! through a pipe that the mount is ready (status 0) or failed (the error
//! line, status 1). Unmount with `fusermount3 -u MOUNTPOINT` or `umount`.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::ExitCode;

use overlayfs::options::{self, Args, Parsed};

fn main() -> ExitCode {
    let parsed = match options::parse(std::env::args_os().skip(1)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("strata-overlayfs: {e}");
            return ExitCode::from(2);
        }
    };
    let mut args = match parsed {
        Parsed::Help => {
            println!("{}", options::USAGE);
            return ExitCode::SUCCESS;
        }
        Parsed::Version => {
            println!("strata-overlayfs {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Parsed::Run(a) => *a,
    };
    let level = if args.debug { "debug" } else { "warn" };
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or(format!("{level},fuser=error")),
    )
    .init();
    for w in &args.warnings {
        eprintln!("strata-overlayfs: warning: {w}");
    }
    if let Err(e) = absolutize(&mut args) {
        eprintln!("strata-overlayfs: {e}");
        return ExitCode::FAILURE;
    }
    if args.foreground {
        return match overlayfs::serve(args.config, &args.mountpoint) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("strata-overlayfs: {e}");
                ExitCode::FAILURE
            }
        };
    }
    daemonize(args)
}

/// The daemon changes its directory to `/`: make every path absolute first.
fn absolutize(args: &mut Args) -> std::io::Result<()> {
    let c = &mut args.config;
    for l in c.lowerdirs.iter_mut() {
        *l = std::path::absolute(&*l)?;
    }
    for p in [&mut c.upperdir, &mut c.workdir].into_iter().flatten() {
        *p = std::path::absolute(&*p)?;
    }
    args.mountpoint = std::path::absolute(&args.mountpoint)?;
    Ok(())
}

fn daemonize(args: Args) -> ExitCode {
    let (rx, tx) = match nix::unistd::pipe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("strata-overlayfs: pipe: {e}");
            return ExitCode::FAILURE;
        }
    };
    match overlayfs::fork_before_threads() {
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
