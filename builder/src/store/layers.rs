//! Layers: creating them (import, freeze), looking them up, streaming them.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::compress::decompressed;
use super::digest::DiffId;
use super::error::{Error, Result, io_err, nix_err};
use super::extract::extract_layer;
use super::tarwrite::{TarSummary, digest_tree, write_tree_tar};
use super::time::now_unix;
use super::{Digest, Store};

/// A layer recorded in the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub diff_id: DiffId,
    /// sha256 of strata's canonical tar of the tree (equals `diff_id` for
    /// layers strata made; differs for imported foreign tars).
    pub tar_digest: Digest,
    /// Bytes of file content.
    pub size: u64,
    /// Bytes of the canonical tar stream.
    pub tar_size: u64,
    pub created: i64,
}

pub(crate) const LAYER_COLUMNS: &str = "diff_id, tar_digest, size, tar_size, created";

pub(crate) fn layer_from_row(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<(String, String, i64, i64, i64)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

pub(crate) fn to_layer(raw: (String, String, i64, i64, i64)) -> Result<Layer> {
    Ok(Layer {
        diff_id: Digest::parse(&raw.0)?,
        tar_digest: Digest::parse(&raw.1)?,
        size: raw.2 as u64,
        tar_size: raw.3 as u64,
        created: raw.4,
    })
}

impl Store {
    /// The catalog row of a layer.
    pub fn layer(&self, diff_id: &DiffId) -> Result<Layer> {
        self.find_layer(diff_id)?
            .ok_or_else(|| Error::NoSuchLayer(diff_id.to_string()))
    }

    fn find_layer(&self, diff_id: &DiffId) -> Result<Option<Layer>> {
        let raw = self
            .conn()
            .query_row(
                &format!("SELECT {LAYER_COLUMNS} FROM layers WHERE diff_id = ?1"),
                [diff_id.as_str()],
                layer_from_row,
            )
            .optional()
            .map_err(self.db_err())?;
        raw.map(to_layer).transpose()
    }

    /// Every layer in the catalog.
    pub fn layers(&self) -> Result<Vec<Layer>> {
        let mut stmt = self
            .conn()
            .prepare(&format!(
                "SELECT {LAYER_COLUMNS} FROM layers ORDER BY diff_id"
            ))
            .map_err(self.db_err())?;
        let rows = stmt
            .query_map([], layer_from_row)
            .map_err(self.db_err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.db_err())?;
        rows.into_iter().map(to_layer).collect()
    }

    /// Imports an OCI layer (plain, gzip or zstd tar). Its id is the digest of
    /// the uncompressed stream as given, as the image config lists it.
    pub fn import_layer_tar<R: Read>(&self, reader: R) -> Result<Layer> {
        let staged = self.staging_dir("layer")?;
        let result = (|| {
            let (_, stream) = decompressed(reader)?;
            let summary = extract_layer(stream, &staged)?;
            let canonical = digest_tree(&staged)?;
            self.commit_layer(&staged, &summary.digest, &canonical)
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&staged);
        }
        result
    }

    /// Extracts a rootfs archive (plain/gzip/zstd) and freezes it: unlike
    /// [`Store::import_layer_tar`] the id is that of strata's canonical tar of
    /// the tree, so the same tree always gives the same layer.
    pub fn import_rootfs_tar<R: Read>(&self, reader: R) -> Result<Layer> {
        let staged = self.staging_dir("rootfs")?;
        let result = decompressed(reader)
            .and_then(|(_, stream)| extract_layer(stream, &staged))
            .and_then(|_| self.freeze(&staged));
        if result.is_err() {
            let _ = fs::remove_dir_all(&staged);
        }
        result
    }

    /// Turns `upper` (kernel-overlay format) into a layer. `upper` is consumed:
    /// renamed into `layers/` (or removed when an identical layer exists).
    /// On another filesystem than the store it is copied, then removed.
    pub fn freeze(&self, upper: &Path) -> Result<Layer> {
        let layers = self.layout().layers();
        let dev = |p: &Path| fs::metadata(p).map(|m| m.dev()).map_err(io_err(p));
        if dev(upper)? != dev(&layers)? {
            let layer = self.freeze_copy(upper)?;
            fs::remove_dir_all(upper).map_err(io_err(upper))?;
            return Ok(layer);
        }
        let summary = digest_tree(upper)?;
        self.commit_layer(upper, &summary.digest, &summary)
    }

    /// Like [`Store::freeze`] but copies `dir` (which may be anywhere and is
    /// left as it was) through the canonical tar stream.
    pub fn freeze_copy(&self, dir: &Path) -> Result<Layer> {
        let staged = self.staging_dir("copy")?;
        let result = self
            .copy_tree(dir, &staged)
            .and_then(|summary| self.commit_layer(&staged, &summary.digest, &summary));
        if result.is_err() {
            let _ = fs::remove_dir_all(&staged);
        }
        result
    }

    /// Copies `src` into the empty dir `dest` by piping freeze into extract,
    /// so a copy is exactly what a layer round trip keeps.
    fn copy_tree(&self, src: &Path, dest: &Path) -> Result<TarSummary> {
        let (reader, writer) = std::io::pipe().map_err(io_err(src))?;
        std::thread::scope(|scope| {
            let producer = scope.spawn(move || write_tree_tar(src, writer));
            let extracted = extract_layer(reader, dest);
            let produced = producer
                .join()
                .map_err(|_| Error::BadArchive("tar writer thread panicked".to_string()))?;
            // The extractor failing (disk full...) makes the writer fail
            // with EPIPE: report the cause, not the symptom.
            let (produced, extracted) = match (produced, extracted) {
                (Err(p), Err(e)) if is_broken_pipe(&p) => return Err(e),
                (p, e) => (p?, e?),
            };
            if produced.digest != extracted.digest {
                return Err(Error::BadArchive(format!(
                    "copy of {} changed while reading",
                    src.display()
                )));
            }
            Ok(produced)
        })
    }

    /// Moves the complete tree `staged` to `layers/<diff_id>` and records it,
    /// or drops it when the layer already exists. Either way the layer is
    /// leased to this handle until an image references it.
    fn commit_layer(
        &self,
        staged: &Path,
        diff_id: &DiffId,
        canonical: &TarSummary,
    ) -> Result<Layer> {
        let session = self.session()?.name().to_string();
        // Data of the staged files reaches the disk before the rename makes
        // them visible (one syncfs instead of an fsync per file).
        let dir = fs::File::open(staged).map_err(io_err(staged))?;
        nix::unistd::syncfs(&dir).map_err(nix_err(staged))?;
        drop(dir);

        let _guard = self.lock_store()?;
        let target = self.layer_dir(diff_id);
        if let Some(existing) = self.find_layer(diff_id)? {
            if target.is_dir() {
                fs::remove_dir_all(staged).map_err(io_err(staged))?;
                self.lease(diff_id, &session)?;
                return Ok(existing);
            }
            // Row without files (damaged store): re-create the files.
            fs::rename(staged, &target).map_err(io_err(&target))?;
            self.lease(diff_id, &session)?;
            return Ok(existing);
        }
        if target.exists() {
            // Files without a row: leftover of a crash between rename and
            // commit. Replace them with the tree we just verified.
            fs::remove_dir_all(&target).map_err(io_err(&target))?;
        }
        fs::rename(staged, &target).map_err(io_err(&target))?;
        let layers_dir =
            fs::File::open(self.layout().layers()).map_err(io_err(self.layout().layers()))?;
        layers_dir
            .sync_all()
            .map_err(io_err(self.layout().layers()))?;

        let layer = Layer {
            diff_id: diff_id.clone(),
            tar_digest: canonical.digest.clone(),
            size: canonical.content_size,
            tar_size: canonical.tar_size,
            created: now_unix(),
        };
        let tx = rusqlite::Transaction::new_unchecked(self.conn(), TransactionBehavior::Immediate)
            .map_err(self.db_err())?;
        tx.execute(
            &format!("INSERT INTO layers ({LAYER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
            params![
                layer.diff_id.as_str(),
                layer.tar_digest.as_str(),
                layer.size as i64,
                layer.tar_size as i64,
                layer.created
            ],
        )
        .map_err(self.db_err())?;
        tx.execute(
            "INSERT OR IGNORE INTO layer_leases (diff_id, session) VALUES (?1, ?2)",
            params![diff_id.as_str(), session],
        )
        .map_err(self.db_err())?;
        tx.commit().map_err(self.db_err())?;
        Ok(layer)
    }

    fn lease(&self, diff_id: &DiffId, session: &str) -> Result<()> {
        self.conn()
            .execute(
                "INSERT OR IGNORE INTO layer_leases (diff_id, session) VALUES (?1, ?2)",
                params![diff_id.as_str(), session],
            )
            .map_err(self.db_err())?;
        Ok(())
    }

    /// Writes the layer as strata's canonical tar stream. Its digest is the
    /// layer's `tar_digest` (and its `diff_id` for layers strata made).
    pub fn write_layer_tar<W: Write>(&self, diff_id: &DiffId, out: W) -> Result<TarSummary> {
        self.layer(diff_id)?;
        write_tree_tar(&self.layer_dir(diff_id), out)
    }
}

/// Whether `err` comes from writing into a pipe whose reader is gone.
fn is_broken_pipe(err: &Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
        {
            return true;
        }
        cause = c.source();
    }
    false
}
