//! strata's union filesystem: read-only lower directories stacked under an
//! optional writable upper directory, served through FUSE with the semantics
//! and the on-disk format of Linux overlayfs (0/0 character-device whiteouts,
//! `trusted.overlay.opaque` directories, copy-up through `work/`).
//!
//! This crate knows directories and files, nothing about images.
//!
//! API contract (other crates build on it):
//! - [`Config`]: `lowerdirs` top-most first, optional `upperdir` + `workdir`
//!   (no upper = read-only mount for browsing).
//! - [`mount`]: mounts and serves in background threads, returns once the
//!   mount is ready; the [`MountGuard`] unmounts on drop.
//! - [`serve`]: mounts and serves in the calling thread until unmounted.

use std::path::{Path, PathBuf};

/// What to stack and how to serve it.
/// Callers build it as `Config { lowerdirs, ..Default::default() }` so that
/// new options do not break them.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Read-only layers, top-most first.
    pub lowerdirs: Vec<PathBuf>,
    /// Writable layer; `None` gives a read-only mount.
    pub upperdir: Option<PathBuf>,
    /// Scratch dir on the same filesystem as `upperdir` (copy-up staging).
    pub workdir: Option<PathBuf>,
}

/// Errors of setting up or tearing down a mount.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

/// A mounted union; unmounts (and stops serving) when dropped.
#[derive(Debug)]
pub struct MountGuard {
    mountpoint: PathBuf,
}

impl MountGuard {
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }
}

/// Mount `config` at `mountpoint`, serving it from background threads.
pub fn mount(config: Config, mountpoint: &Path) -> Result<MountGuard, Error> {
    let _ = config;
    Err(Error::Invalid(format!(
        "{}: union filesystem not implemented yet",
        mountpoint.display()
    )))
}

/// Mount `config` at `mountpoint` and serve it in this thread until unmounted.
pub fn serve(config: Config, mountpoint: &Path) -> Result<(), Error> {
    mount(config, mountpoint).map(|_| ())
}
