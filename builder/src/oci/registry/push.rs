//! `image push`: every blob the registry lacks (HEAD first; a
//! cross-repository mount where the blob is known to exist in another
//! repository of the same registry; else a monolithic PUT, or PATCH chunks
//! for blobs larger than the chunk size), then the manifest.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use super::client::{Client, ClientOptions, Req, ReqBody, encode, status_error};
use super::{Reference, RegistryError};
use crate::oci::blobs::Blobs;
use crate::oci::digest::sha256_of;
use crate::oci::error::{OciError, Result};
use crate::oci::image::prepare;
use crate::oci::media::{Compression, ManifestFormat};
use crate::oci::progress::{Progress, ProgressReader};
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
    let blobs = Blobs::open(store.root())?;
    let image = prepare(store, &blobs, reference, opts.compression)?;
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
    for (digest, size) in all {
        if push_blob(
            &client,
            &r,
            &blobs,
            digest,
            size,
            &push_scope,
            opts,
            progress,
        )? {
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

/// Makes one blob exist in the repository; true if it was uploaded.
#[allow(clippy::too_many_arguments)]
fn push_blob(
    client: &Client,
    r: &Reference,
    blobs: &Blobs,
    digest: &str,
    size: u64,
    scope: &str,
    opts: &PushOptions,
    progress: &dyn Progress,
) -> Result<bool> {
    let what = format!("blob {digest} to {}", r.full_repository());
    let req =
        |method, url, headers, body, scope: &str| mk(method, url, headers, body, scope, &what);
    let head = client.send(&req(
        "HEAD",
        client.url(&format!("/v2/{}/blobs/{digest}", r.repository)),
        Vec::new(),
        ReqBody::Empty,
        scope,
    ))?;
    match head.status().as_u16() {
        200 => {
            progress.finish(digest, "Layer already exists");
            return Ok(false);
        }
        404 => {}
        _ => return Err(status_error(&what, head).into()),
    }
    // Cross-repository mount from a repository of the same registry.
    let prefix = format!("{}/", r.registry);
    let mount_from = blobs
        .sources(digest)?
        .into_iter()
        .filter_map(|s| s.strip_prefix(&prefix).map(str::to_string))
        .find(|s| *s != r.repository);
    let (url, mount_scope) = match &mount_from {
        Some(from) => (
            format!(
                "/v2/{}/blobs/uploads/?mount={digest}&from={}",
                r.repository,
                encode(from)
            ),
            format!("{scope} repository:{from}:pull"),
        ),
        None => (
            format!("/v2/{}/blobs/uploads/", r.repository),
            scope.to_string(),
        ),
    };
    let start = client.send(&req(
        "POST",
        client.url(&url),
        Vec::new(),
        ReqBody::Empty,
        &mount_scope,
    ))?;
    let mut location = match start.status().as_u16() {
        201 => {
            let from = mount_from.unwrap_or_default();
            progress.finish(digest, &format!("Mounted from {from}"));
            return Ok(false);
        }
        202 => location_of(&start, &what)?,
        _ => return Err(status_error(&what, start).into()),
    };
    let path = blobs.path(digest)?;
    let open_at = |offset: u64, len: u64| -> std::io::Result<Box<dyn Read + '_>> {
        let mut f = File::open(&path)?;
        f.seek(SeekFrom::Start(offset))?;
        Ok(Box::new(ProgressReader {
            inner: f.take(len),
            id: digest,
            progress,
        }))
    };
    progress.start(digest, "Pushing", size);
    let octet = || ("Content-Type", "application/octet-stream".to_string());
    let whole = || open_at(0, size);
    let last_body = if opts.chunk_size > 0 && size > opts.chunk_size {
        let mut offset = 0;
        while offset < size {
            let len = opts.chunk_size.min(size - offset);
            let open = move || open_at(offset, len);
            let resp = client.send(&mk(
                "PATCH",
                client.url(&location),
                vec![
                    octet(),
                    ("Content-Range", format!("{offset}-{}", offset + len - 1)),
                ],
                ReqBody::Reader(&open, len),
                scope,
                &what,
            ))?;
            if resp.status().as_u16() != 202 {
                return Err(status_error(&what, resp).into());
            }
            location = location_of(&resp, &what)?;
            offset += len;
        }
        ReqBody::Empty
    } else {
        ReqBody::Reader(&whole, size)
    };
    let url = with_digest(&client.url(&location), digest);
    let resp = client.send(&mk("PUT", url, vec![octet()], last_body, scope, &what))?;
    if resp.status().as_u16() != 201 {
        return Err(status_error(&what, resp).into());
    }
    progress.finish(digest, "Pushed");
    Ok(true)
}

fn mk<'b>(
    method: &'static str,
    url: String,
    headers: Vec<(&'static str, String)>,
    body: ReqBody<'b>,
    scope: &str,
    what: &str,
) -> Req<'b> {
    Req {
        method,
        url,
        headers,
        body,
        scope: scope.to_string(),
        what: what.to_string(),
    }
}

fn location_of(resp: &ureq::http::Response<ureq::Body>, what: &str) -> Result<String> {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| {
            OciError::from(RegistryError::Protocol {
                what: what.to_string(),
                reason: "upload response has no Location header".into(),
            })
        })
}

fn with_digest(url: &str, digest: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}digest={}", encode(digest))
}
