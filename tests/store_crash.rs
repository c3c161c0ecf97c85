//! A `strata image import` killed with SIGKILL in the middle leaves nothing
//! in the catalog, and `system check --repair` removes its half-written
//! staging; the store is then clean and usable.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::store::{busybox_rootfs, count_entries, spawn_strata, strata, strata_ok};

/// Finds a partially extracted `big` file in some session's staging.
fn staged_big_file(root: &Path) -> Option<PathBuf> {
    for session in std::fs::read_dir(root.join("tmp")).ok()?.flatten() {
        for stage in std::fs::read_dir(session.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let big = stage.path().join("big");
            if std::fs::metadata(&big).is_ok_and(|m| m.len() > 0) {
                return Some(big);
            }
        }
    }
    None
}

#[test]
fn kill_9_during_import_then_check_and_repair() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("store");
    let rootfs = work.path().join("rootfs");
    busybox_rootfs(&rootfs);
    // 48 MiB of non-zero data so the stream is still being read when killed.
    let chunk: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8 + 1).collect();
    let mut big = std::fs::File::create(rootfs.join("big")).unwrap();
    for _ in 0..48 {
        big.write_all(&chunk).unwrap();
    }
    drop(big);
    let tar = work.path().join("big.tar");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(&tar).unwrap();

    let mut child = spawn_strata(&root, &["image", "import", "-", "big:1"]);
    let mut stdin = child.stdin.take().unwrap();
    // Feed a bit more than half; the pipe stays open, so the import waits.
    stdin.write_all(&bytes[..bytes.len() * 3 / 5]).unwrap();
    // Not a timed assertion: a generous bound so a broken importer fails the
    // test instead of hanging it.
    let deadline = Instant::now() + Duration::from_secs(120);
    while staged_big_file(&root).is_none() {
        assert!(Instant::now() < deadline, "import never started extracting");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());
    drop(stdin);

    assert_eq!(strata_ok(&root, &["image", "ls", "-a", "-q"]), "");
    assert_eq!(count_entries(&root.join("layers")), 0);

    let out = strata(&root, &["system", "check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("leftover staging"), "{text}");

    let text = strata_ok(&root, &["system", "check", "--repair"]);
    assert!(text.contains("repaired: leftover staging"), "{text}");
    let text = strata_ok(&root, &["system", "check"]);
    assert!(text.contains("0 problems"), "{text}");
    assert_eq!(count_entries(&root.join("tmp")), 0, "staging left behind");

    // The store works as before.
    strata_ok(&root, &["image", "import", tar.to_str().unwrap(), "big:1"]);
    let text = strata_ok(&root, &["system", "check"]);
    assert!(
        text.contains("1 layers and 1 images verified, 0 problems"),
        "{text}"
    );
}
