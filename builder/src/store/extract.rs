//! The reverse of freeze: an uncompressed layer tar stream -> a tree in
//! kernel-overlay format under a fresh directory.
//!
//! Safety: the destination is a private staging directory, so checking each
//! path component as we go is enough (nobody else changes it meanwhile). Every
//! entry name and hard-link target must be relative without `..`; every parent
//! component must be a real directory created by this extraction, never a
//! symlink (a symlink in the layer is stored, never followed); missing parents
//! are created. Whiteouts for `.`/`..` and overlay-private xattrs in the
//! archive are refused or dropped. GNU sparse entries are refused (their
//! holes would expand to zeros: a tar bomb).
//!
//! OCI -> overlay format: `.wh.<name>` becomes a 0/0 character device `<name>`;
//! `.wh..wh..opq` sets `trusted.overlay.opaque=y` on its directory; other
//! `.wh..wh.` names (AUFS bookkeeping) are ignored.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::sys::stat::{Mode, SFlag, UtimensatFlags, mknod, utimensat};
use nix::sys::time::TimeSpec;
use tar::EntryType;

use super::digest::{Digest, HashingReader};
use super::error::{Error, Result, io_err, nix_err};
use super::sys;
use super::tarwrite::{OPAQUE_MARKER, OPAQUE_XATTR, OVERLAY_XATTR_PREFIX, WHITEOUT_PREFIX};

/// What an extraction read.
#[derive(Debug, Clone)]
pub struct ExtractSummary {
    /// sha256 of the uncompressed stream as given.
    pub digest: Digest,
    pub tar_size: u64,
}

/// Extracts the tar stream `reader` into the existing empty directory `dest`.
pub fn extract_layer<R: Read>(reader: R, dest: &Path) -> Result<ExtractSummary> {
    let mut hashing = HashingReader::new(reader);
    let mut dir_times: Vec<(PathBuf, i64)> = Vec::new();
    {
        let mut archive = tar::Archive::new(&mut hashing);
        let entries = archive.entries().map_err(|e| read_err("reading", e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| read_err("reading entry header", e))?;
            extract_entry(&mut entry, dest, &mut dir_times)?;
        }
    }
    // A stream cut at an entry boundary looks like a shorter archive to the
    // tar reader; only the end-of-archive zero block proves it is whole.
    if !hashing.ends_with_zero_block() {
        return Err(Error::BadArchive(format!(
            "truncated after {} bytes (no end-of-archive marker)",
            hashing.len()
        )));
    }
    io::copy(&mut hashing, &mut io::sink()).map_err(|e| read_err("reading trailer", e))?;
    // Parents' mtimes last: creating children changed them.
    for (path, mtime) in dir_times.iter().rev() {
        set_mtime(path, *mtime)?;
    }
    let (digest, tar_size) = hashing.finish();
    Ok(ExtractSummary { digest, tar_size })
}

fn read_err(context: &str, source: io::Error) -> Error {
    // The tar crate reports a short stream as ErrorKind::Other with this text.
    if source.kind() == io::ErrorKind::UnexpectedEof
        || source.to_string().contains("unexpected EOF")
    {
        return Error::BadArchive(format!("truncated: data ends while {context}"));
    }
    Error::Archive {
        context: context.to_string(),
        source,
    }
}

fn unsafe_entry(entry: &[u8], reason: impl Into<String>) -> Error {
    Error::UnsafeEntry {
        entry: String::from_utf8_lossy(entry).into_owned(),
        reason: reason.into(),
    }
}

/// `a/./b/` -> `a/b`; refuses absolute paths and `..`. `None` for the root.
pub fn sanitize(raw: &[u8]) -> Result<Option<PathBuf>> {
    let path = Path::new(OsStr::from_bytes(raw));
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err(unsafe_entry(raw, "absolute path"));
            }
            Component::ParentDir => return Err(unsafe_entry(raw, "path contains `..`")),
        }
    }
    Ok(if out.as_os_str().is_empty() {
        None
    } else {
        Some(out)
    })
}

