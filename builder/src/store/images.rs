//! Images and their names: storing configs, tagging, resolving what a user
//! typed (`name[:tag]`, `name@digest`, an id or id prefix) to an image.

use std::path::PathBuf;

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::Store;
use super::config::ImageConfig;
use super::digest::{DiffId, Digest, ImageId};
use super::error::{Error, Result};
use super::reference::{Reference, familiar_repository};
use super::time::{now_unix, parse_rfc3339};

/// An image as the catalog knows it.
#[derive(Debug, Clone)]
pub struct Image {
    pub id: ImageId,
    pub config: ImageConfig,
    /// The config bytes, verbatim (their sha256 is `id`).
    pub raw_config: Vec<u8>,
    pub parent: Option<ImageId>,
    /// Unix seconds: config `created`, else when it was stored.
    pub created: i64,
    /// Sum of the layers' content sizes.
    pub size: u64,
    /// Tags, familiar form (`ubuntu:latest`), sorted.
    pub repo_tags: Vec<String>,
    /// `name@sha256:...` of manifests this image was pulled or pushed as.
    pub repo_digests: Vec<String>,
}

impl Image {
    /// Layers bottom first.
    pub fn layers(&self) -> Result<Vec<DiffId>> {
        self.config.diff_ids()
    }
}

impl Store {
    /// Stores `config` (serialised canonically) as an image built on
    /// `parent`; returns its id. Storing the same config again is a no-op.
    pub fn put_image(&self, config: &ImageConfig, parent: Option<&ImageId>) -> Result<ImageId> {
        self.put_image_bytes(&config.to_bytes()?, parent)
    }

    /// Stores config bytes verbatim (pull, load). Every layer must exist.
    pub fn put_image_bytes(&self, raw: &[u8], parent: Option<&ImageId>) -> Result<ImageId> {
        let config = ImageConfig::from_bytes(raw)?;
        let id = Digest::of(raw);
        let diff_ids = config.diff_ids()?;
        let mut size = 0u64;
        for d in &diff_ids {
            size += self.layer(d)?.size;
        }
        let created = config
            .created
            .as_deref()
            .and_then(parse_rfc3339)
            .unwrap_or_else(now_unix);
        // Before the transaction: creating the session takes the store lock,
        // and the lock order is always store lock, then catalog.
        let session = self.session()?.name().to_string();
        let tx = rusqlite::Transaction::new_unchecked(self.conn(), TransactionBehavior::Immediate)
            .map_err(self.db_err())?;
        let inserted = tx
            .execute(
                "INSERT OR IGNORE INTO images (id, config, parent, created, size) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id.as_str(), raw, parent.map(Digest::as_str), created, size as i64],
            )
            .map_err(self.db_err())?;
        if inserted == 1 {
            for (pos, d) in diff_ids.iter().enumerate() {
                tx.execute(
                    "INSERT INTO image_layers (image_id, position, diff_id) VALUES (?1, ?2, ?3)",
                    params![id.as_str(), pos as i64, d.as_str()],
                )
                .map_err(self.db_err())?;
            }
        }
        // Leased until this handle goes: a build's image is dangling until
        // its child or its tag is stored, and prune must not take it.
        tx.execute(
            "INSERT OR IGNORE INTO image_leases (image_id, session) VALUES (?1, ?2)",
            params![id.as_str(), session],
        )
        .map_err(self.db_err())?;
        // The image now holds its layers; this handle's leases can go.
        for d in &diff_ids {
            tx.execute(
                "DELETE FROM layer_leases WHERE diff_id = ?1 AND session = ?2",
                params![d.as_str(), session],
            )
            .map_err(self.db_err())?;
        }
        tx.commit().map_err(self.db_err())?;
        Ok(id)
    }

    /// Points `reference` (tag `latest` if none) at `image`, moving the tag
    /// if it named another image.
    pub fn tag(&self, reference: &Reference, image: &ImageId) -> Result<()> {
        if reference.digest().is_some() {
            return Err(Error::InvalidReference {
                input: reference.to_string(),
                reason: "refusing to create a tag with a digest reference".to_string(),
            });
        }
        let tag = reference.tag().unwrap_or(super::reference::DEFAULT_TAG);
        self.conn()
            .execute(
                "INSERT INTO tags (repository, tag, image_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT (repository, tag) DO UPDATE SET image_id = excluded.image_id",
                params![reference.full_name(), tag, image.as_str()],
            )
            .map_err(self.db_err())?;
        Ok(())
    }

    /// Removes a tag; false when it did not exist.
    pub fn untag(&self, reference: &Reference) -> Result<bool> {
        let tag = reference.tag().unwrap_or(super::reference::DEFAULT_TAG);
        let n = self
            .conn()
            .execute(
                "DELETE FROM tags WHERE repository = ?1 AND tag = ?2",
                params![reference.full_name(), tag],
            )
            .map_err(self.db_err())?;
        Ok(n > 0)
    }

    /// Resolves what a user typed, in Docker's order: a reference by tag or
    /// digest, then a full id (`sha256:...` or 64 hex), then an id prefix.
    pub fn resolve_image(&self, input: &str) -> Result<Image> {
        self.resolve(input).map(|(image, _)| image)
    }

