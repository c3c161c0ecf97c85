//! Crash safety: `strata` killed with SIGKILL at random points of an
//! import, a build step (RUN and COPY), a container commit, a save, a load
//! and a pull from a local registry. After every kill the store is sound
//! (`fault_support::assert_sound`: `system check` finds no corruption,
//! SQLite's integrity_check passes, every image is complete), no mount and
//! no process of the killed command is left once the next strata command
//! ran, and the interrupted command, run again, succeeds.
//!
//! Kill delays are drawn from [0, 1.25 x the duration of an uninterrupted
//! run] with a seeded RNG (seed printed; `STRATA_CRASH_SEED` replays it).
//! Short: 6 kills per operation; `STRATA_LONG_TESTS=1`: 40.
#![allow(clippy::unwrap_used)]

mod common;
mod container_support;
mod fault_support;
mod oci_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::store::{busybox_tarball, spawn_strata, store_with_busybox, strata, strata_ok};
use fault_support::{
    BIG, Rng, assert_no_mounts, assert_no_processes, assert_sound, big_file, long, path_str,
};

fn kills() -> usize {
    if long() { 40 } else { 6 }
}

/// One operation under test.
struct Op<'a> {
    name: &'a str,
    root: &'a Path,
    args: Vec<String>,
    /// Puts the store back where the operation has work to do.
    prepare: &'a dyn Fn(),
    /// Checks the operation's result after a complete run.
    verify: &'a dyn Fn(),
    /// Processes of the store that legitimately outlive the operation.
    keep_process: &'a dyn Fn(&str) -> bool,
    /// Mounts (substrings of their path) that legitimately stay.
    keep_mounts: Vec<String>,
}

/// Counts of one kill loop.
#[derive(Debug, Default)]
struct Tally {
    killed: usize,
    completed: usize,
}

/// Runs `op` once whole (timing it for the delays), then `kills()` times:
/// prepare, start, SIGKILL after a random delay, check the store, run the
/// operation again to completion, verify.
fn kill_loop(op: &Op, rng: &mut Rng) -> Tally {
    let _guard = UnmountOnDrop(op.root.to_path_buf(), false);
    let args: Vec<&str> = op.args.iter().map(String::as_str).collect();
    (op.prepare)();
    let start = Instant::now();
    strata_ok(op.root, &args);
    let span = start.elapsed();
    (op.verify)();
    let mut tally = Tally::default();
    for round in 0..kills() {
        (op.prepare)();
        let delay = rng.delay(span);
        let mut child = spawn_strata(op.root, &args);
        drop(child.stdin.take());
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_some() {
            tally.completed += 1;
        } else {
            child.kill().unwrap(); // SIGKILL
            tally.killed += 1;
        }
        child.wait().unwrap();
        let ctx = format!("{} round {round} (kill after {delay:?})", op.name);
        eprintln!("{ctx}");
        // The next strata command reclaims what the killed one left.
        assert_sound(op.root);
        assert_no_mounts(op.root, &op.keep_mounts);
        assert_no_processes(op.root, op.keep_process);
        let out = strata(op.root, &args);
        assert!(
            out.status.success(),
            "{ctx}: running it again failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (op.verify)();
    }
    assert_sound(op.root);
    eprintln!("{}: {tally:?} (uninterrupted run {span:?})", op.name);
    tally
}

fn nothing() {}

fn no_process(_: &str) -> bool {
    false
}

/// A store with busybox imported as `busybox`.
fn seeded(work: &Path) -> PathBuf {
    common::require_root_and_fuse();
    store_with_busybox(work)
}

/// Size of `path` in `image`, found through its layer dirs (top first).
fn size_in_image(root: &Path, image: &str, path: &str) -> Option<u64> {
    let out = strata_ok(root, &["image", "inspect", image]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let layers = v[0]["RootFS"]["Layers"].as_array().unwrap().clone();
    layers.iter().rev().find_map(|d| {
        let hex = d.as_str().unwrap().trim_start_matches("sha256:");
        std::fs::metadata(root.join("layers").join(hex).join(path))
            .ok()
            .map(|m| m.len())
    })
}

#[test]
fn kill_9_during_import() {
    let work = tempfile::tempdir().unwrap();
    let root = seeded(work.path());
    // The seeding made busybox-rootfs; the same tree plus `big`, as zstd.
    big_file(&work.path().join("busybox-rootfs/big"));
    let tar = busybox_tarball(work.path(), "--zstd");
    let verify = || assert_eq!(size_in_image(&root, "big:1", "big"), Some(BIG as u64));
    let op = Op {
        name: "import",
        root: &root,
        args: vec![
            "image".into(),
            "import".into(),
            path_str(&tar),
            "big:1".into(),
        ],
        prepare: &nothing,
        verify: &verify,
        keep_process: &no_process,
        keep_mounts: vec![],
    };
    let mut rng = Rng::new("import");
    let tally = kill_loop(&op, &mut rng);
    assert!(tally.killed > 0, "{tally:?}");

    // The first command on a new store: killed while it creates the
    // catalog and the layout (the first few ms), the store is still sound
    // and the import works.
    // (busybox.tar: the plain busybox tarball `seeded` made.)
    let small = path_str(&work.path().join("busybox.tar"));
    for round in 0..kills() {
        let fresh = work.path().join(format!("fresh{round}"));
        let mut child = spawn_strata(&fresh, &["image", "import", &small, "busybox"]);
        std::thread::sleep(rng.delay(std::time::Duration::from_millis(40)));
        let _ = child.kill();
        child.wait().unwrap();
        assert_sound(&fresh);
        strata_ok(&fresh, &["image", "import", &small, "busybox"]);
        assert_sound(&fresh);
    }
}

/// A build context whose Dockerfile is `dockerfile` and holding `big`.
fn context(work: &Path, dockerfile: &str) -> PathBuf {
    let ctx = work.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    big_file(&ctx.join("big"));
    ctx
}

fn build_op<'a>(
    root: &'a Path,
    ctx: &Path,
    name: &'a str,
    verify: &'a dyn Fn(),
    prune: &'a dyn Fn(),
) -> Op<'a> {
    Op {
        name,
        root,
        args: ["image", "build", "--no-cache", "-q", "-t", "out:1"]
            .iter()
            .map(|s| s.to_string())
            .chain([path_str(ctx)])
            .collect(),
        // Each run's layer is new (RUN) or re-made: drop the old images so
        // the long variant does not fill the disk.
        prepare: prune,
        verify,
        keep_process: &no_process,
        keep_mounts: vec![],
    }
}

