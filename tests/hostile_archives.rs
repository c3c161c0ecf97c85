//! Hostile layer archives: every entry that would write outside the layer
//! (or expand into a bomb) is refused, everything else is contained, and a
//! canary directory next to the extraction is never touched. The simple
//! escapes (`../x`, `/x`, a symlink parent, a hard link out, `.wh..`) are in
//! builder/src/store/tests.rs; these are the combined and encoded forms,
//! then the same through `image import`, `image load` and a container.
#![allow(clippy::unwrap_used)]

mod common;
mod container_support;

use std::path::{Path, PathBuf};

use builder::store::{Error, extract_layer};
use common::hostile_tar::RawTar;
use common::store::{store_snapshot, strata_err, strata_ok};
use nix::sys::stat::SFlag;
use sha2::{Digest, Sha256};
use tar::EntryType;

/// A work dir with a canary dir holding one file, and an empty `layer` dir
/// to extract into.
struct Scene {
    work: tempfile::TempDir,
}

impl Scene {
    fn new() -> Scene {
        let work = tempfile::tempdir().unwrap();
        std::fs::create_dir(work.path().join("canary")).unwrap();
        std::fs::write(work.path().join("canary/victim"), "original").unwrap();
        std::fs::create_dir(work.path().join("layer")).unwrap();
        Scene { work }
    }

    fn canary(&self) -> PathBuf {
        self.work.path().join("canary")
    }

    fn layer(&self) -> PathBuf {
        self.work.path().join("layer")
    }

    fn canary_str(&self) -> String {
        self.canary().display().to_string()
    }

    /// The canary dir is exactly as made: one file, same content, no
    /// overlay xattr, and nothing new next to it.
    fn assert_untouched(&self, case: &str) {
        let names: Vec<_> = std::fs::read_dir(self.canary())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["victim"], "{case}: canary dir changed");
        assert_eq!(
            std::fs::read_to_string(self.canary().join("victim")).unwrap(),
            "original",
            "{case}: canary file changed"
        );
        let opaque = xattr(&self.canary(), "trusted.overlay.opaque");
        assert!(opaque.is_none(), "{case}: canary dir made opaque");
        let mut top: Vec<_> = std::fs::read_dir(self.work.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        top.sort();
        assert_eq!(top, ["canary", "layer"], "{case}: wrote next to the layer");
    }
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let out = std::process::Command::new("getfattr")
        .args(["--only-values", "-h", "-n", name])
        .arg(path)
        .output()
        .expect("getfattr (apt-get install attr)");
    out.status.success().then_some(out.stdout)
}

#[test]
fn combined_and_encoded_escapes_are_refused() {
    type Case = fn(&str) -> Vec<u8>;
    let cases: &[(&str, Case)] = &[
        ("hard link through a symlink parent", |c| {
            RawTar::new()
                .symlink("s", c)
                .hard_link("h", "s/victim")
                .finish()
        }),
        ("hard link to an outward symlink used as a parent", |c| {
            RawTar::new()
                .symlink("s", c)
                .hard_link("h", "s")
                .file("h/evil", b"pwned")
                .finish()
        }),
        ("directory replaced by a symlink, then used", |c| {
            RawTar::new()
                .dir("d")
                .symlink("d", c)
                .file("d/evil", b"pwned")
                .finish()
        }),
        ("whiteout in a symlinked parent", |c| {
            RawTar::new()
                .symlink("s", c)
                .file("s/.wh.victim", b"")
                .finish()
        }),
        ("opaque marker in a symlinked parent", |c| {
            RawTar::new()
                .symlink("s", c)
                .file("s/.wh..wh..opq", b"")
                .finish()
        }),
        ("whiteout of `..` at the root", |_| {
            RawTar::new().file(".wh...", b"").finish()
        }),
        ("whiteout of `.` at the root", |_| {
            RawTar::new().file("./.wh..", b"").finish()
        }),
        ("PAX path with `..`", |_| {
            RawTar::new()
                .pax_path("../canary/evil", "innocent", b"pwned")
                .finish()
        }),
        ("PAX absolute path", |c| {
            let p = format!("{c}/evil");
            RawTar::new().pax_path(&p, "innocent", b"pwned").finish()
        }),
        ("GNU long name with `..`", |_| {
            RawTar::new()
                .gnu_long_name("a/../../canary/evil", b"pwned")
                .finish()
        }),
        ("sparse file declaring 1 PiB", |_| {
            RawTar::new().sparse("bomb", 1 << 50).finish()
        }),
        ("file declaring 1 TiB, carrying 5 bytes", |_| {
            RawTar::new().truncated_file("big", 1 << 40, b"pwned")
        }),
    ];
    for (case, make) in cases {
        let scene = Scene::new();
        let tar = make(&scene.canary_str());
        match extract_layer(&tar[..], &scene.layer()) {
            Err(Error::UnsafeEntry { .. } | Error::BadArchive(_)) => {}
            other => panic!("{case}: expected a refusal, got {other:?}"),
        }
        scene.assert_untouched(case);
    }
}

