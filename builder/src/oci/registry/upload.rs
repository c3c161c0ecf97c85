//! One blob up to a registry: HEAD first (present: done); else a
//! cross-repository mount where the blob is known to exist in another
//! repository of the same registry; else an upload session: one PUT, or
//! PATCH chunks then PUT for blobs above the chunk size. A chunk that
//! breaks off is resumed where the registry says it stands (`GET` on the
//! session); a session the registry gave up on (distribution answers 404
//! `BLOB_UPLOAD_INVALID` after a broken PATCH) is started again.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use super::client::{Client, Req, ReqBody, encode, status_error};
use super::{Reference, RegistryError};
use crate::oci::blobs::Blobs;
use crate::oci::error::{OciError, Result};
use crate::oci::progress::{Progress, ProgressReader};

/// Upload sessions tried per blob before giving up.
const SESSIONS: u32 = 3;

pub struct BlobPush<'a> {
    pub client: &'a Client,
    pub r: &'a Reference,
    pub blobs: &'a Blobs,
    /// `repository:<name>:pull,push`
    pub scope: &'a str,
    pub chunk_size: u64,
    pub progress: &'a dyn Progress,
}

impl BlobPush<'_> {
    /// Makes one blob exist in the repository; true if it was uploaded.
    pub fn push(&self, digest: &str, size: u64) -> Result<bool> {
        let what = self.what(digest);
        let head = self.client.send(
            &self.req(
                "HEAD",
                self.client
                    .url(&format!("/v2/{}/blobs/{digest}", self.r.repository)),
                Vec::new(),
                ReqBody::Empty,
                &what,
            ),
        )?;
        match head.status().as_u16() {
            200 => {
                self.progress.finish(digest, "Layer already exists");
                return Ok(false);
            }
            404 => {}
            _ => return Err(status_error(&what, head).into()),
        }
        let mut location = match self.start(digest)? {
            Some(location) => location,
            None => return Ok(false),
        };
        self.progress.start(digest, "Pushing", size);
        let mut session = 1;
        loop {
            match self.upload(digest, size, location) {
                Ok(()) => break,
                Err(e) if session < SESSIONS && restartable(&e) => {
                    log::info!("{what}: {e}; starting a new upload session");
                    session += 1;
                    location = self.new_session(&what)?;
                }
                Err(e) => return Err(e),
            }
        }
        self.progress.finish(digest, "Pushed");
        Ok(true)
    }

    fn what(&self, digest: &str) -> String {
        format!("blob {digest} to {}", self.r.full_repository())
    }

    fn req<'b>(
        &self,
        method: &'static str,
        url: String,
        headers: Vec<(&'static str, String)>,
        body: ReqBody<'b>,
        what: &str,
    ) -> Req<'b> {
        Req {
            method,
            url,
            headers,
            body,
            scope: self.scope.to_string(),
            what: what.to_string(),
        }
    }

    /// Tries a cross-repository mount when a source is known; returns the
    /// upload location, or `None` when the blob was mounted.
    fn start(&self, digest: &str) -> Result<Option<String>> {
        let what = self.what(digest);
        let prefix = format!("{}/", self.r.registry);
        let mount_from = self
            .blobs
            .sources(digest)?
            .into_iter()
            .filter_map(|s| s.strip_prefix(&prefix).map(str::to_string))
            .find(|s| *s != self.r.repository);
        let Some(from) = mount_from else {
            return self.new_session(&what).map(Some);
        };
        let url = format!(
            "/v2/{}/blobs/uploads/?mount={digest}&from={}",
            self.r.repository,
            encode(&from)
        );
        let mut req = self.req(
            "POST",
            self.client.url(&url),
            Vec::new(),
            ReqBody::Empty,
            &what,
        );
        req.scope = format!("{} repository:{from}:pull", self.scope);
        let resp = self.client.send(&req)?;
        match resp.status().as_u16() {
            201 => {
                self.progress
                    .finish(digest, &format!("Mounted from {from}"));
                Ok(None)
            }
            // The registry would not mount: it opened an upload instead.
            202 => location_of(&resp, &what).map(Some),
            _ => Err(status_error(&what, resp).into()),
        }
    }

    fn new_session(&self, what: &str) -> Result<String> {
        let url = format!("/v2/{}/blobs/uploads/", self.r.repository);
        let resp = self.client.send(&self.req(
            "POST",
            self.client.url(&url),
            Vec::new(),
            ReqBody::Empty,
            what,
        ))?;
        if resp.status().as_u16() != 202 {
            return Err(status_error(what, resp).into());
        }
        location_of(&resp, what)
    }

    /// Sends the blob through one upload session.
    fn upload(&self, digest: &str, size: u64, mut location: String) -> Result<()> {
        let what = self.what(digest);
        let path = self.blobs.path(digest)?;
        let open_at = |offset: u64, len: u64| -> std::io::Result<Box<dyn Read + '_>> {
            let mut f = File::open(&path)?;
            f.seek(SeekFrom::Start(offset))?;
            Ok(Box::new(ProgressReader {
                inner: f.take(len),
                id: digest,
                progress: self.progress,
            }))
        };
        let octet = || ("Content-Type", "application/octet-stream".to_string());
        let whole = || open_at(0, size);
        let last_body = if self.chunk_size > 0 && size > self.chunk_size {
            let mut offset = 0;
            let mut resumes = 0;
            while offset < size {
                let len = self.chunk_size.min(size - offset);
                let open = move || open_at(offset, len);
                let range = ("Content-Range", format!("{offset}-{}", offset + len - 1));
                let sent = self.client.send(&self.req(
                    "PATCH",
                    self.client.url(&location),
                    vec![octet(), range],
                    ReqBody::Reader(&open, len),
                    &what,
                ));
                match sent {
                    Ok(resp) if resp.status().as_u16() == 202 => {
                        location = location_of(&resp, &what)?;
                        offset += len;
                        continue;
                    }
                    // 416: the registry holds another number of bytes than
                    // we assumed (a chunk broke off half way): ask, go on.
                    Ok(resp) if resp.status().as_u16() != 416 => {
                        return Err(status_error(&what, resp).into());
                    }
                    Err(e) if resumes >= 3 => return Err(e.into()),
                    _ => {}
                }
                resumes += 1;
                (location, offset) = self.status(&location, &what)?;
                log::info!("{what}: resuming the upload at byte {offset}");
            }
            ReqBody::Empty
        } else {
            ReqBody::Reader(&whole, size)
        };
        let url = with_digest(&self.client.url(&location), digest);
        let resp = self
            .client
            .send(&self.req("PUT", url, vec![octet()], last_body, &what))?;
        if resp.status().as_u16() != 201 {
            return Err(status_error(&what, resp).into());
        }
        Ok(())
    }

    /// Where an interrupted session stands: `GET <location>` answers 204
    /// with `Range: 0-<last byte received>` and the location to go on with.
    fn status(&self, location: &str, what: &str) -> Result<(String, u64)> {
        let resp = self.client.send(&self.req(
            "GET",
            self.client.url(location),
            Vec::new(),
            ReqBody::Empty,
            what,
        ))?;
        if resp.status().as_u16() != 204 {
            return Err(status_error(what, resp).into());
        }
        let received = resp
            .headers()
            .get("range")
            .and_then(|v| v.to_str().ok())
            .and_then(|r| r.rsplit_once('-'))
            .and_then(|(_, end)| end.trim().parse::<u64>().ok())
            // distribution says `0-0` for an empty upload too: take it as 0.
            .map_or(0, |end| if end == 0 { 0 } else { end + 1 });
        let next = location_of(&resp, what).unwrap_or_else(|_| location.to_string());
        Ok((next, received))
    }
}

/// Errors after which a new upload session may succeed.
fn restartable(e: &OciError) -> bool {
    match e {
        OciError::Registry(RegistryError::Connection { .. }) => true,
        OciError::Registry(RegistryError::Status { status, .. }) => {
            matches!(status, 404 | 416 | 500..=599)
        }
        _ => false,
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
