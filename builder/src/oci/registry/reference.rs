//! Image references with Docker's grammar:
//! `[registry[:port]/]repository[:tag][@sha256:digest]`, where the first
//! component is a registry only if it contains `.` or `:` or is
//! `localhost`; otherwise the registry is `docker.io` and one-component
//! names live under `library/`.

use std::fmt;

use crate::oci::digest::sha256_hex;
use crate::oci::error::{OciError, Result};

pub const DOCKER_HUB: &str = "docker.io";
/// Where `docker.io` is served from (Docker's own mapping).
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    pub fn parse(input: &str) -> Result<Reference> {
        let bad = |reason: &str| OciError::Reference {
            reference: input.to_string(),
            reason: reason.to_string(),
        };
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => {
                sha256_hex(d).map_err(|_| bad("digest must be sha256:<64 hex>"))?;
                (r, Some(d.to_string()))
            }
            None => (input, None),
        };
        // A tag follows the last ':' that comes after the last '/'.
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[slash..].rfind(':') {
            Some(i) => (&rest[..slash + i], Some(rest[slash + i + 1..].to_string())),
            None => (rest, None),
        };
        if let Some(t) = &tag
            && (t.is_empty()
                || t.len() > 128
                || t.starts_with(['.', '-'])
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        {
            return Err(bad("invalid tag"));
        }
        let (registry, repo) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), rest.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        if let Some((host, port)) = registry.rsplit_once(':')
            && !host.ends_with(']')
            && (host.is_empty() || port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(bad("registry port must be a number"));
        }
        let repository = if registry == DOCKER_HUB && !repo.contains('/') {
            format!("library/{repo}")
        } else {
            repo
        };
        let valid_component = |c: &str| {
            !c.is_empty()
                && c.starts_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
                && c.ends_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
                && c.chars().all(|ch| {
                    ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-')
                })
        };
        if !repository.split('/').all(valid_component) {
            return Err(bad(
                "repository must be lowercase letters, digits and . _ - separated by /",
            ));
        }
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The tag, `latest` when neither tag nor digest was given.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// What to ask the registry's manifest endpoint for.
    pub fn manifest_ref(&self) -> &str {
        self.digest
            .as_deref()
            .unwrap_or_else(|| self.tag_or_latest())
    }

    /// `registry/repository`, the key for credentials and blob sources.
    pub fn full_repository(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// `registry/repository:tag` (tag defaulted), the name to tag locally.
    pub fn full_tagged(&self) -> String {
        format!("{}:{}", self.full_repository(), self.tag_or_latest())
    }

    /// Docker's short form: `busybox:latest`, `me/app:1`, `localhost:5000/x:1`.
    pub fn familiar(&self) -> String {
        let repo = if self.registry == DOCKER_HUB {
            self.repository
                .strip_prefix("library/")
                .unwrap_or(&self.repository)
                .to_string()
        } else {
            self.full_repository()
        };
        format!("{repo}:{}", self.tag_or_latest())
    }

    /// Host to talk to for this registry.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.full_repository())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_grammar() {
        let r = Reference::parse("busybox").expect("parse");
        assert_eq!(r.full_tagged(), "docker.io/library/busybox:latest");
        assert_eq!(r.familiar(), "busybox:latest");
        let r = Reference::parse("127.0.0.1:5000/team/app:1.0").expect("parse");
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        assert_eq!(r.familiar(), "127.0.0.1:5000/team/app:1.0");
        let r = Reference::parse("localhost/x").expect("parse");
        assert_eq!(r.registry, "localhost");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("me/app@{d}")).expect("parse");
        assert_eq!(r.manifest_ref(), d);
        assert_eq!(r.repository, "me/app");
        assert!(Reference::parse("Upper/case").is_err());
        assert!(Reference::parse("x:bad/tag").is_err());
        assert!(Reference::parse("x@sha256:short").is_err());
    }
}
