//! Registry credentials and authentication challenges.
//!
//! Credentials come from strata's own file (written by `strata login`,
//! mode 0600) and then from Docker's `~/.docker/config.json`; both use
//! Docker's format `{"auths": {"<registry>": {"auth": base64(user:pass)}}}`.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::RegistryError;

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <hidden>)", self.username)
    }
}

impl Credentials {
    /// Value of an `Authorization: Basic` header.
    pub fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", self.username, self.password))
        )
    }
}

/// strata's credentials file: `$STRATA_AUTH_FILE`, else
/// `$XDG_CONFIG_HOME/strata/auth.json`, else `~/.config/strata/auth.json`.
pub fn strata_auth_file() -> PathBuf {
    if let Some(p) = std::env::var_os("STRATA_AUTH_FILE") {
        return PathBuf::from(p);
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".config"));
    config.join("strata").join("auth.json")
}

/// Docker's client config: `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
pub fn docker_config_file() -> PathBuf {
    std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".docker"))
        .join("config.json")
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
}

/// Keys a registry may be filed under (Docker Hub has a legacy URL key).
fn keys(registry: &str) -> Vec<String> {
    let mut k = vec![
        registry.to_string(),
        format!("https://{registry}"),
        format!("http://{registry}"),
    ];
    if registry == super::DOCKER_HUB {
        k.push("https://index.docker.io/v1/".into());
        k.push("index.docker.io".into());
    }
    k
}

fn read_auths(path: &Path) -> Result<serde_json::Map<String, serde_json::Value>, RegistryError> {
    match fs::read(path) {
        Ok(bytes) => {
            let v: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| RegistryError::Credentials {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                })?;
            Ok(v.get("auths")
                .and_then(|a| a.as_object())
                .cloned()
                .unwrap_or_default())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
        Err(e) => Err(RegistryError::Credentials {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

fn decode(entry: &serde_json::Value, path: &Path) -> Result<Option<Credentials>, RegistryError> {
    if let (Some(u), Some(p)) = (entry["username"].as_str(), entry["password"].as_str()) {
        return Ok(Some(Credentials {
            username: u.into(),
            password: p.into(),
        }));
    }
    let Some(auth) = entry["auth"].as_str() else {
        return Ok(None);
    };
    let bad = |reason: &str| RegistryError::Credentials {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let raw = STANDARD
        .decode(auth.trim())
        .map_err(|_| bad("auth is not base64"))?;
    let text = String::from_utf8(raw).map_err(|_| bad("auth is not UTF-8"))?;
    let (u, p) = text
        .split_once(':')
        .ok_or_else(|| bad("auth is not user:password"))?;
    Ok(Some(Credentials {
        username: u.into(),
        password: p.into(),
    }))
}

/// Credentials for a registry host, from strata's file then Docker's.
pub fn lookup(registry: &str) -> Result<Option<Credentials>, RegistryError> {
    lookup_in(&[strata_auth_file(), docker_config_file()], registry)
}

/// Credentials for a registry host from the first of `files` that has them.
pub fn lookup_in(files: &[PathBuf], registry: &str) -> Result<Option<Credentials>, RegistryError> {
    for path in files {
        let path = path.as_path();
        let auths = read_auths(path)?;
        for key in keys(registry) {
            if let Some(entry) = auths.get(&key)
                && let Some(c) = decode(entry, path)?
            {
                return Ok(Some(c));
            }
        }
    }
    Ok(None)
}

/// Stores credentials in strata's file, readable by the owner only. The
/// file is written to a temporary file with mode 0600 and renamed, so it
/// is never visible with wider permissions or half written.
pub fn store(registry: &str, creds: &Credentials) -> Result<PathBuf, RegistryError> {
    let path = strata_auth_file();
    store_in(&path, registry, creds)?;
    Ok(path)
}

/// Adds or replaces a registry's entry in the credentials file `path`.
pub fn store_in(path: &Path, registry: &str, creds: &Credentials) -> Result<(), RegistryError> {
    let mut auths = read_auths(path)?;
    let mut entry = BTreeMap::new();
    entry.insert(
        "auth",
        STANDARD.encode(format!("{}:{}", creds.username, creds.password)),
    );
    auths.insert(registry.to_string(), serde_json::json!(entry));
    let doc = serde_json::json!({ "auths": auths });
    let fail = |e: std::io::Error| RegistryError::Credentials {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(fail)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(fail)?;
    let bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    tmp.write_all(&bytes).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses `Bearer realm="...",service="...",scope="..."` or `Basic ...`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = BTreeMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let (key, after) = s.split_once('=')?;
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        params.insert(key.trim().to_ascii_lowercase(), value.to_string());
        s = next.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge::Bearer {
        realm: params.remove("realm")?,
        service: params.remove("service"),
        scope: params.remove("scope"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn decodes_docker_auth_entries() {
        let entry = serde_json::json!({"auth": STANDARD.encode("me:s3:cret")});
        let c = decode(&entry, Path::new("x"))
            .expect("decode")
            .expect("some");
        assert_eq!(
            (c.username.as_str(), c.password.as_str()),
            ("me", "s3:cret")
        );
        assert!(decode(&serde_json::json!({"auth": "!!"}), Path::new("x")).is_err());
    }

    #[test]
    fn stored_credentials_are_private_and_found_again() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("sub/auth.json");
        let docker = dir.path().join("config.json");
        let me = Credentials {
            username: "me".into(),
            password: "pw".into(),
        };
        store_in(&file, "127.0.0.1:5000", &me).expect("store");
        let mode = fs::metadata(&file).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let files = [file.clone(), docker.clone()];
        assert_eq!(
            lookup_in(&files, "127.0.0.1:5000").expect("lookup"),
            Some(me)
        );
        assert_eq!(lookup_in(&files, "other:1").expect("lookup"), None);
        // Docker's config is read too, with its legacy key for Docker Hub.
        let entry = serde_json::json!({"auths": {"https://index.docker.io/v1/": {"auth": STANDARD.encode("hub:pw")}}});
        fs::write(&docker, entry.to_string()).expect("write");
        let hub = lookup_in(&files, "docker.io")
            .expect("lookup")
            .expect("found");
        assert_eq!(hub.username, "hub");
    }
}
