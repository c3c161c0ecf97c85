//! Unit tests of images on a real catalog: foreign layers, parents and
//! children, containers holding images, leases against prune.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::io::Write;
use std::path::Path;

use super::*;

fn rootfs(dir: &Path, marker: &str) {
    fs::create_dir_all(dir.join("etc")).unwrap();
    fs::write(dir.join("etc/marker"), marker).unwrap();
}

/// An image of one fresh layer holding `marker`, built on `parent`.
fn image_on(store: &Store, marker: &str, parent: Option<&Image>) -> Image {
    let src = tempfile::tempdir().unwrap();
    rootfs(src.path(), marker);
    let layer = store.freeze_copy(src.path()).unwrap();
    let mut cfg = parent.map_or_else(ImageConfig::for_host, |p| p.config.clone());
    cfg.rootfs.diff_ids.push(layer.diff_id.to_string());
    cfg.history.push(History {
        created_by: Some(format!("RUN echo {marker}")),
        ..Default::default()
    });
    let id = store.put_image(&cfg, parent.map(|p| &p.id)).unwrap();
    store.image(&id).unwrap()
}

fn add_container(store: &Store, id: &str, image: &ImageId, state: &str) {
    store
        .conn()
        .execute(
            "INSERT INTO containers (id, name, image_id, state, created) VALUES (?1, ?1, ?2, ?3, 0)",
            rusqlite::params![id, image.as_str(), state],
        )
        .unwrap();
}

#[test]
fn a_foreign_layer_keeps_its_stream_digest_and_checks_clean() {
    let src = tempfile::tempdir().unwrap();
    rootfs(src.path(), "foreign");
    // A tar from GNU tar: not strata's canonical bytes.
    let out = std::process::Command::new("tar")
        .arg("-C")
        .arg(src.path())
        .args(["-cf", "-", "."])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&out.stdout).unwrap();
    let gz = gz.finish().unwrap();

    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let layer = store.import_layer_tar(&gz[..]).unwrap();
    assert_eq!(
        layer.diff_id,
        Digest::of(&out.stdout),
        "diff_id is the uncompressed stream's"
    );
    assert_ne!(layer.tar_digest, layer.diff_id);
    assert_eq!(layer.tar_digest, digest_tree(src.path()).unwrap().digest);
    assert_eq!(
        fs::read_to_string(store.layer_dir(&layer.diff_id).join("etc/marker")).unwrap(),
        "foreign"
    );
    // Importing it again reuses it.
    assert_eq!(store.import_layer_tar(&gz[..]).unwrap(), layer);
    assert!(store.check(false).unwrap().problems.is_empty());
}

#[test]
fn children_and_containers_hold_their_images() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let base = image_on(&store, "base", None);
    let child = image_on(&store, "child", Some(&base));
    store
        .tag(&Reference::parse_tagged("app").unwrap(), &child.id)
        .unwrap();
    assert_eq!(
        store.children(&base.id).unwrap(),
        std::slice::from_ref(&child.id)
    );
    assert_eq!(store.image_lowerdirs(&child).unwrap().len(), 2);

    // A parent cannot go while its child exists, even forced.
    let err = store
        .remove_image(base.id.short(), true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("dependent child images"), "{err}");

    // A stopped container: by tag refused unless forced; forced only untags.
    add_container(&store, "c0ffee", &child.id, "exited");
    let err = store.remove_image("app", false).unwrap_err().to_string();
    assert!(
        err.contains("must force") && err.contains("c0ffee"),
        "{err}"
    );
    let out = store.remove_image("app", true).unwrap();
    assert_eq!(out, [Removed::Untagged("app:latest".into())]);
    assert!(store.image(&child.id).is_ok(), "image of a container stays");
    // A running container: not even forced.
    add_container(&store, "beef", &child.id, "running");
    let err = store
        .remove_image(child.id.short(), true)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot be forced") && err.contains("running"),
        "{err}"
    );

    // Without containers, removing the child takes the untagged parent too.
    store.conn().execute("DELETE FROM containers", []).unwrap();
    let out = store.remove_image(child.id.short(), false).unwrap();
    assert_eq!(
        out,
        [
            Removed::Deleted(child.id.clone()),
            Removed::Deleted(base.id.clone())
        ]
    );
    assert!(store.layers().unwrap().is_empty());
}

#[test]
fn prune_keeps_intermediate_leased_and_used_images() {
    let root = tempfile::tempdir().unwrap();
    let builder = Store::open(root.path()).unwrap();
    let base = image_on(&builder, "base", None);
    let top = image_on(&builder, "top", Some(&base));
    let other = Store::open(root.path()).unwrap();
    // Both dangling, but leased to the live `builder` handle.
    assert!(other.prune(false).unwrap().images.is_empty());
    builder
        .tag(&Reference::parse_tagged("top").unwrap(), &top.id)
        .unwrap();
    drop(builder);
    // `base` is an intermediate (it has a child): not dangling.
    assert!(other.prune(false).unwrap().images.is_empty());
    add_container(&other, "abc", &top.id, "exited");
    let report = other.prune(true).unwrap();
    assert!(report.images.is_empty(), "{report:?}");
    other.conn().execute("DELETE FROM containers", []).unwrap();
    let report = other.prune(true).unwrap();
    assert_eq!(
        report.images,
        [
            Removed::Untagged("top:latest".into()),
            Removed::Deleted(top.id.clone()),
            Removed::Deleted(base.id.clone())
        ]
    );
    assert_eq!(report.layers.len(), 2);
    assert!(report.reclaimed > 0);
}

#[test]
fn an_image_another_handle_builds_on_survives_rm_and_prune() {
    let root = tempfile::tempdir().unwrap();
    let owner = Store::open(root.path()).unwrap();
    let base = image_on(&owner, "base", None);
    owner
        .tag(&Reference::parse_tagged("base").unwrap(), &base.id)
        .unwrap();
    drop(owner);
    let build = Store::open(root.path()).unwrap();
    build.lease_image(&base.id).unwrap();
    let other = Store::open(root.path()).unwrap();
    // Untagged, but the image and its layer stay while the build runs.
    let out = other.remove_image("base", false).unwrap();
    assert_eq!(out, [Removed::Untagged("base:latest".into())]);
    assert!(other.prune(true).unwrap().images.is_empty());
    let layer = Digest::parse(&base.config.rootfs.diff_ids[0]).unwrap();
    assert!(build.layer_dir(&layer).is_dir());
    drop(build);
    // Dangling and unleased now: prune takes it and its layer.
    let report = other.prune(false).unwrap();
    assert_eq!(report.images, [Removed::Deleted(base.id.clone())]);
    assert_eq!(report.layers.len(), 1);
}