/// Makes sure every parent of `rel` under `dest` is a real directory,
/// creating missing ones; refuses symlinks and non-directories on the way.
fn ensure_parents(dest: &Path, rel: &Path, raw: &[u8], create: bool) -> Result<PathBuf> {
    let mut cur = dest.to_path_buf();
    if let Some(parent) = rel.parent() {
        for comp in parent.components() {
            cur.push(comp);
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(unsafe_entry(
                        raw,
                        format!("goes through symlink {}", strip(dest, &cur)),
                    ));
                }
                Ok(_) => {
                    return Err(unsafe_entry(
                        raw,
                        format!("parent {} is not a directory", strip(dest, &cur)),
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    fs::create_dir(&cur).map_err(io_err(&cur))?;
                    fs::set_permissions(&cur, fs::Permissions::from_mode(0o755))
                        .map_err(io_err(&cur))?;
                }
                Err(e) => return Err(io_err(&cur)(e)),
            }
        }
    }
    Ok(dest.join(rel))
}

fn strip(dest: &Path, p: &Path) -> String {
    p.strip_prefix(dest).unwrap_or(p).display().to_string()
}

/// Removes whatever is at `path` (not following it) unless both are dirs.
fn clear_target(path: &Path, new_is_dir: bool) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() && new_is_dir => Ok(()),
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).map_err(io_err(path)),
        Ok(_) => fs::remove_file(path).map_err(io_err(path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(path)(e)),
    }
}

fn extract_entry<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    dest: &Path,
    dir_times: &mut Vec<(PathBuf, i64)>,
) -> Result<()> {
    let raw = entry.path_bytes().into_owned();
    let kind = entry.header().entry_type();
    if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader) {
        return Ok(());
    }
    let Some(rel) = sanitize(&raw)? else {
        return Ok(()); // the layer root itself: its metadata is not part of a layer
    };
    let name = rel.file_name().unwrap_or_default().as_bytes();
    if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        return whiteout(dest, &rel, &raw, name, hidden);
    }
    let path = ensure_parents(dest, &rel, &raw, true)?;
    let header = entry.header();
    let mode = header.mode().map_err(|e| read_err("mode", e))? & 0o7777;
    let uid = header.uid().map_err(|e| read_err("uid", e))?;
    let gid = header.gid().map_err(|e| read_err("gid", e))?;
    let mtime = header.mtime().map_err(|e| read_err("mtime", e))? as i64;
    match kind {
        EntryType::Directory => {
            clear_target(&path, true)?;
            if !path.is_dir() {
                fs::create_dir(&path).map_err(io_err(&path))?;
            }
        }
        EntryType::GNUSparse => {
            // Its holes would be written out as zeros: a few header bytes
            // can declare petabytes. Image tools never write sparse entries
            // (the OCI image spec says they SHOULD NOT be used).
            return Err(unsafe_entry(
                &raw,
                "GNU sparse file (not allowed in a layer)",
            ));
        }
        EntryType::Regular | EntryType::Continuous => {
            clear_target(&path, false)?;
            let mut file = File::options()
                .write(true)
                .create_new(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
                .map_err(io_err(&path))?;
            io::copy(entry, &mut file).map_err(|e| read_err(&format!("{}", rel.display()), e))?;
        }
        EntryType::Symlink => {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| unsafe_entry(&raw, "symlink without target"))?
                .into_owned();
            clear_target(&path, false)?;
            std::os::unix::fs::symlink(OsStr::from_bytes(&target), &path).map_err(io_err(&path))?;
        }
        EntryType::Link => {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| unsafe_entry(&raw, "hard link without target"))?
                .into_owned();
            let target_rel = sanitize(&target)?
                .ok_or_else(|| unsafe_entry(&raw, "hard link to the layer root"))?;
            let target_path = ensure_parents(dest, &target_rel, &raw, false)?;
            match fs::symlink_metadata(&target_path) {
                Ok(m) if !m.is_dir() => {}
                Ok(_) => return Err(unsafe_entry(&raw, "hard link to a directory")),
                Err(_) => {
                    return Err(unsafe_entry(
                        &raw,
                        "hard link target is not an earlier entry of this layer",
                    ));
                }
            }
            if target_path == path {
                return Ok(());
            }
            clear_target(&path, false)?;
            fs::hard_link(&target_path, &path).map_err(io_err(&path))?;
            return Ok(()); // shares the target's inode and metadata
        }
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            let (sflag, dev) = match kind {
                EntryType::Fifo => (SFlag::S_IFIFO, 0),
                _ => {
                    let major = header.device_major().ok().flatten().unwrap_or(0);
                    let minor = header.device_minor().ok().flatten().unwrap_or(0);
                    let flag = if kind == EntryType::Char {
                        SFlag::S_IFCHR
                    } else {
                        SFlag::S_IFBLK
                    };
                    (flag, libc::makedev(major, minor))
                }
            };
            clear_target(&path, false)?;
            mknod(&path, sflag, Mode::from_bits_truncate(0o600), dev).map_err(nix_err(&path))?;
        }
        other => {
            log::debug!("{}: tar entry type {other:?} ignored", rel.display());
            return Ok(());
        }
    }
    set_xattrs(entry, &path)?;
    std::os::unix::fs::lchown(&path, Some(uid as u32), Some(gid as u32)).map_err(io_err(&path))?;
    if kind != EntryType::Symlink {
        // After chown, which clears set-id bits.
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(io_err(&path))?;
    }
    if kind == EntryType::Directory {
        dir_times.push((path, mtime));
        Ok(())
    } else {
        set_mtime(&path, mtime)
    }
}

