//! What the union keeps in memory, and giving it back: the kernel's
//! FORGET drops nodes, and freed memory returns to the system.

use std::ffi::OsStr;

use fuser::Errno;

use super::{Res, UnionFs};
use crate::mount::Stats;

/// A reference the daemon itself holds on a node, counted like the
/// kernel's: while it lives, no FORGET can remove the node. Walks over
/// names the kernel may not reference (the tree of a renamed directory)
/// pin each node they visit: the kernel may be forgetting it at that very
/// moment, from another thread, which no namespace lock keeps out. Dropping
/// the pin is one more FORGET, so a node the walk registered and nobody
/// else references leaves the table again.
pub(crate) struct Pin<'a> {
    fs: &'a UnionFs,
    ino: u64,
}

impl Pin<'_> {
    pub(crate) fn ino(&self) -> u64 {
        self.ino
    }
}

impl Drop for Pin<'_> {
    fn drop(&mut self) {
        self.fs.forget(self.ino, 1);
    }
}

impl UnionFs {
    /// The kernel dropped `n` references to `ino` (FORGET, BATCH_FORGET;
    /// `n` = 0 re-checks after the last open file of `ino` was closed).
    /// A node nobody references goes unless files are still open on it.
    pub fn forget(&self, ino: u64, n: u64) {
        let mut t = self.table();
        if t.forget(ino, n) && self.files.find(|f| f.ino == ino).is_none() {
            t.remove(ino);
            if t.shrink_if_sparse() {
                // After many files were deleted and forgotten, the daemon
                // returns to its idle size instead of keeping the peak.
                self.want_trim();
            }
        }
    }

    /// `child`, pinned: found again if a FORGET removed the node between
    /// finding and counting it (it is then built anew under the same
    /// inode number). Caller holds `ns` exclusively, and no table lock
    /// when the pin drops.
    pub(crate) fn pinned_child(&self, parent: u64, name: &OsStr) -> Res<Option<Pin<'_>>> {
        for _ in 0..16 {
            let Some(ino) = self.child(parent, name)? else {
                return Ok(None);
            };
            if self.table().inc_lookup(ino) {
                return Ok(Some(Pin { fs: self, ino }));
            }
        }
        Err(Errno::ESTALE)
    }

    pub fn stats(&self) -> Stats {
        let (inodes, keys) = {
            let t = self.table();
            (t.len(), t.key_count())
        };
        Stats {
            inodes,
            keys,
            open_files: self.files.count(),
            open_dirs: self.dirs.count(),
        }
    }
}
