//! `strata image ...`: images and builds.

use std::path::Path;

use clap::Subcommand;

pub mod build;

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build an image from a Dockerfile (`--check` only validates it).
    Build(Box<build::BuildArgs>),
}

pub fn run(cmd: ImageCommand, root: &Path) -> anyhow::Result<i32> {
    match cmd {
        ImageCommand::Build(args) => build::run(*args, root),
    }
}
