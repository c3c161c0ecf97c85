//! Stage two: one raw instruction -> a typed instruction (BuildKit's
//! `instructions.ParseInstruction` together with the per-command argument
//! splitting of its `parser/line_parsers.go`). No expansion happens here.

use super::command::{ArgDecl, Command, CommandLine, KeyValue};
use super::diag::Sink;
use super::flags::{FlagSet, Kind, parse_flags};
use super::instruction_args::{from, healthcheck, onbuild, run, transfer};
use super::lexer::Heredoc;
use super::lint;
use super::text::Text;
use super::words::{
    Json, Word, extract_flags, parse_json, parse_words, split_command, whitespace_words,
};

/// A FROM line: it starts a stage rather than being part of one.
#[derive(Debug, Clone)]
pub(crate) struct FromLine {
    pub base: String,
    pub name: Option<String>,
    pub platform: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) enum Parsed {
    From(FromLine),
    Command(Command),
}

/// Every instruction keyword Docker knows, in the reference's order.
pub const KEYWORDS: [&str; 18] = [
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
];

pub(crate) struct Cx<'s, 'a> {
    pub sink: &'s mut Sink<'a>,
    pub escape: char,
    pub kw: String,
    pub kw_src: usize,
}

impl Cx<'_, '_> {
    pub(crate) fn err(&mut self, at: usize, msg: impl Into<String>) -> Option<Parsed> {
        self.sink.error(at, msg);
        None
    }
    pub(crate) fn flags(
        &mut self,
        words: &[Word],
        defs: &[(&'static str, Kind)],
    ) -> Option<FlagSet> {
        let kw = self.kw.clone();
        parse_flags(self.sink, words, &kw, defs)
    }
    pub(crate) fn at_least_one(&mut self) -> Option<Parsed> {
        let m = format!("{} requires at least one argument", self.kw);
        self.err(self.kw_src, m)
    }

    /// CMD, ENTRYPOINT, RUN, SHELL and HEALTHCHECK CMD: JSON exec form,
    /// falling back to the shell form when the text is not a JSON array
    /// (but a JSON array with non-strings is an error, as in Docker).
    pub(crate) fn maybe_json(&mut self, rest: &Text) -> Option<CommandLine> {
        match parse_json(&rest.s) {
            Json::Strings(v) => Some(CommandLine::Exec(v)),
            Json::NotStrings => {
                self.sink.error(
                    rest.src(0),
                    "when using JSON array syntax, arrays must be comprised of strings only",
                );
                None
            }
            Json::Invalid => {
                let t = rest.s.trim();
                if t.starts_with('[') && t.ends_with(']') {
                    self.sink.warn(
                        rest.src(0),
                        format!(
                            "{} arguments look like a JSON array but are not valid JSON; Docker runs them as a shell command",
                            self.kw
                        ),
                    );
                }
                Some(CommandLine::Shell(rest.s.clone()))
            }
        }
    }

    /// ADD, COPY, VOLUME: a JSON array or whitespace-separated words.
    pub(crate) fn list(&mut self, rest: &Text) -> Option<(Vec<Word>, bool)> {
        match parse_json(&rest.s) {
            Json::Strings(v) => Some((
                v.into_iter()
                    .map(|text| Word {
                        text,
                        src: rest.src(0),
                    })
                    .collect(),
                true,
            )),
            Json::NotStrings => {
                self.sink.error(
                    rest.src(0),
                    "when using JSON array syntax, arrays must be comprised of strings only",
                );
                None
            }
            Json::Invalid => Some((whitespace_words(rest), false)),
        }
    }

    /// ENV and LABEL: `k=v ...` or the legacy `k v`.
    pub(crate) fn key_values(&mut self, rest: &Text) -> Option<Vec<KeyValue>> {
        let words = parse_words(rest, self.escape);
        let Some(first) = words.first() else {
            self.at_least_one();
            return None;
        };
        if !first.text.contains('=') {
            let parts = whitespace_words(rest);
            if parts.len() < 2 {
                let m = format!("{} must have two arguments", self.kw);
                self.sink.error(first.src, m);
                return None;
            }
            let key = parts[0].text.clone();
            let value_start = rest.s.len()
                - rest.s[key.len()..]
                    .trim_start_matches([' ', '\t', '\r', '\u{b}', '\u{c}'])
                    .len();
            self.sink.warn(
                first.src,
                format!(
                    "\"{kw} key=value\" should be used instead of legacy \"{kw} key value\" format (LegacyKeyValueFormat)",
                    kw = self.kw
                ),
            );
            return Some(vec![KeyValue {
                key,
                value: rest.s[value_start..].to_string(),
            }]);
        }
        let mut out = Vec::new();
        let mut ok = true;
        for w in &words {
            match w.text.split_once('=') {
                None => {
                    self.sink.error(
                        w.src,
                        format!(
                            "Syntax error - can't find = in {:?}. Must be of the form: name=value",
                            w.text
                        ),
                    );
                    ok = false;
                }
                Some(("", _)) => {
                    let m = format!("{} names can not be blank", self.kw);
                    self.sink.error(w.src, m);
                    ok = false;
                }
                Some((k, v)) => out.push(KeyValue {
                    key: k.to_string(),
                    value: v.to_string(),
                }),
            }
        }
        ok.then_some(out)
    }

    /// USER, WORKDIR, STOPSIGNAL, MAINTAINER: the whole rest is one argument.
    pub(crate) fn one(&mut self, rest: &Text) -> Option<String> {
        if rest.s.is_empty() {
            let m = format!("{} requires exactly one argument", self.kw);
            self.sink.error(self.kw_src, m);
            return None;
        }
        Some(rest.s.clone())
    }
}

fn suggest(word: &str) -> Option<&'static str> {
    let w = word.to_ascii_uppercase();
    KEYWORDS.iter().copied().find(|k| {
        let (a, b): (Vec<char>, Vec<char>) = (w.chars().collect(), k.chars().collect());
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.iter().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                cur.push(
                    (prev[j] + usize::from(ca != cb))
                        .min(prev[j + 1] + 1)
                        .min(cur[j] + 1),
                );
            }
            prev = cur;
        }
        prev[b.len()] <= 2.min(k.len() / 2)
    })
}

