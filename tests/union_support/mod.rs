//! Harness of the union filesystem's black-box tests (`tests/union_*.rs`):
//! layer trees in kernel-overlay format, mount guards for the program under
//! test and for kernel overlayfs, tree snapshots, and a seeded generator of
//! filesystem operations. Each test crate includes it with
//! `mod common; mod union_support;`.
#![allow(dead_code)]

pub mod evict;
pub mod layers;
pub mod mount;
pub mod ops;
pub mod rng;
pub mod snapshot;
pub mod sys;

/// True when the long variants (more operations, more seeds) should run.
pub fn long_tests() -> bool {
    std::env::var("STRATA_LONG_TESTS").is_ok_and(|v| v == "1")
}

/// A fresh temporary directory under $TMPDIR (ext4 here): kernel overlayfs
/// needs an upper that supports trusted xattrs and file handles (index=on).
/// Each test gets its own, so tests run in parallel without shared state.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("strata-union-")
        .tempdir()
        .expect("create temp dir")
}
