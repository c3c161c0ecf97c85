//! What a user sees of a tree: names, types, modes, owners, sizes, content
//! hashes, link counts, symlink targets and xattrs; never inode numbers or
//! times, and nothing of the upper dir's format.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::sys;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: &'static str,
    /// Permission bits including setuid, setgid and sticky.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Not for directories, whose size is a property of the backing fs.
    pub size: Option<u64>,
    /// Not for directories: overlayfs reports 1 for merged dirs, a
    /// documented shortcut (see docs/union-tests.md), not a semantic.
    pub nlink: Option<u64>,
    pub sha256: Option<String>,
    pub target: Option<String>,
    /// Every name listxattr shows, with its value in hex.
    pub xattrs: Vec<(String, String)>,
}

/// Relative path ("" for the root) -> entry.
pub type Tree = BTreeMap<String, Entry>;

pub fn kind_of(ft: std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "dir"
    } else if ft.is_file() {
        "file"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_char_device() {
        "chardev"
    } else if ft.is_block_device() {
        "blockdev"
    } else {
        "unknown"
    }
}

pub fn hash_file(path: &Path) -> io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

/// The entry of one path (not following a final symlink).
pub fn entry(path: &Path) -> io::Result<Entry> {
    let md = path.symlink_metadata()?;
    let kind = kind_of(md.file_type());
    let is_dir = kind == "dir";
    let sha256 = if kind == "file" {
        Some(hash_file(path)?)
    } else {
        None
    };
    let target = if kind == "symlink" {
        Some(std::fs::read_link(path)?.to_string_lossy().into_owned())
    } else {
        None
    };
    let mut xattrs = Vec::new();
    for name in sys::llistxattr(path)? {
        let value = sys::lgetxattr(path, &name)
            .map(hex::encode)
            .unwrap_or_else(|e| format!("<{e}>"));
        xattrs.push((name, value));
    }
    Ok(Entry {
        kind,
        mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        size: (!is_dir).then_some(md.size()),
        nlink: (!is_dir).then_some(md.nlink()),
        sha256,
        target,
        xattrs,
    })
}

fn error_entry(e: &io::Error) -> Entry {
    Entry {
        kind: "error",
        mode: 0,
        uid: 0,
        gid: 0,
        size: None,
        nlink: None,
        sha256: None,
        target: Some(e.to_string()),
        xattrs: Vec::new(),
    }
}

/// Every entry under `root` (root included as ""). An error reading a path
/// becomes an "error" entry, so that a comparison reports it in place.
pub fn snapshot(root: &Path) -> Tree {
    let mut tree = Tree::new();
    walk(root, "", &mut tree);
    tree
}

fn walk(root: &Path, rel: &str, tree: &mut Tree) {
    let path = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let e = entry(&path).unwrap_or_else(|e| error_entry(&e));
    let is_dir = e.kind == "dir";
    tree.insert(rel.to_string(), e);
    if !is_dir {
        return;
    }
    match read_names(&path) {
        Ok(names) => {
            for name in names {
                let child = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                walk(root, &child, tree);
            }
        }
        Err(e) => {
            tree.insert(format!("{rel}/<readdir>"), error_entry(&e));
        }
    }
}

/// The sorted names of a directory.
pub fn read_names(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir)? {
        names.push(e?.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// Relative path -> kind of every entry, cheaply (no hashing): what the
/// operation generator chooses from.
pub fn listing(root: &Path) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let dir = if rel.is_empty() {
            root.to_path_buf()
        } else {
            root.join(&rel)
        };
        let Ok(names) = read_names(&dir) else {
            continue;
        };
        for name in names {
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let Ok(md) = root.join(&child).symlink_metadata() else {
                continue;
            };
            let kind = kind_of(md.file_type());
            if kind == "dir" {
                stack.push(child.clone());
            }
            out.push((child, kind));
        }
    }
    out.sort();
    out
}

/// Human-readable differences between two trees (empty when equal).
pub fn diff(a_label: &str, a: &Tree, b_label: &str, b: &Tree) -> Vec<String> {
    let mut out = Vec::new();
    for (path, ea) in a {
        match b.get(path) {
            None => out.push(format!("/{path}: only in {a_label}: {ea:?}")),
            Some(eb) if ea != eb => out.push(format!(
                "/{path}:\n  {a_label}: {ea:?}\n  {b_label}: {eb:?}"
            )),
            Some(_) => {}
        }
    }
    for (path, eb) in b {
        if !a.contains_key(path) {
            out.push(format!("/{path}: only in {b_label}: {eb:?}"));
        }
    }
    out
}
