//! Two strata processes on one store: concurrent imports of the same layer
//! end with one layer and both images; GC running beside an import never
//! removes the layer the import is about to use.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Child;

use common::store::{busybox_tarball, count_entries, spawn_strata, strata_ok};

fn finish(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn layer_rows(root: &Path) -> i64 {
    let conn = rusqlite::Connection::open(root.join("catalog.db")).unwrap();
    conn.query_row("SELECT COUNT(*) FROM layers", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn two_concurrent_imports_of_the_same_layer() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("store");
    let tgz = busybox_tarball(work.path(), "--gzip");
    let tgz = tgz.to_str().unwrap();
    for round in 0..3 {
        let a = spawn_strata(&root, &["image", "import", tgz, &format!("a:{round}")]);
        let b = spawn_strata(&root, &["image", "import", tgz, &format!("b:{round}")]);
        finish(a);
        finish(b);
    }
    assert_eq!(count_entries(&root.join("layers")), 1);
    assert_eq!(layer_rows(&root), 1);
    let ls = strata_ok(&root, &["image", "ls"]);
    assert_eq!(ls.lines().count(), 7, "{ls}");
    let check = strata_ok(&root, &["system", "check"]);
    assert!(check.contains("0 problems"), "{check}");
    assert_eq!(count_entries(&root.join("tmp")), 0);
}

#[test]
fn prune_beside_imports_never_takes_a_layer_in_use() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("store");
    let tgz = busybox_tarball(work.path(), "--gzip");
    let tgz = tgz.to_str().unwrap();
    for round in 0..4 {
        let import = spawn_strata(&root, &["image", "import", tgz, &format!("keep:{round}")]);
        let prune = spawn_strata(&root, &["system", "prune", "-f"]);
        finish(import);
        finish(prune);
        let out = strata_ok(&root, &["image", "inspect", &format!("keep:{round}")]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let lower = v[0]["GraphDriver"]["Data"]["LowerDir"].as_str().unwrap();
        assert!(
            Path::new(lower).join("bin/busybox").is_file(),
            "round {round}: layer gone"
        );
    }
    let check = strata_ok(&root, &["system", "check"]);
    assert!(check.contains("0 problems"), "{check}");
}
