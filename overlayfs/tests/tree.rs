//! Reading through the stack: lookup, readdir merging, whiteouts and
//! opaque directories in every format, read-only mode. Integration tests:
//! root + /dev/fuse.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::fs;

use common::*;

#[test]
fn top_most_layer_wins_and_reads_copy_nothing_up() {
    let l = layers(3);
    l.file(0, "f", "top");
    l.file(1, "f", "middle");
    l.file(2, "f", "bottom");
    l.file(2, "only_bottom", "b");
    l.file(1, "d/from1", "1");
    l.file(2, "d/from2", "2");
    std::os::unix::fs::symlink("f", l.lower(1, "link")).unwrap();
    let u = l.mount();
    assert_eq!(fs::read_to_string(u.m("f")).unwrap(), "top");
    assert_eq!(fs::read_to_string(u.m("only_bottom")).unwrap(), "b");
    assert_eq!(fs::read_to_string(u.m("link")).unwrap(), "top");
    assert_eq!(fs::read_link(u.m("link")).unwrap().to_str(), Some("f"));
    assert_eq!(u.ls("d"), ["from1", "from2"]);
    assert_eq!(u.ls(""), ["d", "f", "link", "only_bottom"]);
    assert!(ls(&u.upper("")).is_empty(), "reads must not copy up");
}

#[test]
fn kernel_whiteouts_and_opaque_dirs_in_lowers_hide_entries() {
    let l = layers(2);
    l.whiteout(0, "gone");
    l.file(1, "gone", "x");
    l.dir(0, "opq");
    assert!(
        setxattr(&l.lower(0, "opq"), "trusted.overlay.opaque", "y")
            .status
            .success()
    );
    l.file(0, "opq/kept", "k");
    l.file(1, "opq/hidden", "h");
    let u = l.mount();
    assert_eq!(u.ls(""), ["opq"]);
    assert_eq!(errno_of(fs::metadata(u.m("gone"))), libc::ENOENT);
    assert_eq!(u.ls("opq"), ["kept"]);
    assert_eq!(errno_of(fs::metadata(u.m("opq/hidden"))), libc::ENOENT);
    assert!(
        getxattr(&u.m("opq"), "trusted.overlay.opaque").is_none(),
        "private xattr leaked"
    );
}

#[test]
fn fuse_overlayfs_markers_are_read_and_never_shown() {
    let l = layers(2);
    l.file(0, ".wh.old", "");
    l.file(1, "old", "x");
    l.file(1, "kept", "k");
    for (dir, how) in [
        ("a", "file"),
        ("b", "user.overlay.opaque"),
        ("c", "user.fuseoverlayfs.opaque"),
    ] {
        l.file(0, &format!("{dir}/top"), "t");
        l.file(1, &format!("{dir}/below"), "b");
        if how == "file" {
            l.file(0, &format!("{dir}/.wh..wh..opq"), "");
        } else {
            assert!(setxattr(&l.lower(0, dir), how, "y").status.success());
        }
    }
    let u = l.mount();
    assert_eq!(u.ls(""), ["a", "b", "c", "kept"]);
    for dir in ["a", "b", "c"] {
        assert_eq!(u.ls(dir), ["top"], "{dir} should be opaque");
    }
    assert_eq!(errno_of(fs::metadata(u.m(".wh.old"))), libc::ENOENT);
    assert_eq!(errno_of(fs::metadata(u.m("a/.wh..wh..opq"))), libc::ENOENT);
    assert!(!listxattr(&u.m("b")).iter().any(|n| n.contains("overlay")));
}

#[test]
fn readdir_of_a_large_merged_dir_is_complete_and_seekable() {
    let l = layers(2);
    for i in 0..1500 {
        l.file(i % 2, &format!("big/f{i:04}"), "");
    }
    for i in 0..100 {
        // Duplicates in both layers are listed once; whited-out names not at all.
        l.file(1, &format!("big/f{i:04}"), "");
    }
    l.whiteout(0, "big/f1499");
    let u = l.mount();
    let names = common::sys::telldir_roundtrip(&u.m("big"));
    let unique: HashSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "duplicate entries");
    assert_eq!(names.len(), 1499 + 2, "1499 files plus . and ..");
    assert!(!unique.contains(&"f1499".to_string()));
}

#[test]
fn entries_added_during_listing_do_not_break_it() {
    let l = layers(1);
    for i in 0..300 {
        l.file(0, &format!("d/f{i}"), "");
    }
    let u = l.mount();
    let mut rd = fs::read_dir(u.m("d")).unwrap();
    let mut seen = HashSet::new();
    for i in 0..50 {
        seen.insert(rd.next().unwrap().unwrap().file_name());
        fs::write(u.m(&format!("d/new{i}")), "").unwrap();
    }
    for e in rd {
        assert!(seen.insert(e.unwrap().file_name()), "entry listed twice");
    }
    for i in 0..300 {
        assert!(
            seen.contains(std::ffi::OsStr::new(&format!("f{i}"))),
            "f{i} lost"
        );
    }
}

#[test]
fn inode_numbers_match_between_readdir_and_stat() {
    use std::os::unix::fs::DirEntryExt;
    let l = layers(2);
    l.file(0, "a", "");
    l.file(1, "b", "");
    l.dir(1, "c");
    let u = l.mount();
    for e in fs::read_dir(u.m("")).unwrap() {
        let e = e.unwrap();
        assert_eq!(e.ino(), ino(&e.path()), "{:?}", e.file_name());
    }
}

