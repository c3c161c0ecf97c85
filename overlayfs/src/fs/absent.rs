//! Names a lookup just found absent, for the create that usually follows.
//!
//! The kernel sends CREATE (and MKDIR, MKNOD, SYMLINK) right after a
//! LOOKUP of the same name answered ENOENT. In a directory merged with
//! lower layers, `create_fast` must know that no lower layer shows the
//! name: the lookup found that out a moment ago, at one or two stats per
//! layer. It stays true: lower layers never change, and the lower layers
//! merged into a directory at a given union path only ever shrink while
//! mounted (copy-up adds upper, a directory made again over a whiteout or
//! moved in by a rename merges with none). A name hidden by a whiteout or
//! a `.wh.` file in upper is fine too: the create then meets the whiteout
//! (EEXIST, the full way) or legitimately shadows what the marker hid.
//! Each note is used once; the set is bounded and also dropped whenever a
//! directory moves or goes, where nobody needs to reason about it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Notes kept at most (one per name looked up and not created yet).
const MAX_NOTES: usize = 4096;

#[derive(Debug, Default)]
pub(crate) struct LowerAbsent {
    paths: Mutex<HashSet<PathBuf>>,
}

impl LowerAbsent {
    /// No lower layer shows union path `path` (a lookup found nothing).
    pub(crate) fn note(&self, path: &Path) {
        let mut paths = self.lock();
        if paths.len() >= MAX_NOTES {
            paths.clear();
        }
        paths.insert(path.to_path_buf());
    }

    /// Whether a lookup noted `path` absent from the lower layers; the note
    /// is used up.
    pub(crate) fn take(&self, path: &Path) -> bool {
        self.lock().remove(path)
    }

    pub(crate) fn clear(&self) {
        let mut paths = self.lock();
        if !paths.is_empty() {
            paths.clear();
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashSet<PathBuf>> {
        // Single inserts and removals: a poisoned set is still consistent.
        self.paths.lock().unwrap_or_else(|p| p.into_inner())
    }
}
