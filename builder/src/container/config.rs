//! From an image config and `container run` flags to the process the runtime
//! starts, with Docker's rules for combining them.

use serde::{Deserialize, Serialize};

use super::error::{ContainerError, Result};
use crate::runtime::spec::DEFAULT_PATH;
use crate::runtime::{BindMount, NetworkMode, ProcessSpec};
use crate::store::RunConfig;

/// What `container run/create` was asked for (flags already parsed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Options {
    /// `--name`; a generated name when `None`.
    pub name: Option<String>,
    /// `-e`/`--env-file` entries in command-line order, `KEY=VALUE`.
    pub env: Vec<String>,
    /// `-w`
    pub workdir: Option<String>,
    /// `-u`
    pub user: Option<String>,
    /// `--hostname`; the short id when `None`.
    pub hostname: Option<String>,
    /// `--network none` (host otherwise).
    pub network_none: bool,
    /// `--entrypoint` (`Some("")` resets the image's entrypoint).
    pub entrypoint: Option<String>,
    /// Command after the image name (replaces the image's Cmd when not empty).
    pub cmd: Vec<String>,
    /// `-v`
    pub mounts: Vec<BindMount>,
    /// `-t`
    pub tty: bool,
    /// `-i`
    pub stdin: bool,
}

impl Options {
    pub fn network(&self) -> NetworkMode {
        if self.network_none {
            NetworkMode::None
        } else {
            NetworkMode::Host
        }
    }
}

/// Docker's rules: `--entrypoint` replaces the image's Entrypoint and drops
/// its Cmd; a command on the line replaces the image's Cmd; argv is
/// Entrypoint + Cmd. Env: the image's, then the flags' (same key: last
/// wins). `-w`/`-u` override WorkingDir/User. Empty argv is an error.
pub fn process_spec(image: &RunConfig, opts: &Options) -> Result<ProcessSpec> {
    let (entrypoint, cmd) = entrypoint_and_cmd(image, opts);
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(ContainerError::NoCommand);
    }
    let mut process = ProcessSpec::new(args);
    process.env = merge_env(&image.env, &opts.env);
    // Docker writes the default PATH into the container's config when the
    // image has none (so `commit` keeps it too).
    if !process.env.iter().any(|e| e.starts_with("PATH=")) {
        process.env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    process.cwd = match opts.workdir.as_deref() {
        Some(w) if !w.is_empty() => w.to_string(),
        _ if !image.working_dir.is_empty() => image.working_dir.clone(),
        _ => "/".to_string(),
    };
    process.user = opts.user.clone().unwrap_or_else(|| image.user.clone());
    process.tty = opts.tty;
    process.stdin = opts.stdin;
    if !image.stop_signal.is_empty() {
        process.stop_signal = image.stop_signal.clone();
    }
    Ok(process)
}

/// The container's Entrypoint and Cmd (what `commit` writes to the new
/// image, as Docker does).
pub fn entrypoint_and_cmd(image: &RunConfig, opts: &Options) -> (Vec<String>, Vec<String>) {
    let (entrypoint, image_cmd) = match &opts.entrypoint {
        Some(e) if e.is_empty() => (Vec::new(), Vec::new()),
        Some(e) => (vec![e.clone()], Vec::new()),
        None => (
            image.entrypoint.clone().unwrap_or_default(),
            image.cmd.clone().unwrap_or_default(),
        ),
    };
    let cmd = if opts.cmd.is_empty() {
        image_cmd
    } else {
        opts.cmd.clone()
    };
    (entrypoint, cmd)
}

/// `base` overridden by `extra`, keeping first-seen order of keys.
fn merge_env(base: &[String], extra: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for entry in base.iter().chain(extra) {
        let key = entry.split_once('=').map_or(entry.as_str(), |(k, _)| k);
        match out
            .iter_mut()
            .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
        {
            Some(slot) => *slot = entry.clone(),
            None => out.push(entry.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(entrypoint: Option<&[&str]>, cmd: Option<&[&str]>) -> RunConfig {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        RunConfig {
            entrypoint: entrypoint.map(v),
            cmd: cmd.map(v),
            env: vec!["PATH=/bin".into(), "A=1".into()],
            working_dir: "/srv".into(),
            user: "daemon".into(),
            ..Default::default()
        }
    }

    fn opts(entrypoint: Option<&str>, cmd: &[&str]) -> Options {
        Options {
            entrypoint: entrypoint.map(str::to_string),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn entrypoint_and_cmd_combine_like_docker() {
        let img = image(Some(&["/ep", "-x"]), Some(&["default"]));
        let args = |o: &Options| process_spec(&img, o).expect("spec").args;
        assert_eq!(args(&opts(None, &[])), ["/ep", "-x", "default"]);
        assert_eq!(args(&opts(None, &["mine"])), ["/ep", "-x", "mine"]);
        assert_eq!(args(&opts(Some("/other"), &[])), ["/other"]);
        assert_eq!(args(&opts(Some("/other"), &["a"])), ["/other", "a"]);
        assert_eq!(args(&opts(Some(""), &["ls"])), ["ls"]);
        let none = image(None, None);
        assert!(matches!(
            process_spec(&none, &opts(None, &[])),
            Err(ContainerError::NoCommand)
        ));
    }

    #[test]
    fn env_workdir_user_from_image_then_flags() {
        let img = image(None, Some(&["sh"]));
        let p = process_spec(&img, &opts(None, &[])).expect("spec");
        assert_eq!(p.env, ["PATH=/bin", "A=1"]);
        assert_eq!((p.cwd.as_str(), p.user.as_str()), ("/srv", "daemon"));
        let mut o = opts(None, &[]);
        o.env = vec!["A=2".into(), "B=3".into()];
        o.workdir = Some("/tmp".into());
        o.user = Some("1000:1000".into());
        let p = process_spec(&img, &o).expect("spec");
        assert_eq!(p.env, ["PATH=/bin", "A=2", "B=3"]);
        assert_eq!((p.cwd.as_str(), p.user.as_str()), ("/tmp", "1000:1000"));
    }
}
