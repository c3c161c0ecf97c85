//! Filesystem helpers of the executor: staging dirs that clean up after
//! themselves, looking a path up through an image's layers without mounting
//! them, parent directories of a new layer, time clamping.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::time::TimeVal;

use super::error::{Result, io_err};

/// A staging directory removed (recursively) when dropped. Anything mounted
/// inside must be unmounted first: declare the mount guard after this.
pub struct Scratch(pub PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `path` (absolute or relative, in the image) as a clean relative path;
/// empty for `/`.
pub fn image_rel(path: &str) -> PathBuf {
    let clean = crate::dockerfile::ignore::clean(&format!("/{path}"));
    PathBuf::from(clean.trim_start_matches('/'))
}

/// The metadata of `rel` in the union of `lowerdirs` (top-most first):
/// the first layer holding it wins; a whiteout hides it. Opaque directories
/// are not needed here: callers only ask whether something exists and what
/// it is, which the top-most entry decides.
pub fn lookup(lowerdirs: &[PathBuf], rel: &Path) -> Option<(PathBuf, fs::Metadata)> {
    for dir in lowerdirs {
        let p = dir.join(rel);
        if let Ok(m) = fs::symlink_metadata(&p) {
            if m.file_type().is_char_device() && m.rdev() == 0 {
                return None;
            }
            return Some((p, m));
        }
    }
    None
}

/// `rel` with every symlink of the image resolved inside the image, as
/// Docker resolves a COPY/ADD destination (FollowSymlinkInScope): the image
/// is `layers` (top-most first, the new layer included); an absolute target
/// starts again at the image root and `..` stops there, so `/x -> /` or
/// `/x -> ../../..` can never name a host path. `None` after 40 links (ELOOP).
pub fn resolve_in_image(layers: &[PathBuf], rel: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let mut todo: Vec<PathBuf> = rel
        .components()
        .rev()
        .map(|c| PathBuf::from(c.as_os_str()))
        .collect();
    let mut out = PathBuf::new();
    let mut links = 0;
    while let Some(part) = todo.pop() {
        match part.components().next() {
            Some(Component::Normal(_)) => {}
            Some(Component::ParentDir) => {
                out.pop();
                continue;
            }
            _ => continue, // `.` and `/`
        }
        let next = out.join(&part);
        let target = lookup(layers, &next)
            .filter(|(_, m)| m.file_type().is_symlink())
            .and_then(|(p, _)| fs::read_link(p).ok());
        match target {
            Some(target) => {
                links += 1;
                if links > 40 {
                    return None;
                }
                if target.is_absolute() {
                    out = PathBuf::new();
                }
                todo.extend(
                    target
                        .components()
                        .rev()
                        .map(|c| PathBuf::from(c.as_os_str())),
                );
            }
            None => out = next,
        }
    }
    Some(out)
}

/// Whether `rel` is a directory in the image (symlinks not followed).
pub fn is_dir_in(lowerdirs: &[PathBuf], rel: &Path) -> bool {
    lookup(lowerdirs, rel).is_some_and(|(_, m)| m.is_dir())
}

/// Creates the parents of `rel` in `layer`, each with the mode, owner and
/// mtime it has in the image (so the new layer does not change them), or
/// root 0755 when the image lacks it.
pub fn make_parents(layer: &Path, lowerdirs: &[PathBuf], rel: &Path) -> Result<()> {
    let mut cur = PathBuf::new();
    if let Some(parent) = rel.parent() {
        for c in parent.components() {
            cur.push(c);
            make_dir_like(layer, lowerdirs, &cur)?;
        }
    }
    Ok(())
}

/// Creates directory `rel` in `layer` as the image has it (see make_parents).
pub fn make_dir_like(layer: &Path, lowerdirs: &[PathBuf], rel: &Path) -> Result<()> {
    let p = layer.join(rel);
    if fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
        return Ok(());
    }
    fs::create_dir(&p).map_err(io_err(&p))?;
    match lookup(lowerdirs, rel) {
        Some((_, m)) if m.is_dir() => {
            set_meta(&p, m.mode() & 0o7777, m.uid(), m.gid(), Some(m.mtime()))
        }
        _ => set_meta(&p, 0o755, 0, 0, None),
    }
}

/// Sets mode (not on symlinks), owner and optionally mtime of `p`.
pub fn set_meta(p: &Path, mode: u32, uid: u32, gid: u32, mtime: Option<i64>) -> Result<()> {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid)).map_err(io_err(p))?;
    let meta = fs::symlink_metadata(p).map_err(io_err(p))?;
    if !meta.file_type().is_symlink() {
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).map_err(io_err(p))?;
    }
    if let Some(t) = mtime {
        set_mtime(p, t)?;
    }
    Ok(())
}

/// Sets atime and mtime of `p` (not following a symlink).
pub fn set_mtime(p: &Path, secs: i64) -> Result<()> {
    let tv = TimeVal::new(secs, 0);
    nix::sys::stat::lutimes(p, &tv, &tv)
        .map_err(|e| io_err(p)(std::io::Error::from_raw_os_error(e as i32)))
}

/// SOURCE_DATE_EPOCH: every time in `dir` later than `epoch` becomes `epoch`.
pub fn clamp_times(dir: &Path, epoch: i64) -> Result<()> {
    for e in fs::read_dir(dir).map_err(io_err(dir))? {
        let e = e.map_err(io_err(dir))?;
        let p = e.path();
        let m = fs::symlink_metadata(&p).map_err(io_err(&p))?;
        if m.is_dir() {
            clamp_times(&p, epoch)?;
        }
        if m.mtime() > epoch {
            set_mtime(&p, epoch)?;
        }
    }
    let m = fs::symlink_metadata(dir).map_err(io_err(dir))?;
    if m.mtime() > epoch {
        set_mtime(dir, epoch)?;
    }
    Ok(())
}

/// The content of `rel` in the image, "" when missing (passwd, group).
pub fn read_in(lowerdirs: &[PathBuf], rel: &str) -> String {
    lookup(lowerdirs, Path::new(rel))
        .and_then(|(p, _)| fs::read_to_string(p).ok())
        .unwrap_or_default()
}
