//! Unit tests of the store on real files and a real SQLite catalog. Whiteouts
//! (mknod) and `trusted.*` xattrs need root: these tests fail without it.
#![allow(clippy::unwrap_used)]

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, symlink};
use std::path::Path;

use nix::sys::stat::{Mode, SFlag, UtimensatFlags, mknod, utimensat};
use nix::sys::time::TimeSpec;

use super::*;

fn set_times(path: &Path, atime: i64, mtime: i64) {
    utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &TimeSpec::new(atime, 0),
        &TimeSpec::new(mtime, 0),
        UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
}

/// Sets every entry's mtime to `mtime` and atime to `atime` (children first).
fn normalise_times(dir: &Path, atime: i64, mtime: i64) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            normalise_times(&p, atime, mtime);
        }
        set_times(&p, atime, mtime);
    }
}

/// A small tree; `reverse` creates the same entries in the opposite order.
fn make_tree(root: &Path, reverse: bool) {
    let mut steps: Vec<Box<dyn Fn()>> = vec![
        Box::new(|| fs::create_dir_all(root.join("etc/conf.d")).unwrap()),
        Box::new(|| fs::write(root.join("a.txt"), "alpha").unwrap()),
        Box::new(|| fs::write(root.join("zeta"), vec![7u8; 10_000]).unwrap()),
        Box::new(|| fs::create_dir_all(root.join("bin")).unwrap()),
    ];
    if reverse {
        steps.reverse();
    }
    for s in &steps {
        s();
    }
    fs::write(root.join("etc/conf.d/x"), "x=1\n").unwrap();
    fs::write(root.join("bin/tool"), "#!/bin/sh\n").unwrap();
    fs::hard_link(root.join("bin/tool"), root.join("bin/tool2")).unwrap();
    symlink("tool", root.join("bin/alias")).unwrap();
}

#[test]
fn same_tree_gives_same_diff_id_whatever_the_creation_order_and_atime() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    make_tree(a.path(), false);
    make_tree(b.path(), true);
    normalise_times(a.path(), 1_000, 1_700_000_000);
    normalise_times(b.path(), 999_999, 1_700_000_000);
    let da = digest_tree(a.path()).unwrap();
    let db = digest_tree(b.path()).unwrap();
    assert_eq!(da, db);
    assert_eq!(
        da.content_size,
        5 + 10_000 + 4 + 10,
        "hard link counted once"
    );

    // Any change in content or metadata changes the id.
    fs::write(b.path().join("a.txt"), "alphA").unwrap();
    set_times(&b.path().join("a.txt"), 0, 1_700_000_000);
    assert_ne!(digest_tree(b.path()).unwrap().digest, da.digest);

    // The stream holds the hard link as a link.
    let mut buf = Vec::new();
    write_tree_tar(a.path(), &mut buf).unwrap();
    let mut ar = tar::Archive::new(&buf[..]);
    let links: Vec<_> = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.header().entry_type() == tar::EntryType::Link)
        .map(|e| {
            (
                e.path().unwrap().into_owned(),
                e.link_name().unwrap().unwrap().into_owned(),
            )
        })
        .collect();
    assert_eq!(links, [("bin/tool2".into(), "bin/tool".into())]);
}

#[test]
fn whiteouts_and_opaque_dirs_convert_both_ways() {
    let upper = tempfile::tempdir().unwrap();
    let u = upper.path();
    fs::create_dir(u.join("d")).unwrap();
    fs::write(u.join("d/kept"), "k").unwrap();
    sys::set_xattr(&u.join("d"), OsStr::new("trusted.overlay.opaque"), b"y").unwrap();
    mknod(&u.join("gone"), SFlag::S_IFCHR, Mode::empty(), 0).unwrap();
    fs::write(u.join("f"), "f").unwrap();
    sys::set_xattr(&u.join("f"), OsStr::new("user.note"), b"hello").unwrap();
    sys::set_xattr(&u.join("f"), OsStr::new("trusted.overlay.origin"), b"x").unwrap();

    let mut buf = Vec::new();
    let summary = write_tree_tar(u, &mut buf).unwrap();
    let mut ar = tar::Archive::new(&buf[..]);
    let mut names = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        if let Some(exts) = e.pax_extensions().unwrap() {
            for ext in exts {
                let key = ext.unwrap().key().unwrap().to_string();
                assert!(!key.contains("trusted.overlay"), "{name}: {key}");
                names.push(format!("{name} {key}"));
            }
        }
        names.push(name);
    }
    assert_eq!(
        names,
        [
            "d",
            "d/.wh..wh..opq",
            "d/kept",
            "f SCHILY.xattr.user.note",
            "f",
            ".wh.gone"
        ]
    );

    let dest = tempfile::tempdir().unwrap();
    let back = extract_layer(&buf[..], dest.path()).unwrap();
    assert_eq!(back.digest, summary.digest);
    let gone = fs::symlink_metadata(dest.path().join("gone")).unwrap();
    assert!(gone.file_type().is_char_device() && gone.rdev() == 0);
    let opaque =
        sys::get_xattr(&dest.path().join("d"), OsStr::new("trusted.overlay.opaque")).unwrap();
    assert_eq!(opaque.as_deref(), Some(&b"y"[..]));
    let note = sys::get_xattr(&dest.path().join("f"), OsStr::new("user.note")).unwrap();
    assert_eq!(note.as_deref(), Some(&b"hello"[..]));
    assert_eq!(
        digest_tree(dest.path()).unwrap().digest,
        summary.digest,
        "round trip"
    );
}