#[test]
fn read_only_mode_serves_lowers_and_refuses_writes() {
    let l = layers(2);
    l.file(0, "f", "top");
    l.file(1, "g", "g");
    let u = l.mount_ro();
    assert_eq!(u.ls(""), ["f", "g"]);
    assert_eq!(fs::read_to_string(u.m("g")).unwrap(), "g");
    assert_eq!(errno_of(fs::write(u.m("new"), "x")), libc::EROFS);
    assert_eq!(
        errno_of(fs::OpenOptions::new().append(true).open(u.m("f"))),
        libc::EROFS
    );
    assert_eq!(errno_of(fs::remove_file(u.m("f"))), libc::EROFS);
    assert!(ls(&u.upper("")).is_empty());
}

/// Directories merged from many layers are looked up through an index of
/// the layers' listings: every rule must hold the same as layer by layer.
#[test]
fn deep_stacks_resolve_like_shallow_ones() {
    let l = layers(20);
    for i in 0..20 {
        l.file(i, &format!("d/own{i}"), &format!("{i}"));
    }
    l.file(19, "d/bottom", "bottom");
    l.file(12, "d/shadowed", "12");
    l.file(3, "d/shadowed", "3");
    l.file(15, "d/gone", "x");
    l.whiteout(5, "d/gone");
    l.file(15, "d/gone_oci", "x");
    l.file(7, "d/.wh.gone_oci", "");
    l.file(18, "d/sub/low", "low");
    l.file(2, "d/sub/high", "high");
    l.file(16, "d/opq/below", "below");
    l.file(4, "d/opq/above", "above");
    assert!(
        setxattr(&l.lower(4, "d/opq"), "trusted.overlay.opaque", "y")
            .status
            .success()
    );
    let u = l.mount();
    assert_eq!(fs::read_to_string(u.m("d/bottom")).unwrap(), "bottom");
    assert_eq!(fs::read_to_string(u.m("d/shadowed")).unwrap(), "3");
    assert_eq!(fs::read_to_string(u.m("d/own17")).unwrap(), "17");
    assert!(!u.m("d/gone").exists());
    assert!(!u.m("d/gone_oci").exists());
    assert!(!u.m("d/absent").exists());
    assert_eq!(u.ls("d/sub"), ["high", "low"]);
    assert_eq!(u.ls("d/opq"), ["above"]);
    assert!(!u.m("d/opq/below").exists());
    // Upper changes are seen at once (the upper layer is never indexed).
    fs::write(u.m("d/bottom"), "changed").unwrap();
    assert_eq!(fs::read_to_string(u.m("d/bottom")).unwrap(), "changed");
    fs::remove_file(u.m("d/shadowed")).unwrap();
    assert!(!u.m("d/shadowed").exists());
    fs::write(u.m("d/gone"), "back").unwrap();
    assert_eq!(fs::read_to_string(u.m("d/gone")).unwrap(), "back");
    // own0..own19, bottom, gone (made again), opq, sub; shadowed removed.
    assert_eq!(u.ls("d").len(), 20 + 4);
}

/// Every change through the mount shows in the next listing, also of a
/// merged directory whose lower entries get whited out, and through an open
/// directory stream that is rewound (a guard for any listing cache, the
/// kernel's FOPEN_CACHE_DIR included: see adapter.rs opendir).
#[test]
fn cached_listings_follow_every_change() {
    let l = layers(2);
    l.file(1, "d/low1", "1");
    l.file(1, "d/low2", "2");
    l.file(0, "d/top", "t");
    let u = l.mount();
    // Twice: the second may come from the cache.
    assert_eq!(u.ls("d"), ["low1", "low2", "top"]);
    assert_eq!(u.ls("d"), ["low1", "low2", "top"]);
    fs::write(u.m("d/new"), "n").unwrap();
    assert_eq!(u.ls("d"), ["low1", "low2", "new", "top"]);
    fs::remove_file(u.m("d/low1")).unwrap();
    assert_eq!(u.ls("d"), ["low2", "new", "top"]);
    fs::rename(u.m("d/low2"), u.m("d/moved")).unwrap();
    assert_eq!(u.ls("d"), ["moved", "new", "top"]);
    fs::create_dir(u.m("d/sub")).unwrap();
    fs::remove_dir(u.m("d/sub")).unwrap();
    fs::rename(u.m("d/top"), u.m("top-out")).unwrap();
    assert_eq!(u.ls("d"), ["moved", "new"]);
    assert_eq!(u.ls(""), ["d", "top-out"]);
    // A whole merged directory replaced: the new one starts empty.
    for name in u.ls("d") {
        fs::remove_file(u.m(&format!("d/{name}"))).unwrap();
    }
    fs::remove_dir(u.m("d")).unwrap();
    fs::create_dir(u.m("d")).unwrap();
    assert!(u.ls("d").is_empty());
    // An open stream, rewound after a change, sees it.
    let seen = common::sys::rewinddir_after(&u.m("d"), || {
        fs::write(u.m("d/late"), "l").unwrap();
    });
    assert_eq!(seen, ["late"]);
}
