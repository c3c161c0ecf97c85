//! `strata container ...`: containers, one file per command.

use std::path::Path;

use clap::{Args, Subcommand};

mod commit;
mod create;
mod diff;
mod exec;
mod export;
mod foreground;
mod inspect;
mod kill;
mod logs;
mod ps;
mod rm;
mod run;
mod start;
mod stop;
mod supervise;

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
    /// Create a new container.
    Create(create::Args),
    /// Inspect changes to files or directories on a container's filesystem.
    Diff(diff::Args),
    /// Execute a command in a running container.
    Exec(exec::Args),
    /// Export a container's filesystem as a tar archive.
    Export(export::Args),
    /// Display detailed information on one or more containers.
    Inspect(inspect::Args),
    /// Kill one or more running containers.
    Kill(kill::Args),
    /// Fetch the logs of a container.
    Logs(logs::Args),
    /// List containers.
    #[command(visible_alias = "ls")]
    Ps(ps::Args),
    /// Start one or more stopped containers.
    Start(start::Args),
    /// Stop one or more running containers.
    Stop(stop::Args),
    /// Remove one or more containers.
    Rm(rm::Args),
    /// The per-container supervisor of `run -d` (internal).
    #[command(name = "__supervise", hide = true)]
    Supervise(supervise::Args),
}

/// Runs a container command; strata's own failures exit 125, like Docker.
pub fn run(root: &Path, args: ContainerArgs) -> anyhow::Result<i32> {
    let result = match args.command {
        ContainerCommand::Run(a) => run::run(root, *a),
        ContainerCommand::Commit(a) => commit::run(root, a),
        ContainerCommand::Diff(a) => diff::run(root, a),
        ContainerCommand::Create(a) => create::run(root, a),
        ContainerCommand::Inspect(a) => inspect::run(root, a),
        ContainerCommand::Start(a) => start::run(root, a),
        ContainerCommand::Exec(a) => exec::run(root, a),
        ContainerCommand::Export(a) => export::run(root, a),
        ContainerCommand::Kill(a) => kill::run(root, a),
        ContainerCommand::Logs(a) => logs::run(root, a),
        ContainerCommand::Stop(a) => stop::run(root, a),
        ContainerCommand::Ps(a) => ps::run(root, a),
        ContainerCommand::Rm(a) => rm::run(root, a),
        ContainerCommand::Supervise(a) => supervise::run(root, a),
    };
    Ok(result.unwrap_or_else(|err| {
        eprintln!("{}", crate::commands::report::error_line(&err, root));
        125
    }))
}

/// Waits until the process serving container `id` has recorded its exit
/// (or died, which `reap_dead` then records), so that `stop` returns with
/// `ps` already showing the container exited, as Docker's does.
fn wait_recorded(containers: &builder::container::Containers<'_>, id: &str) -> anyhow::Result<()> {
    loop {
        let mut r = containers.resolve(id)?;
        containers.reap_dead(&mut r)?;
        if r.state != builder::container::State::Running {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
