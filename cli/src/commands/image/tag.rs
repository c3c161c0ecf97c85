//! `strata image tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]`

use std::path::Path;

use builder::store::Reference;

use crate::commands::context::open_store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Existing image (name[:tag], id or id prefix).
    pub source: String,
    /// New name: [registry/]name[:tag].
    pub target: String,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let target = Reference::parse_tagged(&args.target)?;
    let store = open_store(root)?;
    let image = store.resolve_image(&args.source)?;
    store.tag(&target, &image.id)?;
    Ok(0)
}
