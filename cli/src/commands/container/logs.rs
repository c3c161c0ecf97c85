//! `strata container logs [-f] CONTAINER`: the runtime's json-file log.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use builder::container::{Containers, State};
use builder::runtime::log::read_log;

use crate::commands::context::open_store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Follow log output.
    #[arg(short, long)]
    pub follow: bool,
    /// Show timestamps.
    #[arg(short, long)]
    pub timestamps: bool,
    pub container: String,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let store = open_store(root)?;
    let containers = Containers::new(&store);
    let record = containers.resolve(&args.container)?;
    let path = containers.log_path(&record.id);
    let mut shown = 0;
    loop {
        let entries = if path.exists() {
            read_log(&path)?
        } else {
            Vec::new()
        };
        for e in entries.iter().skip(shown) {
            let prefix = if args.timestamps {
                format!("{} ", e.time)
            } else {
                String::new()
            };
            let text = format!("{prefix}{}", e.log);
            if e.stream == "stderr" {
                let _ = std::io::stderr().write_all(text.as_bytes());
            } else {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes())?;
                out.flush()?;
            }
        }
        shown = shown.max(entries.len());
        if !args.follow {
            return Ok(0);
        }
        let mut now = containers.resolve(&record.id)?;
        containers.reap_dead(&mut now)?;
        if now.state != State::Running {
            // One last read catches what was written before the exit.
            let last = read_log(&path).unwrap_or_default();
            if last.len() == shown {
                return Ok(0);
            }
            continue;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
