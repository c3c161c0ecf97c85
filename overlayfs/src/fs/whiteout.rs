//! Whiteouts as hard links of one shared whiteout, as kernel overlayfs
//! makes them (`ovl_whiteout`, since Linux 5.8).
//!
//! A whiteout is a 0/0 character device; every one is alike, so they can
//! all be names of one inode. Linking a name costs a directory entry and a
//! link count, where mknod allocates (and unlink later frees) an inode:
//! 10k whiteouts on ext4 took 0.08-0.15 s linked vs 0.19-2.3 s made by
//! mknod (ext4 skips inodes freed in the last minutes when allocating, so
//! a second `rm -rf` right after a tree was deleted paid 2.3 s), and
//! unlinking them took half the time. The shared inode is
//! `<workdir>/strata-whiteout`, replaced at every mount (the kernel keeps
//! its own in `work/work/` the same way), so every upper whiteout counts
//! one link more; nothing reads a whiteout's link count (the layer export
//! checks for whiteouts before hard links).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::copyup::{self, make_whiteout as mknod_whiteout};

/// Name of the shared whiteout in the work dir.
const NAME: &str = "strata-whiteout";

/// The shared whiteout of a mount.
#[derive(Debug)]
pub(crate) struct SharedWhiteout {
    /// `<workdir>/strata-whiteout` (None for a read-only union).
    path: Option<PathBuf>,
    /// Whether `path` holds this mount's whiteout (made at first use).
    made: Mutex<bool>,
    /// Linking failed for a reason other than a full link count (an upper
    /// filesystem that cannot link devices...): one mknod per whiteout
    /// from then on, as the kernel's `no_shared_whiteout`.
    unusable: AtomicBool,
}

impl SharedWhiteout {
    /// The shared whiteout under `work`; a leftover of an earlier mount is
    /// removed (its links in upper stay valid whiteouts). Whatever cannot
    /// be removed there only makes the first whiteout fall back to mknod.
    pub(crate) fn new(work: Option<&Path>) -> Self {
        let path = work.map(|w| w.join(NAME));
        if let Some(p) = &path {
            copyup::remove_any(p);
        }
        SharedWhiteout {
            path,
            made: Mutex::new(false),
            unusable: AtomicBool::new(false),
        }
    }

    /// Creates a whiteout at `path`, failing as mknod would: EEXIST if a
    /// name is there, ENOENT if its directory is missing.
    pub(crate) fn make(&self, path: &Path) -> io::Result<()> {
        let Some(shared) = &self.path else {
            return mknod_whiteout(path);
        };
        if self.unusable.load(Ordering::Relaxed) {
            return mknod_whiteout(path);
        }
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        for _ in 0..2 {
            if !*made {
                match mknod_whiteout(shared) {
                    Ok(()) => *made = true,
                    Err(e) => {
                        self.give_up(&e);
                        break;
                    }
                }
            }
            let Err(e) = std::fs::hard_link(shared, path) else {
                return Ok(());
            };
            match e.raw_os_error() {
                // A name is there: the callers' cue, as from mknod.
                Some(libc::EEXIST) => return Err(e),
                // The link count is full (65000 on ext4): a new shared
                // inode, as the kernel does. Its old links stay whiteouts.
                Some(libc::EMLINK) => match std::fs::remove_file(shared) {
                    Ok(()) => *made = false,
                    Err(e) => {
                        self.give_up(&e);
                        break;
                    }
                },
                // The shared inode is gone (someone emptied the work
                // dir): made again.
                Some(libc::ENOENT) if shared.symlink_metadata().is_err() => *made = false,
                // The directory is missing: mknod says ENOENT, the
                // callers' cue to copy it up.
                Some(libc::ENOENT) => break,
                _ => {
                    self.give_up(&e);
                    break;
                }
            }
        }
        mknod_whiteout(path)
    }

    fn give_up(&self, e: &io::Error) {
        log::debug!("whiteouts: no shared whiteout ({e}), one mknod each");
        self.unusable.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn ino(p: &Path) -> u64 {
        p.symlink_metadata().unwrap().ino()
    }

    /// A full link count (65,000 on ext4) starts a new shared inode; every
    /// name made stays a whiteout. Needs a work dir on a filesystem with a
    /// link limit (ext4, xfs: TMPDIR here); about 1 s.
    #[test]
    fn a_full_link_count_starts_a_new_shared_whiteout() {
        let t = tempfile::tempdir().unwrap();
        let (work, dir) = (t.path().join("work"), t.path().join("upper"));
        std::fs::create_dir(&work).unwrap();
        std::fs::create_dir(&dir).unwrap();
        let w = SharedWhiteout::new(Some(&work));
        w.make(&dir.join("w0")).unwrap();
        let first = ino(&dir.join("w0"));
        let mut n = 1;
        while ino(&dir.join(format!("w{}", n - 1))) == first {
            assert!(n < 100_000, "no link limit on {}", t.path().display());
            w.make(&dir.join(format!("w{n}"))).unwrap();
            n += 1;
        }
        let last = dir.join(format!("w{}", n - 1));
        assert!(crate::markers::is_whiteout(
            &last.symlink_metadata().unwrap()
        ));
        assert_eq!(ino(&last), ino(&work.join(NAME)), "the new shared inode");
        assert!(!w.unusable.load(Ordering::Relaxed));
        assert_eq!(
            w.make(&last).unwrap_err().raw_os_error(),
            Some(libc::EEXIST)
        );
        assert_eq!(
            w.make(&t.path().join("missing/w"))
                .unwrap_err()
                .raw_os_error(),
            Some(libc::ENOENT)
        );
    }
}
