//! FUSE over io_uring: requests really travel over the rings (counted in
//! the kernel's own completion counters of this process's rings), replies
//! come back right under concurrency, passthrough opens work over the
//! ring, unmounting ends the ring threads, and `io_uring=off` stays on
//! /dev/fuse. Integration tests: root + /dev/fuse + a kernel with FUSE
//! over io_uring (Linux >= 6.14) and the fuse module's `enable_uring` set
//! (scripts/setup sets it); they fail, not skip, without it.
//!
//! The mounts are served in this process, whose io_uring file descriptors
//! are then the union's rings: the tests of this file take turns (LOCK) so
//! that each sees only its own.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use common::*;
use overlayfs::Config;

static LOCK: Mutex<()> = Mutex::new(());

const BIN: &str = env!("CARGO_BIN_EXE_strata-overlayfs");

fn require_io_uring() {
    require_root_and_fuse();
    let param = "/sys/module/fuse/parameters/enable_uring";
    let v = fs::read_to_string(param).unwrap_or_else(|e| {
        panic!("{param}: {e}: this kernel has no FUSE over io_uring (Linux >= 6.14)")
    });
    assert_eq!(
        v.trim(),
        "Y",
        "{param} is off: run scripts/setup (or echo Y > {param}) to test FUSE over io_uring"
    );
}

/// The io_uring instances of process `pid` and the completions they have
/// delivered in all (`CqHead` in fdinfo): one per FUSE request served.
fn rings(pid: &str) -> (usize, u64) {
    let mut n = 0;
    let mut completions = 0;
    for e in fs::read_dir(format!("/proc/{pid}/fd")).unwrap().flatten() {
        let is_ring =
            fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().contains("[io_uring]"));
        if !is_ring {
            continue;
        }
        let name = e.file_name();
        let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", name.to_string_lossy()))
            .unwrap_or_default();
        let head = info
            .lines()
            .find_map(|l| l.strip_prefix("CqHead:"))
            .map(|v| v.trim().parse::<u64>().unwrap());
        if let Some(head) = head {
            n += 1;
            completions += head;
        }
    }
    (n, completions)
}

fn config(l: &Layers, io_uring: bool, passthrough: bool) -> Config {
    Config {
        io_uring,
        disable_passthrough: !passthrough,
        ..l.config()
    }
}

/// A mix of the union's operations on `root`; panics on a wrong result.
/// Returns how many operations it made (at least one request each).
fn workload(root: &Path, tag: &str) -> u64 {
    let d = root.join(format!("w-{tag}"));
    fs::create_dir(&d).unwrap();
    let n = 150;
    for i in 0..n {
        fs::write(d.join(format!("f{i}")), format!("{tag} {i}\n")).unwrap();
    }
    for i in (0..n).step_by(3) {
        fs::rename(d.join(format!("f{i}")), d.join(format!("r{i}"))).unwrap();
    }
    std::os::unix::fs::symlink("f1", d.join("link")).unwrap();
    fs::hard_link(d.join("f2"), d.join("hard")).unwrap();
    assert_eq!(fs::metadata(d.join("f2")).unwrap().nlink(), 2);
    assert_eq!(
        fs::read_to_string(d.join("link")).unwrap(),
        format!("{tag} 1\n")
    );
    for i in (1..n).step_by(3) {
        fs::remove_file(d.join(format!("f{i}"))).unwrap();
    }
    let names = ls(&d);
    // 150 files, 50 renamed, 50 removed, plus link and hard.
    assert_eq!(names.len(), 102, "{names:?}");
    assert!(names.contains(&"r3".to_string()) && !names.contains(&"f3".to_string()));
    assert_eq!(
        fs::read_to_string(d.join("r99")).unwrap(),
        format!("{tag} 99\n")
    );
    3 * n
}

/// The lower files too: lookups, reads and a copy-up through the ring.
fn lower_workload(u: &Union) {
    assert_eq!(fs::read_to_string(u.m("d/low")).unwrap(), "lower\n");
    fs::OpenOptions::new()
        .append(true)
        .open(u.m("d/low"))
        .unwrap()
        .write_all(b"more\n")
        .unwrap();
    assert_eq!(
        fs::read_to_string(u.upper("d/low")).unwrap(),
        "lower\nmore\n"
    );
}

#[test]
fn requests_travel_over_the_rings_and_unmount_ends_them() {
    let _turn = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    require_io_uring();
    let l = layers(2);
    l.file(1, "d/low", "lower\n");
    let (before, _) = rings("self");
    let cfg = config(&l, true, true);
    let mut u = l.mount_config(cfg);
    let (n, start) = rings("self");
    let cpus = fs::read_to_string("/sys/devices/system/cpu/possible").unwrap();
    assert!(
        n > before,
        "no io_uring queues after mounting (possible CPUs {})",
        cpus.trim()
    );
    lower_workload(&u);
    let ops = workload(&u.m(""), "a");
    let (_, end) = rings("self");
    assert!(
        end - start >= ops,
        "{} requests over the rings for {ops} operations",
        end - start
    );
    u.unmount();
    // The rings close when their threads end: unmount joined them.
    assert_eq!(
        rings("self").0,
        before,
        "io_uring queues left after unmount"
    );
    let threads: Vec<String> = fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("comm")).ok())
        .filter(|c| c.starts_with("fuser-ring"))
        .collect();
    assert!(threads.is_empty(), "ring threads left: {threads:?}");
}

