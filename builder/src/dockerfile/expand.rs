//! Variable expansion with Docker's (BuildKit's `shell.Lex`) rules.
//!
//! A word is scanned once, left to right: single quotes keep everything
//! literal, double quotes keep everything except `$` and the escapes `\"`,
//! `\$` and `\\` (with the active escape character), an unquoted escape
//! character makes the next character literal, and `$name`, `${name}` and
//! `${name<op>word}` are replaced by values from the environment. Unlike a
//! real shell there is no command substitution, no arithmetic and no globbing;
//! a `$` not followed by a name is kept as is.
//!
//! Supported operators (`word` is itself expanded):
//! `${v:-w}` / `${v-w}` (default when unset or empty / unset), `${v:+w}` /
//! `${v+w}` (alternative), `${v:?w}` / `${v?w}` (error), `${v#p}` `${v##p}`
//! `${v%p}` `${v%%p}` (strip shortest/longest prefix/suffix matching a shell
//! pattern) and `${v/p/r}` `${v//p/r}` (replace first/all).

use std::collections::{BTreeMap, HashMap};

use super::shellpattern::{Pattern, trim_prefix, trim_suffix};

/// Where variable values come from during expansion.
pub trait Vars {
    /// The value of `name`, `None` when it is not set (set-but-empty is `Some("")`).
    fn var(&self, name: &str) -> Option<&str>;
}

impl Vars for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl Vars for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl Vars for [(String, String)] {
    /// Later entries win, like repeated `ENV` instructions.
    fn var(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An environment with nothing set.
pub struct NoVars;

impl Vars for NoVars {
    fn var(&self, _name: &str) -> Option<&str> {
        None
    }
}

/// Why a word could not be expanded. The message matches BuildKit's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExpandError {
    pub message: String,
}

fn err<T>(message: impl Into<String>) -> Result<T, ExpandError> {
    Err(ExpandError {
        message: message.into(),
    })
}

/// Options of the lexer. `Default` is what instructions use with `\` as the
/// escape character.
#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    /// The active escape character (`\` or `` ` ``, from `# escape=`).
    pub escape: char,
    /// Keep quote characters in the output (used to detect quoted heredoc words).
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Leave references to unset variables as written instead of replacing them by "".
    pub skip_unset: bool,
    /// Treat quotes as ordinary characters (heredoc bodies).
    pub skip_quotes: bool,
}

impl Default for Lexer {
    fn default() -> Self {
        Lexer::new('\\')
    }
}

impl Lexer {
    pub fn new(escape: char) -> Self {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset: false,
            skip_quotes: false,
        }
    }

    /// Expands `word` into one string (quotes removed, spaces kept).
    pub fn word(&self, word: &str, vars: &dyn Vars) -> Result<String, ExpandError> {
        let mut s = Scan::new(self, word, vars);
        s.stop_on(None, self.raw_escapes).map(|(w, _)| w)
    }

    /// Like [`Lexer::word`], also returning the names referenced as plain
    /// `$name` / `${name}` that were not set (BuildKit's UndefinedVar check;
    /// references with a default or alternative are intentional).
    pub fn word_tracked(
        &self,
        word: &str,
        vars: &dyn Vars,
    ) -> Result<(String, Vec<String>), ExpandError> {
        let mut s = Scan::new(self, word, vars);
        let w = s.stop_on(None, self.raw_escapes)?.0;
        Ok((w, s.missing))
    }

    /// Expands `word` and splits it into words on unquoted whitespace,
    /// including whitespace that comes from unquoted variable values.
    pub fn words(&self, word: &str, vars: &dyn Vars) -> Result<Vec<String>, ExpandError> {
        let mut s = Scan::new(self, word, vars);
        s.stop_on(None, self.raw_escapes).map(|(_, w)| w)
    }
}

/// Expands one word with the default lexer and the given escape character.
pub fn expand(word: &str, vars: &dyn Vars, escape: char) -> Result<String, ExpandError> {
    Lexer::new(escape).word(word, vars)
}

#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }
    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }
    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

