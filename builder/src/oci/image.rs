//! Between the store and the wire: an image's blobs (compressed layers and
//! config) made ready for saving or pushing, and verified blobs turned back
//! into a stored image.

use std::io::{self, Read};

use serde::Deserialize;

use super::blobs::Blobs;
use super::digest::{HashingReader, HashingWriter, sha256_of};
use super::error::{OciError, Result};
use super::media::{Compression, Encoder, ManifestFormat, decompress};
use super::progress::{Progress, ProgressWriter};
use super::store_api::ImageStore;

/// A layer as a blob: what a manifest's layer descriptor says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerBlob {
    pub digest: String,
    pub size: u64,
    pub diff_id: String,
    pub compression: Compression,
}

/// An image whose blobs are all in [`Blobs`].
#[derive(Debug, Clone)]
pub struct PreparedImage {
    pub id: String,
    pub name: Option<String>,
    pub config: Vec<u8>,
    pub layers: Vec<LayerBlob>,
}

impl PreparedImage {
    pub fn config_digest(&self) -> &str {
        &self.id
    }

    /// The manifest format actually used for `wanted`: Docker's schema 2
    /// has no zstd layer type, so an image with zstd layers always gets an
    /// OCI manifest (as Docker does).
    pub fn effective_format(&self, wanted: ManifestFormat) -> ManifestFormat {
        if self
            .layers
            .iter()
            .any(|l| l.compression == Compression::Zstd)
        {
            ManifestFormat::Oci
        } else {
            wanted
        }
    }

    /// The image manifest JSON, in [`PreparedImage::effective_format`].
    pub fn manifest(&self, wanted: ManifestFormat) -> Vec<u8> {
        let format = self.effective_format(wanted);
        let layers: Vec<serde_json::Value> = self
            .layers
            .iter()
            .map(|l| {
                serde_json::json!({
                    "mediaType": format.layer_type(l.compression),
                    "digest": l.digest,
                    "size": l.size,
                })
            })
            .collect();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": format.manifest_type(),
            "config": {
                "mediaType": format.config_type(),
                "digest": self.id,
                "size": self.config.len(),
            },
            "layers": layers,
        });
        // serde_json keeps map keys sorted: the same image gives the same bytes.
        serde_json::to_vec(&manifest).unwrap_or_default()
    }
}

/// The parts of an image config this module reads. The config itself is
/// kept as bytes: its digest is the image id.
#[derive(Debug, Deserialize)]
pub struct ConfigView {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    pub rootfs: RootFsView,
}

