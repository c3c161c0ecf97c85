//! Errors of the runtime. A failure inside the container before the user's
//! command runs comes back from the init as a [`StartFailure`] and maps to
//! Docker's exit codes (125, 126, 127).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Why the container's process could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartFailureKind {
    /// The command does not exist (Docker: exit 127).
    NotFound,
    /// The command exists but cannot be invoked (Docker: exit 126).
    NotExecutable,
    /// The runtime failed while setting up the container (Docker: exit 125).
    Setup,
}

/// A failure reported by the init process over the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct StartFailure {
    pub kind: StartFailureKind,
    pub message: String,
}

impl StartFailure {
    pub fn setup(message: impl Into<String>) -> Self {
        StartFailure {
            kind: StartFailureKind::Setup,
            message: message.into(),
        }
    }

    /// Docker's exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        match self.kind {
            StartFailureKind::NotFound => 127,
            StartFailureKind::NotExecutable => 126,
            StartFailureKind::Setup => 125,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot start the container init {program}")]
    SpawnInit {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("container start failed: {0}")]
    Start(#[from] StartFailure),
    #[error("channel to the container init: {op}")]
    Channel {
        op: &'static str,
        source: nix::Error,
    },
    #[error("`strata __init` is internal: the container init, started by the runtime")]
    NoChannel,
    #[error("unexpected message from the container init: {0}")]
    Protocol(String),
    #[error("unable to find user {user}: {reason}")]
    User { user: String, reason: String },
    #[error("{op} {}", path.display())]
    Sys {
        op: &'static str,
        path: PathBuf,
        source: nix::Error,
    },
    #[error("{op} {}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid signal {0:?}")]
    InvalidSignal(String),
    #[error("signal process {pid}")]
    Signal { pid: i32, source: nix::Error },
    #[error("terminal relay: {op}")]
    Tty {
        op: &'static str,
        source: nix::Error,
    },
}

impl RuntimeError {
    /// The exit code `strata container run` should exit with (Docker's):
    /// 126/127 when the command cannot be invoked or found, 125 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            RuntimeError::Start(f) => f.exit_code(),
            _ => 125,
        }
    }

    pub(crate) fn sys(op: &'static str, path: impl Into<PathBuf>, source: nix::Error) -> Self {
        RuntimeError::Sys {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RuntimeError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
