//! `strata image save`: images to an OCI layout tar or a `docker save` archive.

use std::path::{Path, PathBuf};

use builder::oci::{self, ArchiveFormat, Compression};
use clap::ValueEnum;

use crate::commands::context::open_store;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// OCI image layout (oci-layout, index.json, blobs/sha256)
    Oci,
    /// `docker save` (manifest.json, repositories, layer tars)
    Docker,
}

/// Save one or more images to a tar archive (streamed to STDOUT by default).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write to a file, instead of STDOUT.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Archive format.
    #[arg(long, value_enum, default_value = "oci")]
    pub format: Format,
    /// Layer compression in OCI archives (gzip, zstd, none).
    #[arg(long, default_value = "gzip")]
    pub compression: Compression,
    /// Images to save (name[:tag] or id).
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let store = open_store(root)?;
    let format = match args.format {
        Format::Oci => ArchiveFormat::Oci,
        Format::Docker => ArchiveFormat::Docker,
    };
    super::output::write_archive(args.output.as_deref(), |out| {
        Ok(oci::save(
            &store,
            &args.images,
            format,
            args.compression,
            out,
        )?)
    })?;
    Ok(0)
}
