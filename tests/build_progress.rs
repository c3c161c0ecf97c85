//! Build progress on a terminal (through a pseudo-terminal the test opens)
//! and on a pipe. Needs root and /dev/fuse.
#![allow(clippy::unwrap_used)]

mod build_util;
mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use build_util::Fixture;
use common::pty::{read_until, read_until_match};

/// `strata image build ARGS CTX` with stdout and stderr on a new pty.
/// `no_color` sets NO_COLOR=1 (else it is removed from the environment).
fn build_on_pty(
    f: &Fixture,
    args: &[&str],
    no_color: bool,
) -> (std::process::Child, nix::pty::OpenptyResult) {
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave = || Stdio::from(pty.slave.try_clone().unwrap());
    let mut cmd = Command::new(common::bin("strata"));
    cmd.env_remove("NO_COLOR");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let child = cmd
        .arg("--root")
        .arg(&f.root)
        .args(["image", "build"])
        .args(args)
        .arg(&f.ctx)
        .env("COLUMNS", "100")
        .stdin(Stdio::null())
        .stdout(slave())
        .stderr(slave())
        .spawn()
        .unwrap();
    (child, pty)
}

/// The one cache-mount directory of the store.
fn gate_dir(f: &Fixture) -> PathBuf {
    let base = f.root.join("build-cache-mounts");
    std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap()
}

#[test]
fn tty_progress_ticks_and_folds_finished_steps() {
    let f = Fixture::new();
    // The RUN waits until the test opens the gate (a file in its cache
    // mount), so the test can watch the elapsed time move without timing
    // anything itself.
    f.write(
        "Dockerfile",
        "FROM busybox
RUN echo step-output
RUN --mount=type=cache,id=gate,target=/gate echo waiting && while [ ! -e /gate/go ]; do sleep 0.05; done
",
    );
    // The third round: a terminal, but NO_COLOR: the same view, no colour.
    for (progress, no_color) in [("tty", false), ("auto", false), ("tty", true)] {
        let (mut child, pty) = build_on_pty(&f, &["--no-cache", "--progress", progress], no_color);
        let mut seen = String::new();
        // The first RUN is folded into one line once done.
        read_until(
            &pty.master,
            &mut seen,
            "\x1b[J#2 [2/3] RUN echo step-output DONE ",
        );
        // The waiting step's output is shown dimmed below its header...
        let waiting = if no_color {
            "\n  waiting\r\n"
        } else {
            "\x1b[2m  waiting\x1b[0m"
        };
        read_until(&pty.master, &mut seen, waiting);
        // ...and its header is redrawn with a growing time.
        let header = "#3 [3/3] RUN --mount=type=cache,id=gate,target=/gate";
        read_until_match(&pty.master, &mut seen, "a ticked header", |s| {
            s.lines().any(|l| {
                let l = l.trim_end();
                l.contains(header) && l.ends_with('s') && !l.ends_with(" 0.0s")
            })
        });
        std::fs::write(gate_dir(&f).join("go"), "").unwrap();
        read_until(&pty.master, &mut seen, "writing image");
        let status = child.wait().unwrap();
        assert!(status.success(), "{seen}");
        if no_color {
            assert!(!seen.contains("\x1b[2m"), "colour with NO_COLOR: {seen:?}");
        }
        // The finished step is one line: header and verdict.
        assert!(
            seen.lines()
                .any(|l| l.contains(header) && l.contains(" DONE ")),
            "{seen:?}"
        );
        // Next round: the cache mount (and its gate file) outlives builds.
        std::fs::remove_file(gate_dir(&f).join("go")).unwrap();
    }
    f.assert_no_leftovers();
}

#[test]
fn auto_progress_is_plain_on_a_pipe() {
    let f = Fixture::new();
    f.write("Dockerfile", "FROM busybox\nRUN echo piped\n");
    let out = common::store::strata(
        &f.root,
        &[
            "image",
            "build",
            "--progress",
            "auto",
            f.ctx.to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("#2 piped\n#2 DONE "), "{err}");
    assert!(!err.contains('\x1b'), "escape sequences on a pipe: {err:?}");
}
