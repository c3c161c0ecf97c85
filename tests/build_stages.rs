//! Multi-stage builds (`COPY --from`, `--target`, only the needed stages)
//! and reproducible image ids with SOURCE_DATE_EPOCH. Needs root and
//! /dev/fuse.
#![allow(clippy::unwrap_used)]

mod build_util;
mod common;

use build_util::Fixture;

const MULTI: &str = "FROM busybox AS builder
RUN echo built > /artifact
FROM busybox AS unused
RUN exit 1
FROM busybox AS tester
RUN echo tested > /t
FROM scratch
COPY --from=builder /artifact /app/artifact
COPY --from=0 /bin/busybox /bin/busybox
";

#[test]
fn stages_build_in_order_and_only_when_needed() {
    let f = Fixture::new();
    f.write("Dockerfile", MULTI);
    // The failing `unused` stage is never built.
    let (id, progress) = f.build_ok(&["-t", "multi"]);
    assert!(!progress.contains("exit 1"), "{progress}");
    assert!(!progress.contains("echo tested"), "{progress}");
    assert_eq!(f.read(&id, "/app/artifact"), "built\n");
    assert!(f.file(&id, "/bin/busybox").is_some());
    assert!(f.file(&id, "/bin/sh").is_none());
    assert_eq!(f.layers(&id).len(), 2);

    let (t, progress) = f.build_ok(&["--target", "tester"]);
    assert!(!progress.contains("exit 1"), "{progress}");
    assert_eq!(f.read(&t, "/t"), "tested\n");
    assert!(f.file(&t, "/app/artifact").is_none());
}

#[test]
fn source_date_epoch_gives_the_same_id_twice() {
    let f = Fixture::new();
    f.write(
        "Dockerfile",
        "FROM busybox\nRUN mkdir /d && echo x > /d/f\nCOPY c /c\nENV A=1\nCMD [\"sh\"]\n",
    );
    f.write("c", "content");
    let epoch = ["--build-arg", "SOURCE_DATE_EPOCH=1700000000", "--no-cache"];
    let (a, _) = f.build_ok(&epoch);
    let (b, _) = f.build_ok(&epoch);
    assert_eq!(a, b);
    let raw = f.raw_config(&a);
    assert_eq!(raw["created"], "2023-11-14T22:13:20Z");
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(f.file(&a, "/d/f").unwrap()).unwrap();
    assert_eq!(m.mtime(), 1_700_000_000);
}
