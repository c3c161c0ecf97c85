//! `strata-overlayfs -o lowerdir=A:B,upperdir=U,workdir=W MOUNTPOINT`:
//! a mount program with fuse-overlayfs's command line.
//!
//! Without `-f` it daemonizes (see `daemon.rs`). Unmount with
//! `fusermount3 -u MOUNTPOINT` or `umount`.

mod daemon;
mod signals;

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
        if let Err(e) = signals::detach_on_signal(args.mountpoint.clone()) {
            eprintln!("strata-overlayfs: signals: {e}");
            return ExitCode::FAILURE;
        }
        return match overlayfs::serve(args.config, &args.mountpoint) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("strata-overlayfs: {e}");
                ExitCode::FAILURE
            }
        };
    }
    daemon::daemonize(args)
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
