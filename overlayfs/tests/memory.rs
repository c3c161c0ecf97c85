//! The daemon's memory follows the kernel's references: once the kernel
//! forgets an inode (FORGET / BATCH_FORGET), its node leaves the table,
//! whether its file was deleted or is still there (it is built again, with
//! the same inode number, on the next lookup).

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::evict::{Evictor, caches, forget_all};
use common::layers;

#[test]
fn created_listed_and_deleted_files_leave_nothing_behind() {
    // Counts the nodes the kernel references: no eviction meanwhile.
    let _quiet = caches();
    let l = layers(1);
    for i in 0..100 {
        l.file(0, &format!("lower/f{i}"), "x");
    }
    let u = l.mount();
    let idle = u.stats();
    assert_eq!(idle.inodes, 1, "a fresh mount knows its root only");

    let dir = u.m("d");
    fs::create_dir(&dir).unwrap();
    for i in 0..2000 {
        fs::write(dir.join(format!("f{i}")), "data").unwrap();
    }
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 2000);
    let lower_ino = fs::metadata(u.m("lower/f7")).unwrap().ino();
    for e in fs::read_dir(u.m("lower")).unwrap() {
        fs::metadata(e.unwrap().path()).unwrap();
    }
    assert!(u.stats().inodes > 2100, "{:?}", u.stats());
    for e in fs::read_dir(&dir).unwrap() {
        fs::remove_file(e.unwrap().path()).unwrap();
    }
    fs::remove_dir(&dir).unwrap();

    let after = forget_all(&u, 1);
    assert_eq!(after.inodes, 1, "nodes left after forgetting: {after:?}");
    assert_eq!((after.open_files, after.open_dirs), (0, 0));
    // Deleted files keep nothing; the lower files walked keep only their
    // reserved inode number (and the lower dir its own).
    assert!(after.keys <= 1 + 101, "{after:?}");
    // Which a new lookup gets back.
    assert_eq!(fs::metadata(u.m("lower/f7")).unwrap().ino(), lower_ino);
    assert_eq!(u.ls("lower").len(), 100);
    assert!(!Path::new(&dir).exists());
}

/// A name looked up again while the kernel is forgetting its inode (an
/// evicted dentry: the FORGET and the new LOOKUP are served by two
/// threads at once) is found: the lookup counts the node before reading
/// it, or builds it again if the FORGET removed it first. Before, `stat`
/// of an existing file failed with ENOENT now and then (about 100 times in
/// 20 s of this load).
#[test]
fn a_name_looked_up_while_its_inode_is_forgotten_is_found() {
    let l = layers(1);
    for i in 0..200 {
        l.file(0, &format!("f{i}"), "x");
    }
    let u = l.mount();
    let root = u.m("");
    let evictor = Evictor::start();
    let (stats, errors) = std::thread::scope(|s| {
        let statters: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    let (mut n, mut errors) = (0u64, Vec::new());
                    let end = Instant::now() + Duration::from_secs(4);
                    while Instant::now() < end {
                        for i in 0..200 {
                            match fs::symlink_metadata(root.join(format!("f{i}"))) {
                                Ok(_) => n += 1,
                                Err(e) => errors.push(format!("f{i}: {e}")),
                            }
                        }
                    }
                    (n, errors)
                })
            })
            .collect();
        statters.into_iter().map(|t| t.join().unwrap()).fold(
            (0, Vec::new()),
            |(n, mut errs), (k, e)| {
                errs.extend(e);
                (n + k, errs)
            },
        )
    });
    drop(evictor);
    assert!(stats > 1000, "the load ran: {stats} stats");
    assert!(
        errors.is_empty(),
        "{} of {stats} stats failed: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
}

