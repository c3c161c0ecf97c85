//! `strata image build`: Docker's `docker build` flags; `--check` only
//! validates the Dockerfile, `--explain` compares every step with the cache
//! without running anything. Progress goes to stderr (BuildKit's plain
//! format, see `build_progress.rs`); `-q` prints the image id on stdout.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use builder::dockerfile::{self, ParseOptions, ignore};

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Build context directory, or `-` for a tar (plain or gzip) on stdin.
    pub context: PathBuf,
    /// Dockerfile to use (default: CONTEXT/Dockerfile; `-` reads stdin).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Name and optionally a tag (`name:tag`) for the image; repeatable.
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,
    /// Set a build-time variable (`NAME=VALUE`, or `NAME` to take it from the environment).
    #[arg(long = "build-arg", value_name = "NAME[=VALUE]")]
    pub build_args: Vec<String>,
    /// Build the stage with this name (default: the last stage).
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// Do not use the build cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Set metadata on the image (`KEY=VALUE`); repeatable.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Progress output: auto, plain, tty or quiet.
    #[arg(long, default_value = "auto", value_parser = ["auto", "plain", "tty", "quiet"])]
    pub progress: String,
    /// Write the image id to this file.
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// Suppress the build output and print the image id on success.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Target platform (`os/arch[/variant]`; default: this machine's).
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Only parse and validate the Dockerfile: print every error and warning
    /// as FILE:LINE:COL and exit 1 if there are errors.
    #[arg(long)]
    pub check: bool,
    /// Print, for every step, whether the cache has it and if not why,
    /// without building anything.
    #[arg(long)]
    pub explain: bool,
    /// Base images are never pulled (builds are offline): only `never`
    /// and `missing` are accepted, and both mean "use the local image".
    #[arg(long, value_name = "POLICY", value_parser = ["never", "missing"])]
    pub pull: Option<String>,
    /// Secret for `RUN --mount=type=secret`: `id=ID,src=FILE` or `id=ID,env=VAR`; repeatable.
    #[arg(long = "secret", value_name = "id=ID,src=FILE")]
    pub secrets: Vec<String>,
    /// Network of RUN steps: `default`/`host` (the host's) or `none`.
    #[arg(long, default_value = "default", value_parser = ["default", "host", "none"])]
    pub network: String,
}

/// `--build-arg` values: `NAME=VALUE`, or `NAME` taken from the environment
/// (skipped when unset, like Docker).
fn build_args(raw: &[String]) -> BTreeMap<String, String> {
    raw.iter()
        .filter_map(|a| match a.split_once('=') {
            Some((k, v)) => Some((k.to_string(), v.to_string())),
            None => std::env::var(a).ok().map(|v| (a.clone(), v)),
        })
        .collect()
}

/// The Dockerfile to read: `-f` (relative to the current directory, as in
/// Docker), else `CONTEXT/Dockerfile`, else `CONTEXT/dockerfile`.
fn dockerfile_path(args: &BuildArgs) -> PathBuf {
    if let Some(f) = &args.file {
        return f.clone();
    }
    let upper = args.context.join("Dockerfile");
    let lower = args.context.join("dockerfile");
    if !upper.exists() && lower.exists() {
        lower
    } else {
        upper
    }
}

pub fn run(mut args: BuildArgs, root: &Path) -> anyhow::Result<i32> {
    // `-`: the context is a tar on stdin, unpacked into a private dir that
    // lives until the build ends.
    let _stdin_context = if args.context.as_os_str() == "-" {
        if args.file.as_deref() == Some(Path::new("-")) {
            bail!("invalid argument: can't use stdin for both build context and dockerfile");
        }
        let dir = tempfile::tempdir().context("creating a directory for the context")?;
        builder::build::unpack_context(std::io::stdin().lock(), dir.path())
            .context("reading the build context from stdin")?;
        args.context = dir.path().to_path_buf();
        Some(dir)
    } else {
        None
    };
    if !args.context.is_dir() {
        bail!(
            "unable to prepare context: path {:?} not found or not a directory",
            args.context.display().to_string()
        );
    }
    let path = dockerfile_path(&args);
    // `./Dockerfile` reads better as `Dockerfile` in messages.
    let shown = path
        .strip_prefix(".")
        .unwrap_or(&path)
        .display()
        .to_string();
    let (name, text) = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the Dockerfile from stdin")?;
        ("-".to_string(), s)
    } else {
        let bytes = std::fs::read(&path).with_context(|| format!("reading Dockerfile {shown}"))?;
        (shown, String::from_utf8_lossy(&bytes).into_owned())
    };
    let opts = ParseOptions {
        file_name: name,
        build_args: build_args(&args.build_args),
        target: args.target.clone(),
        target_platform: args
            .platform
            .clone()
            .unwrap_or_else(dockerfile::host_platform),
        ..ParseOptions::default()
    };
    if !args.check {
        let dockerfile = (path.as_os_str() != "-").then(|| path.clone());
        return super::build_run::build(&args, root, text, dockerfile, opts);
    }
    let diags = match dockerfile::parse(&text, &opts) {
        Ok(df) => df.warnings,
        Err(d) => d.0,
    };
    let mut errors = diags
        .iter()
        .filter(|d| d.severity == dockerfile::Severity::Error)
        .count();
    let warnings = diags.len() - errors;
    for d in &diags {
        println!("{d}");
    }
    let dockerfile = (path.as_os_str() != "-").then_some(path.as_path());
    match ignore::Matcher::load(&args.context, dockerfile) {
        Ok(_) => {}
        Err(ignore::LoadError::Pattern { path, source }) => {
            errors += 1;
            println!(
                "{}:{}:1: error: {}",
                path.display(),
                source.line,
                source.message
            );
        }
        Err(e) => return Err(e.into()),
    }
    if errors > 0 {
        println!("Check failed: {errors} error(s), {warnings} warning(s)");
        return Ok(1);
    }
    if warnings > 0 {
        println!("Check complete, {warnings} warning(s) found");
    } else {
        println!("Check complete, no warnings found.");
    }
    Ok(0)
}
