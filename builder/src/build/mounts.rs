//! `RUN --mount=...` (BuildKit's run mounts), as bind mounts the runtime
//! applies after the rootfs is assembled; none of them reaches the layer:
//!
//! - `type=cache`: a directory per `id` (default: the target) under the
//!   store's `build-cache-mounts/`, kept across builds; `--no-cache` does not
//!   clear it. `sharing=shared` (default) lets builds use it together,
//!   `locked` waits for the others, `private` takes a fresh throw-away
//!   directory while another build holds it. `mode`/`uid`/`gid` apply when
//!   it is created; `from`/`source` seed it then.
//! - `type=bind`: a path of the context (`.dockerignore` applied) or of
//!   another stage/image (`from`), read-only unless `rw`, whose writes are
//!   then discarded. Its content is part of the step's key.
//! - `type=tmpfs`: an empty writable directory discarded after the step.
//! - `type=secret`: `--secret id=X,src=FILE|env=VAR` of the build, a file at
//!   `/run/secrets/<id>` (mode 0400 unless `mode`) and/or an environment
//!   variable (`env=`); never in the layer, the history or the key.
//! - `type=ssh`: refused (no agent forwarding in an offline builder).
//!
//! Targets are resolved by the runtime inside the rootfs (symlinks followed
//! with the rootfs as `/`), so no target escapes it.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use sha2::{Digest as _, Sha256};

use super::cache::FileInput;
use super::context::{Context, Source};
use super::copy::source_inputs;
use super::error::{Result, io_err, step_err};
use super::fsutil::set_meta;
use super::view::{View, mount_image};
use crate::dockerfile::{FromRef, Instruction, Mount, MountType, Sharing};
use crate::runtime::BindMount;
use crate::store::{ImageId, Store};

/// Where a build secret comes from (`--secret id=X,src=FILE` or `env=VAR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    File(PathBuf),
    Env(String),
}

/// Parses one `--secret` value, Docker's `id=X[,src=FILE|,env=VAR][,type=file|env]`:
/// without `id` the file's name (or the variable) is the id; `type=env`
/// without `env=` reads the variable named by the id.
pub fn parse_secret(spec: &str) -> std::result::Result<(String, SecretSource), String> {
    let (mut id, mut src, mut env, mut kind) = (None, None, None, None);
    for field in spec.split(',') {
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| format!("invalid secret field {field:?} in {spec:?}"))?;
        match k.to_ascii_lowercase().as_str() {
            "id" => id = Some(v.to_string()),
            "src" | "source" => src = Some(v.to_string()),
            "env" => env = Some(v.to_string()),
            "type" => kind = Some(v.to_string()),
            _ => return Err(format!("unexpected key {k:?} in secret {spec:?}")),
        }
    }
    let source = match (kind.as_deref(), src, env) {
        (Some("env"), Some(s), None) | (_, None, Some(s)) => SecretSource::Env(s),
        (None | Some("file"), Some(s), None) => SecretSource::File(PathBuf::from(s)),
        (Some("env"), None, None) => SecretSource::Env(id.clone().unwrap_or_default()),
        (Some(t), _, _) if t != "file" && t != "env" => {
            return Err(format!("unsupported secret type {t:?}"));
        }
        _ => return Err(format!("secret {spec:?}: give src=FILE or env=VAR")),
    };
    let id = match (id, &source) {
        (Some(id), _) => id,
        (None, SecretSource::File(p)) => p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        (None, SecretSource::Env(v)) => v.clone(),
    };
    if id.is_empty() {
        return Err(format!("secret {spec:?} has no id"));
    }
    Ok((id, source))
}

/// Where a mount's content comes from.
enum Origin {
    None,
    Context(Source),
    Image(ImageId),
}

struct Planned {
    mount: Mount,
    origin: Origin,
}

/// The mounts of one RUN, resolved (sources found, `from` images known)
/// but nothing mounted yet: enough for the cache key.
pub struct MountPlan {
    mounts: Vec<Planned>,
    line: usize,
}

