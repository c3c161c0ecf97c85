//! rename(2)/renameat2(2) through the union: lower files and directories
//! (copied up instead of EXDEV), whiteouts and opaque markers left behind,
//! RENAME_NOREPLACE and RENAME_EXCHANGE. Integration tests: root + /dev/fuse.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;

use common::*;
use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};

#[test]
fn renaming_a_lower_file_whites_out_the_old_name() {
    let l = layers(1);
    l.file(0, "a", "data");
    let u = l.mount();
    let i = ino(&u.m("a"));
    fs::rename(u.m("a"), u.m("b")).unwrap();
    assert_eq!(u.ls(""), ["b"]);
    assert_eq!(ino(&u.m("b")), i, "rename changed the inode number");
    assert!(is_whiteout(&u.upper("a")));
    assert_eq!(fs::read_to_string(u.upper("b")).unwrap(), "data");
    u.assert_work_clean();
}

#[test]
fn renaming_a_merged_lower_directory_copies_its_tree_up() {
    let l = layers(2);
    l.file(0, "d/top", "t");
    l.file(1, "d/sub/deep", "deep");
    l.file(1, "d/gone", "g");
    l.whiteout(0, "d/gone");
    // `target` is an empty merged dir: its only entry is whited out.
    l.file(1, "target/old", "old");
    l.dir(0, "target");
    l.whiteout(0, "target/old");
    let u = l.mount();
    fs::rename(u.m("d"), u.m("target")).unwrap();
    assert_eq!(u.ls(""), ["target"]);
    assert_eq!(u.ls("target"), ["sub", "top"]);
    assert_eq!(fs::read_to_string(u.m("target/sub/deep")).unwrap(), "deep");
    assert!(is_whiteout(&u.upper("d")));
    assert_eq!(
        fs::read_to_string(u.upper("target/sub/deep")).unwrap(),
        "deep"
    );
    assert!(
        is_opaque(&u.upper("target")),
        "a lower layer has `target`: must be opaque"
    );
    // The renamed tree keeps working: new entries, removal.
    fs::write(u.m("target/sub/new"), "n").unwrap();
    fs::remove_file(u.m("target/top")).unwrap();
    assert_eq!(u.ls("target"), ["sub"]);
    assert!(
        fs::symlink_metadata(u.upper("target/top")).is_err(),
        "no whiteout needed in an opaque dir"
    );
    u.assert_work_clean();
}

#[test]
fn rename_noreplace_refuses_an_existing_target() {
    let l = layers(1);
    l.file(0, "a", "a");
    l.file(0, "b", "b");
    let u = l.mount();
    let r = renameat2(
        AT_FDCWD,
        &u.m("a"),
        AT_FDCWD,
        &u.m("b"),
        RenameFlags::RENAME_NOREPLACE,
    );
    assert_eq!(r, Err(nix::Error::EEXIST));
    renameat2(
        AT_FDCWD,
        &u.m("a"),
        AT_FDCWD,
        &u.m("c"),
        RenameFlags::RENAME_NOREPLACE,
    )
    .unwrap();
    assert_eq!(u.ls(""), ["b", "c"]);
}

#[test]
fn rename_exchange_swaps_a_lower_file_and_a_lower_directory() {
    let l = layers(2);
    l.file(0, "f", "file");
    l.file(1, "d/inner", "i");
    l.file(1, "f_was_here/x", "");
    let u = l.mount();
    let (fi, di) = (ino(&u.m("f")), ino(&u.m("d")));
    renameat2(
        AT_FDCWD,
        &u.m("f"),
        AT_FDCWD,
        &u.m("d"),
        RenameFlags::RENAME_EXCHANGE,
    )
    .unwrap();
    assert_eq!(fs::read_to_string(u.m("d")).unwrap(), "file");
    assert_eq!(fs::read_to_string(u.m("f/inner")).unwrap(), "i");
    assert_eq!((ino(&u.m("d")), ino(&u.m("f"))), (fi, di));
    assert_eq!(fs::read_to_string(u.upper("d")).unwrap(), "file");
    assert!(fs::metadata(u.upper("f")).unwrap().is_dir());
    assert!(
        is_opaque(&u.upper("f")),
        "the dir landed where a lower has `f`"
    );
}

