//! Tar plumbing shared by the archive formats: writing files with fixed
//! metadata, and unpacking an archive into a private staging directory
//! where every later path lookup is confined.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use super::error::{OciError, Result};

/// Appends a file with fixed metadata (root-owned, 0644, mtime 0), so the
/// same image always saves to the same archive.
pub fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    data: &mut dyn Read,
) -> io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    tar.append_data(&mut header, path, data)
}

/// Appends a directory entry (mode 0755, mtime 0).
pub fn append_dir<W: Write>(tar: &mut tar::Builder<W>, path: &str) -> io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_size(0);
    header.set_mode(0o755);
    header.set_mtime(0);
    tar.append_data(&mut header, path, io::empty())
}

/// Appends a file from disk under `path`.
pub fn append_file<W: Write>(tar: &mut tar::Builder<W>, path: &str, file: &Path) -> Result<()> {
    let mut f = File::open(file).map_err(OciError::io(file))?;
    let size = f.metadata().map_err(OciError::io(file))?.len();
    append(tar, path, size, &mut f).map_err(OciError::io(file))
}

/// An archive unpacked into a temporary directory that is removed on drop.
pub struct Unpacked {
    dir: tempfile::TempDir,
    archive: PathBuf,
}

impl Unpacked {
    /// Unpacks regular files, directories and symlinks (docker-archive uses
    /// them for repeated layers). A truncated or corrupt archive is an error.
    pub fn new(src: &mut dyn Read, archive: &Path, staging: &Path) -> Result<Unpacked> {
        let dir = tempfile::Builder::new()
            .prefix("load-")
            .tempdir_in(staging)
            .map_err(OciError::io(staging))?;
        let bad = |reason: String| OciError::Archive {
            path: archive.to_path_buf(),
            reason,
        };
        let mut tar = tar::Archive::new(src);
        let entries = tar
            .entries()
            .map_err(|e| bad(format!("not a tar archive: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| bad(format!("truncated or corrupt: {e}")))?;
            let kind = entry.header().entry_type();
            if !(kind.is_file() || kind.is_dir() || kind.is_symlink()) {
                continue;
            }
            // unpack_in refuses absolute paths and `..` and never writes
            // through a symlink that leaves the directory.
            entry.unpack_in(dir.path()).map_err(|e| {
                // Failing to write (disk full, quota) is not the archive's
                // fault: report it as the I/O error it is.
                if is_write_failure(&e) {
                    OciError::Io {
                        path: dir.path().to_path_buf(),
                        source: e,
                    }
                } else {
                    bad(format!("truncated or corrupt: {e}"))
                }
            })?;
        }
        Ok(Unpacked {
            dir,
            archive: archive.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn archive(&self) -> &Path {
        &self.archive
    }
}

/// Errors of the destination filesystem rather than of the archive. The
/// tar crate wraps them (the OS error number is lost) but keeps the kind.
fn is_write_failure(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{QuotaExceeded, ReadOnlyFilesystem, StorageFull};
    matches!(e.kind(), StorageFull | QuotaExceeded | ReadOnlyFilesystem)
}

/// Resolves `rel` (a path named inside an archive or layout) under `dir`,
/// refusing anything that leaves it, symlinks included.
pub fn confined(dir: &Path, rel: &str, what: &str) -> Result<PathBuf> {
    let rel_path = Path::new(rel);
    if rel_path
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(OciError::Invalid {
            what: what.to_string(),
            reason: format!("path {rel:?} leaves the archive"),
        });
    }
    let joined = dir.join(rel_path);
    let real = joined.canonicalize().map_err(|_| OciError::MissingBlob {
        digest: rel.to_string(),
        place: what.to_string(),
    })?;
    let root = dir.canonicalize().map_err(OciError::io(dir))?;
    if !real.starts_with(&root) {
        return Err(OciError::Invalid {
            what: what.to_string(),
            reason: format!("path {rel:?} leaves the archive"),
        });
    }
    Ok(real)
}
