//! What the union keeps in memory, and giving it back: the kernel's
//! FORGET drops nodes, and freed memory returns to the system.

use super::UnionFs;
use crate::mount::Stats;

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
