//! `strata image prune [-a] [-f]`: dangling images (with -a every image no
//! container uses) and the layers only they used.

use std::path::Path;

use crate::commands::context::open_store;
use crate::commands::system::prune::{ask, print_report};

/// Same flags as `system prune`.
pub use crate::commands::system::prune::Args;

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let question = if args.all {
        "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue? [y/N] "
    } else {
        "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] "
    };
    if !args.force && !ask(question)? {
        return Ok(0);
    }
    let report = open_store(root)?.prune(args.all)?;
    print_report(&report);
    Ok(0)
}
