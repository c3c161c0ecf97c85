//! Helpers shared by the Dockerfile test tables.

use builder::dockerfile::{Dockerfile, ParseOptions, parse};

/// Parses with default options, panicking with every diagnostic on error.
pub fn ok(src: &str) -> Dockerfile {
    ok_with(src, &ParseOptions::default())
}

pub fn ok_with(src: &str, opts: &ParseOptions) -> Dockerfile {
    match parse(src, opts) {
        Ok(df) => df,
        Err(d) => panic!("unexpected errors for\n{src}\n---\n{d}"),
    }
}

/// Every instruction rendered in its expanded form: global ARGs, then per
/// stage `FROM <base> [AS name]` followed by its instructions.
pub fn render(df: &Dockerfile) -> Vec<String> {
    let mut out: Vec<String> = df.meta_args.iter().map(|i| i.expanded.clone()).collect();
    for st in &df.stages {
        let mut from = format!("FROM {}", st.base_name);
        if let Some(p) = &st.platform {
            from = format!("FROM --platform={p} {}", st.base_name);
        }
        if let Some(n) = &st.name {
            from.push_str(&format!(" AS {n}"));
        }
        out.push(from);
        out.extend(st.instructions.iter().map(|i| i.expanded.clone()));
    }
    out
}

/// Runs a table of (Dockerfile, expected rendering) cases.
pub fn table(cases: &[(&str, &[&str])]) {
    for (src, want) in cases {
        let got = render(&ok(src));
        assert_eq!(&got, want, "for Dockerfile:\n{src}");
    }
}

/// Errors as `LINE:COL: message`, in source order.
pub fn errors(src: &str) -> Vec<String> {
    errors_with(src, &ParseOptions::default())
}

pub fn errors_with(src: &str, opts: &ParseOptions) -> Vec<String> {
    match parse(src, opts) {
        Ok(_) => panic!("expected errors for\n{src}"),
        Err(d) => d
            .errors()
            .map(|e| format!("{}:{}: {}", e.line, e.column, e.message))
            .collect(),
    }
}

/// Warnings of a successful parse as `LINE:COL: message`.
pub fn warnings(src: &str) -> Vec<String> {
    ok(src)
        .warnings
        .iter()
        .map(|e| format!("{}:{}: {}", e.line, e.column, e.message))
        .collect()
}
