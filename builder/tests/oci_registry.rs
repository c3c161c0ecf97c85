//! Push and pull against a real registry (docker-registry on loopback),
//! checked with skopeo, with fault injection (registry stopped mid-way).

mod oci_support;

use std::cell::RefCell;
use std::process::Command;

use builder::oci::media;
use builder::oci::registry::{ClientOptions, PushOptions, PushResult, pull, push};
use builder::oci::{Compression, ImageStore, ManifestFormat, NoProgress, Progress};
use oci_support::registry::{CuttingProxy, Registry};
use oci_support::{FakeStore, Node, busybox_tree, layer_tar, run, sha256};

/// Records finish statuses per blob.
#[derive(Default)]
struct Recorder {
    finished: RefCell<Vec<(String, String)>>,
    bytes: RefCell<u64>,
}

impl Progress for Recorder {
    fn advance(&self, _id: &str, bytes: u64) {
        *self.bytes.borrow_mut() += bytes;
    }
    fn finish(&self, id: &str, status: &str) {
        self.finished.borrow_mut().push((id.into(), status.into()));
    }
}

fn image_store(name: &str) -> (FakeStore, String) {
    let store = FakeStore::new();
    let mut top = std::collections::BTreeMap::new();
    top.insert("data".to_string(), Node::Dir);
    // Incompressible so that the layer blob spans several upload chunks.
    let mut noise = Vec::with_capacity(600_000);
    let mut x: u32 = 12345;
    for _ in 0..600_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        noise.push((x >> 16) as u8);
    }
    top.insert("data/noise".to_string(), Node::File(noise, 0o644));
    let id = store.add_test_image(name, &[layer_tar(&busybox_tree()), layer_tar(&top)]);
    (store, id)
}

fn skopeo_config(reference: &str) -> String {
    run(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw", "--config"])
        .arg(format!("docker://{reference}")))
}

#[test]
fn push_then_pull_with_skopeo_and_strata_and_push_again_uploads_nothing() {
    let reg = Registry::start();
    let name = format!("{}/team/app:1", reg.host());
    let (store, id) = image_store(&name);
    let progress = Recorder::default();
    let pushed = push(&store, &name, &PushOptions::default(), &progress).expect("push");
    // zstd layers go with an OCI manifest even when Docker's is asked for.
    let zname = format!("{}/team/zstd:1", reg.host());
    store.tag(&id, &zname).expect("tag");
    let zopts = PushOptions {
        compression: Compression::Zstd,
        format: ManifestFormat::Docker,
        ..PushOptions::default()
    };
    push(&store, &zname, &zopts, &NoProgress).expect("push zstd");
    let zraw = run(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("docker://{zname}")));
    assert!(
        zraw.contains("tar+zstd") && zraw.contains("image.manifest.v1+json"),
        "{zraw}"
    );
    assert_eq!(sha256(skopeo_config(&zname).as_bytes()), id);
    let zfresh = FakeStore::new();
    assert_eq!(
        pull(&zfresh, &zname, &ClientOptions::default(), &NoProgress)
            .expect("pull zstd")
            .id,
        id
    );
    assert_eq!(pushed.uploaded, 3, "two layers and the config");
    assert!(*progress.bytes.borrow() > 600_000);
    assert_eq!(
        sha256(skopeo_config(&name).as_bytes()),
        id,
        "skopeo sees the same image id"
    );
    let raw = run(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("docker://{name}")));
    assert_eq!(sha256(raw.as_bytes()), pushed.digest);

    // Pull into a fresh store: same id, tagged with the full name.
    let fresh = FakeStore::new();
    let pulled = pull(&fresh, &name, &ClientOptions::default(), &NoProgress).expect("pull");
    assert_eq!(pulled.id, id);
    assert_eq!(pulled.digest, pushed.digest);
    assert_eq!(fresh.resolve(&name).expect("tagged").id, id);

    // Pushing again uploads no blob: every HEAD answers 200.
    let uploads = reg.count("PUT", "/blobs/uploads/");
    // 3 for the gzip image, 2 zstd layers (its config was mounted).
    assert_eq!(uploads, 5);
    let progress = Recorder::default();
    let again = push(&store, &name, &PushOptions::default(), &progress).expect("push again");
    assert_eq!(again.uploaded, 0);
    assert_eq!(again.digest, pushed.digest);
    assert_eq!(
        reg.count("PUT", "/blobs/uploads/"),
        uploads,
        "no blob uploaded twice"
    );
    assert_eq!(reg.count("POST", "/blobs/uploads/"), 6);
    assert!(
        progress
            .finished
            .borrow()
            .iter()
            .all(|(_, s)| s == "Layer already exists")
    );

    // Pull by digest from the same registry into another store.
    let by_digest = format!("{}/team/app@{}", reg.host(), pushed.digest);
    let other = FakeStore::new();
    let pulled =
        pull(&other, &by_digest, &ClientOptions::default(), &NoProgress).expect("pull by digest");
    assert_eq!(pulled.id, id);
    assert_eq!(pulled.tag, None);
    // Both sides remember the manifest digest of the image.
    let key = (format!("{}/team/app", reg.host()), pushed.digest.clone());
    assert_eq!(store.repo_digests.borrow().get(&key), Some(&id));
    assert_eq!(other.repo_digests.borrow().get(&key), Some(&id));
}

