//! `strata container run [OPTIONS] IMAGE [COMMAND] [ARG...]`

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use builder::container::{Containers, Options};
use builder::runtime::BindMount;

use super::foreground::run_attached;
use super::supervise;
use crate::commands::context::open_store;

/// The flags `run` and `create` share.
#[derive(Debug, clap::Args)]
pub struct CreateFlags {
    /// Keep STDIN open.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    pub tty: bool,
    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables (KEY=VALUE, or KEY to take it from here).
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Read in a file of environment variables.
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container.
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short, long)]
    pub user: Option<String>,
    /// Container host name (default: the short container id).
    #[arg(long)]
    pub hostname: Option<String>,
    /// Network mode: host (default) or none.
    #[arg(long, default_value = "host", value_parser = ["host", "none"])]
    pub network: String,
    /// Overwrite the default ENTRYPOINT of the image.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Bind mount a volume (HOSTDIR:DIR[:ro]).
    #[arg(short = 'v', long = "volume", value_name = "HOSTDIR:DIR[:ro]")]
    pub volume: Vec<String>,
    /// Image (name[:tag], id or id prefix).
    pub image: String,
    /// Command and arguments (replace the image's CMD).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run container in background and print container ID.
    #[arg(short, long)]
    pub detach: bool,
    /// Automatically remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    #[command(flatten)]
    pub flags: CreateFlags,
}

impl CreateFlags {
    /// The builder's options: env files first, then `-e`, as Docker does.
    pub fn options(&self) -> anyhow::Result<Options> {
        let mut env = Vec::new();
        for file in &self.env_file {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("open {}", file.display()))?;
            env.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .filter_map(env_entry),
            );
        }
        env.extend(self.env.iter().map(String::as_str).filter_map(env_entry));
        let mounts = self
            .volume
            .iter()
            .map(|v| {
                BindMount::parse(v).with_context(|| format!("invalid volume specification: '{v}'"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        for m in &mounts {
            if !m.source.is_absolute() {
                bail!(
                    "invalid volume specification: '{}': source must be an absolute path",
                    m.source.display()
                );
            }
        }
        Ok(Options {
            name: self.name.clone(),
            env,
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            hostname: self.hostname.clone(),
            network_none: self.network == "none",
            entrypoint: self.entrypoint.clone(),
            cmd: self.command.clone(),
            mounts,
            tty: self.tty,
            stdin: self.interactive,
        })
    }
}

/// `KEY=VALUE` as is; a bare `KEY` takes this process's value, and is
/// dropped when unset (Docker).
fn env_entry(entry: &str) -> Option<String> {
    if entry.contains('=') {
        return Some(entry.to_string());
    }
    std::env::var(entry).ok().map(|v| format!("{entry}={v}"))
}

pub fn run(root: &Path, args: Args) -> anyhow::Result<i32> {
    let opts = args.flags.options()?;
    let store = open_store(root)?;
    let image = store.resolve_image(&args.flags.image)?;
    let containers = Containers::new(&store);
    let mut record = containers.create(&image, &args.flags.image, &opts)?;
    if args.detach {
        let code = supervise::spawn(root, &record, args.rm)?;
        if code == 0 {
            println!("{}", record.id);
        }
        return Ok(code);
    }
    let outcome = run_attached(&containers, &mut record);
    if args.rm {
        containers.remove(&record)?;
    }
    outcome
}