struct Scan<'a> {
    lx: Lexer,
    chars: Vec<char>,
    pos: usize,
    vars: &'a dyn Vars,
    /// Nesting depth of `${...}`; bounded so hostile input cannot overflow the stack.
    depth: usize,
    missing: Vec<String>,
}

const MAX_DEPTH: usize = 64;

impl<'a> Scan<'a> {
    fn new(lx: &Lexer, word: &str, vars: &'a dyn Vars) -> Self {
        Scan {
            lx: *lx,
            chars: word.chars().collect(),
            pos: 0,
            vars,
            depth: 0,
            missing: Vec::new(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Scans until `stop` (consumed) or the end; returns the joined word and
    /// the whitespace-split words.
    fn stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), ExpandError> {
        let saved = self.lx.raw_escapes;
        self.lx.raw_escapes = raw_escapes;
        let r = self.stop_on_inner(stop);
        self.lx.raw_escapes = saved;
        r
    }

    fn stop_on_inner(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), ExpandError> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            match ch {
                '$' => {
                    let v = self.dollar()?;
                    result.push_str(&v);
                    words.add_string(&v);
                }
                '\'' if !self.lx.skip_quotes => {
                    let v = self.single_quote()?;
                    result.push_str(&v);
                    words.add_raw_string(&v);
                }
                '"' if !self.lx.skip_quotes => {
                    let v = self.double_quote()?;
                    result.push_str(&v);
                    words.add_raw_string(&v);
                }
                _ => {
                    self.pos += 1;
                    if ch == self.lx.escape {
                        if self.lx.raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        // An escape at the very end is dropped.
                        let Some(escaped) = self.next() else { break };
                        words.add_raw_char(escaped);
                        result.push(escaped);
                    } else {
                        words.add_char(ch);
                        result.push(ch);
                    }
                }
            }
        }
        if let Some(stop) = stop {
            return err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish()))
    }

    fn single_quote(&mut self) -> Result<String, ExpandError> {
        let mut out = String::new();
        self.pos += 1;
        if self.lx.raw_quotes {
            out.push('\'');
        }
        loop {
            match self.next() {
                None => {
                    return err(
                        "unexpected end of statement while looking for matching single-quote",
                    );
                }
                Some('\'') => {
                    if self.lx.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, ExpandError> {
        let mut out = String::new();
        self.pos += 1;
        if self.lx.raw_quotes {
            out.push('"');
        }
        loop {
            let Some(ch) = self.peek() else {
                return err("unexpected end of statement while looking for matching double-quote");
            };
            if ch == '"' {
                self.pos += 1;
                if self.lx.raw_quotes {
                    out.push('"');
                }
                return Ok(out);
            }
            if ch == '$' {
                out.push_str(&self.dollar()?);
                continue;
            }
            self.pos += 1;
            if ch == self.lx.escape {
                match self.peek() {
                    // An escape at the end of the word is ignored.
                    None => continue,
                    // Only these can be escaped inside double quotes; any
                    // other escape character is kept as is.
                    Some(n) if n == '"' || n == '$' || n == self.lx.escape => {
                        if self.lx.raw_escapes {
                            out.push(ch);
                        }
                        self.pos += 1;
                        out.push(n);
                        continue;
                    }
                    Some(_) => {}
                }
            }
            out.push(ch);
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return ch.to_string();
            }
            if !(ch.is_alphanumeric() || ch == '_') {
                break;
            }
            name.push(ch);
            self.pos += 1;
        }
        name
    }

    fn dollar(&mut self) -> Result<String, ExpandError> {
        self.pos += 1; // '$'
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.vars.var(&name) {
                Some(v) => v.to_string(),
                None if self.lx.skip_unset => format!("${name}"),
                None => {
                    self.missing.push(name);
                    String::new()
                }
            });
        }
        self.pos += 1; // '{'
        match self.peek() {
            None => return err("syntax error: missing '}'"),
            Some('{' | '}' | ':') => return err("syntax error: bad substitution"),
            _ => {}
        }
        if self.depth >= MAX_DEPTH {
            return err("syntax error: substitutions nested too deeply");
        }
        self.depth += 1;
        let r = self.braced();
        self.depth -= 1;
        r
    }

    fn braced(&mut self) -> Result<String, ExpandError> {
        let name = self.name();
        let Some(mut op) = self.next() else {
            return err("syntax error: missing '}'");
        };
        let mut ops = op.to_string();
        let value = self.vars.var(&name).map(str::to_string);
        let unset_literal = |ops: &str, word: &str| format!("${{{name}{ops}{word}}}");
        let mut colon = false;
        match op {
            '}' => {
                return Ok(match value {
                    Some(v) => v,
                    None if self.lx.skip_unset => format!("${{{name}}}"),
                    None => {
                        self.missing.push(name);
                        String::new()
                    }
                });
            }
            ':' => {
                colon = true;
                let Some(o) = self.next() else {
                    return err("syntax error: missing '}'");
                };
                op = o;
                ops.push(o);
            }
            '/' => return self.replace(&name, value),
            _ => {}
        }
        if !matches!(op, '-' | '+' | '?' | '#' | '%') || (colon && matches!(op, '#' | '%')) {
            return err(format!("unsupported modifier ({ops}) in substitution"));
        }
        let raw = matches!(op, '#' | '%');
        let word = self.word_until_brace(raw)?;
        if value.is_none() && self.lx.skip_unset {
            return Ok(unset_literal(&ops, &word));
        }
        let empty = value.as_deref().is_none_or(|v| colon && v.is_empty());
        match op {
            '-' => Ok(if empty {
                word
            } else {
                value.unwrap_or_default()
            }),
            '+' => Ok(if empty { String::new() } else { word }),
            '?' => match value {
                None => err(format!(
                    "{name}: {}",
                    if word.is_empty() {
                        "is not allowed to be unset"
                    } else {
                        &word
                    }
                )),
                Some(v) if colon && v.is_empty() => err(format!(
                    "{name}: {}",
                    if word.is_empty() {
                        "is not allowed to be empty"
                    } else {
                        &word
                    }
                )),
                Some(v) => Ok(v),
            },
            _ => {
                let value = value.unwrap_or_default();
                let (greedy, pat) = match word.strip_prefix(op) {
                    Some(rest) => (true, rest),
                    None => (false, word.as_str()),
                };
                let pat = Pattern::new(pat, self.lx.escape);
                Ok(if op == '#' {
                    trim_prefix(&value, &pat, greedy)
                } else {
                    trim_suffix(&value, &pat, greedy)
                })
            }
        }
    }

    fn word_until_brace(&mut self, raw_escapes: bool) -> Result<String, ExpandError> {
        match self.stop_on(Some('}'), raw_escapes) {
            Ok((w, _)) => Ok(w),
            Err(_) if self.peek().is_none() => err("syntax error: missing '}'"),
            Err(e) => Err(e),
        }
    }

    /// `${v/pattern/replacement}` and `${v//pattern/replacement}`.
    fn replace(&mut self, name: &str, value: Option<String>) -> Result<String, ExpandError> {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let (pat, _) = self.stop_on(Some('/'), true).map_err(|_| ExpandError {
            message: "syntax error: missing '/' in ${}".into(),
        })?;
        let repl = self.word_until_brace(false)?;
        let Some(value) = value else {
            if self.lx.skip_unset {
                let sep = if all { "//" } else { "/" };
                return Ok(format!("${{{name}{sep}{pat}/{repl}}}"));
            }
            return Ok(String::new());
        };
        let pat = Pattern::new(&pat, self.lx.escape);
        let chars: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        let mut replaced = false;
        // With a leading `*`, a start that finds no match means no later
        // start can (the star could have absorbed the difference): stop
        // searching instead of rescanning the value from every position.
        let mut hopeless = false;
        while i < chars.len() {
            if (!replaced || all) && !hopeless {
                // Longest non-empty match starting at i, like a shell.
                if let Some(len) = pat.prefix(&chars[i..], true).filter(|&l| l > 0) {
                    let end = i + len;
                    out.push_str(&repl);
                    i = end;
                    replaced = true;
                    continue;
                }
                hopeless = pat.starts_with_star();
            }
            out.push(chars[i]);
            i += 1;
        }
        Ok(out)
    }
}
