//! Concurrency and load: builds at once on one base and cache; `image rm`
//! and `system prune -a` racing a build and a running container; containers
//! started and removed in a loop; the memory of a long-lived `-d`
//! supervisor; `image mount -d` holding a lease on its image.
//! Afterwards: no lost layer, no catalog error (SQLITE_BUSY is retried,
//! never surfaced: every command must succeed), no leaked mount or process.
//! Short by default; `STRATA_LONG_TESTS=1` runs more rounds (50 containers).
#![allow(clippy::unwrap_used)]

mod common;
mod container_support;
mod fault_support;

use std::path::Path;
use std::process::{Child, Output};

use common::store::{spawn_strata, strata, strata_ok};
use container_support::Fixture;
use fault_support::{assert_no_mounts, assert_no_processes, assert_sound, long, path_str};

fn no_process(_: &str) -> bool {
    false
}

fn finish(child: Child) -> Output {
    child.wait_with_output().unwrap()
}

fn assert_ok(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A build context under `work` for builder `n`: a shared first step (same
/// key in every context, so one cache entry), then steps of its own.
fn context(work: &Path, n: usize) -> String {
    let ctx = work.join(format!("ctx{n}"));
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("own.txt"), format!("builder {n}\n")).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM busybox\nRUN echo shared > /shared\nRUN echo {n} > /n\nCOPY own.txt /own.txt\n"
        ),
    )
    .unwrap();
    path_str(&ctx)
}

/// `/path` of `image` read through its layer dirs (top first).
fn read_in_image(root: &Path, image: &str, path: &str) -> String {
    let out = strata_ok(root, &["image", "inspect", image]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let layers = v[0]["RootFS"]["Layers"].as_array().unwrap().clone();
    layers
        .iter()
        .rev()
        .find_map(|d| {
            let hex = d.as_str().unwrap().trim_start_matches("sha256:");
            std::fs::read_to_string(root.join("layers").join(hex).join(path)).ok()
        })
        .unwrap_or_else(|| panic!("{path} not in {image}"))
}

#[test]
fn four_builds_at_once_share_base_and_cache() {
    let f = Fixture::new();
    let rounds = if long() { 5 } else { 1 };
    let ctxs: Vec<String> = (0..4).map(|n| context(f.work.path(), n)).collect();
    for round in 0..rounds {
        let builds: Vec<Child> = ctxs
            .iter()
            .enumerate()
            .map(|(n, ctx)| {
                let tag = format!("b{n}:{round}");
                spawn_strata(&f.root, &["image", "build", "-q", "-t", &tag, ctx])
            })
            .collect();
        for (n, b) in builds.into_iter().enumerate() {
            assert_ok(&format!("round {round} build {n}"), &finish(b));
        }
        for n in 0..4 {
            let tag = format!("b{n}:{round}");
            assert_eq!(read_in_image(&f.root, &tag, "shared"), "shared\n");
            assert_eq!(read_in_image(&f.root, &tag, "n"), format!("{n}\n"));
            assert_eq!(
                read_in_image(&f.root, &tag, "own.txt"),
                format!("builder {n}\n")
            );
        }
        assert_sound(&f.root);
    }
    // Everything is cached now: the same builds at once change nothing.
    let before = strata_ok(&f.root, &["image", "ls", "-a", "-q"]);
    let builds: Vec<Child> = ctxs
        .iter()
        .map(|ctx| spawn_strata(&f.root, &["image", "build", "--progress", "plain", ctx]))
        .collect();
    for b in builds {
        let out = finish(b);
        assert_ok("cached build", &out);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.matches("CACHED").count(), 3, "{err}");
    }
    assert_eq!(strata_ok(&f.root, &["image", "ls", "-a", "-q"]), before);
    assert_sound(&f.root);
    assert_no_mounts(&f.root, &[]);
    assert_no_processes(&f.root, &no_process);
}

