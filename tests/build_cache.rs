//! The per-instruction cache of `strata image build`: hits, the exact
//! invalidation cascade, and the one-line explanation of a miss. Needs root
//! and /dev/fuse (RUN steps run on the union filesystem).
#![allow(clippy::unwrap_used)]

mod build_util;
mod common;

use build_util::{Fixture, cached, step_lines};

const DOCKERFILE: &str = "FROM busybox
RUN echo one > /one
RUN echo two > /two
RUN echo three > /three
COPY arquivo_teste /data/
CMD [\"cat\", \"/data/arquivo_teste\"]
";

#[test]
fn cascade_from_the_changed_line_and_explained_misses() {
    let f = Fixture::new();
    f.write("Dockerfile", DOCKERFILE);
    f.write("arquivo_teste", "v1\n");
    let (first, p1) = f.build_ok(&["-t", "app:1"]);
    for step in 2..=6 {
        assert!(
            !cached(&p1, step),
            "step {step} cached on a cold build: {p1}"
        );
    }
    assert_eq!(f.read(&first, "/data/arquivo_teste"), "v1\n");

    // No change: every step cached, same image.
    let (again, p2) = f.build_ok(&[]);
    assert_eq!(again, first);
    for step in 2..=6 {
        assert!(cached(&p2, step), "step {step} not cached: {p2}");
    }

    // Touching the copied file without changing it keeps the cache.
    let file = f.ctx.join("arquivo_teste");
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let (touched, p3) = f.build_ok(&[]);
    assert_eq!(touched, first, "{p3}");

    // Changing its content misses at the COPY (step 5) with the reason.
    f.write("arquivo_teste", "v2\n");
    let (changed, p4) = f.build_ok(&[]);
    assert_ne!(changed, first);
    for step in 2..=4 {
        assert!(cached(&p4, step), "step {step} should be cached: {p4}");
    }
    assert!(!cached(&p4, 5) && !cached(&p4, 6), "{p4}");
    let miss = step_lines(&p4, 5)
        .into_iter()
        .find(|l| l.starts_with("cache miss:"))
        .unwrap_or_else(|| panic!("no explanation: {p4}"));
    assert!(
        miss.starts_with("cache miss: arquivo_teste content changed (sha256:")
            && miss.contains("-> sha256:"),
        "{miss}"
    );
    assert_eq!(f.read(&changed, "/data/arquivo_teste"), "v2\n");

    // Changing line 3 re-runs lines 3-6 and reuses 1-2.
    f.write("Dockerfile", &DOCKERFILE.replace("echo two", "echo TWO"));
    let (_, p5) = f.build_ok(&[]);
    assert!(cached(&p5, 2), "{p5}");
    for step in 3..=6 {
        assert!(!cached(&p5, step), "step {step} should re-run: {p5}");
    }
    assert!(
        step_lines(&p5, 3).contains(&"cache miss: instruction changed".to_string()),
        "{p5}"
    );

    // --no-cache runs everything.
    let (_, p6) = f.build_ok(&["--no-cache"]);
    for step in 2..=6 {
        assert!(!cached(&p6, step), "{p6}");
    }
}

#[test]
fn build_args_are_part_of_the_key() {
    let f = Fixture::new();
    f.write("Dockerfile", "FROM busybox\nARG V=a\nRUN echo $V > /v\n");
    let (a, _) = f.build_ok(&[]);
    assert_eq!(f.read(&a, "/v"), "a\n");
    let (b, p) = f.build_ok(&["--build-arg", "V=b"]);
    assert_eq!(f.read(&b, "/v"), "b\n");
    let miss: Vec<_> = step_lines(&p, 2)
        .into_iter()
        .chain(step_lines(&p, 3))
        .filter(|l| l.starts_with("cache miss"))
        .collect();
    assert_eq!(miss.len(), 1, "{p}");
    assert!(miss[0].contains("build arg V changed"), "{}", miss[0]);
    let (a2, p2) = f.build_ok(&["--build-arg", "V=a"]);
    assert_eq!(a2, a, "{p2}");
}

#[test]
fn chmod_makes_the_key_independent_of_the_source_mode() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new();
    f.write("Dockerfile", "FROM busybox\nCOPY --chmod=640 s /s\n");
    f.write("s", "x");
    let (a, _) = f.build_ok(&[]);
    let s = f.ctx.join("s");
    std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (b, p) = f.build_ok(&[]);
    assert_eq!(a, b, "{p}");
    let mode = std::fs::metadata(f.file(&a, "/s").unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o640);
    // Without --chmod the mode is an input.
    f.write("Dockerfile", "FROM busybox\nCOPY s /s\n");
    f.build_ok(&[]);
    std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (_, p) = f.build_ok(&[]);
    assert!(
        p.contains("#2 cache miss: s mode changed (600 -> 644)"),
        "{p}"
    );
}

#[test]
fn explain_compares_without_building() {
    let f = Fixture::new();
    f.write("Dockerfile", "FROM busybox\nRUN echo a > /a\nCOPY f /f\n");
    f.write("f", "1");
    f.build_ok(&[]);
    f.write("f", "2");
    let before = f.image_count();
    let out = f.build(&["--explain"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("#2 CACHED"), "{err}");
    assert!(err.contains("#3 cache miss: f content changed"), "{err}");
    assert_eq!(f.image_count(), before, "--explain stored images");
}
