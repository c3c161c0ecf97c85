//! Helpers of the runtime tests: a busybox container in a temp dir, run
//! through `builder::runtime` with the real `strata` binary as the init.

use std::path::{Path, PathBuf};

use builder::runtime::{Container, ContainerSpec, ExitStatus, ProcessSpec, Runtime, log};
use tempfile::TempDir;

use super::busybox::busybox_rootfs;

/// Panics unless root: the runtime tests create namespaces and mounts.
pub fn require_root() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "the runtime tests need root (namespaces, mounts)"
    );
}

/// A fresh busybox rootfs plus state dir and log path, all in one temp dir
/// that goes away with the value. Nothing to unmount: every mount a
/// container makes lives in its own mount namespace and dies with it.
pub struct TestContainer {
    pub dir: TempDir,
    pub spec: ContainerSpec,
}

impl TestContainer {
    pub fn new(args: &[&str]) -> Self {
        require_root();
        let dir = tempfile::tempdir().expect("tempdir");
        let rootfs = busybox_rootfs(&dir.path().join("rootfs"));
        let mut spec = ContainerSpec::new(
            rootfs,
            dir.path().join("state"),
            "testbox",
            ProcessSpec::new(args.iter().copied()),
        );
        spec.log_path = Some(dir.path().join("container.log"));
        TestContainer { dir, spec }
    }

    pub fn rootfs(&self) -> &Path {
        &self.spec.rootfs
    }

    pub fn runtime() -> Runtime {
        Runtime::new(super::bin("strata"))
    }

    pub fn start(&self) -> Container {
        Self::runtime().run(&self.spec).expect("container starts")
    }

    /// Runs to completion; returns the status and what it wrote to stdout
    /// and stderr (read back from the container log).
    pub fn run(&self) -> (ExitStatus, String, String) {
        let status = self.start().wait().expect("wait");
        let (out, err) = self.output();
        (status, out, err)
    }

    /// stdout and stderr so far, from the log.
    pub fn output(&self) -> (String, String) {
        let path: PathBuf = self.spec.log_path.clone().expect("log path");
        let entries = if path.exists() {
            log::read_log(&path).expect("read log")
        } else {
            Vec::new()
        };
        let collect = |stream: &str| {
            entries
                .iter()
                .filter(|e| e.stream == stream)
                .map(|e| e.log.as_str())
                .collect::<String>()
        };
        (collect("stdout"), collect("stderr"))
    }
}

/// `sh -c SCRIPT` in a fresh container: status and stdout, stderr.
pub fn sh(script: &str) -> (ExitStatus, String, String) {
    TestContainer::new(&["sh", "-c", script]).run()
}
