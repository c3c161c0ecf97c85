//! Freeze: a directory tree in kernel-overlay format -> a deterministic,
//! uncompressed OCI layer tar stream.
//!
//! Determinism (same tree -> same bytes -> same diff_id): entries are written
//! depth-first with the names of each directory sorted bytewise, headers hold
//! only mode, uid, gid, mtime (whole seconds), size, type, link name and
//! device numbers (no atime/ctime, no user/group names), and xattrs go into a
//! PAX header as `SCHILY.xattr.<name>` records sorted by name.
//!
//! Overlay format -> OCI: a 0/0 character device becomes an empty regular file
//! `.wh.<name>`; a directory with `trusted.overlay.opaque=y` is followed by an
//! empty `<dir>/.wh..wh..opq` before its children (as the OCI spec asks). Other
//! `trusted.overlay.*` xattrs are the union fs's private bookkeeping and are
//! dropped. Files sharing an inode are written once, then as hard links to the
//! first path in walk order. Sockets cannot be represented and are skipped
//! (as Docker does).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use tar::{Builder, EntryType, Header};

use super::digest::{Digest, HashingWriter};
use super::error::{Error, Result, io_err};
use super::sys;

pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
pub const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What writing a layer tar produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarSummary {
    /// sha256 of the stream: the diff_id.
    pub digest: Digest,
    /// Bytes of the stream.
    pub tar_size: u64,
    /// Bytes of regular file content (each inode counted once).
    pub content_size: u64,
}

/// Writes the tree at `root` as a layer tar to `out` and returns its digest.
pub fn write_tree_tar<W: Write>(root: &Path, out: W) -> Result<TarSummary> {
    let mut w = TreeWriter {
        root,
        builder: Builder::new(HashingWriter::new(out)),
        links: HashMap::new(),
        content_size: 0,
    };
    w.walk_dir(root, Path::new(""))?;
    let ctx = |source| Error::Archive {
        context: format!("writing layer of {}", root.display()),
        source,
    };
    let hashing = w.builder.into_inner().map_err(ctx)?;
    let (digest, tar_size, mut inner) = hashing.finish();
    inner.flush().map_err(ctx)?;
    Ok(TarSummary {
        digest,
        tar_size,
        content_size: w.content_size,
    })
}

/// Digest of the tree without keeping the stream.
pub fn digest_tree(root: &Path) -> Result<TarSummary> {
    write_tree_tar(root, std::io::sink())
}

struct TreeWriter<'a, W: Write> {
    root: &'a Path,
    builder: Builder<HashingWriter<W>>,
    /// (dev, ino) -> first archive path, for hard links.
    links: HashMap<(u64, u64), PathBuf>,
    content_size: u64,
}

impl<W: Write> TreeWriter<'_, W> {
    fn walk_dir(&mut self, dir: &Path, rel: &Path) -> Result<()> {
        let mut names: Vec<OsString> = fs::read_dir(dir)
            .map_err(io_err(dir))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()
            .map_err(io_err(dir))?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let path = dir.join(&name);
            let rel = rel.join(&name);
            let meta = fs::symlink_metadata(&path).map_err(io_err(&path))?;
            self.entry(&path, &rel, &meta)?;
            if meta.is_dir() {
                self.walk_dir(&path, &rel)?;
            }
        }
        Ok(())
    }

    fn entry(&mut self, path: &Path, rel: &Path, meta: &fs::Metadata) -> Result<()> {
        let ft = meta.file_type();
        let mut header = base_header(meta);
        let root = self.root;
        let err = move |e| archive_err(root, rel, e);
        if ft.is_char_device() && meta.rdev() == 0 {
            // Kernel whiteout -> OCI `.wh.<name>`.
            let name = rel.file_name().unwrap_or_default();
            let mut wh = OsString::from(WHITEOUT_PREFIX);
            wh.push(name);
            let wh_rel = rel.with_file_name(wh);
            header.set_entry_type(EntryType::Regular);
            header.set_mode(0o600);
            header.set_size(0);
            return self
                .builder
                .append_data(&mut header, &wh_rel, std::io::empty())
                .map_err(err);
        }
        if ft.is_socket() {
            log::debug!(
                "{}: socket not representable in a layer, skipped",
                path.display()
            );
            return Ok(());
        }
        let (xattrs, opaque) = read_xattrs(path)?;
        if !xattrs.is_empty() {
            let records: Vec<(String, Vec<u8>)> = xattrs
                .into_iter()
                .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v))
                .collect();
            self.builder
                .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .map_err(err)?;
        }
        if !ft.is_dir() && meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.links.get(&key) {
                header.set_entry_type(EntryType::Link);
                header.set_size(0);
                let first = first.clone();
                return self
                    .builder
                    .append_link(&mut header, rel, &first)
                    .map_err(err);
            }
            self.links.insert(key, rel.to_path_buf());
        }
        let result = if ft.is_dir() {
            header.set_entry_type(EntryType::Directory);
            self.builder
                .append_data(&mut header, rel, std::io::empty())
                .and_then(|()| {
                    if opaque {
                        let mut marker = base_header(meta);
                        marker.set_entry_type(EntryType::Regular);
                        marker.set_mode(meta.mode() & 0o777);
                        marker.set_size(0);
                        self.builder.append_data(
                            &mut marker,
                            rel.join(OPAQUE_MARKER),
                            std::io::empty(),
                        )
                    } else {
                        Ok(())
                    }
                })
        } else if ft.is_symlink() {
            let target = fs::read_link(path).map_err(io_err(path))?;
            header.set_entry_type(EntryType::Symlink);
            append_symlink(
                &mut self.builder,
                &mut header,
                rel,
                target.as_os_str().as_bytes(),
            )
        } else if ft.is_file() {
            let file = File::options()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)
                .map_err(io_err(path))?;
            header.set_entry_type(EntryType::Regular);
            header.set_size(meta.len());
            self.content_size += meta.len();
            // A file that shrinks while being read would corrupt the stream
            // (the tar writer pads what it got); `Exact` turns that into an error.
            let mut exact = Exact {
                inner: std::io::Read::take(file, meta.len()),
                left: meta.len(),
            };
            self.builder.append_data(&mut header, rel, &mut exact)
        } else {
            let kind = if ft.is_char_device() {
                EntryType::Char
            } else if ft.is_block_device() {
                EntryType::Block
            } else {
                EntryType::Fifo
            };
            header.set_entry_type(kind);
            if kind != EntryType::Fifo {
                let rdev = meta.rdev();
                header
                    .set_device_major(libc::major(rdev))
                    .and_then(|()| header.set_device_minor(libc::minor(rdev)))
                    .map_err(err)?;
            }
            self.builder.append_data(&mut header, rel, std::io::empty())
        };
        result.map_err(err)
    }
}

