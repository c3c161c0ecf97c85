//! The kernel's directory-listing cache (FOPEN_CACHE_DIR, kept across
//! opens; `-o dircache=on`, off by default) over stable readdir cookies:
//! listings through several handles join without a name twice, a cookie
//! means the same position for every open (seekdir), and a cached listing
//! follows every change, also those the kernel cannot see itself (a
//! copy-up, a moved directory's `..`).
//! Integration tests: root + /dev/fuse.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::DirEntryExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;

/// Every entry of `dir` (`.` and `..` included) with its d_ino.
fn dirents(dir: &Path) -> Vec<(String, u64)> {
    let mut d = nix::dir::Dir::open(
        dir,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY,
        nix::sys::stat::Mode::empty(),
    )
    .unwrap();
    let mut out: Vec<(String, u64)> = d
        .iter()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), e.ino())
        })
        .collect();
    out.sort();
    out
}

/// Lists `rel` twice (the second listing may come from the kernel's
/// cache) and checks both show `want` and number every entry as stat does.
fn assert_lists(u: &Union, rel: &str, want: &[&str]) {
    for _ in 0..2 {
        assert_eq!(u.ls(rel), want, "listing of {rel:?}");
        for e in fs::read_dir(u.m(rel)).unwrap() {
            let e = e.unwrap();
            assert_eq!(e.ino(), ino(&e.path()), "d_ino of {:?}", e.path());
        }
    }
}

/// A mount with the kernel's listing cache on (`-o dircache=on`).
fn mount_cached(l: Layers) -> Union {
    let config = overlayfs::Config {
        dir_cache: true,
        ..l.config()
    };
    l.mount_config(config)
}

/// Puts `d/sneaked` straight into the upper layer, behind the mount's back
/// (undefined for overlayfs), and sets `d`'s mtime back, so that only a
/// listing that asks the daemon shows it.
fn sneak_into_upper(u: &Union) {
    let mtime = fs::metadata(u.upper("d")).unwrap().modified().unwrap();
    fs::write(u.upper("d/sneaked"), "s").unwrap();
    fs::File::open(u.upper("d"))
        .unwrap()
        .set_modified(mtime)
        .unwrap();
}

/// By default the kernel keeps no listing: a file put straight into the
/// upper layer, with the directory's mtime set back, shows at the next
/// listing (every listing asks the daemon).
#[test]
fn without_dircache_every_listing_asks_the_daemon() {
    let l = layers(1);
    l.file(0, "d/low", "l");
    fs::create_dir(l.upper("d")).unwrap();
    let u = l.mount();
    assert_eq!(u.ls("d"), ["low"]);
    sneak_into_upper(&u);
    assert_eq!(u.ls("d"), ["low", "sneaked"]);
}

/// A second listing is served by the kernel: a file put straight into the
/// upper layer (behind the mount's back, where overlayfs leaves the
/// result undefined), with the directory's mtime set back, does not show
/// until a change through the mount drops the cached listing. (The kernel
/// checks the mtime at each open: a change that moves it shows at once.)
/// Guards that the cache is on at all.
#[test]
fn listings_are_cached_by_the_kernel_until_the_directory_changes() {
    let l = layers(1);
    l.file(0, "d/low", "l");
    fs::create_dir(l.upper("d")).unwrap();
    let u = mount_cached(l);
    assert_eq!(u.ls("d"), ["low"]);
    sneak_into_upper(&u);
    assert_eq!(u.ls("d"), ["low"], "second listing not from the cache");
    fs::write(u.m("d/new"), "n").unwrap();
    assert_eq!(u.ls("d"), ["low", "new", "sneaked"]);
}

/// Listings through several handles at once (so the kernel fills one
/// cached listing with replies to different opens) while another thread
/// creates and removes names: no name twice, no name that exists
/// throughout missing.
#[test]
fn concurrent_listings_show_every_lasting_name_once() {
    const KEEP: usize = 300;
    let l = layers(1);
    for i in 0..KEEP {
        l.file(0, &format!("d/keep{i:03}"), "");
    }
    let u = mount_cached(l);
    let dir = u.m("d");
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut i = 0u64;
            while !done.load(Ordering::Relaxed) {
                let p = dir.join(format!("churn{}", i % 64));
                if i % 128 < 64 {
                    fs::write(&p, "").unwrap();
                } else {
                    fs::remove_file(&p).unwrap();
                }
                i += 1;
            }
        });
        let listers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    for round in 0..40 {
                        let mut seen = HashSet::new();
                        for e in fs::read_dir(&dir).unwrap() {
                            let name = e.unwrap().file_name().to_string_lossy().into_owned();
                            assert!(seen.insert(name.clone()), "round {round}: {name} twice");
                        }
                        for i in 0..KEEP {
                            let name = format!("keep{i:03}");
                            assert!(seen.contains(&name), "round {round}: {name} missing");
                        }
                    }
                })
            })
            .collect();
        let results: Vec<_> = listers.into_iter().map(|h| h.join()).collect();
        done.store(true, Ordering::Relaxed);
        for r in results {
            if let Err(panic) = r {
                std::panic::resume_unwind(panic);
            }
        }
    });
}

