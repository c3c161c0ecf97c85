//! Shared fixture of the `build_*` tests: a store with busybox imported as
//! `busybox`, a context dir, builds through the binary, and reading images
//! (config, files through their layers) without mounting them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{
    self,
    store::{busybox_tarball, strata, strata_ok},
};

pub struct Fixture {
    pub work: tempfile::TempDir,
    pub root: PathBuf,
    pub ctx: PathBuf,
}

impl Fixture {
    pub fn new() -> Fixture {
        common::require_root_and_fuse();
        let work = tempfile::tempdir().unwrap();
        let root = work.path().join("store");
        let tar = busybox_tarball(work.path(), "");
        strata_ok(
            &root,
            &["image", "import", tar.to_str().unwrap(), "busybox"],
        );
        let ctx = work.path().join("ctx");
        std::fs::create_dir(&ctx).unwrap();
        Fixture { work, root, ctx }
    }

    pub fn write(&self, rel: &str, content: &str) {
        let p = self.ctx.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    /// `strata image build --progress plain ARGS CTX`.
    pub fn build(&self, args: &[&str]) -> Output {
        let mut all = vec!["image", "build", "--progress", "plain"];
        all.extend_from_slice(args);
        all.push(self.ctx.to_str().unwrap());
        strata(&self.root, &all)
    }

    /// Builds, asserts success; returns (image id, progress output).
    pub fn build_ok(&self, args: &[&str]) -> (String, String) {
        let iid = self.work.path().join("iid");
        let _ = std::fs::remove_file(&iid);
        let mut all = vec!["--iidfile", iid.to_str().unwrap()];
        all.extend_from_slice(args);
        let out = self.build(&all);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "build failed: {err}");
        (std::fs::read_to_string(&iid).unwrap(), err)
    }

    /// Builds, asserts failure; returns the progress and error output.
    pub fn build_fails(&self, args: &[&str]) -> String {
        let out = self.build(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "build succeeded: {err}");
        err
    }

    pub fn inspect(&self, image: &str) -> serde_json::Value {
        let out = strata_ok(&self.root, &["image", "inspect", image]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v[0].clone()
    }

    /// Layer dirs of an image, top-most first.
    pub fn layers(&self, image: &str) -> Vec<PathBuf> {
        let v = self.inspect(image);
        let mut dirs: Vec<PathBuf> = v["RootFS"]["Layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let hex = d.as_str().unwrap().trim_start_matches("sha256:");
                self.root.join("layers").join(hex)
            })
            .collect();
        dirs.reverse();
        dirs
    }

    /// Where `path` of the image lives (top-most layer holding it).
    pub fn file(&self, image: &str, path: &str) -> Option<PathBuf> {
        let rel = path.trim_start_matches('/');
        self.layers(image)
            .into_iter()
            .map(|l| l.join(rel))
            .find(|p| std::fs::symlink_metadata(p).is_ok())
    }

    pub fn read(&self, image: &str, path: &str) -> String {
        let p = self
            .file(image, path)
            .unwrap_or_else(|| panic!("{path} not in {image}"));
        std::fs::read_to_string(p).unwrap()
    }

    /// Ids of every image in the catalog.
    pub fn image_count(&self) -> i64 {
        let conn = rusqlite::Connection::open(self.root.join("catalog.db")).unwrap();
        conn.query_row("SELECT count(*) FROM images", [], |r| r.get(0))
            .unwrap()
    }

    /// Nothing of a build may remain: no staging in tmp/ besides session
    /// lock files, no mount under the store.
    pub fn assert_no_leftovers(&self) {
        let tmp = self.root.join("tmp");
        let left: Vec<_> = std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "left in tmp/: {left:?}");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let root = self.root.canonicalize().unwrap();
        assert!(
            !mounts.contains(root.to_str().unwrap()),
            "mount left under the store: {mounts}"
        );
    }
}

/// Lines of `progress` that start with `#N `, for step N.
pub fn step_lines(progress: &str, step: usize) -> Vec<String> {
    let p = format!("#{step} ");
    progress
        .lines()
        .filter(|l| l.starts_with(&p))
        .map(|l| l[p.len()..].to_string())
        .collect()
}

/// Whether step N was cached.
pub fn cached(progress: &str, step: usize) -> bool {
    step_lines(progress, step).iter().any(|l| l == "CACHED")
}

pub fn path_exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

impl Fixture {
    /// The image's config document as stored (history, OnBuild...).
    pub fn raw_config(&self, id: &str) -> serde_json::Value {
        let conn = rusqlite::Connection::open(self.root.join("catalog.db")).unwrap();
        let raw: Vec<u8> = conn
            .query_row("SELECT config FROM images WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap();
        serde_json::from_slice(&raw).unwrap()
    }
}

type Stderr = std::io::BufReader<std::process::ChildStderr>;

impl Fixture {
    /// Starts a build (plain progress) and reads its stderr until the line
    /// `until` (waiting by reading, not sleeping); returns the child, the
    /// rest of stderr and what was read.
    // The child is returned to the caller, who waits for it; clippy cannot
    // see that across the return.
    #[allow(clippy::zombie_processes)]
    pub fn spawn_until(&self, args: &[&str], until: &str) -> (std::process::Child, Stderr, String) {
        use std::io::BufRead;
        let mut all = vec!["image", "build", "--progress", "plain"];
        all.extend_from_slice(args);
        all.push(self.ctx.to_str().unwrap());
        let mut child = common::store::spawn_strata(&self.root, &all);
        let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            if err.read_line(&mut line).unwrap() == 0 {
                let status = child.wait();
                panic!("ended early ({status:?}): {seen}");
            }
            seen.push_str(&line);
            if line.trim() == until {
                return (child, err, seen);
            }
        }
    }
}
