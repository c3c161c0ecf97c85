//! Stage one: source text -> logical lines (BuildKit's `parser.Parse`).
//!
//! Handles the parser directives at the top, comments, line continuations
//! with the active escape character (comment and blank lines inside a
//! continued instruction are skipped), and heredocs, whose bodies are read
//! from the lines that follow the instruction.

use super::diag::Sink;
use super::expand::{Lexer, NoVars};
use super::text::Text;
use super::words::{Json, extract_flags, parse_json, split_command};

/// The parser directives found at the top of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// `# syntax=` (the frontend image BuildKit would use; recorded only).
    pub syntax: Option<String>,
    /// `# escape=` (`\` by default, or `` ` ``).
    pub escape: char,
    /// `# check=` (lint configuration, e.g. `skip=JSONArgsRecommended;error=true`).
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            syntax: None,
            escape: '\\',
            check: None,
        }
    }
}

/// A here-document attached to RUN, COPY or ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word without quotes (`EOF` for `<<"EOF"`).
    pub name: String,
    /// The file descriptor before `<<` (`3<<EOF`), if any.
    pub fd: Option<u32>,
    /// False when any part of the delimiter was quoted: the body is then
    /// used literally, without variable expansion.
    pub expand: bool,
    /// `<<-`: leading tabs were stripped from every body line and from the
    /// terminator.
    pub chomp: bool,
    /// The body, every line ending with its newline; tabs already stripped
    /// when `chomp`.
    pub content: String,
}

/// One instruction as text: continuations joined, comments removed.
#[derive(Debug, Clone)]
pub(crate) struct RawInstruction {
    pub text: Text,
    pub start_line: usize,
    pub end_line: usize,
    pub heredocs: Vec<Heredoc>,
    /// Comment lines right above the instruction (without `#`).
    pub comments: Vec<String>,
}

fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

/// `# key = value` at the top of the file.
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line
        .strip_prefix('#')?
        .trim_start_matches(|c: char| c.is_ascii_whitespace());
    let key_len = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let key = &rest[..key_len];
    if !key.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let rest = rest[key_len..]
        .trim_start_matches(|c: char| c.is_ascii_whitespace())
        .strip_prefix('=')?;
    let value = rest.trim_matches(|c: char| c.is_ascii_whitespace());
    if value.is_empty() {
        return None;
    }
    Some((key.to_ascii_lowercase(), value.to_string()))
}

/// Removes a trailing line-continuation escape (and the blanks after it).
/// Returns true when the line continues. Mirrors BuildKit's regex
/// `([^E])E[ \t]*$|^E[ \t]*$`: an escape preceded by another escape does
/// not continue the line.
fn trim_continuation(t: &mut Text, escape: char) -> bool {
    let body = t.s.trim_end_matches([' ', '\t']);
    let Some(before) = body.strip_suffix(escape) else {
        return false;
    };
    if before.ends_with(escape) {
        return false;
    }
    *t = t.slice(0, before.len());
    true
}

/// Whether the instruction may have heredocs: RUN, COPY or ADD (also as an
/// ONBUILD trigger) in shell form.
fn can_contain_heredoc(line: &Text) -> bool {
    let (mut kw, mut rest) = split_command(line);
    if kw.s.eq_ignore_ascii_case("onbuild") {
        (kw, rest) = split_command(&rest);
    }
    if !["run", "copy", "add"]
        .iter()
        .any(|k| kw.s.eq_ignore_ascii_case(k))
    {
        return false;
    }
    let (_, args) = extract_flags(&rest);
    !matches!(parse_json(&args.s), Json::Strings(_))
}

/// Parses a `[n]<<[-]WORD` word (BuildKit's `ParseHeredoc`). `Ok(None)` when
/// the word is not a heredoc.
pub(crate) fn parse_heredoc_word(word: &str) -> Result<Option<Heredoc>, String> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let Some(rest) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let mut lx = Lexer::new('\\');
    lx.skip_unset = true;
    let words = lx.words(rest, &NoVars).map_err(|e| e.message)?;
    if words.len() != 1 {
        return Ok(None);
    }
    lx.raw_quotes = true;
    let raw = lx.words(rest, &NoVars).map_err(|e| e.message)?;
    if raw.len() != 1 {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        ));
    }
    let quotes = |s: &str| s.chars().filter(|&c| c == '\'' || c == '"').count();
    Ok(Some(Heredoc {
        name: words[0].clone(),
        fd: if digits == 0 {
            None
        } else {
            Some(word[..digits].parse().unwrap_or(0))
        },
        expand: quotes(&words[0]) == quotes(&raw[0]),
        chomp,
        content: String::new(),
    }))
}

