//! The index of copied-up lower hard links (kernel overlayfs `index=on`).
//!
//! A lower file with several names is copied up once, into
//! `<workdir>/strata-index/<entry>`, and each union name of it becomes an
//! upper hard link of that entry: at copy-up for the names the table knows,
//! later (`join`) for a name looked up after it, in this mount or after a
//! remount. The entry is named after the lower object (layer counted from
//! the bottom, inode number), so a lookup of any lower name finds it.
//!
//! The union's link count of such a file is the upper `st_nlink` (the index
//! entry, plus every upper name) plus a bias kept on the inode in the
//! kernel's own xattr and format: `trusted.overlay.nlink` = "U%+i", union
//! nlink minus upper nlink. The union count starts at the lower link count
//! (every lower name is a union name until removed); joining a name adds an upper link
//! and no union link (bias - 1); link, unlink and rename-over of a name in
//! upper move both counts together. So a name is always joined (linked in
//! upper) before it is removed, and unlinking a lower hard link copies it
//! up first, as the kernel does (`ovl_nlink_start`). When the union count
//! reaches 0 the index entry goes too.
//!
//! Invariants: an upper object with `trusted.overlay.strata.index` is linked
//! from that index entry; `Node::index` is set exactly for such objects.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use fuser::{Errno, FileType};

use super::{Res, UnionFs, errno, key_of};
use crate::copyup;
use crate::layers::Layer;
use crate::sys;
use crate::table::Node;

/// The kernel's union link count xattr ("U%+i": relative to upper nlink).
const NLINK_XATTR: &str = "trusted.overlay.nlink";
/// Name of the index entry an upper object is linked from (ours: the
/// kernel's `trusted.overlay.origin` holds a lower file handle instead).
const INDEX_XATTR: &str = "trusted.overlay.strata.index";

/// Name of the index dir under the workdir. Not the kernel's `index`: its
/// entries are named by file handles, and a kernel mounted with `index=on`
/// refuses a workdir whose index holds entries it cannot decode.
pub(crate) const INDEX_DIR: &str = "strata-index";

/// The bias in the kernel's format; None for anything else (the kernel's
/// "L%+i", relative to the lower nlink, is written only for its own
/// index entries).
fn parse_bias(value: &[u8]) -> Option<i64> {
    let rest = value.strip_prefix(b"U")?;
    std::str::from_utf8(rest).ok()?.parse().ok()
}

fn format_bias(bias: i64) -> String {
    format!("U{bias:+}")
}

/// The bias and index entry recorded on upper object `path`.
fn read_state(path: &Path) -> (i64, Option<Box<OsStr>>) {
    let bias = sys::lgetxattr(path, OsStr::new(NLINK_XATTR))
        .ok()
        .and_then(|v| parse_bias(&v))
        .unwrap_or(0);
    let index = sys::lgetxattr(path, OsStr::new(INDEX_XATTR))
        .ok()
        .filter(|v| !v.is_empty() && !v.contains(&b'/'))
        .map(|v| OsStr::from_bytes(&v).into());
    (bias, index)
}

fn write_bias(path: &Path, bias: i64) -> Res<()> {
    sys::lsetxattr(
        path,
        OsStr::new(NLINK_XATTR),
        format_bias(bias).as_bytes(),
        0,
    )
    .map_err(errno)
}

/// Removes the entries of index dir `dir` that no union name uses any more
/// (left by a crash between removing the last name and the entry; the
/// kernel cleans its index at mount too). Entries with no count are kept.
pub(crate) fn clean(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Ok(meta) = path.symlink_metadata() else {
            continue;
        };
        let (bias, _) = read_state(&path);
        if meta.nlink() as i64 + bias <= 0 {
            // Harmless if it stays (no name reaches it): warn, mount anyway.
            match std::fs::remove_file(&path) {
                Ok(()) => log::info!("{}: removed an unused index entry", path.display()),
                Err(e) => log::warn!("{}: removing an unused index entry: {e}", path.display()),
            }
        }
    }
    Ok(())
}

impl UnionFs {
    /// The index entry name of lower object `meta` found in `layer`, if it
    /// is a hard link that copy-up must index (a non-directory with
    /// several links, as the kernel's `ovl_need_index`) and the union has
    /// an index.
    pub(crate) fn index_name(&self, layer: Layer, meta: &std::fs::Metadata) -> Option<OsString> {
        let Layer::Lower(i) = layer else {
            return None;
        };
        if self.index_dir.is_none() || meta.is_dir() || meta.nlink() < 2 {
            return None;
        }
        // Counted from the bottom: stacking more layers on top keeps it.
        let depth = self.stack.lowers.len() - 1 - i;
        Some(OsString::from(format!("L{depth}-{:x}", meta.ino())))
    }

    pub(crate) fn index_path(&self, name: &OsStr) -> Option<PathBuf> {
        self.index_dir.as_ref().map(|d| d.join(name))
    }

    /// Whether removing a name of `ino` must copy it up first: a lower
    /// hard link, whose union link count can only be kept in upper.
    pub(crate) fn needs_index(&self, ino: u64) -> Res<bool> {
        let node = self.node(ino)?;
        if node.layer == Layer::Upper
            || node.is_dir()
            || self.index_dir.is_none()
            || node.lower_nlink == 1
        {
            return Ok(false);
        }
        let meta = self
            .stack
            .path(node.layer, &node.src)
            .symlink_metadata()
            .map_err(errno)?;
        Ok(self.index_name(node.layer, &meta).is_some())
    }

