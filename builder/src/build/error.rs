//! Build errors: each names the Dockerfile line (and path) it is about.

use std::path::PathBuf;

use crate::dockerfile::Diagnostics;

pub type Result<T> = std::result::Result<T, BuildError>;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Dockerfile(Diagnostics),
    #[error("Dockerfile:{line}: base image {name}")]
    BaseImage {
        name: String,
        line: usize,
        #[source]
        source: crate::store::Error,
    },
    #[error("{0}")]
    Store(#[from] crate::store::Error),
    #[error("Dockerfile:{line}: {message}")]
    Step { line: usize, message: String },
    #[error(
        "Dockerfile:{line}: process \"{command}\" did not complete successfully: exit code: {code}{}",
        if *store_full { " (no space left on device: the store's filesystem is full)" } else { "" }
    )]
    RunFailed {
        line: usize,
        command: String,
        code: i32,
        /// The last lines of its output.
        tail: Vec<String>,
        /// The store's filesystem was full when it failed: most likely why.
        store_full: bool,
    },
    /// A step failed on something that does not name its line itself.
    #[error("Dockerfile:{line}: {instruction}: {source}")]
    InStep {
        line: usize,
        instruction: String,
        #[source]
        source: Box<BuildError>,
    },
    #[error("Dockerfile:{line}: {source}")]
    Runtime {
        line: usize,
        #[source]
        source: crate::runtime::RuntimeError,
    },
    #[error("Dockerfile:{line}: mounting the union filesystem: {source}")]
    Mount {
        line: usize,
        #[source]
        source: overlayfs::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reading .dockerignore: {0}")]
    Ignore(#[from] crate::dockerfile::ignore::LoadError),
    #[error("build interrupted")]
    Interrupted,
    #[error("the build produced no image")]
    EmptyResult,
}

/// `map_err` helper for I/O on a path.
pub(crate) fn io_err(path: &std::path::Path) -> impl Fn(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A step error at `line`.
pub(crate) fn step_err(line: usize, message: impl Into<String>) -> BuildError {
    BuildError::Step {
        line,
        message: message.into(),
    }
}
