//! Stage one: directives, comments, continuations, heredocs, exec vs shell form.

use builder::dockerfile::{Command, CommandLine};

use super::common::{errors, ok, table, warnings};

#[test]
fn directives_are_read_only_at_the_top() {
    let df = ok("# syntax=docker/dockerfile:1.7\n# escape=`\n# check=skip=all\nFROM a\n");
    assert_eq!(
        df.directives.syntax.as_deref(),
        Some("docker/dockerfile:1.7")
    );
    assert_eq!(df.directives.escape, '`');
    assert_eq!(df.directives.check.as_deref(), Some("skip=all"));

    // After an instruction, a comment, or a blank line they are comments.
    for src in [
        "FROM a\n# escape=`\nRUN a \\\n b\n",
        "# hello\n# escape=`\nFROM a\nRUN a \\\n b\n",
        "\n# escape=`\nFROM a\nRUN a \\\n b\n",
    ] {
        let df = ok(src);
        assert_eq!(df.directives.escape, '\\', "{src}");
        assert_eq!(df.stages[0].instructions[0].expanded, "RUN a  b", "{src}");
    }
    // Case and spacing of the key do not matter.
    assert_eq!(ok("#  ESCAPE = `\nFROM a\n").directives.escape, '`');
    // Unknown directives end the directive block.
    assert_eq!(
        ok("# foo=bar\n# escape=`\nFROM a\n").directives.escape,
        '\\'
    );
}

#[test]
fn comments_and_continuations() {
    table(&[
        // Continuation joins lines without adding a space.
        (
            "FROM a\nRUN echo a \\\n  b\n",
            &["FROM a", "RUN echo a   b"],
        ),
        ("FROM a\nRUN echo a\\\nb\n", &["FROM a", "RUN echo ab"]),
        // Comment lines and blank lines inside a continuation are dropped.
        (
            "FROM a\nRUN a \\\n# c1\n    # c2\n\n  && b\n",
            &["FROM a", "RUN a   && b"],
        ),
        // Trailing blanks after the escape still continue.
        ("FROM a\nRUN a \\  \t\n b\n", &["FROM a", "RUN a  b"]),
        // An escaped escape at the end does not continue.
        (
            "FROM a\nRUN echo a\\\\\nCMD b\n",
            &["FROM a", "RUN echo a\\\\", "CMD b"],
        ),
        // `#` after the start of a line is not a comment.
        (
            "FROM a\nRUN echo # not a comment\n",
            &["FROM a", "RUN echo # not a comment"],
        ),
        // Indented instructions and comments.
        ("  FROM a\n\t# c\n   RUN x\n", &["FROM a", "RUN x"]),
        // A continuation at end of file.
        ("FROM a\nRUN x \\\n", &["FROM a", "RUN x"]),
        // CRLF line endings.
        ("FROM a\r\nRUN x \\\r\n y\r\n", &["FROM a", "RUN x  y"]),
        // Backtick escape: backslashes are literal, backtick continues.
        (
            "# escape=`\nFROM a\nRUN dir C:\\ `\n  /s\n",
            &["FROM a", "RUN dir C:\\   /s"],
        ),
        // BOM at the start of the file.
        ("\u{feff}FROM a\n", &["FROM a"]),
        // Tabs as separators; legacy ENV keeps the inner whitespace of the value.
        (
            "FROM\ta\nENV\tX\t\\\n\tone two \\\n\tthree\nLABEL\tm\tJane Doe <j@x> (@j)\n",
            &[
                "FROM a",
                "ENV X=\"one two \tthree\"",
                "LABEL m=\"Jane Doe <j@x> (@j)\"",
            ],
        ),
    ]);
}

#[test]
fn line_ranges_and_original_text() {
    let df = ok("FROM a\n\n# c\nRUN one \\\n  two\nCMD x\n");
    let run = &df.stages[0].instructions[0];
    assert_eq!((run.lines.start, run.lines.end), (4, 5));
    assert_eq!(run.original, "RUN one   two");
    assert_eq!(run.comments, vec!["c".to_string()]);
    let cmd = &df.stages[0].instructions[1];
    assert_eq!((cmd.lines.start, cmd.lines.end), (6, 6));
    assert_eq!((df.stages[0].lines.start, df.stages[0].lines.end), (1, 1));
}

#[test]
fn empty_continuation_line_warns_at_the_blank_line() {
    let w = warnings("FROM a\nRUN a \\\n\n b\n");
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].starts_with("3:1: empty continuation line"), "{w:?}");
}

fn run_of(src: &str) -> builder::dockerfile::Run {
    match &ok(src).stages[0].instructions[0].command {
        Command::Run(r) => r.clone(),
        c => panic!("not RUN: {c:?}"),
    }
}

