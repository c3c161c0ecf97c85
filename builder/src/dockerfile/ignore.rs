//! `.dockerignore` with Docker's rules (moby `patternmatcher` and
//! `dockerignore.ReadAll`).
//!
//! - One pattern per line; a line whose first character is `#` is a comment;
//!   lines are trimmed; empty lines are skipped.
//! - `!pattern` re-includes what earlier patterns excluded; the last
//!   matching pattern wins.
//! - Patterns are cleaned like Go's `filepath.Clean` (`./a` -> `a`,
//!   `a//b/` -> `a/b`) and a leading `/` is dropped: patterns are relative
//!   to the context root.
//! - `*` and `?` never match `/`; `[...]` classes as in Go's
//!   `filepath.Match`; `\` escapes; `**` matches any number of directories
//!   (also zero), and a trailing `**` everything below.
//! - A path is excluded when the pattern matches it *or any of its parent
//!   directories* (so `build` excludes `build/x/y`).
//!
//! The ignore file for a build: `<Dockerfile>.dockerignore` next to the
//! Dockerfile when it exists, else `<context>/.dockerignore` ([`ignore_file`]).

use std::path::{Path, PathBuf};

/// A pattern line that Docker would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct PatternError {
    /// 1-based line in the ignore file (0 for patterns not from a file).
    pub line: usize,
    pub message: String,
}

/// Errors of [`Matcher::load`].
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Pattern {
        path: PathBuf,
        #[source]
        source: PatternError,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `?`: one character except `/`.
    One,
    /// `*`: any run of characters except `/`.
    Star,
    /// `**` followed by more pattern: `(.*/)?`.
    Dirs,
    /// `**` at the end: `.*`.
    All,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// One cleaned pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// The cleaned pattern text, without `!`.
    pub text: String,
    /// `!pattern`: an exception that re-includes paths.
    pub exclusion: bool,
    toks: Vec<Tok>,
}

/// Go's `path.Clean` for `/`-separated paths.
pub fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            _ => out.push(part),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn compile(p: &str) -> Result<Vec<Tok>, String> {
    let bad = || Err(format!("syntax error in pattern {p:?}"));
    let chars: Vec<char> = p.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                toks.push(if i == chars.len() {
                    Tok::All
                } else {
                    Tok::Dirs
                });
            }
            '*' => toks.push(Tok::Star),
            '?' => toks.push(Tok::One),
            '\\' => match chars.get(i) {
                Some(&n) => {
                    toks.push(Tok::Lit(n));
                    i += 1;
                }
                None => return bad(),
            },
            '[' => {
                let negated = chars.get(i) == Some(&'^');
                if negated {
                    i += 1;
                }
                let mut ranges = Vec::new();
                let mut closed = false;
                let mut first = true;
                while i < chars.len() {
                    let mut lo = chars[i];
                    i += 1;
                    if lo == ']' && !first {
                        closed = true;
                        break;
                    }
                    first = false;
                    if lo == '\\' {
                        let Some(&n) = chars.get(i) else { return bad() };
                        lo = n;
                        i += 1;
                    }
                    let mut hi = lo;
                    if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|&c| c != ']') {
                        hi = chars[i + 1];
                        i += 2;
                        if hi == '\\' {
                            let Some(&n) = chars.get(i) else { return bad() };
                            hi = n;
                            i += 1;
                        }
                        if hi < lo {
                            return bad();
                        }
                    }
                    ranges.push((lo, hi));
                }
                if !closed {
                    return bad();
                }
                toks.push(Tok::Class { negated, ranges });
            }
            c => toks.push(Tok::Lit(c)),
        }
    }
    Ok(toks)
}

impl Pattern {
    /// Parses one pattern (with optional leading `!`), cleaning it.
    pub fn new(raw: &str) -> Result<Pattern, String> {
        let mut p = raw.trim();
        let exclusion = p.starts_with('!');
        if exclusion {
            p = p[1..].trim();
            if p.is_empty() {
                return Err("illegal exclusion pattern: \"!\"".into());
            }
        }
        let mut text = clean(p);
        if text.len() > 1 && text.starts_with('/') {
            text.remove(0);
        }
        let toks = compile(&text)?;
        Ok(Pattern {
            text,
            exclusion,
            toks,
        })
    }

