//! `image rm` with Docker's rules (daemon/images/image_delete.go):
//! - by tag, when the image has other tags: only untag;
//! - by its last tag: untag, then delete the image unless a container uses
//!   it (refused without force) or it has child images (it stays, untagged);
//! - by id: refused without force when tagged in several repositories or
//!   used by a stopped container; never when it has children or a running
//!   container uses it. Deleting goes on to untagged parents nothing else
//!   needs, then to layers no image references any more.

use rusqlite::{TransactionBehavior, params};

use super::Store;
use super::digest::ImageId;
use super::error::{Error, Result};
use super::reference::Reference;

/// One line of `image rm` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    /// `Untagged: ubuntu:latest`
    Untagged(String),
    /// `Deleted: sha256:...`
    Deleted(ImageId),
}

impl Store {
    /// Removes a tag or an image as `docker image rm [-f]` does.
    pub fn remove_image(&self, input: &str, force: bool) -> Result<Vec<Removed>> {
        // Ends dead processes' leases first: only live ones protect.
        self.session()?;
        let (image, by_tag) = self.resolve(input)?;
        let only_untag = by_tag.is_some() && image.repo_tags.len() > 1;
        if let Some(point) = self.mounts_of(&image.id)?.first()
            && !only_untag
        {
            return Err(Error::Conflict {
                reference: input.to_string(),
                hint: "cannot be forced",
                reason: format!(
                    "image {} is mounted at {} (strata image umount {})",
                    image.id.short(),
                    point.display(),
                    point.display()
                ),
            });
        }
        let containers = self.containers_using(&image.id)?;
        let running = containers.iter().find(|(_, s)| s == "running");
        let mut out = Vec::new();
        if let Some(reference) = by_tag {
            if image.repo_tags.len() > 1 {
                self.untag(&reference)?;
                return Ok(vec![Removed::Untagged(reference.to_string())]);
            }
            if let Some((cid, _)) = containers.first()
                && (!force || running.is_some())
            {
                return Err(Error::Conflict {
                    reference: format!("repository reference {:?}", reference.to_string()),
                    hint: if running.is_some() {
                        "cannot be forced"
                    } else {
                        "must force"
                    },
                    reason: format!(
                        "container {} is using its referenced image {}",
                        &cid[..cid.len().min(12)],
                        image.id.short()
                    ),
                });
            }
            self.untag(&reference)?;
            out.push(Removed::Untagged(reference.to_string()));
        } else {
            let conflict = |hint, reason: String| Error::Conflict {
                reference: image.id.short().to_string(),
                hint,
                reason,
            };
            if let Some((cid, _)) = running {
                return Err(conflict(
                    "cannot be forced",
                    format!(
                        "image is being used by running container {}",
                        &cid[..cid.len().min(12)]
                    ),
                ));
            }
            if !self.children(&image.id)?.is_empty() {
                return Err(conflict(
                    "cannot be forced",
                    "image has dependent child images".into(),
                ));
            }
            if !force {
                if let Some((cid, _)) = containers.first() {
                    return Err(conflict(
                        "must be forced",
                        format!(
                            "image is being used by stopped container {}",
                            &cid[..cid.len().min(12)]
                        ),
                    ));
                }
                let mut repos: Vec<&str> = image
                    .repo_tags
                    .iter()
                    .map(|t| t.rsplit_once(':').map_or(t.as_str(), |(r, _)| r))
                    .collect();
                repos.dedup();
                if repos.len() > 1 {
                    return Err(conflict(
                        "must be forced",
                        "image is referenced in multiple repositories".into(),
                    ));
                }
            }
            for t in &image.repo_tags {
                let r = Reference::parse(t)?;
                self.untag(&r)?;
                out.push(Removed::Untagged(t.clone()));
            }
        }
        out.extend(self.delete_unused_chain(&image.id)?);
        self.collect_layers()?;
        Ok(out)
    }

    /// Deletes `id` if nothing needs it (no tag, child, container or lease
    /// of a live process: a build working from it, a mount), then its
    /// parents under the same rule. Returns the deleted ids. A leased image
    /// stays dangling; prune takes it once the lease is gone.
    pub(crate) fn delete_unused_chain(&self, id: &ImageId) -> Result<Vec<Removed>> {
        let mut out = Vec::new();
        let mut next = Some(id.clone());
        while let Some(id) = next.take() {
            let image = self.image(&id)?;
            if !image.repo_tags.is_empty()
                || !self.children(&id)?.is_empty()
                || !self.containers_using(&id)?.is_empty()
                || self.is_leased(&id)?
            {
                break;
            }
            self.delete_image_row(&id)?;
            out.push(Removed::Deleted(id));
            next = image.parent;
        }
        Ok(out)
    }

    /// Leased by another session (this handle's own leases protect its
    /// images from others, not from itself).
    fn is_leased(&self, id: &ImageId) -> Result<bool> {
        let mine = self.session()?.name().to_string();
        self.conn()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM image_leases WHERE image_id = ?1 AND session != ?2)",
                [id.as_str(), &mine],
                |r| r.get(0),
            )
            .map_err(self.db_err())
    }

    fn delete_image_row(&self, id: &ImageId) -> Result<()> {
        let tx = rusqlite::Transaction::new_unchecked(self.conn(), TransactionBehavior::Immediate)
            .map_err(self.db_err())?;
        for sql in [
            "DELETE FROM tags WHERE image_id = ?1",
            "DELETE FROM repo_digests WHERE image_id = ?1",
            "UPDATE images SET parent = NULL WHERE parent = ?1",
            "DELETE FROM images WHERE id = ?1",
        ] {
            tx.execute(sql, params![id.as_str()])
                .map_err(self.db_err())?;
        }
        tx.commit().map_err(self.db_err())
    }
}
