//! What a container changed, read from its upper directory (kernel-overlay
//! format) against the image's layers: `container diff` lines, and the
//! runtime's own mount-point files that `diff` and `commit` leave out.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::error::{Result, io_err};
use super::sys::is_opaque;

/// One line of `container diff`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added(String),
    Changed(String),
    Deleted(String),
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Added(p) => write!(f, "A {p}"),
            Change::Changed(p) => write!(f, "C {p}"),
            Change::Deleted(p) => write!(f, "D {p}"),
        }
    }
}

/// What the runtime adds to a rootfs that lacks it: empty mount-point files
/// for the `/etc` files it bind-mounts, and mount-point directories. Docker
/// keeps these in its init layer, out of `diff` and `commit`. Children come
/// before their parents.
const MOUNT_FILES: [&str; 3] = ["etc/hostname", "etc/hosts", "etc/resolv.conf"];
const MOUNT_DIRS: [&str; 6] = ["dev/pts", "dev/shm", "dev", "proc", "sys", "etc"];

/// Paths (relative to `upper`) that are only the runtime's mount points:
/// empty files the image does not have, and directories holding nothing
/// else (made for them, or copied up only to hold them), children first.
pub fn runtime_mount_points(upper: &Path, lowerdirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = MOUNT_FILES
        .iter()
        .map(PathBuf::from)
        .filter(|rel| {
            upper
                .join(rel)
                .symlink_metadata()
                .is_ok_and(|m| m.is_file() && m.len() == 0)
                && !in_lower(lowerdirs, rel)
        })
        .collect();
    for rel in MOUNT_DIRS.iter().map(PathBuf::from) {
        let dir = upper.join(&rel);
        let only_mount_points = std::fs::read_dir(&dir).is_ok_and(|entries| {
            entries
                .flatten()
                .all(|e| found.contains(&rel.join(e.file_name())))
        });
        if only_mount_points && !is_opaque(&dir) && dir.symlink_metadata().is_ok_and(|m| m.is_dir())
        {
            found.push(rel);
        }
    }
    found
}

/// Whether `rel` exists in the image whose layers are `lowerdirs` (top
/// first): the top-most layer that says anything about it decides, and an
/// opaque directory ends the search below it.
pub fn in_lower(lowerdirs: &[PathBuf], rel: &Path) -> bool {
    for layer in lowerdirs {
        if let Ok(meta) = layer.join(rel).symlink_metadata() {
            return !is_whiteout(&meta);
        }
        // A whiteout or a non-directory at an ancestor hides the path; an
        // opaque ancestor hides everything below this layer.
        let mut hidden = false;
        for anc in rel
            .ancestors()
            .skip(1)
            .filter(|a| !a.as_os_str().is_empty())
        {
            match layer.join(anc).symlink_metadata() {
                Ok(m) if m.is_dir() => {
                    if is_opaque(&layer.join(anc)) {
                        hidden = true;
                    }
                }
                Ok(_) => return false,
                Err(_) => {}
            }
        }
        if hidden {
            return false;
        }
    }
    false
}

fn is_whiteout(meta: &std::fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Docker's `diff`: every entry of the upper, sorted by path, as A (not in
/// the image), C (in the image, changed or a directory with changes) or D
/// (whiteout). Children of an added or opaque directory are all A.
pub fn diff(upper: &Path, lowerdirs: &[PathBuf]) -> Result<Vec<Change>> {
    let skip = runtime_mount_points(upper, lowerdirs);
    let mut out = Vec::new();
    walk(upper, Path::new(""), lowerdirs, false, &skip, &mut out)?;
    out.sort_by(|a, b| path_of(a).cmp(path_of(b)));
    Ok(out)
}

fn path_of(c: &Change) -> &str {
    match c {
        Change::Added(p) | Change::Changed(p) | Change::Deleted(p) => p,
    }
}

fn walk(
    upper: &Path,
    rel: &Path,
    lowerdirs: &[PathBuf],
    hidden_below: bool,
    skip: &[PathBuf],
    out: &mut Vec<Change>,
) -> Result<()> {
    let dir = upper.join(rel);
    let mut entries = std::fs::read_dir(&dir)
        .map_err(io_err(&dir))?
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(io_err(&dir))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let child = rel.join(entry.file_name());
        if skip.contains(&child) {
            continue;
        }
        let path = upper.join(&child);
        let meta = path.symlink_metadata().map_err(io_err(&path))?;
        let shown = format!("/{}", child.display());
        let existed = !hidden_below && in_lower(lowerdirs, &child);
        if is_whiteout(&meta) {
            out.push(Change::Deleted(shown));
            continue;
        }
        out.push(if existed {
            Change::Changed(shown)
        } else {
            Change::Added(shown)
        });
        if meta.is_dir() {
            let hide = !existed || is_opaque(&path);
            walk(upper, &child, lowerdirs, hide, skip, out)?;
        }
    }
    Ok(())
}
