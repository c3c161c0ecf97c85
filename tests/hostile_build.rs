//! Hostile build contexts and images: COPY/ADD sources that leave the
//! context, archives whose members escape, and destinations that are
//! symlinks in the image pointing at the host's `/` (the CVE-2018-15664 and
//! `docker cp` class). Every write lands inside the image; canary files on
//! the host stay as they were. build_failure.rs already covers `COPY ../x`
//! and a plain symlink to `../outside`.
#![allow(clippy::unwrap_used)]

mod build_util;
mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use build_util::Fixture;
use common::hostile_tar::RawTar;

/// A canary dir on the host (outside the context) with one file.
fn canary(f: &Fixture) -> PathBuf {
    let dir = f.work.path().join("canary");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("victim"), "original").unwrap();
    dir
}

fn assert_canary(dir: &Path, case: &str) {
    let names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["victim"], "{case}: canary dir changed");
    let content = std::fs::read_to_string(dir.join("victim")).unwrap();
    assert_eq!(content, "original", "{case}: canary file changed");
}

/// A name no host path has, for files an escape would create at `/`.
fn unique(tag: &str) -> String {
    format!("strata-escape-{tag}-{}", std::process::id())
}

#[test]
fn copy_sources_cannot_leave_the_context() {
    let f = Fixture::new();
    let canary = canary(&f);
    symlink("/etc/shadow", f.ctx.join("shadow")).unwrap();
    symlink(&canary, f.ctx.join("hostdir")).unwrap();
    for line in [
        "COPY shadow /s",
        "COPY sha* /s/",
        "COPY hostdir /h",
        "COPY hostdir/victim /v",
        "ADD hostdir /h",
    ] {
        f.write("Dockerfile", &format!("FROM busybox\n{line}\n"));
        let out = f.build(&["-t", "escape"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{line} succeeded");
        assert!(err.contains("outside the build context"), "{line}: {err}");
        f.assert_no_leftovers();
    }
    // Symlinks inside a copied directory are copied as symlinks: the image
    // gets the link, never the host files it points at.
    std::fs::create_dir(f.ctx.join("dir")).unwrap();
    symlink("/etc", f.ctx.join("dir/etc")).unwrap();
    symlink(&canary, f.ctx.join("dir/host")).unwrap();
    f.write("Dockerfile", "FROM busybox\nCOPY dir /d\n");
    f.build_ok(&["-t", "links"]);
    let etc = f.file("links", "/d/etc").unwrap();
    assert_eq!(std::fs::read_link(&etc).unwrap(), Path::new("/etc"));
    let host = f.file("links", "/d/host").unwrap();
    assert!(std::fs::symlink_metadata(&host).unwrap().is_symlink());
    assert_canary(&canary, "COPY dir");
}

#[test]
fn add_of_an_escaping_archive_writes_nothing_outside() {
    let f = Fixture::new();
    let canary = canary(&f);
    let c = canary.display().to_string();
    let archives = [
        RawTar::new()
            .file("../../../../canary/evil", b"pwned")
            .finish(),
        RawTar::new().file(&format!("{c}/evil"), b"pwned").finish(),
        RawTar::new()
            .symlink("s", &c)
            .file("s/evil", b"pwned")
            .finish(),
        RawTar::new()
            .hard_link("h", &format!("{c}/victim"))
            .finish(),
        RawTar::new()
            .symlink("s", &format!("{c}/victim"))
            .file("s", b"pwned")
            .finish(),
    ];
    for (i, tar) in archives.iter().enumerate() {
        std::fs::write(f.ctx.join("a.tar"), tar).unwrap();
        f.write("Dockerfile", "FROM busybox\nADD a.tar /dst/\n");
        let out = f.build(&["-t", "added"]);
        assert_canary(&canary, &format!("archive {i}"));
        if out.status.success() {
            // Whatever was accepted is inside the image.
            for layer in f.layers("added") {
                assert!(layer.starts_with(f.root.join("layers")));
            }
        }
        f.assert_no_leftovers();
    }
}

/// The image has `/hostroot -> /`, `/up -> ../../..` and `/hostetc ->
/// /etc`; COPY and ADD through them must write into the image (as Docker,
/// which resolves them inside the rootfs), never at the host's `/`.
#[test]
fn destinations_through_image_symlinks_stay_in_the_image() {
    let f = Fixture::new();
    f.write(
        "Dockerfile",
        "FROM busybox\nRUN ln -s / /hostroot && ln -s ../../.. /up && ln -s /etc /hostetc\n",
    );
    f.build_ok(&["-t", "links"]);
    let names = [unique("a"), unique("b"), unique("c"), unique("d")];
    f.write("f", "payload\n");
    let tar = RawTar::new().file(&names[3], b"payload\n").finish();
    std::fs::write(f.ctx.join("t.tar"), tar).unwrap();
    f.write(
        "Dockerfile",
        &format!(
            "FROM links\nCOPY f /hostroot/{}\nCOPY f /up/{}\nCOPY f /hostetc/{}\nADD t.tar /up/\n",
            names[0], names[1], names[2]
        ),
    );
    f.build_ok(&["-t", "through"]);
    for (name, path) in [
        (&names[0], format!("/{}", names[0])),
        (&names[1], format!("/{}", names[1])),
        (&names[2], format!("/etc/{}", names[2])),
        (&names[3], format!("/{}", names[3])),
    ] {
        // Not on the host...
        assert!(
            std::fs::symlink_metadata(&path).is_err(),
            "{path} written on the host"
        );
        // ...but at the same path in the image, where Docker puts it.
        let found = f.file("through", &path).unwrap_or_else(|| panic!("{name}"));
        assert!(found.starts_with(f.root.join("layers")));
        assert_eq!(std::fs::read_to_string(&found).unwrap(), "payload\n");
    }
    // The image's symlinks are still symlinks, not directories made over
    // them.
    for link in ["/hostroot", "/up", "/hostetc"] {
        let p = f.file("through", link).unwrap();
        assert!(
            std::fs::symlink_metadata(&p).unwrap().is_symlink(),
            "{link}"
        );
    }
    // A symlink loop is an error, not a hang.
    f.write(
        "Dockerfile",
        "FROM busybox\nRUN ln -s /b /a && ln -s /a /b\nCOPY f /a/x\n",
    );
    let out = f.build(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("too many levels of symbolic links"), "{err}");
}

/// `image build -`: a context tar on stdin whose members escape (`..`, a
/// symlink to a host dir then a file through it) writes nothing outside
/// the unpacked context.
#[test]
fn a_context_tar_on_stdin_cannot_write_outside() {
    use std::io::Write;
    let f = Fixture::new();
    let canary = canary(&f);
    let c = canary.display().to_string();
    let dockerfile = b"FROM busybox\nCOPY . /ctx/\n";
    for (i, tar) in [
        RawTar::new()
            .file("Dockerfile", dockerfile)
            .file("../../../../canary/evil", b"pwned")
            .finish(),
        RawTar::new()
            .file("Dockerfile", dockerfile)
            .symlink("s", &c)
            .file("s/evil", b"pwned")
            .finish(),
    ]
    .iter()
    .enumerate()
    {
        let mut child = common::store::spawn_strata(&f.root, &["image", "build", "-q", "-"]);
        child.stdin.take().unwrap().write_all(tar).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_canary(&canary, &format!("context {i}"));
        if out.status.success() {
            // The `..` member was skipped: the image has the Dockerfile only.
            assert!(String::from_utf8_lossy(&out.stdout).starts_with("sha256:"));
        }
        f.assert_no_leftovers();
    }
}