#[test]
fn chunked_upload_docker_media_types_and_cross_repo_mount() {
    let reg = Registry::start();
    let first = format!("{}/one/app:1", reg.host());
    let (store, id) = image_store(&first);
    let opts = PushOptions {
        chunk_size: 256 << 10,
        format: ManifestFormat::Docker,
        ..PushOptions::default()
    };
    push(&store, &first, &opts, &NoProgress).expect("chunked push");
    assert!(
        reg.count("PATCH", "/blobs/uploads/") >= 3,
        "{}",
        reg.log_text()
    );
    let raw = run(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("docker://{first}")));
    assert!(
        raw.contains("application/vnd.docker.distribution.manifest.v2+json"),
        "{raw}"
    );
    assert_eq!(sha256(skopeo_config(&first).as_bytes()), id);
    // skopeo copies the image out and the layers decompress to the same tree.
    let tmp = tempfile::tempdir().expect("tmp");
    run(Command::new("skopeo")
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("docker://{first}"))
        .arg(format!("oci:{}:x", tmp.path().join("l").display())));

    // The same image in another repository: blobs are mounted, not sent.
    let second = format!("{}/two/app:1", reg.host());
    store.tag(&id, &second).expect("tag");
    let progress = Recorder::default();
    let pushed = push(&store, &second, &opts, &progress).expect("push to second repo");
    assert_eq!(pushed.uploaded, 0);
    let statuses = progress.finished.borrow();
    assert_eq!(statuses.len(), 3);
    assert!(
        statuses.iter().all(|(_, s)| s == "Mounted from one/app"),
        "{statuses:?}"
    );
    assert!(reg.count("POST", "mount=") >= 3);
    // A store that has the base layer (built locally, no blob) downloads
    // only the other one.
    let based = FakeStore::new();
    based.add_test_image("base:1", &[layer_tar(&busybox_tree())]);
    let progress = Recorder::default();
    let pulled = pull(&based, &second, &ClientOptions::default(), &progress).expect("pull");
    assert_eq!(pulled.id, id);
    let statuses = progress.finished.borrow();
    let count = |status: &str| statuses.iter().filter(|(_, s)| s == status).count();
    assert_eq!(count("Already exists"), 1, "{statuses:?}");
    assert_eq!(count("Download complete"), 1, "{statuses:?}");
}

#[test]
fn stopped_registry_gives_a_clear_error_and_a_retry_works() {
    let mut reg = Registry::start();
    let name = format!("{}/fault/app:1", reg.host());
    let (store, id) = image_store(&name);
    reg.stop();
    let opts = PushOptions {
        client: ClientOptions {
            retries: Some(1),
            ..ClientOptions::default()
        },
        ..PushOptions::default()
    };
    let err = push(&store, &name, &opts, &NoProgress).expect_err("registry is down");
    let msg = err.to_string();
    assert!(
        msg.contains("cannot reach") && msg.contains(&reg.host()),
        "{msg}"
    );
    assert!(msg.contains("sha256:"), "names the blob: {msg}");
    reg.restart();
    push(&store, &name, &opts, &NoProgress).expect("retry after restart");

    let fresh = FakeStore::new();
    pull(&fresh, &name, &ClientOptions::default(), &NoProgress).expect("pull");
    assert_eq!(fresh.resolve(&name).expect("pulled").id, id);

    // Unknown tag: 404 with the registry's error code and the reference.
    let missing = format!("{}/fault/app:nope", reg.host());
    let err = pull(
        &FakeStore::new(),
        &missing,
        &ClientOptions::default(),
        &NoProgress,
    )
    .expect_err("no such tag");
    let msg = err.to_string();
    assert!(
        msg.contains("404") && msg.contains("MANIFEST_UNKNOWN") && msg.contains("fault/app:nope"),
        "{msg}"
    );
}

