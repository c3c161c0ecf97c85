//! `strata system ...`: store-wide commands.

use std::path::Path;

use clap::{Args, Subcommand};

mod check;
mod df;
pub(crate) mod prune;

/// Manage the store.
#[derive(Debug, Args)]
pub struct SystemArgs {
    #[command(subcommand)]
    pub command: SystemCommand,
}

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Verify layers and catalog; --repair removes leftovers of crashes.
    Check(check::Args),
    /// Show disk usage.
    Df(df::Args),
    /// Remove dangling images and unreferenced layers.
    Prune(prune::Args),
}

/// Runs a system command; returns the exit code.
pub fn run(root: &Path, args: SystemArgs) -> anyhow::Result<i32> {
    match args.command {
        SystemCommand::Check(a) => check::run(root, a),
        SystemCommand::Df(a) => df::run(root, a),
        SystemCommand::Prune(a) => prune::run(root, a),
    }
}
