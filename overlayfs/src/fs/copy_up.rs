//! Copy-up of nodes: one object (`copy_up`), or a whole directory tree
//! before a rename (`copy_up_tree`).
//!
//! A copy is staged complete in the scratch dir, then renamed into place.
//! A single copy-up fsyncs the staged file before the rename; a tree
//! copy-up stages every file first, syncs the filesystem once, then renames
//! them all, so that no name in upper ever points at data a crash could
//! lose, without paying one fsync per file.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use fuser::Errno;

use super::memory::Pin;
use super::{Res, UnionFs, errno, key_of, nix_errno};
use crate::copyup;
use crate::layers::Layer;

/// A copy built in the scratch dir, not yet in place.
pub(crate) struct Staged {
    ino: u64,
    tmp: PathBuf,
}

impl UnionFs {
    /// Copies `ino` up if it lives in a lower layer. Caller holds `ns`
    /// exclusively. A lower hard link goes to the index and its known
    /// names are linked to the copy, so the link survives (names looked up
    /// later, even after a remount, join it in `child_impl`).
    pub(crate) fn copy_up(&self, ino: u64) -> Res<()> {
        match self.stage_copy_up(ino, true)? {
            Some(staged) => self.finish_copy_up(staged),
            None => Ok(()),
        }
    }

    fn stage_copy_up(&self, ino: u64, durable: bool) -> Res<Option<Staged>> {
        let node = self.node(ino)?;
        if node.layer == Layer::Upper {
            return Ok(None);
        }
        let path = node.path().ok_or(Errno::ENOENT)?.to_path_buf();
        self.ensure_upper_dir(path.parent().unwrap_or(Path::new("")))?;
        self.stage_data(ino, durable)
    }

    /// Builds the copy of lower object `ino` in the scratch dir, touching
    /// nothing anyone can see: callers may hold `ns` shared only, since a
    /// lower object never changes. Installing it needs `ns` exclusive
    /// (`install_staged`).
    pub(crate) fn stage_data(&self, ino: u64, durable: bool) -> Res<Option<Staged>> {
        let node = self.node(ino)?;
        if node.layer == Layer::Upper {
            return Ok(None);
        }
        let src = self.stack.path(node.layer, &node.src);
        let tmp = self.tmp_path()?;
        copyup::copy_to_work(&src, &tmp, durable).map_err(errno)?;
        Ok(Some(Staged { ino, tmp }))
    }

    /// Puts a copy staged under the shared lock in place (parents first).
    /// Caller holds `ns` exclusively. If `ino` went up meanwhile (another
    /// copy-up, a directory rename), the staged copy is dropped; if it lost
    /// its name, so does the copy-up.
    pub(crate) fn install_staged(&self, staged: Staged) -> Res<()> {
        let node = match self.node(staged.ino) {
            Ok(n) if n.layer != Layer::Upper => n,
            other => {
                copyup::remove_any(&staged.tmp);
                return other.map(|_| ());
            }
        };
        let parent = node
            .path()
            .map(|p| p.parent().unwrap_or(Path::new("")).to_path_buf());
        let res = match parent {
            Some(parent) => self.ensure_upper_dir(&parent),
            None => Err(Errno::ENOENT),
        };
        if let Err(e) = res {
            copyup::remove_any(&staged.tmp);
            return Err(e);
        }
        self.finish_copy_up(staged)
    }

    fn finish_copy_up(&self, staged: Staged) -> Res<()> {
        let res = self.install_copy(staged.ino, &staged.tmp);
        if matches!(res, Ok(true)) {
            // Link count, ctime, blocks (and a directory's merged link
            // count) may differ from what the kernel cached.
            self.attrs_changed(staged.ino);
        } else {
            // Failed, or a second name of a hard link staged it twice.
            copyup::remove_any(&staged.tmp);
        }
        res.map(|_| ())
    }

