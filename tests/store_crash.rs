//! A `strata image import` killed with SIGKILL in the middle leaves nothing
//! in the catalog, and the next strata process removes its half-written
//! staging; the store is then clean and usable. (tests/crash_kill.rs kills
//! every kind of operation at random points.)
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::store::{busybox_rootfs, count_entries, spawn_strata, strata_ok};

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
fn kill_9_during_import_then_the_next_command_cleans_up() {
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

    // The killed import's staging is still there until the next strata
    // process that writes: it reclaims the staging of dead sessions first.
    assert!(staged_big_file(&root).is_some(), "staging already gone?");
    let text = strata_ok(&root, &["system", "check"]);
    assert!(text.contains("0 problems"), "{text}");
    assert!(staged_big_file(&root).is_none(), "dead staging kept");
    let left: Vec<_> = std::fs::read_dir(root.join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    // Only the check's own session, which it removed when it ended.
    assert!(left.is_empty(), "left in tmp/: {left:?}");

    // The store works as before.
    strata_ok(&root, &["image", "import", tar.to_str().unwrap(), "big:1"]);
    let text = strata_ok(&root, &["system", "check"]);
    assert!(
        text.contains("1 layers and 1 images verified, 0 problems"),
        "{text}"
    );
}
