//! Everyday workloads that other FUSE unions get wrong: link counts of
//! hard-linked lower files whatever name is looked up first, `mkdir -m
//! 0555`, `sed -i` on a lower file, and a lower file opened for writing by
//! its non-root owner. Real tools (mkdir, sed, setpriv) on real mounts.
//! Needs root and /dev/fuse.

mod common;
mod union_support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use union_support::layers;
use union_support::mount::{Layout, Mount};

fn sh(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    eprintln!(
        "{cmd:?}: {} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    out
}

fn assert_ok(cmd: &mut Command) {
    let out = sh(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mode_of(path: &Path) -> u32 {
    path.symlink_metadata()
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .mode()
        & 0o7777
}

/// Lower layers with hard links: `l1/d/a`, `l1/d/b`, `l1/f/c` one inode
/// (nlink 3, two directories); `l0/e/{x,y}` one inode (nlink 2) in the top
/// layer; `l1/w/{p,q}` one inode (nlink 2) of which the top layer whites out
/// `q`: overlayfs reports the lower inode's count, 2, for `p`.
fn hardlink_layers(layout: &Layout) {
    layers::file(
        &layout.lowers[1].join("d/a"),
        b"one inode, three names\n",
        0o644,
    );
    layers::hardlink(&layout.lowers[1].join("d/a"), &layout.lowers[1].join("d/b"));
    layers::hardlink(&layout.lowers[1].join("d/a"), &layout.lowers[1].join("f/c"));
    layers::file(&layout.lowers[1].join("w/p"), b"one name hidden\n", 0o644);
    layers::hardlink(&layout.lowers[1].join("w/p"), &layout.lowers[1].join("w/q"));
    layers::whiteout(&layout.lowers[0].join("w/q"));
    layers::file(&layout.lowers[0].join("e/x"), b"top pair\n", 0o600);
    layers::hardlink(&layout.lowers[0].join("e/x"), &layout.lowers[0].join("e/y"));
}

/// A fresh mount of [`hardlink_layers`]; bind all three (the mount drops
/// first, then the temp dir).
fn hardlink_mount() -> (tempfile::TempDir, Layout, Mount) {
    let tmp = union_support::tempdir();
    let layout = Layout::create(tmp.path(), 2);
    hardlink_layers(&layout);
    let mount = Mount::union(&layout);
    (tmp, layout, mount)
}

#[test]
fn union_hardlinked_lower_files_nlink_whatever_name_is_looked_up_first() {
    common::require_root_and_fuse();
    let groups: [(&[&str], u64); 3] = [
        (&["d/a", "d/b", "f/c"], 3),
        (&["e/x", "e/y"], 2),
        (&["w/p"], 2),
    ];
    for (names, nlink) in groups {
        // Each name first on a fresh mount (an empty kernel and daemon
        // inode cache), then a directory listing first.
        let firsts: Vec<Option<&str>> = names.iter().map(|n| Some(*n)).chain([None]).collect();
        for first in firsts {
            let (_tmp, _layout, mount) = hardlink_mount();
            let order: Vec<&str> = match first {
                Some(f) => std::iter::once(f)
                    .chain(names.iter().copied().filter(|n| *n != f))
                    .collect(),
                None => {
                    // Every directory of the group listed before any stat.
                    for name in names {
                        let dir = mount.path().join(Path::new(name).parent().expect("parent"));
                        union_support::snapshot::read_names(&dir).expect("readdir");
                    }
                    names.to_vec()
                }
            };
            let mut inos = Vec::new();
            for name in &order {
                let md = mount.path().join(name).symlink_metadata().expect("stat");
                assert_eq!(
                    md.nlink(),
                    nlink,
                    "st_nlink of {name} (first lookup: {first:?}, None = readdir)"
                );
                inos.push(md.ino());
            }
            assert!(
                inos.windows(2).all(|w| w[0] == w[1]),
                "hard links of one file report inodes {inos:?}"
            );
        }
    }
}

#[test]
fn union_mkdir_mode_0555_in_upper_and_in_lower_dirs() {
    common::require_root_and_fuse();
    let tmp = union_support::tempdir();
    let layout = Layout::create(tmp.path(), 1);
    layers::file(
        &layout.lowers[0].join("usr/share/doc/README"),
        b"lower\n",
        0o644,
    );
    let mount = Mount::union(&layout);
    let m = mount.path();
    assert_ok(
        Command::new("mkdir")
            .arg("-m")
            .arg("0555")
            .arg(m.join("ro")),
    );
    // The parent comes from the lower layer and must be copied up first.
    assert_ok(
        Command::new("mkdir")
            .arg("-m")
            .arg("0555")
            .arg(m.join("usr/share/doc/ro")),
    );
    assert_ok(
        Command::new("mkdir")
            .arg("-p")
            .arg("-m")
            .arg("0555")
            .arg(m.join("usr/lib/deep/ro")),
    );
    for rel in ["ro", "usr/share/doc/ro", "usr/lib/deep/ro"] {
        assert_eq!(
            mode_of(&m.join(rel)),
            0o555,
            "mode of {rel} through the mount"
        );
        assert!(m.join(rel).is_dir());
    }
    // Root may still create inside a 0555 dir, as on any filesystem.
    assert_ok(Command::new("mkdir").arg(m.join("ro/sub")));
    std::fs::write(m.join("usr/share/doc/ro/file"), b"x").expect("create in a 0555 dir as root");
    assert_eq!(
        std::fs::read(m.join("usr/share/doc/README")).expect("read lower file"),
        b"lower\n"
    );
    mount.unmount();
    for rel in ["ro", "usr/share/doc/ro", "usr/lib/deep/ro"] {
        assert_eq!(
            mode_of(&layout.upper.join(rel)),
            0o555,
            "mode of {rel} in upper/"
        );
    }
    assert!(layout.upper.join("ro/sub").is_dir());
    assert!(layout.upper.join("usr/share/doc/ro/file").is_file());
}

#[test]
fn union_sed_in_place_on_lower_file() {
    common::require_root_and_fuse();
    let tmp = union_support::tempdir();
    let layout = Layout::create(tmp.path(), 1);
    let lower = layout.lowers[0].join("etc/app.conf");
    layers::file(&lower, b"name=foo\nport=80\nname=foo2\n", 0o640);
    layers::chown(&lower, 1000, 1000);
    layers::file(&layout.lowers[0].join("etc/other"), b"other\n", 0o644);
    let mount = Mount::union(&layout);
    let conf = mount.path().join("etc/app.conf");
    assert_ok(Command::new("sed").arg("-i").arg("s/foo/bar/").arg(&conf));
    assert_eq!(
        std::fs::read_to_string(&conf).expect("read"),
        "name=bar\nport=80\nname=bar2\n"
    );
    let md = conf.symlink_metadata().expect("stat");
    assert_eq!(
        (md.mode() & 0o7777, md.uid(), md.gid()),
        (0o640, 1000, 1000),
        "sed -i keeps mode and owner"
    );
    assert_eq!(md.nlink(), 1);
    // sed's temporary file is gone, nothing else appeared or vanished.
    let names =
        union_support::snapshot::read_names(&mount.path().join("etc")).expect("readdir etc");
    assert_eq!(names, ["app.conf", "other"]);
    // A second edit works on the now-upper file.
    assert_ok(Command::new("sed").arg("-i").arg("/port/d").arg(&conf));
    assert_eq!(
        std::fs::read_to_string(&conf).expect("read"),
        "name=bar\nname=bar2\n"
    );
    mount.unmount();
    assert_eq!(
        std::fs::read(&lower).expect("read lower"),
        b"name=foo\nport=80\nname=foo2\n",
        "lower changed"
    );
    assert_eq!(
        std::fs::read(layout.upper.join("etc/app.conf")).expect("read upper"),
        b"name=bar\nname=bar2\n"
    );
}

/// Runs `script` with `sh -c` as uid/gid `id` (no supplementary groups).
fn as_user(id: u32, script: &str, arg: &Path) -> std::process::Output {
    sh(Command::new("setpriv")
        .arg(format!("--reuid={id}"))
        .arg(format!("--regid={id}"))
        .arg("--clear-groups")
        .arg("--")
        .arg("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(arg))
}

#[test]
fn union_lower_file_opened_for_writing_by_its_non_root_owner() {
    common::require_root_and_fuse();
    let tmp = union_support::tempdir();
    // Other users must be able to reach the mount through the temp dir.
    std::fs::set_permissions(tmp.path(), PermissionsExt::from_mode(0o755)).expect("chmod temp dir");
    let layout = Layout::create(tmp.path(), 1);
    let home = layout.lowers[0].join("home/user");
    layers::dir(&home, 0o755);
    layers::chown(&home, 1000, 1000);
    for (name, mode) in [("notes", 0o644), ("log", 0o600)] {
        layers::file(&home.join(name), b"lower line\n", mode);
        layers::chown(&home.join(name), 1000, 1000);
    }
    let mount = Mount::union(&layout);
    let m = mount.path().join("home/user");

    let out = as_user(1000, "printf 'appended\\n' >> \"$1\"", &m.join("notes"));
    assert!(
        out.status.success(),
        "owner appending to a lower file: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = as_user(1000, "printf 'replaced\\n' > \"$1\"", &m.join("log"));
    assert!(
        out.status.success(),
        "owner truncating a lower 0600 file: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Another user is refused: the kernel's permission checks still apply.
    let out = as_user(1001, "printf 'intruder\\n' >> \"$1\"", &m.join("notes"));
    assert!(
        !out.status.success(),
        "uid 1001 could write a 0644 file of uid 1000"
    );

    assert_eq!(
        std::fs::read_to_string(m.join("notes")).expect("read"),
        "lower line\nappended\n"
    );
    assert_eq!(
        std::fs::read_to_string(m.join("log")).expect("read"),
        "replaced\n"
    );
    for (name, mode) in [("notes", 0o644), ("log", 0o600)] {
        let md = m.join(name).symlink_metadata().expect("stat");
        assert_eq!(
            (md.mode() & 0o7777, md.uid(), md.gid()),
            (mode, 1000, 1000),
            "{name} after copy-up"
        );
    }
    mount.unmount();
    let up = layout.upper.join("home/user");
    assert_eq!(
        std::fs::read(up.join("notes")).expect("upper notes"),
        b"lower line\nappended\n"
    );
    let md = up.symlink_metadata().expect("stat upper home/user");
    assert_eq!(
        (md.uid(), md.gid()),
        (1000, 1000),
        "copied-up parent keeps its owner"
    );
    assert_eq!(
        std::fs::read(home.join("notes")).expect("lower notes"),
        b"lower line\n",
        "lower changed"
    );
}

#[test]
fn union_write_through_one_name_of_a_lower_hard_link_shows_through_all() {
    common::require_root_and_fuse();
    let (_tmp, layout, mount) = hardlink_mount();
    let m = mount.path();
    // Copy-up through one name must keep the link whole (overlayfs with
    // index=on does; with index=off the other names keep the old data).
    std::fs::write(m.join("d/b"), b"rewritten through d/b\n").expect("write d/b");
    for name in ["d/a", "d/b", "f/c"] {
        assert_eq!(
            std::fs::read(m.join(name)).expect("read"),
            b"rewritten through d/b\n",
            "content of {name}"
        );
        assert_eq!(
            m.join(name).symlink_metadata().expect("stat").nlink(),
            3,
            "st_nlink of {name}"
        );
    }
    // A new link to a lower file joins the same inode.
    std::fs::hard_link(m.join("e/x"), m.join("e/z")).expect("link to a lower file");
    let inos: Vec<u64> = ["e/x", "e/y", "e/z"]
        .iter()
        .map(|n| m.join(n).symlink_metadata().expect("stat").ino())
        .collect();
    assert!(
        inos.windows(2).all(|w| w[0] == w[1]),
        "e/x, e/y, e/z report inodes {inos:?}"
    );
    assert_eq!(
        m.join("e/y").symlink_metadata().expect("stat").nlink(),
        3,
        "st_nlink of e/y after link"
    );
    mount.unmount();
    let mount = Mount::union(&layout);
    assert_eq!(
        std::fs::read(mount.path().join("f/c")).expect("read"),
        b"rewritten through d/b\n",
        "after remount"
    );
    assert_eq!(
        mount
            .path()
            .join("e/y")
            .symlink_metadata()
            .expect("stat")
            .nlink(),
        3,
        "after remount"
    );
}

#[test]
fn union_rename_lower_directory_without_exdev() {
    common::require_root_and_fuse();
    let tmp = union_support::tempdir();
    let layout = Layout::create(tmp.path(), 2);
    layers::file(&layout.lowers[1].join("src/tree/a"), b"a\n", 0o644);
    layers::file(&layout.lowers[0].join("src/tree/sub/b"), b"b\n", 0o600);
    layers::symlink("a", &layout.lowers[0].join("src/tree/link"));
    let mount = Mount::union(&layout);
    let m = mount.path();
    let before = union_support::snapshot::snapshot(&m.join("src/tree"));
    std::fs::rename(m.join("src/tree"), m.join("moved")).expect("rename a lower dir (no EXDEV)");
    assert_eq!(
        m.join("src/tree")
            .symlink_metadata()
            .map_err(|e| e.raw_os_error())
            .err(),
        Some(Some(libc::ENOENT))
    );
    // A new dir at the old name is empty: nothing of the old tree shows.
    std::fs::create_dir(m.join("src/tree")).expect("mkdir at the old name");
    assert!(
        union_support::snapshot::read_names(&m.join("src/tree"))
            .expect("readdir")
            .is_empty()
    );
    let check = |root: &Path, when: &str| {
        let after = union_support::snapshot::snapshot(&root.join("moved"));
        let diffs = union_support::snapshot::diff("before", &before, "after", &after);
        assert!(
            diffs.is_empty(),
            "renamed tree differs {when}:\n{}",
            diffs.join("\n")
        );
    };
    check(m, "right after the rename");
    mount.unmount();
    let mount = Mount::union(&layout);
    check(mount.path(), "after remounting");
    assert!(
        union_support::snapshot::read_names(&mount.path().join("src/tree"))
            .expect("readdir")
            .is_empty()
    );
}

/// Removed names of a lower hard link are counted, by the other names and
/// by an open file whose name went, and the count survives a remount
/// (kernel overlayfs with `index=on` keeps it in its index dir; so do we).
#[test]
fn union_unlinking_names_of_a_lower_hard_link_updates_nlink() {
    common::require_root_and_fuse();
    let (_tmp, layout, mount) = hardlink_mount();
    let m = mount.path();
    let nlink = |p: &str| m.join(p).symlink_metadata().expect("stat").nlink();
    std::fs::remove_file(m.join("d/a")).expect("unlink d/a");
    assert_eq!(
        (nlink("d/b"), nlink("f/c")),
        (2, 2),
        "st_nlink of d/b, f/c after unlinking d/a"
    );
    // An open file whose name goes still counts the names left.
    let open = std::fs::File::open(m.join("d/b")).expect("open d/b");
    std::fs::remove_file(m.join("d/b")).expect("unlink d/b");
    assert_eq!(
        open.metadata().expect("fstat").nlink(),
        1,
        "fstat of unlinked d/b while f/c remains"
    );
    assert_eq!(nlink("f/c"), 1, "st_nlink of f/c, the last name");
    drop(open);
    mount.unmount();
    let mount = Mount::union(&layout);
    let md = mount
        .path()
        .join("f/c")
        .symlink_metadata()
        .expect("stat after remount");
    assert_eq!(md.nlink(), 1, "st_nlink of f/c after remounting");
}
