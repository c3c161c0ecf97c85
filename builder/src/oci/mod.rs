//! OCI interchange: images out of and into the store as OCI image-layout
//! tars, `docker save` archives and plain layout directories, flattened
//! rootfs export, and push/pull against OCI distribution registries.
//!
//! Everything that comes from outside is verified (digest and size of each
//! blob, then each layer's uncompressed digest against the config's
//! diff_ids) into `<root>/blobs/` before the first layer enters the store,
//! so a bad or truncated input leaves no image behind and a retried load or
//! pull reuses what was already verified.

mod archive;
pub mod blobs;
pub mod digest;
mod docker_archive;
pub mod error;
pub mod export;
pub mod image;
pub mod layout;
pub mod media;
pub mod progress;
pub mod registry;
pub mod store_api;
mod store_impl;

use std::io::{Read, Seek, Write};
use std::path::Path;

pub use blobs::Blobs;
pub use error::{OciError, Result};
pub use layout::Loaded;
pub use media::{Compression, ManifestFormat};
pub use progress::{NoProgress, Progress};
pub use store_api::{ImageStore, StoredImage};
pub use store_impl::prune_blobs;

/// Archive formats of `image save`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// OCI image layout in a tar.
    Oci,
    /// `docker save` (manifest.json, repositories, layer tars).
    Docker,
}

/// Writes the images named by `references` to `out` as one archive.
pub fn save(
    store: &dyn ImageStore,
    references: &[String],
    format: ArchiveFormat,
    compression: Compression,
    out: &mut dyn Write,
) -> Result<()> {
    let blobs = Blobs::for_store(store)?;
    // Docker archives hold uncompressed layers; no compressed copy needed.
    let compression = match format {
        ArchiveFormat::Oci => compression,
        ArchiveFormat::Docker => Compression::None,
    };
    let mut images = Vec::new();
    for r in references {
        images.push(image::prepare(store, &blobs, r, compression, &NoProgress)?);
    }
    match format {
        ArchiveFormat::Oci => layout::write_tar(&images, &blobs, out),
        ArchiveFormat::Docker => docker_archive::write_tar(store, &images, &blobs, out),
    }
}

/// Loads an OCI layout tar or a `docker save` archive (recognised by its
/// content). `name` is used in error messages.
pub fn load_archive(
    store: &dyn ImageStore,
    src: &mut dyn Read,
    name: &Path,
) -> Result<Vec<Loaded>> {
    let blobs = Blobs::for_store(store)?;
    let unpacked = archive::Unpacked::new(src, name, &blobs.tmp_dir())?;
    let dir = unpacked.dir();
    let what = unpacked.archive().display().to_string();
    if dir.join("manifest.json").is_file() {
        docker_archive::load_dir(store, &blobs, dir, &what)
    } else if dir.join("index.json").is_file() {
        layout::load_dir(store, &blobs, dir, None, true)
    } else {
        Err(OciError::Archive {
            path: name.to_path_buf(),
            reason: "neither manifest.json (docker save) nor index.json (OCI layout) found".into(),
        })
    }
}

/// Loads from an OCI layout directory, all images or the one tagged `tag`.
pub fn load_layout(store: &dyn ImageStore, dir: &Path, tag: Option<&str>) -> Result<Vec<Loaded>> {
    let blobs = Blobs::for_store(store)?;
    layout::load_dir(store, &blobs, dir, tag, false)
}

/// Writes the image's flattened root filesystem as a tar.
pub fn export_image(store: &dyn ImageStore, reference: &str, out: &mut dyn Write) -> Result<()> {
    export_flattened(store, reference, None, out)
}

/// Writes a container's root filesystem as a tar (`docker export`): its
/// upper dir (kernel overlay format: whiteouts, opaque dirs) over the
/// layers of its image.
pub fn export_container(
    store: &dyn ImageStore,
    image: &str,
    upper: &std::path::Path,
    out: &mut dyn Write,
) -> Result<()> {
    export_flattened(store, image, Some(upper), out)
}

fn export_flattened(
    store: &dyn ImageStore,
    reference: &str,
    upper: Option<&std::path::Path>,
    out: &mut dyn Write,
) -> Result<()> {
    let image = store
        .resolve(reference)
        .map_err(OciError::store(format!("image {reference}")))?;
    let view = image::parse_config(&image.config, &format!("config of image {}", image.id))?;
    // Each layer goes through an unlinked temporary file: the store writes
    // tars, the flattening reads them.
    let blobs = Blobs::for_store(store)?;
    let mut layers = Vec::new();
    if let Some(upper) = upper {
        let tmp_dir = blobs.tmp_dir();
        let mut file = tempfile::tempfile_in(&tmp_dir).map_err(OciError::io(&tmp_dir))?;
        crate::store::write_tree_tar(upper, &mut file)
            .map_err(|e| OciError::store(format!("upper dir {}", upper.display()))(Box::new(e)))?;
        file.rewind().map_err(OciError::io(&tmp_dir))?;
        layers.push((
            "upper".to_string(),
            Box::new(std::io::BufReader::new(file)) as Box<dyn Read>,
        ));
    }
    for diff_id in view.rootfs.diff_ids.iter().rev() {
        let tmp_dir = blobs.tmp_dir();
        let mut file = tempfile::tempfile_in(&tmp_dir).map_err(OciError::io(&tmp_dir))?;
        store
            .write_layer_tar(diff_id, &mut file)
            .map_err(OciError::store(format!("layer {diff_id}")))?;
        file.rewind().map_err(OciError::io(&tmp_dir))?;
        layers.push((
            diff_id.clone(),
            Box::new(std::io::BufReader::new(file)) as Box<dyn Read>,
        ));
    }
    export::flatten(layers, out)
}
