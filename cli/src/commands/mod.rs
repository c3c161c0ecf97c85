//! Top-level command tree. One module per command group, one file per command.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

mod completion;
mod container;
mod context;
mod format;
mod image;
mod login;
mod report;
mod system;

/// strata: build images from Dockerfiles and run containers, without a daemon.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, propagate_version = true)]
pub struct Cli {
    /// Store root (images, layers, containers).
    #[arg(
        long,
        global = true,
        env = "STRATA_ROOT",
        default_value = "/var/lib/strata"
    )]
    pub root: PathBuf,
    /// More log output (repeat for more); RUST_LOG overrides. Given before
    /// the command (`strata -v image build ...`): after it, `-v` is Docker's
    /// `--volume` of `container run`/`create`.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print version information.
    Version,
    /// Manage images.
    Image(image::ImageArgs),
    /// Manage containers.
    Container(container::ContainerArgs),
    /// Manage the store.
    System(system::SystemArgs),
    /// Log in to a registry.
    Login(login::Args),
    /// Print a shell completion script (`strata completion bash > /etc/bash_completion.d/strata`).
    Completion(completion::Args),
}

/// Runs the command and returns the process exit code. Errors are printed as
/// one line starting with `Error:`; strata's own failures exit 125 for
/// container commands (like Docker) and 1 otherwise.
pub fn run(cli: Cli) -> i32 {
    init_logging(cli.verbose);
    let result: anyhow::Result<i32> = match cli.command {
        Command::Version => {
            println!("strata version {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        Command::Image(args) => image::run(&cli.root, args),
        Command::Container(args) => container::run(&cli.root, args),
        Command::System(args) => system::run(&cli.root, args),
        Command::Login(args) => login::run(args),
        Command::Completion(args) => completion::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("Error: {}", report::error_line(&err, &cli.root));
            1
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default))
        .format_timestamp(None)
        .init();
}
