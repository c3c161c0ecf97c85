//! Splitting the text of an instruction into words the way BuildKit's
//! `parser` package does: the command word, leading `--flags`, quote-aware
//! words (ENV, LABEL, ARG), whitespace-separated words (FROM, EXPOSE, COPY)
//! and JSON arrays (exec form).

use super::text::Text;

/// A word of an instruction and the source offset of its first byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    pub text: String,
    pub src: usize,
}

/// `[\t\v\f\r ]`, Go's `reWhitespace` class in the BuildKit parser.
fn is_ws(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Splits `FROM x AS y` into the command word and the rest (after the
/// whitespace that follows the command). Both are trimmed.
pub(crate) fn split_command(line: &Text) -> (Text, Text) {
    let t = line.trim();
    match t.s.find(is_ws) {
        None => (t.clone(), t.slice(t.s.len(), t.s.len())),
        Some(i) => {
            let rest_start = t.s[i..].find(|c| !is_ws(c)).map_or(t.s.len(), |j| i + j);
            (t.slice(0, i), t.slice(rest_start, t.s.len()))
        }
    }
}

/// Extracts the leading `--flag[=value]` words of an instruction's arguments
/// (BuildKit's `extractBuilderFlags`): quotes group, `\` escapes, a lone `--`
/// ends the flags. Returns the flags and the remaining text.
pub(crate) fn extract_flags(rest: &Text) -> (Vec<Word>, Text) {
    let b = rest.s.as_bytes();
    let mut words = Vec::new();
    let mut word: Vec<u8> = Vec::new();
    let mut pos = 0;
    while pos < b.len() {
        // Looking for the start of a word.
        if b[pos].is_ascii_whitespace() || b[pos] == 0x0b {
            pos += 1;
            continue;
        }
        if !(b[pos] == b'-' && b.get(pos + 1) == Some(&b'-')) {
            return (words, rest.slice(pos, b.len()));
        }
        let start = pos;
        let mut blank_ok = false;
        let mut quote: Option<u8> = None;
        word.clear();
        while pos < b.len() {
            let ch = b[pos];
            match quote {
                None if ch.is_ascii_whitespace() || ch == 0x0b => break,
                None if ch == b'\'' || ch == b'"' => {
                    quote = Some(ch);
                    blank_ok = true;
                }
                Some(q) if ch == q => quote = None,
                _ if ch == b'\\' => {
                    if pos + 1 < b.len() {
                        pos += 1;
                        word.push(b[pos]);
                    } else if quote.is_some() {
                        quote = None;
                    }
                }
                _ => word.push(ch),
            }
            pos += 1;
        }
        if word == b"--" {
            return (words, rest.slice(pos, b.len()).trim_start());
        }
        if blank_ok || !word.is_empty() {
            words.push(Word {
                text: String::from_utf8_lossy(&word).into_owned(),
                src: rest.src(start),
            });
        }
    }
    (words, rest.slice(b.len(), b.len()))
}

/// Quote-aware words that keep their quotes and escapes (BuildKit's
/// `parseWords`, used by ENV, LABEL and ARG; quotes are removed later by
/// expansion).
pub(crate) fn parse_words(rest: &Text, escape: char) -> Vec<Word> {
    let mut words = Vec::new();
    let mut it = rest.s.char_indices().peekable();
    let mut word = String::new();
    let mut start = 0;
    let mut in_word = false;
    let mut blank_ok = false;
    let mut quote: Option<char> = None;
    while let Some((i, ch)) = it.next() {
        if !in_word {
            if ch.is_whitespace() {
                continue;
            }
            in_word = true;
            start = i;
        }
        match quote {
            None => {
                if ch.is_whitespace() {
                    if blank_ok || !word.is_empty() {
                        words.push(Word {
                            text: std::mem::take(&mut word),
                            src: rest.src(start),
                        });
                    }
                    in_word = false;
                    blank_ok = false;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    quote = Some(ch);
                    blank_ok = true;
                }
                if ch == escape {
                    // Unquoted escape: keep it and the next char (even a quote).
                    match it.next() {
                        None => continue,
                        Some((_, n)) => {
                            word.push(ch);
                            word.push(n);
                            continue;
                        }
                    }
                }
                word.push(ch);
            }
            Some(q) => {
                if ch == q {
                    quote = None;
                }
                if ch == escape && q != '\'' {
                    match it.next() {
                        None => {
                            quote = None;
                            continue;
                        }
                        Some((_, n)) => {
                            word.push(ch);
                            word.push(n);
                            continue;
                        }
                    }
                }
                word.push(ch);
            }
        }
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(Word {
            text: word,
            src: rest.src(start),
        });
    }
    words
}

/// Words separated by `[\t\v\f\r ]+`, quotes not special (FROM, EXPOSE,
/// COPY/ADD/VOLUME in shell form).
pub(crate) fn whitespace_words(rest: &Text) -> Vec<Word> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in rest
        .s
        .char_indices()
        .chain(std::iter::once((rest.s.len(), ' ')))
    {
        match (is_ws(c), start) {
            (true, Some(s)) => {
                out.push(Word {
                    text: rest.s[s..i].to_string(),
                    src: rest.src(s),
                });
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    out
}

/// Outcome of reading arguments as a JSON array.
pub(crate) enum Json {
    /// A JSON array of strings: the exec form.
    Strings(Vec<String>),
    /// Valid JSON array with a non-string element: Docker rejects this.
    NotStrings,
    /// Not JSON: Docker falls back to the shell form.
    Invalid,
}

pub(crate) fn parse_json(rest: &str) -> Json {
    let t = rest.trim_start();
    if !t.starts_with('[') {
        return Json::Invalid;
    }
    match serde_json::from_str::<Vec<serde_json::Value>>(t) {
        Err(_) => Json::Invalid,
        Ok(vals) => {
            let mut out = Vec::with_capacity(vals.len());
            for v in vals {
                match v {
                    serde_json::Value::String(s) => out.push(s),
                    _ => return Json::NotStrings,
                }
            }
            Json::Strings(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Text, extract_flags, parse_words};

    fn text(s: &str) -> Text {
        let mut t = Text::new(0);
        t.push(s, 0);
        t
    }

    #[test]
    fn flags_like_buildkit() {
        let (flags, rest) = extract_flags(&text("--a=1 --b=\"x y\" --c='q' --d=a\\ b  rest --e"));
        let got: Vec<(&str, usize)> = flags.iter().map(|w| (w.text.as_str(), w.src)).collect();
        assert_eq!(
            got,
            vec![("--a=1", 0), ("--b=x y", 6), ("--c=q", 16), ("--d=a b", 24)]
        );
        assert_eq!(rest.s, "rest --e");
        let (flags, rest) = extract_flags(&text("--x -- --y z"));
        assert_eq!(flags.len(), 1);
        assert_eq!(rest.s, "--y z");
        let (flags, rest) = extract_flags(&text("-x"));
        assert!(flags.is_empty());
        assert_eq!(rest.s, "-x");
    }

    #[test]
    fn words_keep_quotes_and_escapes() {
        let w: Vec<String> = parse_words(&text("a=\"x y\" b='p q' c=d\\ e \"\" f"), '\\')
            .into_iter()
            .map(|w| w.text)
            .collect();
        assert_eq!(w, vec!["a=\"x y\"", "b='p q'", "c=d\\ e", "\"\"", "f"]);
    }
}
