//! Errors of container bookkeeping. Messages follow Docker's where the CLI
//! user sees them (`No such container`, name conflicts).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("catalog")]
    Catalog(#[from] rusqlite::Error),
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error(
        "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
    )]
    NameInUse { name: String, id: String },
    #[error("Invalid container name ({0}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    #[error("no command specified")]
    NoCommand,
    #[error("container config of {id} is unreadable")]
    BadConfig {
        id: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("union mount of container {id}")]
    Mount {
        id: String,
        #[source]
        source: overlayfs::Error,
    },
}

pub type Result<T, E = ContainerError> = std::result::Result<T, E>;

pub(crate) fn io_err(path: &std::path::Path) -> impl Fn(std::io::Error) -> ContainerError + '_ {
    move |source| ContainerError::Io {
        path: path.to_path_buf(),
        source,
    }
}
