//! `strata image ...`: the image commands, one file each.

use std::path::Path;

use clap::{Args, Subcommand};

mod bootstrap;
mod build;
mod build_progress;
mod build_run;
mod export;
mod history;
mod import;
mod inspect;
mod load;
mod ls;
mod mount;
pub(crate) mod output;
mod progress;
mod prune;
mod pull;
mod push;
mod rm;
mod save;
mod tag;
mod umount;

/// Manage images.
#[derive(Debug, Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub command: ImageCommand,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build an image from a Dockerfile (`--check` only validates it).
    Build(Box<build::BuildArgs>),
    /// Create a Debian base image with debootstrap (no registry needed).
    Bootstrap(bootstrap::Args),
    /// Show the history of an image.
    History(history::Args),
    /// Import a rootfs tarball or directory as an image.
    Import(import::Args),
    /// Display detailed information on one or more images.
    Inspect(inspect::Args),
    /// List images.
    #[command(visible_alias = "list")]
    Ls(ls::Args),
    /// Mount an image read-only to browse it.
    Mount(mount::Args),
    /// Remove unused images.
    Prune(prune::Args),
    /// Remove one or more images.
    #[command(visible_alias = "remove")]
    Rm(rm::Args),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(tag::Args),
    /// Unmount an image mounted with `image mount -d`.
    Umount(umount::Args),
    /// Save images to an OCI layout or `docker save` tar archive.
    Save(save::Args),
    /// Load images from a tar archive or an OCI layout directory.
    Load(load::Args),
    /// Upload an image to a registry.
    Push(push::Args),
    /// Download an image from a registry.
    Pull(pull::Args),
    /// Export an image's flattened filesystem as a tar archive.
    Export(export::Args),
}

/// Runs an image command; returns the exit code.
pub fn run(root: &Path, args: ImageArgs) -> anyhow::Result<i32> {
    match args.command {
        ImageCommand::Bootstrap(a) => bootstrap::run(root, a),
        ImageCommand::Build(a) => build::run(*a, root),
        ImageCommand::History(a) => history::run(root, a),
        ImageCommand::Import(a) => import::run(root, a),
        ImageCommand::Inspect(a) => inspect::run(root, a),
        ImageCommand::Ls(a) => ls::run(root, a),
        ImageCommand::Mount(a) => mount::run(root, a),
        ImageCommand::Prune(a) => prune::run(root, a),
        ImageCommand::Rm(a) => rm::run(root, a),
        ImageCommand::Tag(a) => tag::run(root, a),
        ImageCommand::Umount(a) => umount::run(root, a),
        ImageCommand::Save(a) => save::run(root, a),
        ImageCommand::Load(a) => load::run(root, a),
        ImageCommand::Push(a) => push::run(root, a),
        ImageCommand::Pull(a) => pull::run(root, a),
        ImageCommand::Export(a) => export::run(root, a),
    }
}
