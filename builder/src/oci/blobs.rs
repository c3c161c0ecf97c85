//! The blob directory `<store root>/blobs/`: compressed layers, configs and
//! manifests by digest, as saved, pushed or pulled. A blob file exists only
//! once its content was verified against its digest (written to `tmp/`,
//! hashed, fsynced, renamed). Small index files remember which blob holds a
//! layer in which compression, so a second save or push does not
//! recompress, and in which registry repositories a blob is known to exist,
//! for cross-repository mounts.
//!
//! ```text
//! blobs/sha256/<hex>                     content
//! blobs/layers/<gzip|zstd|none>/<diff>   "sha256:<blob hex>"
//! blobs/sources/<hex>                    one "registry/repository" a line
//! blobs/tmp/                             staging, same filesystem
//! ```

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::digest::{HashingWriter, check, sha256_hex};
use super::error::{OciError, Result};
use super::media::Compression;

#[derive(Debug, Clone)]
pub struct Blobs {
    dir: PathBuf,
    /// Where temporary files go: `blobs/tmp/`, or the process's own
    /// staging with [`Blobs::for_store`].
    tmp: PathBuf,
}

impl Blobs {
    /// Opens (creating) the blob directory under a store root.
    pub fn open(store_root: &Path) -> Result<Blobs> {
        let dir = store_root.join("blobs");
        for sub in ["sha256", "tmp", "sources"] {
            let p = dir.join(sub);
            fs::create_dir_all(&p).map_err(OciError::io(&p))?;
        }
        let tmp = dir.join("tmp");
        Ok(Blobs { dir, tmp })
    }

    /// The blob directory of `store`, staging temporary files in the
    /// store's per-process staging: a killed save, load or pull leaves no
    /// temporary file that nobody would ever remove.
    pub fn for_store(store: &dyn super::ImageStore) -> Result<Blobs> {
        let mut blobs = Blobs::open(store.root())?;
        blobs.tmp = store
            .staging_dir()
            .map_err(OciError::store("staging directory"))?;
        Ok(blobs)
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.tmp.clone()
    }

    /// Partial downloads, shared by all processes (flocked per blob) so an
    /// interrupted pull resumes where it stopped.
    pub fn partial_dir(&self) -> PathBuf {
        self.dir.join("tmp").join("partial")
    }

