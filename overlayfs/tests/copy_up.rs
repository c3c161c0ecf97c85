//! Copy-up: every modification of a lower object moves a complete copy
//! (data with holes, mode, owner, times, xattrs) into upper, parents first
//! with the lower directories' metadata, keeping the inode number.
//! Integration tests: root + /dev/fuse.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::Path;

use common::*;

/// A lower file with non-default metadata: mode 0640, owner 1000:1001,
/// user xattr, mtime in 2001.
fn rich_file(l: &Layers, rel: &str) {
    let p = l.file(0, rel, "lower data");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(&p, Some(1000), Some(1001)).unwrap();
    assert!(setxattr(&p, "user.color", "blue").status.success());
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    File::options()
        .write(true)
        .open(&p)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

fn assert_same_metadata(upper: &Path, lower: &Path, check_mtime: bool) {
    let (u, l) = (
        fs::symlink_metadata(upper).unwrap(),
        fs::symlink_metadata(lower).unwrap(),
    );
    assert_eq!(u.mode(), l.mode(), "mode of {}", upper.display());
    assert_eq!(
        (u.uid(), u.gid()),
        (l.uid(), l.gid()),
        "owner of {}",
        upper.display()
    );
    if check_mtime {
        assert_eq!(
            (u.mtime(), u.mtime_nsec()),
            (l.mtime(), l.mtime_nsec()),
            "mtime of {}",
            upper.display()
        );
    }
}

#[test]
fn open_for_write_copies_data_and_metadata() {
    let l = layers(1);
    rich_file(&l, "f");
    let u = l.mount();
    let before = ino(&u.m("f"));
    OpenOptions::new()
        .append(true)
        .open(u.m("f"))
        .unwrap()
        .write_all(b" + more")
        .unwrap();
    assert_eq!(fs::read_to_string(u.m("f")).unwrap(), "lower data + more");
    assert_eq!(
        fs::read_to_string(u.upper("f")).unwrap(),
        "lower data + more"
    );
    assert_eq!(
        fs::read_to_string(u.lower(0, "f")).unwrap(),
        "lower data",
        "lower must not change"
    );
    assert_same_metadata(&u.upper("f"), &u.lower(0, "f"), false);
    assert_eq!(
        getxattr(&u.upper("f"), "user.color").as_deref(),
        Some("blue")
    );
    assert_eq!(ino(&u.m("f")), before, "inode number changed by copy-up");
    u.assert_work_clean();
}

#[test]
fn chmod_copy_up_keeps_times_and_xattrs() {
    let l = layers(1);
    rich_file(&l, "f");
    let u = l.mount();
    fs::set_permissions(u.m("f"), fs::Permissions::from_mode(0o600)).unwrap();
    let m = fs::metadata(u.upper("f")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o600);
    assert_eq!(m.mtime(), 1_000_000_000, "copy-up must keep mtime");
    assert_eq!((m.uid(), m.gid()), (1000, 1001));
    assert_eq!(
        getxattr(&u.upper("f"), "user.color").as_deref(),
        Some("blue")
    );
    assert_eq!(fs::read_to_string(u.upper("f")).unwrap(), "lower data");
}

#[test]
fn copy_up_keeps_sparse_holes() {
    let l = layers(1);
    let p = l.file(0, "sparse", "");
    let f = File::options().write(true).open(&p).unwrap();
    f.write_all_at(b"middle", 32 << 20).unwrap();
    f.set_len(64 << 20).unwrap();
    let u = l.mount();
    fs::set_permissions(u.m("sparse"), fs::Permissions::from_mode(0o600)).unwrap();
    let m = fs::metadata(u.upper("sparse")).unwrap();
    assert_eq!(m.len(), 64 << 20);
    assert!(
        m.blocks() * 512 <= 1 << 20,
        "holes filled: {} blocks allocated",
        m.blocks()
    );
    let mut buf = [0u8; 6];
    File::open(u.m("sparse"))
        .unwrap()
        .read_exact_at(&mut buf, 32 << 20)
        .unwrap();
    assert_eq!(&buf, b"middle");
}

#[test]
fn parents_are_copied_up_first_with_lower_metadata() {
    let l = layers(2);
    l.file(1, "a/b/c/file", "x");
    for (dir, mode, uid) in [
        ("a", 0o750, 1000),
        ("a/b", 0o711, 1001),
        ("a/b/c", 0o755, 0),
    ] {
        let p = l.lower(1, dir);
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        std::os::unix::fs::chown(&p, Some(uid), Some(uid)).unwrap();
    }
    let u = l.mount();
    fs::write(u.m("a/b/c/file"), "y").unwrap();
    for dir in ["a", "a/b", "a/b/c"] {
        assert_same_metadata(&u.upper(dir), &u.lower(1, dir), true);
    }
    assert_eq!(fs::read_to_string(u.upper("a/b/c/file")).unwrap(), "y");
}

#[test]
fn every_kind_of_modification_copies_up() {
    let l = layers(1);
    for f in [
        "trunc_open",
        "truncate",
        "chown",
        "utimens",
        "setxattr",
        "removexattr",
        "link",
    ] {
        l.file(0, f, "data");
    }
    assert!(
        setxattr(&l.lower(0, "removexattr"), "user.x", "1")
            .status
            .success()
    );
    let u = l.mount();
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(u.m("trunc_open"))
        .unwrap();
    OpenOptions::new()
        .write(true)
        .open(u.m("truncate"))
        .unwrap()
        .set_len(2)
        .unwrap();
    std::os::unix::fs::chown(u.m("chown"), Some(1000), None).unwrap();
    let t = nix::sys::time::TimeSpec::new(12345, 0);
    let follow = nix::sys::stat::UtimensatFlags::FollowSymlink;
    nix::sys::stat::utimensat(nix::fcntl::AT_FDCWD, &u.m("utimens"), &t, &t, follow).unwrap();
    assert!(setxattr(&u.m("setxattr"), "user.y", "2").status.success());
    let rm = std::process::Command::new("setfattr")
        .args(["-x", "user.x"])
        .arg(u.m("removexattr"))
        .status();
    assert!(rm.unwrap().success());
    fs::hard_link(u.m("link"), u.m("link2")).unwrap();
    assert_eq!(fs::read(u.upper("trunc_open")).unwrap(), b"");
    assert_eq!(fs::read(u.upper("truncate")).unwrap(), b"da");
    assert_eq!(fs::metadata(u.upper("chown")).unwrap().uid(), 1000);
    assert_eq!(fs::metadata(u.upper("utimens")).unwrap().mtime(), 12345);
    assert_eq!(
        getxattr(&u.upper("setxattr"), "user.y").as_deref(),
        Some("2")
    );
    assert_eq!(getxattr(&u.upper("removexattr"), "user.x"), None);
    assert_eq!(ino(&u.upper("link")), ino(&u.upper("link2")));
    assert_eq!(fs::metadata(u.m("link")).unwrap().nlink(), 2);
    u.assert_work_clean();
}

#[test]
fn utimensat_now_and_omit() {
    use nix::sys::stat::{UtimensatFlags, utimensat};
    use nix::sys::time::TimeSpec;
    let l = layers(1);
    rich_file(&l, "f");
    let u = l.mount();
    let atime_before = fs::metadata(u.m("f")).unwrap().atime();
    utimensat(
        nix::fcntl::AT_FDCWD,
        &u.m("f"),
        &TimeSpec::UTIME_OMIT,
        &TimeSpec::UTIME_NOW,
        UtimensatFlags::FollowSymlink,
    )
    .unwrap();
    let m = fs::metadata(u.m("f")).unwrap();
    assert!(m.mtime() > 1_000_000_000, "UTIME_NOW not applied");
    assert_eq!(m.atime(), atime_before, "UTIME_OMIT changed atime");
    let t = TimeSpec::new(777, 5);
    utimensat(
        nix::fcntl::AT_FDCWD,
        &u.m("f"),
        &t,
        &TimeSpec::UTIME_OMIT,
        UtimensatFlags::FollowSymlink,
    )
    .unwrap();
    let m2 = fs::metadata(u.upper("f")).unwrap();
    assert_eq!((m2.atime(), m2.atime_nsec()), (777, 5));
    assert_eq!(m2.mtime(), m.mtime());
}

#[test]
fn lower_hard_links_share_one_inode_and_count_whichever_name_comes_first() {
    let l = layers(1);
    let a = l.file(0, "dir/a", "shared");
    fs::hard_link(&a, l.lower(0, "b")).unwrap();
    let u = l.mount();
    // Look the second name up first.
    let mb = fs::metadata(u.m("b")).unwrap();
    let ma = fs::metadata(u.m("dir/a")).unwrap();
    assert_eq!(mb.ino(), ma.ino());
    assert_eq!((mb.nlink(), ma.nlink()), (2, 2));
    // After a copy-up through one name, both names still show one file.
    fs::write(u.m("b"), "changed").unwrap();
    assert_eq!(fs::read_to_string(u.m("dir/a")).unwrap(), "changed");
    assert_eq!(fs::metadata(u.m("dir/a")).unwrap().nlink(), 2);
    assert_eq!(ino(&u.m("dir/a")), ma.ino());
    assert_eq!(
        ino(&u.upper("dir/a")),
        ino(&u.upper("b")),
        "upper keeps the hard link"
    );
}

#[test]
fn copied_up_lower_link_not_yet_looked_up_joins_the_copy() {
    let l = layers(1);
    let a = l.file(0, "a", "shared");
    fs::hard_link(&a, l.lower(0, "b")).unwrap();
    let u = l.mount();
    fs::write(u.m("a"), "changed").unwrap();
    assert_eq!(fs::metadata(u.m("a")).unwrap().nlink(), 2);
    assert_eq!(fs::read_to_string(u.m("b")).unwrap(), "changed");
    assert_eq!(ino(&u.m("a")), ino(&u.m("b")));
    assert_eq!(ino(&u.upper("a")), ino(&u.upper("b")));
}

#[test]
fn lower_file_owned_by_user_can_be_opened_for_write_by_that_user() {
    let l = layers(1);
    let p = l.file(0, "home/f", "old");
    std::os::unix::fs::chown(&p, Some(1000), Some(1000)).unwrap();
    std::os::unix::fs::chown(l.lower(0, "home"), Some(1000), Some(1000)).unwrap();
    let u = l.mount();
    let f = u.m("home/f");
    let out = as_user(
        1000,
        1000,
        &format!("echo new > {0} && sed -i s/new/sed/ {0}", f.display()),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read_to_string(&f).unwrap(), "sed\n");
    assert_eq!(fs::metadata(u.upper("home/f")).unwrap().uid(), 1000);
}

#[test]
fn readers_never_see_a_partial_copy() {
    let l = layers(1);
    let content: Vec<u8> = (0..(24u32 << 20)).map(|i| (i % 251) as u8).collect();
    fs::write(l.lower(0, "big"), &content).unwrap();
    let u = l.mount();
    let path = u.m("big");
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut reads = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) || reads < 3 {
                let got = fs::read(&path).unwrap();
                assert!(
                    got == content,
                    "read {} bytes, not the whole file",
                    got.len()
                );
                reads += 1;
            }
        });
        // chmod copies the 24 MiB file up while the reader keeps reading it.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap();
    });
    assert_eq!(fs::read(u.upper("big")).unwrap(), content);
    u.assert_work_clean();
}

