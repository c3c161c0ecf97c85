//! Garbage collection (`system prune`, after `image rm`) and `system df`.
//!
//! A layer may be removed only when no image references it and no live
//! session leases it; both are decided under the store lock, which is also
//! what a new layer's rename+insert holds, so GC never races a commit.

use std::fs;
use std::path::Path;

use rusqlite::params;

use super::Store;
use super::digest::{DiffId, Digest};
use super::error::{Result, io_err};
use super::lock;
use super::remove::Removed;

/// What `prune` removed.
#[derive(Debug, Default, Clone)]
pub struct PruneReport {
    /// `untagged:` / `deleted:` lines, in order.
    pub images: Vec<Removed>,
    pub layers: Vec<DiffId>,
    /// Bytes of layer content freed.
    pub reclaimed: u64,
}

/// Numbers for `system df`.
#[derive(Debug, Default, Clone)]
pub struct DiskUsage {
    pub images: u64,
    /// Images used by at least one container.
    pub active_images: u64,
    /// Content bytes of all layers (each counted once).
    pub layers_size: u64,
    /// Content bytes of layers no active image uses.
    pub reclaimable: u64,
    pub containers: u64,
    pub running_containers: u64,
    /// Bytes under `containers/` (upper dirs and logs).
    pub containers_size: u64,
}

impl Store {
    /// Removes dangling images (untagged, no children, no container) or with
    /// `all` every image no container uses, then unreferenced layers.
    pub fn prune(&self, all: bool) -> Result<PruneReport> {
        let mut report = PruneReport::default();
        {
            let _guard = self.lock_store()?;
            self.expire_dead_sessions()?;
        }
        loop {
            let candidates = self.query_ids(
                "SELECT id FROM images i
                 WHERE NOT EXISTS (SELECT 1 FROM images c WHERE c.parent = i.id)
                   AND NOT EXISTS (SELECT 1 FROM containers k WHERE k.image_id = i.id)
                   AND NOT EXISTS (SELECT 1 FROM image_leases l WHERE l.image_id = i.id)
                   AND (?1 OR NOT EXISTS (SELECT 1 FROM tags t WHERE t.image_id = i.id))",
                [all],
            )?;
            if candidates.is_empty() {
                break;
            }
            for id in candidates {
                for t in self.image(&id)?.repo_tags {
                    self.untag(&super::Reference::parse(&t)?)?;
                    report.images.push(Removed::Untagged(t));
                }
                report.images.extend(self.delete_unused_chain(&id)?);
            }
        }
        let (layers, bytes) = self.collect_layers()?;
        report.layers = layers;
        report.reclaimed = bytes;
        Ok(report)
    }

    /// Deletes layers no image references and no live session leases.
    /// Returns them and their content bytes.
    pub(crate) fn collect_layers(&self) -> Result<(Vec<DiffId>, u64)> {
        let _guard = self.lock_store()?;
        self.expire_dead_sessions()?;
        let mut stmt = self
            .conn()
            .prepare(
                "SELECT diff_id, size FROM layers l
                 WHERE NOT EXISTS (SELECT 1 FROM image_layers il WHERE il.diff_id = l.diff_id)
                   AND NOT EXISTS (SELECT 1 FROM layer_leases ll WHERE ll.diff_id = l.diff_id)",
            )
            .map_err(self.db_err())?;
        let victims = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(self.db_err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.db_err())?;
        let mut removed = Vec::new();
        let mut bytes = 0;
        for (diff_id, size) in victims {
            let diff_id = Digest::parse(&diff_id)?;
            // Row first: a crash after it leaves files without a row, which
            // `system check --repair` removes; never a row without files.
            self.conn()
                .execute(
                    "DELETE FROM layers WHERE diff_id = ?1",
                    params![diff_id.as_str()],
                )
                .map_err(self.db_err())?;
            self.remove_tree(&self.layer_dir(&diff_id))?;
            bytes += size as u64;
            removed.push(diff_id);
        }
        Ok((removed, bytes))
    }

    /// Moves `dir` into this session's staging (atomic disappearance), then
    /// deletes it.
    pub(crate) fn remove_tree(&self, dir: &Path) -> Result<()> {
        if !dir.exists() {
            return Ok(());
        }
        let trash = self.session()?.scratch("trash");
        fs::rename(dir, &trash).map_err(io_err(dir))?;
        fs::remove_dir_all(&trash).map_err(io_err(&trash))
    }

    /// Drops leases and staging of sessions whose process is gone. The
    /// caller holds the store lock.
    pub(crate) fn expire_dead_sessions(&self) -> Result<Vec<String>> {
        let tmp = self.layout().tmp();
        let mine = self.session.get().map(|s| s.name().to_string());
        let mut names: Vec<String> = fs::read_dir(&tmp)
            .map_err(io_err(&tmp))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .map(|n| n.trim_end_matches(".lock").to_string())
            .collect();
        let mut stmt = self
            .conn()
            .prepare("SELECT session FROM layer_leases UNION SELECT session FROM image_leases")
            .map_err(self.db_err())?;
        names.extend(
            stmt.query_map([], |r| r.get::<_, String>(0))
                .map_err(self.db_err())?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(self.db_err())?,
        );
        names.sort();
        names.dedup();
        let mut dead = Vec::new();
        for name in names {
            if Some(&name) == mine.as_ref() || !name.starts_with("session-") {
                continue;
            }
            let lock_path = tmp.join(format!("{name}.lock"));
            let Some(_held) = lock::try_lock_exclusive(&lock_path)? else {
                continue; // alive
            };
            for sql in [
                "DELETE FROM layer_leases WHERE session = ?1",
                "DELETE FROM image_leases WHERE session = ?1",
            ] {
                self.conn().execute(sql, [&name]).map_err(self.db_err())?;
            }
            // Its processes, dead mounts and files (see recover.rs).
            super::recover::reclaim(&tmp.join(&name))?;
            fs::remove_file(&lock_path).map_err(io_err(&lock_path))?;
            dead.push(name);
        }
        Ok(dead)
    }

    /// Numbers for `system df`.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let q = |sql: &str| -> Result<u64> {
            self.conn()
                .query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(self.db_err())
        };
        let containers_dir = self.layout().containers();
        Ok(DiskUsage {
            images: q("SELECT COUNT(*) FROM images")?,
            active_images: q("SELECT COUNT(DISTINCT image_id) FROM containers")?,
            layers_size: q("SELECT COALESCE(SUM(size), 0) FROM layers")?,
            reclaimable: q(
                "SELECT COALESCE(SUM(size), 0) FROM layers l WHERE NOT EXISTS (
                    SELECT 1 FROM image_layers il JOIN containers k ON k.image_id = il.image_id
                    WHERE il.diff_id = l.diff_id)",
            )?,
            containers: q("SELECT COUNT(*) FROM containers")?,
            running_containers: q("SELECT COUNT(*) FROM containers WHERE state = 'running'")?,
            containers_size: tree_size(&containers_dir),
        })
    }
}

/// Bytes of regular files under `dir` (best effort: unreadable parts count 0).
fn tree_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}
