//! The benchmark's own tools: the FUSE floor (examples/fuse_floor.rs) is a
//! working filesystem over a merged snapshot of its layers, and
//! `scripts/bench --quick` runs end to end with it beside kernel overlayfs
//! and strata. Needs root and /dev/fuse (fails loudly without).
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{ls, require_root_and_fuse};

/// Built by `cargo test` next to the package's binaries.
fn floor_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_strata-overlayfs"));
    let path = bin.parent().unwrap().join("examples").join("fuse_floor");
    assert!(path.exists(), "{} not built", path.display());
    path
}

fn mounted(mnt: &Path) -> bool {
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
    mounts.contains(&format!(" {} ", mnt.display()))
}

/// A running fuse_floor, unmounted and reaped on drop.
struct Floor {
    child: Child,
    mnt: PathBuf,
}

impl Floor {
    fn start(from: &str, mnt: &Path) -> Floor {
        let child = Command::new(floor_bin())
            .args(["--from", from])
            .arg(mnt)
            .spawn()
            .unwrap();
        let mut floor = Floor {
            child,
            mnt: mnt.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !mounted(mnt) {
            assert!(
                floor.child.try_wait().unwrap().is_none(),
                "fuse_floor exited before mounting"
            );
            assert!(Instant::now() < deadline, "fuse_floor did not mount");
            std::thread::sleep(Duration::from_millis(20));
        }
        floor
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mnt).status();
        if mounted(&self.mnt) {
            let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
        }
        let _ = self.child.wait();
    }
}

#[test]
fn fuse_floor_serves_the_merged_layers_and_changes_in_memory() {
    let layers = common::layers(2);
    layers.file(1, "d/old", "0123456789");
    layers.file(1, "gone", "x");
    layers.file(1, "opaque/hidden", "x");
    layers.file(0, "d/new", "abc");
    layers.whiteout(0, "gone");
    let opaque = layers.dir(0, "opaque");
    assert!(
        common::setxattr(&opaque, "trusted.overlay.opaque", "y")
            .status
            .success()
    );
    let (top, bottom, mnt) = (layers.lower(0, ""), layers.lower(1, ""), layers.mnt_dir());

    let from = format!("{}:{}", top.display(), bottom.display());
    let _floor = Floor::start(&from, &mnt);

    assert_eq!(ls(&mnt), ["d", "opaque"]);
    assert_eq!(ls(&mnt.join("d")), ["new", "old"]);
    assert!(ls(&mnt.join("opaque")).is_empty());
    assert_eq!(fs::metadata(mnt.join("d/old")).unwrap().size(), 10);
    assert_eq!(fs::read(mnt.join("d/new")).unwrap(), vec![0u8; 3]);

    // Changes live in memory: sizes move, names come and go.
    fs::write(mnt.join("d/made"), vec![7u8; 5000]).unwrap();
    assert_eq!(fs::metadata(mnt.join("d/made")).unwrap().size(), 5000);
    fs::rename(mnt.join("d/made"), mnt.join("d/moved")).unwrap();
    fs::remove_file(mnt.join("d/old")).unwrap();
    fs::create_dir(mnt.join("e")).unwrap();
    assert_eq!(ls(&mnt.join("d")), ["moved", "new"]);
    let err = fs::remove_dir(mnt.join("d")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOTEMPTY));
    fs::remove_dir(mnt.join("e")).unwrap();
    assert_eq!(ls(&mnt), ["d", "opaque"]);
    // The layers themselves are never touched.
    assert_eq!(fs::read(bottom.join("d/old")).unwrap(), b"0123456789");
}

/// `scripts/bench --quick` on one workload with kernel overlayfs, strata
/// (this build) and the floor: the script works and prints a row with a
/// time for each of them.
#[test]
fn bench_script_runs_quick_with_the_floor_column() {
    require_root_and_fuse();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(root.join("scripts/bench"))
        .args(["--quick", "--reps", "1", "--only", "create 20k"])
        .args(["--peers", "kernel,strata,fuse-floor"])
        .env("STRATA_BENCH_DIR", work.path())
        .env("STRATA_OVERLAYFS", env!("CARGO_BIN_EXE_strata-overlayfs"))
        .env("FUSE_FLOOR", floor_bin())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "scripts/bench failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = stdout
        .lines()
        .find(|l| l.starts_with("| create 20k files |"))
        .unwrap_or_else(|| panic!("no table row in:\n{stdout}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    // | name | kernel | fuse-overlayfs | strata | fuse-floor | ...
    for (i, peer) in [(2, "kernel"), (4, "strata"), (5, "fuse-floor")] {
        let secs: f64 = cells[i]
            .parse()
            .unwrap_or_else(|_| panic!("no time for {peer} in {row}"));
        assert!(secs > 0.0, "{peer}: {row}");
    }
    assert_eq!(cells[3], "-", "fuse-overlayfs was not asked for: {row}");
    assert!(
        !mounted(&work.path().join("mnt/strata-m/merged")),
        "the bench left a mount"
    );
}
