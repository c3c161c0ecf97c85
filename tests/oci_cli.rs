//! `strata image save/load/push/pull/export` and `strata login`, driven as
//! a user would, checked with skopeo, umoci and a real registry.

mod common;
mod oci_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use oci_support::registry::Registry;
use oci_support::{
    assert_exports_busybox, assert_tree_equals, busybox_archive, busybox_tree, run,
    skopeo_image_id, strata_err, strata_ok, untar,
};

fn seeded_root(name: &str) -> (tempfile::TempDir, String) {
    let root = tempfile::tempdir().expect("tmp");
    let archive = root.path().join("seed.tar");
    let id = busybox_archive(&archive, name);
    let out = strata_ok(root.path(), &["image", "load", "-i", &utf8(&archive)]);
    assert_eq!(out.trim(), format!("Loaded image: {name}"));
    (root, id)
}

fn utf8(p: &Path) -> String {
    p.to_str().expect("utf8 path").to_string()
}

#[test]
fn save_load_round_trips_through_skopeo_and_umoci() {
    let (root, id) = seeded_root("busybox:latest");
    let dir = root.path();
    let path = |name: &str| utf8(&dir.join(name));
    strata_ok(dir, &["image", "save", "-o", &path("oci.tar"), "busybox"]);
    assert_eq!(
        skopeo_image_id(&[], &format!("oci-archive:{}", path("oci.tar"))),
        id
    );
    untar(&dir.join("oci.tar"), &dir.join("layout"));
    let bundle = dir.join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--image", &format!("{}:latest", path("layout"))])
        .arg(&bundle));
    assert_tree_equals(&bundle.join("rootfs"), &busybox_tree());

    // docker format, zstd, and loading into a fresh root: same id.
    let docker = path("docker.tar");
    strata_ok(
        dir,
        &[
            "image",
            "save",
            "--format",
            "docker",
            "-o",
            &docker,
            "busybox:latest",
        ],
    );
    assert_eq!(
        skopeo_image_id(&[], &format!("docker-archive:{docker}")),
        id
    );
    let zstd = path("zstd.tar");
    strata_ok(
        dir,
        &["image", "save", "--compression", "zstd", "-o", &zstd, &id],
    );
    for archive in [&docker, &zstd] {
        let fresh = tempfile::tempdir().expect("tmp");
        let out = strata_ok(fresh.path(), &["image", "load", "-i", archive]);
        assert!(out.contains("busybox:latest") || out.contains(&id), "{out}");
        assert_exports_busybox(fresh.path(), &id);
    }

    // From STDIN, and to STDOUT.
    let fresh = tempfile::tempdir().expect("tmp");
    let out = Command::new(common::bin("strata"))
        .arg("--root")
        .arg(fresh.path())
        .args(["image", "load"])
        .stdin(std::fs::File::open(&docker).expect("open"))
        .output()
        .expect("load from stdin");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Loaded image: busybox:latest"
    );
    let saved = Command::new(common::bin("strata"))
        .arg("--root")
        .arg(fresh.path())
        .args(["image", "save", "busybox"])
        .output()
        .expect("save to stdout");
    assert!(saved.status.success());
    assert_eq!(
        saved.stdout,
        std::fs::read(dir.join("oci.tar")).expect("oci.tar"),
        "same bytes"
    );

    // A layout directory made by skopeo loads through oci:DIR:tag.
    let skopeo_dir = path("skopeo-layout");
    run(Command::new("skopeo")
        .arg("copy")
        .arg(format!("oci-archive:{}", path("oci.tar")))
        .arg(format!("oci:{skopeo_dir}:mytag")));
    let fresh = tempfile::tempdir().expect("tmp");
    let spec = format!("oci:{skopeo_dir}:mytag");
    let out = strata_ok(fresh.path(), &["image", "load", "-i", &spec]);
    assert!(out.contains(&id), "{out}");
}

#[test]
fn tampered_and_truncated_archives_are_refused_and_load_nothing() {
    let (root, id) = seeded_root("busybox:latest");
    let dir = root.path();
    let archive = dir.join("bb.tar");
    strata_ok(dir, &["image", "save", "-o", &utf8(&archive), "busybox"]);
    let bytes = std::fs::read(&archive).expect("read");

    let truncated = dir.join("truncated.tar");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    let fresh = tempfile::tempdir().expect("tmp");
    let err = strata_err(fresh.path(), &["image", "load", "-i", &utf8(&truncated)]);
    assert!(
        err.contains("truncated.tar") || err.contains("sha256:"),
        "{err}"
    );
    strata_err(fresh.path(), &["image", "save", "-o", "/dev/null", &id]);
    assert_eq!(strata_ok(fresh.path(), &["image", "ls", "-q"]), "");

    // Flip one byte in the middle of the biggest blob (the layer).
    let layout = dir.join("layout");
    untar(&archive, &layout);
    let blob = std::fs::read_dir(layout.join("blobs/sha256"))
        .expect("blobs")
        .map(|e| e.expect("entry").path())
        .max_by_key(|p| std::fs::metadata(p).expect("meta").len())
        .expect("a blob");
    let mut data = std::fs::read(&blob).expect("blob");
    let mid = data.len() / 2;
    data[mid] ^= 0x55;
    std::fs::write(&blob, data).expect("write");
    let digest = format!(
        "sha256:{}",
        blob.file_name().expect("name").to_string_lossy()
    );
    let spec = format!("oci:{}", layout.display());
    let err = strata_err(fresh.path(), &["image", "load", "-i", &spec]);
    assert!(
        err.contains(&digest) && err.contains("digest mismatch"),
        "{err}"
    );
    strata_err(fresh.path(), &["image", "save", "-o", "/dev/null", &id]);
}

