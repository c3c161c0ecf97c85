//! Shared helpers of the end-to-end tests: locating the built binaries,
//! per-test store roots, and guards that undo mounts even when a test fails.
#![allow(dead_code)]

pub mod store;

use std::path::PathBuf;

/// Path of a binary of this workspace (`strata`, `strata-overlayfs`), built
/// by `cargo build --workspace` next to the test executable's directory.
/// Panics loudly when it is missing: these tests never skip silently.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|p| p.parent())
        .expect("test executable lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not built: run `cargo build --workspace` (scripts/test does) before the tests",
        path.display()
    );
    path
}

/// Panics unless the test runs as root with /dev/fuse: integration tests
/// need both and must fail loudly, not skip, where they are missing.
pub fn require_root_and_fuse() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "this test needs root"
    );
    assert!(
        std::path::Path::new("/dev/fuse").exists(),
        "this test needs /dev/fuse (apt-get install fuse3)"
    );
}

pub mod busybox;
pub mod hostile_tar;
pub mod pty;
pub mod runtime;
