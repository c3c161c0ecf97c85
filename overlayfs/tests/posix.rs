//! POSIX details conformance suites check, through the union: link counts
//! of open unlinked files, ctime/mtime updates, sticky directories,
//! permissions as other users, xattrs with private names hidden, statfs,
//! fsync, fallocate, SEEK_DATA/SEEK_HOLE, shared writable mmap and
//! copy_file_range. Integration tests: root + /dev/fuse.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::Path;

use common::*;

#[test]
fn an_unlinked_open_file_reports_no_links_and_keeps_its_data() {
    let l = layers(1);
    l.file(0, "lower", "lower data");
    let u = l.mount();
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(u.m("f"))
        .unwrap();
    f.write_all(b"still here").unwrap();
    fs::remove_file(u.m("f")).unwrap();
    assert_eq!(f.metadata().unwrap().nlink(), 0);
    let mut s = String::new();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.read_to_string(&mut s).unwrap();
    assert_eq!(s, "still here");
    let g = File::open(u.m("lower")).unwrap();
    fs::remove_file(u.m("lower")).unwrap();
    assert_eq!(g.metadata().unwrap().nlink(), 0);
    // Changing it through the open file must not write the lower layer.
    assert!(
        g.set_permissions(fs::Permissions::from_mode(0o600))
            .is_err()
    );
    assert_eq!(
        fs::metadata(u.lower(0, "lower")).unwrap().mode() & 0o777,
        0o644
    );
    // An open upper file can still be changed after its last name is gone.
    f.set_permissions(fs::Permissions::from_mode(0o640))
        .unwrap();
    f.set_len(5).unwrap();
    assert_eq!(f.metadata().unwrap().len(), 5);
    // The freed name can be reused by a new, unrelated file.
    fs::write(u.m("f"), "other").unwrap();
    assert_ne!(ino(&u.m("f")), f.metadata().unwrap().ino());
}

/// Waits until the clock is past `t` (coarse timestamp granularity), so a
/// following change must move ctime/mtime forward.
fn tick() {
    std::thread::sleep(std::time::Duration::from_millis(15));
}

fn mtime(p: &Path) -> (i64, i64) {
    let m = fs::symlink_metadata(p).unwrap();
    (m.mtime(), m.mtime_nsec())
}

#[test]
fn ctime_moves_on_every_change() {
    let l = layers(1);
    for f in [
        "chmod", "chown", "link", "unlink", "rename", "truncate", "write",
    ] {
        l.file(0, f, "data");
    }
    let u = l.mount();
    type Op = Box<dyn Fn(&Union)>;
    let cases: Vec<(&str, Op)> = vec![
        (
            "chmod",
            Box::new(|u| {
                fs::set_permissions(u.m("chmod"), fs::Permissions::from_mode(0o600)).unwrap()
            }),
        ),
        (
            "chown",
            Box::new(|u| std::os::unix::fs::chown(u.m("chown"), Some(1000), None).unwrap()),
        ),
        (
            "link",
            Box::new(|u| fs::hard_link(u.m("link"), u.m("link2")).unwrap()),
        ),
        (
            "unlink",
            Box::new(|u| {
                fs::hard_link(u.m("unlink"), u.m("unlink2")).unwrap();
                tick();
                let before = ctime(&u.m("unlink"));
                fs::remove_file(u.m("unlink2")).unwrap();
                assert!(ctime(&u.m("unlink")) > before, "unlink of another name");
            }),
        ),
        (
            "rename",
            Box::new(|u| fs::rename(u.m("rename"), u.m("renamed")).unwrap()),
        ),
        (
            "truncate",
            Box::new(|u| {
                OpenOptions::new()
                    .write(true)
                    .open(u.m("truncate"))
                    .unwrap()
                    .set_len(1)
                    .unwrap()
            }),
        ),
        (
            "write",
            Box::new(|u| {
                OpenOptions::new()
                    .write(true)
                    .open(u.m("write"))
                    .unwrap()
                    .write_all_at(b"x", 1)
                    .unwrap()
            }),
        ),
    ];
    for (name, op) in cases {
        let before = ctime(&u.m(name));
        tick();
        op(&u);
        let after_name = if name == "rename" { "renamed" } else { name };
        assert!(
            ctime(&u.m(after_name)) > before,
            "{name} did not move ctime"
        );
    }
}

