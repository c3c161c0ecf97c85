//! OCI image layout (image-spec `image-layout.md`): `oci-layout`,
//! `index.json` and `blobs/sha256/`, as a tar (`image save`) or a
//! directory (`image load oci:DIR[:tag]`).

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::Path;

use serde::Deserialize;

use super::archive::{append, append_dir, confined};
use super::blobs::Blobs;
use super::digest::{HashingReader, sha256_hex, verify_bytes};
use super::error::{OciError, Result};
use super::image::{IncomingLayer, PreparedImage, import};
use super::media::{Compression, ManifestFormat, is_config, is_index, is_manifest};
use super::registry::Reference;
use super::store_api::ImageStore;

pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Full image name, as Docker and containerd write it beside the short ref.name.
pub const IMAGE_NAME: &str = "io.containerd.image.name";
/// Largest manifest or index accepted (registries use 4 MiB too).
pub(crate) const MANIFEST_LIMIT: u64 = 4 << 20;
const LAYOUT_FILE: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// Writes prepared images as an OCI layout tar. Each image gets an
/// index.json entry whose `ref.name` is its tag and `io.containerd.image.name`
/// its full name (as `docker save` does since Docker 25).
pub fn write_tar(images: &[PreparedImage], blobs: &Blobs, out: &mut dyn Write) -> Result<()> {
    let mut tar = tar::Builder::new(out);
    let mut written = BTreeSet::new();
    let mut manifests = Vec::new();
    let io_err = |e| OciError::io("<output>")(e);
    append(
        &mut tar,
        "oci-layout",
        LAYOUT_FILE.len() as u64,
        &mut LAYOUT_FILE.as_bytes(),
    )
    .map_err(io_err)?;
    append_dir(&mut tar, "blobs/").map_err(io_err)?;
    append_dir(&mut tar, "blobs/sha256/").map_err(io_err)?;
    for image in images {
        let manifest = image.manifest(ManifestFormat::Oci);
        let (manifest_digest, _) = blobs.put_bytes(&manifest)?;
        let mut blob_list: Vec<&str> = vec![manifest_digest.as_str(), image.config_digest()];
        blob_list.extend(image.layers.iter().map(|l| l.digest.as_str()));
        for digest in blob_list {
            if written.insert(digest.to_string()) {
                append_blob(&mut tar, blobs, digest)?;
            }
        }
        let mut annotations = serde_json::Map::new();
        if let Some(name) = &image.name {
            let r = Reference::parse(name)?;
            annotations.insert(REF_NAME.into(), r.tag_or_latest().into());
            annotations.insert(IMAGE_NAME.into(), r.full_tagged().into());
        }
        let mut desc = serde_json::json!({
            "mediaType": ManifestFormat::Oci.manifest_type(),
            "digest": manifest_digest,
            "size": manifest.len(),
        });
        if !annotations.is_empty() {
            desc["annotations"] = annotations.into();
        }
        manifests.push(desc);
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": super::media::OCI_INDEX,
        "manifests": manifests,
    });
    let index = serde_json::to_vec(&index).map_err(OciError::json("index.json"))?;
    append(&mut tar, "index.json", index.len() as u64, &mut &index[..]).map_err(io_err)?;
    tar.finish().map_err(io_err)?;
    Ok(())
}

/// Appends a blob, checking on the way that it still has its digest.
fn append_blob<W: Write>(tar: &mut tar::Builder<W>, blobs: &Blobs, digest: &str) -> Result<()> {
    let path = blobs.path(digest)?;
    let size = fs::metadata(&path).map_err(OciError::io(&path))?.len();
    let mut reader = HashingReader::new(blobs.open_blob(digest)?);
    let name = format!("blobs/sha256/{}", sha256_hex(digest)?);
    append(tar, &name, size, &mut reader).map_err(OciError::io(&path))?;
    let (actual, count) = reader.finish();
    super::digest::check(digest, Some(size), &actual, count)
}

#[derive(Debug, Deserialize)]
pub(crate) struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub annotations: std::collections::HashMap<String, String>,
    #[serde(default)]
    pub platform: Option<Platform>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Index {
    pub manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Manifest {
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// The architecture name OCI uses for this machine.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// From an index, the manifest for linux on this machine's architecture
/// (or the only manifest there is).
pub(crate) fn pick_platform<'a>(index: &'a Index, what: &str) -> Result<&'a Descriptor> {
    let arch = host_arch();
    index
        .manifests
        .iter()
        .find(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == arch)
        })
        .or(match index.manifests.as_slice() {
            [only] => Some(only),
            _ => None,
        })
        .ok_or_else(|| OciError::Image {
            reference: what.to_string(),
            reason: format!("no linux/{arch} image in the index"),
        })
}

/// An image loaded from an archive or layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub id: String,
    pub tags: Vec<String>,
}

