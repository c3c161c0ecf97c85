//! The inode table: FUSE inode numbers and what each one stands for.
//!
//! Identity rules (stable inode numbers):
//! - an inode number is never reused during the life of the mount;
//! - the backing object's `(st_dev, st_ino)` ("key") maps to one FUSE inode,
//!   so hard links (lower or upper) share one inode whichever name is seen
//!   first; copy-up adds the upper object's key to the same inode, so the
//!   number survives copy-up;
//! - a union path maps to the inode it names (`by_path`), so a looked-up
//!   name is answered without touching the layers again.
//!
//! The table is pure bookkeeping (no I/O); the caller serialises namespace
//! changes (see `fs::UnionFs::ns`) and holds the table's mutex only briefly.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use fuser::FileType;

use crate::layers::Layer;

/// `(st_dev, st_ino)` of a backing object.
pub type Key = (u64, u64);

pub const ROOT_INO: u64 = 1;

#[derive(Debug, Clone)]
pub struct Node {
    pub kind: FileType,
    /// Layer holding the object's data and metadata.
    pub layer: Layer,
    /// Path of the object inside `layer`. For an upper object it is one of
    /// `aliases`; a lower object keeps its lower path even if that name was
    /// whited out (lower layers never change).
    pub src: PathBuf,
    /// Union paths naming this inode (several for hard links, none once
    /// unlinked).
    pub aliases: Vec<PathBuf>,
    /// For directories, the merged layers (top-most first).
    pub merged: Vec<Layer>,
    /// Kernel lookup count.
    pub nlookup: u64,
    /// The union's link count minus the upper object's `st_nlink` (the
    /// kernel's `trusted.overlay.nlink` "U%+i"): nonzero for a copied-up
    /// lower hard link, whose index entry adds an upper link and whose
    /// lower names not joined yet add union links.
    pub nlink_bias: i64,
    /// For a copied-up lower hard link: its entry in the index dir, which
    /// keeps the copy (and the node's keys) while any union name remains,
    /// known or not (see `fs::index`).
    pub index: Option<Box<OsStr>>,
    /// `st_nlink` of a lower object when it was found (lower layers never
    /// change); 0 if not known.
    pub lower_nlink: u64,
    keys: Vec<Key>,
}

impl Node {
    pub fn new(kind: FileType, layer: Layer, path: PathBuf, merged: Vec<Layer>) -> Self {
        Node {
            kind,
            layer,
            src: path.clone(),
            aliases: vec![path],
            merged,
            nlookup: 0,
            nlink_bias: 0,
            index: None,
            lower_nlink: 0,
            keys: Vec::new(),
        }
    }

    /// The union path the node is reached by (None once unlinked).
    pub fn path(&self) -> Option<&Path> {
        self.aliases.first().map(PathBuf::as_path)
    }

    pub fn is_dir(&self) -> bool {
        self.kind == FileType::Directory
    }

    pub fn unlinked(&self) -> bool {
        self.aliases.is_empty()
    }

    /// Whether the node still owns its backing keys: every named node, and
    /// an unnamed one whose object lives on with names the union has not
    /// looked up (in the index, or an upper hard link; see `remove_name`).
    fn holds_keys(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Whether everything the node knows can be found again from the
    /// layers once the kernel has forgotten it: one name, one backing key
    /// (its inode number stays reserved under that key), no link-count
    /// correction.
    fn recomputable(&self) -> bool {
        self.aliases.len() == 1 && self.keys.len() == 1 && self.nlink_bias == 0
    }
}

#[derive(Debug)]
pub struct Table {
    nodes: HashMap<u64, Node>,
    by_key: HashMap<Key, u64>,
    by_path: PathMap,
    next: u64,
}

/// Union path -> inode, keyed by the path's bytes. The table's paths are
/// built from names by `join` (no `.`, `..`, doubled or trailing `/`), so
/// equal bytes are equal paths, and hashing the bytes in one go is several
/// times cheaper than `Path`'s hash, which feeds the hasher component by
/// component (with the hash map's inserts, 8% of the daemon's CPU in a
/// cold `find` over the benchmark tree).
#[derive(Debug, Default)]
struct PathMap(HashMap<OsString, u64>);

impl PathMap {
    fn get(&self, path: &Path) -> Option<&u64> {
        self.0.get(path.as_os_str())
    }

