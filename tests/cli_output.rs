//! What a newcomer reads: `--version`, `--help` with examples, Docker's
//! `-q` and `--format json`. Root and FUSE needed (a busybox image is built and run).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::store::{store_with_busybox, strata_ok};

#[test]
fn version_and_help_with_examples() {
    let out = Command::new(common::bin("strata"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(version.starts_with("strata 0."), "{version}");
    for cmd in [
        &["container", "run", "--help"][..],
        &["image", "build", "--help"],
        &["system", "df", "--help"],
    ] {
        let out = Command::new(common::bin("strata"))
            .args(cmd)
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        let name = format!("strata {} {}", cmd[0], cmd[1]);
        assert!(
            help.contains(&format!("Examples:\n  {name}")),
            "{name}: {help}"
        );
    }
}

/// A store with busybox imported and one exited container.
fn store_with_a_container(work: &Path) -> std::path::PathBuf {
    common::require_root_and_fuse();
    let root = store_with_busybox(work);
    strata_ok(
        &root,
        &["container", "run", "--name", "c1", "busybox", "true"],
    );
    root
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn quiet_and_json_formats_like_docker() {
    let work = tempfile::tempdir().unwrap();
    let root = store_with_a_container(work.path());
    let ps = json_lines(&strata_ok(
        &root,
        &["container", "ps", "-a", "--format", "json"],
    ));
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0]["Names"], "c1");
    assert_eq!(ps[0]["Image"], "busybox");
    assert_eq!(ps[0]["State"], "exited");
    assert!(ps[0]["Status"].as_str().unwrap().starts_with("Exited (0)"));
    let ids = strata_ok(&root, &["container", "ps", "-a", "-q"]);
    assert_eq!(ids.trim(), ps[0]["ID"].as_str().unwrap());

    let history = json_lines(&strata_ok(
        &root,
        &["image", "history", "--format", "json", "busybox"],
    ));
    assert_eq!(history.len(), 1);
    assert!(history[0]["Size"].as_str().unwrap().ends_with("MB"));
    let ls = json_lines(&strata_ok(&root, &["image", "ls", "--format", "json"]));
    assert_eq!(ls[0]["Repository"], "busybox");
    assert_eq!(
        strata_ok(&root, &["image", "ls", "-q"]).trim(),
        ls[0]["ID"].as_str().unwrap()
    );
    let df = json_lines(&strata_ok(&root, &["system", "df", "--format", "json"]));
    assert_eq!(df[0]["Type"], "Images");
    assert_eq!(df[0]["TotalCount"], "1");
    assert_eq!(df[1]["Type"], "Containers");
    for kind in ["image", "container"] {
        let name = if kind == "image" { "busybox" } else { "c1" };
        let out = strata_ok(&root, &[kind, "inspect", "--format", "json", name]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 1, "{kind}");
    }
}

// Colour on a terminal, and none with NO_COLOR or on a pipe, is tested with
// the build progress that carries it: tests/build_progress.rs.
