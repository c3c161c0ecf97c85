//! `strata image bootstrap debian:bookworm` for real: debootstrap from the
//! machine's Debian mirror (about 1.5 min, 200 MB). Long: run with
//! `cargo test --test image_bootstrap -- --ignored` (STRATA_LONG_TESTS=1).
#![allow(clippy::unwrap_used)]

mod common;

use common::store::{strata_err, strata_ok};

#[test]
#[ignore = "long: debootstrap of Debian bookworm, ~1.5 min and the Debian mirror"]
fn bootstrap_debian_bookworm() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("store");
    let id = strata_ok(&root, &["image", "bootstrap", "debian:bookworm"]);
    let out = strata_ok(&root, &["image", "inspect", "debian:bookworm"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["Id"].as_str(), Some(id.trim()));
    assert_eq!(v[0]["Config"]["Cmd"], serde_json::json!(["bash"]));
    let lower = v[0]["GraphDriver"]["Data"]["LowerDir"].as_str().unwrap();
    let release = std::fs::read_to_string(format!("{lower}/etc/os-release")).unwrap();
    assert!(release.contains("bookworm"), "{release}");
    assert!(std::path::Path::new(lower).join("usr/bin/apt-get").exists());
    let check = strata_ok(&root, &["system", "check"]);
    assert!(check.contains("0 problems"), "{check}");
}

#[test]
fn bootstrap_needs_a_suite() {
    let work = tempfile::tempdir().unwrap();
    let err = strata_err(
        &work.path().join("store"),
        &["image", "bootstrap", "debian"],
    );
    assert!(err.contains("debian:bookworm"), "{err}");
}
