//! `strata container stop [-t SECONDS] CONTAINER...`

use std::path::Path;
use std::time::Duration;

use builder::container::{Containers, State};
use builder::runtime::control::{parse_signal, stop_process};

use super::wait_recorded;
use crate::commands::context::open_store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seconds to wait before killing the container.
    #[arg(short = 't', long = "time", default_value_t = 10)]
    pub time: u64,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let store = open_store(root)?;
    let containers = Containers::new(&store);
    for name in &args.containers {
        let mut record = containers.resolve(name)?;
        containers.reap_dead(&mut record)?;
        if let (State::Running, Some(pid)) = (record.state, record.pid) {
            let sig = parse_signal(&record.config.process.stop_signal)?;
            stop_process(pid, sig, Duration::from_secs(args.time))?;
            wait_recorded(&containers, &record.id)?;
        }
        println!("{name}");
    }
    Ok(0)
}