    fn insert(&mut self, path: PathBuf, ino: u64) {
        self.0.insert(path.into_os_string(), ino);
    }

    fn remove(&mut self, path: &Path) {
        self.0.remove(path.as_os_str());
    }

    fn iter(&self) -> impl Iterator<Item = (&Path, &u64)> {
        self.0.iter().map(|(p, i)| (Path::new(p), i))
    }

    fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit();
    }
}

/// Replaces the prefix `old` of `path` with `new` if `path` is `old` or lies under it.
fn reparent(path: &Path, old: &Path, new: &Path) -> Option<PathBuf> {
    let rest = path.strip_prefix(old).ok()?;
    Some(if rest.as_os_str().is_empty() {
        new.to_path_buf()
    } else {
        new.join(rest)
    })
}

impl Table {
    pub fn new(mut root: Node, key: Key) -> Self {
        root.nlookup = 1;
        root.keys.push(key);
        let mut t = Table {
            nodes: HashMap::new(),
            by_key: HashMap::new(),
            by_path: PathMap::default(),
            next: ROOT_INO + 1,
        };
        t.by_key.insert(key, ROOT_INO);
        t.by_path.insert(PathBuf::new(), ROOT_INO);
        t.nodes.insert(ROOT_INO, root);
        t
    }

    pub fn get(&self, ino: u64) -> Option<&Node> {
        self.nodes.get(&ino)
    }

    pub fn get_mut(&mut self, ino: u64) -> Option<&mut Node> {
        self.nodes.get_mut(&ino)
    }

    pub fn ino_by_path(&self, path: &Path) -> Option<u64> {
        self.by_path.get(path).copied()
    }

    fn allocate(&mut self) -> u64 {
        let ino = self.next;
        self.next += 1;
        ino
    }

    /// The inode number of `path` for readdir: the node's if the path is
    /// known, else the one reserved for `key` (allocated now if new).
    pub fn ino_for_entry(&mut self, path: &Path, key: Key) -> u64 {
        if let Some(ino) = self.by_path.get(path) {
            return *ino;
        }
        match self.by_key.get(&key) {
            Some(ino) if self.nodes.get(ino).is_none_or(Node::holds_keys) => *ino,
            _ => {
                let ino = self.allocate();
                self.by_key.insert(key, ino);
                ino
            }
        }
    }

    /// Records a name found in the layers. If `key` already belongs to a
    /// live inode (another hard link to it, or one whose known names are
    /// all gone but that keeps its keys: `Node::holds_keys`), `path`
    /// becomes one more alias of it; otherwise a node is created (with the
    /// number reserved for `key` by readdir, if any). Returns the inode
    /// number.
    pub fn insert_found(&mut self, path: &Path, key: Key, node: Node) -> u64 {
        if let Some(ino) = self.by_path.get(path) {
            return *ino;
        }
        let reserved = self.by_key.get(&key).copied();
        if let Some(ino) = reserved
            && self.nodes.get(&ino).is_some_and(Node::holds_keys)
        {
            self.add_alias(ino, path);
            return ino;
        }
        let ino = match reserved {
            Some(ino) if !self.nodes.contains_key(&ino) => ino,
            _ => self.allocate(),
        };
        let mut node = node;
        node.aliases = vec![path.to_path_buf()];
        node.keys = vec![key];
        self.by_key.insert(key, ino);
        self.by_path.insert(path.to_path_buf(), ino);
        self.nodes.insert(ino, node);
        ino
    }

