//! The image store: content-addressed layers, the SQLite catalog, image
//! configs and references. Every build and container writes through it.
//!
//! On disk (root: `--root`, `$STRATA_ROOT`, default `/var/lib/strata`):
//! `catalog.db` (source of truth), `layers/<hex>/` (extracted trees in
//! kernel-overlay format), `blobs/sha256/`, `containers/`, `tmp/` (staging).
//! Files are staged in `tmp/`, synced, renamed into place, and only then is
//! the row committed: a crash leaves the old state plus leftovers that
//! [`Store::check`] finds and `repair` removes.
//!
//! Public API (what the build executor, runtime, OCI code and CLI call):
//! - [`Store::open`]`(root)`: creates/migrates the store; refuses a newer schema.
//! - Layers: [`Store::import_layer_tar`]`(reader)` (OCI layer, plain/gzip/zstd,
//!   keyed by the digest of its uncompressed stream), [`Store::freeze`]`(upper)`
//!   (moves an upper dir in; identical layers are reused),
//!   [`Store::freeze_copy`]`(dir)` (same, leaving `dir` alone),
//!   [`Store::layer_dir`], [`Store::layer`], [`Store::write_layer_tar`]`(diff_id, writer)`.
//!   A layer created through a `Store` is leased to it (GC leaves it alone)
//!   until an image references it or the `Store` is dropped.
//! - Images: [`Store::put_image`]`(&ImageConfig, parent)` -> [`ImageId`]
//!   (leased to the handle until it drops, so a build's untagged image is
//!   safe from prune), [`Store::put_image_bytes`] (verbatim config from
//!   pull/load), [`Store::resolve_image`]`("name:tag" | id | id prefix)` ->
//!   [`Image`], [`Store::image`], [`Store::images`], [`Store::children`],
//!   [`Store::containers_using`], [`Store::image_lowerdirs`] (top-most first,
//!   for mounts).
//! - Names: [`Reference`] (Docker's grammar), [`Store::tag`], [`Store::untag`],
//!   [`Store::remove_image`] (Docker's untag/delete rules).
//! - Maintenance: [`Store::prune`], [`Store::disk_usage`], [`Store::check`].
//! - Base images: [`Store::import_rootfs`] (`docker import`), [`Store::bootstrap_debian`].
//!
//! Concurrency: SQLite transactions (WAL, busy timeout) for rows; an flock on
//! `root/lock` around sections that change files with their rows; per-process
//! sessions in `tmp/` whose locks tell live staging from crash leftovers (see
//! [`lock`]).

mod bootstrap;
mod catalog;
mod changes;
mod check;
mod compress;
mod config;
mod digest;
mod error;
mod extract;
mod gc;
mod images;
mod import;
mod layers;
mod layout;
mod lease;
pub mod lock;
pub mod recover;
pub mod reference;
mod remove;
pub(crate) mod sys;
mod tarwrite;
pub mod time;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_images;

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

pub use bootstrap::apt_mirror;
pub use catalog::SCHEMA_VERSION;
pub use changes::apply_change;
pub use check::{CheckReport, Problem};
pub use compress::Compression;
pub use config::{Empty, History, ImageConfig, RootFs, RunConfig, host_architecture};
pub use digest::{DiffId, Digest, ImageId};
pub use error::{Error, Result};
pub use extract::extract_layer;
pub use gc::{DiskUsage, PruneReport};
pub use images::Image;
pub use import::{ImportOptions, RootfsSource};
pub use layers::Layer;
pub use layout::Layout;
pub use lease::MountLease;
pub use reference::{Reference, familiar_repository};
pub use remove::Removed;
pub use tarwrite::{TarSummary, append_symlink, digest_tree, write_tree_tar};

use error::io_err;
use lock::Session;

/// An open store. Not `Sync`: open one per thread (SQLite connections are
/// cheap; the catalog and locks make concurrent handles safe).
pub struct Store {
    layout: Layout,
    conn: Connection,
    /// Created on first need: staging dir + lease owner of this handle.
    session: OnceCell<Session>,
}

impl Store {
    /// Opens the store at `root`, creating its layout and catalog if needed.
    pub fn open(root: &Path) -> Result<Store> {
        let layout = Layout::new(root);
        let not_writable = |source: std::io::Error| Error::RootNotWritable {
            path: root.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(root).map_err(not_writable)?;
        // A read-only root may already have everything: probe a write first,
        // so the error names the cause rather than a failing SQL statement.
        tempfile::tempfile_in(root).map_err(not_writable)?;
        let conn = catalog::open(&layout.catalog())?;
        for dir in layout.dirs() {
            std::fs::create_dir_all(&dir).map_err(not_writable)?;
        }
        Ok(Store {
            layout,
            conn,
            session: OnceCell::new(),
        })
    }

    pub fn root(&self) -> &Path {
        self.layout.root()
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Extracted tree of a layer (it may not exist; see [`Store::layer`]).
    pub fn layer_dir(&self, diff_id: &DiffId) -> PathBuf {
        self.layout.layer(diff_id)
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn db_err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        move |source| Error::Catalog {
            path: self.layout.catalog(),
            source,
        }
    }

    /// This handle's session, created (under the store lock, so repair never
    /// sees its directory unlocked) on first use.
    pub(crate) fn session(&self) -> Result<&Session> {
        if let Some(s) = self.session.get() {
            return Ok(s);
        }
        let _guard = lock::lock_exclusive(&self.layout.lock())?;
        let s = Session::create(&self.layout.tmp())?;
        let s = self.session.get_or_init(|| s);
        // The store heals itself: every process that writes first reclaims
        // what killed ones left (staging, leases, dead union mounts, RUN
        // containers). Best effort: a leftover must not block new work, and
        // `system check --repair` reports what stays.
        if let Err(err) = self.expire_dead_sessions() {
            log::warn!("cleaning up after dead strata processes: {err}");
        }
        Ok(s)
    }

    /// Takes the store lock. The session is created first: creating it needs
    /// the lock too, and flock does not nest across open file descriptions.
    pub(crate) fn lock_store(&self) -> Result<lock::FileLock> {
        self.session()?;
        lock::lock_exclusive(&self.layout.lock())
    }

    /// A fresh, empty staging directory of this session.
    pub(crate) fn staging_dir(&self, what: &str) -> Result<PathBuf> {
        let dir = self.session()?.scratch(what);
        std::fs::create_dir(&dir).map_err(io_err(&dir))?;
        Ok(dir)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Leases end with the handle; the session's files go with its Drop.
        if let Some(s) = self.session.get() {
            for sql in [
                "DELETE FROM layer_leases WHERE session = ?1",
                "DELETE FROM image_leases WHERE session = ?1",
            ] {
                let _ = self.conn.execute(sql, [s.name()]);
            }
        }
    }
}
