//! `strata image mount [-d] IMAGE DIR`: the image's layers as one read-only
//! union at DIR, for browsing. In the foreground it serves until DIR is
//! unmounted; `-d` hands the mount to the `strata-overlayfs` program (found
//! next to this executable), which returns once mounted and keeps serving in
//! the background until `strata image umount DIR`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::commands::context::open_store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep the mount in the background and return.
    #[arg(short, long)]
    pub detach: bool,
    /// Image (name[:tag], id or id prefix).
    pub image: String,
    /// Mount point (an existing directory).
    pub dir: PathBuf,
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let store = open_store(root)?;
    let image = store.resolve_image(&args.image)?;
    let lowerdirs = store.image_lowerdirs(&image)?;
    if lowerdirs.is_empty() {
        anyhow::bail!("image {} has no layers to mount", image.id.short());
    }
    if !args.dir.is_dir() {
        anyhow::bail!("{}: not a directory", args.dir.display());
    }
    if args.detach {
        // The image is leased to the mount's server process, which holds
        // the lease's lock until it stops serving (store/lease.rs).
        let lease = store.lease_for_mount(&image.id, &args.dir)?;
        let lock = lease.inheritable_lock()?;
        let code = mount_program(&lowerdirs, &args.dir)?;
        drop(lock);
        lease.hand_over();
        return Ok(code);
    }
    // Served by this process: the lease lasts as long as it does.
    store.lease_image(&image.id)?;
    let config = overlayfs::Config {
        lowerdirs,
        ..Default::default()
    };
    overlayfs::serve(config, &args.dir)?;
    Ok(0)
}

fn mount_program(lowerdirs: &[PathBuf], dir: &Path) -> anyhow::Result<i32> {
    let exe = std::env::current_exe()?;
    let program = exe
        .parent()
        .map(|d| d.join("strata-overlayfs"))
        .filter(|p| p.exists())
        .ok_or_else(|| anyhow::anyhow!("strata-overlayfs not found next to {}", exe.display()))?;
    let lower: Vec<String> = lowerdirs.iter().map(|p| p.display().to_string()).collect();
    let status = Command::new(&program)
        .arg("-o")
        .arg(format!("lowerdir={},ro", lower.join(":")))
        .arg(dir)
        .status()?;
    if !status.success() {
        anyhow::bail!("{}: {status}", program.display());
    }
    Ok(0)
}
