//! `image pull`: manifest (through an index to this platform), config and
//! layer blobs, each verified by digest and size into `blobs/` before the
//! image is imported. Interrupted downloads resume from the bytes already
//! on disk (HTTP Range), and blobs verified by an earlier attempt are not
//! fetched again.

use std::fs::{self, OpenOptions};
use std::io::{self, Seek, Write};

use nix::fcntl::{Flock, FlockArg};

use super::client::{Client, ClientOptions, Req, ReqBody, status_error};
use super::{Reference, RegistryError};
use crate::oci::blobs::Blobs;
use crate::oci::digest::{check, sha256_hex, sha256_of};
use crate::oci::error::{OciError, Result};
use crate::oci::image::{IncomingLayer, import, parse_config};
use crate::oci::layout::{Index, MANIFEST_LIMIT, Manifest, pick_platform};
use crate::oci::media::{
    Compression, DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, is_config, is_index,
    is_manifest,
};
use crate::oci::progress::{Progress, ProgressReader};
use crate::oci::store_api::ImageStore;

#[derive(Debug, Clone)]
pub struct PullResult {
    pub id: String,
    /// Digest of the image manifest that was pulled.
    pub digest: String,
    /// The local name it was tagged with (none when pulled by digest).
    pub tag: Option<String>,
}

pub fn pull(
    store: &dyn ImageStore,
    reference: &str,
    opts: &ClientOptions,
    progress: &dyn Progress,
) -> Result<PullResult> {
    let r = Reference::parse(reference)?;
    let blobs = Blobs::for_store(store)?;
    let client = Client::new(&r.registry, r.api_host(), opts)?;
    let scope = format!("repository:{}:pull", r.repository);
    let (bytes, media, digest) =
        get_manifest(&client, &r, r.manifest_ref(), &scope, r.digest.as_deref())?;
    let (bytes, digest) = if is_index(&media) {
        let index: Index =
            serde_json::from_slice(&bytes).map_err(OciError::json(format!("index of {r}")))?;
        let chosen = pick_platform(&index, &r.to_string())?;
        let d = chosen.digest.clone();
        let (b, m, d) = get_manifest(&client, &r, &d, &scope, Some(&d))?;
        if !is_manifest(&m) {
            return Err(OciError::UnsupportedMediaType {
                digest: d,
                media_type: m,
            });
        }
        (b, d)
    } else if is_manifest(&media) {
        (bytes, digest)
    } else {
        return Err(OciError::UnsupportedMediaType {
            digest,
            media_type: media,
        });
    };
    let manifest: Manifest =
        serde_json::from_slice(&bytes).map_err(OciError::json(format!("manifest {digest}")))?;
    if !is_config(&manifest.config.media_type) {
        return Err(OciError::UnsupportedMediaType {
            digest: manifest.config.digest.clone(),
            media_type: manifest.config.media_type.clone(),
        });
    }
    // Refuse unknown layer types before downloading anything.
    let mut compressions = Vec::new();
    for l in &manifest.layers {
        compressions.push(Compression::of_layer(&l.media_type, &l.digest)?);
    }
    fetch_blob(
        &client,
        &r,
        &blobs,
        &manifest.config.digest,
        manifest.config.size,
        &scope,
        None,
    )?;
    let config = blobs.read(&manifest.config.digest)?;
    let view = parse_config(&config, &format!("config {}", manifest.config.digest))?;
    let mut layers = Vec::new();
    for (i, (l, c)) in manifest.layers.iter().zip(compressions).enumerate() {
        let have = match view.rootfs.diff_ids.get(i) {
            Some(diff) => store
                .has_layer(diff)
                .map_err(OciError::store(format!("layer {diff}")))?,
            None => false,
        };
        if have {
            progress.finish(&l.digest, "Already exists");
        } else {
            fetch_blob(
                &client,
                &r,
                &blobs,
                &l.digest,
                l.size,
                &scope,
                Some(progress),
            )?;
        }
        layers.push(IncomingLayer {
            digest: l.digest.clone(),
            compression: Some(c),
        });
    }
    let tag = r.digest.is_none().then(|| r.full_tagged());
    let id = import(store, &blobs, &config, &layers, tag.as_slice(), progress)?;
    let repo = r.full_repository();
    store
        .add_repo_digest(&id, &repo, &digest)
        .map_err(OciError::store(format!("record {repo}@{digest}")))?;
    for d in manifest
        .layers
        .iter()
        .map(|l| &l.digest)
        .chain([&manifest.config.digest])
    {
        if blobs.contains(d)? {
            blobs.add_source(d, &repo)?;
        }
    }
    Ok(PullResult { id, digest, tag })
}

