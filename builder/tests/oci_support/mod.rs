//! Shared by the builder's OCI tests: an in-memory [`ImageStore`] fake that
//! behaves like the real store (layers by diff_id, images by config
//! digest, tags with Docker's grammar), a busybox base layer, and guards
//! for external processes.
#![allow(dead_code)]

pub mod fake_http;
pub mod registry;
pub mod tree;

pub use tree::*;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

use builder::oci::error::StoreError;
use builder::oci::registry::Reference;
use builder::oci::{ImageStore, StoredImage};

pub struct FakeStore {
    pub dir: tempfile::TempDir,
    pub layers: RefCell<HashMap<String, Vec<u8>>>,
    pub images: RefCell<HashMap<String, Vec<u8>>>,
    pub tags: RefCell<BTreeMap<String, String>>,
    /// (repository, manifest digest) -> image id.
    pub repo_digests: RefCell<BTreeMap<(String, String), String>>,
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
            repo_digests: RefCell::default(),
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

    fn add_repo_digest(
        &self,
        image_id: &str,
        repository: &str,
        digest: &str,
    ) -> Result<(), StoreError> {
        self.repo_digests
            .borrow_mut()
            .insert((repository.into(), digest.into()), image_id.into());
        Ok(())
    }

    fn tag(&self, image_id: &str, reference: &str) -> Result<(), StoreError> {
        let r = Reference::parse(reference)?;
        self.tags
            .borrow_mut()
            .insert(r.full_tagged(), image_id.to_string());
        Ok(())
    }
}