#[test]
fn a_read_only_open_follows_its_file_up() {
    let l = layers(1);
    l.file(0, "f", "old");
    let u = l.mount();
    let ro = File::open(u.m("f")).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(ro.read_at(&mut buf, 0).unwrap(), 3);
    fs::write(u.m("f"), "new content").unwrap();
    let n = ro.read_at(&mut buf, 0).unwrap();
    assert_eq!(
        &buf[..n],
        b"new content",
        "an open from before the copy-up still reads the lower file"
    );
    assert_eq!(ro.metadata().unwrap().len(), 11);
}

/// The index entries in `work/strata-index` (copied-up lower hard links).
fn index_entries(u: &Union) -> Vec<String> {
    ls(&u.layers.dir.path().join("work/strata-index"))
}

#[test]
fn removed_names_of_a_lower_hard_link_are_counted_and_its_inode_number_stays() {
    let l = layers(1);
    let a = l.file(0, "a", "three names");
    l.dir(0, "dir");
    fs::hard_link(&a, l.lower(0, "dir/b")).unwrap();
    fs::hard_link(&a, l.lower(0, "c")).unwrap();
    let u = l.mount();
    let x = ino(&u.m("a"));
    let d_ino = |name: &str| {
        fs::read_dir(u.m(""))
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.file_name() == name)
            .map(|e| std::os::unix::fs::DirEntryExt::ino(&e))
    };
    assert_eq!(d_ino("c"), Some(x), "readdir numbers c like a");

    fs::write(u.m("a"), "changed").unwrap();
    assert_eq!(ino(&u.m("a")), x, "copy-up keeps the number");
    assert_eq!(fs::metadata(u.m("a")).unwrap().nlink(), 3);
    assert_eq!(d_ino("c"), Some(x), "readdir after the copy-up");
    // The copy sits in the index, linked at `a` (and at the names the
    // listing looked up); the union count is kept relative to the upper
    // count in the kernel's format.
    assert_eq!(index_entries(&u).len(), 1);
    let upper_links = fs::metadata(u.upper("a")).unwrap().nlink() as i64;
    assert!(upper_links >= 2, "index entry + a");
    assert_eq!(
        getxattr(&u.upper("a"), "trusted.overlay.nlink"),
        Some(format!("U{:+}", 3 - upper_links))
    );

    std::thread::sleep(std::time::Duration::from_millis(15));
    let before = ctime(&u.m("a"));
    fs::remove_file(u.m("c")).unwrap();
    assert_eq!(fs::metadata(u.m("a")).unwrap().nlink(), 2, "after unlink c");
    assert!(
        ctime(&u.m("a")) > before,
        "unlink of another name moves ctime"
    );
    assert!(is_whiteout(&u.upper("c")));

    // An open name that goes still counts the name left (dir/b, never
    // looked up, not in upper yet).
    let open = File::open(u.m("a")).unwrap();
    fs::remove_file(u.m("a")).unwrap();
    assert_eq!(open.metadata().unwrap().nlink(), 1, "fstat after unlink a");
    assert_eq!(ino(&u.m("dir/b")), x, "the last name is the same inode");
    assert_eq!(fs::read_to_string(u.m("dir/b")).unwrap(), "changed");
    assert_eq!(fs::metadata(u.m("dir/b")).unwrap().nlink(), 1);
    fs::remove_file(u.m("dir/b")).unwrap();
    assert_eq!(open.metadata().unwrap().nlink(), 0, "no name left");
    assert!(index_entries(&u).is_empty(), "the index entry went with it");
    u.assert_work_clean();
}

