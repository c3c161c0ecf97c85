//! Shared setup of the container tests: a store with busybox imported, and
//! checks that no mount of the store is left behind.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::store::{busybox_tarball, strata, strata_ok};

/// A per-test store holding `busybox:latest`. Drop detaches any mount left
/// under the store (a failing test must not leave one behind).
pub struct Fixture {
    pub work: tempfile::TempDir,
    pub root: PathBuf,
}

impl Fixture {
    pub fn new() -> Fixture {
        crate::common::require_root_and_fuse();
        let work = tempfile::tempdir().unwrap();
        let root = work.path().join("store");
        let tar = busybox_tarball(work.path(), "");
        strata_ok(
            &root,
            &["image", "import", tar.to_str().unwrap(), "busybox"],
        );
        Fixture { work, root }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        strata(&self.root, args)
    }

    pub fn ok(&self, args: &[&str]) -> String {
        strata_ok(&self.root, args)
    }

    /// `container run ARGS...`: (exit code, stdout, stderr).
    pub fn container_run(&self, args: &[&str]) -> (i32, String, String) {
        let mut all = vec!["container", "run"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `container run -d --name NAME ARGS...`; returns the printed id.
    pub fn run_detached(&self, name: &str, args: &[&str]) -> String {
        let mut all = vec!["container", "run", "-d", "--name", name];
        all.extend_from_slice(args);
        self.ok(&all).trim().to_string()
    }

    pub fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }

    /// Mount points under the store, from /proc/self/mountinfo.
    pub fn mounts(&self) -> Vec<String> {
        mounts_under(&self.root)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // A failing test may leave `-d` containers running: their
        // supervisors are killed (each container's init then kills it).
        kill_supervisors(&self.root);
        for m in self.mounts() {
            let _ = nix::mount::umount2(Path::new(&m), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// SIGKILLs the container supervisors (`strata --root ROOT container
/// __supervise ID`) of the store at `root`.
pub fn kill_supervisors(root: &Path) {
    let needle = format!("--root\0{}\0container\0__supervise", root.display());
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(&needle) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.to_str().unwrap().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|p| p.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}
