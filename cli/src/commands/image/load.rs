//! `strata image load`: images from an OCI layout tar, a `docker save`
//! archive, or an OCI layout directory (`oci:DIR[:tag]`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use builder::oci;
use builder::store::Reference;

use crate::commands::context::open_store;

/// Load images from a tar archive or STDIN, or from an OCI layout directory.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Read from a tar archive file, or `oci:DIR[:tag]` for a layout
    /// directory, instead of STDIN.
    #[arg(short, long)]
    pub input: Option<String>,
    /// Suppress the load output.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let store = open_store(root)?;
    let loaded = match args.input.as_deref() {
        Some(spec) if spec.starts_with("oci:") => {
            let rest = &spec[4..];
            // oci:DIR[:tag]: the tag is what follows the last ':' if DIR
            // without it is a directory.
            let (dir, tag) = match rest.rsplit_once(':') {
                Some((d, t)) if Path::new(d).is_dir() => (PathBuf::from(d), Some(t)),
                _ => (PathBuf::from(rest), None),
            };
            oci::load_layout(&store, &dir, tag)?
        }
        Some(file) => {
            let path = PathBuf::from(file);
            let mut f =
                std::fs::File::open(&path).with_context(|| format!("open {}", path.display()))?;
            oci::load_archive(&store, &mut f, &path)?
        }
        None => {
            let stdin = std::io::stdin();
            oci::load_archive(&store, &mut stdin.lock(), Path::new("<stdin>"))?
        }
    };
    if !args.quiet {
        for image in loaded {
            if image.tags.is_empty() {
                println!("Loaded image ID: {}", image.id);
            }
            for tag in image.tags {
                // Docker shows the familiar form: `busybox:latest`.
                match Reference::parse_tagged(&tag) {
                    Ok(r) => println!("Loaded image: {r}"),
                    Err(_) => println!("Loaded image: {tag}"),
                }
            }
        }
    }
    Ok(0)
}
