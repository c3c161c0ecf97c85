//! The per-container supervisor of `run -d` and `start` (hidden command
//! `container __supervise ID`): a re-exec of strata in its own session,
//! detached from the terminal, that serves the union mount, starts the
//! container, reports the start to its parent on stdout (one line), waits,
//! records the exit code and end time, unmounts, and removes the container
//! when it was run with `--rm`.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Context;
use builder::container::sys::ignore_signal;
use builder::container::{Containers, Record};
use builder::runtime::{self, ProcessIdentity, Runtime, tty};
use nix::sys::signal::Signal;

use crate::commands::context::open_store;

#[derive(Debug, clap::Args)]
pub struct Args {
    pub id: String,
    /// Remove the container when it exits (`run -d --rm`).
    #[arg(long)]
    pub rm: bool,
}

/// Starts a supervisor for `record` and waits for its report: `Ok(0)` once
/// the container runs, else the code `run` exits with (error printed).
pub fn spawn(root: &Path, record: &Record, rm: bool) -> anyhow::Result<i32> {
    let exe = std::env::current_exe().context("locating the strata binary")?;
    let mut cmd = Command::new(exe);
    cmd.arg("--root")
        .arg(root)
        .args(["container", "__supervise", &record.id]);
    if rm {
        cmd.arg("--rm");
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the container supervisor")?;
    let stdout = child.stdout.take().context("supervisor stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    match line.trim_end().split_once(' ') {
        _ if line.trim_end() == "ok" => Ok(0),
        Some((code, message)) => {
            eprintln!("Error: {message}");
            Ok(code.parse().unwrap_or(125))
        }
        None => {
            let status = child.wait()?;
            anyhow::bail!("container supervisor failed ({status})")
        }
    }
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    // Own session: no terminal, no signals of the caller's process group.
    nix::unistd::setsid().context("setsid")?;
    let store = open_store(root)?;
    let containers = Containers::new(&store);
    let mut record = containers.resolve(&args.id)?;
    let mount = match containers.mount(&record) {
        Ok(m) => m,
        Err(err) => {
            report(&format!("125 {err:#}"));
            return Err(err.into());
        }
    };
    let code = supervise(&containers, &mut record);
    if let Err(err) = mount.unmount() {
        log::warn!("unmount of container {}: {err}", record.short_id());
    }
    let code = code?;
    containers.set_exited(&mut record, code)?;
    if args.rm {
        containers.remove(&record)?;
    }
    Ok(code)
}

/// One line to the parent: `ok`, or `CODE MESSAGE`.
fn report(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn supervise(containers: &Containers<'_>, record: &mut Record) -> anyhow::Result<i32> {
    let rt = Runtime::new(std::env::current_exe().context("locating the strata binary")?);
    let null = || -> anyhow::Result<OwnedFd> {
        Ok(std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")?
            .into())
    };
    let stdio = runtime::Stdio {
        stdin: Some(null()?),
        stdout: Some(null()?),
        stderr: Some(null()?),
    };
    let mut container = match rt.run_with_stdio(&containers.spec(record), stdio) {
        Ok(c) => c,
        Err(err) => {
            let code = err.exit_code();
            report(&format!("{code} {err}"));
            return Ok(code);
        }
    };
    let me = ProcessIdentity::of(std::process::id() as i32).context("own identity")?;
    containers.set_running(record, container.pid(), me)?;
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        ignore_signal(sig).context("ignoring signals")?;
    }
    report("ok");
    if let Some(master) = container.take_pty_master() {
        // Someone must drain the pty or the container blocks: the log.
        let devnull = null()?;
        tty::relay(
            &master,
            devnull.as_fd(),
            devnull.as_fd(),
            Some(&containers.log_path(&record.id)),
        )?;
    }
    Ok(container.wait()?.exit_code())
}
