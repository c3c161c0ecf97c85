//! `strata image import [-c CHANGE]... [-m MSG] FILE|DIR|- [REPOSITORY[:TAG]]`
//! as `docker import`: prints the new image id.

use std::path::{Path, PathBuf};

use builder::store::{ImportOptions, Reference, RootfsSource};

use crate::commands::context::open_store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV,
    /// EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR).
    #[arg(short, long = "change", value_name = "CHANGE")]
    pub changes: Vec<String>,
    /// Commit message (history comment).
    #[arg(short, long)]
    pub message: Option<String>,
    /// Rootfs tarball (plain, gzip, zstd), directory, or `-` for stdin.
    pub source: PathBuf,
    /// Name for the image.
    pub reference: Option<String>,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    // Validate everything before touching the store.
    let tag = args
        .reference
        .as_deref()
        .map(Reference::parse_tagged)
        .transpose()?;
    let opts = ImportOptions {
        changes: args.changes,
        message: args.message,
        source: args.source.display().to_string(),
        created_by: None,
    };
    let mut check = builder::store::ImageConfig::for_host();
    for change in &opts.changes {
        builder::store::apply_change(&mut check, change)?;
    }
    let store = open_store(root)?;
    let source = if args.source == Path::new("-") {
        RootfsSource::Archive(Box::new(std::io::stdin().lock()))
    } else if args.source.is_dir() {
        RootfsSource::Dir(&args.source)
    } else {
        let file = std::fs::File::open(&args.source)
            .map_err(|e| anyhow::anyhow!("{}: {e}", args.source.display()))?;
        RootfsSource::Archive(Box::new(std::io::BufReader::new(file)))
    };
    let id = store.import_rootfs(source, &opts, tag.as_ref())?;
    println!("{id}");
    Ok(0)
}
