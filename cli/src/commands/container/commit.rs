//! `strata container commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]`

use std::path::Path;

use builder::container::{CommitOptions, Containers};
use builder::store::Reference;

use crate::commands::context::open_store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Apply Dockerfile instruction to the created image.
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    pub change: Vec<String>,
    /// Commit message.
    #[arg(short, long)]
    pub message: Option<String>,
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").
    #[arg(short, long)]
    pub author: Option<String>,
    /// Pause container during commit.
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub pause: bool,
    pub container: String,
    /// New image name.
    pub reference: Option<String>,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let reference = args
        .reference
        .as_deref()
        .map(Reference::parse_tagged)
        .transpose()?;
    let store = open_store(root)?;
    let containers = Containers::new(&store);
    let mut record = containers.resolve(&args.container)?;
    containers.reap_dead(&mut record)?;
    let opts = CommitOptions {
        changes: args.change,
        message: args.message,
        author: args.author,
        pause: args.pause,
    };
    let id = containers.commit(&record, &opts)?;
    if let Some(reference) = reference {
        store.tag(&reference, &id)?;
    }
    println!("{}", id.as_str());
    Ok(0)
}