#[test]
fn connection_dropped_mid_blob_is_resumed_and_a_failed_pull_loads_nothing() {
    let reg = Registry::start();
    let proxy = CuttingProxy::start(reg.port);
    let name = format!("{}/drop/app:1", proxy.host());
    let (store, id) = image_store(&name);
    push(&store, &name, &PushOptions::default(), &NoProgress).expect("push through proxy");

    // Cut once, 300 kB into the responses: the pull retries with a Range
    // request for the rest and succeeds.
    proxy.arm(300_000, false);
    let fresh = FakeStore::new();
    let pulled = pull(&fresh, &name, &ClientOptions::default(), &NoProgress).expect("resumed pull");
    assert_eq!(pulled.id, id);
    assert_eq!(proxy.cuts(), 1, "the connection was cut");
    let blob_path = "/v2/drop/app/blobs/sha256:";
    let log = reg.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains(blob_path) && l.contains("\" 206 ")),
        "no ranged GET: {log}"
    );

    // Cut and keep the registry unreachable: the pull fails naming the
    // blob, nothing is loaded; once healed, the retry resumes.
    proxy.arm(300_000, true);
    let fresh = FakeStore::new();
    let opts = ClientOptions {
        retries: Some(1),
        ..ClientOptions::default()
    };
    let err = pull(&fresh, &name, &opts, &NoProgress).expect_err("registry gone");
    let msg = err.to_string();
    assert!(msg.contains("sha256:"), "names the blob: {msg}");
    assert!(fresh.image_ids().is_empty() && fresh.layers.borrow().is_empty());
    let ranged_before = reg
        .log_text()
        .lines()
        .filter(|l| l.contains(blob_path) && l.contains("\" 206 "))
        .count();
    proxy.heal();
    let pulled = pull(&fresh, &name, &opts, &NoProgress).expect("retried pull");
    assert_eq!(pulled.id, id);
    let ranged_after = reg
        .log_text()
        .lines()
        .filter(|l| l.contains(blob_path) && l.contains("\" 206 "))
        .count();
    assert_eq!(
        ranged_after,
        ranged_before + 1,
        "the retry resumed the partial blob"
    );
}

/// PUTs an index of `entries` (manifest, arch) as `multi/app:<tag>` with
/// OCI or Docker media types.
fn put_index(reg: &Registry, tag: &str, format: ManifestFormat, entries: &[(&PushResult, &str)]) {
    let (index_type, entry_type) = match format {
        ManifestFormat::Oci => (media::OCI_INDEX, media::OCI_MANIFEST),
        ManifestFormat::Docker => (media::DOCKER_LIST, media::DOCKER_MANIFEST),
    };
    let manifests: Vec<serde_json::Value> = entries
        .iter()
        .map(|(d, arch)| {
            serde_json::json!({
                "mediaType": entry_type, "digest": d.digest, "size": d.size,
                "platform": {"architecture": arch, "os": "linux"},
            })
        })
        .collect();
    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": index_type, "manifests": manifests,
    });
    let url = format!("http://{}/v2/multi/app/manifests/{tag}", reg.host());
    let resp = ureq::put(url)
        .header("Content-Type", index_type)
        .send(serde_json::to_vec(&index).expect("json"))
        .expect("put index");
    assert_eq!(resp.status().as_u16(), 201);
}

