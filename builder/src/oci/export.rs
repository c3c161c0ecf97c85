//! `image export`: the layers of an image flattened into one rootfs tar,
//! like `docker export`. Layers are read top-down; the first layer to name
//! a path wins, and whiteouts (`.wh.<name>`), opaque markers
//! (`.wh..wh..opq`) and non-directories hide what lower layers hold
//! beneath them. Entries therefore come out top layer first; tar readers
//! create parent directories as needed.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::error::{OciError, Result};

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// Writes the union of `layers` (top layer first) as one tar.
pub fn flatten(
    layers_top_down: Vec<(String, Box<dyn Read + '_>)>,
    out: &mut dyn Write,
) -> Result<()> {
    let mut tar_out = tar::Builder::new(out);
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut non_dirs: HashSet<PathBuf> = HashSet::new();
    let mut deleted: HashSet<PathBuf> = HashSet::new();
    let mut opaque: HashSet<PathBuf> = HashSet::new();
    for (diff_id, reader) in layers_top_down {
        let bad = |e: std::io::Error| OciError::Invalid {
            what: format!("layer {diff_id}"),
            reason: e.to_string(),
        };
        let mut new_deleted = Vec::new();
        let mut new_opaque = Vec::new();
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let path = normalize(&entry.path().map_err(bad)?);
            if path.as_os_str().is_empty() {
                continue;
            }
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let parent = path.parent().unwrap_or(Path::new("")).to_path_buf();
            if name == OPAQUE {
                new_opaque.push(parent);
                continue;
            }
            if let Some(target) = name.strip_prefix(WHITEOUT) {
                new_deleted.push(parent.join(target));
                continue;
            }
            if seen.contains(&path) || hidden(&path, &deleted, &opaque, &non_dirs) {
                continue;
            }
            let mut header = entry.header().clone();
            let kind = header.entry_type();
            if kind.is_symlink() {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                crate::store::append_symlink(&mut tar_out, &mut header, &path, &target)
                    .map_err(OciError::io("<output>"))?;
            } else if kind.is_hard_link() {
                let target = entry
                    .link_name()
                    .map_err(bad)?
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                tar_out
                    .append_link(&mut header, &path, target)
                    .map_err(OciError::io("<output>"))?;
            } else {
                tar_out
                    .append_data(&mut header, &path, &mut entry)
                    .map_err(OciError::io("<output>"))?;
            }
            if !kind.is_dir() {
                non_dirs.insert(path.clone());
            }
            seen.insert(path);
        }
        // A layer's whiteouts and opaque markers hide lower layers only.
        deleted.extend(new_deleted);
        opaque.extend(new_opaque);
    }
    tar_out.finish().map_err(OciError::io("<output>"))?;
    Ok(())
}

fn normalize(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .collect()
}

/// Whether a higher layer hid `path`: it or an ancestor was deleted, an
/// ancestor is opaque, or an ancestor is not a directory up there.
fn hidden(
    path: &Path,
    deleted: &HashSet<PathBuf>,
    opaque: &HashSet<PathBuf>,
    non_dirs: &HashSet<PathBuf>,
) -> bool {
    if deleted.contains(path) {
        return true;
    }
    path.ancestors()
        .skip(1)
        .any(|a| deleted.contains(a) || opaque.contains(a) || non_dirs.contains(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(entries: &[(&str, Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, content) in entries {
            let mut h = tar::Header::new_gnu();
            match content {
                Some(c) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(c.len() as u64);
                    h.set_mode(0o644);
                    b.append_data(&mut h, path, c.as_bytes()).expect("file");
                }
                None => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    h.set_mode(0o755);
                    b.append_data(&mut h, path, std::io::empty()).expect("dir");
                }
            }
        }
        b.into_inner().expect("tar")
    }

    #[test]
    fn applies_whiteouts_opaque_dirs_and_shadowing() {
        let bottom = layer(&[
            ("etc", None),
            ("etc/a", Some("old a")),
            ("etc/gone", Some("x")),
            ("var", None),
            ("var/lib", None),
            ("var/lib/old", Some("y")),
            ("dir-then-file", None),
            ("dir-then-file/child", Some("z")),
        ]);
        let top = layer(&[
            ("etc", None),
            ("etc/a", Some("new a")),
            ("etc/.wh.gone", Some("")),
            ("var/lib", None),
            ("var/lib/.wh..wh..opq", Some("")),
            ("var/lib/new", Some("n")),
            ("dir-then-file", Some("file now")),
        ]);
        let mut out = Vec::new();
        flatten(
            vec![
                ("top".into(), Box::new(&top[..]) as Box<dyn Read>),
                ("bottom".into(), Box::new(&bottom[..])),
            ],
            &mut out,
        )
        .expect("flatten");
        let mut got = std::collections::BTreeMap::new();
        for e in tar::Archive::new(&out[..]).entries().expect("entries") {
            let mut e = e.expect("entry");
            let p = e.path().expect("path").display().to_string();
            let mut s = String::new();
            e.read_to_string(&mut s).expect("read");
            assert!(got.insert(p, s).is_none(), "duplicate entry");
        }
        let paths: Vec<&str> = got.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            [
                "dir-then-file",
                "etc",
                "etc/a",
                "var",
                "var/lib",
                "var/lib/new"
            ]
        );
        assert_eq!(got["etc/a"], "new a");
        assert_eq!(got["dir-then-file"], "file now");
    }
}