#[test]
fn concurrent_requests_all_get_their_replies() {
    let _turn = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    require_io_uring();
    let l = layers(1);
    let cfg = config(&l, true, true);
    let u = l.mount_config(cfg);
    let (_, start) = rings("self");
    let root = u.m("");
    let ops: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..6)
            .map(|t| {
                let root = root.clone();
                s.spawn(move || workload(&root, &t.to_string()))
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    let (_, end) = rings("self");
    assert!(end - start >= ops, "{} over the rings", end - start);
    assert_eq!(ls(&root).len(), 6);
}

/// Writes `chunks` 64 KiB pieces to a new file through the mount and
/// returns the requests the rings served meanwhile.
fn requests_for_writes(u: &Union, name: &str, chunks: usize) -> u64 {
    let (_, start) = rings("self");
    let mut f = fs::File::create(u.m(name)).unwrap();
    for i in 0..chunks {
        f.write_all(&[i as u8; 65536]).unwrap();
    }
    drop(f);
    let (_, end) = rings("self");
    let data = fs::read(u.upper(name)).unwrap();
    assert_eq!(data.len(), chunks * 65536);
    assert_eq!(data[65536 * 5], 5);
    end - start
}

#[test]
fn passthrough_opens_work_over_the_ring() {
    let _turn = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    require_io_uring();
    let chunks = 64;
    // Through the daemon, each write(2) is a WRITE request on a ring
    // (and, with or without passthrough, a GETXATTR of
    // security.capability: the kernel's check for privileges to drop).
    let l = layers(1);
    let cfg = config(&l, true, false);
    let u = l.mount_config(cfg);
    let daemon = requests_for_writes(&u, "f", chunks);
    drop(u);
    // With passthrough the CREATE reply (sent over the ring) carried a
    // backing file id: the writes go to it without a WRITE request.
    let l = layers(1);
    let cfg = config(&l, true, true);
    let u = l.mount_config(cfg);
    let passthrough = requests_for_writes(&u, "f", chunks);
    assert!(
        daemon >= passthrough + chunks as u64 / 2,
        "{daemon} requests for {chunks} writes through the daemon, {passthrough} with \
         passthrough: the writes did not go to the backing file"
    );
}

#[test]
fn io_uring_off_serves_on_dev_fuse() {
    let _turn = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    require_root_and_fuse();
    let l = layers(2);
    l.file(1, "d/low", "lower\n");
    let (before, _) = rings("self");
    let cfg = config(&l, false, true);
    let u = l.mount_config(cfg);
    assert_eq!(rings("self").0, before, "io_uring=off made rings");
    lower_workload(&u);
    workload(&u.m(""), "off");
}

/// The mount program on the ring: serves, then `umount` ends it (no hang
/// with ring threads waiting in the kernel); `io_uring=off` makes none.
#[test]
fn mount_program_on_the_ring_exits_at_umount() {
    let _turn = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    require_io_uring();
    for (opt, want_rings) in [("io_uring=on", true), ("io_uring=off", false)] {
        let l = layers(1);
        let mnt = l.mnt_dir().canonicalize().unwrap();
        let options = format!(
            "lowerdir={},upperdir={},workdir={},{opt}",
            l.lower(0, "").display(),
            l.upper("").display(),
            l.dir.path().join("work").display()
        );
        let mut child = Command::new(BIN)
            .args(["-f", "-o", &options])
            .arg(&mnt)
            .spawn()
            .unwrap();
        let _guard = Unmount(mnt.clone());
        wait_mounted(&mnt, &mut child);
        workload(&mnt, opt);
        let (n, served) = rings(&child.id().to_string());
        if want_rings {
            assert!(n > 0 && served > 0, "{opt}: {n} rings, {served} requests");
        } else {
            assert_eq!(n, 0, "{opt}: the daemon has rings");
        }
        assert!(Command::new("umount").arg(&mnt).status().unwrap().success());
        let status = child.wait().unwrap();
        assert!(status.success(), "{opt}: daemon ended with {status}");
    }
}

fn wait_mounted(mnt: &Path, child: &mut std::process::Child) {
    for _ in 0..1000 {
        if mounted(mnt) {
            return;
        }
        assert!(child.try_wait().unwrap().is_none(), "daemon exited early");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{} never mounted", mnt.display());
}
