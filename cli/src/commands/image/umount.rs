//! `strata image umount DIR`: undo `strata image mount -d`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::commands::context::open_store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Mount point.
    pub dir: PathBuf,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    // Unmounting a FUSE mount ends its serving process too.
    nix::mount::umount(&args.dir).map_err(|e| anyhow::anyhow!("{}: {e}", args.dir.display()))?;
    // The server held the image's lease (see store/lease.rs): once it has
    // ended, the lease is dropped, so `image rm` works right after.
    let store = open_store(root)?;
    store.release_mount(&args.dir, Duration::from_secs(10))?;
    Ok(0)
}
