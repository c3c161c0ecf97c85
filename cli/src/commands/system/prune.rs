//! `strata system prune [-a] [-f]`: dangling images (all unused with -a) and
//! layers no image uses, after a confirmation like Docker's.

use std::io::{BufRead, Write};
use std::path::Path;

use builder::store::{PruneReport, Removed};

use crate::commands::context::open_store;
use crate::commands::format::human_size;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Remove all images not used by a container, not just dangling ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

const BLOB_GRACE: std::time::Duration = std::time::Duration::from_secs(600);

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    if !args.force && !confirm(args.all)? {
        return Ok(0);
    }
    let store = open_store(root)?;
    let mut report = store.prune(args.all)?;
    // Compressed blobs (kept by save/push/pull so they need not be redone)
    // of images that are gone; a grace period spares those of an operation
    // still running in another process.
    let blobs = builder::oci::prune_blobs(&store, BLOB_GRACE)?;
    report.reclaimed += blobs.bytes;
    print_report(&report);
    Ok(0)
}

/// Prints what a prune removed, as Docker does.
pub(crate) fn print_report(report: &PruneReport) {
    if !report.images.is_empty() {
        println!("Deleted Images:");
        for r in &report.images {
            match r {
                Removed::Untagged(t) => println!("untagged: {t}"),
                Removed::Deleted(id) => println!("deleted: {id}"),
            }
        }
        println!();
    }
    if !report.layers.is_empty() {
        println!("Deleted Layers:");
        for l in &report.layers {
            println!("{l}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(report.reclaimed));
}

fn confirm(all: bool) -> anyhow::Result<bool> {
    let images = if all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    };
    ask(&format!(
        "WARNING! This will remove:\n  - {images}\n  - all layers not used by an image\n\nAre you sure you want to continue? [y/N] "
    ))
}

/// Prints `question` and reads a yes/no answer from stdin (default no).
pub(crate) fn ask(question: &str) -> anyhow::Result<bool> {
    print!("{question}");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