/// Loads the images of an OCI layout directory: every index entry, or only
/// the one whose `ref.name` is `tag`. Every blob is verified into the blob
/// store before the first layer is imported. `owned`: the directory is our
/// staging copy, so verified blobs are moved rather than copied.
pub fn load_dir(
    store: &dyn ImageStore,
    blobs: &Blobs,
    dir: &Path,
    tag: Option<&str>,
    owned: bool,
) -> Result<Vec<Loaded>> {
    let what = dir.display().to_string();
    let layout_path = confined(dir, "oci-layout", &what)?;
    let layout = fs::read(&layout_path).map_err(OciError::io(&layout_path))?;
    let layout: serde_json::Value =
        serde_json::from_slice(&layout).map_err(OciError::json(format!("{what}/oci-layout")))?;
    if layout["imageLayoutVersion"].as_str().is_none() {
        return Err(OciError::Invalid {
            what: format!("{what}/oci-layout"),
            reason: "no imageLayoutVersion".into(),
        });
    }
    let index_path = confined(dir, "index.json", &what)?;
    let index = fs::read(&index_path).map_err(OciError::io(&index_path))?;
    let index: Index =
        serde_json::from_slice(&index).map_err(OciError::json(format!("{what}/index.json")))?;
    let selected: Vec<&Descriptor> = index
        .manifests
        .iter()
        .filter(|d| tag.is_none_or(|t| d.annotations.get(REF_NAME).is_some_and(|n| n == t)))
        .collect();
    if selected.is_empty() {
        return Err(OciError::Image {
            reference: format!("{what}:{}", tag.unwrap_or("")),
            reason: "no such image in the layout".into(),
        });
    }
    let fetch = |digest: &str, size: u64| -> Result<()> {
        if blobs.contains(digest)? {
            return Ok(());
        }
        let rel = format!("blobs/sha256/{}", sha256_hex(digest)?);
        if !dir.join(&rel).exists() {
            return Err(OciError::MissingBlob {
                digest: digest.to_string(),
                place: what.clone(),
            });
        }
        let path = confined(dir, &rel, &what)?;
        if owned {
            blobs.adopt(&path, Some(digest), Some(size))?;
        } else {
            let mut f = fs::File::open(&path).map_err(OciError::io(&path))?;
            blobs.put_verified(digest, Some(size), &mut f)?;
        }
        Ok(())
    };
    let mut staged = Vec::new();
    for desc in selected {
        let manifest_desc = resolve_manifest(desc, &what, &|d, s| {
            if s > MANIFEST_LIMIT {
                return Err(OciError::Invalid {
                    what: format!("manifest {d}"),
                    reason: format!("{s} bytes is more than a manifest can be"),
                });
            }
            fetch(d, s)?;
            let bytes = blobs.read(d)?;
            verify_bytes(&bytes, d, Some(s))?;
            Ok(bytes)
        })?;
        let (manifest, config) = manifest_desc;
        fetch(&manifest.config.digest, manifest.config.size)?;
        let config_bytes = blobs.read(&manifest.config.digest)?;
        let mut layers = Vec::new();
        for l in &manifest.layers {
            let compression = Compression::of_layer(&l.media_type, &l.digest)?;
            fetch(&l.digest, l.size)?;
            layers.push(IncomingLayer {
                digest: l.digest.clone(),
                compression: Some(compression),
            });
        }
        let tags = desc_tags(desc);
        staged.push((config, config_bytes, layers, tags));
    }
    let mut loaded = Vec::new();
    for (config_digest, config, layers, tags) in staged {
        verify_bytes(&config, &config_digest, None)?;
        let id = import(store, blobs, &config, &layers, &tags, &super::NoProgress)?;
        loaded.push(Loaded { id, tags });
    }
    Ok(loaded)
}

/// Follows an index entry to an image manifest (through nested indexes,
/// choosing this platform), returning the manifest and its config digest.
pub(crate) fn resolve_manifest(
    desc: &Descriptor,
    what: &str,
    read: &dyn Fn(&str, u64) -> Result<Vec<u8>>,
) -> Result<(Manifest, String)> {
    resolve_nested(desc, what, read, 0)
}

/// How many indexes may lead to a manifest. Digests make a cycle
/// impossible, but a long chain of indexes would overflow the stack.
const MAX_INDEX_DEPTH: usize = 8;

fn resolve_nested(
    desc: &Descriptor,
    what: &str,
    read: &dyn Fn(&str, u64) -> Result<Vec<u8>>,
    depth: usize,
) -> Result<(Manifest, String)> {
    if depth > MAX_INDEX_DEPTH {
        return Err(OciError::Invalid {
            what: format!("index {}", desc.digest),
            reason: format!("indexes nested more than {MAX_INDEX_DEPTH} deep"),
        });
    }
    let bytes = read(&desc.digest, desc.size)?;
    let media = if desc.media_type.is_empty() {
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["mediaType"].as_str().map(str::to_string))
            .unwrap_or_default()
    } else {
        desc.media_type.clone()
    };
    if is_index(&media) {
        let index: Index = serde_json::from_slice(&bytes)
            .map_err(OciError::json(format!("index {}", desc.digest)))?;
        let chosen = pick_platform(&index, what)?;
        return resolve_nested(chosen, what, read, depth + 1);
    }
    if !is_manifest(&media) {
        return Err(OciError::UnsupportedMediaType {
            digest: desc.digest.clone(),
            media_type: media,
        });
    }
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(OciError::json(format!("manifest {}", desc.digest)))?;
    if !is_config(&manifest.config.media_type) {
        return Err(OciError::UnsupportedMediaType {
            digest: manifest.config.digest.clone(),
            media_type: manifest.config.media_type.clone(),
        });
    }
    let config = manifest.config.digest.clone();
    Ok((manifest, config))
}

/// Names to tag a loaded image with: the full name if the layout carries
/// one, or `ref.name` when it is a full reference rather than a bare tag.
fn desc_tags(desc: &Descriptor) -> Vec<String> {
    if let Some(name) = desc.annotations.get(IMAGE_NAME) {
        return vec![name.clone()];
    }
    match desc.annotations.get(REF_NAME) {
        Some(name) if name.contains(['/', ':']) && Reference::parse(name).is_ok() => {
            vec![name.clone()]
        }
        _ => Vec::new(),
    }
}
