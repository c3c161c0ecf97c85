//! Shared by the builder's OCI tests: an in-memory [`ImageStore`] fake that
//! behaves like the real store (layers by diff_id, images by config
//! digest, tags with Docker's grammar), a busybox base layer, and guards
//! for external processes.
#![allow(dead_code)]

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use builder::oci::error::StoreError;
use builder::oci::registry::Reference;
use builder::oci::{ImageStore, StoredImage};
use sha2::{Digest, Sha256};

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

pub struct FakeStore {
    pub dir: tempfile::TempDir,
    pub layers: RefCell<HashMap<String, Vec<u8>>>,
    pub images: RefCell<HashMap<String, Vec<u8>>>,
    pub tags: RefCell<BTreeMap<String, String>>,
    /// How many times a layer tar was read (to prove blobs are reused).
    pub layer_reads: Cell<usize>,
}

impl FakeStore {
    pub fn new() -> FakeStore {
        FakeStore {
            dir: tempfile::tempdir().expect("tempdir"),
            layers: RefCell::default(),
            images: RefCell::default(),
            tags: RefCell::default(),
            layer_reads: Cell::new(0),
        }
    }

    /// Adds an image made of `layers` (uncompressed tars, bottom first),
    /// tagged `name`; returns its id.
    pub fn add_test_image(&self, name: &str, layers: &[Vec<u8>]) -> String {
        let diff_ids: Vec<String> = layers.iter().map(|l| sha256(l)).collect();
        for (d, l) in diff_ids.iter().zip(layers) {
            self.layers.borrow_mut().insert(d.clone(), l.clone());
        }
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": "test"}],
        });
        let bytes = serde_json::to_vec(&config).expect("json");
        let id = self.add_image(&bytes).expect("add image");
        self.tag(&id, name).expect("tag");
        id
    }

    pub fn image_ids(&self) -> Vec<String> {
        self.images.borrow().keys().cloned().collect()
    }
}

impl ImageStore for FakeStore {
    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn resolve(&self, reference: &str) -> Result<StoredImage, StoreError> {
        let images = self.images.borrow();
        if let Ok(r) = Reference::parse(reference)
            && let Some(id) = self.tags.borrow().get(&r.full_tagged())
        {
            return Ok(StoredImage {
                id: id.clone(),
                config: images[id].clone(),
                name: Some(r.full_tagged()),
            });
        }
        let want = reference.trim_start_matches("sha256:");
        let found: Vec<&String> = images
            .keys()
            .filter(|id| id.trim_start_matches("sha256:").starts_with(want))
            .collect();
        match found.as_slice() {
            [id] => Ok(StoredImage {
                id: (*id).clone(),
                config: images[*id].clone(),
                name: None,
            }),
            _ => Err(format!("no such image: {reference}").into()),
        }
    }

    fn has_layer(&self, diff_id: &str) -> Result<bool, StoreError> {
        Ok(self.layers.borrow().contains_key(diff_id))
    }

    fn write_layer_tar(
        &self,
        diff_id: &str,
        out: &mut dyn std::io::Write,
    ) -> Result<(), StoreError> {
        self.layer_reads.set(self.layer_reads.get() + 1);
        let tar = self
            .layers
            .borrow()
            .get(diff_id)
            .cloned()
            .ok_or_else(|| format!("no such layer {diff_id}"))?;
        out.write_all(&tar)?;
        Ok(())
    }

    fn add_layer(&self, diff_id: &str, tar: &mut dyn Read) -> Result<(), StoreError> {
        let mut bytes = Vec::new();
        tar.read_to_end(&mut bytes)?;
        if sha256(&bytes) != diff_id {
            return Err(format!("layer {diff_id}: content does not match").into());
        }
        self.layers.borrow_mut().insert(diff_id.to_string(), bytes);
        Ok(())
    }

    fn add_image(&self, config: &[u8]) -> Result<String, StoreError> {
        let v: serde_json::Value = serde_json::from_slice(config)?;
        for d in v["rootfs"]["diff_ids"].as_array().into_iter().flatten() {
            let d = d.as_str().unwrap_or_default();
            if !self.layers.borrow().contains_key(d) {
                return Err(format!("image names missing layer {d}").into());
            }
        }
        let id = sha256(config);
        self.images.borrow_mut().insert(id.clone(), config.to_vec());
        Ok(id)
    }

    fn tag(&self, image_id: &str, reference: &str) -> Result<(), StoreError> {
        let r = Reference::parse(reference)?;
        self.tags
            .borrow_mut()
            .insert(r.full_tagged(), image_id.to_string());
        Ok(())
    }
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

pub mod registry;
