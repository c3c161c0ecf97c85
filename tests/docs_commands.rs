//! The docs cannot drift from the code: every command shown in README.md
//! and examples/README.md runs here, exactly as written, in order, on a
//! fresh store (`STRATA_ROOT` in a temp dir, the built binaries first on
//! `PATH`), from a copy of the repository's `examples/` (commands change
//! files there). The example scripts run through the commands that name
//! them and check their own results. Commands marked `# manual: REASON`
//! are not run; anything else that fails fails the test.
//!
//! Needs root, /dev/fuse and the machine's Debian mirror (the walkthrough
//! bootstraps `debian:bookworm` once and installs nginx and PHP in it):
//! about 4 minutes here.
#![allow(clippy::unwrap_used)]

mod common;
mod container_support;
mod docs_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::store::strata_ok;
use docs_support::{DocCommand, extract, scripts, unrun_scripts};

/// The documents whose commands run, in this order (README.md makes the
/// base image the examples' README uses).
const DOCS: [&str; 2] = ["README.md", "examples/README.md"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn all_commands() -> Vec<DocCommand> {
    let mut out = Vec::new();
    for doc in DOCS {
        let text = std::fs::read_to_string(repo().join(doc)).unwrap();
        let (commands, _) = extract(doc, &text).unwrap_or_else(|e| panic!("{e}"));
        out.extend(commands);
    }
    out
}

/// The example scripts as (path under examples/, text).
fn example_scripts() -> Vec<(String, String)> {
    let dir = repo().join("examples");
    scripts(&dir)
        .into_iter()
        .map(|p| {
            let name = p.strip_prefix(&dir).unwrap().display().to_string();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// Fast checks of the docs themselves: they parse, every example script is
/// run by some command, every script is executable, and every Dockerfile
/// shown in a document is the example's file, byte for byte.
#[test]
fn docs_show_every_example_and_mark_what_cannot_run() {
    let commands = all_commands();
    assert!(commands.len() >= 20, "{} commands found", commands.len());
    let manual: Vec<&DocCommand> = commands.iter().filter(|c| c.manual.is_some()).collect();
    assert!(
        manual.len() <= 6,
        "too many commands the test cannot run: {manual:#?}"
    );
    let scripts = example_scripts();
    assert!(scripts.len() >= 4, "{scripts:?}");
    let unrun = unrun_scripts(&commands, &scripts);
    assert!(unrun.is_empty(), "no documented command runs {unrun:?}");
    for (name, _) in &scripts {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(repo().join("examples").join(name))
            .unwrap()
            .permissions()
            .mode();
        assert!(mode & 0o111 != 0, "examples/{name} is not executable");
    }
    let dockerfiles: Vec<String> = std::fs::read_dir(repo().join("examples"))
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path().join("Dockerfile")).ok())
        .collect();
    for doc in DOCS {
        let text = std::fs::read_to_string(repo().join(doc)).unwrap();
        let (_, blocks) = extract(doc, &text).unwrap();
        for b in blocks.iter().filter(|b| b.lang == "dockerfile") {
            assert!(
                dockerfiles.contains(&b.text),
                "{}: this Dockerfile is not any examples/*/Dockerfile:\n{}",
                b.at,
                b.text
            );
        }
    }
}

/// Detaches whatever a failed command left mounted under the work dir.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let mut mounts = container_support::mounts_under(&self.0);
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = nix::mount::umount2(Path::new(&m), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// The last `n` lines of `s`.
fn tail(s: &[u8], n: usize) -> String {
    let s = String::from_utf8_lossy(s);
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[test]
fn every_documented_command_runs() {
    common::require_root_and_fuse();
    let work = tempfile::tempdir().unwrap();
    let _unmount = Unmount(work.path().to_path_buf());
    let status = Command::new("cp")
        .arg("-a")
        .arg(repo().join("examples"))
        .arg(work.path())
        .status()
        .unwrap();
    assert!(status.success(), "copying examples/");
    let root = work.path().join("store");
    let bin_dir = common::bin("strata").parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let started = Instant::now();
    for c in all_commands() {
        if let Some(reason) = &c.manual {
            eprintln!("{}: not run ({reason}): {}", c.at, c.text);
            continue;
        }
        let t = Instant::now();
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", &c.text])
            .current_dir(work.path())
            .env("PATH", &path)
            .env("STRATA_ROOT", &root)
            .env("STRATA_AUTH_FILE", root.join("auth.json"))
            .env("DOCKER_CONFIG", root.join("docker-config"))
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        eprintln!("{}: {:.1}s: {}", c.at, t.elapsed().as_secs_f64(), c.text);
        assert!(
            out.status.success(),
            "{}: `{}` failed ({}):\n--- stdout (tail)\n{}\n--- stderr (tail)\n{}",
            c.at,
            c.text,
            out.status,
            tail(&out.stdout, 40),
            tail(&out.stderr, 40)
        );
    }
    eprintln!(
        "all documented commands: {:.0}s",
        started.elapsed().as_secs_f64()
    );
    let left = container_support::mounts_under(work.path());
    assert!(left.is_empty(), "the docs' commands left mounts: {left:?}");
    let check = strata_ok(&root, &["system", "check"]);
    assert!(check.contains("0 problems"), "{check}");
}