    /// Renames the staged copy `tmp` of `ino` into place and records it.
    /// Returns false (`tmp` unused) if `ino` is already up.
    fn install_copy(&self, ino: u64, tmp: &Path) -> Res<bool> {
        let node = self.node(ino)?;
        if node.layer == Layer::Upper {
            return Ok(false);
        }
        let path = node.path().ok_or(Errno::ENOENT)?.to_path_buf();
        let parent = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let src = self.stack.path(node.layer, &node.src);
        let dst = self.stack.upper_path(&path);
        let lower_meta = src.symlink_metadata().map_err(errno)?;
        if let Some(entry) = self.index_name(node.layer, &lower_meta) {
            // A lower hard link: the copy goes to the index and every
            // known name is linked to it (see `index`).
            let (_, bias, linked) =
                self.install_indexed(tmp, &entry, lower_meta.nlink(), &node.aliases)?;
            let meta = dst.symlink_metadata().map_err(errno)?;
            let mut t = self.table();
            // The lower key stays: readdir numbers the other lower names
            // like the copy they join when looked up.
            t.add_key(ino, key_of(&meta));
            for alias in node.aliases.iter().filter(|a| !linked.contains(a)) {
                t.remove_alias(ino, alias);
            }
            if let Some(n) = t.get_mut(ino) {
                n.nlink_bias = bias;
                n.index = Some(entry.into_boxed_os_str());
                n.layer = Layer::Upper;
                n.src = path;
            }
            return Ok(true);
        }
        // Kernel overlayfs keeps the parent's times across a copy-up.
        let parent_upper = self.stack.upper_path(&parent);
        let parent_meta = parent_upper.symlink_metadata().map_err(errno)?;
        copyup::rename2(tmp, &dst, nix::fcntl::RenameFlags::RENAME_NOREPLACE).map_err(errno)?;
        // The copy is in place: record it.
        let meta = dst.symlink_metadata().map_err(errno)?;
        {
            let mut t = self.table();
            t.release_keys(ino);
            t.add_key(ino, key_of(&meta));
            if let Some(n) = t.get_mut(ino) {
                n.nlink_bias = 0;
                n.layer = Layer::Upper;
                n.src = path;
                if n.is_dir() {
                    n.merged.insert(0, Layer::Upper);
                    self.stack.upper_markers.made_empty(&n.src);
                }
            }
        }
        copyup::set_times(&parent_upper, &parent_meta).map_err(errno)?;
        Ok(true)
    }

    /// Copies up `ino` and, for a directory, everything visible under it,
    /// so the tree no longer depends on its lower layers (directory rename).
    /// The kernel holds `ino` (the renamed directory), not its
    /// descendants: the walk pins each until the end (`Pin`).
    pub(crate) fn copy_up_tree(&self, ino: u64) -> Res<()> {
        let mut staged = Vec::new();
        let mut pins = Vec::new();
        let mut res = self.stage_tree(ino, &mut staged, &mut pins);
        if res.is_ok() && !staged.is_empty() {
            res = self.sync_scratch();
        }
        for s in staged {
            if res.is_ok() {
                res = self.finish_copy_up(s);
            } else {
                copyup::remove_any(&s.tmp);
            }
        }
        // After every copy is in place: a pin dropped earlier could let
        // an unreferenced node go before its copy was recorded.
        drop(pins);
        res
    }

    /// Directories go up at once (their children need a parent; they hold
    /// no data to sync); other objects are staged into `staged`, and each
    /// child visited is pinned into `pins`.
    fn stage_tree<'a>(
        &'a self,
        ino: u64,
        staged: &mut Vec<Staged>,
        pins: &mut Vec<Pin<'a>>,
    ) -> Res<()> {
        let node = self.node(ino)?;
        if !node.is_dir() {
            staged.extend(self.stage_copy_up(ino, false)?);
            return Ok(());
        }
        self.copy_up(ino)?;
        if self.node(ino)?.merged.len() == 1 {
            return Ok(());
        }
        for entry in self.merged_listing(ino)? {
            if let Some(pin) = self.pinned_child(ino, &entry.name)? {
                let child = pin.ino();
                pins.push(pin);
                self.stage_tree(child, staged, pins)?;
            }
        }
        Ok(())
    }

    /// Flushes the upper filesystem (where the scratch dir lives).
    fn sync_scratch(&self) -> Res<()> {
        let dir = std::fs::File::open(self.tmp_path()?.parent().unwrap_or(Path::new("/")))
            .map_err(errno)?;
        nix::unistd::syncfs(&dir).map_err(nix_errno)
    }
}