impl MountPlan {
    pub fn new(
        store: &Store,
        instr: &Instruction,
        mounts: &[Mount],
        ctx: &Context,
        results: &BTreeMap<usize, ImageId>,
    ) -> Result<MountPlan> {
        let line = instr.lines.start;
        let mut out = Vec::new();
        for (i, m) in mounts.iter().enumerate() {
            if m.kind == MountType::Ssh {
                return Err(step_err(
                    line,
                    "RUN --mount=type=ssh is not supported: strata builds do not forward an SSH agent",
                ));
            }
            let takes_from = matches!(m.kind, MountType::Bind | MountType::Cache);
            let from = instr.mount_from.get(i).cloned().flatten();
            let origin = match from {
                Some(_) if !takes_from => Origin::None,
                Some(FromRef::Stage(s)) => Origin::Image(
                    results
                        .get(&s)
                        .cloned()
                        .ok_or_else(|| step_err(line, "--mount from= stage was not built"))?,
                ),
                Some(FromRef::Image(name)) => Origin::Image(store.resolve_image(&name)?.id),
                None if m.kind == MountType::Bind => {
                    let src = m.source.clone().unwrap_or_else(|| ".".into());
                    let mut sources = ctx.sources(&[src], line)?;
                    if sources.len() != 1 {
                        return Err(step_err(line, "a bind mount source must be one path"));
                    }
                    Origin::Context(sources.remove(0))
                }
                None => Origin::None,
            };
            out.push(Planned {
                mount: m.clone(),
                origin,
            });
        }
        Ok(MountPlan { mounts: out, line })
    }

    /// What the mounts add to the key: the content of context binds (as
    /// `mount:<target>:<path>` inputs) and the image of each `from=`.
    pub fn key(&self) -> Result<(String, Vec<FileInput>)> {
        let mut note = String::new();
        let mut files = Vec::new();
        for p in &self.mounts {
            let target = p.mount.target.clone().unwrap_or_default();
            match &p.origin {
                Origin::Image(id) => note.push_str(&format!(" # mount {target} from {id}")),
                Origin::Context(s) => {
                    let mut inputs = source_inputs(std::slice::from_ref(s), false, false)?;
                    for f in &mut inputs {
                        f.path = format!("mount:{target}:{}", f.path);
                    }
                    files.extend(inputs);
                }
                Origin::None => {}
            }
        }
        Ok((note, files))
    }

    /// Makes every mount's host side under `scratch` (or the store for
    /// caches) and returns the bind mounts and extra environment. `cwd`
    /// resolves relative targets.
    pub fn prepare(
        &self,
        store: &Store,
        secrets: &BTreeMap<String, SecretSource>,
        scratch: &Path,
        cwd: &str,
    ) -> Result<Prepared> {
        let mut out = Prepared {
            binds: Vec::new(),
            env: Vec::new(),
            keep: Vec::new(),
        };
        for (i, p) in self.mounts.iter().enumerate() {
            let m = &p.mount;
            let dir = scratch.join(format!("mount{i}"));
            let target = m.target.as_deref().map(|t| absolute(t, cwd));
            let (source, readonly) = match m.kind {
                MountType::Ssh => continue,
                MountType::Tmpfs => {
                    fs::create_dir(&dir).map_err(io_err(&dir))?;
                    set_meta(&dir, 0o1777, 0, 0, None)?;
                    (dir, m.read_only)
                }
                MountType::Bind => (self.bind_source(store, p, &dir, &mut out)?, m.read_only),
                MountType::Cache => (self.cache_dir(store, p, &dir, &mut out)?, m.read_only),
                MountType::Secret => {
                    let id =
                        m.id.clone()
                            .or_else(|| {
                                m.target
                                    .as_deref()
                                    .and_then(|t| Path::new(t).file_name())
                                    .map(|n| n.to_string_lossy().into_owned())
                            })
                            .or_else(|| m.env.clone())
                            .unwrap_or_default();
                    let Some(src) = secrets.get(&id) else {
                        if m.required {
                            return Err(step_err(
                                self.line,
                                format!(
                                    "secret {id} is required but was not given (--secret id={id},src=FILE)"
                                ),
                            ));
                        }
                        continue;
                    };
                    let value = match src {
                        SecretSource::File(f) => fs::read(f).map_err(io_err(f))?,
                        SecretSource::Env(v) => std::env::var_os(v)
                            .map(|s| s.into_encoded_bytes())
                            .ok_or_else(|| {
                                step_err(self.line, format!("secret {id}: ${v} is not set"))
                            })?,
                    };
                    if let Some(var) = &m.env {
                        out.env
                            .push(format!("{var}={}", String::from_utf8_lossy(&value)));
                        if m.target.is_none() {
                            continue;
                        }
                    }
                    fs::create_dir(&dir).map_err(io_err(&dir))?;
                    let f = dir.join("secret");
                    fs::write(&f, &value).map_err(io_err(&f))?;
                    let mode = m.mode.unwrap_or(0o400);
                    set_meta(&f, mode, m.uid.unwrap_or(0), m.gid.unwrap_or(0), None)?;
                    let dest = target.unwrap_or_else(|| format!("/run/secrets/{id}"));
                    out.binds.push(BindMount {
                        source: f,
                        destination: dest,
                        readonly: true,
                    });
                    continue;
                }
            };
            out.binds.push(BindMount {
                source,
                destination: target.unwrap_or_default(),
                readonly,
            });
        }
        Ok(out)
    }

