//! Disk full: the store on a size-limited tmpfs, filled during a build (a
//! RUN writing a big file, a COPY of a big file), a load and an import.
//! strata fails with one `Error:` line saying no space is left and naming
//! the operation, keeps nothing half-written (no layer dir, no catalog row,
//! no lease, no staging, no mount), and once space is freed the same
//! command succeeds.
#![allow(clippy::unwrap_used)]

mod common;
mod container_support;
mod fault_support;

use std::path::{Path, PathBuf};

use common::store::{busybox_tarball, strata, strata_ok};
use fault_support::{BIG, Tmpfs, assert_no_mounts, assert_sound, big_file, path_str};

/// A store on a 64 MiB tmpfs holding busybox, and a filler file beside the
/// store leaving about 8 MiB free. Removing the filler frees the space.
struct FullStore {
    /// Declared first: dropped (unmounted) before the temp dirs go.
    _fs: Tmpfs,
    root: PathBuf,
    filler: PathBuf,
    work: tempfile::TempDir,
    /// Layer dirs and (layer rows, image rows) before the disk was filled.
    before: (Vec<String>, (i64, i64)),
}

impl FullStore {
    fn new() -> FullStore {
        FullStore::leaving(8 << 20)
    }

    /// The same, leaving `keep` bytes free (0: the disk is full before the
    /// command starts, so even the catalog cannot grow).
    fn leaving(keep: u64) -> FullStore {
        common::require_root_and_fuse();
        let fs = Tmpfs::new("64m");
        let work = tempfile::tempdir().unwrap();
        let root = fs.dir.join("store");
        let tar = busybox_tarball(work.path(), "");
        strata_ok(&root, &["image", "import", &path_str(&tar), "busybox"]);
        let before = (layer_dirs(&root), catalog_rows(&root));
        let filler = fs.dir.join("filler");
        let free = fs.free();
        assert!(free > keep + (BIG as u64), "tmpfs too small: {free}");
        std::fs::write(&filler, vec![1u8; (free - keep) as usize]).unwrap();
        if keep == 0 {
            // Page rounding can leave a little: fill it with a second file.
            let mut f = std::fs::File::create(fs.dir.join("filler2")).unwrap();
            use std::io::Write;
            while f.write_all(&[1u8; 4096]).is_ok() {}
        }
        FullStore {
            _fs: fs,
            root,
            filler,
            work,
            before,
        }
    }

    /// Runs the command expecting the disk-full failure; returns its line.
    /// Nothing half-written on disk: no new layer dir, no staging, no mount
    /// (the catalog is checked once there is space to open it again).
    fn fails_for_space(&self, args: &[&str], operation: &str) -> String {
        let out = strata(&self.root, args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_ne!(
            out.status.code(),
            Some(0),
            "{args:?} succeeded on a full disk"
        );
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("Error: ")).collect();
        assert_eq!(lines.len(), 1, "one Error: line expected: {err}");
        let line = lines[0].to_string();
        assert!(
            line.contains("no space left"),
            "the error must say no space is left: {line}"
        );
        assert!(line.contains(operation), "must name {operation}: {line}");
        assert_eq!(layer_dirs(&self.root), self.before.0, "layer dir added");
        let tmp: Vec<_> = std::fs::read_dir(self.root.join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(tmp.is_empty(), "staging kept: {tmp:?}");
        assert_no_mounts(&self.root, &[]);
        eprintln!("{line}");
        line
    }

    /// Frees the space, runs `args` again: it must succeed now.
    fn free_and_retry(&self, args: &[&str]) -> String {
        std::fs::remove_file(&self.filler).unwrap();
        let _ = std::fs::remove_file(self._fs.dir.join("filler2"));
        assert_eq!(catalog_rows(&self.root), self.before.1, "rows added");
        let conn = rusqlite::Connection::open(self.root.join("catalog.db")).unwrap();
        let leases: i64 = conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM layer_leases) + (SELECT COUNT(*) FROM image_leases)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(leases, 0, "leases kept");
        let out = strata_ok(&self.root, args);
        assert_sound(&self.root);
        out
    }
}

