//! Turning a COPY/ADD instruction into a [`Plan`]: sources from the context
//! (or a `--from` view) and heredocs, `--exclude`, `--parents`, and ADD's
//! `--checksum` / `--keep-git-dir` (Dockerfile 1.7 semantics):
//!
//! - `--exclude=PATTERN` (repeatable, `.dockerignore` syntax): a path is
//!   left out when a pattern matches it relative to its source directory,
//!   or (for the sources themselves, e.g. glob matches) relative to the
//!   context.
//! - `--parents`: each source keeps its path relative to the context under
//!   the destination (always a directory); a `/./` in a source marks the
//!   pivot: only the part after it is kept (`./x/./y/a` -> `DEST/y/a`).
//! - `--checksum=sha256:HEX` on ADD: verified against a local regular file
//!   (BuildKit only allows it for remote sources, which offline builds
//!   refuse); a mismatch fails the step.
//! - `--keep-git-dir`: refused, git sources are not supported.

use std::path::{Path, PathBuf};

use super::context::{Context, Source, entry_digest};
use super::copy::{Plan, parse_chmod};
use super::error::{Result, step_err};
use super::fsutil::Scratch;
use super::heredoc;
use crate::dockerfile::Transfer;
use crate::dockerfile::ignore::Matcher;

/// Builds the plan. `scratch` (given when there are heredocs) receives the
/// heredoc files and must outlive the plan. `dest` is already absolute (WORKDIR applied).
pub fn plan(
    t: &Transfer,
    add: bool,
    ctx: &Context,
    dest: String,
    scratch: Option<&Scratch>,
    line: usize,
) -> Result<Plan> {
    if t.sources
        .iter()
        .any(|s| s.contains("://") || s.starts_with("git@"))
    {
        return Err(step_err(
            line,
            "ADD from a URL or git repository is not supported: builds are offline; download the file into the context",
        ));
    }
    if t.keep_git_dir {
        return Err(step_err(
            line,
            "ADD --keep-git-dir applies to git sources, which strata does not support (builds are offline)",
        ));
    }
    let excludes = Matcher::new(&t.exclude)
        .map_err(|e| step_err(line, format!("--exclude: {}", e.message)))?;
    let mut sources = Vec::new();
    let mut relocate = Vec::new();
    for raw in &t.sources {
        let found = ctx.sources(std::slice::from_ref(raw), line)?;
        let pivot = pivot(raw);
        for s in found {
            let Some(s) = exclude(s, &excludes, !t.exclude.is_empty()) else {
                continue;
            };
            if t.parents {
                let rel = Path::new(&s.rel);
                let kept = match &pivot {
                    Some(p) => rel.strip_prefix(p).unwrap_or(rel),
                    None => rel,
                };
                relocate.push(kept.to_path_buf());
            }
            sources.push(s);
        }
    }
    if let Some(scratch) = scratch.filter(|_| !t.heredocs.is_empty()) {
        let docs = heredoc::copy_sources(&scratch.0, &t.heredocs, line)?;
        for s in docs {
            relocate.push(PathBuf::from(&s.rel));
            sources.push(s);
        }
    }
    if let Some(sum) = &t.checksum {
        verify_checksum(sum, &sources, line)?;
    }
    let chmod = t
        .chmod
        .as_deref()
        .map(|m| parse_chmod(m, line))
        .transpose()?;
    Ok(Plan {
        sources,
        dest,
        chown: t.chown.clone(),
        chmod,
        add: add && t.unpack != Some(false),
        line,
        relocate: t.parents.then_some(relocate),
    })
}

/// The part of a `--parents` source before its `/./` pivot, if any.
fn pivot(raw: &str) -> Option<PathBuf> {
    let s = raw.trim_start_matches('/');
    let s = s.strip_prefix("./").unwrap_or(s);
    let (before, _) = s.split_once("/./")?;
    let clean = crate::dockerfile::ignore::clean(before);
    Some(PathBuf::from(clean.trim_start_matches('/')))
}

/// Applies `--exclude` to one source; `None` when the source itself is
/// excluded.
fn exclude(mut s: Source, m: &Matcher, any: bool) -> Option<Source> {
    if !any {
        return Some(s);
    }
    if s.rel != "." && m.excluded(&s.rel) {
        return None;
    }
    let first = s.entries.remove(0);
    s.entries.retain(|e| !m.excluded(&e.sub.to_string_lossy()));
    s.entries.insert(0, first);
    Some(s)
}

/// `--checksum=sha256:HEX`: the one source must be a regular file with
/// that digest.
fn verify_checksum(sum: &str, sources: &[Source], line: usize) -> Result<()> {
    let want = sum
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| {
            step_err(
                line,
                format!("invalid --checksum {sum:?}: expected sha256:<64 hex digits>"),
            )
        })?;
    let [s] = sources else {
        return Err(step_err(line, "--checksum needs exactly one source"));
    };
    let e = &s.entries[0];
    if !e.meta.is_file() {
        return Err(step_err(
            line,
            format!("--checksum: {} is not a regular file", s.rel),
        ));
    }
    let got = entry_digest(e)?;
    let got = got.trim_start_matches("sha256:");
    if !got.eq_ignore_ascii_case(want) {
        return Err(step_err(
            line,
            format!(
                "--checksum: digest mismatch for {}: expected sha256:{want}, got sha256:{got}",
                s.rel
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::pivot;
    use std::path::PathBuf;

    #[test]
    fn pivots() {
        assert_eq!(pivot("./x/./y/*.txt"), Some(PathBuf::from("x")));
        assert_eq!(pivot("a/b/./c"), Some(PathBuf::from("a/b")));
        assert_eq!(pivot("./x/y"), None);
        assert_eq!(pivot("x"), None);
    }
}
