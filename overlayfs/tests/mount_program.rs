//! The `strata-overlayfs` mount program: fuse-overlayfs's command line,
//! daemon and foreground modes, unmounting with fusermount3/umount, and
//! bad input (one-line error naming the path, non-zero exit, nothing
//! mounted). Integration tests: root + /dev/fuse.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_strata-overlayfs");

fn opts(l: &Layers) -> String {
    format!(
        "lowerdir={}:{},upperdir={},workdir={}",
        l.lower(0, "").display(),
        l.lower(1, "").display(),
        l.upper("").display(),
        l.dir.path().join("work").display()
    )
}

fn run(args: &[&str], mnt: &Path) -> Output {
    Command::new(BIN).args(args).arg(mnt).output().unwrap()
}

#[test]
fn daemon_mode_returns_once_mounted_and_fusermount_unmounts() {
    let l = layers(2);
    l.file(0, "f", "top");
    l.file(1, "g", "bottom");
    let mnt = l.mnt_dir().canonicalize().unwrap();
    let _guard = Unmount(mnt.clone());
    let out = run(&["-o", &opts(&l)], &mnt);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(mounted(&mnt), "not mounted when the program returned");
    assert_eq!(ls(&mnt), ["f", "g"]);
    fs::write(mnt.join("new"), "n").unwrap();
    assert_eq!(fs::read_to_string(l.upper("new")).unwrap(), "n");
    // Other tests of this binary fork children in parallel; a child holds a
    // copy of our (close-on-exec) descriptors until it execs, which can make
    // the mount briefly busy. Retry a bounded number of times.
    let mut last = None;
    for _ in 0..20 {
        let out = Command::new("fusermount3")
            .arg("-u")
            .arg(&mnt)
            .output()
            .unwrap();
        if out.status.success() {
            last = None;
            break;
        }
        last = Some(String::from_utf8_lossy(&out.stderr).into_owned());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(last, None, "fusermount3 -u kept failing");
    assert!(!mounted(&mnt));
}

/// Starts the program with `-f` and waits until its mount appears
/// (bounded, and failing at once if the program exits).
fn spawn_foreground(l: &Layers, mnt: &Path) -> std::process::Child {
    let mut child = Command::new(BIN)
        .args(["-f", "-o", &opts(l)])
        .arg(mnt)
        .spawn()
        .unwrap();
    let mut tries = 0;
    while !mounted(mnt) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "foreground program exited early"
        );
        assert!(tries < 1000, "never mounted");
        tries += 1;
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child
}

#[test]
fn foreground_mode_serves_until_umount() {
    let l = layers(2);
    l.file(1, "g", "bottom");
    let mnt = l.mnt_dir().canonicalize().unwrap();
    let _guard = Unmount(mnt.clone());
    let mut child = spawn_foreground(&l, &mnt);
    assert_eq!(fs::read_to_string(mnt.join("g")).unwrap(), "bottom");
    assert!(Command::new("umount").arg(&mnt).status().unwrap().success());
    assert!(
        child.wait().unwrap().success(),
        "foreground program failed after umount"
    );
}

#[test]
fn sigterm_detaches_the_mount_and_ends_the_server() {
    let l = layers(2);
    let mnt = l.mnt_dir().canonicalize().unwrap();
    let _guard = Unmount(mnt.clone());
    let mut child = spawn_foreground(&l, &mnt);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert!(
        child.wait().unwrap().success(),
        "the server did not end cleanly"
    );
    assert!(!mounted(&mnt), "SIGTERM left the mount behind");
}

#[test]
fn unknown_options_are_ignored_with_a_warning() {
    let l = layers(2);
    let mnt = l.mnt_dir().canonicalize().unwrap();
    let _guard = Unmount(mnt.clone());
    let o = format!(
        "{},context=\"system_u:object_r:container_file_t:s0\",fsync=0,nodev",
        opts(&l)
    );
    let out = run(&["-o", &o], &mnt);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning") && err.contains("context"), "{err}");
    assert!(mounted(&mnt));
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = info
        .lines()
        .find(|l| l.split(' ').nth(4) == mnt.to_str())
        .unwrap();
    assert!(line.contains("nodev"), "{line}");
}

#[test]
fn ro_option_mounts_read_only() {
    let l = layers(2);
    l.file(0, "f", "top");
    let mnt = l.mnt_dir().canonicalize().unwrap();
    let _guard = Unmount(mnt.clone());
    let o = format!(
        "ro,lowerdir={}:{}",
        l.lower(0, "").display(),
        l.lower(1, "").display()
    );
    let out = run(&["-o", &o], &mnt);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read_to_string(mnt.join("f")).unwrap(), "top");
    assert_eq!(errno_of(fs::write(mnt.join("x"), "")), libc::EROFS);
}

/// Runs the program expecting failure: non-zero exit, one stderr line
/// naming `path`, nothing mounted at `mnt`.
fn assert_refused(args: &[&str], mnt: &Path, path: &Path) {
    let out = run(args, mnt);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted bad input: {args:?}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(
        err.contains(path.to_str().unwrap()),
        "error does not name {}: {err}",
        path.display()
    );
    assert!(
        !mounted(&mnt.canonicalize().unwrap_or(mnt.to_path_buf())),
        "left a mount behind"
    );
}

#[test]
fn bad_input_gets_one_line_naming_the_path_and_mounts_nothing() {
    let l = layers(2);
    let mnt = l.mnt_dir().canonicalize().unwrap();
    let _guard = Unmount(mnt.clone());
    let missing = l.dir.path().join("missing");
    let o = format!(
        "lowerdir={},upperdir={}",
        missing.display(),
        l.upper("").display()
    );
    assert_refused(
        &[
            "-o",
            &format!("{o},workdir={}", l.dir.path().join("work").display()),
        ],
        &mnt,
        &missing,
    );

    let file = l.dir.path().join("file");
    fs::write(&file, "").unwrap();
    assert_refused(
        &["-o", &format!("lowerdir={}", l.lower(0, "").display())],
        &file,
        &file,
    );
    assert_refused(
        &["-o", &format!("lowerdir={}", file.display())],
        &mnt,
        &file,
    );

    l.whiteout(0, "hides_nothing");
    let checked = format!("{},check_whiteouts", opts(&l));
    assert_refused(&["-o", &checked], &mnt, &l.lower(0, "hides_nothing"));
    fs::remove_file(l.lower(0, "hides_nothing")).unwrap();

    let shm = tempfile::tempdir_in("/dev/shm").unwrap();
    let o = format!(
        "lowerdir={},upperdir={},workdir={}",
        l.lower(0, "").display(),
        l.upper("").display(),
        shm.path().display()
    );
    assert_refused(&["-o", &o], &mnt, shm.path());
}

#[test]
fn a_busy_mountpoint_is_refused() {
    let l = layers(2);
    let mnt = l.mnt_dir().canonicalize().unwrap();
    let _guard = Unmount(mnt.clone());
    assert!(run(&["-o", &opts(&l)], &mnt).status.success());
    let out = run(&["-o", &opts(&l)], &mnt);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(mnt.to_str().unwrap()) && err.contains("busy"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1);
    assert!(Command::new("umount").arg(&mnt).status().unwrap().success());
    assert!(!mounted(&mnt), "the refused attempt stacked a second mount");
}

#[test]
fn usage_errors_exit_2() {
    let out = Command::new(BIN).arg("/tmp").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("lowerdir"));
}
