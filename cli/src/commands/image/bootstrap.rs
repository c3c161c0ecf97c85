//! `strata image bootstrap [--mirror URL] debian:SUITE`: a Debian base image
//! made with `debootstrap --variant=minbase`, tagged NAME:SUITE.

use std::path::Path;

use builder::store::Reference;

use crate::commands::context::open_store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Debian mirror URL (default: the first Debian archive in this machine's
    /// apt sources).
    #[arg(long)]
    pub mirror: Option<String>,
    /// Name and suite of the image, e.g. `debian:bookworm`.
    pub reference: String,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let reference = Reference::parse(&args.reference)?;
    let Some(suite) = reference.tag() else {
        anyhow::bail!(
            "{}: name the suite as the tag, e.g. debian:bookworm",
            args.reference
        );
    };
    let store = open_store(root)?;
    eprintln!("Bootstrapping Debian {suite} (minbase) with debootstrap...");
    let id = store.bootstrap_debian(&reference, args.mirror.as_deref())?;
    println!("{id}");
    Ok(0)
}
