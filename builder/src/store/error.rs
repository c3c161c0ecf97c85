//! Errors of the store. Paths, layers and references are fields so callers can
//! act on them; messages never repeat their source (it is chained).

use std::path::PathBuf;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "store {path} is locked by {holder} (waited {waited}s): wait for it to finish, or stop it"
    )]
    Locked {
        path: PathBuf,
        /// `pid N (command line)`, or `another process` when unknown.
        holder: String,
        waited: u64,
    },
    #[error("store root {path} is not writable")]
    RootNotWritable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("catalog {path}")]
    Catalog {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "catalog {path} has schema version {found}, newer than this strata supports ({supported}); upgrade strata"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("invalid reference format: {reason}: {input:?}")]
    InvalidReference { input: String, reason: String },
    #[error("invalid digest {0:?}")]
    InvalidDigest(String),
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("No such layer: {0}")]
    NoSuchLayer(String),
    #[error("{reference}: ambiguous image id prefix, matches several images")]
    AmbiguousImage { reference: String },
    #[error("conflict: unable to delete {reference} ({hint}) - {reason}")]
    Conflict {
        reference: String,
        hint: &'static str,
        reason: String,
    },
    #[error("layer archive: entry {entry:?}: {reason}")]
    UnsafeEntry { entry: String, reason: String },
    #[error("layer archive: {0}")]
    BadArchive(String),
    #[error("layer archive: {context}")]
    Archive {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("image config: {0}")]
    BadConfig(String),
    #[error("--change {change:?}: {reason}")]
    BadChange { change: String, reason: String },
    #[error("{program}: {reason}")]
    Command { program: String, reason: String },
}

/// Result with the store's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Attaches a path to an I/O error: `io_err(path)(e)` in `map_err`.
pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}

/// Same for a nix errno.
pub(crate) fn nix_err(path: impl Into<PathBuf>) -> impl FnOnce(nix::errno::Errno) -> Error {
    let path = path.into();
    move |errno| Error::Io {
        path,
        source: std::io::Error::from(errno),
    }
}