/// The heredoc words of a line, with the raw word for locating it.
fn heredocs_from_line(line: &str) -> Result<Vec<(String, Heredoc)>, String> {
    let mut lx = Lexer::new('\\');
    lx.raw_quotes = true;
    lx.raw_escapes = true;
    lx.skip_unset = true;
    // A line the shell lexer cannot split has no heredocs (as in BuildKit).
    let words = lx.words(line, &NoVars).unwrap_or_default();
    let mut out = Vec::new();
    for w in words {
        if let Some(h) = parse_heredoc_word(&w)? {
            out.push((w, h));
        }
    }
    Ok(out)
}

/// Splits `src` into the parser directives and raw instructions, reporting
/// problems to `sink`.
pub(crate) fn lex(sink: &mut Sink, src: &str) -> (Directives, Vec<RawInstruction>) {
    let mut d = Directives::default();
    let mut seen: Vec<String> = Vec::new();
    let mut directives_done = false;
    let bom = if src.starts_with('\u{feff}') { 3 } else { 0 };
    // (source offset, line including its newline)
    let mut lines: Vec<(usize, &str)> = Vec::new();
    let mut off = bom;
    for l in src[bom..].split_inclusive('\n') {
        lines.push((off, l));
        off += l.len();
    }
    let mut out = Vec::new();
    let mut comments = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let (off, raw) = lines[i];
        i += 1;
        let line = trim_newline(raw);
        let lead = line.len() - line.trim_start().len();
        let body = &line[lead..];
        if !directives_done {
            match directive(body) {
                Some((k, v)) if ["syntax", "escape", "check"].contains(&k.as_str()) => {
                    if seen.contains(&k) {
                        sink.error(
                            off + lead,
                            format!("only one {k} parser directive can be used"),
                        );
                    } else {
                        seen.push(k.clone());
                        match k.as_str() {
                            "syntax" => d.syntax = Some(v),
                            "check" => d.check = Some(v),
                            _ if v == "`" || v == "\\" => {
                                d.escape = if v == "`" { '`' } else { '\\' }
                            }
                            _ => sink.error(
                                off + lead,
                                format!("invalid escape token '{v}' does not match ` or \\"),
                            ),
                        }
                    }
                    continue;
                }
                _ => directives_done = true,
            }
        }
        if let Some(c) = body.strip_prefix('#') {
            comments.push(c.trim().to_string());
            continue;
        }
        let mut text = Text::new(off + lead);
        text.push(body, off + lead);
        let mut cont = trim_continuation(&mut text, d.escape);
        if !cont && text.s.is_empty() {
            continue;
        }
        let start_line = i;
        let mut end_line = i;
        let mut empty_continuation: Option<usize> = None;
        while cont && i < lines.len() {
            let (off, raw) = lines[i];
            i += 1;
            end_line = i;
            let line = trim_newline(raw);
            let trimmed = line.trim_start();
            if trimmed.starts_with('#') {
                continue;
            }
            if trimmed.is_empty() {
                empty_continuation.get_or_insert(off);
                continue;
            }
            let mut piece = Text::new(off);
            piece.push(line, off);
            cont = trim_continuation(&mut piece, d.escape);
            text.extend(&piece);
        }
        if let Some(at) = empty_continuation {
            sink.warn(
                at,
                "empty continuation line (NoEmptyContinuation): Docker will reject this in a future release",
            );
        }
        let mut heredocs = Vec::new();
        if can_contain_heredoc(&text) {
            let docs = match heredocs_from_line(&text.s) {
                Ok(docs) => docs,
                Err(e) => {
                    sink.error(text.src(0), e);
                    comments.clear();
                    continue;
                }
            };
            for (word, mut doc) in docs {
                let mut terminated = false;
                while i < lines.len() {
                    let (_, raw) = lines[i];
                    i += 1;
                    end_line = i;
                    let mut candidate = trim_newline(raw);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    if doc.chomp {
                        doc.content.push_str(raw.trim_start_matches('\t'));
                    } else {
                        doc.content.push_str(raw);
                    }
                }
                if !terminated {
                    let at = text.s.find(&word).unwrap_or(0);
                    sink.error(text.src(at), format!("unterminated heredoc {}", doc.name));
                }
                heredocs.push(doc);
            }
        }
        out.push(RawInstruction {
            text,
            start_line,
            end_line,
            heredocs,
            comments: std::mem::take(&mut comments),
        });
    }
    (d, out)
}
