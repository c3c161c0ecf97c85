//! `strata container diff CONTAINER`: A/C/D lines like Docker.

use std::path::Path;

use builder::container::{Containers, diff};

use crate::commands::context::open_store;

#[derive(Debug, clap::Args)]
pub struct Args {
    pub container: String,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let store = open_store(root)?;
    let containers = Containers::new(&store);
    let record = containers.resolve(&args.container)?;
    let image = store.resolve_image(&record.image_id)?;
    let lowerdirs = store.image_lowerdirs(&image)?;
    for change in diff(&containers.upper(&record.id), &lowerdirs)? {
        println!("{change}");
    }
    Ok(0)
}
