//! `strata container start [-a] [-i] CONTAINER...`

use std::path::Path;

use anyhow::bail;
use builder::container::{Containers, State};

use super::foreground::run_attached;
use super::supervise;
use crate::commands::context::open_store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Attach STDOUT/STDERR and forward signals.
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN.
    #[arg(short, long)]
    pub interactive: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let store = open_store(root)?;
    let containers = Containers::new(&store);
    if (args.attach || args.interactive) && args.containers.len() > 1 {
        bail!("you cannot start and attach multiple containers at once");
    }
    for name in &args.containers {
        let mut record = containers.resolve(name)?;
        containers.reap_dead(&mut record)?;
        if record.state == State::Running {
            println!("{name}");
            continue;
        }
        if args.attach || args.interactive {
            record.config.process.stdin &= args.interactive;
            return run_attached(&containers, &mut record);
        }
        let code = supervise::spawn(root, &record, false)?;
        if code != 0 {
            return Ok(code);
        }
        println!("{name}");
    }
    Ok(0)
}
