//! TLS trust and scheme choice, as Docker does it: a registry's own CA
//! certificates in `<certs.d>/<host[:port]>/*.crt` (Docker's
//! `/etc/docker/certs.d`, or `$STRATA_CERTS_D`) are trusted together with
//! the system bundle; other registries are checked against Mozilla's
//! roots. Loopback registries are insecure registries: HTTPS is tried
//! first and plain HTTP used when HTTPS does not answer.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

use super::RegistryError;

/// Where per-registry CA certificates live.
pub fn certs_dir() -> PathBuf {
    std::env::var_os("STRATA_CERTS_D")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/docker/certs.d"))
}

const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// TLS settings for `host`: its `*.crt` files (and the system bundle) as
/// roots when `<dir>/<host>/` has any, else the defaults.
pub fn tls_config(dir: &Path, host: &str) -> Result<Option<TlsConfig>, RegistryError> {
    let host_dir = dir.join(host);
    let Ok(entries) = std::fs::read_dir(&host_dir) else {
        return Ok(None);
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "crt"))
        .collect();
    if files.is_empty() {
        return Ok(None);
    }
    files.sort();
    files.push(PathBuf::from(SYSTEM_BUNDLE));
    let mut roots: Vec<Certificate<'static>> = Vec::new();
    for file in files {
        let Ok(pem) = std::fs::read(&file) else {
            continue;
        };
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(PemItem::Certificate(c)) => roots.push(c),
                Ok(_) => {}
                Err(e) => {
                    return Err(RegistryError::Credentials {
                        path: file.clone(),
                        reason: format!("not a PEM certificate file: {e}"),
                    });
                }
            }
        }
    }
    Ok(Some(
        TlsConfig::builder()
            .root_certs(RootCerts::Specific(Arc::new(roots)))
            .build(),
    ))
}

/// TLS without certificate verification, for insecure (loopback)
/// registries only.
pub fn unverified() -> TlsConfig {
    TlsConfig::builder().disable_verification(true).build()
}

/// Whether `https://host/v2/` answers at all (any HTTP status): decides
/// the scheme of a loopback registry. Quick: a plain-HTTP server answers a
/// TLS hello with garbage or nothing at once.
pub fn https_answers(agent: &ureq::Agent, host: &str) -> bool {
    let request = ureq::http::Request::builder()
        .method("GET")
        .uri(format!("https://{host}/v2/"))
        .body(());
    let Ok(request) = request else {
        return false;
    };
    let config = agent
        .configure_request(request)
        .timeout_global(Some(Duration::from_secs(5)))
        .build();
    agent.run(config).is_ok()
}
