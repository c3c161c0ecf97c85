//! `docker save` archives: `manifest.json` (Config, RepoTags, Layers),
//! `repositories`, the config as `<id>.json` and each layer as an
//! uncompressed `<diff_id>/layer.tar`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::archive::{append, append_file, confined};
use super::blobs::Blobs;
use super::digest::{sha256_hex, verify_bytes};
use super::error::{OciError, Result};
use super::image::{IncomingLayer, PreparedImage, import, layer_blob};
use super::layout::Loaded;
use super::media::Compression;
use super::progress::NoProgress;
use super::registry::Reference;
use super::store_api::ImageStore;

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// Writes images as a `docker save` archive. Layers go in uncompressed, as
/// Docker writes them; their uncompressed blob is kept in `blobs/`.
pub fn write_tar(
    store: &dyn ImageStore,
    images: &[PreparedImage],
    blobs: &Blobs,
    out: &mut dyn Write,
) -> Result<()> {
    let mut tar = tar::Builder::new(out);
    let mut written = BTreeSet::new();
    let mut entries = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let io_err = |e| OciError::io("<output>")(e);
    for image in images {
        let config_name = format!("{}.json", sha256_hex(&image.id)?);
        if written.insert(config_name.clone()) {
            append(
                &mut tar,
                &config_name,
                image.config.len() as u64,
                &mut &image.config[..],
            )
            .map_err(io_err)?;
        }
        let mut layers = Vec::new();
        for layer in &image.layers {
            let name = format!("{}/layer.tar", sha256_hex(&layer.diff_id)?);
            if written.insert(name.clone()) {
                let raw = layer_blob(store, blobs, &layer.diff_id, Compression::None, &NoProgress)?;
                append_file(&mut tar, &name, &blobs.path(&raw.digest)?)?;
            }
            layers.push(name);
        }
        let mut repo_tags = Vec::new();
        if let Some(name) = &image.name {
            let r = Reference::parse(name)?;
            let familiar = r.familiar();
            if let (Some((repo, tag)), Some(last)) = (familiar.rsplit_once(':'), layers.last()) {
                let top = last.trim_end_matches("/layer.tar").to_string();
                repositories
                    .entry(repo.to_string())
                    .or_default()
                    .insert(tag.to_string(), top);
            }
            repo_tags.push(familiar);
        }
        entries.push(Entry {
            config: config_name,
            repo_tags: Some(repo_tags),
            layers,
        });
    }
    for (name, value) in [
        ("manifest.json", serde_json::to_vec(&entries)),
        ("repositories", serde_json::to_vec(&repositories)),
    ] {
        let bytes = value.map_err(OciError::json(name))?;
        append(&mut tar, name, bytes.len() as u64, &mut &bytes[..]).map_err(io_err)?;
    }
    tar.finish().map_err(io_err)?;
    Ok(())
}

/// Loads every image of an unpacked `docker save` archive. Configs named
/// by digest are checked against it; layers are checked against the
/// config's diff_ids. All files are verified into `blobs/` before the first
/// layer is imported.
pub fn load_dir(
    store: &dyn ImageStore,
    blobs: &Blobs,
    dir: &Path,
    what: &str,
) -> Result<Vec<Loaded>> {
    let manifest_path = confined(dir, "manifest.json", what)?;
    let bytes = fs::read(&manifest_path).map_err(OciError::io(&manifest_path))?;
    let entries: Vec<Entry> =
        serde_json::from_slice(&bytes).map_err(OciError::json(format!("{what}: manifest.json")))?;
    let mut staged = Vec::new();
    let mut adopted: std::collections::HashMap<std::path::PathBuf, String> =
        std::collections::HashMap::new();
    for entry in &entries {
        let config_path = confined(dir, &entry.config, what)?;
        let config = fs::read(&config_path).map_err(OciError::io(&config_path))?;
        if let Some(digest) = digest_in_name(&entry.config) {
            verify_bytes(&config, &digest, None)?;
        }
        let mut layers = Vec::new();
        for name in &entry.layers {
            let path = confined(dir, name, what)?;
            // Repeated layers are symlinks to one file: adopt it once.
            let digest = match adopted.get(&path) {
                Some(d) => d.clone(),
                None => {
                    let named = digest_in_name(name);
                    let size = fs::metadata(&path).map_err(OciError::io(&path))?.len();
                    let (d, _) = blobs.adopt(&path, named.as_deref(), Some(size))?;
                    adopted.insert(path, d.clone());
                    d
                }
            };
            layers.push(IncomingLayer {
                digest,
                compression: None,
            });
        }
        staged.push((config, layers, entry.repo_tags.clone().unwrap_or_default()));
    }
    let mut loaded = Vec::new();
    for (config, layers, tags) in staged {
        let id = import(store, blobs, &config, &layers, &tags, &super::NoProgress)?;
        loaded.push(Loaded { id, tags });
    }
    Ok(loaded)
}

/// The digest a file name carries: `<hex>.json` (classic) or
/// `blobs/sha256/<hex>` (Docker 25 and later).
fn digest_in_name(name: &str) -> Option<String> {
    let base = name.rsplit('/').next().unwrap_or(name);
    let hex = base.strip_suffix(".json").unwrap_or(base);
    let digest = format!("sha256:{hex}");
    let in_blobs = name.starts_with("blobs/sha256/");
    (sha256_hex(&digest).is_ok() && (in_blobs || base.ends_with(".json"))).then_some(digest)
}
