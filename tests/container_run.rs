//! `strata container run/ps/rm` through the binary, on a busybox image in a
//! real store, with real union mounts and namespaces. Needs root and FUSE.
#![allow(clippy::unwrap_used)]

mod common;
mod container_support;

use container_support::Fixture;

#[test]
fn pid1_hostname_env_workdir_user() {
    let f = Fixture::new();
    let (code, out, err) = f.container_run(&[
        "--rm",
        "-e",
        "FOO=bar",
        "-w",
        "/tmp/work",
        "-u",
        "1000:1000",
        "--hostname",
        "box",
        "busybox",
        "sh",
        "-c",
        "echo $$; hostname; pwd; id -u; id -g; echo $FOO",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["1", "box", "/tmp/work", "1000", "1000", "bar"]
    );
    // Default hostname: the short id, which `ps -a` would show (gone: --rm).
    let (code, out, err) = f.container_run(&["--name", "h1", "busybox", "hostname"]);
    assert_eq!(code, 0, "{err}");
    let id = f.ok(&["container", "ps", "-a", "-q"]);
    assert_eq!(out.trim(), id.trim());
    assert_eq!(out.trim().len(), 12);
}

#[test]
fn env_file_and_image_config_env() {
    let f = Fixture::new();
    let env_file = f.work.path().join("env");
    std::fs::write(&env_file, "# comment\nA=from-file\nB=file\n").unwrap();
    let (code, out, err) = f.container_run(&[
        "--rm",
        "--env-file",
        env_file.to_str().unwrap(),
        "-e",
        "B=flag",
        "busybox",
        "sh",
        "-c",
        "echo $A $B",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "from-file flag");
}

#[test]
fn exit_codes_like_docker() {
    let f = Fixture::new();
    let code = |args: &[&str]| f.container_run(args).0;
    assert_eq!(code(&["--rm", "busybox", "sh", "-c", "exit 3"]), 3);
    assert_eq!(code(&["--rm", "busybox", "no-such-command"]), 127);
    assert_eq!(code(&["--rm", "busybox", "/etc"]), 126);
    assert_eq!(code(&["--rm", "no-such-image", "true"]), 125);
    let (code, _, err) = f.container_run(&["--rm", "busybox"]);
    assert_eq!(code, 125);
    assert!(err.contains("no command specified"), "{err}");
    assert!(f.mounts().is_empty(), "{:?}", f.mounts());
}

#[test]
fn rm_flag_leaves_no_dir_no_mount_no_row() {
    let f = Fixture::new();
    for args in [
        &["--rm", "busybox", "true"][..],
        &["--rm", "busybox", "sh", "-c", "exit 5"],
        &["--rm", "busybox", "missing"],
    ] {
        f.container_run(args);
    }
    assert_eq!(common::store::count_entries(&f.containers_dir()), 0);
    assert!(f.mounts().is_empty(), "{:?}", f.mounts());
    assert_eq!(f.ok(&["container", "ps", "-a", "-q"]), "");
}

#[test]
fn ps_columns_and_status_words() {
    let f = Fixture::new();
    f.container_run(&["--name", "first", "busybox", "sh", "-c", "exit 2"]);
    let out = f.ok(&["container", "ps", "-a"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    for col in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "NAMES",
    ] {
        assert!(lines[0].contains(col), "{out}");
    }
    assert!(lines[1].contains("busybox"), "{out}");
    assert!(lines[1].contains("\"sh -c exit 2\""), "{out}");
    assert!(lines[1].contains("Exited (2) "), "{out}");
    assert!(lines[1].contains(" ago"), "{out}");
    assert!(lines[1].ends_with("first"), "{out}");
    // Without -a only running containers: none.
    assert_eq!(f.ok(&["container", "ps"]).lines().count(), 1);
}

#[test]
fn names_are_unique_and_rm_frees_them() {
    let f = Fixture::new();
    assert_eq!(f.container_run(&["--name", "c1", "busybox", "true"]).0, 0);
    let (code, _, err) = f.container_run(&["--name", "c1", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(
        err.contains("Conflict. The container name \"/c1\" is already in use by container"),
        "{err}"
    );
    assert_eq!(f.ok(&["container", "rm", "c1"]).trim(), "c1");
    assert_eq!(f.container_run(&["--name", "c1", "busybox", "true"]).0, 0);
    let out = f.run(&["container", "rm", "nope"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such container: nope"));
}

/// Waits (without a deadline assertion) until `ps -q` lists a container.
fn wait_running(f: &Fixture) -> String {
    for _ in 0..2000 {
        let ids = f.ok(&["container", "ps", "-q"]);
        if !ids.trim().is_empty() {
            return ids.trim().to_string();
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("container never showed up as running");
}

#[test]
fn rm_of_running_needs_force_and_kill_gives_137() {
    let f = Fixture::new();
    let mut child = common::store::spawn_strata(
        &f.root,
        &[
            "container",
            "run",
            "--name",
            "k1",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    let id = wait_running(&f);
    let ps = f.ok(&["container", "ps"]);
    assert!(ps.contains(" Up "), "{ps}");
    assert_eq!(f.mounts().len(), 1, "the union mount while it runs");
    let out = f.run(&["container", "rm", "k1"]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("container is running"), "{err}");
    assert!(
        f.containers_dir()
            .join(f.ok(&["container", "ps", "-q", "--no-trunc"]).trim())
            .is_dir()
    );
    f.ok(&["container", "rm", "-f", &id]);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(137));
    assert_eq!(common::store::count_entries(&f.containers_dir()), 0);
    assert!(f.mounts().is_empty(), "{:?}", f.mounts());
}

#[test]
fn network_none_and_volumes() {
    let f = Fixture::new();
    let (code, out, err) = f.container_run(&[
        "--rm",
        "--network",
        "none",
        "busybox",
        "ls",
        "/sys/class/net",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "lo\n");
    let host = f.work.path().join("shared");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("in"), "from host\n").unwrap();
    let rw = format!("{}:/data", host.display());
    let (code, out, err) = f.container_run(&[
        "--rm",
        "--volume",
        &rw,
        "busybox",
        "sh",
        "-c",
        "cat /data/in; echo back > /data/out",
    ]);
    assert_eq!((code, out.as_str()), (0, "from host\n"), "{err}");
    assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "back\n");
    let ro = format!("{}:/data:ro", host.display());
    let (code, _, _) = f.container_run(&["--rm", "-v", &ro, "busybox", "touch", "/data/x"]);
    assert_eq!(code, 1, "read-only volume");
    assert!(!host.join("x").exists());
    assert!(f.mounts().is_empty(), "{:?}", f.mounts());
}
