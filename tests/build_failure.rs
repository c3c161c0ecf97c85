//! What a failed build leaves behind: nothing (no image, tag, mount or
//! staging), and what it says (exit code, last output lines, Dockerfile
//! line). Needs root and /dev/fuse.
#![allow(clippy::unwrap_used)]

mod build_util;
mod common;

use build_util::Fixture;

#[test]
fn failing_run_reports_and_leaves_nothing() {
    let f = Fixture::new();
    f.write(
        "Dockerfile",
        "FROM busybox\nRUN echo kept > /k\nRUN echo out-line; echo err-line >&2; exit 3\nCMD [\"true\"]\n",
    );
    let before = f.image_count();
    let out = f.build(&["-t", "broken:1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("exit code: 3"), "{err}");
    assert!(err.contains("Error: Dockerfile:3:"), "{err}");
    let tail = err.split("------").nth(1).unwrap();
    assert!(
        tail.contains("out-line") && tail.contains("err-line"),
        "{err}"
    );
    // Step 2 ran and is kept as a cache entry (as Docker); no final image.
    assert_eq!(f.image_count(), before + 1);
    let tags = common::store::strata_ok(&f.root, &["image", "ls"]);
    assert!(!tags.contains("broken"), "{tags}");
    f.assert_no_leftovers();
}

#[test]
fn copy_errors_name_the_file_and_line() {
    let f = Fixture::new();
    std::fs::write(f.work.path().join("outside"), "secret").unwrap();
    std::os::unix::fs::symlink("../outside", f.ctx.join("link")).unwrap();
    f.write("ignored.txt", "x");
    f.write(".dockerignore", "ignored.txt\n");
    let cases = [
        ("COPY missing /m", "missing"),
        ("COPY ../outside /o", "outside the build context"),
        ("COPY link /o", "outside the build context"),
        ("COPY ignored.txt /i", "ignored.txt"),
        ("ADD http://example.invalid/x /x", "not supported"),
    ];
    for (line, expect) in cases {
        f.write("Dockerfile", &format!("FROM busybox\n{line}\n"));
        let out = f.build(&[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{line} succeeded");
        assert!(
            err.contains("Dockerfile:2:") && err.contains(expect),
            "{line}: {err}"
        );
        f.assert_no_leftovers();
    }
}

#[test]
fn sigterm_during_run_cancels_cleanly() {
    use std::io::{BufRead, BufReader, Read};
    let f = Fixture::new();
    f.write("Dockerfile", "FROM busybox\nRUN echo started; sleep 600\n");
    let before = f.image_count();
    let mut child = common::store::spawn_strata(
        &f.root,
        &[
            "image",
            "build",
            "--progress",
            "plain",
            "-t",
            "cancelled",
            f.ctx.to_str().unwrap(),
        ],
    );
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    // Wait (by reading, not sleeping) until the container printed.
    loop {
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "ended early: {seen}");
        seen.push_str(&line);
        if line.trim() == "#2 started" {
            break;
        }
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    err.read_to_string(&mut seen).unwrap();
    assert_eq!(status.code(), Some(1), "{seen}");
    assert!(seen.contains("Error: build interrupted"), "{seen}");
    assert_eq!(f.image_count(), before);
    f.assert_no_leftovers();
}
