//! `RUN --mount` through `strata image build`: cache, bind, tmpfs, secret
//! and ssh mounts, none of which reaches a layer. Needs root and /dev/fuse.
#![allow(clippy::unwrap_used)]

mod build_util;
mod common;

use std::path::Path;

use build_util::{Fixture, cached, path_exists, step_lines};

/// Whether any file of any layer of `id` contains `needle`.
fn layers_contain(f: &Fixture, id: &str, needle: &str) -> bool {
    fn walk(p: &Path, needle: &[u8]) -> bool {
        let m = std::fs::symlink_metadata(p).unwrap();
        if m.is_dir() {
            return std::fs::read_dir(p)
                .unwrap()
                .any(|e| walk(&e.unwrap().path(), needle));
        }
        m.is_file()
            && std::fs::read(p)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle)
    }
    f.layers(id).iter().any(|l| walk(l, needle.as_bytes()))
}

#[test]
fn cache_mounts_persist_across_builds_and_no_cache() {
    let f = Fixture::new();
    f.write(
        "Dockerfile",
        "FROM busybox
RUN --mount=type=cache,target=/var/cache/app echo x >> /var/cache/app/log && wc -l < /var/cache/app/log > /count
RUN --mount=type=cache,id=own,target=/o,uid=1000,gid=2000,mode=0700 stat -c '%u %g %a' /o > /own
RUN --mount=type=cache,target=/var/cache/app,sharing=locked cat /var/cache/app/log > /seen
",
    );
    let (id, _) = f.build_ok(&[]);
    assert_eq!(f.read(&id, "/count").trim(), "1");
    assert_eq!(f.read(&id, "/own"), "1000 2000 700\n");
    assert_eq!(f.read(&id, "/seen"), "x\n");
    // The mount point is not in the layer, nor its parents copied up.
    for l in f.layers(&id) {
        assert!(!path_exists(&l.join("var")), "{}", l.display());
        assert!(!path_exists(&l.join("o")), "{}", l.display());
    }
    // --no-cache runs the step again on the same cache directory.
    let (id2, _) = f.build_ok(&["--no-cache"]);
    assert_eq!(f.read(&id2, "/count").trim(), "2");
    assert_eq!(f.read(&id2, "/seen"), "x\nx\n");
    // A different id is a different cache.
    f.write(
        "Dockerfile",
        "FROM busybox\nRUN --mount=type=cache,id=other,target=/var/cache/app ls /var/cache/app | wc -l > /n\n",
    );
    let (id3, _) = f.build_ok(&[]);
    assert_eq!(f.read(&id3, "/n").trim(), "0");
    f.assert_no_leftovers();
}

#[test]
fn bind_and_tmpfs_mounts() {
    let f = Fixture::new();
    f.write("data/f", "ctx\n");
    f.write("data/hidden", "no\n");
    f.write(".dockerignore", "data/hidden\n");
    f.write(
        "Dockerfile",
        "FROM busybox AS src
RUN echo from-stage > /made && mkdir /seed && echo seeded > /seed/file
FROM busybox
RUN --mount=type=bind,source=data,target=/mnt cat /mnt/f > /got && test ! -e /mnt/hidden && ! touch /mnt/new 2>/dev/null
RUN --mount=type=bind,from=src,source=/made,target=/m cat /m > /got2
RUN --mount=type=bind,source=data,target=/mnt,rw echo w > /mnt/f && cat /mnt/f > /got3
RUN --mount=type=tmpfs,target=/t echo x > /t/x && ls /t > /got4
RUN test ! -e /t/x && test ! -e /mnt/f
RUN --mount=type=cache,id=seeded,target=/s,from=src,source=/seed cat /s/file > /got5
",
    );
    let (id, _) = f.build_ok(&[]);
    assert_eq!(f.read(&id, "/got"), "ctx\n");
    assert_eq!(f.read(&id, "/got2"), "from-stage\n");
    assert_eq!(f.read(&id, "/got3"), "w\n");
    assert_eq!(f.read(&id, "/got4"), "x\n");
    // A cache mount seeded from a stage's directory when first created.
    assert_eq!(f.read(&id, "/got5"), "seeded\n");
    // rw writes are discarded: the context is untouched.
    assert_eq!(
        std::fs::read_to_string(f.ctx.join("data/f")).unwrap(),
        "ctx\n"
    );
    for l in f.layers(&id) {
        for p in ["mnt", "m", "t", "s"] {
            assert!(!path_exists(&l.join(p)), "{p} in {}", l.display());
        }
    }
    // The bound content is part of the key (the steps after it run again).
    f.write("data/f", "changed\n");
    let (id2, out) = f.build_ok(&[]);
    assert!(cached(&out, 2), "{out}");
    assert!(!cached(&out, 4), "{out}");
    assert!(
        step_lines(&out, 4)
            .iter()
            .any(|l| l.contains("cache miss: mount:/mnt:data/f content changed")),
        "{out}"
    );
    assert_eq!(f.read(&id2, "/got"), "changed\n");
    f.assert_no_leftovers();
}

