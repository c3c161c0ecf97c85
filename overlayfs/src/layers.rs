//! The layer stack and name resolution through it.
//!
//! Every object of the union lives at the same relative path in each layer
//! that holds it (no `redirect_dir`): renaming a directory that has lower
//! parts copies its tree up instead (see `fs::rename`).

use std::ffi::OsStr;
use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};

use crate::dirindex::DirIndexes;
use crate::markers;
use crate::upper_markers::UpperMarkers;

/// One layer of the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    /// The writable layer.
    Upper,
    /// A read-only layer; 0 is the top-most.
    Lower(usize),
}

/// The directories that make up the union.
#[derive(Debug)]
pub struct Stack {
    pub upper: Option<PathBuf>,
    pub work: Option<PathBuf>,
    pub lowers: Vec<PathBuf>,
    /// Name indexes of directories merged from many lower layers.
    pub index: DirIndexes,
    /// `.wh.` files of upper directories, listed once per directory.
    pub upper_markers: UpperMarkers,
}

/// A name found in the stack.
#[derive(Debug)]
pub struct Found {
    /// Top-most layer holding the object (its metadata and data come from there).
    pub layer: Layer,
    pub meta: Metadata,
    /// For a directory, every layer merged into it, top-most first (starts
    /// with `layer`); a single element otherwise.
    pub merged: Vec<Layer>,
}

/// ENOENT and ENOTDIR both mean "not in this layer".
pub fn is_absent(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR))
}

impl Stack {
    pub fn root(&self, layer: Layer) -> &Path {
        match layer {
            Layer::Upper => self.upper.as_deref().unwrap_or(Path::new("/nonexistent")),
            Layer::Lower(i) => &self.lowers[i],
        }
    }

    /// Absolute path of relative union path `rel` in `layer`.
    pub fn path(&self, layer: Layer, rel: &Path) -> PathBuf {
        if rel.as_os_str().is_empty() {
            self.root(layer).to_path_buf()
        } else {
            self.root(layer).join(rel)
        }
    }

    pub fn upper_path(&self, rel: &Path) -> PathBuf {
        self.path(Layer::Upper, rel)
    }

    /// All layers, top-most first.
    pub fn all_layers(&self) -> Vec<Layer> {
        let upper = self.upper.iter().map(|_| Layer::Upper);
        upper
            .chain((0..self.lowers.len()).map(Layer::Lower))
            .collect()
    }

    /// Resolves the root directory: the layers merged into it.
    pub fn resolve_root(&self) -> io::Result<Found> {
        let mut layers = self.all_layers().into_iter();
        let top = layers
            .next()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
        let meta = self.root(top).metadata()?;
        let mut merged = vec![top];
        if !markers::is_opaque_dir(self.root(top)) {
            for l in layers {
                merged.push(l);
                if markers::is_opaque_dir(self.root(l)) {
                    break;
                }
            }
        }
        Ok(Found {
            layer: top,
            meta,
            merged,
        })
    }

