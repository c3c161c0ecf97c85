//! Bad input gives a one-line `Error: ...`, exit code 1, and leaves the
//! store as it was (same catalog rows, no layer, no staging leftovers).
#![allow(clippy::unwrap_used)]

mod common;

use common::store::{
    busybox_tarball, count_entries, store_snapshot as snapshot, strata, strata_err, strata_ok,
};

#[test]
fn broken_archives_are_refused_and_change_nothing() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("store");
    let tar = busybox_tarball(work.path(), "");
    strata_ok(&root, &["image", "import", tar.to_str().unwrap(), "base"]);
    let before = snapshot(&root);

    let bytes = std::fs::read(&tar).unwrap();
    let truncated = work.path().join("truncated.tar");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let garbage = work.path().join("garbage.tar");
    std::fs::write(
        &garbage,
        b"this is not an archive at all, just some text\n".repeat(20),
    )
    .unwrap();
    let bz = work.path().join("rootfs.tar.bz2");
    let status = std::process::Command::new("bzip2")
        .arg("-k")
        .arg("-c")
        .arg(&tar)
        .stdout(std::fs::File::create(&bz).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    let gz = busybox_tarball(work.path(), "--gzip");
    let mut gz_bytes = std::fs::read(&gz).unwrap();
    let mid = gz_bytes.len() / 2;
    for b in &mut gz_bytes[mid..mid + 64] {
        *b ^= 0x5a;
    }
    let corrupt_gz = work.path().join("corrupt.tgz");
    std::fs::write(&corrupt_gz, &gz_bytes).unwrap();

    for (file, expect) in [
        (&truncated, "truncated"),
        (&garbage, "unknown format"),
        (&bz, "unsupported compression bzip2"),
        (&corrupt_gz, "layer archive"),
    ] {
        let err = strata_err(
            &root,
            &["image", "import", file.to_str().unwrap(), "broken"],
        );
        assert!(err.contains(expect), "{}: {err}", file.display());
        assert_eq!(
            snapshot(&root),
            before,
            "{} changed the store",
            file.display()
        );
    }
    let err = strata_err(&root, &["image", "import", "/nonexistent.tar", "x"]);
    assert!(err.contains("/nonexistent.tar"), "{err}");
}

#[test]
fn bad_names_and_missing_images_are_one_line_errors() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("store");
    let tar = busybox_tarball(work.path(), "");
    strata_ok(&root, &["image", "import", tar.to_str().unwrap(), "base"]);
    let before = snapshot(&root);

    let err = strata_err(&root, &["image", "inspect", "x:y"]);
    assert!(
        err.starts_with("Error: No such image: x:y (`strata image ls`"),
        "{err}"
    );
    let err = strata_err(&root, &["image", "rm", "x:y"]);
    assert!(
        err.starts_with("Error: No such image: x:y (`strata image ls`"),
        "{err}"
    );
    let err = strata_err(&root, &["image", "history", "nope"]);
    assert!(
        err.starts_with("Error: No such image: nope:latest (`strata image ls`"),
        "{err}"
    );
    for bad in ["Upper/Case:tag", "ubuntu:-tag", "a//b", "x..y"] {
        let err = strata_err(&root, &["image", "tag", "base", bad]);
        assert!(
            err.starts_with("Error: invalid reference format"),
            "{bad}: {err}"
        );
    }
    let err = strata_err(
        &root,
        &["image", "import", tar.to_str().unwrap(), "Bad:Name:x"],
    );
    assert!(err.contains("invalid reference format"), "{err}");
    let err = strata_err(
        &root,
        &[
            "image",
            "import",
            "-c",
            "RUN rm -rf /",
            tar.to_str().unwrap(),
        ],
    );
    assert!(err.contains("--change"), "{err}");
    assert_eq!(snapshot(&root), before);
}

#[test]
fn a_newer_catalog_is_refused_untouched() {
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("store");
    let tar = busybox_tarball(work.path(), "");
    strata_ok(&root, &["image", "import", tar.to_str().unwrap(), "base"]);
    let db = root.join("catalog.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
    }
    let bytes = std::fs::read(&db).unwrap();
    let err = strata_err(&root, &["image", "ls"]);
    assert!(
        err.contains("schema version 999") && err.contains("upgrade strata"),
        "{err}"
    );
    let err = strata_err(&root, &["image", "import", tar.to_str().unwrap(), "again"]);
    assert!(err.contains("schema version 999"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), bytes, "catalog changed");
    assert_eq!(count_entries(&root.join("layers")), 1);
}

/// Unmounts on drop, so a failing test leaves no read-only mount behind.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn a_read_only_store_root_is_reported() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "this test needs root (bind mounts)"
    );
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("store");
    let tar = busybox_tarball(work.path(), "");
    strata_ok(&root, &["image", "import", tar.to_str().unwrap(), "base"]);
    use nix::mount::{MsFlags, mount};
    mount(
        Some(&root),
        &root,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .unwrap();
    let _guard = Unmount(root.clone());
    mount(
        None::<&str>,
        &root,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .unwrap();
    let err = strata_err(&root, &["image", "import", tar.to_str().unwrap(), "other"]);
    assert!(err.contains("is not writable"), "{err}");
    let out = strata(&root, &["image", "ls"]);
    assert_eq!(out.status.code(), Some(1));
}
