//! Image references with Docker's grammar (github.com/distribution/reference):
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] path-component { "/" path-component }
//! domain     := host [ ":" port ]     host := dns-label { "." dns-label } | "[" ipv6 "]"
//! path-comp  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag        := [\w][\w.-]{0,127}
//! digest     := algorithm ":" hex{32,}
//! ```
//!
//! Normalisation as `ParseNormalizedNamed`: a first component is a domain only
//! when it contains `.` or `:`, is `localhost`, or has upper case; otherwise the
//! domain is `docker.io`, and a single-component name there gets `library/`.
//! So `ubuntu` is `docker.io/library/ubuntu` in full form and `ubuntu` familiar.

use std::fmt;

use super::digest::is_hex64;
use super::error::{Error, Result};

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_PREFIX: &str = "library/";
const NAME_TOTAL_MAX: usize = 255;
/// The tag implied by a reference that names neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

fn invalid(input: &str, reason: impl Into<String>) -> Error {
    Error::InvalidReference {
        input: input.to_string(),
        reason: reason.into(),
    }
}

impl Reference {
    /// Parses and normalises `input` as Docker does; no default tag is added.
    pub fn parse(input: &str) -> Result<Reference> {
        if input.is_empty() {
            return Err(invalid(input, "empty reference"));
        }
        if super::digest::is_hex64(input) {
            return Err(invalid(
                input,
                "cannot specify 64-byte hexadecimal strings as repository name",
            ));
        }
        let (domain, rest) = split_domain(input);
        let (name_part, digest) = match rest.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (rest, None),
        };
        let (path, tag) = match name_part.rsplit_once(':') {
            Some((p, t)) => (p, Some(t)),
            None => (name_part, None),
        };
        validate_domain(input, domain)?;
        let mut path = path.to_string();
        if domain == DEFAULT_DOMAIN && !path.contains('/') {
            path = format!("{OFFICIAL_PREFIX}{path}");
        }
        validate_path(input, &path)?;
        if domain.len() + 1 + path.len() > NAME_TOTAL_MAX {
            return Err(invalid(
                input,
                format!("repository name must not be more than {NAME_TOTAL_MAX} characters"),
            ));
        }
        if let Some(tag) = tag {
            validate_tag(input, tag)?;
        }
        if let Some(digest) = digest {
            validate_digest(input, digest)?;
        }
        Ok(Reference {
            domain: domain.to_string(),
            path,
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        })
    }

    /// Parses and adds the `latest` tag when neither tag nor digest is given
    /// (what `docker tag`, `docker import` and `FROM` do).
    pub fn parse_tagged(input: &str) -> Result<Reference> {
        let mut r = Reference::parse(input)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(r)
    }

    /// A reference to `repository` (a full or familiar name) with `tag`.
    pub fn with_tag(&self, tag: &str) -> Result<Reference> {
        validate_tag(tag, tag)?;
        Ok(Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }

    /// Registry host (and port): `docker.io`, `127.0.0.1:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Path in the registry: `library/ubuntu`, `team/app`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// Full repository name: `docker.io/library/ubuntu`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// Familiar repository name as Docker shows it: `ubuntu`, `nuagebec/ubuntu`,
    /// `127.0.0.1:5000/team/app`.
    pub fn familiar_name(&self) -> String {
        familiar(&self.domain, &self.path)
    }

    /// Full form with tag and digest: `docker.io/library/ubuntu:latest`.
    pub fn full_string(&self) -> String {
        self.render(self.full_name())
    }

    fn render(&self, name: String) -> String {
        let mut s = name;
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }
}

/// Familiar form of a full repository name (`docker.io/library/x` -> `x`).
pub fn familiar_repository(full_name: &str) -> String {
    match full_name.split_once('/') {
        Some((domain, path)) => familiar(domain, path),
        None => full_name.to_string(),
    }
}

fn familiar(domain: &str, path: &str) -> String {
    if domain != DEFAULT_DOMAIN {
        return format!("{domain}/{path}");
    }
    let short = match path.strip_prefix(OFFICIAL_PREFIX) {
        Some(rest) if !rest.contains('/') => rest,
        _ => path,
    };
    // `library/<64 hex>` must not shorten to 64 hex digits, which read as
    // an image id (found by fuzzing).
    if is_hex64(short) {
        return path.to_string();
    }
    // `docker.io/evil.com/x` must not shorten to `evil.com/x`, which names
    // another registry (Docker prints it so; found by fuzzing): keep the
    // domain whenever the short form would not parse back to this image.
    if split_domain(short) == (DEFAULT_DOMAIN, short) {
        short.to_string()
    } else {
        format!("{domain}/{path}")
    }
}

impl fmt::Display for Reference {
    /// The familiar string: `ubuntu:latest`, `127.0.0.1:5000/team/app:1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(self.familiar_name()))
    }
}

/// Splits off the domain as `splitDockerDomain` does.
fn split_domain(input: &str) -> (&str, &str) {
    match input.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_lowercase() != first =>
        {
            if first == LEGACY_DEFAULT_DOMAIN {
                (DEFAULT_DOMAIN, rest)
            } else {
                (first, rest)
            }
        }
        _ => (DEFAULT_DOMAIN, input),
    }
}

fn validate_domain(input: &str, domain: &str) -> Result<()> {
    let (host, port) = if let Some(after) = domain.strip_prefix('[') {
        let (ip, rest) = after
            .split_once(']')
            .ok_or_else(|| invalid(input, "unterminated IPv6 address"))?;
        if ip.is_empty() || !ip.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return Err(invalid(input, format!("invalid IPv6 address [{ip}]")));
        }
        match rest {
            "" => (None, None),
            r => match r.strip_prefix(':') {
                Some(p) => (None, Some(p)),
                None => return Err(invalid(input, format!("invalid domain {domain}"))),
            },
        }
    } else {
        match domain.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(domain), None),
        }
    };
    if host.is_some_and(|h| h.is_empty() || !h.split('.').all(is_dns_label)) {
        return Err(invalid(input, format!("invalid domain {domain}")));
    }
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return Err(invalid(input, format!("invalid port in domain {domain}")));
    }
    Ok(())
}

fn is_dns_label(label: &str) -> bool {
    let b = label.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

fn validate_path(input: &str, path: &str) -> Result<()> {
    if path.split('/').all(is_path_component) {
        return Ok(());
    }
    let lower = path.to_lowercase();
    if lower != path && lower.split('/').all(is_path_component) {
        return Err(invalid(
            input,
            format!("repository name ({path}) must be lowercase"),
        ));
    }
    Err(invalid(input, "invalid repository name"))
}

/// `[a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*`
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        match b[i] {
            b'.' => i += 1,
            b'_' if b.get(i + 1) == Some(&b'_') => i += 2,
            b'_' => i += 1,
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

fn validate_tag(input: &str, tag: &str) -> Result<()> {
    let b = tag.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    let ok = !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|&x| word(x) || x == b'.' || x == b'-');
    if ok {
        Ok(())
    } else {
        Err(invalid(input, format!("invalid tag {tag:?}")))
    }
}

fn validate_digest(input: &str, digest: &str) -> Result<()> {
    let bad = || invalid(input, format!("invalid digest {digest:?}"));
    let (alg, hex) = digest.split_once(':').ok_or_else(bad)?;
    let alg_ok = alg.split(['-', '_', '+', '.']).all(|c| {
        let b = c.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
    });
    if alg_ok && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(bad())
    }
}

#[cfg(test)]
#[path = "reference_tests.rs"]
mod tests;
