//! Helpers for tests that drive the store through the `strata` binary:
//! a busybox rootfs (Debian's busybox-static), per-test store roots, running
//! `strata` and reading its output.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Builds a busybox rootfs in `dir`: /bin/busybox, one symlink per applet of
/// `busybox --list`, /etc/passwd and /etc/group. Panics (loudly) when
/// busybox-static is not installed.
pub fn busybox_rootfs(dir: &Path) {
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.exists(),
        "/bin/busybox missing: apt-get install busybox-static (scripts/setup)"
    );
    std::fs::create_dir_all(dir.join("bin")).expect("mkdir bin");
    std::fs::create_dir_all(dir.join("etc")).expect("mkdir etc");
    std::fs::copy(busybox, dir.join("bin/busybox")).expect("copy busybox");
    let list = Command::new(busybox)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for name in String::from_utf8_lossy(&list.stdout).lines() {
        if name != "busybox" && !name.is_empty() {
            symlink("busybox", dir.join("bin").join(name)).expect("applet symlink");
        }
    }
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
    std::fs::write(dir.join("etc/group"), "root:x:0:\n").expect("group");
}

/// A busybox rootfs tarball made with the system `tar`; `compress` is a tar
/// option such as `--gzip` or `--zstd`, or "" for a plain tar.
pub fn busybox_tarball(work: &Path, compress: &str) -> PathBuf {
    let rootfs = work.join("busybox-rootfs");
    if !rootfs.exists() {
        busybox_rootfs(&rootfs);
    }
    let out = work.join(format!("busybox{compress}.tar"));
    let mut cmd = Command::new("tar");
    if !compress.is_empty() {
        cmd.arg(compress);
    }
    let status = cmd
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&out)
        .arg(".")
        .status()
        .expect("run tar");
    assert!(status.success(), "tar failed");
    out
}

/// A store at `work/store` with a plain busybox tarball imported as
/// `busybox`; returns the store root.
pub fn store_with_busybox(work: &Path) -> PathBuf {
    let root = work.join("store");
    let tar = busybox_tarball(work, "");
    strata_ok(
        &root,
        &[
            "image",
            "import",
            tar.to_str().expect("utf-8 path"),
            "busybox",
        ],
    );
    root
}

/// Runs `strata --root ROOT ARGS...`, with registry credentials files
/// inside ROOT (never the user's own).
pub fn strata(root: &Path, args: &[&str]) -> Output {
    Command::new(super::bin("strata"))
        .arg("--root")
        .arg(root)
        .args(args)
        .env("STRATA_AUTH_FILE", root.join("auth.json"))
        .env("DOCKER_CONFIG", root.join("docker-config"))
        .output()
        .expect("run strata")
}

/// Runs strata and asserts success; returns stdout.
pub fn strata_ok(root: &Path, args: &[&str]) -> String {
    let out = strata(root, args);
    assert!(
        out.status.success(),
        "strata {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs strata and asserts it fails with exit code 1 and a one-line
/// `Error: ...`; returns that line.
pub fn strata_err(root: &Path, args: &[&str]) -> String {
    let out = strata(root, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "strata {args:?}: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one-line error expected: {stderr}");
    assert!(lines[0].starts_with("Error: "), "{stderr}");
    lines[0].to_string()
}

/// What a refused operation must leave as it was: the image ids listed, and
/// the number of layer dirs and staging (tmp) entries.
pub fn store_snapshot(root: &Path) -> (String, usize, usize) {
    (
        strata_ok(root, &["image", "ls", "-a", "-q", "--no-trunc"]),
        count_entries(&root.join("layers")),
        count_entries(&root.join("tmp")),
    )
}

/// Number of entries in a directory (0 when it does not exist).
pub fn count_entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// Starts `strata --root ROOT ARGS...` with stdin, stdout and stderr piped.
pub fn spawn_strata(root: &Path, args: &[&str]) -> std::process::Child {
    Command::new(super::bin("strata"))
        .arg("--root")
        .arg(root)
        .args(args)
        .env("STRATA_AUTH_FILE", root.join("auth.json"))
        .env("DOCKER_CONFIG", root.join("docker-config"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn strata")
}
