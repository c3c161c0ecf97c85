//! The union core driven directly, without FUSE or a mount: deterministic
//! orderings that are races through the kernel. Needs nothing (no root:
//! objects are created owned by the test's own uid/gid, no lower whiteouts).

use std::ffi::OsStr;
use std::path::PathBuf;

use fuser::Errno;

use super::{Creds, NewObject, UnionFs};
use crate::layers::Stack;
use crate::table::ROOT_INO;

fn union(t: &tempfile::TempDir) -> UnionFs {
    for d in ["l", "u", "w"] {
        std::fs::create_dir(t.path().join(d)).unwrap();
    }
    union_over(t)
}

/// The union over the existing `l`, `u` and `w` dirs of `t`.
fn union_over(t: &tempfile::TempDir) -> UnionFs {
    let dirs: Vec<PathBuf> = ["l", "u", "w"].iter().map(|d| t.path().join(d)).collect();
    for d in &dirs {
        std::fs::create_dir_all(d).unwrap();
    }
    let stack = Stack {
        upper: Some(dirs[1].clone()),
        work: Some(dirs[2].clone()),
        lowers: vec![dirs[0].clone()],
        index: Default::default(),
        upper_markers: Default::default(),
    };
    UnionFs::new(stack).unwrap()
}

fn me() -> Creds {
    Creds {
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
        umask: 0,
    }
}

fn create(fs: &UnionFs, name: &str) -> u64 {
    create_in(fs, ROOT_INO, name)
}

/// A new empty file `name` in directory `parent`, owned by us.
fn create_in(fs: &UnionFs, parent: u64, name: &str) -> u64 {
    let new = NewObject::File {
        mode: 0o644,
        flags: 0,
    };
    fs.create_object(parent, OsStr::new(name), me(), new)
        .unwrap()
        .0
        .ino
        .0
}

#[test]
fn a_removed_node_never_reaches_the_object_that_reuses_its_name() {
    let t = tempfile::tempdir().unwrap();
    let fs = union(&t);
    let old = create(&fs, "x");
    fs.unlink(ROOT_INO, OsStr::new("x")).unwrap();
    let new = create(&fs, "x");
    assert_ne!(old, new);
    // The kernel may still hold the old inode (a racing link, open, getattr).
    let link = fs.create_object(
        ROOT_INO,
        OsStr::new("y"),
        me(),
        NewObject::Link { ino: old },
    );
    assert_eq!(link.err(), Some(Errno::ENOENT));
    assert_eq!(fs.open(old, libc::O_RDWR).err(), Some(Errno::ENOENT));
    assert_eq!(fs.getattr(old).err(), Some(Errno::ENOENT));
    assert_eq!(
        fs.setxattr(old, OsStr::new("user.a"), b"1", 0).err(),
        Some(Errno::ENOENT)
    );
    assert!(!t.path().join("u/y").exists());
    assert_eq!(fs.lookup(ROOT_INO, OsStr::new("x")).unwrap().ino.0, new);
}

#[test]
fn an_open_file_outlives_its_name() {
    let t = tempfile::tempdir().unwrap();
    let fs = union(&t);
    let ino = create(&fs, "f");
    let fh = fs.open(ino, libc::O_RDWR).unwrap();
    fs.write(fh, 0, b"data").unwrap();
    fs.unlink(ROOT_INO, OsStr::new("f")).unwrap();
    assert_eq!(fs.getattr(ino).unwrap().nlink, 0);
    assert_eq!(fs.read(fh, 0, 10).unwrap(), b"data");
    fs.release(fh);
    assert_eq!(fs.getattr(ino).err(), Some(Errno::ENOENT));
}

