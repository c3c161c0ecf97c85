//! Helpers of the end-to-end OCI tests: the registry guard and the test
//! trees are the builder tests' own files (one copy), plus a `docker save`
//! archive of the busybox rootfs made here to seed a store through
//! `strata image load`.
#![allow(dead_code)]

#[path = "../../builder/tests/oci_support/registry.rs"]
pub mod registry;
#[path = "../../builder/tests/oci_support/tree.rs"]
pub mod tree;

use std::path::Path;
use std::process::Command;

pub use tree::*;

/// Writes a `docker save` archive of one image (the busybox tree as one
/// layer) tagged `name`; returns the image id.
pub fn busybox_archive(path: &Path, name: &str) -> String {
    let layer = layer_tar(&busybox_tree());
    let diff_id = sha256(&layer);
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-11-27T00:00:00Z",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2026-11-27T00:00:00Z", "created_by": "busybox-static"}],
    });
    let config = serde_json::to_vec(&config).expect("json");
    let id = sha256(&config);
    let manifest = serde_json::json!([{
        "Config": format!("{}.json", &id[7..]),
        "RepoTags": [name],
        "Layers": [format!("{}/layer.tar", &diff_id[7..])],
    }]);
    let manifest = serde_json::to_vec(&manifest).expect("json");
    let mut b = tar::Builder::new(std::fs::File::create(path).expect("create"));
    for (name, data) in [
        (format!("{}.json", &id[7..]), &config),
        (format!("{}/layer.tar", &diff_id[7..]), &layer),
        ("manifest.json".to_string(), &manifest),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, &data[..]).expect("append");
    }
    b.finish().expect("finish");
    id
}

pub use crate::common::store::{strata, strata_ok};

/// Runs strata expecting exit code 1 and a one-line `Error: ...` (which
/// may follow progress lines); returns that line.
pub fn strata_err(root: &Path, args: &[&str]) -> String {
    let out = strata(root, args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "strata {args:?}: {err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("Error: "), "{err}");
    assert_eq!(err.matches("Error: ").count(), 1, "{err}");
    last.to_string()
}

/// Unpacks a tar with the system tar into a new directory `dir`.
pub fn untar(archive: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    run(Command::new("tar")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(dir));
}

/// `strata image export` of `image` in `root` is exactly the busybox tree.
pub fn assert_exports_busybox(root: &Path, image: &str) {
    let exported = root.join("rootfs.tar");
    let out = exported.to_str().expect("utf8");
    strata_ok(root, &["image", "export", "-o", out, image]);
    let unpacked = root.join("rootfs");
    untar(&exported, &unpacked);
    assert_tree_equals(&unpacked, &busybox_tree());
    std::fs::remove_dir_all(&unpacked).expect("cleanup");
}

/// The image id skopeo sees: sha256 of the raw config of `transport_ref`.
pub fn skopeo_image_id(extra: &[&str], transport_ref: &str) -> String {
    let config = run(Command::new("skopeo")
        .args(["inspect", "--raw", "--config"])
        .args(extra)
        .arg(transport_ref));
    sha256(config.as_bytes())
}