    /// The host path to bind for a `type=bind` mount.
    fn bind_source(
        &self,
        store: &Store,
        p: &Planned,
        dir: &Path,
        out: &mut Prepared,
    ) -> Result<PathBuf> {
        let m = &p.mount;
        match &p.origin {
            Origin::Context(s) => {
                // A filtered copy of the context path: `.dockerignore`d files
                // stay invisible. Read-only binds share the files' inodes
                // (hard links) when they can; `rw` needs real copies so that
                // writes never reach the context.
                fs::create_dir(dir).map_err(io_err(dir))?;
                copy_source(s, dir, m.read_only)
            }
            Origin::Image(id) => {
                let view = mount_image(store, id, !m.read_only, self.line)?;
                let src = m.source.as_deref().unwrap_or("/");
                let path = self.resolve(&view, src)?;
                out.keep.push(Keep::View(view));
                Ok(path)
            }
            Origin::None => Err(step_err(self.line, "bind mount without a source")),
        }
    }

    fn resolve(&self, view: &View, src: &str) -> Result<PathBuf> {
        let path = crate::runtime::rootfs::resolve_in_root(&view.root, &absolute(src, "/"))
            .map_err(|source| super::BuildError::Runtime {
                line: self.line,
                source,
            })?;
        if fs::symlink_metadata(&path).is_err() {
            return Err(step_err(
                self.line,
                format!("mount source {src}: not found in the from= image"),
            ));
        }
        Ok(path)
    }

    /// The persistent directory of a cache mount, locked per `sharing`.
    fn cache_dir(
        &self,
        store: &Store,
        p: &Planned,
        dir: &Path,
        out: &mut Prepared,
    ) -> Result<PathBuf> {
        let m = &p.mount;
        let id =
            m.id.clone()
                .or_else(|| m.target.clone())
                .unwrap_or_default();
        let base = store.root().join("build-cache-mounts");
        fs::create_dir_all(&base).map_err(io_err(&base))?;
        let name = hex::encode(&Sha256::digest(id.as_bytes())[..16]);
        let lock_path = base.join(format!("{name}.lock"));
        let lock_file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        let sharing = m.sharing.unwrap_or(Sharing::Shared);
        let arg = match sharing {
            Sharing::Shared => FlockArg::LockShared,
            Sharing::Locked => FlockArg::LockExclusive,
            Sharing::Private => FlockArg::LockExclusiveNonblock,
        };
        let cache = match Flock::lock(lock_file, arg) {
            Ok(lock) => {
                out.keep.push(Keep::Lock(lock));
                base.join(&name)
            }
            // `private` while another build holds it: a fresh instance.
            Err((_, nix::Error::EWOULDBLOCK)) if sharing == Sharing::Private => dir.to_path_buf(),
            Err((_, e)) => {
                return Err(io_err(&lock_path)(std::io::Error::from_raw_os_error(
                    e as i32,
                )));
            }
        };
        if fs::symlink_metadata(&cache).is_err() {
            // Made aside and renamed in, so a crash never leaves a half-seeded cache.
            let fresh = dir.with_extension("new");
            fs::create_dir(&fresh).map_err(io_err(&fresh))?;
            match &p.origin {
                Origin::Image(id) => {
                    let view = mount_image(store, id, false, self.line)?;
                    let src = self.resolve(&view, m.source.as_deref().unwrap_or("/"))?;
                    let ctx = Context::open_plain(&src)?;
                    copy_source(&ctx.sources(&[".".into()], self.line)?[0], &fresh, false)?;
                }
                Origin::Context(s) => copy_source(s, &fresh, false).map(drop)?,
                Origin::None => {}
            }
            let mode = m.mode.unwrap_or(0o755);
            set_meta(&fresh, mode, m.uid.unwrap_or(0), m.gid.unwrap_or(0), None)?;
            // Another build may have made it meanwhile: theirs wins, ours
            // goes with the staging.
            if let Err(e) = fs::rename(&fresh, &cache)
                && !cache.is_dir()
            {
                return Err(io_err(&cache)(e));
            }
        }
        Ok(cache)
    }
}