    /// Path of a blob (which may not exist).
    pub fn path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.dir.join("sha256").join(sha256_hex(digest)?))
    }

    pub fn contains(&self, digest: &str) -> Result<bool> {
        Ok(self.path(digest)?.is_file())
    }

    pub fn open_blob(&self, digest: &str) -> Result<File> {
        let path = self.path(digest)?;
        File::open(&path).map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound {
                OciError::MissingBlob {
                    digest: digest.to_string(),
                    place: self.dir.display().to_string(),
                }
            } else {
                OciError::Io { path, source }
            }
        })
    }

    pub fn read(&self, digest: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut f = self.open_blob(digest)?;
        f.read_to_end(&mut out)
            .map_err(OciError::io(self.path(digest)?))?;
        Ok(out)
    }

    /// Stores a blob whose digest (and size, when given) is announced:
    /// nothing is kept unless the content matches. Returns the size.
    pub fn put_verified(&self, digest: &str, size: Option<u64>, src: &mut dyn Read) -> Result<u64> {
        let (actual, count, tmp) = self.stage(|w| io::copy(src, w).map(|_| ()))?;
        check(digest, size, &actual, count)?;
        self.commit(tmp, &actual)?;
        Ok(count)
    }

    /// Moves a file that is ours to move (staged on the blobs' filesystem,
    /// e.g. unpacked from an archive) into the store after hashing it, so a
    /// big layer is not copied once more. With `digest`, it must match.
    pub fn adopt(
        &self,
        file: &Path,
        digest: Option<&str>,
        size: Option<u64>,
    ) -> Result<(String, u64)> {
        let mut f = File::open(file).map_err(OciError::io(file))?;
        let mut hashing = super::digest::HashingReader::new(&mut f);
        io::copy(&mut hashing, &mut io::sink()).map_err(OciError::io(file))?;
        let (actual, count) = hashing.finish();
        if let Some(d) = digest {
            check(d, size, &actual, count)?;
        }
        f.sync_all().map_err(OciError::io(file))?;
        let dest = self.path(&actual)?;
        fs::rename(file, &dest).map_err(OciError::io(&dest))?;
        Ok((actual, count))
    }

    /// Stores content produced by `write` under the digest it hashes to.
    pub fn put_with(
        &self,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(String, u64)> {
        let (digest, count, tmp) = self.stage(write)?;
        self.commit(tmp, &digest)?;
        Ok((digest, count))
    }

    pub fn put_bytes(&self, bytes: &[u8]) -> Result<(String, u64)> {
        self.put_with(|w| w.write_all(bytes))
    }

    /// Writes content to a staging file and hashes it; nothing is visible
    /// under `sha256/` until [`Blobs::commit`].
    pub(crate) fn stage(
        &self,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(String, u64, tempfile::NamedTempFile)> {
        let tmp_dir = self.tmp_dir();
        let tmp = tempfile::NamedTempFile::new_in(&tmp_dir).map_err(OciError::io(&tmp_dir))?;
        let path = tmp.path().to_path_buf();
        let mut w = HashingWriter::new(io::BufWriter::new(tmp));
        write(&mut w).map_err(OciError::io(&path))?;
        let (buf, digest, count) = w.finish();
        let tmp = buf
            .into_inner()
            .map_err(|e| OciError::io(&path)(e.into_error()))?;
        tmp.as_file().sync_all().map_err(OciError::io(&path))?;
        Ok((digest, count, tmp))
    }

    pub(crate) fn commit(&self, tmp: tempfile::NamedTempFile, digest: &str) -> Result<()> {
        let dest = self.path(digest)?;
        tmp.persist(&dest)
            .map_err(|e| OciError::io(&dest)(e.error))?;
        Ok(())
    }

    /// The blob holding layer `diff_id` in `compression`, if one is known
    /// and present.
    pub fn layer_blob(&self, diff_id: &str, compression: Compression) -> Result<Option<String>> {
        let index = self.layer_index(diff_id, compression)?;
        let digest = match fs::read_to_string(&index) {
            Ok(s) => s.trim().to_string(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(OciError::io(index)(e)),
        };
        Ok(if sha256_hex(&digest).is_ok() && self.contains(&digest)? {
            Some(digest)
        } else {
            None
        })
    }

    /// Any stored blob of layer `diff_id`, with its compression.
    pub fn any_layer_blob(&self, diff_id: &str) -> Result<Option<(String, Compression)>> {
        for c in [Compression::Gzip, Compression::Zstd, Compression::None] {
            if let Some(d) = self.layer_blob(diff_id, c)? {
                return Ok(Some((d, c)));
            }
        }
        Ok(None)
    }

    /// Records that `blob` (verified) holds layer `diff_id` in `compression`.
    pub fn record_layer_blob(
        &self,
        diff_id: &str,
        compression: Compression,
        blob: &str,
    ) -> Result<()> {
        let index = self.layer_index(diff_id, compression)?;
        write_small(&index, blob.as_bytes())
    }

    fn layer_index(&self, diff_id: &str, compression: Compression) -> Result<PathBuf> {
        Ok(self
            .dir
            .join("layers")
            .join(compression.name())
            .join(sha256_hex(diff_id)?))
    }

    /// Registry repositories (`host/repo`) where a blob is known to exist.
    pub fn sources(&self, digest: &str) -> Result<Vec<String>> {
        let p = self.dir.join("sources").join(sha256_hex(digest)?);
        match fs::read_to_string(&p) {
            Ok(s) => Ok(s.lines().map(str::to_string).collect()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(OciError::io(p)(e)),
        }
    }

    /// Remembers that a blob exists in a registry repository.
    pub fn add_source(&self, digest: &str, repo: &str) -> Result<()> {
        let mut known = self.sources(digest)?;
        if known.iter().any(|k| k == repo) {
            return Ok(());
        }
        known.push(repo.to_string());
        // Bounded: a handful of candidates is enough to try a mount.
        let start = known.len().saturating_sub(8);
        let text = known[start..].join("\n") + "\n";
        let p = self.dir.join("sources").join(sha256_hex(digest)?);
        write_small(&p, text.as_bytes())
    }
}

/// What [`Blobs::prune`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BlobPrune {
    pub blobs: usize,
    pub bytes: u64,
}

impl Blobs {
    /// Removes blobs no stored image needs: layer blobs whose diff_id is
    /// not in `live_layers`, and every other blob (configs, manifests) whose
    /// digest is not in `keep`. Blobs younger than `grace` are left alone:
    /// a pull or load in progress writes its blobs before the image exists.
    pub fn prune(
        &self,
        live_layers: &HashSet<String>,
        keep: &HashSet<String>,
        grace: Duration,
    ) -> Result<BlobPrune> {
        let mut wanted: HashSet<String> = keep.clone();
        let index_root = self.dir.join("layers");
        for c in [Compression::Gzip, Compression::Zstd, Compression::None] {
            let dir = index_root.join(c.name());
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let entry = entry.map_err(OciError::io(&dir))?;
                let diff_id = format!("sha256:{}", entry.file_name().to_string_lossy());
                if live_layers.contains(&diff_id) {
                    if let Some(blob) = self.layer_blob(&diff_id, c)? {
                        wanted.insert(blob);
                    }
                } else if young(&entry.path(), grace) {
                    if let Ok(blob) = fs::read_to_string(entry.path()) {
                        wanted.insert(blob.trim().to_string());
                    }
                } else {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        let mut report = BlobPrune::default();
        let dir = self.dir.join("sha256");
        for entry in fs::read_dir(&dir).map_err(OciError::io(&dir))? {
            let entry = entry.map_err(OciError::io(&dir))?;
            let hex = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if wanted.contains(&format!("sha256:{hex}")) || young(&path, grace) {
                continue;
            }
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            fs::remove_file(&path).map_err(OciError::io(&path))?;
            let _ = fs::remove_file(self.dir.join("sources").join(&hex));
            report.blobs += 1;
            report.bytes += size;
        }
        Ok(report)
    }
}

/// Whether a file was modified less than `grace` ago.
fn young(path: &Path, grace: Duration) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_none_or(|age| age < grace)
}

/// Writes a small file atomically (temp file in the same directory, rename).
fn write_small(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(OciError::io(dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(OciError::io(dir))?;
    tmp.write_all(bytes).map_err(OciError::io(path))?;
    tmp.persist(path).map_err(|e| OciError::io(path)(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::digest::sha256_of;

    #[test]
    fn keeps_only_verified_blobs() {
        let root = tempfile::tempdir().expect("tmp");
        let blobs = Blobs::open(root.path()).expect("open");
        let data = b"config".to_vec();
        let digest = sha256_of(&data);
        let err = blobs
            .put_verified(&digest, Some(6), &mut &b"cOnfig"[..])
            .expect_err("must fail");
        assert!(matches!(err, OciError::DigestMismatch { .. }), "{err}");
        assert!(!blobs.contains(&digest).expect("contains"));
        assert_eq!(fs::read_dir(blobs.tmp_dir()).expect("tmp").count(), 0);
        blobs
            .put_verified(&digest, Some(6), &mut &data[..])
            .expect("good");
        assert_eq!(blobs.read(&digest).expect("read"), data);
    }

    #[test]
    fn remembers_layer_blobs_and_sources() {
        let root = tempfile::tempdir().expect("tmp");
        let blobs = Blobs::open(root.path()).expect("open");
        let diff = sha256_of(b"tar");
        assert_eq!(blobs.layer_blob(&diff, Compression::Gzip).expect("q"), None);
        let (blob, _) = blobs.put_bytes(b"gz").expect("put");
        blobs
            .record_layer_blob(&diff, Compression::Gzip, &blob)
            .expect("record");
        assert_eq!(
            blobs.any_layer_blob(&diff).expect("q"),
            Some((blob.clone(), Compression::Gzip))
        );
        blobs.add_source(&blob, "127.0.0.1:5000/a").expect("src");
        blobs.add_source(&blob, "127.0.0.1:5000/a").expect("src");
        assert_eq!(blobs.sources(&blob).expect("q"), vec!["127.0.0.1:5000/a"]);
    }

    #[test]
    fn prune_keeps_what_live_images_need() {
        let root = tempfile::tempdir().expect("tmp");
        let blobs = Blobs::open(root.path()).expect("open");
        let (live_blob, _) = blobs.put_bytes(b"live layer gz").expect("put");
        let (dead_blob, _) = blobs.put_bytes(b"dead layer gz").expect("put");
        let (config, _) = blobs.put_bytes(b"config").expect("put");
        let (manifest, _) = blobs.put_bytes(b"manifest").expect("put");
        let (live, dead) = (sha256_of(b"live tar"), sha256_of(b"dead tar"));
        blobs
            .record_layer_blob(&live, Compression::Gzip, &live_blob)
            .expect("rec");
        blobs
            .record_layer_blob(&dead, Compression::Gzip, &dead_blob)
            .expect("rec");
        let live_layers = HashSet::from([live.clone()]);
        let keep = HashSet::from([config.clone()]);
        // Everything is young: nothing goes.
        let none = blobs
            .prune(&live_layers, &keep, Duration::from_secs(3600))
            .expect("prune");
        assert_eq!(none, BlobPrune::default());
        let report = blobs
            .prune(&live_layers, &keep, Duration::ZERO)
            .expect("prune");
        assert_eq!(report.blobs, 2, "the dead layer's blob and the manifest");
        for (digest, kept) in [
            (&live_blob, true),
            (&config, true),
            (&dead_blob, false),
            (&manifest, false),
        ] {
            assert_eq!(blobs.contains(digest).expect("q"), kept, "{digest}");
        }
        assert_eq!(blobs.layer_blob(&dead, Compression::Gzip).expect("q"), None);
    }
}
