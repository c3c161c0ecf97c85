//! What OCI interchange needs from the image store, as a small trait so the
//! formats and the registry client do not depend on how the store keeps
//! layers. The real store implements it in `store_impl.rs`; tests use a fake.

use std::io::{Read, Write};
use std::path::Path;

use super::error::StoreError;

/// An image as the store holds it.
#[derive(Debug, Clone)]
pub struct StoredImage {
    /// `sha256:<hex>` of `config` (Docker's image id).
    pub id: String,
    /// The config JSON exactly as stored: its bytes define the id, so it is
    /// never re-serialised.
    pub config: Vec<u8>,
    /// The reference the image was looked up by, in full form
    /// (`docker.io/library/busybox:latest`), when it was a name, not an id.
    pub name: Option<String>,
}

pub trait ImageStore {
    /// The store's root directory; blobs live in `<root>/blobs/`.
    fn root(&self) -> &Path;

    /// A fresh staging directory for this operation's temporary files, on
    /// the store's filesystem. The real store gives one inside its
    /// process's session, so what a killed process left is reclaimed with
    /// the session (see `store::recover`).
    fn staging_dir(&self) -> Result<std::path::PathBuf, StoreError> {
        let dir = self.root().join("blobs").join("tmp");
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// Finds an image by name, id or id prefix.
    fn resolve(&self, reference: &str) -> Result<StoredImage, StoreError>;

    /// Whether a layer with this diff_id is stored.
    fn has_layer(&self, diff_id: &str) -> Result<bool, StoreError>;

    /// Writes the layer's uncompressed tar stream to `out`. For layers the
    /// store made itself its sha256 is the diff_id; callers verify that.
    fn write_layer_tar(&self, diff_id: &str, out: &mut dyn Write) -> Result<(), StoreError>;

    /// Adds a layer from its uncompressed tar under `diff_id`. The caller
    /// has verified the digest; the store records the layer only when the
    /// whole stream was read without error.
    fn add_layer(&self, diff_id: &str, tar: &mut dyn Read) -> Result<(), StoreError>;

    /// Adds an image from its config JSON (whose layers are all stored) and
    /// returns its id.
    fn add_image(&self, config: &[u8]) -> Result<String, StoreError>;

    /// Points a reference (`name[:tag]`) at an image id.
    fn tag(&self, image_id: &str, reference: &str) -> Result<(), StoreError>;

    /// Records that the image is `repository@digest` in a registry (after
    /// a push or pull), so `name@digest` resolves locally.
    fn add_repo_digest(
        &self,
        _image_id: &str,
        _repository: &str,
        _digest: &str,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}