/// Kills `image build --no-cache` of `dockerfile` (which puts `BIG` bytes
/// at `path` of the image) with the context made by [`context`].
fn kill_builds(name: &str, dockerfile: &dyn Fn(&Path) -> String, path: &str) {
    let work = tempfile::tempdir().unwrap();
    let root = seeded(work.path());
    let ctx = context(work.path(), &dockerfile(&root));
    let verify = || assert_eq!(size_in_image(&root, "out:1", path), Some(BIG as u64));
    let prune = || {
        strata_ok(&root, &["system", "prune", "-f"]);
    };
    let op = build_op(&root, &ctx, name, &verify, &prune);
    let tally = kill_loop(&op, &mut Rng::new(name));
    assert!(tally.killed > 0, "{tally:?}");
}

#[test]
fn kill_9_during_a_run_step() {
    // The ENV puts the store's path into the container's environment, so a
    // RUN process outliving its build is found by `processes_of`.
    let dockerfile = |root: &Path| {
        format!(
            "FROM busybox\nENV MARK={}\nRUN head -c {BIG} /dev/urandom >/big && sync && sleep 0.3\n",
            root.display()
        )
    };
    kill_builds("build RUN", &dockerfile, "big");
}

#[test]
fn kill_9_during_a_copy_step() {
    let dockerfile = |_: &Path| "FROM busybox\nCOPY big /data/big\n".to_string();
    kill_builds("build COPY", &dockerfile, "data/big");
}

