//! Top-level command tree. One module per command group, one file per command.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

mod completion;
mod container;
mod context;
mod format;
pub mod help;
mod image;
mod login;
mod preflight;
mod report;
mod style;
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
    // Container commands exit 125 on strata's own failures, like Docker.
    let failed = if matches!(cli.command, Command::Container(_)) {
        125
    } else {
        1
    };
    if let Err(err) = preflight::check(needs(&cli.command)) {
        eprintln!("{}", report::error_line(&err, &cli.root));
        return failed;
    }
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
            eprintln!("{}", report::error_line(&err, &cli.root));
            1
        }
    }
}

/// What `command` needs from the machine (see `preflight`): nothing to
/// print help, versions and completions, to log in, or to check a
/// Dockerfile; FUSE to mount images; root for everything else.
fn needs(command: &Command) -> preflight::Needs {
    use container::ContainerCommand as C;
    use image::ImageCommand as I;
    use preflight::Needs;
    match command {
        Command::Version | Command::Login(_) | Command::Completion(_) => Needs::Nothing,
        Command::Image(a) => match &a.command {
            I::Build(b) if b.check => Needs::Nothing,
            I::Build(b) if b.explain => Needs::Root,
            I::Build(_) | I::Mount(_) => Needs::RootAndFuse,
            _ => Needs::Root,
        },
        Command::Container(a) => match &a.command {
            C::Run(_) | C::Create(_) | C::Start(_) => Needs::RootAndFuse,
            _ => Needs::Root,
        },
        Command::System(_) => Needs::Root,
    }
}

/// Logs go to stderr through env_logger. Quiet by default: strata's own
/// warnings only (a library's warnings, such as fuser's about ioctls it
/// does not implement, are noise to a user); `-v` adds strata's info, `-vv`
/// its debug, `-vvv` everything. `RUST_LOG` overrides all of it.
fn init_logging(verbose: u8) {
    const OURS: [&str; 3] = ["strata", "builder", "overlayfs"];
    let filter = |level: &str, others: &str| {
        let mut f = others.to_string();
        for m in OURS {
            f.push_str(&format!(",{m}={level}"));
        }
        f
    };
    let default = match verbose {
        0 => filter("warn", "error"),
        1 => filter("info", "error"),
        2 => filter("debug", "warn"),
        _ => "trace".to_string(),
    };
    let color = if style::stderr_color() {
        env_logger::WriteStyle::Auto
    } else {
        env_logger::WriteStyle::Never
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default))
        .format_timestamp(None)
        .write_style(color)
        .init();
}