#[test]
fn duplicates_and_outward_links_are_contained() {
    let scene = Scene::new();
    let victim = scene.canary().join("victim");
    let tar = RawTar::new()
        // A regular file replaces a symlink to the canary, never writes
        // through it.
        .symlink("x", victim.to_str().unwrap())
        .file("x", b"mine")
        // file -> dir -> file again.
        .file("y", b"1")
        .dir("y")
        .file("y/z", b"2")
        .file("y", b"3")
        // A hard link to an outward symlink links the symlink itself.
        .symlink("s", victim.to_str().unwrap())
        .hard_link("h", "s")
        // Devices are stored (the runtime mounts the rootfs nodev).
        .device("blk", EntryType::Block, 254, 0)
        .device("chr", EntryType::Char, 1, 11)
        .device("fifo", EntryType::Fifo, 0, 0)
        .finish();
    extract_layer(&tar[..], &scene.layer()).unwrap();
    let layer = scene.layer();
    assert_eq!(std::fs::read(layer.join("x")).unwrap(), b"mine");
    assert_eq!(std::fs::read(layer.join("y")).unwrap(), b"3");
    assert_eq!(std::fs::read_link(layer.join("h")).unwrap(), victim);
    use std::os::unix::fs::FileTypeExt;
    let blk = std::fs::symlink_metadata(layer.join("blk")).unwrap();
    assert!(blk.file_type().is_block_device());
    scene.assert_untouched("duplicates");
}

/// A one-layer `docker save` archive around `layer` (config and manifest
/// consistent with it), tagged `evil:1`.
fn docker_archive(layer: &[u8]) -> Vec<u8> {
    let diff_id = hex::encode(Sha256::digest(layer));
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["sha256:{diff_id}"]}}}}"#
    );
    let config_name = format!("{}.json", hex::encode(Sha256::digest(config.as_bytes())));
    let manifest = format!(
        r#"[{{"Config":"{config_name}","RepoTags":["evil:1"],"Layers":["{diff_id}/layer.tar"]}}]"#
    );
    RawTar::new()
        .file(&config_name, config.as_bytes())
        .dir(&diff_id)
        .file(&format!("{diff_id}/layer.tar"), layer)
        .file("manifest.json", manifest.as_bytes())
        .finish()
}