#[test]
fn secrets_are_mounted_but_never_stored() {
    let f = Fixture::new();
    let secret = f.work.path().join("tok.txt");
    std::fs::write(&secret, "s3cr3t-value").unwrap();
    let spec = format!("id=tok,src={}", secret.display());
    f.write(
        "Dockerfile",
        "FROM busybox
RUN --mount=type=secret,id=tok wc -c < /run/secrets/tok > /len && stat -c %a /run/secrets/tok > /mode
RUN --mount=type=secret,id=tok,env=TOK,target=/s test ${#TOK} = 12 && test $(wc -c < /s) = 12 && echo ok > /env
",
    );
    let (id, _) = f.build_ok(&["--secret", &spec, "-t", "sec"]);
    assert_eq!(f.read(&id, "/len").trim(), "12");
    assert_eq!(f.read(&id, "/mode"), "400\n");
    assert_eq!(f.read(&id, "/env"), "ok\n");
    assert!(!layers_contain(&f, &id, "s3cr3t"));
    for l in f.layers(&id) {
        assert!(!path_exists(&l.join("run")), "{}", l.display());
        assert!(!path_exists(&l.join("s")), "{}", l.display());
    }
    let history = common::store::strata_ok(&f.root, &["image", "history", "--no-trunc", "sec"]);
    assert!(!history.contains("s3cr3t"), "{history}");
    // The secret's content is not in the key.
    std::fs::write(&secret, "other").unwrap();
    let (again, out) = f.build_ok(&["--secret", &spec]);
    assert_eq!(again, id);
    assert!(cached(&out, 2) && cached(&out, 3), "{out}");
    // A required secret that is not given fails the step.
    f.write(
        "Dockerfile",
        "FROM busybox\nRUN --mount=type=secret,id=missing,required true\n",
    );
    let err = f.build_fails(&[]);
    assert!(
        err.contains("Dockerfile:2: secret missing is required"),
        "{err}"
    );
    f.assert_no_leftovers();
}

#[test]
fn ssh_mounts_are_refused_and_targets_stay_in_the_rootfs() {
    let f = Fixture::new();
    f.write(
        "Dockerfile",
        "FROM busybox\nRUN true\nRUN --mount=type=ssh ls\n",
    );
    let err = f.build_fails(&[]);
    assert!(
        err.contains("Dockerfile:3: RUN --mount=type=ssh is not supported"),
        "{err}"
    );
    // A symlink to a host path: the mount lands inside the rootfs.
    let host = f.work.path().join("host-side");
    f.write(
        "Dockerfile",
        &format!(
            "FROM busybox\nRUN ln -s {} /link\nRUN --mount=type=tmpfs,target=/link/x echo in > /link/x/f && cat /link/x/f > /r\n",
            host.display()
        ),
    );
    let (id, _) = f.build_ok(&[]);
    assert_eq!(f.read(&id, "/r"), "in\n");
    assert!(!path_exists(&host), "a mount target escaped to the host");
    f.assert_no_leftovers();
}