#[test]
fn new_objects_get_exactly_the_asked_mode_and_owner() {
    use std::os::unix::fs::MetadataExt;
    let t = tempfile::tempdir().unwrap();
    let fs = union(&t);
    // 0640 survives any usual umask (made in place when we are the
    // owner); 0666 and 0777 lose bits to a umask of 022 (built in the
    // scratch dir and chmod-ed): both ways give the same result.
    for (name, new, want) in [
        (
            "a",
            NewObject::File {
                mode: 0o100640,
                flags: 0,
            },
            0o640,
        ),
        (
            "b",
            NewObject::File {
                mode: 0o100666,
                flags: 0,
            },
            0o666,
        ),
        ("c", NewObject::Dir { mode: 0o40777 }, 0o777),
        ("d", NewObject::Dir { mode: 0o40750 }, 0o750),
    ] {
        fs.create_object(ROOT_INO, OsStr::new(name), me(), new)
            .unwrap();
        let m = t.path().join("u").join(name).symlink_metadata().unwrap();
        assert_eq!(m.mode() & 0o7777, want, "{name}");
        assert_eq!((m.uid(), m.gid()), (me().uid, me().gid), "{name}");
    }
    assert_eq!(
        std::fs::read_dir(t.path().join("w/strata"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn create_answers_eexist_for_names_the_table_has_not_seen() {
    let t = tempfile::tempdir().unwrap();
    let fs = union(&t);
    // Never looked up: the kernel would not send CREATE for them, but a
    // racing create of another mount user may.
    std::fs::write(t.path().join("u/up"), "kept").unwrap();
    std::fs::write(t.path().join("l/low"), "kept").unwrap();
    std::fs::create_dir(t.path().join("u/d")).unwrap();
    std::fs::create_dir(t.path().join("l/d")).unwrap();
    std::fs::write(t.path().join("l/d/low2"), "kept").unwrap();
    let d = fs.lookup(ROOT_INO, OsStr::new("d")).unwrap().ino.0;
    for (parent, name) in [(ROOT_INO, "up"), (ROOT_INO, "low"), (d, "low2")] {
        for new in [
            NewObject::File {
                mode: 0o100640,
                flags: 0,
            },
            NewObject::Dir { mode: 0o40750 },
            NewObject::Symlink {
                target: std::path::Path::new("t"),
            },
        ] {
            let r = fs.create_object(parent, OsStr::new(name), me(), new);
            assert_eq!(r.err(), Some(Errno::EEXIST), "{name}");
        }
    }
    assert_eq!(
        std::fs::read_to_string(t.path().join("u/up")).unwrap(),
        "kept"
    );
    assert!(!t.path().join("u/low").exists() && !t.path().join("u/d/low2").exists());
}

#[test]
fn create_in_a_directory_only_a_lower_layer_has_copies_it_up() {
    let t = tempfile::tempdir().unwrap();
    let fs = union(&t);
    std::fs::create_dir(t.path().join("l/d")).unwrap();
    std::fs::write(t.path().join("l/d/old"), "lower").unwrap();
    let d = fs.lookup(ROOT_INO, OsStr::new("d")).unwrap().ino.0;
    let ino = create_in(&fs, d, "new");
    assert!(t.path().join("u/d/new").is_file());
    assert!(!t.path().join("u/d/old").exists());
    assert_eq!(fs.lookup(d, OsStr::new("new")).unwrap().ino.0, ino);
    assert!(fs.lookup(d, OsStr::new("old")).is_ok());
}

#[test]
fn a_wh_file_in_upper_hides_a_lower_name_until_it_is_created_again() {
    let t = tempfile::tempdir().unwrap();
    // An upper dir written by fuse-overlayfs where it could not mknod.
    for d in ["l/d", "u/d"] {
        std::fs::create_dir_all(t.path().join(d)).unwrap();
    }
    std::fs::write(t.path().join("l/d/gone"), "lower").unwrap();
    std::fs::write(t.path().join("u/d/.wh.gone"), "").unwrap();
    let fs = union_over(&t);
    let d = fs.lookup(ROOT_INO, OsStr::new("d")).unwrap().ino.0;
    assert_eq!(fs.lookup(d, OsStr::new("gone")).err(), Some(Errno::ENOENT));
    let ino = create_in(&fs, d, "gone");
    assert_eq!(fs.lookup(d, OsStr::new("gone")).unwrap().ino.0, ino);
    assert_eq!(std::fs::read(t.path().join("u/d/gone")).unwrap(), b"");
}

/// The names `fs.readdir(fh, offset)` hands out, with their cookies.
fn list_from(fs: &UnionFs, fh: u64, offset: u64) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    fs.readdir(fh, offset, |off, e| {
        out.push((e.name.to_string_lossy().into_owned(), off));
        false
    })
    .unwrap();
    out
}

#[test]
fn a_cookie_of_one_handle_continues_in_another_and_changes_show() {
    let t = tempfile::tempdir().unwrap();
    let fs = union(&t);
    for i in 0..20 {
        create(&fs, &format!("f{i}"));
    }
    let (a, _) = fs.opendir(ROOT_INO, std::time::Duration::ZERO).unwrap();
    let (b, _) = fs.opendir(ROOT_INO, std::time::Duration::ZERO).unwrap();
    let all = list_from(&fs, a, 0);
    assert_eq!(all.len(), 22);
    assert_eq!((&all[0].0[..], &all[1].0[..]), (".", ".."));
    assert!(all.windows(2).all(|w| w[0].1 < w[1].1), "{all:?}");
    // Handle b, never read, continues after a's tenth entry.
    assert_eq!(list_from(&fs, b, all[9].1), all[10..].to_vec());
    // A change since a's snapshot shows through a (no rewind), at its
    // own cookie, and the other entries keep theirs.
    create(&fs, "late");
    let after: Vec<(String, u64)> = list_from(&fs, a, all[1].1);
    let late = after.iter().find(|(n, _)| n == "late").cloned().unwrap();
    assert_eq!(late.1, crate::readdir::name_cookie(OsStr::new("late")));
    let others: Vec<(String, u64)> = after.into_iter().filter(|(n, _)| n != "late").collect();
    assert_eq!(others, all[2..].to_vec());
    fs.releasedir(a);
    fs.releasedir(b);
}

#[test]
fn the_kernel_keeps_a_cached_listing_only_while_it_is_young() {
    use super::ListingCache::{Fill, Keep, Off};
    use std::time::Duration;
    let t = tempfile::tempdir().unwrap();
    let mut fs = union(&t);
    let hour = Duration::from_secs(3600);
    // The listing cache is off by default: never kept, whatever was listed.
    let (fh, cache) = fs.opendir(ROOT_INO, hour).unwrap();
    assert_eq!(cache, Off);
    list_from(&fs, fh, 0);
    fs.releasedir(fh);
    assert_eq!(fs.opendir(ROOT_INO, hour).unwrap().1, Off);
    fs.set_dir_cache(true);
    // Never listed with the cache on: nothing to keep.
    let (fh, cache) = fs.opendir(ROOT_INO, hour).unwrap();
    assert_eq!(cache, Fill);
    list_from(&fs, fh, 0);
    fs.releasedir(fh);
    let (fh, cache) = fs.opendir(ROOT_INO, hour).unwrap();
    assert_eq!(cache, Keep, "listed just now");
    fs.releasedir(fh);
    let (fh, cache) = fs.opendir(ROOT_INO, Duration::ZERO).unwrap();
    assert_eq!(cache, Fill, "older than the limit");
    fs.releasedir(fh);
    let (fh, cache) = fs.opendir(ROOT_INO, hour).unwrap();
    assert_eq!(cache, Fill, "dropped by the open before, not listed since");
    fs.releasedir(fh);
}

#[test]
fn changes_through_the_mount_patch_an_open_listing_in_place() {
    let t = tempfile::tempdir().unwrap();
    let fs = union(&t);
    for i in 0..50 {
        create(&fs, &format!("f{i}"));
    }
    let (h, _) = fs.opendir(ROOT_INO, std::time::Duration::ZERO).unwrap();
    let all = list_from(&fs, h, 0);
    // Put behind the mount's back: only a new read of the directory shows it.
    std::fs::write(t.path().join("u/sneaked"), "").unwrap();
    fs.unlink(ROOT_INO, OsStr::new("f3")).unwrap();
    create(&fs, "late");
    fs.rename(ROOT_INO, OsStr::new("f4"), ROOT_INO, OsStr::new("f4b"), 0)
        .unwrap();
    let names = |v: Vec<(String, u64)>| -> Vec<String> { v.into_iter().map(|(n, _)| n).collect() };
    let now = names(list_from(&fs, h, all[1].1));
    for gone in ["f3", "f4", "sneaked"] {
        assert!(!now.iter().any(|n| n == gone), "{gone} listed: {now:?}");
    }
    for there in ["late", "f4b", "f5"] {
        assert!(now.iter().any(|n| n == there), "{there} missing: {now:?}");
    }
    assert_eq!(now.len(), 50);
    // A rewind reads the directory anew.
    assert!(names(list_from(&fs, h, 0)).iter().any(|n| n == "sneaked"));
    fs.releasedir(h);
}
