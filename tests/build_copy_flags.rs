//! `COPY --parents`, `COPY --exclude`, `ADD --checksum` and the refusal of
//! `ADD --keep-git-dir` through `strata image build`. Needs root and
//! /dev/fuse.
#![allow(clippy::unwrap_used)]

mod build_util;
mod common;

use build_util::{Fixture, cached};

#[test]
fn parents_and_exclude() {
    let f = Fixture::new();
    for p in [
        "a/one.txt",
        "b/c/two.txt",
        "x/1/f.txt",
        "x/2/f.txt",
        "x/2/g.txt",
        "dir/keep",
        "dir/a.log",
        "dir/skip",
        "dir/sub/keep2",
        "dir/sub/b.log",
        "home.md",
        "home.txt",
    ] {
        f.write(p, p);
    }
    f.write(
        "Dockerfile",
        "FROM busybox
COPY --parents a/one.txt b/./c/two.txt /p/
COPY --parents x/*/f.txt /q
COPY --exclude=**/*.log --exclude=skip dir /e/
COPY --exclude=*.txt hom* /g/
COPY --parents --exclude=**/*.log dir/sub /pd
",
    );
    let (id, _) = f.build_ok(&[]);
    assert_eq!(f.read(&id, "/p/a/one.txt"), "a/one.txt");
    // `/./` is the pivot: only what follows it is kept.
    assert_eq!(f.read(&id, "/p/c/two.txt"), "b/c/two.txt");
    assert!(f.file(&id, "/p/b").is_none());
    assert_eq!(f.read(&id, "/q/x/1/f.txt"), "x/1/f.txt");
    assert_eq!(f.read(&id, "/q/x/2/f.txt"), "x/2/f.txt");
    assert!(f.file(&id, "/q/x/2/g.txt").is_none());
    assert_eq!(f.read(&id, "/e/keep"), "dir/keep");
    assert_eq!(f.read(&id, "/e/sub/keep2"), "dir/sub/keep2");
    for gone in ["/e/a.log", "/e/skip", "/e/sub/b.log", "/g/home.txt"] {
        assert!(f.file(&id, gone).is_none(), "{gone} was copied");
    }
    assert_eq!(f.read(&id, "/g/home.md"), "home.md");
    // A directory source keeps its path; --exclude applies inside it.
    assert_eq!(f.read(&id, "/pd/dir/sub/keep2"), "dir/sub/keep2");
    assert!(f.file(&id, "/pd/dir/sub/b.log").is_none());
    // An excluded file does not take part in the key.
    f.write("dir/a.log", "changed");
    let (again, out) = f.build_ok(&[]);
    assert_eq!(again, id);
    assert!(cached(&out, 4), "{out}");
    f.assert_no_leftovers();
}

#[test]
fn add_checksum_and_git_options() {
    let f = Fixture::new();
    f.write("file.bin", "payload\n");
    let wrong = "sha256:a2c2c9ae5ee27e4d4e3c6d1d3d1bbd1a1d0f4bd1ef3b2b0ee5d6c1d55f4f3f4c";
    let real = {
        use sha2::Digest as _;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(b"payload\n")))
    };
    assert_ne!(
        wrong, real,
        "the wrong digest must differ from the real one"
    );
    f.write(
        "Dockerfile",
        &format!("FROM busybox\nADD --checksum={real} file.bin /sum\n"),
    );
    let (id, _) = f.build_ok(&[]);
    assert_eq!(f.read(&id, "/sum"), "payload\n");

    f.write(
        "Dockerfile",
        &format!("FROM busybox\nRUN true\nADD --checksum={wrong} file.bin /sum\n"),
    );
    let err = f.build_fails(&[]);
    assert!(
        err.contains("Dockerfile:3: --checksum: digest mismatch for file.bin"),
        "{err}"
    );

    f.write(
        "Dockerfile",
        "FROM busybox\nADD --keep-git-dir=true file.bin /k\n",
    );
    let err = f.build_fails(&[]);
    assert!(
        err.contains("Dockerfile:2: ADD --keep-git-dir applies to git sources"),
        "{err}"
    );
    f.assert_no_leftovers();
}
