//! What to run: the container (root filesystem, namespaces, mounts) and the
//! process inside it. Plain data, serialised as JSON to the init process.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `PATH` a process gets when its environment has none (Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A container: a ready root filesystem and the first process (PID 1) to run
/// in it, in new mount, PID, UTS and IPC namespaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// The root filesystem, already assembled (e.g. the union mount's
    /// `merged/`). Writable unless `readonly_rootfs`.
    pub rootfs: PathBuf,
    /// Host directory for the per-container files the runtime bind-mounts
    /// over `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` (like
    /// Docker's `containers/<id>/`), so they never land in the rootfs upper.
    pub state_dir: PathBuf,
    pub hostname: String,
    pub network: NetworkMode,
    /// Bind mounts (`-v HOSTDIR:DIR[:ro]`), applied in order.
    #[serde(default)]
    pub mounts: Vec<BindMount>,
    /// Run PID 1 in a new PID namespace (Docker does; `--pid host` does not).
    #[serde(default = "yes")]
    pub new_pid_ns: bool,
    /// Remount the root filesystem read-only (`--read-only`).
    #[serde(default)]
    pub readonly_rootfs: bool,
    /// Without a tty, stdout and stderr are also appended to this file as
    /// JSON lines (see [`super::log`]); `container logs` reads it back.
    #[serde(default)]
    pub log_path: Option<PathBuf>,
    pub process: ProcessSpec,
}

fn yes() -> bool {
    true
}

/// A process to start inside a container: PID 1 of `run`, or the process of
/// `container exec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessSpec {
    /// argv; `args[0]` is looked up in the `PATH` of `env` when it has no `/`.
    pub args: Vec<String>,
    /// `KEY=VALUE` entries. `PATH`, `HOME` and `HOSTNAME` (and `TERM` with a
    /// tty) get Docker's defaults when missing.
    #[serde(default)]
    pub env: Vec<String>,
    /// Working directory inside the container, created when missing (Docker).
    #[serde(default = "root_dir")]
    pub cwd: String,
    /// `name`, `uid`, `name:group` or `uid:gid`, resolved against the
    /// container's `/etc/passwd` and `/etc/group`. Empty means root.
    #[serde(default)]
    pub user: String,
    /// Allocate a pseudo-terminal inside the container (`-t`).
    #[serde(default)]
    pub tty: bool,
    /// Keep stdin attached (`-i`); otherwise stdin is `/dev/null`.
    #[serde(default)]
    pub stdin: bool,
    /// Signal `stop` sends first (image `StopSignal`), e.g. "SIGTERM" or "15".
    #[serde(default = "sigterm")]
    pub stop_signal: String,
}

fn root_dir() -> String {
    "/".to_string()
}

fn sigterm() -> String {
    "SIGTERM".to_string()
}

impl ProcessSpec {
    /// A process running `args` as root in `/`, no tty, stdin closed.
    pub fn new<S: Into<String>>(args: impl IntoIterator<Item = S>) -> Self {
        ProcessSpec {
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            cwd: root_dir(),
            user: String::new(),
            tty: false,
            stdin: false,
            stop_signal: sigterm(),
        }
    }
}

impl ContainerSpec {
    /// A container with host networking and no extra mounts.
    pub fn new(
        rootfs: impl Into<PathBuf>,
        state_dir: impl Into<PathBuf>,
        hostname: &str,
        process: ProcessSpec,
    ) -> Self {
        ContainerSpec {
            rootfs: rootfs.into(),
            state_dir: state_dir.into(),
            hostname: hostname.to_string(),
            network: NetworkMode::Host,
            mounts: Vec::new(),
            new_pid_ns: true,
            readonly_rootfs: false,
            log_path: None,
            process,
        }
    }
}

/// `--network`: share the host's network namespace, or get a new one with
/// only the loopback interface (up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    Host,
    None,
}

/// One `-v HOSTDIR:DIR[:ro]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindMount {
    pub source: PathBuf,
    /// Absolute path inside the container; created when missing.
    pub destination: String,
    pub readonly: bool,
}

impl BindMount {
    /// Parses Docker's `HOSTDIR:DIR[:ro|rw]`.
    pub fn parse(text: &str) -> Option<BindMount> {
        let parts: Vec<&str> = text.split(':').collect();
        let (source, destination, readonly) = match parts.as_slice() {
            [s, d] => (*s, *d, false),
            [s, d, "ro"] => (*s, *d, true),
            [s, d, "rw"] => (*s, *d, false),
            _ => return None,
        };
        if source.is_empty() || !destination.starts_with('/') {
            return None;
        }
        Some(BindMount {
            source: PathBuf::from(source),
            destination: destination.to_string(),
            readonly,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_mount_parses_docker_syntax() {
        let m = BindMount::parse("/data:/srv:ro").expect("valid");
        assert_eq!(m.source, PathBuf::from("/data"));
        assert_eq!(m.destination, "/srv");
        assert!(m.readonly);
        assert!(!BindMount::parse("/data:/srv").expect("valid").readonly);
        assert!(BindMount::parse("/data:srv").is_none());
        assert!(BindMount::parse("/data:/srv:zz").is_none());
        assert!(BindMount::parse("/data").is_none());
    }

    #[test]
    fn spec_round_trips_through_json_with_defaults() {
        let json = r#"{"rootfs":"/r","state_dir":"/s","hostname":"h","network":"none",
            "process":{"args":["sh"]}}"#;
        let spec: ContainerSpec = serde_json::from_str(json).expect("parses");
        assert!(spec.new_pid_ns);
        assert_eq!(spec.network, NetworkMode::None);
        assert_eq!(spec.process.cwd, "/");
        assert_eq!(spec.process.stop_signal, "SIGTERM");
        let again: ContainerSpec =
            serde_json::from_str(&serde_json::to_string(&spec).expect("ser")).expect("de");
        assert_eq!(again, spec);
    }
}
