//! The build context: resolving COPY/ADD sources inside it (globs,
//! `.dockerignore`, no escape through `..` or symlinks) and listing the files
//! a source brings, with the digests the cache key needs.

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::error::{Result, io_err, step_err};
use crate::dockerfile::ignore::{self, Matcher, Pattern};

pub struct Context {
    /// Canonical path of the context directory.
    root: PathBuf,
    ignore: Matcher,
}

/// One file, directory or symlink a source brings.
#[derive(Debug, Clone)]
pub struct Entry {
    pub abs: PathBuf,
    /// Path relative to the context (`/`-separated), for keys and messages.
    pub rel: String,
    /// Path relative to the source (empty for the source itself).
    pub sub: PathBuf,
    pub meta: fs::Metadata,
}

/// A resolved source: its path and what it contains.
#[derive(Debug)]
pub struct Source {
    pub rel: String,
    pub is_dir: bool,
    pub entries: Vec<Entry>,
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

impl Context {
    pub fn open(dir: &Path, dockerfile: Option<&Path>) -> Result<Context> {
        let root = dir.canonicalize().map_err(io_err(dir))?;
        let ignore = Matcher::load(dir, dockerfile)?;
        Ok(Context { root, ignore })
    }

    /// A directory without `.dockerignore` (the view of a `COPY --from`).
    pub fn open_plain(dir: &Path) -> Result<Context> {
        let root = dir.canonicalize().map_err(io_err(dir))?;
        let ignore = Matcher::new::<&str>(&[]).map_err(|e| super::error::step_err(0, e.message))?;
        Ok(Context { root, ignore })
    }

    /// Resolves the sources of a COPY/ADD (after expansion) at `line`.
    pub fn sources(&self, raw: &[String], line: usize) -> Result<Vec<Source>> {
        let mut out = Vec::new();
        for s in raw {
            let clean = ignore::clean(s.trim_start_matches('/'));
            let clean = clean.trim_start_matches('/').to_string();
            if clean == ".." || clean.starts_with("../") {
                return Err(step_err(
                    line,
                    format!("{s}: forbidden path outside the build context"),
                ));
            }
            let clean = if clean.is_empty() { ".".into() } else { clean };
            let rels = if has_glob(&clean) {
                let pat = Pattern::new(&clean).map_err(|m| step_err(line, m))?;
                let mut found = Vec::new();
                self.walk_names(&self.root, "", &mut |rel| {
                    if pat.matches(rel) && !self.ignore.excluded(rel) {
                        found.push(rel.to_string());
                    }
                })
                .map_err(io_err(&self.root))?;
                if found.is_empty() {
                    return Err(step_err(
                        line,
                        format!("no source files were specified: {s} matches nothing"),
                    ));
                }
                found.sort();
                found
            } else {
                if clean != "." && self.ignore.excluded(&clean) {
                    return Err(step_err(
                        line,
                        format!(
                            "failed to compute cache key: \"/{clean}\": not found (excluded by .dockerignore)"
                        ),
                    ));
                }
                vec![clean]
            };
            for rel in rels {
                out.push(self.source(&rel, line)?);
            }
        }
        Ok(out)
    }

    fn source(&self, rel: &str, line: usize) -> Result<Source> {
        let abs = self.root.join(rel);
        let canon = abs.canonicalize().map_err(|e| {
            step_err(
                line,
                format!("failed to compute cache key: \"/{rel}\": not found ({e})"),
            )
        })?;
        if !canon.starts_with(&self.root) {
            return Err(step_err(
                line,
                format!("{rel}: forbidden path outside the build context (through a symlink)"),
            ));
        }
        let meta = fs::metadata(&canon).map_err(io_err(&canon))?;
        let mut entries = vec![Entry {
            abs: canon.clone(),
            rel: rel.to_string(),
            sub: PathBuf::new(),
            meta: meta.clone(),
        }];
        if meta.is_dir() {
            self.walk_entries(&canon, rel, Path::new(""), &mut entries)?;
        }
        Ok(Source {
            rel: rel.to_string(),
            is_dir: meta.is_dir(),
            entries,
        })
    }

    /// Every entry below `dir` that `.dockerignore` keeps, sorted, symlinks
    /// not followed.
    fn walk_entries(&self, dir: &Path, rel: &str, sub: &Path, out: &mut Vec<Entry>) -> Result<()> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .map_err(io_err(dir))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()
            .map_err(io_err(dir))?;
        names.sort();
        for name in names {
            let abs = dir.join(&name);
            let r = join_rel(rel, &name.to_string_lossy());
            if self.ignore.excluded(&r) {
                continue;
            }
            let meta = fs::symlink_metadata(&abs).map_err(io_err(&abs))?;
            let s = sub.join(&name);
            out.push(Entry {
                abs: abs.clone(),
                rel: r.clone(),
                sub: s.clone(),
                meta: meta.clone(),
            });
            if meta.is_dir() {
                self.walk_entries(&abs, &r, &s, out)?;
            }
        }
        Ok(())
    }

    fn walk_names(&self, dir: &Path, rel: &str, f: &mut dyn FnMut(&str)) -> std::io::Result<()> {
        for e in fs::read_dir(dir)? {
            let e = e?;
            let r = join_rel(rel, &e.file_name().to_string_lossy());
            f(&r);
            if e.file_type()?.is_dir() {
                self.walk_names(&e.path(), &r, f)?;
            }
        }
        Ok(())
    }
}

fn join_rel(rel: &str, name: &str) -> String {
    if rel.is_empty() || rel == "." {
        name.to_string()
    } else {
        format!("{rel}/{name}")
    }
}

/// `sha256:<hex>` of a file's content, a symlink's target, or "dir".
pub fn entry_digest(e: &Entry) -> Result<String> {
    let ft = e.meta.file_type();
    if ft.is_dir() {
        return Ok("dir".into());
    }
    let mut h = Sha256::new();
    if ft.is_symlink() {
        let t = fs::read_link(&e.abs).map_err(io_err(&e.abs))?;
        h.update(t.as_os_str().as_encoded_bytes());
    } else {
        let mut f = fs::File::open(&e.abs).map_err(io_err(&e.abs))?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f.read(&mut buf).map_err(io_err(&e.abs))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

/// (mode, uid, gid) of an entry as the key sees it.
pub fn entry_owner_mode(e: &Entry) -> (u32, u32, u32) {
    (e.meta.mode() & 0o7777, e.meta.uid(), e.meta.gid())
}

/// `docker build -`: unpacks a context tar (plain or gzip) from `reader`
/// into the empty directory `dir`. Names with `..` or absolute paths are
/// refused by the tar crate; owners are not kept (the builder's own files).
pub fn unpack_context<R: Read>(reader: R, dir: &Path) -> Result<()> {
    let mut reader = std::io::BufReader::new(reader);
    let gzip = std::io::BufRead::fill_buf(&mut reader)
        .map_err(io_err(Path::new("-")))?
        .starts_with(&[0x1f, 0x8b]);
    let stream: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let mut ar = tar::Archive::new(stream);
    ar.set_preserve_permissions(true);
    ar.set_preserve_mtime(true);
    ar.unpack(dir).map_err(io_err(dir))
}
