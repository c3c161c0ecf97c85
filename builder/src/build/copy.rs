//! COPY and ADD from the context: the cache inputs of the sources, and
//! writing them into a fresh layer directory with Docker's destination
//! rules (a trailing `/`, several sources or an existing directory make the
//! destination a directory; a source directory copies its contents).

use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::cache::FileInput;
use super::context::{Entry, Source, entry_digest, entry_owner_mode};
use super::error::{Result, io_err, step_err};
use super::fsutil::{
    image_rel, is_dir_in, make_dir_like, make_parents, read_in, resolve_in_image, set_meta,
};
use crate::runtime::user::resolve_user;

/// A resolved COPY/ADD.
pub struct Plan {
    pub sources: Vec<Source>,
    /// Destination, absolute in the image (WORKDIR applied), as written
    /// (the trailing `/` matters).
    pub dest: String,
    pub chown: Option<String>,
    pub chmod: Option<u32>,
    /// ADD: local tars are extracted.
    pub add: bool,
    pub line: usize,
    /// `COPY --parents`: where each source lands under the destination
    /// (its path relative to the context, or to its `/./` pivot).
    pub relocate: Option<Vec<PathBuf>>,
}

/// The key inputs of `sources`: every entry's path, mode, owner and
/// content digest, sorted by path. Mode and owner are left out when
/// `--chmod`/`--chown` override them.
pub fn source_inputs(sources: &[Source], chmod: bool, chown: bool) -> Result<Vec<FileInput>> {
    let mut out = Vec::new();
    for s in sources {
        for e in &s.entries {
            let (mode, uid, gid) = entry_owner_mode(e);
            out.push(FileInput {
                path: e.rel.clone(),
                mode: (!chmod).then_some(mode),
                uid: (!chown).then_some(uid),
                gid: (!chown).then_some(gid),
                digest: entry_digest(e)?,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out.dedup_by(|a, b| a.path == b.path);
    Ok(out)
}

/// Parses `--chmod` (octal only, as Docker's classic builder).
pub fn parse_chmod(s: &str, line: usize) -> Result<u32> {
    u32::from_str_radix(s, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| step_err(line, format!("invalid --chmod={s}: expected an octal mode")))
}

impl Plan {
    /// The key inputs: every entry's path, mode, owner and content digest.
    pub fn inputs(&self) -> Result<Vec<FileInput>> {
        source_inputs(&self.sources, self.chmod.is_some(), self.chown.is_some())
    }

    /// Writes the sources into `layer` (an empty dir that becomes the layer).
    pub fn materialize(&self, layer: &Path, lowerdirs: &[PathBuf]) -> Result<()> {
        let (uid, gid) = match &self.chown {
            Some(c) => self.resolve_chown(c, lowerdirs)?,
            None => (0, 0),
        };
        // Symlinks of the image on the way are followed inside the image,
        // never on the host and never replaced by a directory.
        let mut image = vec![layer.to_path_buf()];
        image.extend_from_slice(lowerdirs);
        let dest = resolve_in_image(&image, &image_rel(&self.dest)).ok_or_else(|| {
            step_err(
                self.line,
                format!("{}: too many levels of symbolic links", self.dest),
            )
        })?;
        let dest_is_dir = self.relocate.is_some()
            || self.dest.ends_with('/')
            || self.dest.ends_with("/.")
            || self.sources.len() > 1
            || dest.as_os_str().is_empty()
            || is_dir_in(lowerdirs, &dest);
        for (i, s) in self.sources.iter().enumerate() {
            let first = &s.entries[0];
            let moved = self.relocate.as_ref().and_then(|r| r.get(i));
            if s.is_dir {
                let dir = match moved {
                    Some(r) => dest.join(r),
                    None => dest.clone(),
                };
                make_parents(layer, lowerdirs, &dir.join("x"))?;
                for e in &s.entries[1..] {
                    self.put(e, &layer.join(&dir).join(&e.sub), uid, gid)?;
                }
            } else if self.add && is_archive(&first.abs)? {
                make_parents(layer, lowerdirs, &dest.join("x"))?;
                self.extract(&first.abs, &layer.join(&dest))?;
            } else {
                let target = if let Some(r) = moved {
                    dest.join(r)
                } else if dest_is_dir {
                    let name = Path::new(&s.rel)
                        .file_name()
                        .map(PathBuf::from)
                        .unwrap_or_default();
                    dest.join(name)
                } else {
                    dest.clone()
                };
                make_parents(layer, lowerdirs, &target)?;
                self.put(first, &layer.join(&target), uid, gid)?;
            }
        }
        if !dest.as_os_str().is_empty() && layer.join(&dest).is_dir() {
            // The destination dir itself keeps the image's metadata if it
            // had it; a new one is root 0755 (made above by make_parents).
            make_dir_like(layer, lowerdirs, &dest)?;
        }
        Ok(())
    }

    fn put(&self, e: &Entry, to: &Path, uid: u32, gid: u32) -> Result<()> {
        let ft = e.meta.file_type();
        let mode = self.chmod.unwrap_or(e.meta.mode() & 0o7777);
        if let Ok(m) = fs::symlink_metadata(to)
            && !(m.is_dir() && ft.is_dir())
        {
            if m.is_dir() {
                fs::remove_dir_all(to).map_err(io_err(to))?;
            } else {
                fs::remove_file(to).map_err(io_err(to))?;
            }
        }
        if ft.is_dir() {
            if !to.is_dir() {
                fs::create_dir(to).map_err(io_err(to))?;
            }
        } else if ft.is_symlink() {
            let t = fs::read_link(&e.abs).map_err(io_err(&e.abs))?;
            std::os::unix::fs::symlink(&t, to).map_err(io_err(to))?;
        } else if ft.is_file() {
            fs::copy(&e.abs, to).map_err(io_err(to))?;
        } else if ft.is_fifo() || ft.is_socket() || ft.is_block_device() || ft.is_char_device() {
            // Special files of a context are not copied (Docker skips sockets;
            // devices in a context are a mistake).
            return Ok(());
        }
        set_meta(to, mode, uid, gid, Some(e.meta.mtime()))
    }

    fn resolve_chown(&self, spec: &str, lowerdirs: &[PathBuf]) -> Result<(u32, u32)> {
        let passwd = read_in(lowerdirs, "etc/passwd");
        let group = read_in(lowerdirs, "etc/group");
        let bad =
            |e: crate::runtime::RuntimeError| step_err(self.line, format!("--chown={spec}: {e}"));
        let (u, g) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        let uid = resolve_user(u, &passwd, &group).map_err(bad)?.uid;
        // Docker: a user without a group uses the uid as the gid.
        let gid = match g {
            None => uid,
            Some(g) => {
                resolve_user(&format!("0:{g}"), &passwd, &group)
                    .map_err(bad)?
                    .gid
            }
        };
        Ok((uid, gid))
    }

    /// ADD of a local archive: unpacked into `dir` (owners and modes kept,
    /// `..` and absolute names refused by the tar crate).
    fn extract(&self, archive: &Path, dir: &Path) -> Result<()> {
        let f = File::open(archive).map_err(io_err(archive))?;
        let reader: Box<dyn Read> = match magic(archive)? {
            Magic::Gzip => Box::new(flate2::read::GzDecoder::new(BufReader::new(f))),
            Magic::Zstd => Box::new(zstd::Decoder::new(f).map_err(io_err(archive))?),
            _ => Box::new(BufReader::new(f)),
        };
        let mut ar = tar::Archive::new(reader);
        ar.set_preserve_permissions(true);
        ar.set_preserve_ownerships(true);
        ar.set_preserve_mtime(true);
        ar.set_overwrite(true);
        ar.unpack(dir)
            .map_err(|e| step_err(self.line, format!("extracting {}: {e}", archive.display())))
    }
}

#[derive(PartialEq)]
enum Magic {
    Gzip,
    Zstd,
    Tar,
    Other,
}

fn magic(p: &Path) -> Result<Magic> {
    let mut buf = [0u8; 262];
    let mut f = File::open(p).map_err(io_err(p))?;
    let mut n = 0;
    while n < buf.len() {
        let k = f.read(&mut buf[n..]).map_err(io_err(p))?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(if n >= 2 && buf[..2] == [0x1f, 0x8b] {
        Magic::Gzip
    } else if n >= 4 && buf[..4] == [0x28, 0xb5, 0x2f, 0xfd] {
        Magic::Zstd
    } else if n >= 262 && &buf[257..262] == b"ustar" {
        Magic::Tar
    } else {
        Magic::Other
    })
}

/// Whether ADD should extract this file.
fn is_archive(p: &Path) -> Result<bool> {
    Ok(magic(p)? != Magic::Other)
}