/// The store is left as it was and the canary untouched after each
/// hostile `image import` and `image load`.
#[test]
fn import_and_load_refuse_hostile_layers() {
    let scene = Scene::new();
    let root = scene.work.path().join("store");
    let busybox = common::store::busybox_tarball(&scene.work.path().join("bb"), "");
    strata_ok(
        &root,
        &["image", "import", busybox.to_str().unwrap(), "base"],
    );
    std::fs::remove_dir_all(scene.work.path().join("bb")).unwrap();
    let before = store_snapshot(&root);
    let c = scene.canary_str();
    let layers = [
        RawTar::new().file("../../canary/evil", b"pwned").finish(),
        RawTar::new().file(&format!("{c}/evil"), b"pwned").finish(),
        RawTar::new()
            .symlink("s", &c)
            .file("s/.wh.victim", b"")
            .finish(),
        RawTar::new()
            .symlink("s", &c)
            .hard_link("h", "s")
            .file("h/evil", b"pwned")
            .finish(),
        RawTar::new().sparse("bomb", 1 << 50).finish(),
    ];
    let input = scene.work.path().join("input.tar");
    for (i, layer) in layers.iter().enumerate() {
        std::fs::write(&input, layer).unwrap();
        let err = strata_err(&root, &["image", "import", input.to_str().unwrap(), "x"]);
        assert!(err.contains("layer archive"), "{i}: {err}");
        std::fs::write(&input, docker_archive(layer)).unwrap();
        let err = strata_err(&root, &["image", "load", "-i", input.to_str().unwrap()]);
        assert!(err.contains("layer archive"), "{i}: {err}");
        assert_eq!(store_snapshot(&root), before, "{i} changed the store");
    }
    // The outer archive itself: an entry written through a symlink to the
    // canary is refused by the unpacker.
    let outer = RawTar::new()
        .symlink("lnk", &c)
        .file("lnk/evil", b"pwned")
        .file("manifest.json", b"[]")
        .finish();
    std::fs::write(&input, outer).unwrap();
    strata_err(&root, &["image", "load", "-i", input.to_str().unwrap()]);
    assert_eq!(store_snapshot(&root), before);
    std::fs::remove_file(&input).unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    scene.assert_untouched("import and load");
}

/// An image may carry device nodes (Docker allows them); in a container
/// they cannot be opened, since the rootfs is mounted nodev.
#[test]
fn device_nodes_of_an_image_are_unusable_in_a_container() {
    let f = container_support::Fixture::new();
    let work = f.work.path().join("devs");
    let rootfs = work.join("busybox-rootfs");
    common::store::busybox_rootfs(&rootfs);
    for (name, minor) in [("kmsg", 11), ("null2", 3)] {
        let dev = nix::sys::stat::makedev(1, minor);
        let mode = nix::sys::stat::Mode::from_bits_truncate(0o666);
        nix::sys::stat::mknod(&rootfs.join(name), SFlag::S_IFCHR, mode, dev).unwrap();
    }
    let tar = common::store::busybox_tarball(&work, "");
    f.ok(&["image", "import", tar.to_str().unwrap(), "devs"]);
    let (code, out, err) = f.container_run(&[
        "--rm",
        "devs",
        "sh",
        "-c",
        "ls -l /kmsg /null2 | cut -c1; \
         for d in /kmsg /null2; do (echo x > $d) 2>&1 | grep -o 'Permission denied'; done",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out, "c\nc\nPermission denied\nPermission denied\n");
}

/// An OCI layout whose manifest blob is a symlink to a host file: refused
/// (blob paths must stay inside the layout), the store unchanged.
#[test]
fn oci_layout_blobs_cannot_point_at_host_files() {
    let scene = Scene::new();
    let root = scene.work.path().join("store");
    let layout = scene.work.path().join("layout");
    let victim = scene.canary().join("victim");
    let hex = hex::encode(Sha256::digest(std::fs::read(&victim).unwrap()));
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::os::unix::fs::symlink(&victim, layout.join("blobs/sha256").join(&hex)).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{hex}","size":8,"annotations":{{"org.opencontainers.image.ref.name":"1"}}}}]}}"#
    );
    std::fs::write(layout.join("index.json"), index).unwrap();
    strata_ok(&root, &["image", "ls"]);
    let before = store_snapshot(&root);
    let spec = format!("oci:{}:1", layout.display());
    let err = strata_err(&root, &["image", "load", "-i", &spec]);
    assert!(err.contains("leaves the archive"), "{err}");
    assert_eq!(store_snapshot(&root), before);
    std::fs::remove_dir_all(&layout).unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    scene.assert_untouched("oci layout");
}