    /// Whether the pattern matches exactly this `/`-separated path.
    pub fn matches(&self, path: &str) -> bool {
        let s: Vec<char> = path.chars().collect();
        // memo[t][i]: tokens t.. cannot match s[i..] (dynamic programming
        // keeps hostile patterns like `*a*a*a*b` polynomial).
        let mut dead = vec![vec![false; s.len() + 1]; self.toks.len() + 1];
        self.go(0, 0, &s, &mut dead)
    }

    fn go(&self, t: usize, i: usize, s: &[char], dead: &mut Vec<Vec<bool>>) -> bool {
        if dead[t][i] {
            return false;
        }
        let ok = match self.toks.get(t) {
            None => i == s.len(),
            Some(Tok::Lit(c)) => s.get(i) == Some(c) && self.go(t + 1, i + 1, s, dead),
            Some(Tok::One) => s.get(i).is_some_and(|&c| c != '/') && self.go(t + 1, i + 1, s, dead),
            Some(Tok::Class { negated, ranges }) => {
                s.get(i)
                    .is_some_and(|&c| ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated)
                    && self.go(t + 1, i + 1, s, dead)
            }
            Some(Tok::Star) => {
                let mut j = i;
                loop {
                    if self.go(t + 1, j, s, dead) {
                        break true;
                    }
                    if j == s.len() || s[j] == '/' {
                        break false;
                    }
                    j += 1;
                }
            }
            Some(Tok::All) => true,
            Some(Tok::Dirs) => {
                self.go(t + 1, i, s, dead)
                    || (i..s.len()).any(|j| s[j] == '/' && self.go(t + 1, j + 1, s, dead))
            }
        };
        if !ok {
            dead[t][i] = true;
        }
        ok
    }
}

/// The patterns of an ignore file, applied in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    pub patterns: Vec<Pattern>,
}

impl Matcher {
    /// Builds a matcher from patterns (as given on a command line).
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Matcher, PatternError> {
        let mut out = Vec::new();
        for p in patterns {
            if p.as_ref().trim().is_empty() {
                continue;
            }
            out.push(
                Pattern::new(p.as_ref()).map_err(|message| PatternError { line: 0, message })?,
            );
        }
        Ok(Matcher { patterns: out })
    }

    /// Parses the text of a `.dockerignore` file.
    pub fn parse(text: &str) -> Result<Matcher, PatternError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let p = Pattern::new(line).map_err(|message| PatternError {
                line: n + 1,
                message,
            })?;
            patterns.push(p);
        }
        Ok(Matcher { patterns })
    }

    /// Reads the ignore file that applies to a build ([`ignore_file`]); an
    /// empty matcher when there is none.
    pub fn load(context: &Path, dockerfile: Option<&Path>) -> Result<Matcher, LoadError> {
        let Some(path) = ignore_file(context, dockerfile) else {
            return Ok(Matcher::default());
        };
        let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Read {
            path: path.clone(),
            source,
        })?;
        Matcher::parse(&text).map_err(|source| LoadError::Pattern { path, source })
    }

    /// Whether `path` (relative to the context, `/`-separated) is excluded
    /// from the build context.
    pub fn excluded(&self, path: &str) -> bool {
        let path = clean(path.trim_start_matches('/'));
        let parents: Vec<&str> = match path.rfind('/') {
            Some(i) => path[..i].split('/').collect(),
            None => Vec::new(),
        };
        let mut matched = false;
        for p in &self.patterns {
            // An include pattern cannot change an excluded path, an exception
            // cannot change an included one.
            if p.exclusion != matched {
                continue;
            }
            let hit =
                p.matches(&path) || (1..=parents.len()).any(|n| p.matches(&parents[..n].join("/")));
            if hit {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// True when some `!` exception exists: a walker must then descend into
    /// excluded directories because something inside may be re-included.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }
}

/// The ignore file of a build: `<Dockerfile>.dockerignore` beside the
/// Dockerfile if it exists, else `<context>/.dockerignore` if it exists.
pub fn ignore_file(context: &Path, dockerfile: Option<&Path>) -> Option<PathBuf> {
    if let Some(name) = dockerfile.and_then(|df| df.file_name().map(|n| (df, n))) {
        let (df, name) = name;
        let mut n = name.to_os_string();
        n.push(".dockerignore");
        let p = df.with_file_name(n);
        if p.is_file() {
            return Some(p);
        }
    }
    let p = context.join(".dockerignore");
    p.is_file().then_some(p)
}
