//! `strata container exec [-it] [-e K=V] [-w DIR] [-u USER] CONTAINER CMD...`

use std::os::fd::AsFd;
use std::path::Path;

use anyhow::{Context, bail};
use builder::container::{Containers, State};
use builder::runtime::{ProcessSpec, Runtime, tty};

use crate::commands::context::open_store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep STDIN open.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables.
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short, long)]
    pub user: Option<String>,
    pub container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let store = open_store(root)?;
    let containers = Containers::new(&store);
    let mut record = containers.resolve(&args.container)?;
    containers.reap_dead(&mut record)?;
    let (State::Running, Some(pid)) = (record.state, record.pid) else {
        bail!("container {} is not running", record.id);
    };
    let base = &record.config.process;
    let mut process = ProcessSpec::new(args.command);
    process.env = base.env.iter().chain(&args.env).cloned().collect();
    process.cwd = args.workdir.unwrap_or_else(|| base.cwd.clone());
    process.user = args.user.unwrap_or_else(|| base.user.clone());
    process.tty = args.tty;
    process.stdin = args.interactive;
    let rt = Runtime::new(std::env::current_exe().context("locating the strata binary")?);
    let mut child = match rt.exec(pid, &process) {
        Ok(c) => c,
        Err(err) => {
            eprintln!("Error: {err}");
            return Ok(err.exit_code());
        }
    };
    if let Some(master) = child.take_pty_master() {
        let devnull = std::fs::File::open("/dev/null").context("/dev/null")?;
        let stdin = std::io::stdin();
        let input = if args.interactive {
            stdin.as_fd()
        } else {
            devnull.as_fd()
        };
        tty::relay(&master, input, std::io::stdout().as_fd(), None)?;
    }
    Ok(child.wait()?.exit_code())
}
