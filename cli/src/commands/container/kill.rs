//! `strata container kill [-s SIGNAL] CONTAINER...`

use std::path::Path;

use anyhow::bail;
use builder::container::{Containers, State};
use builder::runtime::control::{parse_signal, signal_process};

use crate::commands::context::open_store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Signal to send to the container.
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let sig = parse_signal(&args.signal)?;
    let store = open_store(root)?;
    let containers = Containers::new(&store);
    for name in &args.containers {
        let mut record = containers.resolve(name)?;
        containers.reap_dead(&mut record)?;
        match (record.state, record.pid) {
            (State::Running, Some(pid)) => signal_process(pid, sig)?,
            _ => bail!(
                "cannot kill container: {name}: container {} is not running",
                record.id
            ),
        }
        println!("{name}");
    }
    Ok(0)
}
