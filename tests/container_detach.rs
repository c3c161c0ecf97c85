//! `run -d`, `stop`, `kill`, `logs`, `exec`, `create`/`start`, `inspect` and
//! a killed supervisor, through the binary. Needs root and FUSE.
#![allow(clippy::unwrap_used)]

mod common;
mod container_support;

use container_support::Fixture;

/// `inspect` of one container as JSON.
fn inspect(f: &Fixture, name: &str) -> serde_json::Value {
    let out = f.ok(&["container", "inspect", name]);
    let mut all: serde_json::Value = serde_json::from_str(&out).unwrap();
    all[0].take()
}

/// Polls `container logs` until it contains `needle` (no deadline assertion:
/// a hang is reported by the test harness).
fn wait_log(f: &Fixture, name: &str, needle: &str) -> String {
    loop {
        let logs = f.ok(&["container", "logs", name]);
        if logs.contains(needle) {
            return logs;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Polls until the container is recorded as exited.
fn wait_exited(f: &Fixture, name: &str) {
    while inspect(f, name)["State"]["Status"] != "exited" {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn detached_run_logs_exec_stop() {
    let f = Fixture::new();
    let id = f.run_detached(
        "web",
        &[
            "busybox",
            "sh",
            "-c",
            "echo ready; echo oops >&2; exec sleep 1000",
        ],
    );
    let id = id.trim();
    assert_eq!(id.len(), 64, "run -d prints the full id: {id}");
    let logs = wait_log(&f, "web", "ready");
    assert_eq!(logs, "ready\n");
    let out = f.run(&["container", "logs", "web"]);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");
    assert!(f.ok(&["container", "ps"]).contains(" Up "));
    assert_eq!(f.mounts().len(), 1, "the supervisor serves the mount");

    // exec joins the container: it sees PID 1 = sleep and the same hostname.
    let out = f.ok(&[
        "container",
        "exec",
        "web",
        "sh",
        "-c",
        "cat /proc/1/cmdline; echo; hostname",
    ]);
    assert_eq!(out, format!("sleep\u{0}1000\u{0}\n{}\n", &id[..12]));
    let out = f.run(&["container", "exec", "web", "no-such"]);
    assert_eq!(out.status.code(), Some(127));

    let state = inspect(&f, "web");
    assert_eq!(state["State"]["Status"], "running");
    assert!(state["State"]["Pid"].as_i64().unwrap() > 1);

    // sleep as PID 1 ignores SIGTERM: stop falls back to SIGKILL.
    assert_eq!(f.ok(&["container", "stop", "-t", "1", "web"]).trim(), "web");
    let state = inspect(&f, "web");
    assert_eq!(state["State"]["Status"], "exited");
    assert_eq!(state["State"]["ExitCode"], 137);
    assert!(f.ok(&["container", "ps", "-a"]).contains("Exited (137) "));
    assert!(f.mounts().is_empty(), "{:?}", f.mounts());
    // exec into a stopped container fails like a strata error.
    assert_eq!(
        f.run(&["container", "exec", "web", "true"]).status.code(),
        Some(125)
    );
}

#[test]
fn create_then_start_attached_and_detached() {
    let f = Fixture::new();
    let id = f.ok(&[
        "container",
        "create",
        "--name",
        "job",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 4",
    ]);
    assert_eq!(id.trim().len(), 64);
    assert!(f.ok(&["container", "ps", "-a"]).contains("Created"));
    let out = f.run(&["container", "start", "-a", "job"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "run\n");
    assert_eq!(f.ok(&["container", "start", "job"]).trim(), "job");
    wait_log(&f, "job", "run\nrun\n");
    wait_exited(&f, "job");
    assert_eq!(inspect(&f, "job")["State"]["ExitCode"], 4);
    assert!(f.mounts().is_empty(), "{:?}", f.mounts());
}

#[test]
fn kill_sends_sigkill_by_default() {
    let f = Fixture::new();
    f.run_detached("k1", &["busybox", "sleep", "1000"]);

    // Docker's default signal is KILL (PID 1 without a handler ignores TERM).
    f.ok(&["container", "kill", "k1"]);
    wait_exited(&f, "k1");
    assert_eq!(inspect(&f, "k1")["State"]["ExitCode"], 137);
    let out = f.run(&["container", "kill", "k1"]);
    assert_eq!(out.status.code(), Some(125), "not running");
}

#[test]
fn dead_supervisor_is_noticed_and_its_mount_removed() {
    let f = Fixture::new();
    let id = f.run_detached("orphan", &["busybox", "sleep", "1000"]);
    let id = id.trim();
    let pid1 = inspect(&f, "orphan")["State"]["Pid"].as_i64().unwrap();
    // The supervisor: the strata process whose argv names this container.
    let supervisor = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&format!("__supervise\0{id}")))
        })
        .expect("supervisor process");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(supervisor),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // Wait for it to be dead: a zombie or reaped (its parent exited, so init
    // reaps it). Not "cmdline empty": that happens when its memory goes,
    // while its threads may still be exiting and it is not a zombie yet,
    // which strata (like this test) does not count as dead.
    let dead = || {
        std::fs::read_to_string(format!("/proc/{supervisor}/status")).map_or(true, |s| {
            s.lines()
                .any(|l| l.starts_with("State:") && l.contains('Z'))
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !dead() {
        assert!(
            std::time::Instant::now() < deadline,
            "the killed supervisor did not die: {}",
            std::fs::read_to_string(format!("/proc/{supervisor}/status")).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let ps = f.ok(&["container", "ps", "-a"]);
    assert!(ps.contains("Exited (137) "), "{ps}");
    assert!(f.mounts().is_empty(), "{:?}", f.mounts());
    assert!(
        !std::path::Path::new(&format!("/proc/{pid1}/cmdline")).exists()
            || std::fs::read(format!("/proc/{pid1}/cmdline"))
                .unwrap()
                .is_empty(),
        "the orphaned container process is killed"
    );
    // The upper survives: the container can still be removed cleanly.
    assert!(f.containers_dir().join(id).join("upper").is_dir());
    f.ok(&["container", "rm", "orphan"]);
    assert_eq!(common::store::count_entries(&f.containers_dir()), 0);
}

#[test]
fn kill_delivers_a_handled_signal() {
    let f = Fixture::new();
    f.run_detached(
        "trap1",
        &[
            "busybox",
            "sh",
            "-c",
            "trap 'exit 42' USR1; echo ready; while true; do sleep 0.1; done",
        ],
    );
    // Before `trap` ran, PID 1 has no handler and the kernel drops USR1.
    wait_log(&f, "trap1", "ready");
    f.ok(&["container", "kill", "-s", "USR1", "trap1"]);
    wait_exited(&f, "trap1");
    assert_eq!(inspect(&f, "trap1")["State"]["ExitCode"], 42);
}

#[test]
fn logs_follow_until_exit_and_detached_rm() {
    let f = Fixture::new();
    f.run_detached(
        "talk",
        &["busybox", "sh", "-c", "echo a; sleep 0.3; echo b"],
    );
    // `logs -f` returns once the container has exited, with everything.
    assert_eq!(f.ok(&["container", "logs", "-f", "talk"]), "a\nb\n");
    f.ok(&["container", "run", "-d", "--rm", "busybox", "true"]);
    // The supervisor removes the container after it exits: the row, then
    // the dirs.
    while f.ok(&["container", "ps", "-aq"]).lines().count() > 1
        || common::store::count_entries(&f.containers_dir()) > 1
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(f.mounts().is_empty(), "{:?}", f.mounts());
}
