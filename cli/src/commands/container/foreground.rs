//! Running a created container with this process attached (`run` without
//! `-d`, `start -a`): this process serves the union mount, relays the tty,
//! records the start and the exit in the catalog, and undoes the mount on
//! every path out.

use std::os::fd::AsFd;

use anyhow::Context;
use builder::container::sys::ignore_signal;
use builder::container::{Containers, Record};
use builder::runtime::{ProcessIdentity, Runtime, tty};
use nix::sys::signal::Signal;

/// Runs `record` in the foreground; returns its exit code (Docker's: own
/// code, 128+n on signal n, 126/127 when the command cannot be started).
pub fn run_attached(containers: &Containers<'_>, record: &mut Record) -> anyhow::Result<i32> {
    let mount = containers.mount(record)?;
    let outcome = run_mounted(containers, record);
    // Unmount before anything else touches the dirs; a busy mount is
    // detached by the guard's Drop instead.
    if let Err(err) = mount.unmount() {
        log::warn!("unmount of container {}: {err}", record.short_id());
    }
    let code = outcome?;
    containers.set_exited(record, code)?;
    Ok(code)
}

fn run_mounted(containers: &Containers<'_>, record: &mut Record) -> anyhow::Result<i32> {
    let rt = Runtime::new(std::env::current_exe().context("locating the strata binary")?);
    let spec = containers.spec(record);
    let mut container = match rt.run(&spec) {
        Ok(c) => c,
        Err(err) => {
            // Docker keeps a container that failed to start, exited with
            // the code `run` returns (126/127/125).
            let code = err.exit_code();
            eprintln!("Error: {err}");
            containers.set_exited(record, code)?;
            return Ok(code);
        }
    };
    let me = ProcessIdentity::of(std::process::id() as i32)
        .context("reading this process's identity")?;
    containers.set_running(record, container.pid(), me)?;
    if let Some(master) = container.take_pty_master() {
        let stdin = std::io::stdin();
        let stdout = std::io::stdout();
        // `-t` without `-i`: nothing is typed into the container.
        let devnull = std::fs::File::open("/dev/null").context("/dev/null")?;
        let input = if record.config.process.stdin {
            stdin.as_fd()
        } else {
            devnull.as_fd()
        };
        tty::relay(
            &master,
            input,
            stdout.as_fd(),
            Some(&containers.log_path(&record.id)),
        )?;
    } else {
        // The init forwards these to the container; strata outlives them to
        // report the exit code and unmount (sig-proxy, like docker run).
        for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
            ignore_signal(sig).context("ignoring signals while attached")?;
        }
    }
    let status = container.wait()?;
    Ok(status.exit_code())
}