#[test]
fn pull_of_a_multi_platform_index_picks_this_platform() {
    let reg = Registry::start();
    let ours = format!("{}/multi/app:ours", reg.host());
    let other = format!("{}/multi/app:other", reg.host());
    let (store, our_id) = image_store(&ours);
    let other_id = store.add_test_image(&other, &[oci_support::layer_tar(&busybox_tree())]);
    assert_ne!(our_id, other_id);
    let arch = builder::oci::layout::host_arch();
    let foreign = if arch == "arm64" { "amd64" } else { "arm64" };
    // An OCI index over OCI manifests, a Docker list over Docker manifests.
    for (tag, format) in [
        ("multi", ManifestFormat::Oci),
        ("list", ManifestFormat::Docker),
    ] {
        let opts = PushOptions {
            format,
            ..PushOptions::default()
        };
        let a = push(&store, &ours, &opts, &NoProgress).expect("push ours");
        let b = push(&store, &other, &opts, &NoProgress).expect("push other");
        put_index(&reg, tag, format, &[(&b, foreign), (&a, arch)]);
        let fresh = FakeStore::new();
        let multi = format!("{}/multi/app:{tag}", reg.host());
        let pulled =
            pull(&fresh, &multi, &ClientOptions::default(), &NoProgress).expect("pull index");
        assert_eq!(pulled.id, our_id);
        assert_eq!(pulled.digest, a.digest);
        assert_eq!(fresh.resolve(&multi).expect("tagged").id, our_id);
    }
}

#[test]
fn chunked_upload_cut_half_way_goes_on_in_a_new_session() {
    let reg = Registry::start();
    let proxy = CuttingProxy::start(reg.port);
    let name = format!("{}/cut/app:1", proxy.host());
    let (store, id) = image_store(&name);
    let opts = PushOptions {
        chunk_size: 256 << 10,
        ..PushOptions::default()
    };
    // Cut the request stream inside the second chunk of the first layer.
    proxy.arm_upload(400_000, false);
    push(&store, &name, &opts, &NoProgress)
        .unwrap_or_else(|e| panic!("push did not resume: {e}\n{}", reg.log_text()));
    assert_eq!(proxy.cuts(), 1, "the upload was cut");
    // distribution gives up on a session whose PATCH broke off (404
    // BLOB_UPLOAD_INVALID), so the blob went up through a second session:
    // one POST per blob (two layers, config) plus that one.
    assert_eq!(
        reg.count("POST", "/blobs/uploads/"),
        4,
        "{}",
        reg.log_text()
    );
    let fresh = FakeStore::new();
    let pulled = pull(&fresh, &name, &ClientOptions::default(), &NoProgress).expect("pull");
    assert_eq!(pulled.id, id);
}

#[test]
fn registry_gone_mid_push_fails_clearly_and_the_retry_skips_what_arrived() {
    let reg = Registry::start();
    let proxy = CuttingProxy::start(reg.port);
    let name = format!("{}/gone/app:1", proxy.host());
    let (store, id) = image_store(&name);
    let opts = PushOptions {
        client: ClientOptions {
            retries: Some(1),
            ..ClientOptions::default()
        },
        ..PushOptions::default()
    };
    // The first layer (about 1 MB gzipped busybox) gets through; the
    // connection dies inside the second and the registry stays unreachable.
    proxy.arm_upload(1_300_000, true);
    let err = push(&store, &name, &opts, &NoProgress).expect_err("registry gone");
    let msg = err.to_string();
    assert!(
        msg.contains("sha256:") && msg.contains(&proxy.host()),
        "{msg}"
    );
    let completed = reg
        .log_text()
        .lines()
        .filter(|l| l.contains("\"PUT ") && l.contains("/blobs/uploads/") && l.contains("\" 201 "))
        .count();
    assert_eq!(completed, 1, "one blob arrived");
    proxy.heal();
    let progress = Recorder::default();
    push(&store, &name, &opts, &progress).expect("retry");
    let statuses = progress.finished.borrow();
    let count = |status: &str| statuses.iter().filter(|(_, s)| s == status).count();
    assert_eq!(count("Layer already exists"), 1, "{statuses:?}");
    assert_eq!(count("Pushed"), 2, "{statuses:?}");
    let fresh = FakeStore::new();
    let pulled = pull(&fresh, &name, &ClientOptions::default(), &NoProgress).expect("pull");
    assert_eq!(pulled.id, id);
}