fn layer_dirs(root: &Path) -> Vec<String> {
    let mut dirs: Vec<String> = std::fs::read_dir(root.join("layers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    dirs
}

/// (layer rows, image rows).
fn catalog_rows(root: &Path) -> (i64, i64) {
    let conn = rusqlite::Connection::open(root.join("catalog.db")).unwrap();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    (
        count("SELECT COUNT(*) FROM layers"),
        count("SELECT COUNT(*) FROM images"),
    )
}

fn build_args(ctx: &Path) -> Vec<String> {
    ["image", "build", "--progress", "plain", "-t", "out:1"]
        .iter()
        .map(|s| s.to_string())
        .chain([path_str(ctx)])
        .collect()
}

#[test]
fn disk_full_during_a_run_step() {
    let s = FullStore::new();
    let ctx = s.work.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM busybox\nRUN head -c {BIG} /dev/zero >/big\n"),
    )
    .unwrap();
    let args = build_args(&ctx);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let line = s.fails_for_space(&args, "process \"/bin/sh -c head");
    assert!(line.contains("Dockerfile:2"), "{line}");
    s.free_and_retry(&args);
}

#[test]
fn disk_full_during_a_copy_step() {
    let s = FullStore::new();
    let ctx = s.work.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nCOPY big /big\n").unwrap();
    big_file(&ctx.join("big"));
    let args = build_args(&ctx);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let line = s.fails_for_space(&args, "COPY");
    assert!(line.contains("Dockerfile:2"), "{line}");
    s.free_and_retry(&args);
}

#[test]
fn disk_full_during_an_import() {
    let s = FullStore::new();
    big_file(&s.work.path().join("busybox-rootfs/big"));
    let tar = busybox_tarball(s.work.path(), "--gzip");
    let args = ["image", "import", tar.to_str().unwrap(), "big:1"];
    s.fails_for_space(&args, "import");
    s.free_and_retry(&args);
}

#[test]
fn disk_full_during_a_load() {
    let s = FullStore::new();
    // The archive is made in a store on the normal disk.
    let src = s.work.path().join("src");
    let tar = busybox_tarball(s.work.path(), "");
    strata_ok(&src, &["image", "import", &path_str(&tar), "busybox"]);
    let ctx = s.work.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nCOPY big /big\n").unwrap();
    big_file(&ctx.join("big"));
    strata_ok(
        &src,
        &["image", "build", "-q", "-t", "big:1", &path_str(&ctx)],
    );
    let archive = s.work.path().join("big.tar");
    strata_ok(&src, &["image", "save", "-o", &path_str(&archive), "big:1"]);

    let args = ["image", "load", "-i", archive.to_str().unwrap()];
    s.fails_for_space(&args, "load");
    let out = s.free_and_retry(&args);
    assert!(out.contains("Loaded image: big:1"), "{out}");
}

/// The disk full at several levels, so ENOSPC strikes at different stages:
/// extraction, the sync and rename, the catalog (SQLite's "database or
/// disk is full"). Short: completely full; long: also 4 MiB, 1 MiB, 64 KiB.
#[test]
fn disk_full_at_every_level_during_an_import() {
    let levels: &[u64] = if fault_support::long() {
        &[4 << 20, 1 << 20, 64 << 10, 0]
    } else {
        &[0]
    };
    for &keep in levels {
        let s = FullStore::leaving(keep);
        big_file(&s.work.path().join("busybox-rootfs/big"));
        let tar = busybox_tarball(s.work.path(), "");
        let args = ["image", "import", tar.to_str().unwrap(), "big:1"];
        s.fails_for_space(&args, "import");
        s.free_and_retry(&args);
    }
}