/// `.wh.<hidden>` -> 0/0 char device; `.wh..wh..opq` -> opaque parent.
fn whiteout(dest: &Path, rel: &Path, raw: &[u8], name: &[u8], hidden: &[u8]) -> Result<()> {
    let dir = ensure_parents(dest, rel, raw, true)?;
    let dir = dir.parent().unwrap_or(dest);
    if name == OPAQUE_MARKER.as_bytes() {
        return sys::set_xattr(dir, OsStr::new(OPAQUE_XATTR), b"y").map_err(io_err(dir));
    }
    if hidden.starts_with(WHITEOUT_PREFIX.as_bytes()) {
        log::debug!("{}: AUFS metadata entry ignored", rel.display());
        return Ok(());
    }
    if hidden.is_empty() || hidden == b"." || hidden == b".." {
        return Err(unsafe_entry(raw, "whiteout of `.` or `..`"));
    }
    let path = dir.join(OsStr::from_bytes(hidden));
    clear_target(&path, false)?;
    mknod(&path, SFlag::S_IFCHR, Mode::empty(), 0).map_err(nix_err(&path))
}

fn set_xattrs<R: Read>(entry: &mut tar::Entry<'_, R>, path: &Path) -> Result<()> {
    let Some(exts) = entry
        .pax_extensions()
        .map_err(|e| read_err("pax header", e))?
    else {
        return Ok(());
    };
    for ext in exts {
        let ext = ext.map_err(|e| read_err("pax header", e))?;
        let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") else {
            continue;
        };
        // The union fs's private state must not be smuggled in by a layer.
        if name.starts_with(OVERLAY_XATTR_PREFIX) {
            continue;
        }
        sys::set_xattr(path, OsStr::from_bytes(name), ext.value_bytes()).map_err(io_err(path))?;
    }
    Ok(())
}

fn set_mtime(path: &Path, mtime: i64) -> Result<()> {
    let t = TimeSpec::new(mtime, 0);
    utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &t,
        &t,
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(nix_err(path))
}
