//! Save and load against the real tools: skopeo and umoci read what strata
//! writes, and strata loads what they write. Uses the in-memory store fake.

mod oci_support;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::process::Command;

use builder::oci::{self, ArchiveFormat, Compression, ImageStore};
use oci_support::{FakeStore, Node, assert_tree_equals, busybox_tree, layer_tar, run, sha256};

fn busybox_store() -> (FakeStore, String) {
    let store = FakeStore::new();
    let id = store.add_test_image("busybox:latest", &[layer_tar(&busybox_tree())]);
    (store, id)
}

fn two_layer_store() -> (FakeStore, String, BTreeMap<String, Node>) {
    let store = FakeStore::new();
    let mut top = BTreeMap::new();
    top.insert("etc".into(), Node::Dir);
    top.insert(
        "etc/motd".into(),
        Node::File(b"hello from strata\n".to_vec(), 0o644),
    );
    let id = store.add_test_image(
        "example.test/team/app:1.0",
        &[layer_tar(&busybox_tree()), layer_tar(&top)],
    );
    let mut merged = busybox_tree();
    merged.extend(top);
    (store, id, merged)
}

fn save(store: &FakeStore, names: &[&str], format: ArchiveFormat, c: Compression, out: &Path) {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut f = File::create(out).expect("create");
    oci::save(store, &names, format, c, &mut f).expect("save");
}

#[test]
fn oci_archive_is_read_by_skopeo_and_unpacked_by_umoci() {
    let (store, id, tree) = two_layer_store();
    let tmp = tempfile::tempdir().expect("tmp");
    let archive = tmp.path().join("app.tar");
    save(
        &store,
        &["example.test/team/app:1.0"],
        ArchiveFormat::Oci,
        Compression::Gzip,
        &archive,
    );

    let raw = run(Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci-archive:{}", archive.display())));
    let manifest: serde_json::Value = serde_json::from_str(&raw).expect("manifest");
    assert_eq!(manifest["config"]["digest"], id.as_str());
    assert_eq!(manifest["layers"].as_array().expect("layers").len(), 2);
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let config = run(Command::new("skopeo")
        .args(["inspect", "--raw", "--config"])
        .arg(format!("oci-archive:{}", archive.display())));
    assert_eq!(
        sha256(config.as_bytes()),
        id,
        "skopeo sees the config bytes unchanged"
    );

    // umoci reads the layout and the unpacked rootfs is the image's tree.
    let layout = tmp.path().join("layout");
    std::fs::create_dir(&layout).expect("mkdir");
    run(Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&layout));
    let bundle = tmp.path().join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:1.0", layout.display()))
        .arg(&bundle));
    assert_tree_equals(&bundle.join("rootfs"), &tree);
}

#[test]
fn docker_archive_is_read_by_skopeo_and_loads_back() {
    let (store, id) = busybox_store();
    let tmp = tempfile::tempdir().expect("tmp");
    let archive = tmp.path().join("bb.tar");
    save(
        &store,
        &["busybox"],
        ArchiveFormat::Docker,
        Compression::Gzip,
        &archive,
    );
    let out = run(Command::new("skopeo")
        .args(["inspect", "--raw", "--config"])
        .arg(format!("docker-archive:{}", archive.display())));
    assert_eq!(sha256(out.as_bytes()), id);
    let listing = run(Command::new("tar").arg("-tf").arg(&archive));
    assert!(listing.lines().any(|l| l == "manifest.json"), "{listing}");
    assert!(listing.lines().any(|l| l == "repositories"), "{listing}");

    let fresh = FakeStore::new();
    let loaded = oci::load_archive(&fresh, &mut File::open(&archive).expect("open"), &archive)
        .expect("load");
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].id, id);
    assert_eq!(loaded[0].tags, vec!["busybox:latest".to_string()]);
    assert_eq!(fresh.resolve("busybox").expect("tagged").id, id);
}

