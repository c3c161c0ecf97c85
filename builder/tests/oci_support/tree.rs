//! Test layers and trees: the busybox rootfs, layer tars, comparing an
//! unpacked tree, running tools. Shared with the end-to-end tests in the
//! workspace's tests/ through `#[path]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// One entry of a test layer: path, and contents (file), link target
/// (symlink) or nothing (directory).
pub enum Node {
    Dir,
    File(Vec<u8>, u32),
    Symlink(String),
}

/// A layer tar with sorted entries and fixed metadata.
pub fn layer_tar(entries: &BTreeMap<String, Node>) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, node) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        match node {
            Node::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, format!("{path}/"), std::io::empty())
                    .expect("dir");
            }
            Node::File(data, mode) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, path, &data[..]).expect("file");
            }
            Node::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, path, target).expect("link");
            }
        }
    }
    b.into_inner().expect("tar")
}

/// The busybox rootfs (Debian `busybox-static`): /bin/busybox, one
/// symlink per applet, /etc/passwd and /etc/group.
pub fn busybox_tree() -> BTreeMap<String, Node> {
    let busybox = std::fs::read("/bin/busybox")
        .expect("/bin/busybox missing: apt-get install busybox-static");
    let list = std::process::Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .expect("busybox --list");
    let mut t = BTreeMap::new();
    t.insert("bin".to_string(), Node::Dir);
    t.insert("etc".to_string(), Node::Dir);
    for name in String::from_utf8_lossy(&list.stdout).lines() {
        if !name.is_empty() && name != "busybox" {
            t.insert(format!("bin/{name}"), Node::Symlink("busybox".into()));
        }
    }
    t.insert("bin/busybox".to_string(), Node::File(busybox, 0o755));
    t.insert(
        "etc/passwd".to_string(),
        Node::File(b"root:x:0:0:root:/root:/bin/sh\n".to_vec(), 0o644),
    );
    t.insert(
        "etc/group".to_string(),
        Node::File(b"root:x:0:\n".to_vec(), 0o644),
    );
    t
}

/// Checks that `dir` holds exactly `tree` (types, contents, link targets).
pub fn assert_tree_equals(dir: &Path, tree: &BTreeMap<String, Node>) {
    let mut found = Vec::new();
    collect(dir, dir, &mut found);
    found.sort();
    let expected: Vec<String> = tree.keys().cloned().collect();
    assert_eq!(found, expected, "tree under {}", dir.display());
    for (path, node) in tree {
        let p = dir.join(path);
        match node {
            Node::Dir => assert!(p.is_dir(), "{path} not a dir"),
            Node::File(data, _) => assert_eq!(&std::fs::read(&p).expect("read"), data, "{path}"),
            Node::Symlink(t) => assert_eq!(
                std::fs::read_link(&p).expect("readlink"),
                PathBuf::from(t),
                "{path}"
            ),
        }
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let e = e.expect("entry");
        let p = e.path();
        out.push(
            p.strip_prefix(root)
                .expect("prefix")
                .to_string_lossy()
                .into_owned(),
        );
        if e.file_type().expect("type").is_dir() {
            collect(root, &p, out);
        }
    }
}

/// Runs a command, panicking with its stderr when it fails.
pub fn run(cmd: &mut std::process::Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
