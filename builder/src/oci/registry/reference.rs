//! Image references as the distribution API sees them: registry host,
//! repository path, tag or digest. Parsing is the store's (Docker's
//! grammar: `[registry[:port]/]repository[:tag][@sha256:digest]`).

use std::fmt;

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
    /// Parses with the store's reference grammar (one grammar for the
    /// whole program) and keeps what the distribution API needs.
    pub fn parse(input: &str) -> Result<Reference> {
        let r = crate::store::Reference::parse(input).map_err(|e| OciError::Reference {
            reference: input.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Reference {
            registry: r.domain().to_string(),
            repository: r.path().to_string(),
            tag: r.tag().map(str::to_string),
            digest: r.digest().map(str::to_string),
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
    /// The store's familiar form, so it always parses back to this image.
    pub fn familiar(&self) -> String {
        let repo = crate::store::familiar_repository(&self.full_repository());
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
        assert!(Reference::parse("team/Upper").is_err());
        assert!(Reference::parse("x:bad/tag").is_err());
        assert!(Reference::parse("x@sha256:short").is_err());
    }
}
