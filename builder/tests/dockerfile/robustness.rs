//! The property the fuzz target checks, in the normal suite: thousands of
//! generated and mutated inputs never make the parser panic or hang.

use std::path::Path;
use std::time::{Duration, Instant};

use builder::dockerfile::{ParseOptions, expand, ignore, parse};
use builder::fuzz::Rng;

/// Fragments that reach the parser's special cases.
const TOKENS: &[&str] = &[
    "FROM ",
    "RUN ",
    "COPY ",
    "ADD ",
    "ENV ",
    "ARG ",
    "LABEL ",
    "ONBUILD ",
    "HEALTHCHECK ",
    "CMD ",
    "SHELL ",
    "EXPOSE ",
    "VOLUME ",
    "USER ",
    "WORKDIR ",
    "STOPSIGNAL ",
    " AS ",
    "--from=",
    "--mount=",
    "type=cache,target=/x",
    "--chown=",
    "--platform=",
    "<<EOF",
    "<<-EOF",
    "<<'E'",
    "EOF",
    "\tEOF",
    "\\\n",
    "`\n",
    "# escape=`\n",
    "# syntax=x\n",
    "#",
    "\n",
    "\r\n",
    " ",
    "\t",
    "\"",
    "'",
    "[",
    "]",
    "[\"a\",",
    "1]",
    "$",
    "${",
    "}",
    ":-",
    ":+",
    "#",
    "%",
    "/",
    "=",
    "a",
    "0",
    "é",
    "\u{feff}",
    "\\",
    "`",
    "scratch",
    "NONE",
    "CMD ",
    "--interval=1s",
    "**",
    "!",
];

fn generate(rng: &mut Rng) -> String {
    let n = 1 + rng.below(40);
    (0..n).map(|_| TOKENS[rng.below(TOKENS.len())]).collect()
}

fn mutate(rng: &mut Rng, seed: &str) -> String {
    let mut bytes = seed.as_bytes().to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(4) {
            0 if at < bytes.len() => {
                bytes.remove(at);
            }
            1 => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                bytes.splice(at..at, t.iter().copied());
            }
            2 if at < bytes.len() => bytes[at] = rng.next_u64() as u8,
            _ => {
                let len = rng.below(64).min(bytes.len().saturating_sub(at));
                let chunk: Vec<u8> = bytes[at..at + len].to_vec();
                bytes.splice(at..at, chunk);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn exercise(text: &str) {
    let mut opts = ParseOptions::default();
    let _ = parse(text, &opts);
    opts.target = Some("a".into());
    opts.build_args.insert("A".into(), "x y".into());
    if let Ok(df) = parse(text, &opts) {
        for st in &df.stages {
            for i in &st.instructions {
                let _ = i.command.to_string();
            }
        }
    }
    let _ = expand::expand(text, &opts.build_args, '\\');
    if let Ok(m) = ignore::Matcher::parse(text) {
        let _ = m.excluded("a/b/c");
    }
}

#[test]
fn generated_and_mutated_inputs_never_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dockerfile/corpus");
    let seeds: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    let mut rng = Rng(0x5eed_d0c4_e1f1_1e00);
    let mut slowest = Duration::ZERO;
    for i in 0..4000 {
        let input = if i % 2 == 0 {
            generate(&mut rng)
        } else {
            let seed = &seeds[rng.below(seeds.len())];
            mutate(&mut rng, seed)
        };
        let start = Instant::now();
        let r = std::panic::catch_unwind(|| exercise(&input));
        assert!(r.is_ok(), "panic on input {input:?}");
        slowest = slowest.max(start.elapsed());
    }
    // Not a timing assertion on the machine: it only reports; a hang would
    // never get here (the test harness would time out).
    eprintln!("slowest input took {slowest:?}");
}

/// Inputs crafted against quadratic or worse behaviour must still finish.
#[test]
fn pathological_inputs_finish() {
    let long_line = format!("FROM a\nRUN {}\n", "x \\\n".repeat(5000));
    let many_heredocs = format!("FROM a\nRUN {}\n", "<<E ".repeat(500));
    let nested = format!(
        "FROM a\nENV A={}x{}\n",
        "${B:-".repeat(200),
        "}".repeat(200)
    );
    let deep_nested = format!("FROM a\nENV A={}x\n", "${B:-".repeat(5000));
    for input in [long_line, many_heredocs, nested, deep_nested] {
        exercise(&input);
    }
}
