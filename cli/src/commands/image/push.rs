//! `strata image push`: an image to an OCI distribution registry.

use std::path::Path;

use builder::oci::registry::{PushOptions, Reference, push};
use builder::oci::{Compression, ManifestFormat};
use clap::ValueEnum;

use crate::commands::context::open_store;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ManifestKind {
    /// OCI image manifest
    Oci,
    /// Docker image manifest v2, schema 2
    Docker,
}

/// Upload an image to a registry.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub registry: super::pull::RegistryFlags,
    /// Layer compression (gzip, zstd, none).
    #[arg(long, default_value = "gzip")]
    pub compression: Compression,
    /// Manifest format.
    #[arg(long, value_enum, default_value = "oci")]
    pub format: ManifestKind,
    /// Upload blobs larger than this many bytes in chunks of this size.
    #[arg(long, default_value_t = 64 << 20, hide = true)]
    pub chunk_size: u64,
    /// NAME[:TAG] of a local image; the name says where it goes.
    pub name: String,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let store = open_store(root)?;
    let r = Reference::parse(&args.name)?;
    println!("The push refers to repository [{}]", r.full_repository());
    let opts = PushOptions {
        client: args.registry.client_options(),
        compression: args.compression,
        format: match args.format {
            ManifestKind::Oci => ManifestFormat::Oci,
            ManifestKind::Docker => ManifestFormat::Docker,
        },
        chunk_size: args.chunk_size,
    };
    let result = push(&store, &args.name, &opts, &super::progress::Bars::new())?;
    println!(
        "{}: digest: {} size: {}",
        r.tag_or_latest(),
        result.digest,
        result.size
    );
    Ok(0)
}
