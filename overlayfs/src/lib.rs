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
//!
//! Layout: `layers` (stack, name resolution), `markers` (whiteouts, opaque
//! dirs, private xattrs), `table` (inode numbers), `copyup`, `readdir`
//! (merging), `fs/` (the operations), `adapter` (fuser glue), `mount`
//! (validation, session, guard), `options` (the mount program's command
//! line), `sys` (raw syscalls).

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod adapter;
mod copyup;
mod dirindex;
mod fs;
mod handles;
mod layers;
mod markers;
mod mount;
pub mod options;
mod passthrough;
mod readdir;
mod sys;
mod table;
mod upper_markers;
mod validate;

use std::path::PathBuf;

pub use markers::{is_opaque_dir, is_whiteout};
pub use mount::{MountGuard, Stats, mount, serve, serve_with_ready};
pub use validate::unescape_mountinfo;

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
    /// FUSE session threads; `None` picks one per core (2 to 8).
    pub threads: Option<usize>,
    /// Extra kernel mount flags: `nodev`, `nosuid`, `noexec`, `noatime`,
    /// `dirsync`, `sync`, `ro`, `fsname=NAME`. Others are rejected.
    pub mount_options: Vec<String>,
    /// Refuse to mount when a whiteout in a lower layer hides nothing
    /// below it (usually lowerdirs given in the wrong order). Off by
    /// default: it walks every lower layer but the bottom one, which costs
    /// seconds for big images, and callers that compute the order (the
    /// image store) do not need it. The mount program has `-o check_whiteouts`.
    pub check_whiteouts: bool,
    /// Serve file data through this process even where the kernel offers
    /// FUSE passthrough (mount program: `-o passthrough=off`).
    pub disable_passthrough: bool,
    /// Take requests over FUSE over io_uring where the kernel offers it
    /// (mount program: `-o io_uring=on`; off by default, see
    /// docs/overlayfs.md). The kernel offers it only with the fuse
    /// module's `enable_uring` parameter set.
    pub io_uring: bool,
    /// Leave POSIX ACLs unenforced: stored and copied up like any xattr,
    /// with permission checks on mode bits only (mount program:
    /// `-o noacl`, as fuse-overlayfs). See docs/overlayfs.md.
    pub disable_acl: bool,
    /// Let the kernel keep directory listings between readdirs and opens
    /// (FOPEN_CACHE_DIR over strata's stable cookies; mount program:
    /// `-o dircache=on`). A repeated `ls` of a big directory is then served
    /// without a request, but the kernel's cache can take in a reply the
    /// daemon computed before a change of the directory after the cache was
    /// refilled (a name just removed listed again, seen under concurrent
    /// listing, unlinks and inode eviction), so it is off by default. See
    /// docs/overlayfs.md, "Listing cache".
    pub dir_cache: bool,
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