#[test]
fn push_pull_login_against_a_real_registry() {
    let reg = Registry::start_with_htpasswd("alice", "s3cret");
    let name = format!("{}/cli/busybox:1", reg.host());
    let (root, id) = seeded_root(&name);
    let dir = root.path();

    let err = strata_err(dir, &["image", "push", &name]);
    assert!(
        err.contains("unauthorized") && err.contains("strata login"),
        "{err}"
    );
    let mut login = Command::new(common::bin("strata"))
        .arg("--root")
        .arg(dir)
        .args(["login", "-u", "alice", "--password-stdin", &reg.host()])
        .env("STRATA_AUTH_FILE", dir.join("auth.json"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("login");
    {
        use std::io::Write;
        let mut stdin = login.stdin.take().expect("stdin");
        stdin.write_all(b"s3cret\n").expect("password");
    }
    let out = login.wait_with_output().expect("login");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Login Succeeded"
    );
    let mode = std::fs::metadata(dir.join("auth.json"))
        .expect("auth file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let out = strata_ok(dir, &["image", "push", &name]);
    assert!(out.contains("digest: sha256:"), "{out}");
    let uploads = reg.count("PUT", "/blobs/uploads/");
    assert_eq!(uploads, 2, "layer and config");
    strata_ok(dir, &["image", "push", &name]);
    assert_eq!(
        reg.count("PUT", "/blobs/uploads/"),
        uploads,
        "second push uploads nothing"
    );
    let creds = ["--tls-verify=false", "--creds", "alice:s3cret"];
    assert_eq!(skopeo_image_id(&creds, &format!("docker://{name}")), id);

    // Pull into a fresh root with the same credentials file.
    let fresh = tempfile::tempdir().expect("tmp");
    std::fs::copy(dir.join("auth.json"), fresh.path().join("auth.json")).expect("copy auth");
    let out = strata_ok(fresh.path(), &["image", "pull", &name]);
    assert!(out.lines().last().is_some_and(|l| l == name), "{out}");
    assert!(out.contains("Status: Downloaded newer image"), "{out}");
    let out = strata_ok(fresh.path(), &["image", "pull", &name]);
    assert!(out.contains("Status: Image is up to date"), "{out}");
    let digest = out
        .lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .expect("digest line")
        .to_string();
    let inspect = strata_ok(fresh.path(), &["image", "inspect", &name]);
    let repo = format!("{}/cli/busybox", reg.host());
    assert!(inspect.contains(&format!("{repo}@{digest}")), "{inspect}");
    let by_digest = format!("{repo}@{digest}");
    assert_exports_busybox(fresh.path(), &by_digest);
    assert_exports_busybox(fresh.path(), &name);
    let saved = fresh.path().join("again.tar");
    strata_ok(fresh.path(), &["image", "save", "-o", &utf8(&saved), &name]);
    let saved = format!("oci-archive:{}", saved.display());
    assert_eq!(
        skopeo_image_id(&[], &saved),
        id,
        "the pulled image has the same id"
    );

    let missing = format!("{}/cli/busybox:missing", reg.host());
    let err = strata_err(fresh.path(), &["image", "pull", &missing]);
    assert!(
        err.contains("MANIFEST_UNKNOWN") && err.contains("cli/busybox:missing"),
        "{err}"
    );
}

#[test]
fn an_image_made_by_import_saves_pushes_and_pulls_with_the_same_id() {
    // A layer strata made itself: its canonical tar is its diff_id.
    let root = tempfile::tempdir().expect("tmp");
    let dir = root.path();
    common::store::busybox_rootfs(&dir.join("rootfs"));
    let reg = Registry::start();
    let name = format!("{}/made/here:1", reg.host());
    let id = strata_ok(dir, &["image", "import", &utf8(&dir.join("rootfs")), &name]);
    let id = id.trim();
    let archive = dir.join("here.tar");
    strata_ok(dir, &["image", "save", "-o", &utf8(&archive), &name]);
    untar(&archive, &dir.join("layout"));
    let bundle = dir.join("bundle");
    let image = format!("{}:1", utf8(&dir.join("layout")));
    run(Command::new("umoci")
        .args(["unpack", "--image", &image])
        .arg(&bundle));
    assert_tree_equals(&bundle.join("rootfs"), &busybox_tree());

    strata_ok(dir, &["image", "push", &name]);
    assert_eq!(
        skopeo_image_id(&["--tls-verify=false"], &format!("docker://{name}")),
        id
    );
    let fresh = tempfile::tempdir().expect("tmp");
    strata_ok(fresh.path(), &["image", "pull", &name]);
    let ids = strata_ok(fresh.path(), &["image", "ls", "-q", "--no-trunc"]);
    assert_eq!(ids.trim(), id);
    assert_exports_busybox(fresh.path(), id);
}
