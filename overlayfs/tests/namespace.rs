//! Creating and removing names: ownership of new objects, special files,
//! whiteouts and opaque directories left in upper, hard and symbolic
//! links, name length limits. Integration tests: root + /dev/fuse.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

use common::*;

#[test]
fn new_files_belong_to_the_caller() {
    let l = layers(1);
    l.dir(0, "pub");
    fs::set_permissions(l.lower(0, "pub"), fs::Permissions::from_mode(0o777)).unwrap();
    let u = l.mount();
    let d = u.m("pub");
    let out = as_user(
        1000,
        1000,
        &format!(
            "cd {} && echo x > f && mkdir d && ln -s f s && mkfifo p",
            d.display()
        ),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for n in ["f", "d", "s", "p"] {
        let m = fs::symlink_metadata(u.upper(&format!("pub/{n}"))).unwrap();
        assert_eq!((m.uid(), m.gid()), (1000, 1000), "{n}");
    }
    let umask_mode = fs::metadata(u.upper("pub/f")).unwrap().mode() & 0o777;
    assert_eq!(umask_mode, 0o644 & !0o022 & 0o777);
}

#[test]
fn setgid_directories_pass_their_group_on() {
    let l = layers(1);
    let d = l.dir(0, "shared");
    std::os::unix::fs::chown(&d, Some(0), Some(2000)).unwrap();
    fs::set_permissions(&d, fs::Permissions::from_mode(0o2777)).unwrap();
    let u = l.mount();
    let out = as_user(
        1000,
        1000,
        &format!("cd {} && touch f && mkdir sub", u.m("shared").display()),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::metadata(u.upper("shared/f")).unwrap().gid(), 2000);
    let sub = fs::metadata(u.upper("shared/sub")).unwrap();
    assert_eq!(sub.gid(), 2000);
    assert_ne!(sub.mode() & libc::S_ISGID, 0, "subdir must inherit setgid");
}

#[test]
fn mknod_makes_every_special_file_but_refuses_whiteouts() {
    let l = layers(1);
    let u = l.mount();
    sys::mknod(&u.m("fifo"), libc::S_IFIFO | 0o600, 0).unwrap();
    sys::mknod(&u.m("sock"), libc::S_IFSOCK | 0o600, 0).unwrap();
    sys::mknod(&u.m("null"), libc::S_IFCHR | 0o666, libc::makedev(1, 3)).unwrap();
    sys::mknod(&u.m("blk"), libc::S_IFBLK | 0o600, libc::makedev(7, 0)).unwrap();
    assert_eq!(
        errno_of(sys::mknod(&u.m("wh"), libc::S_IFCHR | 0o600, 0)),
        libc::EPERM
    );
    let t = |n: &str| fs::symlink_metadata(u.upper(n)).unwrap().file_type();
    assert!(
        t("fifo").is_fifo()
            && t("sock").is_socket()
            && t("null").is_char_device()
            && t("blk").is_block_device()
    );
    assert_eq!(
        fs::symlink_metadata(u.upper("null")).unwrap().rdev(),
        libc::makedev(1, 3)
    );
    assert!(!u.upper("wh").exists());
    assert_eq!(u.ls(""), ["blk", "fifo", "null", "sock"]);
}

#[test]
fn unlink_of_a_lower_file_leaves_a_whiteout() {
    let l = layers(2);
    l.file(1, "d/f", "x");
    l.file(0, "upper_only_later", "x");
    let u = l.mount();
    fs::remove_file(u.m("d/f")).unwrap();
    assert!(u.ls("d").is_empty());
    assert!(is_whiteout(&u.upper("d/f")), "no whiteout in upper");
    // A name that exists only in upper leaves nothing behind.
    fs::write(u.m("new"), "n").unwrap();
    fs::remove_file(u.m("new")).unwrap();
    assert!(!u.upper("new").exists() && fs::symlink_metadata(u.upper("new")).is_err());
    // Recreating a whited-out name replaces the whiteout.
    fs::write(u.m("d/f"), "again").unwrap();
    assert_eq!(fs::read_to_string(u.upper("d/f")).unwrap(), "again");
    u.assert_work_clean();
}

#[test]
fn whiteouts_already_in_upper_hide_and_give_way_to_creates() {
    let l = layers(1);
    l.file(0, "d/f", "lower");
    l.file(0, "d/g", "lower");
    // An upper dir left by fuse-overlayfs (`.wh.` files where it could
    // not mknod) and a stray 0/0 whiteout hiding nothing.
    fs::create_dir(l.upper("d")).unwrap();
    fs::write(l.upper("d/.wh.f"), "").unwrap();
    sys::mknod(&l.upper("stray"), libc::S_IFCHR, 0).unwrap();
    l.file(0, "hidden", "lower");
    sys::mknod(&l.upper("hidden"), libc::S_IFCHR, 0).unwrap();
    let u = l.mount();
    assert_eq!(u.ls("d"), ["g"]);
    // Each create follows a lookup that found nothing (noted for create).
    assert_eq!(errno_of(fs::metadata(u.m("d/f"))), libc::ENOENT);
    assert_eq!(errno_of(fs::metadata(u.m("hidden"))), libc::ENOENT);
    assert_eq!(u.ls(""), ["d"]);
    fs::write(u.m("hidden"), "new").unwrap();
    assert_eq!(fs::read_to_string(u.upper("hidden")).unwrap(), "new");
    fs::write(u.m("stray"), "new").unwrap();
    fs::write(u.m("d/f"), "new").unwrap();
    fs::create_dir(u.m("d/sub")).unwrap();
    assert_eq!(fs::read_to_string(u.upper("stray")).unwrap(), "new");
    assert_eq!(fs::read_to_string(u.m("d/f")).unwrap(), "new");
    assert_eq!(u.ls("d"), ["f", "g", "sub"]);
    assert_eq!(u.ls(""), ["d", "hidden", "stray"]);
    // Removed again: the lower file stays hidden.
    fs::remove_file(u.m("d/f")).unwrap();
    assert_eq!(u.ls("d"), ["g", "sub"]);
    assert_eq!(errno_of(fs::metadata(u.m("d/f"))), libc::ENOENT);
    u.assert_work_clean();
}

#[test]
fn unlink_and_rmdir_leave_a_whiteout_exactly_where_a_lower_name_shows() {
    let l = layers(1);
    l.file(0, "a/copied", "lower");
    l.file(0, "a/plain", "lower");
    l.dir(0, "a/lowdir");
    let u = l.mount();
    // A copied-up lower file: the upper copy is swapped for a whiteout.
    fs::write(u.m("a/copied"), "upper").unwrap();
    fs::remove_file(u.m("a/copied")).unwrap();
    assert!(is_whiteout(&u.upper("a/copied")));
    // A lower file in a dir already in upper: one whiteout.
    fs::remove_file(u.m("a/plain")).unwrap();
    assert!(is_whiteout(&u.upper("a/plain")));
    // Upper-only names leave nothing; unlink of a directory is EISDIR.
    fs::create_dir(u.m("a/updir")).unwrap();
    fs::write(u.m("a/upfile"), "x").unwrap();
    assert_eq!(errno_of(fs::remove_file(u.m("a/updir"))), libc::EISDIR);
    fs::remove_dir(u.m("a/updir")).unwrap();
    fs::remove_file(u.m("a/upfile")).unwrap();
    assert!(fs::symlink_metadata(u.upper("a/updir")).is_err());
    assert!(fs::symlink_metadata(u.upper("a/upfile")).is_err());
    // A lower dir: a whiteout; made again it is opaque and empty.
    fs::remove_dir(u.m("a/lowdir")).unwrap();
    assert!(is_whiteout(&u.upper("a/lowdir")));
    fs::create_dir(u.m("a/lowdir")).unwrap();
    fs::write(u.m("a/lowdir/new"), "n").unwrap();
    assert_eq!(u.ls("a/lowdir"), ["new"]);
    assert_eq!(u.ls("a"), ["lowdir"]);
    assert_eq!(errno_of(fs::metadata(u.m("a/plain"))), libc::ENOENT);
    u.assert_work_clean();
}

#[test]
fn rmdir_then_mkdir_gives_an_opaque_directory() {
    let l = layers(1);
    l.file(0, "d/inner/f", "x");
    let u = l.mount();
    fs::remove_dir_all(u.m("d")).unwrap();
    assert!(is_whiteout(&u.upper("d")));
    fs::create_dir(u.m("d")).unwrap();
    assert!(u.ls("d").is_empty(), "lower content came back");
    assert!(is_opaque(&u.upper("d")), "upper dir is not opaque");
    assert!(fs::metadata(u.upper("d")).unwrap().is_dir());
    u.assert_work_clean();
}

#[test]
fn rmdir_counts_whited_out_entries_as_gone() {
    let l = layers(1);
    l.file(0, "d/f", "x");
    let u = l.mount();
    assert_eq!(errno_of(fs::remove_dir(u.m("d"))), libc::ENOTEMPTY);
    fs::remove_file(u.m("d/f")).unwrap();
    assert!(is_whiteout(&u.upper("d/f")));
    fs::remove_dir(u.m("d")).unwrap();
    assert!(
        is_whiteout(&u.upper("d")),
        "upper dir with whiteouts must become a whiteout"
    );
    assert_eq!(u.ls(""), Vec::<String>::new());
}

#[test]
fn hard_link_to_a_lower_file() {
    let l = layers(1);
    l.file(0, "f", "data");
    let u = l.mount();
    fs::create_dir(u.m("d")).unwrap();
    fs::hard_link(u.m("f"), u.m("d/g")).unwrap();
    assert_eq!(ino(&u.m("f")), ino(&u.m("d/g")));
    assert_eq!(fs::metadata(u.m("d/g")).unwrap().nlink(), 2);
    assert_eq!(ino(&u.upper("f")), ino(&u.upper("d/g")));
    fs::remove_file(u.m("f")).unwrap();
    assert_eq!(fs::metadata(u.m("d/g")).unwrap().nlink(), 1);
    assert!(is_whiteout(&u.upper("f")));
    assert_eq!(fs::read_to_string(u.m("d/g")).unwrap(), "data");
}

#[test]
fn symlinks_are_created_and_read() {
    let l = layers(1);
    let u = l.mount();
    std::os::unix::fs::symlink("../some/where", u.m("s")).unwrap();
    assert_eq!(
        fs::read_link(u.m("s")).unwrap().to_str(),
        Some("../some/where")
    );
    assert_eq!(
        fs::read_link(u.upper("s")).unwrap().to_str(),
        Some("../some/where")
    );
    assert!(
        fs::symlink_metadata(u.m("s"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn names_longer_than_255_bytes_are_refused_and_255_works() {
    let l = layers(1);
    let long = "n".repeat(255);
    l.file(0, &long, "x");
    let u = l.mount();
    assert_eq!(
        errno_of(fs::write(u.m(&"m".repeat(256)), "")),
        libc::ENAMETOOLONG
    );
    assert_eq!(
        errno_of(fs::create_dir(u.m(&"m".repeat(256)))),
        libc::ENAMETOOLONG
    );
    fs::remove_file(u.m(&long)).unwrap();
    assert!(is_whiteout(&u.upper(&long)));
    fs::write(u.m(&"k".repeat(255)), "ok").unwrap();
    assert!(u.upper(&"k".repeat(255)).exists());
}

#[test]
fn exclusive_create_and_truncate_and_append() {
    use std::io::Write;
    let l = layers(1);
    l.file(0, "f", "0123456789");
    let u = l.mount();
    let excl = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(u.m("f"));
    assert_eq!(errno_of(excl), libc::EEXIST);
    let mut f = fs::OpenOptions::new().append(true).open(u.m("f")).unwrap();
    f.write_all(b"ab").unwrap();
    drop(f);
    assert_eq!(fs::read_to_string(u.m("f")).unwrap(), "0123456789ab");
    fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(u.m("f"))
        .unwrap()
        .write_all(b"z")
        .unwrap();
    assert_eq!(fs::read_to_string(u.upper("f")).unwrap(), "z");
}

#[test]
fn marker_names_cannot_be_created_through_the_mount() {
    let l = layers(1);
    let u = l.mount();
    assert_eq!(errno_of(fs::write(u.m(".wh.x"), "")), libc::EINVAL);
    assert_eq!(errno_of(fs::create_dir(u.m(".wh..wh..opq"))), libc::EINVAL);
    fs::write(u.m("x"), "").unwrap();
    assert_eq!(errno_of(fs::rename(u.m("x"), u.m(".wh.y"))), libc::EINVAL);
    assert!(ls(&u.upper("")).iter().all(|n| !n.starts_with(".wh.")));
}

/// Whiteouts are links of one shared 0/0 device in the work dir, as the
/// kernel makes them (no inode allocated per removed name); each one still
/// hides its lower name, a remount starts a new shared inode and the old
/// links keep hiding, and a directory full of them is removed whole.
#[test]
fn whiteouts_are_links_of_one_shared_inode() {
    let l = layers(1);
    for f in ["d/a", "d/b", "d/c", "e/x"] {
        l.file(0, f, "lower");
    }
    let mut u = l.mount();
    for f in ["d/a", "d/b", "e/x"] {
        fs::remove_file(u.m(f)).unwrap();
    }
    let shared = u.layers.dir.path().join("work/strata-whiteout");
    assert!(is_whiteout(&shared), "no shared whiteout in work/");
    for f in ["d/a", "d/b", "e/x"] {
        assert!(is_whiteout(&u.upper(f)), "{f}: no whiteout");
        assert_eq!(
            ino(&u.upper(f)),
            ino(&shared),
            "{f}: not a link of the shared one"
        );
        assert_eq!(errno_of(fs::metadata(u.m(f))), libc::ENOENT);
    }
    assert_eq!(fs::symlink_metadata(&shared).unwrap().nlink(), 4);
    assert_eq!(u.ls("d"), ["c"]);
    u.assert_work_clean();
    u.unmount();
    let u = u.layers.mount();
    assert_eq!(u.ls("d"), ["c"], "whiteouts of the last mount still hide");
    let shared = u.layers.dir.path().join("work/strata-whiteout");
    assert!(
        fs::symlink_metadata(&shared).is_err(),
        "the old one is dropped at mount"
    );
    fs::remove_file(u.m("d/c")).unwrap();
    assert_ne!(
        ino(&u.upper("d/c")),
        ino(&u.upper("d/a")),
        "a new shared inode"
    );
    assert_eq!(ino(&u.upper("d/c")), ino(&shared));
    // The directory goes with its whiteouts, leaving one itself.
    fs::remove_dir(u.m("d")).unwrap();
    assert!(is_whiteout(&u.upper("d")));
    assert_eq!(ino(&u.upper("d")), ino(&shared));
    assert_eq!(u.ls(""), ["e"]);
    assert_eq!(u.ls("e"), Vec::<String>::new());
    u.assert_work_clean();
}
