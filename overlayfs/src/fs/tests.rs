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
    let dirs: Vec<PathBuf> = ["l", "u", "w"].iter().map(|d| t.path().join(d)).collect();
    for d in &dirs {
        std::fs::create_dir(d).unwrap();
    }
    let stack = Stack {
        upper: Some(dirs[1].clone()),
        work: Some(dirs[2].clone()),
        lowers: vec![dirs[0].clone()],
        index: Default::default(),
    };
    UnionFs::new(stack).unwrap()
}

fn me() -> Creds {
    Creds {
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
    }
}

fn create(fs: &UnionFs, name: &str) -> u64 {
    let new = NewObject::File {
        mode: 0o644,
        flags: 0,
    };
    fs.create_object(ROOT_INO, OsStr::new(name), me(), new)
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