/// Renaming a lower directory copies up its whole tree, walking names the
/// kernel may hold no reference to any more: a FORGET of one of them
/// (served by another thread) could remove its node between the walk
/// finding it and copying it up, and the rename failed with ENOENT (once
/// in about 40 renames of this load). The walk now holds a reference of
/// its own on each node it visits, and gives it back at the end (so
/// nodes the kernel never looked up do not stay in the table either).
#[test]
fn a_directory_renamed_while_its_children_are_forgotten_moves_whole() {
    const DIRS: usize = 60;
    const FILES: usize = 40;
    let l = layers(1);
    for d in 0..DIRS {
        for f in 0..FILES {
            l.file(0, &format!("d{d}/s/f{f}"), "x");
        }
    }
    let u = l.mount();
    let _evictor = Evictor::start();
    let mut errors = Vec::new();
    for d in 0..DIRS {
        // The kernel looks the children up (and forgets them meanwhile).
        for f in 0..FILES {
            fs::symlink_metadata(u.m(&format!("d{d}/s/f{f}"))).unwrap();
        }
        if let Err(e) = fs::rename(u.m(&format!("d{d}")), u.m(&format!("moved{d}"))) {
            errors.push(format!("rename d{d}: {e}"));
        }
    }
    assert!(
        errors.is_empty(),
        "{} of {DIRS} renames failed: {errors:?}",
        errors.len()
    );
    for d in 0..DIRS {
        assert_eq!(u.ls(&format!("moved{d}/s")).len(), FILES, "moved{d}");
    }
    // Nodes the walk registered are not kept once unreferenced (the
    // evictor still runs: it holds `caches`).
    let s = forget_all(&u, 1);
    assert_eq!(s.inodes, 1, "{s:?}");
}

/// An upper file with two names keeps its inode number when one name goes
/// while the kernel has forgotten the other: the node of the remaining
/// name was dropped (it can be found again), so the removed name was the
/// only one the union knew, and its last name going released the backing
/// object's number, so the remaining name came back as a new inode.
/// Kernel overlayfs shows the upper inode, which does not change.
#[test]
fn a_hard_link_keeps_its_inode_number_when_a_forgotten_sibling_is_unlinked() {
    let _caches = caches();
    let l = layers(1);
    l.dir(0, "d");
    // Made in upper before mounting: the union knows neither name.
    fs::create_dir(l.upper("d")).unwrap();
    fs::write(l.upper("d/a"), "x").unwrap();
    fs::hard_link(l.upper("d/a"), l.upper("d/b")).unwrap();
    let u = l.mount();
    let (a, b) = (u.m("d/a"), u.m("d/b"));
    let before = fs::symlink_metadata(&a).unwrap().ino();
    forget_all(&u, 2);
    fs::remove_file(&b).unwrap();
    let after = fs::symlink_metadata(&a).unwrap();
    assert_eq!(after.nlink(), 1);
    assert_eq!(after.ino(), before, "d/a changed inode number");
}

/// Copying up a lower hard link links each of its known names to the copy,
/// making their directories in upper: a directory the kernel has forgotten
/// (only the other name's dentry is in use) is walked to again. The walk
/// counts what it visits (the kernel may be forgetting it at that moment)
/// and gives it back, so that directory does not stay in the table.
#[test]
fn copying_up_a_hard_link_leaves_no_node_for_its_other_directory() {
    let _caches = caches();
    let l = layers(1);
    let a = l.file(0, "x/a", "data");
    fs::create_dir_all(l.lower(0, "y")).unwrap();
    fs::hard_link(&a, l.lower(0, "y/b")).unwrap();
    let u = l.mount();
    fs::symlink_metadata(u.m("x/a")).unwrap();
    let held = fs::File::open(u.m("y/b")).unwrap();
    // x and x/a forgotten; y/b (open) and y stay.
    let s = forget_all(&u, 3);
    assert_eq!(s.inodes, 3, "{s:?}");
    fs::OpenOptions::new()
        .append(true)
        .open(u.m("y/b"))
        .unwrap();
    assert!(u.upper("x/a").exists(), "x/a linked to the copy");
    drop(held);
    // Left: the root and the copied-up hard link (kept while named: its
    // link count lives in the table).
    let s = forget_all(&u, 2);
    assert_eq!(s.inodes, 2, "{s:?}");
}