#[test]
fn lower_hard_links_stay_joined_across_a_remount() {
    let l = layers(1);
    let a = l.file(0, "a", "shared");
    fs::hard_link(&a, l.lower(0, "b")).unwrap();
    fs::hard_link(&a, l.lower(0, "c")).unwrap();
    let x = l.file(0, "x", "pair");
    fs::hard_link(&x, l.lower(0, "y")).unwrap();
    let mut u = l.mount();
    fs::write(u.m("b"), "through b").unwrap();
    fs::remove_file(u.m("c")).unwrap();
    fs::hard_link(u.m("x"), u.m("z")).unwrap();
    u.unmount();
    let u = u.layers.mount();
    // a was never looked up before the remount; it joins the copy of b.
    assert_eq!(fs::read_to_string(u.m("a")).unwrap(), "through b");
    assert_eq!(ino(&u.m("a")), ino(&u.m("b")));
    assert_eq!(fs::metadata(u.m("a")).unwrap().nlink(), 2);
    assert_eq!(fs::metadata(u.m("b")).unwrap().nlink(), 2);
    let inos: Vec<u64> = ["x", "y", "z"].iter().map(|n| ino(&u.m(n))).collect();
    assert!(inos.windows(2).all(|w| w[0] == w[1]), "x y z: {inos:?}");
    assert_eq!(fs::metadata(u.m("y")).unwrap().nlink(), 3);
    fs::remove_file(u.m("x")).unwrap();
    assert_eq!(fs::metadata(u.m("z")).unwrap().nlink(), 2);
}

#[test]
fn index_entries_no_name_uses_are_removed_at_mount() {
    let l = layers(1);
    let index = l.dir.path().join("work/strata-index");
    fs::create_dir(&index).unwrap();
    // As a crash right after unlinking the last name would leave it: only
    // the index link, and a union count of 0.
    fs::write(index.join("L0-63"), "orphan").unwrap();
    assert!(
        setxattr(&index.join("L0-63"), "trusted.overlay.nlink", "U-1")
            .status
            .success()
    );
    fs::write(index.join("L0-64"), "two lower names left").unwrap();
    assert!(
        setxattr(&index.join("L0-64"), "trusted.overlay.nlink", "U+1")
            .status
            .success()
    );
    let u = l.mount();
    assert_eq!(index_entries(&u), vec!["L0-64".to_string()]);
}