fn archive_err(root: &Path, rel: &Path, source: std::io::Error) -> Error {
    Error::Archive {
        context: format!("{}: {}", root.display(), rel.display()),
        source,
    }
}

/// Reads exactly `left` bytes from `inner` or fails.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: std::io::Read> std::io::Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "file shrank while being archived",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Header with the normalised metadata every entry carries.
fn base_header(meta: &fs::Metadata) -> Header {
    let mut h = Header::new_gnu();
    h.set_mode(meta.mode() & 0o7777);
    h.set_uid(u64::from(meta.uid()));
    h.set_gid(u64::from(meta.gid()));
    h.set_mtime(meta.mtime().max(0) as u64);
    h.set_size(0);
    h
}

/// Extended attributes as (name, value), sorted by name.
type Xattrs = Vec<(String, Vec<u8>)>;

/// The xattrs to archive (sorted, overlay-private ones removed) and whether
/// the entry is an opaque directory.
fn read_xattrs(path: &Path) -> Result<(Xattrs, bool)> {
    let names = match sys::list_xattrs(path) {
        Ok(n) => n,
        // Filesystems without xattr support have none to archive.
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok((Vec::new(), false)),
        Err(e) => return Err(io_err(path)(e)),
    };
    let mut out = Vec::new();
    let mut opaque = false;
    for name in names {
        let bytes = name.as_bytes();
        if bytes.starts_with(OVERLAY_XATTR_PREFIX) {
            if bytes == OPAQUE_XATTR.as_bytes() {
                opaque = sys::get_xattr(path, &name)
                    .map_err(io_err(path))?
                    .as_deref()
                    == Some(b"y");
            }
            continue;
        }
        let Some(key) = name.to_str() else {
            return Err(Error::BadArchive(format!(
                "{}: xattr name {name:?} is not UTF-8",
                path.display()
            )));
        };
        if let Some(value) = sys::get_xattr(path, &name).map_err(io_err(path))? {
            out.push((key.to_string(), value));
        }
    }
    out.sort();
    Ok((out, opaque))
}

/// Appends a symlink entry whose target is written byte for byte.
///
/// `Builder::append_link` normalises the target as a path (`/` comes back as
/// `//`, `a//b` as `a/b`), so `readlink` in a container would differ from what
/// was committed. Targets longer than the header field get a GNU long-link
/// entry first, as tar's own writer does.
pub fn append_symlink<W: Write>(
    builder: &mut Builder<W>,
    header: &mut Header,
    path: &Path,
    target: &[u8],
) -> std::io::Result<()> {
    const LINKNAME_FIELD: usize = 100;
    if target.len() > LINKNAME_FIELD {
        let mut long = Header::new_gnu();
        long.set_path("././@LongLink")?;
        long.set_entry_type(EntryType::GNULongLink);
        long.set_mode(0o644);
        long.set_size(target.len() as u64 + 1);
        long.set_cksum();
        builder.append(&long, [target, b"\0"].concat().as_slice())?;
        header.set_link_name_literal(&target[..LINKNAME_FIELD])?;
    } else {
        header.set_link_name_literal(target)?;
    }
    header.set_size(0);
    builder.append_data(header, path, std::io::empty())
}
