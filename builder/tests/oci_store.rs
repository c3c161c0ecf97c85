//! The OCI code on the real store: load, save, repo digests, and blob
//! pruning after the image is gone.

mod oci_support;

use std::fs::File;
use std::time::Duration;

use builder::oci::{self, ArchiveFormat, Compression, ImageStore};
use builder::store::Store;
use oci_support::{FakeStore, busybox_tree, layer_tar};

#[test]
fn real_store_loads_saves_identically_and_prunes_blobs() {
    let fake = FakeStore::new();
    let id = fake.add_test_image("busybox:1", &[layer_tar(&busybox_tree())]);
    let tmp = tempfile::tempdir().expect("tmp");
    let from_fake = tmp.path().join("fake.tar");
    let names = vec!["busybox:1".to_string()];
    oci::save(
        &fake,
        &names,
        ArchiveFormat::Oci,
        Compression::Gzip,
        &mut File::create(&from_fake).expect("create"),
    )
    .expect("save from fake");

    let store = Store::open(&tmp.path().join("root")).expect("open store");
    let loaded = oci::load_archive(
        &store,
        &mut File::open(&from_fake).expect("open"),
        &from_fake,
    )
    .expect("load into the real store");
    assert_eq!(loaded[0].id, id);
    assert_eq!(
        ImageStore::resolve(&store, "busybox:1").expect("tagged").id,
        id
    );

    // The real store saves the same bytes: same config, and the layer's
    // original blob is reused (its canonical re-tar would differ).
    let from_real = tmp.path().join("real.tar");
    oci::save(
        &store,
        &names,
        ArchiveFormat::Oci,
        Compression::Gzip,
        &mut File::create(&from_real).expect("create"),
    )
    .expect("save from real");
    assert_eq!(
        std::fs::read(&from_fake).expect("a"),
        std::fs::read(&from_real).expect("b")
    );

    // A recorded repo digest resolves as name@digest.
    let digest = format!("sha256:{}", "ab".repeat(32));
    store
        .add_repo_digest(&id, "127.0.0.1:5000/team/bb", &digest)
        .expect("repo digest");
    let by_digest = format!("127.0.0.1:5000/team/bb@{digest}");
    assert_eq!(
        ImageStore::resolve(&store, &by_digest)
            .expect("by digest")
            .id,
        id
    );

    // Blobs stay while the image lives, and go with it.
    let blobs_dir = tmp.path().join("root/blobs/sha256");
    let before = std::fs::read_dir(&blobs_dir).expect("blobs").count();
    assert!(before >= 3, "layer, config, manifest");
    let kept = oci::prune_blobs(&store, Duration::ZERO).expect("prune");
    assert_eq!(kept.blobs, 1, "only the manifest, which no image needs");
    store.remove_image(&id, true).expect("rm");
    store.prune(false).expect("store prune");
    let report = oci::prune_blobs(&store, Duration::ZERO).expect("prune");
    assert_eq!(report.blobs, before - 1);
    assert_eq!(std::fs::read_dir(&blobs_dir).expect("blobs").count(), 0);
}
