//! Black-box tests of `strata image build --check` through the binary.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn strata(args: &[&str], cwd: &Path) -> Output {
    Command::new(common::bin("strata"))
        .args(args)
        .current_dir(cwd)
        .env("STRATA_ROOT", cwd.join("root"))
        .output()
        .expect("run strata")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A temp dir holding `Dockerfile` with `text`.
fn context(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), text).unwrap();
    dir
}

/// Asserts exit code 1 and that stdout contains `needle`.
fn assert_fails_with(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(1), "{}", stdout(o));
    assert!(
        stdout(o).contains(needle),
        "no {needle:?} in:\n{}",
        stdout(o)
    );
}

#[test]
fn valid_dockerfile_passes_with_exit_0() {
    let dir = context(
        "# syntax=docker/dockerfile:1\nFROM golang:1.22 AS build\nRUN --mount=type=cache,target=/root/.cache go build -o /app\nFROM scratch\nCOPY --from=build /app /app\nENTRYPOINT [\"/app\"]\n",
    );
    let o = strata(&["image", "build", "--check", "."], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("Check complete, no warnings found."),
        "{}",
        stdout(&o)
    );
}

#[test]
fn every_error_is_printed_with_file_line_column_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("ctx")).unwrap();
    std::fs::write(
        dir.path().join("bad.Dockerfile"),
        "FROM alpine\nCOPY --from=later /a /b\nRUNN echo\nFROM alpine AS later\nCOPY --nope=1 a b\nCMD [\"a\", 1]\nENV onlykey\nCMD echo hi\n",
    )
    .unwrap();
    let o = strata(
        &["image", "build", "--check", "-f", "bad.Dockerfile", "ctx"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        vec![
            "bad.Dockerfile:2:6: error: stage \"later\" is used before it is defined",
            "bad.Dockerfile:3:1: error: unknown instruction: RUNN (did you mean RUN?)",
            "bad.Dockerfile:5:6: error: unknown flag: nope (COPY takes --from, --chown, --chmod, --link, --parents, --exclude)",
            "bad.Dockerfile:6:5: error: when using JSON array syntax, arrays must be comprised of strings only",
            "bad.Dockerfile:7:5: error: ENV must have two arguments",
            "bad.Dockerfile:8:5: warning: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (JSONArgsRecommended)",
            "Check failed: 5 error(s), 1 warning(s)",
        ]
    );
}

#[test]
fn missing_from_and_build_args_and_target() {
    let dir = context("ARG BASE\nFROM $BASE AS a\nFROM b AS c\n");
    // Without the build arg the base name is blank.
    let o = strata(&["image", "build", "--check", "."], dir.path());
    assert_fails_with(
        &o,
        "Dockerfile:2:6: error: base name ($BASE) should not be blank",
    );
    let o = strata(
        &[
            "image",
            "build",
            "--check",
            "--build-arg",
            "BASE=alpine",
            "--target",
            "a",
            ".",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = strata(
        &[
            "image",
            "build",
            "--check",
            "--build-arg",
            "BASE=alpine",
            "--target",
            "zz",
            ".",
        ],
        dir.path(),
    );
    assert_fails_with(
        &o,
        "Dockerfile:1:1: error: target stage \"zz\" could not be found",
    );

    std::fs::write(dir.path().join("Dockerfile"), "RUN echo\n").unwrap();
    let o = strata(&["image", "build", "--check", "."], dir.path());
    assert_fails_with(
        &o,
        "Dockerfile:1:1: error: no build stage in current context",
    );
    assert!(stdout(&o).starts_with("Dockerfile:1:1:"), "{}", stdout(&o));
}

#[test]
fn bad_dockerignore_pattern_is_an_error() {
    let dir = context("FROM alpine\n");
    std::fs::write(dir.path().join(".dockerignore"), "target\n[oops\n").unwrap();
    let o = strata(&["image", "build", "--check", "."], dir.path());
    assert_fails_with(
        &o,
        ".dockerignore:2:1: error: syntax error in pattern \"[oops\"",
    );
}

#[test]
fn build_of_a_missing_base_image_names_it_and_the_line() {
    let dir = context("FROM alpine\n");
    let o = strata(
        &[
            "image",
            "build",
            "-t",
            "x:1",
            "--no-cache",
            "--label",
            "a=b",
            "--progress",
            "plain",
            "--iidfile",
            "id",
            ".",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("Error: Dockerfile:1: base image alpine"),
        "{err}"
    );
    let o = strata(&["image", "build", "--check", "missing-dir"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("Error: unable to prepare context"));
}

#[test]
fn dockerfile_from_stdin_and_missing_file() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(common::bin("strata"))
        .args(["image", "build", "--check", "-f", "-", "."])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"FROM a\nMAINTAINER me\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).starts_with("-:2:1: warning: MAINTAINER is deprecated"),
        "{}",
        stdout(&o)
    );

    let o = strata(&["image", "build", "--check", "."], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("Error: reading Dockerfile Dockerfile"));
}
