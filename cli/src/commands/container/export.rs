//! `strata container export [-o FILE] CONTAINER`: the container's root
//! filesystem (its changes over its image) as one flattened tar, like
//! `docker export`.

use std::path::{Path, PathBuf};

use builder::container::Containers;
use builder::oci;

use crate::commands::context::open_store;

/// Export a container's filesystem as a tar archive (streamed to STDOUT by default).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write to a file, instead of STDOUT.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Container (name, id or id prefix).
    pub container: String,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let store = open_store(root)?;
    let containers = Containers::new(&store);
    let record = containers.resolve(&args.container)?;
    let upper = containers.upper(&record.id);
    crate::commands::image::output::write_archive(args.output.as_deref(), |out| {
        Ok(oci::export_container(
            &store,
            &record.image_id,
            &upper,
            out,
        )?)
    })?;
    Ok(0)
}
