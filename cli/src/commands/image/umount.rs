//! `strata image umount DIR`: undo `strata image mount -d`.

use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Mount point.
    pub dir: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    // Unmounting a FUSE mount ends its serving process too.
    nix::mount::umount(&args.dir).map_err(|e| anyhow::anyhow!("{}: {e}", args.dir.display()))?;
    Ok(0)
}