    /// Like `resolve_image`, also saying which tag matched (None = by id).
    pub(crate) fn resolve(&self, input: &str) -> Result<(Image, Option<Reference>)> {
        let hex = input.strip_prefix("sha256:").unwrap_or(input);
        let is_hex = !hex.is_empty() && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let mut missing = input.to_string();
        if !input.starts_with("sha256:") && !super::digest::is_hex64(input) {
            match Reference::parse_tagged(input) {
                Ok(r) => {
                    if let Some(id) = self.lookup_reference(&r)? {
                        return Ok((self.image(&id)?, Some(r)));
                    }
                    missing = r.to_string();
                }
                Err(e) if !is_hex => return Err(e),
                Err(_) => {}
            }
        }
        if is_hex && hex.len() <= 64 {
            let ids = self.ids_with_prefix(hex)?;
            match ids.len() {
                1 => return Ok((self.image(&ids[0])?, None)),
                0 => {}
                _ => {
                    return Err(Error::AmbiguousImage {
                        reference: input.to_string(),
                    });
                }
            }
        }
        Err(Error::NoSuchImage(missing))
    }

    fn lookup_reference(&self, r: &Reference) -> Result<Option<ImageId>> {
        let id: Option<String> = if let Some(digest) = r.digest() {
            self.conn()
                .query_row(
                    "SELECT image_id FROM repo_digests WHERE repository = ?1 AND digest = ?2",
                    params![r.full_name(), digest],
                    |row| row.get(0),
                )
                .optional()
        } else {
            self.conn()
                .query_row(
                    "SELECT image_id FROM tags WHERE repository = ?1 AND tag = ?2",
                    params![
                        r.full_name(),
                        r.tag().unwrap_or(super::reference::DEFAULT_TAG)
                    ],
                    |row| row.get(0),
                )
                .optional()
        }
        .map_err(self.db_err())?;
        id.map(|s| Digest::parse(&s)).transpose()
    }

    fn ids_with_prefix(&self, hex: &str) -> Result<Vec<ImageId>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT id FROM images WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT 2")
            .map_err(self.db_err())?;
        // sha256:<prefix> .. sha256:<prefix>g bounds every id with that prefix.
        let ids = stmt
            .query_map(
                params![format!("sha256:{hex}"), format!("sha256:{hex}g")],
                |r| r.get::<_, String>(0),
            )
            .map_err(self.db_err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.db_err())?;
        ids.iter().map(|s| Digest::parse(s)).collect()
    }

    /// The image with this exact id.
    pub fn image(&self, id: &ImageId) -> Result<Image> {
        let row = self
            .conn()
            .query_row(
                "SELECT config, parent, created, size FROM images WHERE id = ?1",
                [id.as_str()],
                |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                },
            )
            .optional()
            .map_err(self.db_err())?;
        let (raw, parent, created, size) = row.ok_or_else(|| Error::NoSuchImage(id.to_string()))?;
        Ok(Image {
            id: id.clone(),
            config: ImageConfig::from_bytes(&raw)?,
            raw_config: raw,
            parent: parent.map(|p| Digest::parse(&p)).transpose()?,
            created,
            size: size as u64,
            repo_tags: self.names_of(
                id,
                "SELECT repository, tag FROM tags WHERE image_id = ?1",
                ':',
            )?,
            repo_digests: self.names_of(
                id,
                "SELECT repository, digest FROM repo_digests WHERE image_id = ?1",
                '@',
            )?,
        })
    }

    fn names_of(&self, id: &ImageId, sql: &str, sep: char) -> Result<Vec<String>> {
        let mut stmt = self.conn().prepare(sql).map_err(self.db_err())?;
        let mut names = stmt
            .query_map([id.as_str()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(self.db_err())?
            .map(|r| r.map(|(repo, t)| format!("{}{sep}{t}", familiar_repository(&repo))))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.db_err())?;
        names.sort();
        Ok(names)
    }

    /// Every image, newest first.
    pub fn images(&self) -> Result<Vec<Image>> {
        let ids = self.query_ids("SELECT id FROM images ORDER BY created DESC, id", [])?;
        ids.iter().map(|id| self.image(id)).collect()
    }

    /// Ids of images whose parent is `id`.
    pub fn children(&self, id: &ImageId) -> Result<Vec<ImageId>> {
        self.query_ids("SELECT id FROM images WHERE parent = ?1", [id.as_str()])
    }

    /// Ids of containers (any state) created from `id`, with their state.
    pub fn containers_using(&self, id: &ImageId) -> Result<Vec<(String, String)>> {
        let mut stmt = self
            .conn()
            .prepare("SELECT id, state FROM containers WHERE image_id = ?1 ORDER BY id")
            .map_err(self.db_err())?;
        let rows = stmt
            .query_map([id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.db_err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.db_err())?;
        Ok(rows)
    }

    pub(crate) fn query_ids<P: rusqlite::Params>(&self, sql: &str, p: P) -> Result<Vec<ImageId>> {
        let mut stmt = self.conn().prepare(sql).map_err(self.db_err())?;
        let ids = stmt
            .query_map(p, |r| r.get::<_, String>(0))
            .map_err(self.db_err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.db_err())?;
        ids.iter().map(|s| Digest::parse(s)).collect()
    }

    /// Layer directories of an image, top-most first, as an overlay's
    /// `lowerdirs` wants them.
    pub fn image_lowerdirs(&self, image: &Image) -> Result<Vec<PathBuf>> {
        let mut dirs = image
            .layers()?
            .iter()
            .map(|d| self.layer_dir(d))
            .collect::<Vec<_>>();
        dirs.reverse();
        Ok(dirs)
    }
}
