//! `.dockerignore` patterns with Docker's rules.

use builder::dockerfile::ignore::{Matcher, Pattern, clean, ignore_file};

fn m(text: &str) -> Matcher {
    Matcher::parse(text).expect("valid patterns")
}

#[test]
fn cleaning() {
    for (p, want) in [
        ("./a/b/", "a/b"),
        ("/a//b", "a/b"),
        ("a/../b", "b"),
        ("/", "/"),
        (".", "."),
        ("../x", "../x"),
    ] {
        assert_eq!(Pattern::new(p).unwrap().text, want, "{p}");
    }
    assert_eq!(clean("a/./b/../c"), "a/c");
}

#[test]
fn matching_table() {
    // (patterns, path, excluded?)
    let cases: &[(&str, &str, bool)] = &[
        ("*.md", "README.md", true),
        ("*.md", "docs/README.md", false),
        ("**/*.md", "docs/deep/README.md", true),
        ("**/*.md", "README.md", true),
        ("docs/**", "docs/a/b", true),
        ("docs/**", "docs", false),
        ("a/**/b", "a/b", true),
        ("a/**/b", "a/x/y/b", true),
        ("a/**/b", "a/x/y/c", false),
        ("target", "target/debug/app", true),
        ("target", "src/target", false),
        ("/target", "target/x", true),
        ("./target", "target/x", true),
        ("t?rget", "target", true),
        ("t?rget", "t/rget", false),
        ("[a-c]at", "bat", true),
        ("[^a-c]at", "bat", false),
        ("[^a-c]at", "rat", true),
        ("\\*", "*", true),
        ("\\*", "a", false),
        ("*", "a/b", true),
        ("#notcomment", "#notcomment", false),
        (" spaced ", "spaced", true),
        // Exceptions: last match wins.
        ("*.md\n!README.md", "README.md", false),
        ("*.md\n!README.md", "CHANGES.md", true),
        ("*.md\n!README.md\nREADME*", "README.md", true),
        (
            "node_modules\n!node_modules/keep",
            "node_modules/keep",
            false,
        ),
        (
            "node_modules\n!node_modules/keep",
            "node_modules/other",
            true,
        ),
        ("**\n!src\n!Cargo.toml", "src/main.rs", false),
        ("**\n!src\n!Cargo.toml", "target/x", true),
        ("# comment\n\n.git", ".git/config", true),
    ];
    for (pats, path, want) in cases {
        assert_eq!(
            m(pats).excluded(path),
            *want,
            "patterns {pats:?} path {path:?}"
        );
    }
}

#[test]
fn pattern_errors_carry_the_line() {
    let e = Matcher::parse("ok\n[unclosed\n").unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e.message.contains("syntax error in pattern"), "{e}");
    let e = Matcher::parse("a\n!\n").unwrap_err();
    assert_eq!(
        (e.line, e.message.as_str()),
        (2, "illegal exclusion pattern: \"!\"")
    );
    assert!(Matcher::parse("trailing\\").is_err());
    assert!(Matcher::new(&["[z-a]"]).is_err());
}

#[test]
fn hostile_patterns_stay_fast() {
    // Backtracking matchers take exponential time on these; ours is memoised.
    let pat = "*a*a*a*a*a*a*a*a*a*a*a*a*b";
    let path = "a".repeat(200);
    assert!(!m(pat).excluded(&path));
    let pat = "**/**/**/**/**/**/**/**/x";
    assert!(!m(pat).excluded(&"a/".repeat(100)));
}

#[test]
fn dockerfile_specific_ignore_file_wins() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path();
    std::fs::write(ctx.join(".dockerignore"), "ctx-rule\n").unwrap();
    let df = ctx.join("build.Dockerfile");
    assert_eq!(ignore_file(ctx, Some(&df)), Some(ctx.join(".dockerignore")));
    std::fs::write(ctx.join("build.Dockerfile.dockerignore"), "df-rule\n").unwrap();
    assert_eq!(
        ignore_file(ctx, Some(&df)),
        Some(ctx.join("build.Dockerfile.dockerignore"))
    );
    let loaded = Matcher::load(ctx, Some(&df)).unwrap();
    assert!(loaded.excluded("df-rule") && !loaded.excluded("ctx-rule"));
    assert!(ignore_file(&ctx.join("nothing"), None).is_none());
}