#[test]
fn heredocs() {
    let r = run_of("FROM a\nRUN <<EOF\necho $HOME\necho two\nEOF\nCMD x\n");
    assert_eq!(r.command, CommandLine::Shell("<<EOF".into()));
    assert_eq!(r.heredocs.len(), 1);
    let h = &r.heredocs[0];
    assert_eq!(
        (h.name.as_str(), h.expand, h.chomp, h.fd),
        ("EOF", true, false, None)
    );
    assert_eq!(h.content, "echo $HOME\necho two\n");

    // Quoted delimiters disable expansion; any quoting counts.
    for (word, expand) in [
        ("\"EOF\"", false),
        ("'EOF'", false),
        ("E\"O\"F", false),
        ("EOF", true),
    ] {
        let r = run_of(&format!("FROM a\nRUN <<{word}\nx\nEOF\n"));
        assert_eq!(r.heredocs[0].name, "EOF");
        assert_eq!(r.heredocs[0].expand, expand, "{word}");
    }

    // Several heredocs on one line are read in order.
    let r = run_of("FROM a\nRUN <<A cat > /a && <<B cat > /b\n1\nA\n2\nB\n");
    let names: Vec<_> = r
        .heredocs
        .iter()
        .map(|h| (h.name.as_str(), h.content.as_str()))
        .collect();
    assert_eq!(names, vec![("A", "1\n"), ("B", "2\n")]);

    // <<- strips leading tabs of the body and the terminator.
    let r = run_of("FROM a\nRUN <<-EOF\n\techo a\n\t\techo b\n\tEOF\n");
    assert_eq!(r.heredocs[0].content, "echo a\necho b\n");
    assert!(r.heredocs[0].chomp);

    // A file descriptor before <<.
    let r = run_of("FROM a\nRUN 3<<EOF cat /dev/fd/3\nx\nEOF\n");
    assert_eq!(r.heredocs[0].fd, Some(3));

    // Line ranges include the body.
    let df = ok("FROM a\nRUN <<EOF\na\nb\nEOF\nCMD x\n");
    let l = df.stages[0].instructions[0].lines;
    assert_eq!((l.start, l.end), (2, 5));
    assert_eq!(df.stages[0].instructions[1].lines.start, 6);

    // Exec form has no heredocs: `<<EOF` is just an argument.
    let r = run_of("FROM a\nRUN [\"cat\", \"<<EOF\"]\nCMD x\n");
    assert!(r.heredocs.is_empty());

    // `<<` inside a word is not a heredoc.
    let r = run_of("FROM a\nRUN echo a<<b\n");
    assert!(r.heredocs.is_empty());
}

#[test]
fn copy_heredoc_sources_expand_unless_quoted() {
    let df = ok("FROM a\nARG N=world\nCOPY <<A <<\"B\" /dst/\nhello $N \"q\"\nA\nraw $N\nB\n");
    let Command::Copy(t) = &df.stages[0].instructions[1].command else {
        panic!()
    };
    assert_eq!(t.heredocs[0].content, "hello world \"q\"\n");
    assert_eq!(t.heredocs[1].content, "raw $N\n");
    assert_eq!(t.dest, "/dst/");
    assert!(t.sources.is_empty());
}

#[test]
fn exec_form_and_shell_fallback() {
    table(&[
        (
            "FROM a\nCMD [\"a\", \"b c\"]\n",
            &["FROM a", "CMD [\"a\",\"b c\"]"],
        ),
        ("FROM a\nCMD   [ \"a\" ]  \n", &["FROM a", "CMD [\"a\"]"]),
        // Not valid JSON (single quotes): shell form, as Docker does.
        ("FROM a\nCMD ['a', 'b']\n", &["FROM a", "CMD ['a', 'b']"]),
        // Trailing text after the array: shell form.
        (
            "FROM a\nRUN [\"a\"] && b\n",
            &["FROM a", "RUN [\"a\"] && b"],
        ),
        ("FROM a\nENTRYPOINT []\n", &["FROM a", "ENTRYPOINT []"]),
        (
            "FROM a\nRUN [\"echo\", \"\\u00e9\\n\"]\n",
            &["FROM a", "RUN [\"echo\",\"é\\n\"]"],
        ),
    ]);
    let df = ok("FROM a\nCMD ['a']\n");
    assert!(
        df.warnings
            .iter()
            .any(|w| w.message.contains("not valid JSON"))
    );
}

#[test]
fn structural_errors() {
    assert_eq!(errors(""), vec!["1:1: file with no instructions"]);
    assert_eq!(
        errors("# only a comment\n\n"),
        vec!["2:1: file with no instructions"]
    );
    assert_eq!(
        errors("# escape=x\nFROM a\n"),
        vec!["1:1: invalid escape token 'x' does not match ` or \\"]
    );
    assert_eq!(
        errors("# escape=`\n# escape=\\\nFROM a\n"),
        vec!["2:1: only one escape parser directive can be used"]
    );
    assert_eq!(
        errors("FROM a\nRUN <<EOF\nno end\n"),
        vec!["2:5: unterminated heredoc EOF"]
    );
    assert_eq!(
        errors("FROM a\nCOPY <<EOF <<EOF2\nx\nEOF\n"),
        vec![
            "2:12: unterminated heredoc EOF2",
            "2:12: COPY cannot accept a heredoc as a destination"
        ]
    );
}
