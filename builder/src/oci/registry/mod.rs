//! Client of the OCI distribution API (v2): push and pull of images,
//! credentials (`strata login`, Docker's config), token and basic auth.

pub mod auth;
pub mod client;
mod pull;
mod push;
mod reference;
pub mod tls;
mod upload;

use std::path::PathBuf;

pub use client::{Client, ClientOptions, Transport, is_loopback};
pub use pull::{PullResult, pull};
pub use push::{PushOptions, PushResult, push};
pub use reference::{DOCKER_HUB, Reference};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{what}: cannot reach {url}")]
    Connection {
        what: String,
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{what}: registry answered {status}{}", if detail.is_empty() { String::new() } else { format!(" ({detail})") })]
    Status {
        what: String,
        status: u16,
        detail: String,
    },
    #[error("{what}: unauthorized{}: {detail} (try `strata login{}`)",
        if registry.is_empty() { String::new() } else { format!(" by {registry}") },
        if registry.is_empty() { String::new() } else { format!(" {registry}") })]
    Unauthorized {
        what: String,
        registry: String,
        detail: String,
    },
    #[error("{what}: {reason}")]
    Protocol { what: String, reason: String },
    #[error("credentials file {path}: {reason}")]
    Credentials { path: PathBuf, reason: String },
}

/// Checks that a registry answers and accepts the credentials (`GET /v2/`).
pub fn login(registry: &str, opts: &ClientOptions) -> Result<(), RegistryError> {
    let api = if registry == DOCKER_HUB {
        reference::DOCKER_HUB_API
    } else {
        registry
    };
    let client = client::Client::new(registry, api, opts)?;
    let url = client.url("/v2/");
    let resp = client.send(&client::Req {
        method: "GET",
        url,
        headers: Vec::new(),
        body: client::ReqBody::Empty,
        scope: String::new(),
        what: format!("login to {registry}"),
    })?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(client::status_error(&format!("login to {registry}"), resp))
    }
}

/// The cause of a failed request: the I/O error itself where there is one
/// (ureq's own message would repeat it).
pub(crate) fn cause(e: ureq::Error) -> Box<dyn std::error::Error + Send + Sync> {
    match e {
        ureq::Error::Io(io) => Box::new(io),
        other => Box::new(other),
    }
}
