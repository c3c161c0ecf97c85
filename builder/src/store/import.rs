//! `docker import`: a rootfs (tarball or directory) becomes a one-layer image.

use std::io::Read;
use std::path::Path;

use super::Store;
use super::changes::apply_change;
use super::config::{History, ImageConfig};
use super::digest::ImageId;
use super::error::Result;
use super::layers::Layer;
use super::reference::Reference;
use super::time::{format_rfc3339, now_unix};

/// Options of an import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `--change` lines, applied in order.
    pub changes: Vec<String>,
    /// `-m`: history comment; default "Imported from <source>".
    pub message: Option<String>,
    /// What the source was, for the default comment (`-`, a path).
    pub source: String,
    /// History `created_by` (empty for a plain import).
    pub created_by: Option<String>,
}

/// Where the rootfs comes from.
pub enum RootfsSource<'a> {
    /// A tarball, plain/gzip/zstd.
    Archive(Box<dyn Read + 'a>),
    /// A directory (copied, left unchanged).
    Dir(&'a Path),
    /// A directory in this store's staging that may be moved in.
    StagedDir(&'a Path),
}

impl Store {
    /// Imports a rootfs as an image, tags it with `tag` if given, and
    /// returns the image id. Bad changes are refused before any work.
    pub fn import_rootfs(
        &self,
        source: RootfsSource<'_>,
        opts: &ImportOptions,
        tag: Option<&Reference>,
    ) -> Result<ImageId> {
        let mut config = ImageConfig::for_host();
        for change in &opts.changes {
            apply_change(&mut config, change)?;
        }
        let layer: Layer = match source {
            RootfsSource::Archive(reader) => self.import_rootfs_tar(reader)?,
            RootfsSource::Dir(dir) => self.freeze_copy(dir)?,
            RootfsSource::StagedDir(dir) => self.freeze(dir)?,
        };
        let now = format_rfc3339(now_unix());
        config.created = Some(now.clone());
        config.rootfs.diff_ids = vec![layer.diff_id.to_string()];
        config.history = vec![History {
            created: Some(now),
            created_by: opts.created_by.clone(),
            comment: Some(
                opts.message
                    .clone()
                    .unwrap_or_else(|| format!("Imported from {}", opts.source)),
            ),
            ..Default::default()
        }];
        let id = self.put_image(&config, None)?;
        if let Some(r) = tag {
            self.tag(r, &id)?;
        }
        Ok(id)
    }
}