#[test]
fn rename_over_an_empty_merged_dir_and_over_a_whiteout() {
    let l = layers(1);
    l.file(0, "full/x", "x");
    l.file(0, "gone/y", "y");
    let u = l.mount();
    fs::remove_file(u.m("full/x")).unwrap();
    fs::create_dir(u.m("src")).unwrap();
    fs::write(u.m("src/f"), "f").unwrap();
    // `full` is empty in the union but its upper part holds a whiteout.
    fs::rename(u.m("src"), u.m("full")).unwrap();
    assert_eq!(u.ls("full"), ["f"]);
    assert!(is_opaque(&u.upper("full")));
    // Over a whiteout: the directory takes its place, still opaque.
    fs::remove_dir_all(u.m("gone")).unwrap();
    fs::create_dir(u.m("src2")).unwrap();
    fs::rename(u.m("src2"), u.m("gone")).unwrap();
    assert!(u.ls("gone").is_empty());
    assert!(is_opaque(&u.upper("gone")));
    assert_eq!(u.ls(""), ["full", "gone"]);
    u.assert_work_clean();
}

#[test]
fn rename_errors_match_posix() {
    let l = layers(1);
    l.file(0, "f", "");
    l.file(0, "d/x", "");
    l.dir(0, "e");
    let u = l.mount();
    assert_eq!(errno_of(fs::rename(u.m("f"), u.m("d"))), libc::EISDIR);
    assert_eq!(errno_of(fs::rename(u.m("e"), u.m("f"))), libc::ENOTDIR);
    assert_eq!(errno_of(fs::rename(u.m("e"), u.m("d"))), libc::ENOTEMPTY);
    assert_eq!(errno_of(fs::rename(u.m("nope"), u.m("x"))), libc::ENOENT);
    assert_eq!(errno_of(fs::rename(u.m("d"), u.m("d/x/in"))), libc::ENOTDIR);
    assert_eq!(errno_of(fs::rename(u.m("e"), u.m("e/sub"))), libc::EINVAL);
    assert_eq!(u.ls(""), ["d", "e", "f"]);
}

#[test]
fn hard_links_to_one_file_rename_onto_each_other_as_a_no_op() {
    let l = layers(1);
    let u = l.mount();
    fs::write(u.m("a"), "x").unwrap();
    fs::hard_link(u.m("a"), u.m("b")).unwrap();
    fs::rename(u.m("a"), u.m("b")).unwrap();
    assert_eq!(u.ls(""), ["a", "b"]);
}

#[test]
fn renaming_over_a_name_of_a_lower_hard_link_counts_it_removed() {
    let l = layers(1);
    let a = l.file(0, "a", "three names");
    fs::hard_link(&a, l.lower(0, "b")).unwrap();
    fs::hard_link(&a, l.lower(0, "c")).unwrap();
    l.file(0, "other", "replaces b");
    let mut u = l.mount();
    // Two names of one file: rename(2) does nothing.
    fs::rename(u.m("c"), u.m("a")).unwrap();
    assert_eq!(u.ls(""), ["a", "b", "c", "other"]);
    assert_eq!(fs::metadata(u.m("a")).unwrap().nlink(), 3);
    fs::rename(u.m("other"), u.m("b")).unwrap();
    assert_eq!(fs::read_to_string(u.m("b")).unwrap(), "replaces b");
    assert_eq!(fs::metadata(u.m("a")).unwrap().nlink(), 2, "after b went");
    // Moving a name of it keeps the count and the inode.
    let i = ino(&u.m("a"));
    fs::rename(u.m("c"), u.m("d")).unwrap();
    assert_eq!(
        (ino(&u.m("d")), fs::metadata(u.m("d")).unwrap().nlink()),
        (i, 2)
    );
    u.unmount();
    let u = u.layers.mount();
    assert_eq!(u.ls(""), ["a", "b", "d"]);
    assert_eq!(
        fs::metadata(u.m("a")).unwrap().nlink(),
        2,
        "after remounting"
    );
    assert_eq!(ino(&u.m("a")), ino(&u.m("d")));
}
