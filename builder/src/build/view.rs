//! A mounted view of an image's filesystem (the union of its layers), for
//! `COPY --from` and `RUN --mount=from=...`: read-only, or writable with a
//! throw-away upper directory (`RUN --mount=type=bind,rw`).

use std::fs;
use std::path::PathBuf;

use super::error::{BuildError, Result, io_err};
use super::fsutil::Scratch;
use crate::store::{ImageId, Store};

/// Field order matters: the mount is dropped (unmounted) before its staging
/// dir is removed.
pub struct View {
    /// The merged directory.
    pub root: PathBuf,
    _mount: overlayfs::MountGuard,
    _scratch: Scratch,
}

/// Mounts `image` at a fresh staging dir; `line` is for errors.
pub fn mount_image(store: &Store, image: &ImageId, writable: bool, line: usize) -> Result<View> {
    let img = store.image(image)?;
    let lowerdirs = store.image_lowerdirs(&img)?;
    let scratch = Scratch(store.staging_dir("view")?);
    let [merged, empty, upper, work] =
        ["merged", "empty", "upper", "work"].map(|d| scratch.0.join(d));
    for d in [&merged, &empty, &upper, &work] {
        fs::create_dir(d).map_err(io_err(d))?;
    }
    let lowerdirs = if lowerdirs.is_empty() {
        vec![empty]
    } else {
        lowerdirs
    };
    let config = overlayfs::Config {
        lowerdirs,
        upperdir: writable.then_some(upper),
        workdir: writable.then_some(work),
        ..Default::default()
    };
    let mount =
        overlayfs::mount(config, &merged).map_err(|source| BuildError::Mount { line, source })?;
    Ok(View {
        root: merged,
        _mount: mount,
        _scratch: scratch,
    })
}
