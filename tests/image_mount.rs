//! `strata image mount` through the binary: browse an image read-only.
//! Needs the union filesystem (overlayfs crate), implemented on the `fs`
//! branch; until that is merged these tests are ignored. They need root and
//! /dev/fuse and fail loudly without them.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::store::{busybox_tarball, strata, strata_ok};

/// Unmounts on drop so a failing test leaves no mount behind.
struct MountGuard(PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn is_mountpoint(dir: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dir = dir.canonicalize().unwrap();
    mounts
        .lines()
        .any(|l| l.split_whitespace().nth(4) == Some(dir.to_str().unwrap()))
}

#[test]
#[ignore = "needs the union fs (branch fs)"]
fn mount_detached_browse_and_umount() {
    common::require_root_and_fuse();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("store");
    let tar = busybox_tarball(work.path(), "--gzip");
    strata_ok(
        &root,
        &["image", "import", tar.to_str().unwrap(), "busybox"],
    );
    let mnt = work.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    strata_ok(
        &root,
        &["image", "mount", "-d", "busybox", mnt.to_str().unwrap()],
    );
    let _guard = MountGuard(mnt.clone());
    assert!(is_mountpoint(&mnt));
    assert_eq!(
        std::fs::read_to_string(mnt.join("etc/passwd")).unwrap(),
        "root:x:0:0:root:/root:/bin/sh\n"
    );
    assert_eq!(
        std::fs::read_link(mnt.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert!(std::fs::read_dir(mnt.join("bin")).unwrap().count() > 100);
    // Read-only: writes fail.
    assert!(std::fs::write(mnt.join("etc/new"), "x").is_err());
    strata_ok(&root, &["image", "umount", mnt.to_str().unwrap()]);
    assert!(!is_mountpoint(&mnt));
}

#[test]
#[ignore = "needs the union fs (branch fs)"]
fn mount_of_a_missing_image_fails_cleanly() {
    common::require_root_and_fuse();
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("store");
    let mnt = work.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let out = strata(
        &root,
        &["image", "mount", "-d", "nope", mnt.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such image: nope:latest"));
    assert!(!is_mountpoint(&mnt));
}
