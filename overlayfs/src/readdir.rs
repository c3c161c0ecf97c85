//! Merging the listings of the layers of a directory.
//!
//! The merge is a pure function over per-layer listings (top-most first):
//! the first layer naming an entry wins, whiteouts (0/0 char devices and
//! `.wh.<name>` files) hide the name in the layers below, and markers are
//! never listed.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use fuser::FileType;

use crate::layers::Layer;
use crate::{layers, markers};

/// One name in one layer's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw {
    pub name: OsString,
    /// `None` for a whiteout of `name`.
    pub kind: Option<FileType>,
    /// Backing inode number (st_ino) in that layer.
    pub ino: u64,
}

/// One visible entry of a merged directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: OsString,
    pub kind: FileType,
    pub ino: u64,
    /// The layer the listing found it in (None for `.` and `..`).
    pub layer: Option<Layer>,
}

/// A visible entry and the layer it comes from, before inode numbering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub name: OsString,
    pub kind: FileType,
    pub layer: Layer,
    pub backing_ino: u64,
}

pub fn merge(listings: Vec<(Layer, Vec<Raw>)>) -> Vec<Merged> {
    let mut seen: HashSet<OsString> = HashSet::new();
    let mut out = Vec::new();
    for (layer, raws) in listings {
        let mut hidden_here = Vec::new();
        for raw in raws {
            if seen.contains(&raw.name) {
                continue;
            }
            match raw.kind {
                // A whiteout hides the name below, not beside it: collect and apply after the layer.
                None => hidden_here.push(raw.name),
                Some(kind) => {
                    seen.insert(raw.name.clone());
                    out.push(Merged {
                        name: raw.name,
                        kind,
                        layer,
                        backing_ino: raw.ino,
                    });
                }
            }
        }
        seen.extend(hidden_here);
    }
    out
}

fn kind_of(meta: &std::fs::Metadata) -> Option<FileType> {
    FileType::from_std(meta.file_type())
}

/// Reads one layer's directory `dir` as raw entries (markers turned into
/// whiteouts, the opaque marker dropped). A missing directory is empty.
pub fn read_layer(dir: &Path) -> io::Result<Vec<Raw>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if layers::is_absent(&e) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for ent in rd {
        let ent = ent?;
        let name = ent.file_name();
        if markers::is_marker_name(&name) {
            if let Some(target) = markers::whiteout_target(&name) {
                out.push(Raw {
                    name: target.to_os_string(),
                    kind: None,
                    ino: 0,
                });
            }
            continue;
        }
        let ft = ent.file_type()?;
        let ino = std::os::unix::fs::DirEntryExt::ino(&ent);
        let kind = if ft.is_char_device() || FileType::from_std(ft).is_none() {
            match ent.path().symlink_metadata() {
                Ok(m) if markers::is_whiteout(&m) => None,
                Ok(m) => kind_of(&m),
                Err(e) if layers::is_absent(&e) => continue,
                Err(e) => return Err(e),
            }
        } else {
            FileType::from_std(ft)
        };
        out.push(Raw { name, kind, ino });
    }
    Ok(out)
}

/// Whether a name is too long for the layers (ENAMETOOLONG).
pub fn name_too_long(name: &OsStr) -> bool {
    name.as_bytes().len() > 255
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(name: &str, kind: Option<FileType>) -> Raw {
        Raw {
            name: name.into(),
            kind,
            ino: 7,
        }
    }

    #[test]
    fn merge_hides_whiteouts_and_duplicates() {
        let f = Some(FileType::RegularFile);
        let listings = vec![
            (Layer::Upper, vec![raw("a", f), raw("gone", None)]),
            (
                Layer::Lower(0),
                vec![
                    raw("a", Some(FileType::Directory)),
                    raw("gone", f),
                    raw("b", f),
                ],
            ),
            (Layer::Lower(1), vec![raw("b", None), raw("c", f)]),
        ];
        let names: Vec<(String, Layer)> = merge(listings)
            .into_iter()
            .map(|m| (m.name.to_string_lossy().into_owned(), m.layer))
            .collect();
        assert_eq!(
            names,
            vec![
                ("a".into(), Layer::Upper),
                ("b".into(), Layer::Lower(0)),
                ("c".into(), Layer::Lower(1))
            ]
        );
    }

    #[test]
    fn whiteout_does_not_hide_same_layer_entry() {
        let f = Some(FileType::RegularFile);
        let merged = merge(vec![(Layer::Lower(0), vec![raw("x", None), raw("x", f)])]);
        assert_eq!(merged.len(), 1);
    }

    #[test]
    fn reads_markers_from_disk() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join(".wh.foo"), "").unwrap();
        std::fs::write(t.path().join(".wh..wh..opq"), "").unwrap();
        std::fs::write(t.path().join("bar"), "").unwrap();
        let mut raws = read_layer(t.path()).unwrap();
        raws.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(raws.len(), 2);
        assert_eq!(raws[0].name, "bar");
        assert_eq!(raws[1].name, "foo");
        assert_eq!(raws[1].kind, None);
        assert!(read_layer(&t.path().join("missing")).unwrap().is_empty());
    }

    #[test]
    fn long_names() {
        assert!(!name_too_long(OsStr::new(&"x".repeat(255))));
        assert!(name_too_long(OsStr::new(&"x".repeat(256))));
    }
}
