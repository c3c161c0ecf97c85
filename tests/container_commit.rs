//! `strata container commit/diff` through the binary: the seed's flow on a
//! busybox image in a real store. Needs root and FUSE.
#![allow(clippy::unwrap_used)]

mod common;
mod container_support;

use container_support::Fixture;

#[test]
fn seed_flow_commit_sees_change_base_does_not() {
    let f = Fixture::new();
    let (code, _, err) = f.container_run(&[
        "--name",
        "c1",
        "busybox",
        "sh",
        "-c",
        "echo hi > /hello; mkdir -p /usr/bin; cp /bin/busybox /usr/bin/mytool",
    ]);
    assert_eq!(code, 0, "{err}");
    let id = f.ok(&["container", "commit", "-m", "seed", "c1", "myimage:v1"]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    let (code, out, err) = f.container_run(&[
        "--rm",
        "myimage:v1",
        "sh",
        "-c",
        "cat /hello; cmp /usr/bin/mytool /bin/busybox && echo installed",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "hi\ninstalled\n");
    let (code, _, _) = f.container_run(&["--rm", "busybox", "cat", "/hello"]);
    assert_eq!(code, 1, "the base image must not see the change");
    let history = f.ok(&["image", "history", "myimage:v1"]);
    assert!(
        history.lines().nth(1).unwrap().contains("seed"),
        "{history}"
    );
    // The container is left intact: its upper still holds the change.
    assert!(
        f.containers_dir()
            .join(f.ok(&["container", "ps", "-aq", "--no-trunc"]).trim())
            .join("upper/hello")
            .is_file()
    );
}

#[test]
fn diff_lines_and_deleted_lower_file_gone_after_commit() {
    let f = Fixture::new();
    let (code, _, err) = f.container_run(&[
        "--name",
        "d1",
        "busybox",
        "sh",
        "-c",
        "rm /bin/ls; echo x >> /etc/passwd; mkdir /new; touch /new/f",
    ]);
    assert_eq!(code, 0, "{err}");
    let diff = f.ok(&["container", "diff", "d1"]);
    // The runtime's mount points (/dev, /proc, /sys, /etc/hosts...) are not
    // changes, as under Docker.
    assert_eq!(
        diff.lines().collect::<Vec<_>>(),
        [
            "C /bin",
            "D /bin/ls",
            "C /etc",
            "C /etc/passwd",
            "A /new",
            "A /new/f"
        ],
        "{diff}"
    );
    f.ok(&[
        "container",
        "commit",
        "-c",
        "CMD [\"cat\", \"/etc/passwd\"]",
        "d1",
        "deleted:v1",
    ]);
    let (code, out, err) = f.container_run(&["--rm", "deleted:v1"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.ends_with("x\n"), "CMD from -c runs: {out}");
    let (code, _, _) = f.container_run(&["--rm", "deleted:v1", "ls", "/"]);
    assert_eq!(code, 127, "ls was deleted in the committed image");
    let (code, out, _) = f.container_run(&[
        "--rm",
        "deleted:v1",
        "sh",
        "-c",
        "test -e /bin/ls || echo absent; test -e /bin/ln && echo kept",
    ]);
    assert_eq!((code, out.as_str()), (0, "absent\nkept\n"));
    let (_, out, _) = f.container_run(&[
        "--rm",
        "busybox",
        "sh",
        "-c",
        "test -e /bin/ls && echo base",
    ]);
    assert_eq!(out, "base\n");
}

#[test]
fn commit_of_a_running_container_pauses_and_keeps_it_running() {
    let f = Fixture::new();
    f.run_detached(
        "live",
        &[
            "busybox",
            "sh",
            "-c",
            "echo state > /state; exec sleep 1000",
        ],
    );
    // The file exists once the shell got past its first command.
    loop {
        let out = f.run(&["container", "exec", "live", "test", "-f", "/state"]);
        if out.status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    f.ok(&["container", "commit", "live", "snap:1"]);
    assert!(f.ok(&["container", "ps"]).contains("live"), "still running");
    let (code, out, err) = f.container_run(&["--rm", "snap:1", "cat", "/state"]);
    assert_eq!((code, out.as_str()), (0, "state\n"), "{err}");
    f.ok(&["container", "rm", "-f", "live"]);
    assert!(f.mounts().is_empty(), "{:?}", f.mounts());
}

#[test]
fn export_flattens_the_container_over_its_image() {
    let f = Fixture::new();
    let (code, _, err) = f.container_run(&[
        "--name",
        "ex",
        "busybox",
        "sh",
        "-c",
        "echo new > /hello; rm /bin/ls",
    ]);
    assert_eq!(code, 0, "{err}");
    let tar = f.work.path().join("ex.tar");
    f.ok(&["container", "export", "-o", tar.to_str().unwrap(), "ex"]);
    let listing = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&tar)
        .output()
        .unwrap();
    assert!(listing.status.success());
    let names = String::from_utf8(listing.stdout).unwrap();
    let has = |n: &str| names.lines().any(|l| l.trim_start_matches("./") == n);
    assert!(has("hello"), "the container's new file: {names}");
    assert!(has("bin/busybox"), "the image's files: {names}");
    assert!(!has("bin/ls"), "a file the container deleted: {names}");
    assert!(!names.contains(".wh."), "no whiteout markers: {names}");
    let content = std::process::Command::new("tar")
        .arg("-xOf")
        .arg(&tar)
        .arg(if names.contains("./hello") {
            "./hello"
        } else {
            "hello"
        })
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&content.stdout), "new\n");
}
