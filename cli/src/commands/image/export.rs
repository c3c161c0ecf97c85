//! `strata image export`: an image's flattened root filesystem as a tar
//! (what `docker export` gives for a container of the image).

use std::path::{Path, PathBuf};

use builder::oci;

use crate::commands::context::open_store;

/// Export an image's filesystem as a tar archive (streamed to STDOUT by default).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write to a file, instead of STDOUT.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Image (name[:tag] or id).
    pub image: String,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let store = open_store(root)?;
    super::output::write_archive(args.output.as_deref(), |out| {
        Ok(oci::export_image(&store, &args.image, out)?)
    })?;
    Ok(0)
}
