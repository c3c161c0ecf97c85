//! Validation of image references as FROM and `--from` use them (the
//! grammar of distribution's `reference` package). Only checks the syntax;
//! resolving names is the store's business.

fn alnum(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`
fn path_component(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || !(b[0].is_ascii_lowercase() || b[0].is_ascii_digit()) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && (b[i].is_ascii_lowercase() || b[i].is_ascii_digit()) {
            i += 1;
        }
        if !alnum(&s[start..i]) {
            return false;
        }
        if i == b.len() {
            return true;
        }
        let sep_start = i;
        while i < b.len() && matches!(b[i], b'.' | b'_' | b'-') {
            i += 1;
        }
        let sep = &s[sep_start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok || i == b.len() {
            return false;
        }
    }
    true
}

fn domain(s: &str) -> bool {
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || s.starts_with('[') => (h, Some(p)),
        _ => (s, None),
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    if let Some(v6) = host.strip_prefix('[') {
        return v6
            .strip_suffix(']')
            .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok());
    }
    !host.is_empty()
        && host.split('.').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

/// Checks `r` against Docker's reference grammar; the error says what is
/// wrong (Docker's messages: a name that would be valid in lower case gets
/// "repository name must be lowercase").
pub fn validate(r: &str) -> Result<(), String> {
    match check(r) {
        Ok(()) => Ok(()),
        Err(_) if check(&r.to_ascii_lowercase()).is_ok() => {
            Err("invalid reference format: repository name must be lowercase".into())
        }
        Err(e) => Err(e),
    }
}

fn check(r: &str) -> Result<(), String> {
    let invalid = || Err("invalid reference format".to_string());
    if r.is_empty() {
        return invalid();
    }
    let (rest, digest) = match r.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (r, None),
    };
    if let Some(d) = digest {
        let Some((alg, hex)) = d.split_once(':') else {
            return invalid();
        };
        let alg_ok = alg.starts_with(|c: char| c.is_ascii_alphabetic())
            && alg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_+.".contains(&b));
        if !alg_ok || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return invalid();
        }
    }
    // A tag is after the last ':' that follows the last '/'.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        let b = t.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 128
            && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c));
        if !ok {
            return invalid();
        }
    }
    if name.len() > 255 {
        return Err("repository name must not be more than 255 characters".into());
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    let first = parts[0];
    if parts.len() > 1
        && (first.contains('.')
            || first.contains(':')
            || first == "localhost"
            || first.bytes().any(|b| b.is_ascii_uppercase()))
    {
        if !domain(first) {
            return invalid();
        }
        parts.remove(0);
    }
    if parts.iter().all(|p| path_component(p)) {
        Ok(())
    } else {
        invalid()
    }
}