    /// Looks `name` up in the directory `dir` whose merged layers are
    /// `dir_layers`. A whiteout in a layer hides the name in every layer
    /// below; an opaque directory stops merging with the layers below; a
    /// non-directory hides everything below it.
    pub fn resolve(
        &self,
        dir_layers: &[Layer],
        dir: &Path,
        name: &OsStr,
    ) -> io::Result<Option<Found>> {
        if markers::is_marker_name(name) {
            return Ok(None);
        }
        let narrowed = self.index.candidates(self, dir_layers, dir, name)?;
        let dir_layers = &*narrowed;
        let rel = dir.join(name);
        let mut found: Option<Found> = None;
        for &layer in dir_layers {
            let p = self.path(layer, &rel);
            match p.symlink_metadata() {
                Ok(m) if markers::is_whiteout(&m) => break,
                Ok(m) => match &mut found {
                    None => {
                        let stop = !m.is_dir() || markers::is_opaque_dir(&p);
                        found = Some(Found {
                            layer,
                            meta: m,
                            merged: vec![layer],
                        });
                        if stop {
                            break;
                        }
                    }
                    Some(f) => {
                        if !m.is_dir() {
                            break;
                        }
                        f.merged.push(layer);
                        if markers::is_opaque_dir(&p) {
                            break;
                        }
                    }
                },
                Err(e) if is_absent(&e) => {
                    if self.has_marker(layer, dir, name) {
                        break;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(found)
    }

    /// Whether `layer` holds a `.wh.<name>` file in directory `dir`. The
    /// upper layer answers from its listed set (`upper_markers.rs`).
    fn has_marker(&self, layer: Layer, dir: &Path, name: &OsStr) -> bool {
        // A directory we may not list (search but no read permission, for
        // a daemon without CAP_DAC_OVERRIDE) is asked name by name.
        if layer == Layer::Upper
            && let Ok(hidden) = self.upper_markers.hides(&self.path(layer, dir), dir, name)
        {
            return hidden;
        }
        let marker = self.path(layer, &dir.join(markers::whiteout_file_name(name)));
        marker.symlink_metadata().is_ok()
    }

    /// Whether a lower layer shows something at `dir/name` (ignoring the
    /// upper layer): if so, removing the name needs a whiteout in upper.
    pub fn lower_has(&self, dir_layers: &[Layer], dir: &Path, name: &OsStr) -> io::Result<bool> {
        let lowers: Vec<Layer> = dir_layers
            .iter()
            .copied()
            .filter(|l| *l != Layer::Upper)
            .collect();
        Ok(self.resolve(&lowers, dir, name)?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn stack(tmp: &Path, n: usize) -> Stack {
        let lowers: Vec<PathBuf> = (0..n).map(|i| tmp.join(format!("l{i}"))).collect();
        for l in &lowers {
            fs::create_dir_all(l).unwrap();
        }
        fs::create_dir_all(tmp.join("u")).unwrap();
        Stack {
            upper: Some(tmp.join("u")),
            work: None,
            lowers,
            index: DirIndexes::default(),
            upper_markers: UpperMarkers::default(),
        }
    }

    #[test]
    fn top_most_wins_and_dirs_merge() {
        let t = tempfile::tempdir().unwrap();
        let s = stack(t.path(), 2);
        fs::write(t.path().join("l0/f"), "top").unwrap();
        fs::write(t.path().join("l1/f"), "bottom").unwrap();
        fs::create_dir(t.path().join("l0/d")).unwrap();
        fs::create_dir(t.path().join("l1/d")).unwrap();
        let all = s.all_layers();
        let f = s
            .resolve(&all, Path::new(""), OsStr::new("f"))
            .unwrap()
            .unwrap();
        assert_eq!(f.layer, Layer::Lower(0));
        let d = s
            .resolve(&all, Path::new(""), OsStr::new("d"))
            .unwrap()
            .unwrap();
        assert_eq!(d.merged, vec![Layer::Lower(0), Layer::Lower(1)]);
    }

    #[test]
    fn whiteout_file_marker_hides_lower() {
        let t = tempfile::tempdir().unwrap();
        let s = stack(t.path(), 2);
        fs::write(t.path().join("l0/.wh.f"), "").unwrap();
        fs::write(t.path().join("l1/f"), "x").unwrap();
        let all = s.all_layers();
        assert!(
            s.resolve(&all, Path::new(""), OsStr::new("f"))
                .unwrap()
                .is_none()
        );
        assert!(
            s.resolve(&all, Path::new(""), OsStr::new(".wh.f"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn opaque_marker_file_stops_merge() {
        let t = tempfile::tempdir().unwrap();
        let s = stack(t.path(), 2);
        fs::create_dir(t.path().join("l0/d")).unwrap();
        fs::write(t.path().join("l0/d/.wh..wh..opq"), "").unwrap();
        fs::create_dir(t.path().join("l1/d")).unwrap();
        let d = s
            .resolve(&s.all_layers(), Path::new(""), OsStr::new("d"))
            .unwrap()
            .unwrap();
        assert_eq!(d.merged, vec![Layer::Lower(0)]);
    }

    #[test]
    fn file_above_dir_hides_it() {
        let t = tempfile::tempdir().unwrap();
        let s = stack(t.path(), 2);
        fs::create_dir(t.path().join("u/x")).unwrap();
        fs::write(t.path().join("l0/x"), "").unwrap();
        fs::create_dir(t.path().join("l1/x")).unwrap();
        let d = s
            .resolve(&s.all_layers(), Path::new(""), OsStr::new("x"))
            .unwrap()
            .unwrap();
        assert_eq!(d.merged, vec![Layer::Upper]);
        assert!(
            s.lower_has(&s.all_layers(), Path::new(""), OsStr::new("x"))
                .unwrap()
        );
    }
}
