//! `strata container create [OPTIONS] IMAGE [COMMAND] [ARG...]`

use std::path::Path;

use builder::container::Containers;

use super::run::CreateFlags;
use crate::commands::context::open_store;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub flags: CreateFlags,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let opts = args.flags.options()?;
    let store = open_store(root)?;
    let image = store.resolve_image(&args.flags.image)?;
    let record = Containers::new(&store).create(&image, &args.flags.image, &opts)?;
    println!("{}", record.id);
    Ok(0)
}