/// A tar whose entries carry raw names the tar crate would refuse to write.
fn raw_tar(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, link) in entries {
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        if !link.is_empty() {
            h.as_gnu_mut().unwrap().linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        let data: &[u8] = if *kind == tar::EntryType::Regular {
            b"pwned"
        } else {
            b""
        };
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn entries_escaping_the_layer_are_refused() {
    use tar::EntryType::{Directory, Link, Regular, Symlink};
    let cases: &[&[(&str, tar::EntryType, &str)]] = &[
        &[("../evil", Regular, "")],
        &[("/abs", Regular, "")],
        &[("a/../../evil", Regular, "")],
        &[("link", Symlink, ".."), ("link/evil", Regular, "")],
        &[("etc", Symlink, "/etc"), ("etc/evil", Regular, "")],
        &[("hl", Link, "../outside")],
        &[("hl", Link, "/etc/passwd")],
        &[("d", Directory, ""), ("d/.wh...", Regular, "")],
        &[("d", Directory, ""), ("d/.wh..", Regular, "")],
    ];
    for case in cases {
        let outer = tempfile::tempdir().unwrap();
        let dest = outer.path().join("layer");
        fs::create_dir(&dest).unwrap();
        let tar = raw_tar(case);
        match extract_layer(&tar[..], &dest) {
            Err(Error::UnsafeEntry { .. }) => {}
            other => panic!("{case:?}: expected UnsafeEntry, got {other:?}"),
        }
        assert!(
            !outer.path().join("evil").exists(),
            "{case:?} wrote outside"
        );
    }
    // A symlink to outside is stored as it is, never followed.
    let dest = tempfile::tempdir().unwrap();
    let tar = raw_tar(&[("etc", Symlink, "/etc"), ("ok", Regular, "")]);
    extract_layer(&tar[..], dest.path()).unwrap();
    assert_eq!(
        fs::read_link(dest.path().join("etc")).unwrap(),
        Path::new("/etc")
    );
}

#[test]
fn truncated_or_corrupt_archives_are_refused() {
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path(), false);
    let mut full = Vec::new();
    write_tree_tar(src.path(), &mut full).unwrap();
    // Cut inside a file, and cut exactly at an entry boundary.
    for cut in [700, 1536] {
        let dest = tempfile::tempdir().unwrap();
        let r = extract_layer(&full[..cut], dest.path());
        assert!(r.is_err(), "cut at {cut} accepted");
    }
    let dest = tempfile::tempdir().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &full).unwrap();
    let mut gz = gz.finish().unwrap();
    gz.truncate(gz.len() / 2);
    let (_, stream) = compress::decompressed(&gz[..]).unwrap();
    assert!(extract_layer(stream, dest.path()).is_err());
}

fn busybox_like(dir: &Path) {
    fs::create_dir_all(dir.join("bin")).unwrap();
    fs::create_dir_all(dir.join("etc")).unwrap();
    fs::write(dir.join("bin/busybox"), vec![1u8; 4096]).unwrap();
    symlink("busybox", dir.join("bin/sh")).unwrap();
    fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
}

fn tarball(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    write_tree_tar(dir, &mut out).unwrap();
    out
}

