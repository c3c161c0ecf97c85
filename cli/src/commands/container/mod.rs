//! `strata container ...`: containers, one file per command.

use std::path::Path;

use clap::{Args, Subcommand};

mod commit;
mod diff;
mod foreground;
mod ps;
mod rm;
mod run;

/// Manage containers.
#[derive(Debug, Args)]
pub struct ContainerArgs {
    #[command(subcommand)]
    pub command: ContainerCommand,
}

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Create and run a new container from an image.
    Run(Box<run::Args>),
    /// Create a new image from a container's changes.
    Commit(commit::Args),
    /// Inspect changes to files or directories on a container's filesystem.
    Diff(diff::Args),
    /// List containers.
    #[command(visible_alias = "ls")]
    Ps(ps::Args),
    /// Remove one or more containers.
    Rm(rm::Args),
}

/// Runs a container command; strata's own failures exit 125, like Docker.
pub fn run(root: &Path, args: ContainerArgs) -> anyhow::Result<i32> {
    let result = match args.command {
        ContainerCommand::Run(a) => run::run(root, *a),
        ContainerCommand::Commit(a) => commit::run(root, a),
        ContainerCommand::Diff(a) => diff::run(root, a),
        ContainerCommand::Ps(a) => ps::run(root, a),
        ContainerCommand::Rm(a) => rm::run(root, a),
    };
    Ok(result.unwrap_or_else(|err| {
        eprintln!("Error: {err:#}");
        125
    }))
}