#[test]
fn kill_9_during_a_container_commit() {
    let work = tempfile::tempdir().unwrap();
    let root = seeded(work.path());
    let _fixture_guard = UnmountOnDrop(root.clone(), true);
    run_detached(
        &root,
        &[
            "busybox",
            "sh",
            "-c",
            &format!("head -c {BIG} /dev/urandom >/big && touch /done && exec sleep 100000"),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while !strata(
        &root,
        &["container", "exec", "committed", "test", "-f", "/done"],
    )
    .status
    .success()
    {
        assert!(Instant::now() < deadline, "container never wrote /big");
        std::thread::sleep(Duration::from_millis(100));
    }
    let verify = || assert_eq!(size_in_image(&root, "snap:1", "big"), Some(BIG as u64));
    // The container's supervisor and init stay, and its union mount.
    let keep = |cmd: &str| cmd.contains("__supervise") || cmd.contains("__init");
    let op = Op {
        name: "container commit",
        root: &root,
        args: ["container", "commit", "committed", "snap:1"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        prepare: &nothing,
        verify: &verify,
        keep_process: &keep,
        keep_mounts: vec!["/containers/".into()],
    };
    let tally = kill_loop(&op, &mut Rng::new("commit"));
    assert!(tally.killed > 0, "{tally:?}");
    let ps = strata_ok(&root, &["container", "ps", "-q"]);
    assert_eq!(ps.lines().count(), 1, "the container kept running: {ps}");
    strata_ok(&root, &["container", "rm", "-f", "committed"]);
    assert_no_mounts(&root, &[]);
    assert_no_processes(&root, &no_process);
    assert_sound(&root);
}

/// `container run -d --name committed ARGS...`.
fn run_detached(root: &Path, args: &[&str]) {
    let mut all = vec!["container", "run", "-d", "--name", "committed"];
    all.extend_from_slice(args);
    strata_ok(root, &all);
}

/// Removes the test container and detaches whatever a failing test left
/// mounted under the store.
/// (The flag: remove the container too.)
struct UnmountOnDrop(PathBuf, bool);

impl Drop for UnmountOnDrop {
    fn drop(&mut self) {
        if self.1 {
            let _ = strata(&self.0, &["container", "rm", "-f", "committed"]);
        }
        for m in container_support::mounts_under(&self.0).into_iter().rev() {
            let _ = nix::mount::umount2(Path::new(&m), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// A store holding `big:1` (busybox + a 24 MiB layer), made by a build.
fn big_image(work: &Path) -> PathBuf {
    let root = seeded(work);
    let ctx = context(work, "FROM busybox\nCOPY big /big\n");
    strata_ok(
        &root,
        &["image", "build", "-q", "-t", "big:1", &path_str(&ctx)],
    );
    root
}

#[test]
fn kill_9_during_save_and_load() {
    let work = tempfile::tempdir().unwrap();
    let root = big_image(work.path());
    let reference = work.path().join("reference.tar");
    strata_ok(
        &root,
        &["image", "save", "-o", &path_str(&reference), "big:1"],
    );
    let reference = std::fs::read(&reference).unwrap();

    let saved = work.path().join("saved.tar");
    let verify_save = || assert!(std::fs::read(&saved).unwrap() == reference, "save differs");
    let save = Op {
        name: "image save",
        root: &root,
        args: vec![
            "image".into(),
            "save".into(),
            "-o".into(),
            path_str(&saved),
            "big:1".into(),
        ],
        prepare: &nothing,
        verify: &verify_save,
        keep_process: &no_process,
        keep_mounts: vec![],
    };
    let mut rng = Rng::new("save/load");
    let saves = kill_loop(&save, &mut rng);

    let target = work.path().join("target");
    let reset = || {
        let _ = strata(&target, &["image", "rm", "big:1"]);
        strata_ok(&target, &["system", "prune", "-f"]);
    };
    let verify_load = || assert_eq!(size_in_image(&target, "big:1", "big"), Some(BIG as u64));
    let load = Op {
        name: "image load",
        root: &target,
        args: vec!["image".into(), "load".into(), "-i".into(), path_str(&saved)],
        prepare: &reset,
        verify: &verify_load,
        keep_process: &no_process,
        keep_mounts: vec![],
    };
    let loads = kill_loop(&load, &mut rng);
    assert!(saves.killed > 0 && loads.killed > 0, "{saves:?} {loads:?}");
}

#[test]
fn kill_9_during_a_pull() {
    let reg = oci_support::registry::Registry::start();
    let work = tempfile::tempdir().unwrap();
    let root = big_image(work.path());
    let name = format!("{}/crash/big:1", reg.host());
    strata_ok(&root, &["image", "tag", "big:1", &name]);
    strata_ok(&root, &["image", "push", &name]);

    let target = work.path().join("target");
    let reset = || {
        let _ = strata(&target, &["image", "rm", &name]);
        strata_ok(&target, &["system", "prune", "-f"]);
    };
    let verify = || assert_eq!(size_in_image(&target, &name, "big"), Some(BIG as u64));
    let op = Op {
        name: "image pull",
        root: &target,
        args: vec!["image".into(), "pull".into(), name.clone()],
        prepare: &reset,
        verify: &verify,
        keep_process: &no_process,
        keep_mounts: vec![],
    };
    let tally = kill_loop(&op, &mut Rng::new("pull"));
    assert!(tally.killed > 0, "{tally:?}");
}

#[test]
fn a_container_dies_with_its_killed_supervisor() {
    let work = tempfile::tempdir().unwrap();
    let root = seeded(work.path());
    let _guard = UnmountOnDrop(root.clone(), true);
    let mark = format!("MARK={}", root.display());
    run_detached(&root, &["-e", &mark, "busybox", "sleep", "100000"]);
    let sup = fault_support::supervisor_pid(&root);
    let procs = fault_support::processes_of(&root);
    assert!(
        procs.iter().any(|(_, c)| c.starts_with("sleep 100000")),
        "{procs:?}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sup),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // No strata command in between: the init saw its channel hang up and
    // killed the container, whose filesystem died with the supervisor.
    assert_no_processes(&root, &no_process);
    let ps = strata_ok(&root, &["container", "ps", "-a"]);
    assert!(ps.contains("Exited (137)"), "{ps}");
    assert_no_mounts(&root, &[]);
    strata_ok(&root, &["container", "rm", "committed"]);
    assert_sound(&root);
}
