//! What a newcomer reads: `--version`, `--help` with examples, Docker's
//! `-q` and `--format json`, and colours only on a terminal and never with
//! NO_COLOR. Root and FUSE needed (a busybox image is built and run).
#![allow(clippy::unwrap_used)]

mod common;

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};

use common::store::{busybox_tarball, strata_ok};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

#[test]
fn version_and_help_with_examples() {
    let out = Command::new(common::bin("strata"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(version.starts_with("strata 0."), "{version}");
    for cmd in [
        &["container", "run", "--help"][..],
        &["image", "build", "--help"],
        &["system", "df", "--help"],
    ] {
        let out = Command::new(common::bin("strata"))
            .args(cmd)
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        let name = format!("strata {} {}", cmd[0], cmd[1]);
        assert!(
            help.contains(&format!("Examples:\n  {name}")),
            "{name}: {help}"
        );
    }
}

/// A store with busybox imported and one exited container.
fn store_with_a_container(work: &Path) -> std::path::PathBuf {
    common::require_root_and_fuse();
    let root = work.join("store");
    let tar = busybox_tarball(work, "");
    strata_ok(
        &root,
        &["image", "import", tar.to_str().unwrap(), "busybox"],
    );
    strata_ok(
        &root,
        &["container", "run", "--name", "c1", "busybox", "true"],
    );
    root
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn quiet_and_json_formats_like_docker() {
    let work = tempfile::tempdir().unwrap();
    let root = store_with_a_container(work.path());
    let ps = json_lines(&strata_ok(
        &root,
        &["container", "ps", "-a", "--format", "json"],
    ));
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0]["Names"], "c1");
    assert_eq!(ps[0]["Image"], "busybox");
    assert_eq!(ps[0]["State"], "exited");
    assert!(ps[0]["Status"].as_str().unwrap().starts_with("Exited (0)"));
    let ids = strata_ok(&root, &["container", "ps", "-a", "-q"]);
    assert_eq!(ids.trim(), ps[0]["ID"].as_str().unwrap());

    let history = json_lines(&strata_ok(
        &root,
        &["image", "history", "--format", "json", "busybox"],
    ));
    assert_eq!(history.len(), 1);
    assert!(history[0]["Size"].as_str().unwrap().ends_with("MB"));
    let ls = json_lines(&strata_ok(&root, &["image", "ls", "--format", "json"]));
    assert_eq!(ls[0]["Repository"], "busybox");
    assert_eq!(
        strata_ok(&root, &["image", "ls", "-q"]).trim(),
        ls[0]["ID"].as_str().unwrap()
    );
    let df = json_lines(&strata_ok(&root, &["system", "df", "--format", "json"]));
    assert_eq!(df[0]["Type"], "Images");
    assert_eq!(df[0]["TotalCount"], "1");
    assert_eq!(df[1]["Type"], "Containers");
    for kind in ["image", "container"] {
        let name = if kind == "image" { "busybox" } else { "c1" };
        let out = strata_ok(&root, &[kind, "inspect", "--format", "json", name]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 1, "{kind}");
    }
}

/// Everything the child writes to the terminal until it exits.
fn read_to_end(master: &OwnedFd) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        let n = poll(&mut fds, PollTimeout::from(60_000u16)).unwrap();
        assert!(n > 0, "terminal silent for a minute: {seen:?}");
        match nix::unistd::read(master, &mut buf) {
            Ok(0) | Err(nix::Error::EIO) => return String::from_utf8_lossy(&seen).into_owned(),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// `strata image build` of a RUN step that prints a line, with stderr on
/// a terminal (`tty`) or a pipe; returns what it wrote there.
fn build_stderr(root: &Path, ctx: &Path, tty: bool, no_color: bool) -> String {
    let mut cmd = Command::new(common::bin("strata"));
    cmd.arg("--root")
        .arg(root)
        .args(["image", "build", "--no-cache"])
        .arg(ctx)
        .env_remove("NO_COLOR");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    if !tty {
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        return String::from_utf8_lossy(&out.stderr).into_owned();
    }
    let pty = nix::pty::openpty(None, None).unwrap();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
        .stderr(Stdio::from(pty.slave.try_clone().unwrap()))
        .spawn()
        .unwrap();
    // Only the child may keep the terminal open: its exit is our EOF.
    drop(cmd);
    drop(pty.slave);
    let seen = read_to_end(&pty.master);
    assert!(child.wait().unwrap().success(), "{seen}");
    seen
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let work = tempfile::tempdir().unwrap();
    let root = store_with_a_container(work.path());
    let ctx = work.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo printed-by-run\n",
    )
    .unwrap();
    const DIM: &str = "\x1b[2m  printed-by-run";
    let on_tty = build_stderr(&root, &ctx, true, false);
    assert!(on_tty.contains(DIM), "{on_tty:?}");
    let no_color = build_stderr(&root, &ctx, true, true);
    assert!(no_color.contains("  printed-by-run"), "{no_color:?}");
    assert!(!no_color.contains("\x1b[2m"), "{no_color:?}");
    let piped = build_stderr(&root, &ctx, false, false);
    assert!(piped.contains("printed-by-run"), "{piped}");
    assert!(!piped.contains('\x1b'), "{piped:?}");
}
