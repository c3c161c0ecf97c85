//! `strata container rm [-f] CONTAINER...`

use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use builder::container::{Containers, State};
use builder::runtime::control::{Stopped, stop_process};
use nix::sys::signal::Signal;

use super::wait_recorded;
use crate::commands::context::open_store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Force the removal of a running container (uses SIGKILL).
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let store = open_store(root)?;
    let containers = Containers::new(&store);
    let mut failed = false;
    for name in &args.containers {
        match remove(&containers, name, args.force) {
            Ok(()) => println!("{name}"),
            Err(err) => {
                eprintln!("{}", crate::commands::report::error_line(&err, root));
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

fn remove(containers: &Containers<'_>, name: &str, force: bool) -> anyhow::Result<()> {
    let mut record = containers.resolve(name)?;
    containers.reap_dead(&mut record)?;
    if record.state == State::Running {
        if !force {
            bail!(
                "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                record.name
            );
        }
        if let Some(pid) = record.pid {
            // The process serving it sees the exit and unmounts.
            let stopped: Stopped = stop_process(pid, Signal::SIGKILL, Duration::from_secs(10))?;
            log::debug!("{}: {stopped:?}", record.short_id());
            wait_recorded(containers, &record.id)?;
        }
    }
    containers.remove(&record)?;
    Ok(())
}
