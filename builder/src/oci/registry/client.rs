//! HTTP side of the distribution API: one [`Client`] per registry and
//! repository scope, with authentication (anonymous, basic, bearer token)
//! and retries with exponential backoff on 5xx, 429 and broken connections.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Read;
use std::time::Duration;

use ureq::http::{Response, StatusCode};

use super::RegistryError;
use super::auth::{Challenge, Credentials, parse_challenge};

/// How to reach a registry.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// An insecure registry, as Docker's `--insecure-registry`: HTTPS
    /// without certificate verification or plain HTTP are accepted.
    /// Loopback registries (`localhost`, `127.0.0.0/8`, `::1`) always are.
    pub insecure: bool,
    /// Extra attempts after a 5xx, 429 or connection failure (default 4).
    pub retries: Option<u32>,
    /// Credentials; when `None`, they are looked up in the auth files.
    pub credentials: Option<Credentials>,
    /// Per-registry CA directory; `None`: `$STRATA_CERTS_D` or
    /// `/etc/docker/certs.d`.
    pub certs_dir: Option<std::path::PathBuf>,
}

/// Whether a registry host is on the loopback interface.
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => registry,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A request body that can be produced again for a retry.
pub enum ReqBody<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// A reader factory and the exact length it yields.
    Reader(&'a dyn Fn() -> std::io::Result<Box<dyn Read + 'a>>, u64),
}

pub struct Req<'a> {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: ReqBody<'a>,
    /// Token scopes, space separated (`repository:a/b:pull,push`).
    pub scope: String,
    /// What this request is about, for error messages.
    pub what: String,
}

#[derive(Debug, Default)]
enum AuthState {
    #[default]
    Anonymous,
    Basic,
    Bearer {
        realm: String,
        tokens: HashMap<String, String>,
    },
}

/// How a client talks to its registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Https,
    /// HTTPS without certificate verification (loopback registries whose
    /// certificate is not trusted, as Docker treats insecure registries).
    HttpsUnverified,
    Http,
}

/// An agent with strata's timeouts and, when given, TLS settings.
fn agent(tls: Option<ureq::tls::TlsConfig>) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(300)))
        .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")));
    if let Some(tls) = tls {
        config = config.tls_config(tls);
    }
    config.build().new_agent()
}

pub struct Client {
    agent: ureq::Agent,
    pub transport: Transport,
    pub base: String,
    pub registry: String,
    creds: Option<Credentials>,
    auth: RefCell<AuthState>,
    retries: u32,
}

impl Client {
    pub fn new(
        registry: &str,
        api_host: &str,
        opts: &ClientOptions,
    ) -> Result<Client, RegistryError> {
        let creds = match &opts.credentials {
            Some(c) => Some(c.clone()),
            None => super::auth::lookup(registry)?,
        };
        let certs = opts.certs_dir.clone().unwrap_or_else(super::tls::certs_dir);
        let verified = agent(super::tls::tls_config(&certs, api_host)?);
        // Docker's rule for insecure registries (`--insecure`, and every
        // loopback registry): HTTPS verified, else HTTPS without
        // verification, else plain HTTP.
        let insecure = opts.insecure || is_loopback(api_host);
        let (agent, transport) = if !insecure || super::tls::https_answers(&verified, api_host) {
            (verified, Transport::Https)
        } else {
            let unverified = agent(Some(super::tls::unverified()));
            if super::tls::https_answers(&unverified, api_host) {
                log::warn!("{registry}: TLS certificate not verified (insecure registry)");
                (unverified, Transport::HttpsUnverified)
            } else {
                (verified, Transport::Http)
            }
        };
        let scheme = match transport {
            Transport::Http => "http",
            Transport::Https | Transport::HttpsUnverified => "https",
        };
        Ok(Client {
            agent,
            transport,
            base: format!("{scheme}://{api_host}"),
            registry: registry.to_string(),
            creds,
            auth: RefCell::new(AuthState::Anonymous),
            retries: opts.retries.unwrap_or(4),
        })
    }