#[test]
fn parent_mtime_moves_when_entries_change() {
    let l = layers(1);
    l.file(0, "d/old", "");
    let u = l.mount();
    let d = u.m("d");
    for op in ["create", "unlink", "mkdir", "rename"] {
        let before = mtime(&d);
        tick();
        match op {
            "create" => drop(File::create(d.join("new")).unwrap()),
            "unlink" => fs::remove_file(d.join("old")).unwrap(),
            "mkdir" => fs::create_dir(d.join("sub")).unwrap(),
            _ => fs::rename(d.join("new"), d.join("new2")).unwrap(),
        }
        assert!(mtime(&d) > before, "{op} did not move the parent's mtime");
    }
}

#[test]
fn sticky_directories_protect_other_users_files() {
    let l = layers(1);
    let tmp = l.dir(0, "tmp");
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o1777)).unwrap();
    let f = l.file(0, "tmp/owned", "x");
    std::os::unix::fs::chown(&f, Some(1000), Some(1000)).unwrap();
    let u = l.mount();
    let p = u.m("tmp/owned");
    let other = as_user(1001, 1001, &format!("rm -f {}", p.display()));
    assert!(
        !other.status.success(),
        "another user removed a file in a sticky dir"
    );
    let mv = as_user(
        1001,
        1001,
        &format!("mv {} {}/stolen", p.display(), u.m("tmp").display()),
    );
    assert!(!mv.status.success());
    let owner = as_user(1000, 1000, &format!("rm {}", p.display()));
    assert!(
        owner.status.success(),
        "{}",
        String::from_utf8_lossy(&owner.stderr)
    );
    assert!(is_whiteout(&u.upper("tmp/owned")));
    assert_eq!(
        fs::metadata(u.upper("tmp")).unwrap().mode() & 0o7777,
        0o1777
    );
}

#[test]
fn permissions_are_checked_for_other_users() {
    let l = layers(1);
    l.file(0, "secret", "s");
    fs::set_permissions(l.lower(0, "secret"), fs::Permissions::from_mode(0o600)).unwrap();
    l.file(0, "public", "p");
    let u = l.mount();
    let read_secret = as_user(1000, 1000, &format!("cat {}", u.m("secret").display()));
    assert!(!read_secret.status.success());
    let read_public = as_user(1000, 1000, &format!("cat {}", u.m("public").display()));
    assert_eq!(String::from_utf8_lossy(&read_public.stdout), "p");
    let write_root_dir = as_user(1000, 1000, &format!("touch {}", u.m("x").display()));
    assert!(!write_root_dir.status.success());
    fs::create_dir(u.m("ro")).unwrap();
    fs::set_permissions(u.m("ro"), fs::Permissions::from_mode(0o555)).unwrap();
    let mkdir = std::process::Command::new("mkdir")
        .args(["-m", "0555"])
        .arg(u.m("ro2"))
        .status()
        .unwrap();
    assert!(mkdir.success());
    assert_eq!(fs::metadata(u.upper("ro2")).unwrap().mode() & 0o777, 0o555);
}

#[test]
fn xattrs_pass_through_and_private_names_stay_hidden() {
    let l = layers(1);
    let f = l.file(0, "f", "");
    for (n, v) in [
        ("user.a", "1"),
        ("trusted.t", "2"),
        ("trusted.overlay.origin", "x"),
        ("user.overlay.y", "z"),
    ] {
        assert!(setxattr(&f, n, v).status.success(), "{n}");
    }
    let u = l.mount();
    let mut names = listxattr(&u.m("f"));
    names.sort();
    assert_eq!(names, ["trusted.t", "user.a"]);
    assert_eq!(getxattr(&u.m("f"), "user.a").as_deref(), Some("1"));
    assert_eq!(getxattr(&u.m("f"), "trusted.overlay.origin"), None);
    assert!(
        !setxattr(&u.m("f"), "trusted.overlay.opaque", "y")
            .status
            .success()
    );
    assert!(
        !setxattr(&u.m("f"), "user.fuseoverlayfs.x", "y")
            .status
            .success()
    );
    assert!(setxattr(&u.m("f"), "user.b", "3").status.success());
    assert_eq!(getxattr(&u.upper("f"), "user.b").as_deref(), Some("3"));
    assert_eq!(getxattr(&u.upper("f"), "user.a").as_deref(), Some("1"));
    assert_eq!(
        getxattr(&u.upper("f"), "trusted.overlay.origin"),
        None,
        "private xattr copied up"
    );
}

