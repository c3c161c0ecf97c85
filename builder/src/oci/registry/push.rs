//! `image push`: every blob the registry lacks (see [`super::upload`]),
//! then the manifest.

use super::Reference;
use super::client::{Client, ClientOptions, Req, ReqBody, status_error};
use super::upload::BlobPush;
use crate::oci::blobs::Blobs;
use crate::oci::digest::sha256_of;
use crate::oci::error::{OciError, Result};
use crate::oci::image::prepare;
use crate::oci::media::{Compression, ManifestFormat};
use crate::oci::progress::Progress;
use crate::oci::store_api::ImageStore;

#[derive(Debug, Clone)]
pub struct PushOptions {
    pub client: ClientOptions,
    pub compression: Compression,
    pub format: ManifestFormat,
    /// Blobs larger than this go up in PATCH chunks of this size; smaller
    /// ones in one PUT. 0 means always one PUT.
    pub chunk_size: u64,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            client: ClientOptions::default(),
            compression: Compression::Gzip,
            format: ManifestFormat::Oci,
            chunk_size: 64 << 20,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PushResult {
    /// Digest of the pushed manifest.
    pub digest: String,
    pub size: u64,
    /// Blobs uploaded (not skipped or mounted).
    pub uploaded: usize,
}

pub fn push(
    store: &dyn ImageStore,
    reference: &str,
    opts: &PushOptions,
    progress: &dyn Progress,
) -> Result<PushResult> {
    let r = Reference::parse(reference)?;
    if r.digest.is_some() {
        return Err(OciError::Reference {
            reference: reference.to_string(),
            reason: "push needs a tag, not a digest".into(),
        });
    }
    let blobs = Blobs::for_store(store)?;
    let image = prepare(store, &blobs, reference, opts.compression, progress)?;
    let client = Client::new(&r.registry, r.api_host(), &opts.client)?;
    let push_scope = format!("repository:{}:pull,push", r.repository);
    let repo = r.full_repository();
    let mut uploaded = 0;
    let mut all: Vec<(&str, u64)> = image
        .layers
        .iter()
        .map(|l| (l.digest.as_str(), l.size))
        .collect();
    all.push((image.config_digest(), image.config.len() as u64));
    let pusher = BlobPush {
        client: &client,
        r: &r,
        blobs: &blobs,
        scope: &push_scope,
        chunk_size: opts.chunk_size,
        progress,
    };
    for (digest, size) in all {
        if pusher.push(digest, size)? {
            uploaded += 1;
        }
        blobs.add_source(digest, &repo)?;
    }
    let manifest = image.manifest(opts.format);
    let what = format!("manifest {}", r.full_tagged());
    let resp = client.send(&Req {
        method: "PUT",
        url: client.url(&format!(
            "/v2/{}/manifests/{}",
            r.repository,
            r.tag_or_latest()
        )),
        headers: vec![(
            "Content-Type",
            image
                .effective_format(opts.format)
                .manifest_type()
                .to_string(),
        )],
        body: ReqBody::Bytes(&manifest),
        scope: push_scope,
        what: what.clone(),
    })?;
    if resp.status().as_u16() != 201 && !resp.status().is_success() {
        return Err(status_error(&what, resp).into());
    }
    let digest = sha256_of(&manifest);
    store
        .add_repo_digest(&image.id, &repo, &digest)
        .map_err(OciError::store(format!("record {repo}@{digest}")))?;
    Ok(PushResult {
        digest,
        size: manifest.len() as u64,
        uploaded,
    })
}