    /// Adds a backing key to `ino` (after copy-up, or for a new object).
    pub fn add_key(&mut self, ino: u64, key: Key) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.keys.push(key);
            self.by_key.insert(key, ino);
        }
    }

    /// Detaches every backing key from `ino` (before adding the copy-up's
    /// key): lower names of the same file not yet looked up become separate
    /// inodes, since they keep showing the lower file.
    pub fn release_keys(&mut self, ino: u64) {
        let Some(n) = self.nodes.get_mut(&ino) else {
            return;
        };
        for k in std::mem::take(&mut n.keys) {
            if self.by_key.get(&k) == Some(&ino) {
                self.by_key.remove(&k);
            }
        }
    }

    /// Adds a new name for `ino` (hard link). An upper node with no name
    /// left (an indexed one) is reached by its new name from now on.
    pub fn add_alias(&mut self, ino: u64, path: &Path) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            if n.aliases.is_empty() && n.layer == Layer::Upper {
                n.src = path.to_path_buf();
            }
            n.aliases.push(path.to_path_buf());
            self.by_path.insert(path.to_path_buf(), ino);
        }
    }

    /// Forgets the name `path` of `ino`. When it was the last name, the
    /// inode's keys are released too (the backing inode number may be
    /// reused by the host filesystem; not while an index entry holds it)
    /// and the node lives on only for the kernel's references and open
    /// files. Returns true if it was the last.
    pub fn remove_alias(&mut self, ino: u64, path: &Path) -> bool {
        self.remove_name(ino, path, false)
    }

    /// `remove_alias`, where `unknown_names` says the backing object keeps
    /// names the table does not know (an upper hard link whose other names
    /// were never looked up, or whose nodes the kernel forgot): its keys
    /// then stay with `ino`, so those names join it when looked up, as
    /// they would have had they been known (kernel overlayfs shows the
    /// upper inode's number, which does not change). The object lives on,
    /// so its backing number cannot be reused meanwhile.
    pub fn remove_name(&mut self, ino: u64, path: &Path, unknown_names: bool) -> bool {
        if self.by_path.get(path) == Some(&ino) {
            self.by_path.remove(path);
        }
        let Some(n) = self.nodes.get_mut(&ino) else {
            return false;
        };
        n.aliases.retain(|a| a != path);
        if n.layer == Layer::Upper
            && n.src == path
            && let Some(first) = n.aliases.first()
        {
            n.src = first.clone();
        }
        if !n.aliases.is_empty() {
            return false;
        }
        if n.index.is_some() || unknown_names {
            return true;
        }
        for k in std::mem::take(&mut n.keys) {
            if self.by_key.get(&k) == Some(&ino) {
                self.by_key.remove(&k);
            }
        }
        true
    }

    /// Moves every name at or under `old` to `new` (a rename). Upper
    /// objects move on disk too, so their `src` follows.
    /// Only a directory's rename scans the table; a file's is O(1) (dpkg
    /// renames every file it unpacks).
    pub fn rename_prefix(&mut self, old: &Path, new: &Path) {
        let Some(&top) = self.by_path.get(old) else {
            return;
        };
        let moved: Vec<(PathBuf, u64)> = if self.nodes.get(&top).is_some_and(Node::is_dir) {
            self.by_path
                .iter()
                .filter(|(p, _)| p.starts_with(old))
                .map(|(p, i)| (p.to_path_buf(), *i))
                .collect()
        } else {
            vec![(old.to_path_buf(), top)]
        };
        for (p, _) in &moved {
            self.by_path.remove(p);
        }
        for (p, ino) in moved {
            let Some(np) = reparent(&p, old, new) else {
                continue;
            };
            if let Some(n) = self.nodes.get_mut(&ino) {
                for a in n.aliases.iter_mut().filter(|a| **a == p) {
                    *a = np.clone();
                }
                if n.layer == Layer::Upper && n.src == p {
                    n.src = np.clone();
                }
            }
            self.by_path.insert(np, ino);
        }
    }

    /// Inodes whose name lies strictly under `dir`.
    pub fn descendants(&self, dir: &Path) -> Vec<u64> {
        self.by_path
            .iter()
            .filter(|(p, _)| p.starts_with(dir) && *p != dir)
            .map(|(_, i)| *i)
            .collect()
    }

    /// Counts one more kernel reference to `ino`; false if there is no such
    /// node (a FORGET removed it since it was found).
    #[must_use]
    pub fn inc_lookup(&mut self, ino: u64) -> bool {
        match self.nodes.get_mut(&ino) {
            Some(n) => {
                n.nlookup += 1;
                true
            }
            None => false,
        }
    }

    /// Drops `n` kernel references; returns true when the node may go
    /// (the caller removes it unless files are open on it): unreferenced
    /// and either unlinked, or `recomputable` — a later lookup of its name
    /// builds it again under the same inode number, reserved by its key.
    /// So the table holds what the kernel holds, not every name ever
    /// walked.
    pub fn forget(&mut self, ino: u64, n: u64) -> bool {
        let Some(node) = self.nodes.get_mut(&ino) else {
            return false;
        };
        node.nlookup = node.nlookup.saturating_sub(n);
        node.nlookup == 0 && (node.unlinked() || node.recomputable()) && ino != ROOT_INO
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Backing keys with a reserved inode number.
    pub fn key_count(&self) -> usize {
        self.by_key.len()
    }

    /// Removes node `ino` and its names; its keys stay reserved for it.
    pub fn remove(&mut self, ino: u64) {
        let Some(node) = self.nodes.remove(&ino) else {
            return;
        };
        for a in &node.aliases {
            if self.by_path.get(a) == Some(&ino) {
                self.by_path.remove(a);
            }
        }
    }

    /// Gives back the room of removed nodes once the maps are mostly
    /// empty (a hash map never shrinks by itself). Returns whether it did,
    /// so the caller can hand the freed memory back to the system.
    pub fn shrink_if_sparse(&mut self) -> bool {
        const MIN_CAPACITY: usize = 4096;
        let cap = self.nodes.capacity();
        if cap < MIN_CAPACITY || self.nodes.len() * 4 > cap {
            return false;
        }
        self.nodes.shrink_to_fit();
        self.by_key.shrink_to_fit();
        self.by_path.shrink_to_fit();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> Node {
        Node::new(
            FileType::RegularFile,
            Layer::Lower(0),
            PathBuf::from(path),
            vec![Layer::Lower(0)],
        )
    }

    fn table() -> Table {
        Table::new(
            Node::new(
                FileType::Directory,
                Layer::Upper,
                PathBuf::new(),
                vec![Layer::Upper],
            ),
            (1, 1),
        )
    }

    #[test]
    fn hard_links_share_an_inode() {
        let mut t = table();
        let a = t.insert_found(Path::new("a"), (1, 10), file("a"));
        let b = t.insert_found(Path::new("b"), (1, 10), file("b"));
        assert_eq!(a, b);
        assert_eq!(t.get(a).unwrap().aliases.len(), 2);
        assert!(!t.remove_alias(a, Path::new("a")));
        assert!(t.remove_alias(a, Path::new("b")));
        // The key is released: a new object with the same backing number is a new inode.
        let c = t.insert_found(Path::new("c"), (1, 10), file("c"));
        assert_ne!(c, a);
    }

    #[test]
    fn readdir_reservation_is_used_by_lookup() {
        let mut t = table();
        let r = t.ino_for_entry(Path::new("x"), (1, 20));
        assert_eq!(t.ino_for_entry(Path::new("x"), (1, 20)), r);
        let l = t.insert_found(Path::new("x"), (1, 20), file("x"));
        assert_eq!(l, r);
    }

    #[test]
    fn copy_up_key_keeps_the_number() {
        let mut t = table();
        let a = t.insert_found(Path::new("a"), (1, 10), file("a"));
        t.add_key(a, (2, 99));
        assert_eq!(t.ino_for_entry(Path::new("zz"), (2, 99)), a);
    }

    #[test]
    fn rename_moves_subtree() {
        let mut t = table();
        let dir = Node::new(
            FileType::Directory,
            Layer::Upper,
            PathBuf::from("d"),
            vec![Layer::Upper],
        );
        let d = t.insert_found(Path::new("d"), (1, 3), dir);
        let f = t.insert_found(Path::new("d/f"), (1, 4), file("d/f"));
        t.get_mut(f).unwrap().layer = Layer::Upper;
        t.insert_found(Path::new("dd"), (1, 5), file("dd"));
        t.rename_prefix(Path::new("d"), Path::new("e/x"));
        assert_eq!(t.ino_by_path(Path::new("e/x")), Some(d));
        assert_eq!(t.ino_by_path(Path::new("e/x/f")), Some(f));
        assert_eq!(t.get(f).unwrap().src, PathBuf::from("e/x/f"));
        assert!(
            t.ino_by_path(Path::new("dd")).is_some(),
            "siblings sharing a name prefix stay"
        );
        assert_eq!(t.descendants(Path::new("e")).len(), 2);
    }

    #[test]
    fn forget_keeps_nodes_the_layers_cannot_rebuild() {
        let mut t = table();
        let a = t.insert_found(Path::new("a"), (1, 10), file("a"));
        assert!(t.inc_lookup(a));
        assert!(t.inc_lookup(a));
        assert!(!t.forget(a, 1), "still referenced");
        t.get_mut(a).unwrap().nlink_bias = 1;
        assert!(!t.forget(a, 1), "a link-count correction lives only here");
        t.remove_alias(a, Path::new("a"));
        assert!(t.forget(a, 0), "unlinked");
        assert!(!t.forget(ROOT_INO, 1));
    }

    #[test]
    fn a_forgotten_name_comes_back_with_its_number() {
        let mut t = table();
        let a = t.insert_found(Path::new("a"), (1, 10), file("a"));
        assert!(t.inc_lookup(a));
        assert!(t.forget(a, 1));
        t.remove(a);
        assert_eq!(t.len(), 1);
        assert_eq!(t.ino_by_path(Path::new("a")), None);
        assert_eq!(t.insert_found(Path::new("a"), (1, 10), file("a")), a);
        // A node with two names is kept: the second name is not in the layers' answer.
        t.insert_found(Path::new("b"), (1, 10), file("b"));
        assert!(t.inc_lookup(a));
        assert!(!t.forget(a, 1));
    }

    #[test]
    fn an_indexed_node_keeps_its_number_without_known_names() {
        let mut t = table();
        let a = t.insert_found(Path::new("a"), (1, 10), file("a"));
        t.get_mut(a).unwrap().index = Some(OsStr::new("L0-a").into());
        assert!(t.remove_alias(a, Path::new("a")));
        // Its index entry still holds the object: a name of it found
        // later (a lower name joining the copy) is the same inode.
        assert_eq!(t.ino_for_entry(Path::new("c"), (1, 10)), a);
        let b = t.insert_found(Path::new("b"), (1, 10), file("b"));
        assert_eq!(a, b);
        assert_eq!(t.get(a).unwrap().aliases, vec![PathBuf::from("b")]);
    }

    #[test]
    fn a_name_removed_with_unknown_siblings_keeps_the_keys() {
        let mut t = table();
        let a = t.insert_found(Path::new("a"), (1, 10), file("a"));
        assert!(t.remove_name(a, Path::new("a"), true));
        // Another name of the object, looked up now, is the same inode.
        assert_eq!(t.ino_for_entry(Path::new("b"), (1, 10)), a);
        assert_eq!(t.insert_found(Path::new("b"), (1, 10), file("b")), a);
        assert_eq!(t.get(a).unwrap().aliases, vec![PathBuf::from("b")]);
        assert!(t.remove_alias(a, Path::new("b")));
        assert_ne!(t.insert_found(Path::new("c"), (1, 10), file("c")), a);
    }
}
