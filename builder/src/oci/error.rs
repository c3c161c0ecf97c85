//! Errors of OCI interchange. Every variant names the blob, file or
//! reference it is about, so one line tells the user what went wrong.
//! Messages never repeat their source: it is chained (the CLI prints the
//! chain).

use std::path::PathBuf;

/// Errors the store behind [`super::ImageStore`] reports, boxed so this
/// module does not depend on the store's own error type.
pub type StoreError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("blob {digest}: digest mismatch (content hashes to {actual})")]
    DigestMismatch { digest: String, actual: String },
    #[error("blob {digest}: size mismatch (expected {expected} bytes, got {actual})")]
    SizeMismatch {
        digest: String,
        expected: u64,
        actual: u64,
    },
    #[error("layer {diff_id}: uncompressed content hashes to {actual} (diff_id mismatch)")]
    DiffIdMismatch { diff_id: String, actual: String },
    #[error("blob {digest} is missing from {place}")]
    MissingBlob { digest: String, place: String },
    #[error("invalid digest {0:?} (only sha256:<64 hex> is supported)")]
    InvalidDigest(String),
    #[error("blob {digest}: unsupported media type {media_type}")]
    UnsupportedMediaType { digest: String, media_type: String },
    #[error("{what}: invalid JSON")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("archive {path}: {reason}")]
    Archive { path: PathBuf, reason: String },
    #[error("image {reference}: {reason}")]
    Image { reference: String, reason: String },
    #[error("invalid reference {reference:?}: {reason}")]
    Reference { reference: String, reason: String },
    #[error("store: {op}")]
    Store {
        op: String,
        #[source]
        source: StoreError,
    },
    #[error(transparent)]
    Registry(#[from] super::registry::RegistryError),
}

impl OciError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> OciError {
        let path = path.into();
        move |source| OciError::Io { path, source }
    }

    pub(crate) fn json(what: impl Into<String>) -> impl FnOnce(serde_json::Error) -> OciError {
        let what = what.into();
        move |source| OciError::Json { what, source }
    }

    pub(crate) fn store(op: impl Into<String>) -> impl FnOnce(StoreError) -> OciError {
        let op = op.into();
        move |source| OciError::Store { op, source }
    }
}

pub type Result<T, E = OciError> = std::result::Result<T, E>;