#[derive(Debug, Deserialize)]
pub struct RootFsView {
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

pub fn parse_config(config: &[u8], what: &str) -> Result<ConfigView> {
    serde_json::from_slice(config).map_err(OciError::json(what))
}

/// Looks an image up and makes sure every layer has a blob in
/// `compression` (compressing it once; later calls reuse the blob).
pub fn prepare(
    store: &dyn ImageStore,
    blobs: &Blobs,
    reference: &str,
    compression: Compression,
    progress: &dyn Progress,
) -> Result<PreparedImage> {
    let image = store
        .resolve(reference)
        .map_err(OciError::store(format!("image {reference}")))?;
    let view = parse_config(&image.config, &format!("config of image {}", image.id))?;
    if !blobs.contains(&image.id)? {
        blobs.put_verified(&image.id, None, &mut &image.config[..])?;
    }
    let mut layers = Vec::with_capacity(view.rootfs.diff_ids.len());
    for diff_id in &view.rootfs.diff_ids {
        layers.push(layer_blob(store, blobs, diff_id, compression, progress)?);
    }
    Ok(PreparedImage {
        id: image.id,
        name: image.name,
        config: image.config,
        layers,
    })
}

/// The blob of layer `diff_id` in `compression`, made if missing. The
/// uncompressed stream comes from a blob we already hold for the layer
/// (a pulled layer keeps its original bytes) or else from the store; either
/// way it must hash to `diff_id` or nothing is recorded.
pub fn layer_blob(
    store: &dyn ImageStore,
    blobs: &Blobs,
    diff_id: &str,
    compression: Compression,
    progress: &dyn Progress,
) -> Result<LayerBlob> {
    if let Some(digest) = blobs.layer_blob(diff_id, compression)? {
        let path = blobs.path(&digest)?;
        let size = std::fs::metadata(&path).map_err(OciError::io(&path))?.len();
        return Ok(LayerBlob {
            digest,
            size,
            diff_id: diff_id.to_string(),
            compression,
        });
    }
    let cached = blobs.any_layer_blob(diff_id)?;
    let mut store_error = None;
    let mut actual = String::new();
    progress.start(diff_id, "Compressing", 0);
    let staged = blobs.stage(|w| {
        let mut tar = HashingWriter::new(Encoder::new(compression, w)?);
        let mut counted = ProgressWriter {
            inner: &mut tar,
            id: diff_id,
            progress,
        };
        match &cached {
            Some((blob, c)) => {
                io::copy(
                    &mut decompress(*c, blobs.open_blob(blob).map_err(io::Error::other)?)?,
                    &mut counted,
                )?;
            }
            None => {
                if let Err(e) = store.write_layer_tar(diff_id, &mut counted) {
                    store_error = Some(e);
                    return Err(io::Error::other("store failed"));
                }
            }
        }
        let (enc, digest, _) = tar.finish();
        actual = digest;
        enc.finish().map(|_| ())
    });
    if let Some(e) = store_error {
        return Err(OciError::store(format!("layer {diff_id}"))(e));
    }
    let (digest, size, staged) = staged?;
    if actual != diff_id {
        return Err(OciError::DiffIdMismatch {
            diff_id: diff_id.to_string(),
            actual,
        });
    }
    blobs.commit(staged, &digest)?;
    blobs.record_layer_blob(diff_id, compression, &digest)?;
    progress.finish(diff_id, &format!("Compressed ({})", compression.name()));
    Ok(LayerBlob {
        digest,
        size,
        diff_id: diff_id.to_string(),
        compression,
    })
}

/// A layer blob already verified into [`Blobs`], about to be imported.
#[derive(Debug, Clone)]
pub struct IncomingLayer {
    pub digest: String,
    /// From the media type; `None` (docker-archive) means recognise it
    /// from the first bytes.
    pub compression: Option<Compression>,
}

/// Imports an image whose config and layer blobs are all verified in
/// `blobs`: first every layer's uncompressed content is checked against the
/// config's diff_ids, then missing layers are added, then the image, then
/// its tags. A failure before the image is added leaves at most complete,
/// verified layers behind, never an image.
pub fn import(
    store: &dyn ImageStore,
    blobs: &Blobs,
    config: &[u8],
    layers: &[IncomingLayer],
    tags: &[String],
    progress: &dyn Progress,
) -> Result<String> {
    let id = sha256_of(config);
    let view = parse_config(config, &format!("config {id}"))?;
    if view.rootfs.diff_ids.len() != layers.len() {
        return Err(OciError::Image {
            reference: id,
            reason: format!(
                "manifest lists {} layers but the config has {} diff_ids",
                layers.len(),
                view.rootfs.diff_ids.len()
            ),
        });
    }
    let mut todo = Vec::new();
    for (layer, diff_id) in layers.iter().zip(&view.rootfs.diff_ids) {
        let has = store
            .has_layer(diff_id)
            .map_err(OciError::store(format!("layer {diff_id}")))?;
        // A layer the store has needs no blob (a pull skips downloading it);
        // one we hold anyway is checked and remembered for later saves.
        if has && !blobs.contains(&layer.digest)? {
            continue;
        }
        let compression = match layer.compression {
            Some(c) => c,
            None => sniff_blob(blobs, &layer.digest)?,
        };
        if blobs.layer_blob(diff_id, compression)?.as_deref() != Some(layer.digest.as_str()) {
            verify_diff_id(blobs, &layer.digest, compression, diff_id)?;
            blobs.record_layer_blob(diff_id, compression, &layer.digest)?;
        }
        if !has {
            todo.push((layer.digest.clone(), compression, diff_id.clone()));
        }
    }
    for (digest, compression, diff_id) in todo {
        let path = blobs.path(&digest)?;
        let raw =
            decompress(compression, blobs.open_blob(&digest)?).map_err(OciError::io(&path))?;
        let mut tar = HashingReader::new(raw);
        store
            .add_layer(&diff_id, &mut tar)
            .map_err(OciError::store(format!(
                "add layer {diff_id} (blob {digest})"
            )))?;
        io::copy(&mut tar, &mut io::sink()).map_err(OciError::io(&path))?;
        let (actual, _) = tar.finish();
        if actual != diff_id {
            return Err(OciError::DiffIdMismatch { diff_id, actual });
        }
        progress.finish(&digest, "Pull complete");
    }
    let stored = store
        .add_image(config)
        .map_err(OciError::store(format!("add image {id}")))?;
    if stored != id {
        return Err(OciError::Image {
            reference: id,
            reason: format!("store recorded it as {stored}"),
        });
    }
    for tag in tags {
        store
            .tag(&id, tag)
            .map_err(OciError::store(format!("tag {tag}")))?;
    }
    Ok(id)
}

fn sniff_blob(blobs: &Blobs, digest: &str) -> Result<Compression> {
    let mut head = [0u8; 4];
    let mut f = blobs.open_blob(digest)?;
    let n = f
        .read(&mut head)
        .map_err(OciError::io(blobs.path(digest)?))?;
    Ok(Compression::sniff(&head[..n]))
}

/// Decompresses a blob and checks that the tar inside hashes to `diff_id`.
fn verify_diff_id(blobs: &Blobs, digest: &str, c: Compression, diff_id: &str) -> Result<()> {
    let path = blobs.path(digest)?;
    let mut tar =
        HashingReader::new(decompress(c, blobs.open_blob(digest)?).map_err(OciError::io(&path))?);
    io::copy(&mut tar, &mut io::sink()).map_err(|e| OciError::Invalid {
        what: format!("layer blob {digest}"),
        reason: format!("cannot decompress as {}: {e}", c.name()),
    })?;
    let (actual, _) = tar.finish();
    if actual != diff_id {
        return Err(OciError::DiffIdMismatch {
            diff_id: diff_id.to_string(),
            actual,
        });
    }
    Ok(())
}
