//! [`ImageStore`] on the real store.

use std::io::{Read, Write};
use std::path::Path;

use super::error::StoreError;
use super::store_api::{ImageStore, StoredImage};
use crate::store::{Digest, Error, Reference, Store};

impl ImageStore for Store {
    fn root(&self) -> &Path {
        Store::root(self)
    }

    fn staging_dir(&self) -> Result<std::path::PathBuf, StoreError> {
        Ok(Store::staging_dir(self, "oci")?)
    }

    fn resolve(&self, reference: &str) -> Result<StoredImage, StoreError> {
        let (image, matched) = Store::resolve(self, reference)?;
        Ok(StoredImage {
            id: image.id.to_string(),
            config: image.raw_config,
            name: matched.map(|r| r.full_string()),
        })
    }

    fn has_layer(&self, diff_id: &str) -> Result<bool, StoreError> {
        match self.layer(&Digest::parse(diff_id)?) {
            Ok(_) => Ok(true),
            Err(Error::NoSuchLayer(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn write_layer_tar(&self, diff_id: &str, out: &mut dyn Write) -> Result<(), StoreError> {
        Store::write_layer_tar(self, &Digest::parse(diff_id)?, out)?;
        Ok(())
    }

    fn add_layer(&self, diff_id: &str, tar: &mut dyn Read) -> Result<(), StoreError> {
        let layer = self.import_layer_tar(tar)?;
        if layer.diff_id.as_str() != diff_id {
            return Err(format!("layer {diff_id} was stored as {}", layer.diff_id).into());
        }
        Ok(())
    }

    fn add_image(&self, config: &[u8]) -> Result<String, StoreError> {
        Ok(self.put_image_bytes(config, None)?.to_string())
    }

    /// The store has the `repo_digests` table (read by `resolve`) but no
    /// writer yet; this is it. `repository` is the full name, as in `tags`.
    fn add_repo_digest(
        &self,
        image_id: &str,
        repository: &str,
        digest: &str,
    ) -> Result<(), StoreError> {
        Digest::parse(digest)?;
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO repo_digests (repository, digest, image_id)
                 VALUES (?1, ?2, ?3)",
                rusqlite::params![repository, digest, Digest::parse(image_id)?.as_str()],
            )
            .map_err(self.db_err())?;
        Ok(())
    }

    fn tag(&self, image_id: &str, reference: &str) -> Result<(), StoreError> {
        Store::tag(
            self,
            &Reference::parse_tagged(reference)?,
            &Digest::parse(image_id)?,
        )?;
        Ok(())
    }
}

/// Removes blobs (compressed layers, configs, manifests) that no image in
/// the store needs any more; meant to run with `image prune`/`system
/// prune`. Blobs written less than `grace` ago are kept (a pull or load
/// may be about to use them; ten minutes is plenty).
pub fn prune_blobs(
    store: &Store,
    grace: std::time::Duration,
) -> crate::oci::Result<super::blobs::BlobPrune> {
    let store_err = |e: Error| crate::oci::OciError::Store {
        op: "list images and layers".into(),
        source: e.into(),
    };
    let live_layers = store
        .layers()
        .map_err(store_err)?
        .into_iter()
        .map(|l| l.diff_id.to_string())
        .collect();
    let keep = store
        .images()
        .map_err(store_err)?
        .into_iter()
        .map(|i| i.id.to_string())
        .collect();
    let blobs = super::Blobs::for_store(store)?;
    blobs.prune(&live_layers, &keep, grace)
}