    /// Absolute URL of a path or of a `Location` header (which may be relative).
    pub fn url(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{}", self.base, location)
        }
    }

    /// Sends a request: authenticates on the first 401 and retries
    /// transient failures with backoff (0.25 s, 0.5 s, 1 s, ...).
    pub fn send(&self, req: &Req) -> Result<Response<ureq::Body>, RegistryError> {
        let mut attempt = 0;
        let mut authenticated = false;
        loop {
            match self.send_once(req) {
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED && !authenticated => {
                    authenticated = true;
                    self.authenticate(&resp, req)?;
                }
                Ok(resp)
                    if (resp.status().is_server_error()
                        || resp.status() == StatusCode::TOO_MANY_REQUESTS)
                        && attempt < self.retries =>
                {
                    log::info!("{}: {} from {}, retrying", req.what, resp.status(), req.url);
                    backoff(attempt);
                    attempt += 1;
                }
                Ok(resp) => return Ok(resp),
                Err(e) if transient(&e) && attempt < self.retries => {
                    log::info!("{}: {e} ({}), retrying", req.what, req.url);
                    backoff(attempt);
                    attempt += 1;
                }
                Err(e) => {
                    return Err(RegistryError::Connection {
                        what: req.what.clone(),
                        url: req.url.clone(),
                        source: super::cause(e),
                    });
                }
            }
        }
    }

    fn send_once(&self, req: &Req) -> Result<Response<ureq::Body>, ureq::Error> {
        let mut builder = ureq::http::Request::builder()
            .method(req.method)
            .uri(&req.url);
        for (k, v) in &req.headers {
            builder = builder.header(*k, v);
        }
        if let Some(auth) = self.auth_header(&req.scope) {
            builder = builder.header("Authorization", auth);
        }
        match &req.body {
            ReqBody::Empty => self.agent.run(builder.body(())?),
            ReqBody::Bytes(b) => self.agent.run(builder.body(*b)?),
            ReqBody::Reader(open, len) => {
                let mut reader = open()?;
                let builder = builder.header("Content-Length", len.to_string());
                self.agent
                    .run(builder.body(ureq::SendBody::from_reader(&mut reader))?)
            }
        }
    }

    fn auth_header(&self, scope: &str) -> Option<String> {
        match &*self.auth.borrow() {
            AuthState::Anonymous => None,
            AuthState::Basic => self.creds.as_ref().map(Credentials::basic_header),
            AuthState::Bearer { tokens, .. } => tokens.get(scope).map(|t| format!("Bearer {t}")),
        }
    }

    /// Answers a 401: switches to basic auth or fetches a bearer token for
    /// the request's scope from the realm the challenge names.
    fn authenticate(&self, resp: &Response<ureq::Body>, req: &Req) -> Result<(), RegistryError> {
        let header = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let unauthorized = |detail: &str| RegistryError::Unauthorized {
            what: req.what.clone(),
            registry: self.registry.clone(),
            detail: detail.to_string(),
        };
        match parse_challenge(header) {
            Some(Challenge::Basic) => {
                if self.creds.is_none() {
                    return Err(unauthorized("no credentials"));
                }
                *self.auth.borrow_mut() = AuthState::Basic;
                Ok(())
            }
            Some(Challenge::Bearer { realm, service, .. }) => {
                let token = self.fetch_token(&realm, service.as_deref(), &req.scope, req)?;
                let mut state = self.auth.borrow_mut();
                if !matches!(&*state, AuthState::Bearer { realm: r, .. } if *r == realm) {
                    *state = AuthState::Bearer {
                        realm,
                        tokens: HashMap::new(),
                    };
                }
                if let AuthState::Bearer { tokens, .. } = &mut *state {
                    tokens.insert(req.scope.clone(), token);
                }
                Ok(())
            }
            None => Err(unauthorized(
                "unsupported or missing WWW-Authenticate challenge",
            )),
        }
    }

    fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        req: &Req,
    ) -> Result<String, RegistryError> {
        let mut query = Vec::new();
        if let Some(s) = service {
            query.push(format!("service={}", encode(s)));
        }
        for s in scope.split(' ').filter(|s| !s.is_empty()) {
            query.push(format!("scope={}", encode(s)));
        }
        let sep = if realm.contains('?') { '&' } else { '?' };
        let url = format!("{realm}{sep}{}", query.join("&"));
        let mut builder = ureq::http::Request::builder().method("GET").uri(&url);
        if let Some(c) = &self.creds {
            builder = builder.header("Authorization", c.basic_header());
        }
        let conn = |e: ureq::Error| RegistryError::Connection {
            what: format!("token for {}", req.what),
            url: url.clone(),
            source: super::cause(e),
        };
        let request = builder.body(()).map_err(|e| conn(e.into()))?;
        let mut resp = self.agent.run(request).map_err(conn)?;
        if !resp.status().is_success() {
            return Err(RegistryError::Unauthorized {
                what: req.what.clone(),
                registry: self.registry.clone(),
                detail: format!("token server {realm} answered {}", resp.status()),
            });
        }
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(conn)?;
        let body: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::Protocol {
                what: format!("token for {}", req.what),
                reason: format!("token response is not JSON: {e}"),
            })?;
        body["token"]
            .as_str()
            .or(body["access_token"].as_str())
            .map(str::to_string)
            .ok_or_else(|| RegistryError::Protocol {
                what: format!("token for {}", req.what),
                reason: "token response has no token".into(),
            })
    }
}

/// Turns an unexpected response into an error carrying the registry's own
/// error codes and messages.
pub fn status_error(what: &str, mut resp: Response<ureq::Body>) -> RegistryError {
    let status = resp.status();
    let detail = resp
        .body_mut()
        .with_config()
        .limit(64 << 10)
        .read_to_string()
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| {
            let errors = v["errors"].as_array()?;
            let parts: Vec<String> = errors
                .iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e["code"].as_str().unwrap_or("?"),
                        e["message"].as_str().unwrap_or("")
                    )
                })
                .collect();
            Some(parts.join("; "))
        })
        .unwrap_or_default();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return RegistryError::Unauthorized {
            what: what.to_string(),
            registry: String::new(),
            detail: format!("{status} {detail}"),
        };
    }
    RegistryError::Status {
        what: what.to_string(),
        status: status.as_u16(),
        detail,
    }
}

fn transient(e: &ureq::Error) -> bool {
    matches!(
        e,
        ureq::Error::Io(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::Timeout(_)
            | ureq::Error::Protocol(_)
    )
}

fn backoff(attempt: u32) {
    std::thread::sleep(Duration::from_millis(250 << attempt.min(5)));
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_plain_http() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example:5000"));
        assert!(!is_loopback("10.0.0.1:5000"));
    }

    #[test]
    fn encodes_scopes() {
        assert_eq!(
            encode("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
