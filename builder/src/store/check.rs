//! `system check [--repair]`: the catalog against the files.
//!
//! Verifies every layer by re-tarring its tree and comparing with the digest
//! recorded when it was made, every image id against its config bytes, and
//! SQLite's own integrity and foreign keys. Repair removes what a crash or a
//! kill can leave: staging of dead sessions, layer directories without a row,
//! unknown files under `layers/`, rows of layers whose files are gone (when no
//! image needs them). Corrupt layer contents are reported, never "fixed".

use std::fs;

use super::Store;
use super::digest::{Digest, is_hex64};
use super::error::{Result, io_err};
use super::lock;
use super::tarwrite::digest_tree;

/// One finding; `repaired` says whether `--repair` fixed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub what: String,
    pub repaired: bool,
}

/// Result of a check.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub layers_verified: usize,
    pub images_verified: usize,
    pub problems: Vec<Problem>,
}

impl CheckReport {
    /// True when nothing is left unrepaired.
    pub fn is_clean(&self) -> bool {
        self.problems.iter().all(|p| p.repaired)
    }
}

impl Store {
    /// Checks the store; with `repair`, removes leftovers.
    pub fn check(&self, repair: bool) -> Result<CheckReport> {
        // Exclusive either way: a commit or GC running meanwhile would show
        // up as a half-state.
        let _guard = self.lock_store()?;
        let mut report = CheckReport::default();
        let problems = &mut report.problems;

        for msg in self.sqlite_checks()? {
            push(problems, msg, false);
        }

        // Staging of dead processes (interrupted imports, builds).
        if repair {
            for name in self.expire_dead_sessions()? {
                push(
                    problems,
                    format!("leftover staging tmp/{name} of a dead process"),
                    true,
                );
            }
        } else {
            for name in self.dead_sessions()? {
                push(
                    problems,
                    format!("leftover staging tmp/{name} of a dead process"),
                    false,
                );
            }
        }

        // Layer directories against rows.
        let layers = self.layers()?;
        let known: std::collections::HashSet<String> =
            layers.iter().map(|l| l.diff_id.hex().to_string()).collect();
        let layers_dir = self.layout().layers();
        for entry in fs::read_dir(&layers_dir).map_err(io_err(&layers_dir))? {
            let entry = entry.map_err(io_err(&layers_dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_hex64(&name) && known.contains(&name) {
                continue;
            }
            let path = entry.path();
            if repair {
                if path.is_dir() {
                    self.remove_tree(&path)?;
                } else {
                    fs::remove_file(&path).map_err(io_err(&path))?;
                }
            }
            push(
                problems,
                format!("layers/{name} has no catalog row"),
                repair,
            );
        }

        let mut layers_verified = 0;
        for layer in &layers {
            let dir = self.layer_dir(&layer.diff_id);
            if !dir.is_dir() {
                let used = self.layer_users(&layer.diff_id)?;
                let fixable = repair && used == 0;
                if fixable {
                    self.conn()
                        .execute(
                            "DELETE FROM layers WHERE diff_id = ?1",
                            [layer.diff_id.as_str()],
                        )
                        .map_err(self.db_err())?;
                }
                push(
                    problems,
                    format!(
                        "layer {} is missing its files (used by {used} images)",
                        layer.diff_id
                    ),
                    fixable,
                );
                continue;
            }
            let found = digest_tree(&dir)?.digest;
            if found != layer.tar_digest {
                let what = format!(
                    "layer {} content changed: tar digest {found}, recorded {}",
                    layer.diff_id, layer.tar_digest
                );
                push(problems, what, false);
            }
            layers_verified += 1;
        }

        let mut images_verified = 0;
        for image in self.images()? {
            if Digest::of(&image.raw_config) != image.id {
                let what = format!("image {} does not match its config bytes", image.id);
                push(problems, what, false);
            }
            images_verified += 1;
        }
        report.layers_verified = layers_verified;
        report.images_verified = images_verified;
        Ok(report)
    }

    fn layer_users(&self, diff_id: &Digest) -> Result<i64> {
        self.conn()
            .query_row(
                "SELECT COUNT(DISTINCT image_id) FROM image_layers WHERE diff_id = ?1",
                [diff_id.as_str()],
                |r| r.get(0),
            )
            .map_err(self.db_err())
    }

    fn sqlite_checks(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let ok: String = self
            .conn()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(self.db_err())?;
        if ok != "ok" {
            out.push(format!("catalog integrity: {ok}"));
        }
        let mut stmt = self
            .conn()
            .prepare("PRAGMA foreign_key_check")
            .map_err(self.db_err())?;
        let bad = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(self.db_err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.db_err())?;
        for table in bad {
            out.push(format!("catalog table {table} has a dangling reference"));
        }
        Ok(out)
    }

    /// Sessions whose lock nobody holds, without touching them.
    fn dead_sessions(&self) -> Result<Vec<String>> {
        let tmp = self.layout().tmp();
        let mine = self.session.get().map(|s| s.name().to_string());
        let mut dead = Vec::new();
        for entry in fs::read_dir(&tmp).map_err(io_err(&tmp))? {
            let entry = entry.map_err(io_err(&tmp))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".lock")
                || !name.starts_with("session-")
                || Some(&name) == mine.as_ref()
            {
                continue;
            }
            let lock_path = tmp.join(format!("{name}.lock"));
            if !lock_path.exists() || lock::try_lock_exclusive(&lock_path)?.is_some() {
                dead.push(name);
            }
        }
        Ok(dead)
    }
}

fn push(problems: &mut Vec<Problem>, what: String, repaired: bool) {
    problems.push(Problem { what, repaired });
}