#[test]
fn freeze_moves_the_tree_and_reuses_an_identical_layer() {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let up1 = root.path().join("containers/u1");
    let up2 = root.path().join("containers/u2");
    for u in [&up1, &up2] {
        busybox_like(u);
        normalise_times(u, 0, 1_600_000_000);
    }
    let ino = fs::metadata(up1.join("bin/busybox")).unwrap().ino();
    let l1 = store.freeze(&up1).unwrap();
    assert!(!up1.exists(), "upper consumed");
    let dir = store.layer_dir(&l1.diff_id);
    assert_eq!(
        fs::metadata(dir.join("bin/busybox")).unwrap().ino(),
        ino,
        "renamed, not copied"
    );
    assert_eq!(l1.tar_digest, l1.diff_id);
    let l2 = store.freeze(&up2).unwrap();
    assert_eq!(l1, l2);
    assert!(!up2.exists());
    assert_eq!(store.layers().unwrap().len(), 1);

    // The canonical stream of the stored layer has the layer's id.
    let mut out = Vec::new();
    let s = store.write_layer_tar(&l1.diff_id, &mut out).unwrap();
    assert_eq!(s.digest, l1.diff_id);
    assert_eq!(Digest::of(&out), l1.diff_id);
}

#[test]
fn images_are_tagged_resolved_and_removed_like_docker() {
    let root = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    busybox_like(src.path());
    let store = Store::open(root.path()).unwrap();
    let opts = ImportOptions {
        changes: vec![r#"CMD ["sh"]"#.into()],
        source: "-".into(),
        ..Default::default()
    };
    let tag = Reference::parse_tagged("busybox").unwrap();
    let bytes = tarball(src.path());
    let id = store
        .import_rootfs(
            RootfsSource::Archive(Box::new(&bytes[..])),
            &opts,
            Some(&tag),
        )
        .unwrap();
    let img = store.resolve_image("busybox").unwrap();
    assert_eq!(img.id, id);
    assert_eq!(img.repo_tags, ["busybox:latest"]);
    assert_eq!(
        img.config.config.cmd.as_deref(),
        Some(&["sh".to_string()][..])
    );
    assert_eq!(Digest::of(&img.raw_config), id);
    assert_eq!(store.resolve_image(id.short()).unwrap().id, id);
    assert_eq!(store.resolve_image(id.as_str()).unwrap().id, id);
    assert_eq!(
        store
            .resolve_image("docker.io/library/busybox:latest")
            .unwrap()
            .id,
        id
    );
    match store.resolve_image("nope:1") {
        Err(Error::NoSuchImage(s)) => assert_eq!(s, "nope:1"),
        other => panic!("{other:?}"),
    }

    store
        .tag(
            &Reference::parse_tagged("127.0.0.1:5000/team/app:1").unwrap(),
            &id,
        )
        .unwrap();
    // By id with two repositories: refused without force.
    assert!(matches!(
        store.remove_image(id.short(), false),
        Err(Error::Conflict { .. })
    ));
    // By tag with another tag left: untag only.
    let r = store.remove_image("busybox", false).unwrap();
    assert_eq!(r, [Removed::Untagged("busybox:latest".into())]);
    // Last tag: untag and delete, and the layer goes too.
    let r = store
        .remove_image("127.0.0.1:5000/team/app:1", false)
        .unwrap();
    assert_eq!(
        r,
        [
            Removed::Untagged("127.0.0.1:5000/team/app:1".into()),
            Removed::Deleted(id.clone())
        ]
    );
    // Its layer went with it: the image held it, the import's lease ended
    // when the image was stored.
    assert!(store.layers().unwrap().is_empty());
    assert_eq!(fs::read_dir(root.path().join("layers")).unwrap().count(), 0);
}

#[test]
fn a_leased_layer_survives_gc_by_another_handle() {
    let root = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    busybox_like(src.path());
    let builder = Store::open(root.path()).unwrap();
    let layer = builder.freeze_copy(src.path()).unwrap();
    let other = Store::open(root.path()).unwrap();
    assert!(
        other.prune(true).unwrap().layers.is_empty(),
        "leased layer removed"
    );
    assert!(builder.layer_dir(&layer.diff_id).is_dir());
    drop(builder);
    assert_eq!(other.prune(true).unwrap().layers, [layer.diff_id]);
}

#[test]
fn check_finds_and_repairs_leftovers_and_corruption() {
    let root = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    busybox_like(src.path());
    let store = Store::open(root.path()).unwrap();
    let layer = store.freeze_copy(src.path()).unwrap();
    let mut cfg = ImageConfig::for_host();
    cfg.rootfs.diff_ids = vec![layer.diff_id.to_string()];
    let id = store.put_image(&cfg, None).unwrap();
    assert!(store.check(false).unwrap().problems.is_empty());

    // A dead process's staging, and a layer dir without row.
    fs::create_dir_all(root.path().join("tmp/session-1-dead/layer-x/bin")).unwrap();
    fs::create_dir_all(root.path().join("layers").join("ab".repeat(32))).unwrap();
    let report = store.check(false).unwrap();
    assert_eq!(report.problems.len(), 2, "{report:?}");
    assert!(!report.is_clean());
    let report = store.check(true).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert!(!root.path().join("tmp/session-1-dead").exists());
    assert!(store.check(false).unwrap().problems.is_empty());

    // Changed layer content is found, not "repaired".
    fs::write(store.layer_dir(&layer.diff_id).join("etc/passwd"), "evil\n").unwrap();
    let report = store.check(true).unwrap();
    assert!(!report.is_clean());
    assert!(
        report.problems[0].what.contains("content changed"),
        "{report:?}"
    );
    assert_eq!(store.resolve_image(id.short()).unwrap().id, id);
}

#[test]
fn freeze_from_another_filesystem_copies_then_removes() {
    let root = tempfile::tempdir().unwrap();
    let upper = tempfile::tempdir_in("/dev/shm").unwrap();
    assert_ne!(
        fs::metadata(upper.path()).unwrap().dev(),
        fs::metadata(root.path()).unwrap().dev(),
        "/dev/shm must be another filesystem for this test"
    );
    busybox_like(upper.path());
    let expected = digest_tree(upper.path()).unwrap().digest;
    let store = Store::open(root.path()).unwrap();
    let layer = store.freeze(upper.path()).unwrap();
    assert_eq!(layer.diff_id, expected);
    assert!(!upper.path().exists());
    assert!(
        store
            .layer_dir(&layer.diff_id)
            .join("bin/busybox")
            .is_file()
    );
}

#[test]
fn long_names_devices_and_modes_round_trip() {
    let src = tempfile::tempdir().unwrap();
    let deep = src.path().join("d".repeat(90)).join("e".repeat(90));
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("f".repeat(120)), "long").unwrap();
    symlink("x".repeat(150), deep.join("longlink")).unwrap();
    // Targets are kept byte for byte (tar's path API would turn `/` into
    // `//` and drop the `.` and doubled slashes).
    let targets = [
        "/",
        "a//b/",
        "../x/./y",
        &format!("/{}//z", "y".repeat(120)),
    ];
    for (i, t) in targets.iter().enumerate() {
        symlink(t, src.path().join(format!("link{i}"))).unwrap();
    }
    mknod(
        &src.path().join("null"),
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o666),
        libc::makedev(1, 3),
    )
    .unwrap();
    nix::unistd::mkfifo(&src.path().join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
    fs::write(src.path().join("suid"), "s").unwrap();
    std::os::unix::fs::lchown(src.path().join("suid"), Some(1000), Some(1000)).unwrap();
    fs::set_permissions(
        src.path().join("suid"),
        std::os::unix::fs::PermissionsExt::from_mode(0o4755),
    )
    .unwrap();
    let mut buf = Vec::new();
    let summary = write_tree_tar(src.path(), &mut buf).unwrap();
    let dest = tempfile::tempdir().unwrap();
    assert_eq!(
        extract_layer(&buf[..], dest.path()).unwrap().digest,
        summary.digest
    );
    assert_eq!(digest_tree(dest.path()).unwrap(), summary);
    for (i, t) in targets.iter().enumerate() {
        let got = fs::read_link(dest.path().join(format!("link{i}"))).unwrap();
        assert_eq!(got, Path::new(t), "link{i}");
    }
    assert_eq!(
        fs::read_link(
            dest.path()
                .join("d".repeat(90))
                .join("e".repeat(90))
                .join("longlink")
        )
        .unwrap(),
        Path::new(&"x".repeat(150))
    );
    let null = fs::symlink_metadata(dest.path().join("null")).unwrap();
    assert_eq!(null.rdev(), libc::makedev(1, 3));
    let suid = fs::symlink_metadata(dest.path().join("suid")).unwrap();
    assert_eq!(
        (suid.mode() & 0o7777, suid.uid(), suid.gid()),
        (0o4755, 1000, 1000)
    );
    assert!(
        fs::symlink_metadata(dest.path().join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
}
