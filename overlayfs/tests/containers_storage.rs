//! strata-overlayfs as containers/storage's `mount_program` (what Buildah
//! and Podman call for rootful fuse-overlayfs): build a 3-layer image from
//! a busybox rootfs with buildah, each step running in a container on our
//! mount, and check what every layer left. Integration test: root,
//! /dev/fuse, buildah, runc, busybox-static (scripts/setup installs them).
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_strata-overlayfs");

struct Buildah {
    dir: tempfile::TempDir,
}

impl Buildah {
    fn new() -> Self {
        common::require_root_and_fuse();
        for tool in ["buildah", "runc", "busybox"] {
            let found = Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {tool} >/dev/null"))
                .status()
                .unwrap();
            assert!(found.success(), "{tool} missing: run scripts/setup");
        }
        let dir = tempfile::tempdir().unwrap();
        let conf = format!(
            "[storage]\ndriver = \"overlay\"\ngraphroot = \"{0}/root\"\nrunroot = \"{0}/run\"\n\
             [storage.options.overlay]\nmount_program = \"{1}\"\n",
            dir.path().display(),
            BIN
        );
        fs::write(dir.path().join("storage.conf"), conf).unwrap();
        Buildah { dir }
    }

    /// Runs buildah with our storage config; returns stdout, panics with
    /// stderr on failure.
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("buildah")
            .args(args)
            .env(
                "CONTAINERS_STORAGE_CONF",
                self.dir.path().join("storage.conf"),
            )
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "buildah {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn sh(&self, ctr: &str, script: &str) -> String {
        self.run(&[
            "run",
            "--runtime",
            "runc",
            "--isolation",
            "chroot",
            ctr,
            "--",
            "/bin/sh",
            "-c",
            script,
        ])
    }

    fn rootfs(&self) -> PathBuf {
        let root = self.dir.path().join("rootfs");
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::create_dir_all(root.join("etc")).unwrap();
        let busybox = Command::new("sh")
            .arg("-c")
            .arg("command -v busybox")
            .output()
            .unwrap();
        let busybox = String::from_utf8_lossy(&busybox.stdout).trim().to_string();
        fs::copy(&busybox, root.join("bin/busybox")).unwrap();
        for n in [
            "sh", "ls", "cat", "echo", "rm", "mkdir", "mv", "ln", "stat", "chmod",
        ] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(n)).unwrap();
        }
        fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
        fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
        root
    }
}

impl Drop for Buildah {
    fn drop(&mut self) {
        let _ = Command::new("buildah")
            .args(["rm", "--all"])
            .env(
                "CONTAINERS_STORAGE_CONF",
                self.dir.path().join("storage.conf"),
            )
            .output();
        // Whatever is still mounted under our directory goes too.
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let prefix = self.dir.path().to_string_lossy().into_owned();
        for mp in info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&prefix))
        {
            let _ = Command::new("umount").arg("-l").arg(Path::new(mp)).status();
        }
    }
}

#[test]
fn buildah_builds_and_runs_layers_on_our_mounts() {
    let b = Buildah::new();
    let rootfs = b.rootfs();
    let c1 = b.run(&["from", "scratch"]);
    b.run(&["copy", &c1, rootfs.to_str().unwrap(), "/"]);
    let out = b.sh(
        &c1,
        "echo hello > /hello && mkdir -p /data/sub && echo keep > /data/sub/keep && cat /hello",
    );
    assert_eq!(out, "hello");
    b.run(&["commit", &c1, "layer1"]);

    // Second layer: delete, rename a lower directory, hard link a lower file.
    let c2 = b.run(&["from", "layer1"]);
    let out = b.sh(
        &c2,
        "rm /hello && mv /data /moved && ln /moved/sub/keep /linked && stat -c %h /linked && ls /",
    );
    assert_eq!(out.lines().next(), Some("2"));
    assert!(!out.contains("hello") && out.contains("moved"), "{out}");
    b.run(&["commit", &c2, "layer2"]);

    // Third container sees the committed result of both layers.
    let c3 = b.run(&["from", "layer2"]);
    let out = b.sh(
        &c3,
        "ls / && cat /moved/sub/keep /linked && ls /hello /data 2>&1; true",
    );
    assert!(out.contains("keep\nkeep"), "{out}");
    assert!(
        out.contains("/hello: No such file") && out.contains("/data: No such file"),
        "{out}"
    );
}