/// What a prepared RUN's mounts need: binds for the runtime, environment
/// from secrets, and guards (views, locks) to keep until the step ends.
pub struct Prepared {
    pub binds: Vec<BindMount>,
    pub env: Vec<String>,
    keep: Vec<Keep>,
}

#[allow(dead_code)] // held for their Drop only
enum Keep {
    View(View),
    Lock(Flock<fs::File>),
}

/// `t` as an absolute path (relative ones are under `cwd`, like BuildKit).
fn absolute(t: &str, cwd: &str) -> String {
    if t.starts_with('/') {
        t.to_string()
    } else {
        format!("{}/{t}", cwd.trim_end_matches('/'))
    }
}

/// Copies a resolved source into `dir` (a directory's contents, or the
/// file itself as `dir/<name>`) and returns what to bind. `link`: hard-link
/// regular files when possible.
fn copy_source(s: &Source, dir: &Path, link: bool) -> Result<PathBuf> {
    let first = &s.entries[0];
    if !s.is_dir {
        let name = first.abs.file_name().map(PathBuf::from).unwrap_or_default();
        let to = dir.join(name);
        copy_entry(&first.abs, &first.meta, &to, link)?;
        return Ok(to);
    }
    for e in &s.entries[1..] {
        copy_entry(&e.abs, &e.meta, &dir.join(&e.sub), link)?;
    }
    let m = &first.meta;
    set_meta(dir, m.mode() & 0o7777, m.uid(), m.gid(), Some(m.mtime()))?;
    Ok(dir.to_path_buf())
}

fn copy_entry(from: &Path, meta: &fs::Metadata, to: &Path, link: bool) -> Result<()> {
    let ft = meta.file_type();
    if ft.is_dir() {
        fs::create_dir(to).map_err(io_err(to))?;
    } else if ft.is_symlink() {
        let t = fs::read_link(from).map_err(io_err(from))?;
        std::os::unix::fs::symlink(&t, to).map_err(io_err(to))?;
    } else if ft.is_file() {
        if link && fs::hard_link(from, to).is_ok() {
            return Ok(());
        }
        fs::copy(from, to).map_err(io_err(to))?;
    } else {
        return Ok(());
    }
    set_meta(
        to,
        meta.mode() & 0o7777,
        meta.uid(),
        meta.gid(),
        Some(meta.mtime()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_specs() {
        let ok = |s: &str| parse_secret(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(
            ok("id=tok,src=/tmp/t"),
            ("tok".into(), SecretSource::File("/tmp/t".into()))
        );
        assert_eq!(
            ok("src=/tmp/key.pem"),
            ("key.pem".into(), SecretSource::File("/tmp/key.pem".into()))
        );
        assert_eq!(
            ok("id=a,env=HOME"),
            ("a".into(), SecretSource::Env("HOME".into()))
        );
        assert_eq!(
            ok("id=TOK,type=env"),
            ("TOK".into(), SecretSource::Env("TOK".into()))
        );
        assert!(parse_secret("id=x").is_err());
        assert!(parse_secret("id=x,src=a,bogus=1").is_err());
    }
}
