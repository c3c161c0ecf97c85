//! The corpus of real-world-style Dockerfiles in `tests/dockerfile/corpus/`:
//! every one must parse without errors.

use std::path::Path;

use builder::dockerfile::{ParseOptions, parse_file};

#[test]
fn every_corpus_dockerfile_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dockerfile/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 50, "the corpus has {} files", files.len());
    let mut failures = Vec::new();
    let mut instructions = 0;
    for f in &files {
        match parse_file(f, &ParseOptions::default()) {
            Ok(df) => {
                assert!(!df.stages.is_empty(), "{}", f.display());
                instructions += df
                    .stages
                    .iter()
                    .map(|s| s.instructions.len() + 1)
                    .sum::<usize>();
            }
            Err(e) => failures.push(format!("{}: {e}", f.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        instructions > 500,
        "only {instructions} instructions in the corpus"
    );
}

#[test]
fn corpus_spot_checks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dockerfile/corpus");
    let df = parse_file(
        &dir.join("23-windows-escape.Dockerfile"),
        &ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(df.directives.escape, '`');
    assert_eq!(
        df.stages[0].instructions[2].expanded,
        "ADD Example.ps1 C:\\Example\\"
    );
    let df = parse_file(
        &dir.join("01-go-multistage.Dockerfile"),
        &ParseOptions::default(),
    )
    .unwrap();
    assert_eq!(df.stages[0].base_name, "golang:1.22-alpine3.19");
    assert_eq!(df.needed, vec![0, 1]);
}
