//! The Dockerfile parser, the expansion lexer and the .dockerignore matcher
//! on arbitrary input: no panic, no hang.
#![no_main]

use std::collections::BTreeMap;

use builder::dockerfile::{self, ParseOptions, expand, ignore};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut opts = ParseOptions::default();
    let _ = dockerfile::parse(&text, &opts);
    // Second pass with build args and a target, which exercise other paths.
    opts.build_args = BTreeMap::from([("A".to_string(), "x y".to_string())]);
    opts.target = Some("build".into());
    if let Ok(df) = dockerfile::parse(&text, &opts) {
        for st in &df.stages {
            for i in &st.instructions {
                let _ = i.command.to_string();
            }
        }
    }
    let vars = BTreeMap::from([("A".to_string(), "a/b/c".to_string())]);
    let _ = expand::expand(&text, &vars, '\\');
    let _ = expand::Lexer::new('`').words(&text, &vars);
    if let Ok(m) = ignore::Matcher::parse(&text) {
        for p in ["a", "a/b", "x/y/z.go", ".git/config", "node_modules/x"] {
            let _ = m.excluded(p);
        }
    }
});