/// GETs a manifest or index; verifies it against `expect` (a digest
/// reference) or the registry's `Docker-Content-Digest`.
fn get_manifest(
    client: &Client,
    r: &Reference,
    reference: &str,
    scope: &str,
    expect: Option<&str>,
) -> Result<(Vec<u8>, String, String)> {
    let what = format!("manifest {}:{reference}", r.full_repository());
    let accept = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(", ");
    let mut resp = client.send(&Req {
        method: "GET",
        url: client.url(&format!("/v2/{}/manifests/{reference}", r.repository)),
        headers: vec![("Accept", accept)],
        body: ReqBody::Empty,
        scope: scope.to_string(),
        what: what.clone(),
    })?;
    if !resp.status().is_success() {
        return Err(status_error(&what, resp).into());
    }
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(';').next().unwrap_or("").trim().to_string())
    };
    let content_type = header("content-type");
    let announced = header("docker-content-digest");
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(MANIFEST_LIMIT)
        .read_to_vec()
        .map_err(|e| RegistryError::Connection {
            what: what.clone(),
            url: client.url(&format!("/v2/{}/manifests/{reference}", r.repository)),
            source: super::cause(e),
        })?;
    let digest = sha256_of(&bytes);
    if let Some(expected) = expect.or(announced.as_deref().filter(|d| d.starts_with("sha256:"))) {
        check(expected, None, &digest, bytes.len() as u64)?;
    }
    let body_type = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["mediaType"].as_str().map(str::to_string));
    let media = body_type
        .or(content_type)
        .unwrap_or_else(|| OCI_MANIFEST.to_string());
    Ok((bytes, media, digest))
}

/// Downloads a blob into `blobs/` unless it is there, resuming a partial
/// download left by an earlier attempt, and verifying digest and size
/// before the blob becomes visible.
fn fetch_blob(
    client: &Client,
    r: &Reference,
    blobs: &Blobs,
    digest: &str,
    size: u64,
    scope: &str,
    progress: Option<&dyn Progress>,
) -> Result<()> {
    let progress = progress.unwrap_or(&crate::oci::NoProgress);
    if blobs.contains(digest)? {
        progress.finish(digest, "Already exists");
        return Ok(());
    }
    let partial_dir = blobs.partial_dir();
    fs::create_dir_all(&partial_dir).map_err(OciError::io(&partial_dir))?;
    let partial = partial_dir.join(sha256_hex(digest)?);
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(&partial)
        .map_err(OciError::io(&partial))?;
    // Another strata pulling the same blob holds this lock until the blob
    // is in place; then there is nothing left to do here.
    let mut locked = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| {
        OciError::io(&partial)(std::io::Error::from_raw_os_error(errno as i32))
    })?;
    if blobs.contains(digest)? {
        let _ = fs::remove_file(&partial);
        progress.finish(digest, "Already exists");
        return Ok(());
    }
    let file: &mut fs::File = &mut locked;
    let what = format!("blob {digest} of {}", r.full_repository());
    let url = client.url(&format!("/v2/{}/blobs/{digest}", r.repository));
    progress.start(digest, "Downloading", size);
    let resumed = file.metadata().map_err(OciError::io(&partial))?.len();
    if resumed > 0 && resumed <= size {
        progress.advance(digest, resumed);
    }
    // Each round asks for what is missing; a connection dropped mid-body
    // leaves the bytes received so far for the next round.
    let mut rounds = 0;
    loop {
        let have = file.metadata().map_err(OciError::io(&partial))?.len();
        if have > size {
            file.set_len(0).map_err(OciError::io(&partial))?;
            continue;
        }
        if have == size {
            break;
        }
        let mut headers = Vec::new();
        if have > 0 {
            headers.push(("Range", format!("bytes={have}-")));
        }
        let mut resp = client.send(&Req {
            method: "GET",
            url: url.clone(),
            headers,
            body: ReqBody::Empty,
            scope: scope.to_string(),
            what: what.clone(),
        })?;
        match resp.status().as_u16() {
            206 => {}
            200 => {
                file.set_len(0).map_err(OciError::io(&partial))?;
            }
            _ => return Err(status_error(&what, resp).into()),
        }
        let body = resp.body_mut().with_config().limit(size).reader();
        let mut reader = ProgressReader {
            inner: body,
            id: digest,
            progress,
        };
        match io::copy(&mut reader, file) {
            Ok(_) => {}
            Err(e) if rounds < 4 => {
                log::info!("{what}: {e}, resuming");
                rounds += 1;
            }
            Err(e) => {
                return Err(RegistryError::Protocol {
                    what,
                    reason: format!("download interrupted: {e}"),
                }
                .into());
            }
        }
        let now = file.metadata().map_err(OciError::io(&partial))?.len();
        if now < size && now == have {
            return Err(RegistryError::Protocol {
                what,
                reason: format!("download stopped at {now} of {size} bytes"),
            }
            .into());
        }
    }
    file.flush().map_err(OciError::io(&partial))?;
    file.rewind().map_err(OciError::io(&partial))?;
    let verified = blobs.put_verified(digest, Some(size), file);
    // Verified or not, the partial file has served its purpose: a bad one
    // must not be resumed.
    let _ = fs::remove_file(&partial);
    verified?;
    progress.finish(digest, "Download complete");
    Ok(())
}