    /// Copy-up of an indexed hard link: moves the staged copy `tmp` into
    /// the index with its union link count, then links it at `names` (the
    /// first must succeed, else the entry is removed again). Returns the
    /// index path and the bias once linked; names that failed to link are
    /// left out of `names` in the result (they join when looked up again).
    pub(crate) fn install_indexed(
        &self,
        tmp: &Path,
        entry: &OsStr,
        lower_nlink: u64,
        names: &[PathBuf],
    ) -> Res<(PathBuf, i64, Vec<PathBuf>)> {
        let ipath = self.index_path(entry).ok_or(Errno::EROFS)?;
        // Before anyone can see it: the union count with no name linked yet.
        sys::lsetxattr(tmp, OsStr::new(INDEX_XATTR), entry.as_bytes(), 0).map_err(errno)?;
        let mut bias = lower_nlink as i64 - 1;
        write_bias(tmp, bias)?;
        copyup::rename2(tmp, &ipath, nix::fcntl::RenameFlags::RENAME_NOREPLACE).map_err(errno)?;
        let mut linked = Vec::new();
        for (i, name) in names.iter().enumerate() {
            match self.link_name(&ipath, name) {
                Ok(()) => {
                    bias -= 1;
                    linked.push(name.clone());
                }
                Err(e) if i == 0 => {
                    copyup::remove_any(&ipath);
                    return Err(e);
                }
                Err(e) => {
                    log::warn!("{}: linking to the copy-up failed: {e:?}", name.display());
                }
            }
        }
        write_bias(&ipath, bias)?;
        Ok((ipath, bias, linked))
    }

    /// Links union path `name` (in upper) to the existing object `from`,
    /// keeping the upper parent's times (the kernel's `ovl_link_up` does
    /// too: the union directory did not change).
    fn link_name(&self, from: &Path, name: &Path) -> Res<()> {
        let parent = name.parent().unwrap_or(Path::new(""));
        self.ensure_upper_dir(parent)?;
        let parent_upper = self.stack.upper_path(parent);
        let parent_meta = parent_upper.symlink_metadata().map_err(errno)?;
        std::fs::hard_link(from, self.stack.upper_path(name)).map_err(errno)?;
        copyup::set_times(&parent_upper, &parent_meta).map_err(errno)
    }

    /// The index entry of lower object `meta` (at union path `path`,
    /// found in `layer`), if that object was copied up already.
    pub(crate) fn indexed_copy(&self, layer: Layer, meta: &std::fs::Metadata) -> Option<PathBuf> {
        let entry = self.index_name(layer, meta)?;
        let ipath = self.index_path(&entry)?;
        ipath.symlink_metadata().is_ok().then_some(ipath)
    }

    /// A lower name of a copied-up hard link joins the copy: it is linked
    /// in upper to the index entry and becomes one more name of its inode.
    /// Caller holds `ns` exclusively.
    pub(crate) fn join(&self, ipath: &Path, lower: &std::fs::Metadata, path: &Path) -> Res<u64> {
        self.link_name(ipath, path)?;
        let (bias, entry) = read_state(ipath);
        let bias = bias - 1;
        write_bias(ipath, bias)?;
        let meta = ipath.symlink_metadata().map_err(errno)?;
        let kind = FileType::from_std(meta.file_type()).unwrap_or(FileType::RegularFile);
        let mut node = Node::new(kind, Layer::Upper, path.to_path_buf(), vec![Layer::Upper]);
        node.index = entry.clone();
        let mut t = self.table();
        let ino = t.insert_found(path, key_of(&meta), node);
        if let Some(n) = t.get_mut(ino) {
            n.nlink_bias = bias;
            n.index = entry;
        }
        // Readdir numbers the other lower names like the copy.
        t.add_key(ino, key_of(lower));
        Ok(ino)
    }

    /// Link state of an upper object being registered: only a hard link
    /// can be indexed (the entry is one of its links).
    pub(crate) fn upper_link_state(&self, path: &Path, meta: &std::fs::Metadata, node: &mut Node) {
        if meta.is_dir() || meta.nlink() < 2 {
            return;
        }
        let (bias, index) = read_state(path);
        node.nlink_bias = bias;
        node.index = index.filter(|_| self.index_dir.is_some());
    }

    /// After a name of `ino` was removed: when the union has no name of it
    /// left, its index entry goes, and with it the node's keys.
    pub(crate) fn release_index_if_unused(&self, ino: u64) {
        let node = match self.node(ino) {
            Ok(n) => n,
            Err(_) => return,
        };
        let Some(ipath) = node.index.as_deref().and_then(|e| self.index_path(e)) else {
            return;
        };
        let Ok(meta) = ipath.symlink_metadata() else {
            return;
        };
        if meta.nlink() as i64 + node.nlink_bias > 0 {
            return;
        }
        if let Err(e) = std::fs::remove_file(&ipath) {
            log::warn!("{}: removing an unused index entry: {e}", ipath.display());
            return;
        }
        let mut t = self.table();
        if let Some(n) = t.get_mut(ino) {
            n.index = None;
            n.nlink_bias = 0;
        }
        if node.unlinked() {
            t.release_keys(ino);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bias_uses_the_kernel_format() {
        assert_eq!(format_bias(2), "U+2");
        assert_eq!(format_bias(-1), "U-1");
        assert_eq!(format_bias(0), "U+0");
        for b in [-3, -1, 0, 1, 7] {
            assert_eq!(parse_bias(format_bias(b).as_bytes()), Some(b));
        }
        assert_eq!(parse_bias(b"L+1"), None);
        assert_eq!(parse_bias(b"garbage"), None);
    }
}
