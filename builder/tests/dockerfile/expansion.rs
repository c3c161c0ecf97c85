//! Variable expansion rules and ARG/ENV scoping.

use std::collections::BTreeMap;

use builder::dockerfile::expand::{Lexer, NoVars, expand};
use builder::dockerfile::{Command, ParseOptions};

use super::common::{ok, ok_with, render, table, warnings};

fn vars() -> BTreeMap<String, String> {
    [
        ("A", "alpha"),
        ("E", ""),
        ("P", "/usr/local/bin/tool.tar.gz"),
        ("S", "x y"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[test]
fn expansion_operators() {
    let cases: &[(&str, &str)] = &[
        ("$A", "alpha"),
        ("${A}", "alpha"),
        ("pre${A}post", "prealphapost"),
        ("$Apost", ""),
        ("$U", ""),
        ("${U:-word}", "word"),
        ("${E:-word}", "word"),
        ("${E-word}", ""),
        ("${U-word}", "word"),
        ("${A:-word}", "alpha"),
        ("${A:+word}", "word"),
        ("${E:+word}", ""),
        ("${E+word}", "word"),
        ("${U+word}", ""),
        ("${U:-$A}", "alpha"),
        ("${U:-${A:+nested}}", "nested"),
        ("${P#*/}", "usr/local/bin/tool.tar.gz"),
        ("${P##*/}", "tool.tar.gz"),
        ("${P%.*}", "/usr/local/bin/tool.tar"),
        ("${P%%.*}", "/usr/local/bin/tool"),
        ("${P/o/0}", "/usr/l0cal/bin/tool.tar.gz"),
        ("${P//o/0}", "/usr/l0cal/bin/t00l.tar.gz"),
        // Escapes and quotes.
        ("\\$A", "$A"),
        ("'$A'", "$A"),
        ("\"$A\"", "alpha"),
        ("\"\\$A\"", "$A"),
        ("\"a\\b\"", "a\\b"),
        ("a\\ b", "a b"),
        ("\"x\"'y'z", "xyz"),
        ("$", "$"),
        ("a$", "a$"),
        ("$/", "$/"),
        ("${A}$A", "alphaalpha"),
        ("trailing\\", "trailing"),
    ];
    for (word, want) in cases {
        assert_eq!(expand(word, &vars(), '\\').as_deref(), Ok(*want), "{word}");
    }
    // With ` as the escape character, backslashes are ordinary.
    assert_eq!(
        expand("C:\\$A `$A", &vars(), '`').as_deref(),
        Ok("C:\\alpha $A")
    );
}

#[test]
fn expansion_errors() {
    for (word, msg) in [
        ("${A", "syntax error: missing '}'"),
        ("${}", "syntax error: bad substitution"),
        ("${:-x}", "syntax error: bad substitution"),
        ("${A:#x}", "unsupported modifier (:#) in substitution"),
        ("${A!}", "unsupported modifier (!) in substitution"),
        ("${U?}", "U: is not allowed to be unset"),
        ("${E:?must be set}", "E: must be set"),
        (
            "'open",
            "unexpected end of statement while looking for matching single-quote",
        ),
        (
            "\"open",
            "unexpected end of statement while looking for matching double-quote",
        ),
    ] {
        let e = expand(word, &vars(), '\\').expect_err(word);
        assert_eq!(e.message, msg, "{word}");
    }
}

#[test]
fn words_split_on_unquoted_whitespace_including_values() {
    let lx = Lexer::default();
    assert_eq!(
        lx.words("a $S \"$S\" 'b c'", &vars()).unwrap(),
        vec!["a", "x", "y", "x y", "b c"]
    );
    assert_eq!(lx.words("  ", &NoVars).unwrap(), Vec::<String>::new());
}

#[test]
fn only_some_instructions_expand() {
    table(&[(
        "FROM a\nENV V=1 W=two\nRUN echo $V\nCMD echo $V\nENTRYPOINT [\"$V\"]\nSHELL [\"$V\"]\nHEALTHCHECK CMD $V\nWORKDIR /$V\nUSER $V:$W\nLABEL l$V=$W\nEXPOSE 80$V\nVOLUME /v$V\nSTOPSIGNAL SIG${W:+TERM}\nCOPY --chown=$V --chmod=7$V$V /s$V /d$W\nADD s$V d$W\nONBUILD RUN $V\nENV X=$V$W\n",
        &[
            "FROM a",
            "ENV V=1 W=two",
            "RUN echo $V",
            "CMD echo $V",
            "ENTRYPOINT [\"$V\"]",
            "SHELL [\"$V\"]",
            "HEALTHCHECK CMD $V",
            "WORKDIR /1",
            "USER 1:two",
            "LABEL l1=two",
            "EXPOSE 801",
            "VOLUME /v1",
            "STOPSIGNAL SIGTERM",
            "COPY --chown=1 --chmod=711 /s1 /dtwo",
            "ADD s1 dtwo",
            "ONBUILD RUN $V",
            "ENV X=1two",
        ],
    )]);
}

#[test]
fn env_values_use_the_environment_before_the_instruction() {
    // Docker: all values of one ENV see the old values.
    table(&[(
        "FROM a\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n",
        &[
            "FROM a",
            "ENV abc=hello",
            "ENV abc=bye def=hello",
            "ENV ghi=bye",
        ],
    )]);
}

#[test]
fn arg_scoping() {
    let src = "ARG V=1\nARG IMG=alpine:$V\nFROM $IMG\nRUN echo\nWORKDIR /$V\nARG V\nWORKDIR /$V\nARG V=3\nWORKDIR /$V\nFROM $IMG AS two\nWORKDIR /$V\n";
    let df = ok(src);
    assert_eq!(
        render(&df),
        vec![
            "ARG V=1",
            "ARG IMG=alpine:1",
            "FROM alpine:1",
            "RUN echo",
            "WORKDIR /",
            "ARG V",
            "WORKDIR /1",
            "ARG V=3",
            "WORKDIR /3",
            "FROM alpine:1 AS two",
            "WORKDIR /",
        ]
    );
    // Global ARGs used in a stage without redeclaring: a hint.
    let w = warnings(src);
    assert!(
        w.iter().any(|w| w.starts_with("5:9: $V is a global ARG")),
        "{w:?}"
    );
    // The build args in scope at each instruction.
    let run = &df.stages[0].instructions[0];
    assert!(run.args.is_empty());
    assert_eq!(
        df.stages[0].instructions[3].args,
        vec![("V".to_string(), "1".to_string())]
    );

    // Build args override defaults, including global ones.
    let mut opts = ParseOptions::default();
    opts.build_args.insert("V".into(), "9".into());
    opts.build_args.insert("UNUSED".into(), "x".into());
    opts.build_args
        .insert("HTTP_PROXY".into(), "http://p".into());
    let df = ok_with(src, &opts);
    assert_eq!(df.stages[0].base_name, "alpine:9");
    assert_eq!(df.stages[0].instructions[3].expanded, "WORKDIR /9");
    assert_eq!(
        df.stages[0].instructions[5].expanded, "WORKDIR /9",
        "build arg beats ARG V=3"
    );
    assert_eq!(df.unused_build_args, vec!["UNUSED".to_string()]);
    // Predefined proxy args are in RUN's scope without ARG, but are not
    // expanded in instructions unless declared (BuildKit).
    assert!(
        df.stages[0].instructions[0]
            .args
            .contains(&("HTTP_PROXY".into(), "http://p".into()))
    );
}

#[test]
fn env_overrides_arg_and_is_inherited_by_child_stages() {
    let df = ok(
        "FROM a AS one\nARG X=arg\nENV X=env\nWORKDIR /$X\nFROM one\nWORKDIR /$X\nFROM a\nWORKDIR /x$X\n",
    );
    assert_eq!(df.stages[0].instructions[2].expanded, "WORKDIR /env");
    assert_eq!(df.stages[1].instructions[0].expanded, "WORKDIR /env");
    assert_eq!(df.stages[2].instructions[0].expanded, "WORKDIR /x");
    assert_eq!(df.stages[0].env, vec![("X".to_string(), "env".to_string())]);
}

#[test]
fn base_image_environment_from_options() {
    let mut opts = ParseOptions::default();
    opts.base_env.insert(
        "debian".into(),
        vec![("PATH".into(), "/usr/bin:/bin".into())],
    );
    let df = ok_with(
        "FROM debian\nENV PATH=/opt/bin:$PATH\nFROM alpine\nENV PATH=/opt/bin:$PATH\n",
        &opts,
    );
    assert_eq!(
        df.stages[0].instructions[0].expanded,
        "ENV PATH=/opt/bin:/usr/bin:/bin"
    );
    assert_eq!(df.stages[1].instructions[0].expanded, "ENV PATH=/opt/bin:");
}

#[test]
fn platform_args_in_global_scope() {
    let opts = ParseOptions {
        target_platform: "linux/arm64/v8".into(),
        build_platform: "linux/amd64".into(),
        ..ParseOptions::default()
    };
    let df = ok_with(
        "FROM --platform=$BUILDPLATFORM img:$TARGETARCH AS b\nARG TARGETOS TARGETARCH TARGETVARIANT\nWORKDIR /$TARGETOS/$TARGETARCH/$TARGETVARIANT\n",
        &opts,
    );
    assert_eq!(df.stages[0].platform.as_deref(), Some("linux/amd64"));
    assert_eq!(df.stages[0].base_name, "img:arm64");
    assert_eq!(
        df.stages[0].instructions[1].expanded,
        "WORKDIR /linux/arm64/v8"
    );
}

#[test]
fn undefined_variables_warn_when_the_environment_is_known() {
    let w = warnings("FROM scratch\nWORKDIR /$NOPE\nWORKDIR /${NOPE:-ok}\n");
    assert_eq!(
        w,
        vec!["2:9: Usage of undefined variable '$NOPE' (UndefinedVar)"]
    );
    // Unknown base image environment: no guess.
    assert!(warnings("FROM debian\nWORKDIR /$HOME\n").is_empty());
}

#[test]
fn run_mount_options_expand() {
    let df = ok("FROM a\nARG DIR=/cache\nRUN --mount=type=cache,target=$DIR,id=c-${DIR} make\n");
    let Command::Run(r) = &df.stages[0].instructions[1].command else {
        panic!()
    };
    assert_eq!(r.mounts[0].target.as_deref(), Some("/cache"));
    assert_eq!(r.mounts[0].id.as_deref(), Some("c-/cache"));
}

#[test]
fn undeclared_from_arguments_warn() {
    assert_eq!(
        warnings("FROM alpine${TAG}\n"),
        vec!["1:6: FROM argument 'TAG' is not declared (UndefinedArgInFrom)"]
    );
    assert!(warnings("ARG TAG=3\nFROM alpine:${TAG}\n").is_empty());
}

#[test]
fn pattern_operators_edge_cases() {
    let v: BTreeMap<String, String> = [("V", "aXbXc"), ("L", &"ab".repeat(3000)[..])]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (word, want) in [
        ("${V#*X}", "bXc"),
        ("${V##*X}", "c"),
        ("${V%X*}", "aXb"),
        ("${V%%X*}", "a"),
        ("${V#[a-b]}", "XbXc"),
        ("${V#[!a]}", "aXbXc"),
        ("${V/X/-}", "a-bXc"),
        ("${V//X/-}", "a-b-c"),
        ("${V//?/.}", "....."),
        ("${V/#/}", "aXbXc"),
        ("${V#nomatch}", "aXbXc"),
        ("${U#x}", ""),
    ] {
        assert_eq!(expand(word, &v, '\\').as_deref(), Ok(want), "{word}");
    }
    // Long values with star-heavy patterns finish (linear per position).
    let out = expand("${L//*a*b*a*b*z/x}", &v, '\\').unwrap();
    assert_eq!(out.len(), 6000);
    assert_eq!(expand("${L##*b}", &v, '\\').as_deref(), Ok(""));
    assert_eq!(expand("${L%%a*}", &v, '\\').as_deref(), Ok(""));
}

#[test]
fn proxy_args_expand_only_when_declared() {
    let mut opts = ParseOptions::default();
    opts.build_args
        .insert("http_proxy".into(), "http://p:3128".into());
    let df = ok_with(
        "FROM scratch\nWORKDIR /a${http_proxy:+x}\nARG http_proxy\nWORKDIR /b${http_proxy:+x}\n",
        &opts,
    );
    let got: Vec<&str> = df.stages[0]
        .instructions
        .iter()
        .map(|i| i.expanded.as_str())
        .collect();
    assert_eq!(got, vec!["WORKDIR /a", "ARG http_proxy", "WORKDIR /bx"]);
    assert_eq!(
        df.stages[0].instructions[0].args,
        vec![("http_proxy".to_string(), "http://p:3128".to_string())]
    );
}
