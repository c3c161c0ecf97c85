//! Error cases with their exact line and column.

use super::common::errors;

#[test]
fn errors_point_at_line_and_column() {
    let cases: &[(&str, &[&str])] = &[
        ("FROM a\nBOGUS bar\n", &["2:1: unknown instruction: BOGUS"]),
        (
            "FROM a\n  RUNN x\n",
            &["2:3: unknown instruction: RUNN (did you mean RUN?)"],
        ),
        (
            "FROM a\ncopy a\n",
            &[
                "2:6: COPY requires at least two arguments, but only one was provided. Destination could not be determined",
            ],
        ),
        (
            "FROM a\nADD\n",
            &[
                "2:1: ADD requires at least two arguments, but only one was provided. Destination could not be determined",
            ],
        ),
        (
            "RUN x\nFROM a\n",
            &[
                "1:1: no build stage in current context: RUN before the first FROM (only ARG may come before FROM)",
            ],
        ),
        (
            "ARG A\n",
            &["1:1: no build stage in current context: the Dockerfile has no FROM"],
        ),
        (
            "FROM\n",
            &["1:1: FROM requires either one or three arguments"],
        ),
        (
            "FROM a b\n",
            &["1:8: FROM requires either one or three arguments"],
        ),
        (
            "FROM a AS 1st\n",
            &[
                "1:11: invalid name for build stage: \"1st\", name can't start with a number or contain symbols",
            ],
        ),
        (
            "FROM a AS x\nFROM b AS x\n",
            &["2:11: duplicate stage name \"x\""],
        ),
        (
            "FROM a\nCOPY --from=later x y\nFROM b AS later\n",
            &["2:6: stage \"later\" is used before it is defined"],
        ),
        (
            "FROM later\nFROM b AS later\n",
            &["1:6: stage \"later\" is used before it is defined"],
        ),
        (
            "FROM a AS me\nCOPY --from=me x y\n",
            &["2:6: circular dependency detected on stage: me"],
        ),
        (
            "FROM a\nCOPY --from=0 x y\n",
            &["2:6: circular dependency detected on stage: 0"],
        ),
        (
            "FROM a\nCOPY --from=5 x y\n",
            &["2:6: invalid stage index 5: only earlier stages (0..0) can be used"],
        ),
        (
            "FROM a\nCOPY --from=Not_An!Image x y\n",
            &[
                "2:6: \"Not_An!Image\" names no stage and is not a valid image reference: invalid reference format",
            ],
        ),
        (
            "FROM a\nRUN --mount=from=nope!,target=/x true\n",
            &[
                "2:13: \"nope!\" names no stage and is not a valid image reference: invalid reference format",
            ],
        ),
        (
            "FROM Ubuntu\n",
            &["1:6: invalid reference format: repository name must be lowercase: \"Ubuntu\""],
        ),
        (
            "FROM a\nCMD [\"a\", 1]\n",
            &["2:5: when using JSON array syntax, arrays must be comprised of strings only"],
        ),
        (
            "FROM a\nRUN [\"a\", null]\n",
            &["2:5: when using JSON array syntax, arrays must be comprised of strings only"],
        ),
        (
            "FROM a\nCOPY --chown=1 --foo=2 a b\n",
            &[
                "2:16: unknown flag: foo (COPY takes --from, --chown, --chmod, --link, --parents, --exclude)",
            ],
        ),
        (
            "FROM a\nADD --from=x a b\n",
            &[
                "2:5: unknown flag: from (ADD takes --chown, --chmod, --link, --exclude, --checksum, --keep-git-dir, --unpack)",
            ],
        ),
        (
            "FROM a\nENV --x=1 A=b\n",
            &["2:5: unknown flag: x (ENV takes no flags)"],
        ),
        (
            "FROM a\nRUN --network=bridge x\n",
            &["2:5: unsupported network mode \"bridge\""],
        ),
        (
            "FROM a\nRUN --security=x y\n",
            &["2:5: unsupported security mode \"x\""],
        ),
        (
            "FROM a\nCOPY --link=maybe a b\n",
            &["2:6: expecting boolean value for flag link, not: maybe"],
        ),
        (
            "FROM a\nCOPY --from a b\n",
            &["2:6: missing a value on flag: from"],
        ),
        (
            "FROM a\nCOPY --from=x --from=y a b\n",
            &["2:15: duplicate flag specified: from"],
        ),
        (
            "FROM a\nRUN --mount=type=nfs,target=/x y\n",
            &["2:5: unsupported mount type \"nfs\""],
        ),
        (
            "FROM a\nRUN --mount=type=bind y\n",
            &["2:5: mount type 'bind' requires a target"],
        ),
        (
            "FROM a\nRUN --mount=type=bind,target=/x,sharing=locked y\n",
            &["2:5: invalid cache sharing set for bind mount"],
        ),
        (
            "FROM a\nRUN --mount=type=cache,target=/x,foo=1 y\n",
            &["2:5: unexpected key 'foo' in 'foo=1'"],
        ),
        (
            "FROM a\nRUN\n",
            &["2:1: RUN requires at least one argument"],
        ),
        (
            "FROM a\nENV\n",
            &["2:1: ENV requires at least one argument"],
        ),
        ("FROM a\nENV A\n", &["2:5: ENV must have two arguments"]),
        (
            "FROM a\nENV A=1 B\n",
            &["2:9: Syntax error - can't find = in \"B\". Must be of the form: name=value"],
        ),
        ("FROM a\nLABEL =x\n", &["2:7: LABEL names can not be blank"]),
        ("FROM a\nARG =x\n", &["2:5: ARG names can not be blank"]),
        (
            "FROM a\nEXPOSE\n",
            &["2:1: EXPOSE requires at least one argument"],
        ),
        ("FROM a\nEXPOSE 80/xtp\n", &["2:8: invalid proto: xtp"]),
        (
            "FROM a\nEXPOSE http\n",
            &["2:8: invalid containerPort: http"],
        ),
        (
            "FROM a\nUSER\n",
            &["2:1: USER requires exactly one argument"],
        ),
        (
            "FROM a\nWORKDIR\n",
            &["2:1: WORKDIR requires exactly one argument"],
        ),
        (
            "FROM a\nSTOPSIGNAL SIGFOO\n",
            &["2:12: Invalid signal: SIGFOO"],
        ),
        (
            "FROM a\nVOLUME [\"\"]\n",
            &["2:8: VOLUME specified can not be an empty string"],
        ),
        (
            "FROM a\nSHELL bash -c\n",
            &["2:7: SHELL requires the arguments to be in JSON form"],
        ),
        (
            "FROM a\nSHELL []\n",
            &["2:1: SHELL requires at least one argument"],
        ),
        (
            "FROM a\nONBUILD ONBUILD RUN x\n",
            &["2:9: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"],
        ),
        (
            "FROM a\nONBUILD FROM b\n",
            &["2:9: FROM isn't allowed as an ONBUILD trigger"],
        ),
        (
            "FROM a\nONBUILD BOGUS x\n",
            &["2:9: unknown instruction: BOGUS"],
        ),
        (
            "FROM a\nHEALTHCHECK NONE x\n",
            &["2:18: HEALTHCHECK NONE takes no arguments"],
        ),
        (
            "FROM a\nHEALTHCHECK CMD\n",
            &["2:13: Missing command after HEALTHCHECK CMD"],
        ),
        (
            "FROM a\nHEALTHCHECK RUN x\n",
            &["2:13: Unknown type \"RUN\" in HEALTHCHECK (try CMD)"],
        ),
        (
            "FROM a\nHEALTHCHECK --interval=0s CMD x\n",
            &["2:13: Interval \"interval\" cannot be less than 1ms"],
        ),
        (
            "FROM a\nHEALTHCHECK --timeout=5 CMD x\n",
            &["2:13: time: missing unit in duration \"5\""],
        ),
        (
            "FROM a\nHEALTHCHECK --retries=0 CMD x\n",
            &["2:13: --retries must be at least 1 (not 0)"],
        ),
        (
            "FROM a\nCOPY a <<EOF\nx\nEOF\n",
            &["2:8: COPY cannot accept a heredoc as a destination"],
        ),
        (
            "FROM a\nWORKDIR ${X\n",
            &["2:9: failed to process \"${X\": syntax error: missing '}'"],
        ),
        (
            "FROM ${X:?needed}\n",
            &["1:6: failed to process \"${X:?needed}\": X: needed"],
        ),
        (
            "ARG X=\nFROM $X\n",
            &["2:6: base name ($X) should not be blank"],
        ),
    ];
    for (src, want) in cases {
        assert_eq!(errors(src), *want, "for Dockerfile:\n{src}");
    }
}

