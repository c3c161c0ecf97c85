//! RUN and COPY heredocs through `strata image build`, with BuildKit's
//! semantics, and their bodies in the cache key. Needs root and /dev/fuse.
#![allow(clippy::unwrap_used)]

mod build_util;
mod common;

use build_util::{Fixture, cached, path_exists, step_lines};

const DOCKERFILE: &str = "FROM busybox
ARG WHO=arg
RUN <<EOF
echo one > /h1
echo \"$WHO\" >> /h1
EOF
RUN <<EOF ash
echo via-ash > /h2
EOF
RUN tr a-z A-Z <<EOF > /h3
shout
EOF
RUN cat <<A > /h4 && cat <<'B' >> /h4
x=$WHO
A
y=$WHO
B
RUN <<-EOF
\techo tabbed > /h5
\tEOF
RUN <<EOT
#!/bin/ash
echo \"script $0\" > /h6
EOT
COPY <<EOF /c1
hello $WHO
EOF
COPY <<'EOF' /c2
hello $WHO
EOF
COPY --chmod=755 <<a <<b /dir/
A
a
B
b
";

#[test]
fn heredocs_run_and_copy_like_buildkit() {
    let f = Fixture::new();
    f.write("Dockerfile", DOCKERFILE);
    let (id, _) = f.build_ok(&[]);
    // A lone heredoc is the script; build args are in its environment.
    assert_eq!(f.read(&id, "/h1"), "one\narg\n");
    // `<<EOF ash`: the body is the interpreter's stdin.
    assert_eq!(f.read(&id, "/h2"), "via-ash\n");
    // A command with a heredoc as stdin.
    assert_eq!(f.read(&id, "/h3"), "SHOUT\n");
    // Several heredocs; a quoted delimiter is not expanded.
    assert_eq!(f.read(&id, "/h4"), "x=arg\ny=$WHO\n");
    // `<<-` strips leading tabs (terminator included).
    assert_eq!(f.read(&id, "/h5"), "tabbed\n");
    // A `#!` heredoc runs as a file under /dev/pipes, which no layer keeps.
    assert_eq!(f.read(&id, "/h6"), "script /dev/pipes/EOT\n");
    for l in f.layers(&id) {
        assert!(!path_exists(&l.join("dev")), "{} has /dev", l.display());
    }
    // COPY heredocs: expanded unless the delimiter is quoted; named after
    // the delimiter in a directory destination; --chmod applies.
    assert_eq!(f.read(&id, "/c1"), "hello arg\n");
    assert_eq!(f.read(&id, "/c2"), "hello $WHO\n");
    assert_eq!(f.read(&id, "/dir/a"), "A\n");
    assert_eq!(f.read(&id, "/dir/b"), "B\n");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(f.file(&id, "/dir/a").unwrap())
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o7777, 0o755);
    f.assert_no_leftovers();
}

#[test]
fn heredoc_bodies_are_part_of_the_key() {
    let f = Fixture::new();
    let df = |run_body: &str, copy_body: &str| {
        format!(
            "FROM busybox\nRUN <<EOF\necho {run_body} > /r\nEOF\nCOPY <<EOF /c\n{copy_body}\nEOF\nRUN cat /c /r > /both\n"
        )
    };
    f.write("Dockerfile", &df("one", "x"));
    let (first, _) = f.build_ok(&[]);
    let (again, out) = f.build_ok(&[]);
    assert_eq!(first, again);
    assert!(
        cached(&out, 2) && cached(&out, 3) && cached(&out, 4),
        "{out}"
    );

    // Only the COPY body changes: the RUN before it stays cached.
    f.write("Dockerfile", &df("one", "y"));
    let (second, out) = f.build_ok(&[]);
    assert!(cached(&out, 2), "{out}");
    assert!(!cached(&out, 3), "{out}");
    assert!(
        step_lines(&out, 3)
            .iter()
            .any(|l| l.starts_with("cache miss: <<EOF content changed")),
        "{out}"
    );
    assert_eq!(f.read(&second, "/both"), "y\none\n");

    // The RUN body changes: it and everything after run again.
    f.write("Dockerfile", &df("two", "y"));
    let (third, out) = f.build_ok(&[]);
    assert!(!cached(&out, 2), "{out}");
    assert!(
        step_lines(&out, 2)
            .iter()
            .any(|l| l.starts_with("cache miss: <<EOF content changed")),
        "{out}"
    );
    assert_eq!(f.read(&third, "/both"), "y\ntwo\n");
}
