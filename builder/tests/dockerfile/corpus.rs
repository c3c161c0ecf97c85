//! The corpus of real-world-style Dockerfiles in `tests/dockerfile/corpus/`:
//! every one must parse without errors.

use std::path::Path;

use builder::dockerfile::{ParseOptions, parse_file};

fn corpus_files() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dockerfile/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// One line per stage and instruction: line range, then the expanded form
/// (heredoc bodies appended), so any change in how the corpus parses shows
/// up as a diff of `tests/dockerfile/golden/*.txt`.
fn golden_text(df: &builder::dockerfile::Dockerfile) -> String {
    use builder::dockerfile::Command;
    let mut out = String::new();
    for i in &df.meta_args {
        out.push_str(&format!(
            "{}-{} {}\n",
            i.lines.start, i.lines.end, i.expanded
        ));
    }
    for st in &df.stages {
        let name = st
            .name
            .as_deref()
            .map(|n| format!(" AS {n}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "{}-{} FROM {}{name} ({:?})\n",
            st.lines.start, st.lines.end, st.base_name, st.base
        ));
        for i in &st.instructions {
            out.push_str(&format!(
                "  {}-{} {}\n",
                i.lines.start, i.lines.end, i.expanded
            ));
            let docs = match &i.command {
                Command::Run(r) => &r.heredocs,
                Command::Copy(t) | Command::Add(t) => &t.heredocs,
                _ => continue,
            };
            for h in docs {
                out.push_str(&format!(
                    "    <<{} expand={} {:?}\n",
                    h.name, h.expand, h.content
                ));
            }
        }
    }
    out
}

/// Compares every corpus file with its golden rendering; run with
/// `STRATA_UPDATE_GOLDEN=1` to rewrite them (then review the diff).
#[test]
fn corpus_matches_golden_files() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dockerfile/golden");
    let update = std::env::var_os("STRATA_UPDATE_GOLDEN").is_some();
    let mut mismatches = Vec::new();
    for f in corpus_files() {
        let df = parse_file(&f, &ParseOptions::default()).unwrap();
        let got = golden_text(&df);
        let stem = f.file_stem().unwrap().to_string_lossy().into_owned();
        let path = golden.join(format!("{stem}.txt"));
        if update {
            std::fs::create_dir_all(&golden).unwrap();
            std::fs::write(&path, &got).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(got.as_str()) {
            mismatches.push(format!("{}:\n{got}", path.display()));
        }
    }
    assert!(
        mismatches.is_empty(),
        "golden mismatch (STRATA_UPDATE_GOLDEN=1 rewrites):\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn every_corpus_dockerfile_parses() {
    let files = corpus_files();
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