#[test]
fn errors_inside_continuations_point_at_the_physical_line() {
    assert_eq!(
        errors("FROM a\nCOPY \\\n  --chown=1 \\\n    --nope=2 a b\n"),
        vec![
            "4:5: unknown flag: nope (COPY takes --from, --chown, --chmod, --link, --parents, --exclude)"
        ]
    );
    assert_eq!(
        errors("FROM a\nENV A=1 \\\n# comment\n\tB\n"),
        vec!["4:2: Syntax error - can't find = in \"B\". Must be of the form: name=value"]
    );
}

#[test]
fn every_error_is_reported_not_only_the_first() {
    let got = errors("FROM a\nFOO\nCOPY x\nBAR\n");
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got[0].starts_with("2:1:") && got[1].starts_with("3:6:") && got[2].starts_with("4:1:"));
}

#[test]
fn columns_count_characters_not_bytes() {
    assert_eq!(
        errors("FROM a\nLABEL é=1 ü\n"),
        vec!["2:11: Syntax error - can't find = in \"ü\". Must be of the form: name=value"]
    );
}

#[test]
fn build_check_warnings() {
    use super::common::warnings;
    let cases: &[(&str, &[&str])] = &[
        (
            "FROM a\nCopy x y\n",
            &[
                "2:1: Command 'Copy' should be consistently cased: use COPY (ConsistentInstructionCasing)",
            ],
        ),
        (
            "FROM a AS Build\n",
            &["1:11: Stage name 'Build' should be lowercase (StageNameCasing)"],
        ),
        (
            "FROM a as b\n",
            &["1:8: 'as' and 'FROM' keywords' casing do not match (FromAsCasing)"],
        ),
        (
            "FROM a\nARG GITHUB_TOKEN\n",
            &[
                "2:5: Do not use ARG or ENV instructions for sensitive data (ARG \"GITHUB_TOKEN\"): use RUN --mount=type=secret (SecretsUsedInArgOrEnv)",
            ],
        ),
        (
            "FROM a\nENV DB_PASSWORD=x\n",
            &[
                "2:5: Do not use ARG or ENV instructions for sensitive data (ENV \"DB_PASSWORD\"): use RUN --mount=type=secret (SecretsUsedInArgOrEnv)",
            ],
        ),
        ("FROM a\nENV MONKEY=1\n", &[]),
        (
            "FROM --platform=$TARGETPLATFORM a\n",
            &[
                "1:6: Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior (RedundantTargetPlatform)",
            ],
        ),
        (
            "FROM --platform=linux/amd64 a\n",
            &[
                "1:6: FROM --platform flag should not use a constant value \"linux/amd64\" (FromPlatformFlagConstDisallowed)",
            ],
        ),
        (
            "FROM a\nWORKDIR src\n",
            &[
                "2:9: Relative workdir \"src\" can have unexpected results if the base image changes (WorkdirRelativePath)",
            ],
        ),
        ("FROM a AS b\nWORKDIR /app\nFROM b\nWORKDIR src\n", &[]),
        (
            "FROM a\nCMD x\nCMD y\n",
            &[
                "2:5: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (JSONArgsRecommended)",
                "3:1: Multiple CMD instructions should not be used in the same stage because only the last one will be used (MultipleInstructionsDisallowed)",
                "3:5: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (JSONArgsRecommended)",
            ],
        ),
        (
            "FROM a AS scratch\n",
            &["1:11: \"scratch\" is a reserved stage name (ReservedStageName)"],
        ),
    ];
    for (src, want) in cases {
        assert_eq!(warnings(src), *want, "for Dockerfile:\n{src}");
    }
}

#[test]
fn check_directive_skips_rules_and_turns_warnings_into_errors() {
    use super::common::warnings;
    let src = "FROM a\nCMD x\nENV A b\n";
    assert_eq!(warnings(src).len(), 2);
    let skipped = format!("# check=skip=JSONArgsRecommended\n{src}");
    let w = warnings(&skipped);
    assert_eq!(w.len(), 1);
    assert!(w[0].ends_with("(LegacyKeyValueFormat)"), "{w:?}");
    assert!(warnings(&format!("# check=skip=all\n{src}")).is_empty());
    let strict = format!("# check=skip=LegacyKeyValueFormat;error=true\n{src}");
    assert_eq!(
        errors(&strict),
        vec![
            "3:5: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (JSONArgsRecommended)"
        ]
    );
}