#[test]
fn layouts_made_by_skopeo_and_umoci_load() {
    let (store, id) = busybox_store();
    let tmp = tempfile::tempdir().expect("tmp");
    let archive = tmp.path().join("bb.tar");
    save(
        &store,
        &["busybox"],
        ArchiveFormat::Docker,
        Compression::None,
        &archive,
    );
    // skopeo converts the docker archive into an OCI layout of its own
    // (converting the config to OCI and compressing the layer with gzip).
    let layout = tmp.path().join("oci");
    run(Command::new("skopeo")
        .arg("copy")
        .arg(format!("docker-archive:{}", archive.display()))
        .arg(format!("oci:{}:bb", layout.display())));
    let skopeo_config = run(Command::new("skopeo")
        .args(["inspect", "--raw", "--config"])
        .arg(format!("oci:{}:bb", layout.display())));
    let fresh = FakeStore::new();
    let loaded = oci::load_layout(&fresh, &layout, Some("bb")).expect("load skopeo layout");
    assert_eq!(loaded[0].id, sha256(skopeo_config.as_bytes()));
    assert!(
        fresh
            .layers
            .borrow()
            .contains_key(&sha256(&layer_tar(&busybox_tree())))
    );

    // Recompressed with zstd by skopeo, from our OCI archive: same id.
    let oci_archive = tmp.path().join("bb-oci.tar");
    save(
        &store,
        &["busybox"],
        ArchiveFormat::Oci,
        Compression::Gzip,
        &oci_archive,
    );
    let zlayout = tmp.path().join("oci-zstd");
    run(Command::new("skopeo")
        .args(["copy", "--dest-compress-format", "zstd"])
        .arg(format!("oci-archive:{}", oci_archive.display()))
        .arg(format!("oci:{}:bb", zlayout.display())));
    let raw = run(Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:bb", zlayout.display())));
    assert!(raw.contains("tar+zstd"), "skopeo wrote {raw}");
    let fresh = FakeStore::new();
    let loaded = oci::load_layout(&fresh, &zlayout, Some("bb")).expect("load zstd layout");
    assert_eq!(loaded[0].id, id);

    // umoci builds an image from scratch: a new layer on an empty image.
    let ulayout = tmp.path().join("umoci");
    run(Command::new("umoci")
        .args(["init", "--layout"])
        .arg(&ulayout));
    run(Command::new("umoci")
        .args(["new", "--image"])
        .arg(format!("{}:base", ulayout.display())));
    let bundle = tmp.path().join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:base", ulayout.display()))
        .arg(&bundle));
    std::fs::write(bundle.join("rootfs/hello"), "from umoci\n").expect("write");
    run(Command::new("umoci")
        .args(["repack", "--image"])
        .arg(format!("{}:base", ulayout.display()))
        .arg(&bundle));
    let fresh = FakeStore::new();
    let loaded = oci::load_layout(&fresh, &ulayout, Some("base")).expect("load umoci layout");
    let image = fresh.resolve(&loaded[0].id).expect("image");
    let mut out = Vec::new();
    oci::export_image(&fresh, &image.id, &mut out).expect("export");
    let mut names = Vec::new();
    for e in tar::Archive::new(&out[..]).entries().expect("entries") {
        names.push(
            e.expect("entry")
                .path()
                .expect("path")
                .display()
                .to_string(),
        );
    }
    assert!(names.iter().any(|n| n == "hello"), "{names:?}");
}

#[test]
fn zstd_save_loads_back_and_second_save_reuses_blobs() {
    let (store, id, _) = two_layer_store();
    let tmp = tempfile::tempdir().expect("tmp");
    let a = tmp.path().join("a.tar");
    save(
        &store,
        &["example.test/team/app:1.0"],
        ArchiveFormat::Oci,
        Compression::Zstd,
        &a,
    );
    assert_eq!(
        store.layer_reads.get(),
        2,
        "each layer read once to compress"
    );
    let raw = run(Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci-archive:{}", a.display())));
    assert!(
        raw.contains("application/vnd.oci.image.layer.v1.tar+zstd"),
        "{raw}"
    );
    let b = tmp.path().join("b.tar");
    save(
        &store,
        &["example.test/team/app:1.0"],
        ArchiveFormat::Oci,
        Compression::Zstd,
        &b,
    );
    assert_eq!(
        store.layer_reads.get(),
        2,
        "the second save recompressed nothing"
    );
    assert_eq!(
        std::fs::read(&a).expect("a"),
        std::fs::read(&b).expect("b"),
        "saves are reproducible"
    );

    let fresh = FakeStore::new();
    let loaded = oci::load_archive(&fresh, &mut File::open(&b).expect("open"), &b).expect("load");
    assert_eq!(loaded[0].id, id);
    assert_eq!(
        fresh.resolve("example.test/team/app:1.0").expect("tag").id,
        id
    );
}

/// Unpacks an archive we saved into a layout directory to tamper with.
fn saved_layout(tmp: &Path) -> (std::path::PathBuf, String) {
    let (store, id) = busybox_store();
    let archive = tmp.join("bb.tar");
    save(
        &store,
        &["busybox"],
        ArchiveFormat::Oci,
        Compression::Gzip,
        &archive,
    );
    let layout = tmp.join("layout");
    std::fs::create_dir(&layout).expect("mkdir");
    run(Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&layout));
    (layout, id)
}