/// Parses one instruction's text. Problems go to `sink`; `None` when the
/// instruction is unusable.
pub(crate) fn parse_text(
    sink: &mut Sink,
    line: &Text,
    heredocs: &[Heredoc],
    escape: char,
) -> Option<Parsed> {
    let (kw, rest) = split_command(line);
    let (flag_words, rest) = extract_flags(&rest);
    let mut cx = Cx {
        sink,
        escape,
        kw: kw.s.to_ascii_uppercase(),
        kw_src: kw.src(0),
    };
    if KEYWORDS.contains(&cx.kw.as_str()) {
        lint::keyword_casing(cx.sink, &kw.s, cx.kw_src);
    }
    let no_flags = |cx: &mut Cx| cx.flags(&flag_words, &[]);
    let cmd = match cx.kw.as_str() {
        "FROM" => return from(&mut cx, &flag_words, &rest),
        "RUN" => return run(&mut cx, &flag_words, &rest, heredocs),
        "ADD" | "COPY" => return transfer(&mut cx, &flag_words, &rest, heredocs),
        "HEALTHCHECK" => return healthcheck(&mut cx, &flag_words, &rest),
        "ONBUILD" => {
            no_flags(&mut cx)?;
            return onbuild(&mut cx, &rest, heredocs);
        }
        "CMD" | "ENTRYPOINT" => {
            let flags = no_flags(&mut cx);
            let c = cx.maybe_json(&rest)?;
            flags?;
            if let CommandLine::Shell(s) = &c {
                let m = if s.is_empty() {
                    format!("{} without arguments runs an empty shell command", cx.kw)
                } else {
                    format!(
                        "JSON arguments recommended for {} to prevent unintended behavior related to OS signals (JSONArgsRecommended)",
                        cx.kw
                    )
                };
                cx.sink
                    .warn(if s.is_empty() { cx.kw_src } else { rest.src(0) }, m);
            }
            if cx.kw == "CMD" {
                Command::Cmd(c)
            } else {
                Command::Entrypoint(c)
            }
        }
        "SHELL" => {
            let flags = no_flags(&mut cx);
            let c = cx.maybe_json(&rest)?;
            flags?;
            match c {
                CommandLine::Exec(v) if v.is_empty() => return cx.at_least_one(),
                CommandLine::Exec(v) => Command::Shell(v),
                CommandLine::Shell(s) if s.is_empty() => return cx.at_least_one(),
                CommandLine::Shell(_) => {
                    return cx.err(
                        rest.src(0),
                        "SHELL requires the arguments to be in JSON form",
                    );
                }
            }
        }
        "LABEL" | "ENV" => {
            let flags = no_flags(&mut cx);
            let kvs = cx.key_values(&rest)?;
            flags?;
            if cx.kw == "ENV" {
                for kv in &kvs {
                    let at = rest.s.find(&kv.key).map_or(cx.kw_src, |i| rest.src(i));
                    lint::secret_name(cx.sink, "ENV", &kv.key, at);
                }
            }
            if cx.kw == "ENV" {
                Command::Env(kvs)
            } else {
                Command::Label(kvs)
            }
        }
        "EXPOSE" => {
            let flags = no_flags(&mut cx);
            let words = whitespace_words(&rest);
            if words.is_empty() {
                return cx.at_least_one();
            }
            flags?;
            Command::Expose(words.into_iter().map(|w| w.text).collect())
        }
        "VOLUME" => {
            let flags = no_flags(&mut cx);
            let (words, _) = cx.list(&rest)?;
            if words.is_empty() {
                return cx.at_least_one();
            }
            if let Some(w) = words.iter().find(|w| w.text.trim().is_empty()) {
                return cx.err(w.src, "VOLUME specified can not be an empty string");
            }
            flags?;
            Command::Volume(
                words
                    .into_iter()
                    .map(|w| w.text.trim().to_string())
                    .collect(),
            )
        }
        "USER" | "WORKDIR" | "STOPSIGNAL" | "MAINTAINER" => {
            let flags = no_flags(&mut cx);
            let v = cx.one(&rest)?;
            flags?;
            match cx.kw.as_str() {
                "USER" => Command::User(v),
                "WORKDIR" => Command::Workdir(v),
                "STOPSIGNAL" => Command::StopSignal(v),
                _ => {
                    cx.sink.warn(
                        cx.kw_src,
                        "MAINTAINER is deprecated; use LABEL org.opencontainers.image.authors=... (MaintainerDeprecated)",
                    );
                    Command::Maintainer(v)
                }
            }
        }
        "ARG" => {
            let flags = no_flags(&mut cx);
            let words = parse_words(&rest, escape);
            if words.is_empty() {
                return cx.at_least_one();
            }
            let mut decls = Vec::new();
            for w in words {
                let name = w.text.split_once('=').map_or(w.text.as_str(), |(k, _)| k);
                lint::secret_name(cx.sink, "ARG", name, w.src);
                match w.text.split_once('=') {
                    Some(("", _)) => return cx.err(w.src, "ARG names can not be blank"),
                    Some((k, v)) => decls.push(ArgDecl {
                        name: k.to_string(),
                        default: Some(v.to_string()),
                    }),
                    None => decls.push(ArgDecl {
                        name: w.text,
                        default: None,
                    }),
                }
            }
            flags?;
            Command::Arg(decls)
        }
        _ => {
            let hint = suggest(&kw.s)
                .map(|s| format!(" (did you mean {s}?)"))
                .unwrap_or_default();
            return cx.err(cx.kw_src, format!("unknown instruction: {}{hint}", kw.s));
        }
    };
    Some(Parsed::Command(cmd))
}