#[test]
fn rm_and_prune_race_a_build_and_a_running_container() {
    let f = Fixture::new();
    // `base` is what the build starts from; the racing commands remove it.
    // Its layer is its own (busybox + base.txt): removing it for real would
    // take the layer the build's RUN mounts.
    let basework = f.work.path().join("base");
    common::store::busybox_rootfs(&basework.join("busybox-rootfs"));
    std::fs::write(basework.join("busybox-rootfs/base.txt"), "base\n").unwrap();
    let tar = common::store::busybox_tarball(&basework, "");
    f.ok(&["image", "import", &path_str(&tar), "base"]);
    f.run_detached("runner", &["busybox", "sleep", "100000"]);
    let ctx = f.work.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(ctx.join("f.txt"), "copied\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM base\nRUN sleep 1 && cat /base.txt > /copy\nCOPY f.txt /f.txt\nRUN sleep 1 && ls /copy /f.txt\n",
    )
    .unwrap();
    let rounds = if long() { 10 } else { 2 };
    for round in 0..rounds {
        let tag = format!("built:{round}");
        let mut build = spawn_strata(
            &f.root,
            &[
                "image",
                "build",
                "--no-cache",
                "--progress",
                "plain",
                "-t",
                &tag,
                &path_str(&ctx),
            ],
        );
        // The race starts once the build has resolved its base (the first
        // RUN began): removing `base` before that is just "no such image".
        // Then until the build ends: remove its base and the running
        // container's image, prune what is unused.
        let (started_tx, started) = std::sync::mpsc::channel();
        let stderr = build.stderr.take().unwrap();
        let log = std::thread::spawn(move || {
            use std::io::BufRead;
            let mut all = String::new();
            for line in std::io::BufReader::new(stderr).lines() {
                let line = line.unwrap_or_default();
                if line.contains("[2/4]") {
                    let _ = started_tx.send(());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let _ = started.recv();
        let mut races = 0;
        while build.try_wait().unwrap().is_none() {
            let _ = strata(&f.root, &["image", "rm", "base"]);
            let _ = strata(&f.root, &["image", "rm", "-f", "busybox"]);
            // Dangling only: `-a` would take the build's result as soon as
            // it is tagged (that is what -a is for); it runs below.
            let prune = strata(&f.root, &["system", "prune", "-f"]);
            assert_ok("prune", &prune);
            let prune = strata(&f.root, &["image", "prune", "-f"]);
            assert_ok("image prune", &prune);
            races += 1;
        }
        let status = build.wait().unwrap();
        let log = log.join().unwrap();
        assert!(status.success(), "build {round}: {log}");
        assert!(races > 0);
        // The build's result is complete; the container still runs on an
        // intact image.
        assert_eq!(read_in_image(&f.root, &tag, "f.txt"), "copied\n");
        assert_eq!(read_in_image(&f.root, &tag, "copy"), "base\n");
        f.ok(&["system", "prune", "-a", "-f"]);
        let out = f.ok(&["container", "exec", "runner", "md5sum", "/bin/busybox"]);
        assert!(!out.is_empty());
        f.ok(&["image", "inspect", "busybox"]);
        assert_sound(&f.root);
        // Put the base back for the next round.
        strata_ok(&f.root, &["image", "import", &path_str(&tar), "base"]);
    }
    f.ok(&["container", "rm", "-f", "runner"]);
    f.ok(&["system", "prune", "-a", "-f"]);
    assert_sound(&f.root);
    assert_no_mounts(&f.root, &[]);
    assert_no_processes(&f.root, &no_process);
}

#[test]
fn containers_started_and_removed_in_a_loop() {
    let f = Fixture::new();
    let n = if long() { 50 } else { 10 };
    let mark = format!("MARK={}", f.root.display());
    for i in 0..n {
        let name = format!("loop{i}");
        f.run_detached(&name, &["-e", &mark, "busybox", "sleep", "100000"]);
        if i % 2 == 0 {
            let out = f.ok(&["container", "exec", &name, "cat", "/etc/hostname"]);
            assert!(!out.trim().is_empty());
        }
        // Every other one is stopped first, the rest removed while running.
        if i % 2 == 1 {
            f.ok(&["container", "stop", "-t", "1", &name]);
        }
        f.ok(&["container", "rm", "-f", &name]);
        // A foreground one with --rm too.
        let (code, out, err) = f.container_run(&["--rm", "busybox", "echo", "hi"]);
        assert_eq!((code, out.as_str()), (0, "hi\n"), "{err}");
    }
    assert_eq!(f.ok(&["container", "ps", "-a", "-q"]), "");
    assert_eq!(common::store::count_entries(&f.containers_dir()), 0);
    assert_no_mounts(&f.root, &[]);
    assert_no_processes(&f.root, &no_process);
    assert_sound(&f.root);
}

/// VmRSS of `pid` in KiB.
fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[test]
fn a_detached_supervisor_stays_flat_over_execs_and_logs() {
    let f = Fixture::new();
    f.run_detached(
        "steady",
        &[
            "busybox",
            "sh",
            "-c",
            "while true; do echo line; sleep 0.01; done",
        ],
    );
    let sup = fault_support::supervisor_pid(&f.root);
    // Each exec walks the tree and makes and removes files through the
    // union mount the supervisor serves.
    let work = |i: usize| {
        let script = format!(
            "mkdir -p /tmp; for j in 1 2 3 4 5 6 7 8 9 10; do echo $j > /tmp/f{i}-$j; done; \
             ls -R /bin /etc >/dev/null; rm /tmp/f{i}-*"
        );
        f.ok(&["container", "exec", "steady", "sh", "-c", &script]);
        f.ok(&["container", "logs", "steady"]);
    };
    for i in 0..10 {
        work(i);
    }
    let before = rss_kib(sup);
    let n = if long() { 500 } else { 60 };
    for i in 10..10 + n {
        work(i);
    }
    let after = rss_kib(sup);
    eprintln!("supervisor VmRSS: {before} KiB -> {after} KiB after {n} execs + logs");
    // Generous: allocator noise and caches, not growth per exec.
    assert!(
        after < before + 16 * 1024,
        "supervisor grew from {before} KiB to {after} KiB"
    );
    f.ok(&["container", "rm", "-f", "steady"]);
    assert_no_mounts(&f.root, &[]);
    assert_no_processes(&f.root, &no_process);
}

#[test]
fn image_mount_d_leases_the_image_until_umount() {
    let f = Fixture::new();
    let dir = f.work.path().join("view");
    std::fs::create_dir(&dir).unwrap();
    let view = path_str(&dir);
    f.ok(&["image", "mount", "-d", "busybox", &view]);
    assert!(dir.join("bin/busybox").is_file());
    let out = f.run(&["image", "rm", "busybox"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("is mounted at"), "{err}");
    let out = f.run(&["image", "rm", "-f", "busybox"]);
    assert_eq!(out.status.code(), Some(1), "forced rm of a mounted image");
    f.ok(&["system", "prune", "-a", "-f"]);
    f.ok(&["image", "prune", "-a", "-f"]);
    // Still there, still served.
    f.ok(&["image", "inspect", "busybox"]);
    let listing = std::fs::read_dir(dir.join("bin")).unwrap().count();
    assert!(listing > 100, "{listing}");
    assert_sound(&f.root);

    f.ok(&["image", "umount", &view]);
    assert_no_mounts(&f.root, &[]);
    assert!(fault_support::mounts_under(&dir).is_empty());
    f.ok(&["image", "rm", "busybox"]);
    f.ok(&["system", "prune", "-f"]);
    assert_eq!(common::store::count_entries(&f.root.join("layers")), 0);
    assert_sound(&f.root);
}

#[test]
fn a_killed_mount_server_ends_its_lease() {
    let f = Fixture::new();
    let dir = f.work.path().join("view");
    std::fs::create_dir(&dir).unwrap();
    let view = path_str(&dir);
    f.ok(&["image", "mount", "-d", "busybox", &view]);
    // The daemon serving the mount: the only process with the mount point
    // on its command line.
    let server: Vec<i32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&view))
        })
        .collect();
    assert_eq!(server.len(), 1, "{server:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // Its lease died with it (the kernel dropped its lock): rm works.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::path::Path::new(&format!("/proc/{}", server[0])).exists()
        && !std::fs::read_to_string(format!("/proc/{}/stat", server[0]))
            .unwrap_or_default()
            .contains(") Z")
    {
        assert!(std::time::Instant::now() < deadline, "server did not die");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = nix::mount::umount2(&dir, nix::mount::MntFlags::MNT_DETACH);
    f.ok(&["image", "rm", "busybox"]);
    assert_sound(&f.root);
}
