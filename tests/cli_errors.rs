//! Failures a newcomer meets first, each one line `Error: ...` naming what
//! failed and the fix: not root, FUSE missing, the store locked by another
//! process (by which pid), an unknown image or container. And logs: quiet
//! by default, `-v`/`RUST_LOG` turn them on. Root and FUSE needed (the
//! tests take them away from strata themselves).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::store::{busybox_tarball, strata, strata_err, strata_ok};

/// The single stderr line of a failed run, checked to be `Error: ...`.
fn error_line(out: &Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].starts_with("Error: "), "{stderr}");
    lines[0].to_string()
}

/// `strata --root ROOT ARGS` run by `wrapper...` (setpriv, unshare, env).
fn strata_via(wrapper: &[&str], root: &Path, args: &[&str]) -> Output {
    Command::new(wrapper[0])
        .args(&wrapper[1..])
        .arg(common::bin("strata"))
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn not_root_says_strata_needs_root() {
    common::require_root_and_fuse();
    let work = tempfile::tempdir().unwrap();
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let root = work.path().join("store");
    let out = strata_via(&nobody, &root, &["image", "ls"]);
    let line = error_line(&out, 1);
    assert!(line.contains("strata needs root for now"), "{line}");
    assert!(line.contains("uid 65534"), "{line}");
    // Container commands fail with Docker's 125; nothing was created.
    let out = strata_via(&nobody, &root, &["container", "ps"]);
    assert!(error_line(&out, 125).contains("needs root"));
    assert!(!root.exists());
    // What needs no root still works.
    let out = strata_via(&nobody, &root, &["completion", "bash"]);
    assert!(out.status.success());
}

#[test]
fn fuse_missing_names_the_package() {
    common::require_root_and_fuse();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("store");
    // /dev without fuse: a private mount namespace with a tmpfs on /dev.
    let no_dev_fuse = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mount -t tmpfs none /dev && exec \"$@\"",
        "sh",
    ];
    let out = strata_via(
        &no_dev_fuse,
        &root,
        &["container", "run", "busybox", "true"],
    );
    let line = error_line(&out, 125);
    assert!(line.contains("/dev/fuse is missing"), "{line}");
    assert!(line.contains("apt-get install fuse3"), "{line}");
    // No fusermount3 on PATH.
    let no_path = ["env", "PATH=/nonexistent"];
    let out = strata_via(&no_path, &root, &["image", "build", "."]);
    let line = error_line(&out, 1);
    assert!(line.contains("fusermount3 not found"), "{line}");
    assert!(line.contains("apt-get install fuse3"), "{line}");
}

/// `flock -o LOCK sleep 600`, killed on drop (even when the test fails).
/// `-o`: the lock stays with flock, not with its sleep.
struct Holder(std::process::Child);

impl Holder {
    /// Starts the holder and returns once it holds the lock.
    fn start(lock: &Path) -> Holder {
        let holder = Holder(
            Command::new("flock")
                .arg("-o")
                .arg(lock)
                .args(["sleep", "600"])
                .spawn()
                .unwrap(),
        );
        // `flock -n` fails with 99 once the holder has the lock.
        loop {
            let probe = Command::new("flock")
                .args(["-n", "-E", "99"])
                .arg(lock)
                .arg("true")
                .status()
                .unwrap();
            if probe.code() == Some(99) {
                return holder;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn store_locked_names_the_holding_pid() {
    common::require_root_and_fuse();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("store");
    strata_ok(&root, &["image", "ls"]);
    let tar = busybox_tarball(work.path(), "");
    let tar = tar.to_str().unwrap();
    let holder = Holder::start(&root.join("lock"));
    let pid = holder.0.id();

    // Given up at once: the error names the holder.
    let out = Command::new(common::bin("strata"))
        .arg("--root")
        .arg(&root)
        .args(["image", "import", tar, "busybox"])
        .env("STRATA_LOCK_TIMEOUT", "0")
        .output()
        .unwrap();
    let line = error_line(&out, 1);
    assert!(
        line.contains(&format!("is locked by pid {pid} (flock -o ")),
        "{line}"
    );
    assert!(line.contains("wait for it to finish, or stop it"), "{line}");

    // By default it waits, saying for whom, and goes on once released.
    let mut waiting = Command::new(common::bin("strata"))
        .arg("--root")
        .arg(&root)
        .args(["image", "import", tar, "busybox"])
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(waiting.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(
        first.contains("waiting for the store lock") && first.contains(&format!("pid {pid}")),
        "{first}"
    );
    drop(holder);
    let out = waiting.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(strata_ok(&root, &["image", "ls"]).contains("busybox"));
}

#[test]
fn unknown_image_or_container_says_where_to_look() {
    common::require_root_and_fuse();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("store");
    let line = strata_err(&root, &["image", "history", "nope:1"]);
    assert!(line.contains("No such image: nope:1"), "{line}");
    assert!(line.contains("`strata image ls`"), "{line}");
    assert!(line.contains("`strata image pull nope:1`"), "{line}");
    let out = strata(&root, &["container", "run", "--rm", "nope:1"]);
    assert!(error_line(&out, 125).contains("`strata image ls`"));
    let out = strata(&root, &["container", "stop", "ghost"]);
    let line = error_line(&out, 125);
    assert!(line.contains("No such container: ghost"), "{line}");
    assert!(line.contains("`strata container ps -a`"), "{line}");
    // A Dockerfile whose base is unknown: the line, the image, the hint.
    let ctx = work.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM debian\nRUN true\n").unwrap();
    let line = strata_err(&root, &["image", "build", ctx.to_str().unwrap()]);
    assert!(line.contains("Dockerfile:1"), "{line}");
    assert!(line.contains("No such image"), "{line}");
    assert!(
        line.contains("strata image bootstrap debian:bookworm"),
        "{line}"
    );
}

/// stderr of `strata --root ROOT ARGS` with RUST_LOG set or unset.
fn stderr_of(root: &Path, args: &[&str], rust_log: Option<&str>) -> String {
    let mut cmd = Command::new(common::bin("strata"));
    cmd.arg("--root").arg(root).args(args);
    match rust_log {
        Some(v) => cmd.env("RUST_LOG", v),
        None => cmd.env_remove("RUST_LOG"),
    };
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn logs_are_quiet_by_default_and_verbose_on_request() {
    common::require_root_and_fuse();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("store");
    let store_line = format!("store {}", root.display());
    assert_eq!(stderr_of(&root, &["image", "ls"], None), "");
    assert_eq!(stderr_of(&root, &["-v", "image", "ls"], None), "");
    let debug = stderr_of(&root, &["-vv", "image", "ls"], None);
    assert!(
        debug.contains("DEBUG") && debug.contains(&store_line),
        "{debug}"
    );
    let env = stderr_of(&root, &["image", "ls"], Some("strata=debug"));
    assert!(env.contains(&store_line), "{env}");
    // RUST_LOG wins over -v.
    assert_eq!(stderr_of(&root, &["-vv", "image", "ls"], Some("error")), "");
}
