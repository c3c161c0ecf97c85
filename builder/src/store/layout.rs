//! Where things live under the store root (see docs/store.md).

use std::path::{Path, PathBuf};

use super::digest::DiffId;

/// Paths of a store root.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether the filesystem holding the store has (next to) no free
    /// blocks or inodes left. Used to name the cause of failures that do
    /// not carry ENOSPC themselves: a RUN whose command failed to write,
    /// SQLite's "disk I/O error" on a full disk. Blocks free to root count
    /// (strata runs as root); 1 MiB of slack covers partial blocks.
    pub fn is_full(&self) -> bool {
        nix::sys::statvfs::statvfs(&self.root).is_ok_and(|s| {
            s.blocks_free().saturating_mul(s.fragment_size()) < (1 << 20) || s.files_free() == 0
        })
    }

    /// The SQLite catalog.
    pub fn catalog(&self) -> PathBuf {
        self.root.join("catalog.db")
    }

    /// flock serialising file changes under `layers/` with their rows.
    pub fn lock(&self) -> PathBuf {
        self.root.join("lock")
    }

    pub fn layers(&self) -> PathBuf {
        self.root.join("layers")
    }

    /// Extracted tree of a layer: `layers/<hex>` (no `:`, so that it can go
    /// into an overlay `lowerdir=a:b` list).
    pub fn layer(&self, diff_id: &DiffId) -> PathBuf {
        self.layers().join(diff_id.hex())
    }

    pub fn blobs(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    pub fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }

    /// Staging: per-process session directories and their lock files.
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Every directory `Store::open` makes sure exists.
    pub fn dirs(&self) -> [PathBuf; 4] {
        [self.layers(), self.blobs(), self.containers(), self.tmp()]
    }
}