fn layer_digest(layout: &Path) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index"))
            .expect("json");
    let m = index["manifests"][0]["digest"]
        .as_str()
        .expect("digest")
        .to_string();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(layout.join("blobs/sha256").join(&m[7..])).expect("manifest"),
    )
    .expect("json");
    manifest["layers"][0]["digest"]
        .as_str()
        .expect("layer")
        .to_string()
}

fn assert_nothing_loaded(store: &FakeStore) {
    assert!(store.image_ids().is_empty(), "an image was loaded");
    assert!(store.layers.borrow().is_empty(), "a layer was loaded");
    assert!(store.tags.borrow().is_empty(), "a tag was made");
}

#[test]
fn tampered_blob_is_refused_naming_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (layout, _) = saved_layout(tmp.path());
    let digest = layer_digest(&layout);
    let path = layout.join("blobs/sha256").join(&digest[7..]);
    let mut bytes = std::fs::read(&path).expect("blob");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&path, bytes).expect("write");
    let fresh = FakeStore::new();
    let err = oci::load_layout(&fresh, &layout, None).expect_err("tampered blob must be refused");
    let msg = err.to_string();
    assert!(
        msg.contains(&digest) && msg.contains("digest mismatch"),
        "{msg}"
    );
    assert_nothing_loaded(&fresh);
}

#[test]
fn missing_blob_and_unsupported_media_type_are_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (layout, _) = saved_layout(tmp.path());
    let digest = layer_digest(&layout);
    std::fs::remove_file(layout.join("blobs/sha256").join(&digest[7..])).expect("rm");
    let fresh = FakeStore::new();
    let err = oci::load_layout(&fresh, &layout, None).expect_err("missing blob");
    assert!(err.to_string().contains(&digest), "{err}");
    assert_nothing_loaded(&fresh);

    let tmp2 = tempfile::tempdir().expect("tmp");
    let (layout, _) = saved_layout(tmp2.path());
    // Rewrite the manifest with a layer type strata cannot unpack.
    let index_path = layout.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).expect("index")).expect("json");
    let m = index["manifests"][0]["digest"]
        .as_str()
        .expect("d")
        .to_string();
    let mut manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(layout.join("blobs/sha256").join(&m[7..])).expect("m"),
    )
    .expect("json");
    manifest["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+bzip2".into();
    let bytes = serde_json::to_vec(&manifest).expect("json");
    let new = sha256(&bytes);
    std::fs::write(layout.join("blobs/sha256").join(&new[7..]), &bytes).expect("write");
    index["manifests"][0]["digest"] = new.into();
    index["manifests"][0]["size"] = bytes.len().into();
    std::fs::write(&index_path, serde_json::to_vec(&index).expect("json")).expect("write");
    let fresh = FakeStore::new();
    let err = oci::load_layout(&fresh, &layout, None).expect_err("unsupported type");
    let msg = err.to_string();
    assert!(
        msg.contains("unsupported media type") && msg.contains("bzip2") && msg.contains(&digest),
        "{msg}"
    );
    assert_nothing_loaded(&fresh);
}

#[test]
fn truncated_archive_is_refused() {
    let (store, _) = busybox_store();
    let tmp = tempfile::tempdir().expect("tmp");
    let archive = tmp.path().join("bb.tar");
    save(
        &store,
        &["busybox"],
        ArchiveFormat::Oci,
        Compression::Gzip,
        &archive,
    );
    let bytes = std::fs::read(&archive).expect("read");
    for cut in [bytes.len() / 3, bytes.len() - 1024 - 700] {
        let short = tmp.path().join("short.tar");
        std::fs::write(&short, &bytes[..cut]).expect("write");
        let fresh = FakeStore::new();
        let err = oci::load_archive(&fresh, &mut File::open(&short).expect("open"), &short)
            .expect_err("truncated");
        assert!(
            err.to_string().contains("short.tar") || err.to_string().contains("sha256:"),
            "{err}"
        );
        assert_nothing_loaded(&fresh);
        // Nothing half-written stays in the staging area either.
        let staged = std::fs::read_dir(fresh.root().join("blobs/tmp"))
            .expect("tmp")
            .count();
        assert_eq!(staged, 0);
    }
}