#[test]
fn statfs_fsync_and_fsyncdir_work() {
    let l = layers(1);
    let u = l.mount();
    let s = nix::sys::statvfs::statvfs(&u.m("")).unwrap();
    assert!(s.blocks() > 0 && s.name_max() == 255);
    let f = File::create(u.m("f")).unwrap();
    f.sync_all().unwrap();
    f.sync_data().unwrap();
    File::open(u.m("")).unwrap().sync_all().unwrap();
}

#[test]
fn fallocate_and_seek_data_hole() {
    use nix::fcntl::{FallocateFlags, fallocate};
    use nix::unistd::{Whence, lseek64};
    let l = layers(1);
    let p = l.file(0, "sparse", "");
    let f = OpenOptions::new().write(true).open(&p).unwrap();
    f.write_all_at(b"data", 8 << 20).unwrap();
    f.set_len(16 << 20).unwrap();
    let u = l.mount();
    let f = File::open(u.m("sparse")).unwrap();
    let data = lseek64(&f, 0, Whence::SeekData).unwrap();
    assert!(data > 0 && data <= 8 << 20, "SEEK_DATA gave {data}");
    let hole = lseek64(&f, data, Whence::SeekHole).unwrap();
    assert!(hole > 8 << 20 && hole <= 16 << 20, "SEEK_HOLE gave {hole}");
    let g = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(u.m("alloc"))
        .unwrap();
    fallocate(&g, FallocateFlags::empty(), 0, 1 << 20).unwrap();
    assert_eq!(fs::metadata(u.upper("alloc")).unwrap().len(), 1 << 20);
    fallocate(
        &g,
        FallocateFlags::FALLOC_FL_KEEP_SIZE | FallocateFlags::FALLOC_FL_PUNCH_HOLE,
        0,
        4096,
    )
    .unwrap();
}

#[test]
fn shared_writable_mmap_reaches_upper() {
    let l = layers(1);
    l.file(0, "m", &"-".repeat(8192));
    let u = l.mount();
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(u.m("m"))
        .unwrap();
    sys::mmap_write(&f, 8192, 4096, b"mapped").unwrap();
    drop(f);
    let data = fs::read(u.upper("m")).unwrap();
    assert_eq!(&data[4096..4102], b"mapped");
    assert_eq!(data.len(), 8192);
}

#[test]
fn copy_file_range_copies_exact_bytes_between_layers() {
    let l = layers(1);
    let content: String = (0..200_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    l.file(0, "src", &content);
    let u = l.mount();
    let src = File::open(u.m("src")).unwrap();
    let dst = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(u.m("dst"))
        .unwrap();
    dst.write_all_at(b"HEADER", 0).unwrap();
    let (mut oi, mut oo) = (1000i64, 6i64);
    let mut left = 150_000usize;
    while left > 0 {
        let n =
            nix::fcntl::copy_file_range(&src, Some(&mut oi), &dst, Some(&mut oo), left).unwrap();
        assert!(n > 0);
        left -= n;
    }
    drop(dst);
    let got = fs::read(u.m("dst")).unwrap();
    assert_eq!(&got[..6], b"HEADER");
    assert_eq!(&got[6..], &content.as_bytes()[1000..151_000]);
    assert_eq!(fs::read(u.upper("dst")).unwrap(), got);
}

#[test]
fn inode_numbers_stay_stable_for_the_life_of_the_mount() {
    let l = layers(2);
    l.file(1, "d/f", "x");
    let u = l.mount();
    let (d, f) = (ino(&u.m("d")), ino(&u.m("d/f")));
    fs::write(u.m("d/f"), "copied").unwrap();
    fs::write(u.m("d/g"), "new").unwrap();
    let g = ino(&u.m("d/g"));
    fs::rename(u.m("d/g"), u.m("g")).unwrap();
    assert_eq!(
        (ino(&u.m("d")), ino(&u.m("d/f")), ino(&u.m("g"))),
        (d, f, g)
    );
    assert_ne!(f, g);
}