/// A telldir() position of one open is a position of the directory:
/// seekdir() to it in another open continues after the same entry, from a
/// cold cache, from the cached listing, and after the directory changed
/// (for the names that existed throughout).
#[test]
fn seekdir_to_a_position_of_another_open() {
    let l = layers(2);
    for i in 0..400 {
        l.file(i % 2, &format!("d/f{i:03}"), "");
    }
    let u = mount_cached(l);
    let dir = u.m("d");
    let first = common::sys::tell_all(&dir);
    assert_eq!(first.len(), 402);
    let names: Vec<&String> = first.iter().map(|(_, n)| n).collect();
    assert_eq!(names[0], ".");
    assert_eq!(
        names.iter().collect::<HashSet<_>>().len(),
        402,
        "a name twice"
    );
    // The same positions in a second full listing (now from the cache).
    assert_eq!(common::sys::tell_all(&dir), first);
    for (k, (pos, name)) in first.iter().enumerate().step_by(37) {
        let rest = common::sys::read_from(&dir, *pos);
        let want: Vec<String> = first[k..].iter().map(|(_, n)| n.clone()).collect();
        assert_eq!(rest, want, "from the position of {name}");
    }
    // Positions outlive changes: a new name may or may not show after
    // a position, the others are exactly those after it.
    fs::write(u.m("d/late"), "").unwrap();
    fs::remove_file(u.m("d/f007")).unwrap();
    for (k, (pos, name)) in first.iter().enumerate().step_by(53) {
        let rest: Vec<String> = common::sys::read_from(&dir, *pos)
            .into_iter()
            .filter(|n| n != "late")
            .collect();
        let want: Vec<String> = first[k..]
            .iter()
            .map(|(_, n)| n.clone())
            .filter(|n| n != "f007")
            .collect();
        assert_eq!(rest, want, "from the position of {name} after a change");
    }
}

/// Each kind of change shows in the next listing of a directory whose
/// listing the kernel has cached, entries and inode numbers alike.
#[test]
fn cached_listings_follow_moves_copy_ups_whiteouts_and_opaque_dirs() {
    let l = layers(2);
    l.file(1, "a/x", "x");
    l.file(1, "a/y", "y");
    l.file(0, "b/z", "z");
    l.file(1, "c/p", "p");
    l.file(0, "c/q", "q");
    let u = mount_cached(l);
    assert_lists(&u, "a", &["x", "y"]);
    assert_lists(&u, "b", &["z"]);
    // Rename out of one directory into another.
    fs::rename(u.m("a/x"), u.m("b/x")).unwrap();
    assert_lists(&u, "a", &["y"]);
    assert_lists(&u, "b", &["x", "z"]);
    // Copy-up of a child: same names, its number as stat gives it, also
    // once the kernel forgot the child (drop_caches 2 keeps the open
    // directory and its cached listing).
    let a = fs::File::open(u.m("a")).unwrap();
    fs::OpenOptions::new()
        .append(true)
        .open(u.m("a/y"))
        .unwrap();
    fs::write("/proc/sys/vm/drop_caches", "2").unwrap();
    assert_lists(&u, "a", &["y"]);
    drop(a);
    // A whiteout over a lower entry, a directory made and removed.
    fs::remove_file(u.m("b/z")).unwrap();
    assert_lists(&u, "b", &["x"]);
    fs::create_dir(u.m("b/sub")).unwrap();
    assert_lists(&u, "b", &["sub", "x"]);
    fs::remove_dir(u.m("b/sub")).unwrap();
    assert_lists(&u, "b", &["x"]);
    // A merged directory removed and made again: opaque, empty.
    assert_lists(&u, "c", &["p", "q"]);
    let c_open = fs::File::open(u.m("c")).unwrap();
    fs::remove_file(u.m("c/p")).unwrap();
    fs::remove_file(u.m("c/q")).unwrap();
    fs::remove_dir(u.m("c")).unwrap();
    fs::create_dir(u.m("c")).unwrap();
    assert_lists(&u, "c", &[]);
    drop(c_open);
    fs::write(u.m("c/n"), "n").unwrap();
    assert_lists(&u, "c", &["n"]);
    // A directory moved elsewhere: its `..` is its new parent.
    let before = dirents(&u.m("c"));
    assert!(before.contains(&("..".into(), ino(&u.m("")))), "{before:?}");
    fs::rename(u.m("c"), u.m("a/c")).unwrap();
    let after = dirents(&u.m("a/c"));
    assert!(after.contains(&("..".into(), ino(&u.m("a")))), "{after:?}");
    assert_lists(&u, "a", &["c", "y"]);
    assert_lists(&u, "", &["a", "b"]);
}

/// Deleting every entry while reading the directory through one open (as
/// Go's `os.RemoveAll` and Python's `scandir` loops do): each name is read
/// once, none is missed, and the directory ends empty. The open listing
/// follows the removals in place (`readdir::Listing`), not by reading the
/// directory anew after each, which made this quadratic.
#[test]
fn deleting_while_reading_sees_every_name_once() {
    let l = layers(2);
    for i in 0..1500 {
        l.file(i % 2, &format!("d/low{i:04}"), "");
    }
    let u = mount_cached(l);
    for i in 0..300 {
        fs::write(u.m(&format!("d/up{i:03}")), "").unwrap();
    }
    let mut seen = HashSet::new();
    for e in fs::read_dir(u.m("d")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(seen.insert(name.clone()), "{name} read twice");
        fs::remove_file(e.path()).unwrap();
    }
    assert_eq!(seen.len(), 1800);
    assert!(u.ls("d").is_empty(), "left: {:?}", u.ls("d"));
}
