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
    use std::io::Read;
    let f = Fixture::new();
    f.write("Dockerfile", "FROM busybox\nRUN echo started; sleep 600\n");
    let before = f.image_count();
    let (mut child, mut err, mut seen) = f.spawn_until(&["-t", "cancelled"], "#2 started");
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

/// Processes whose command line is exactly `args`.
fn processes_running(args: &[&str]) -> usize {
    let want: Vec<u8> = args
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.unwrap().path().join("cmdline")).ok())
        .filter(|c| *c == want)
        .count()
}

#[test]
fn the_next_build_cleans_what_a_killed_build_left() {
    let f = Fixture::new();
    f.write("Dockerfile", "FROM busybox\nRUN echo started; sleep 6071\n");
    let (mut child, _err, _) = f.spawn_until(&[], "#2 started");
    // `started` is printed before the shell execs sleep: wait for it.
    let mut polls = 0;
    while processes_running(&["sleep", "6071"]) == 0 {
        polls += 1;
        assert!(polls < 3000, "the container's sleep never started");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The killed build's session staging (with its dead mount) remains.
    assert!(std::fs::read_dir(f.root.join("tmp")).unwrap().count() > 0);
    // Any build recovers first: kills the orphan, detaches the dead mount,
    // removes the staging.
    f.write("Dockerfile", "FROM busybox\nENV A=1\n");
    f.build_ok(&[]);
    assert_eq!(processes_running(&["sleep", "6071"]), 0);
    f.assert_no_leftovers();
}
