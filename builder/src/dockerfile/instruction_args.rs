//! The instructions whose arguments need more than splitting: FROM, RUN,
//! ADD/COPY, HEALTHCHECK and ONBUILD.

use std::time::Duration;

use super::command::{
    Command, CommandLine, Healthcheck, NetworkMode, Onbuild, Run, SecurityMode, Transfer,
};
use super::flags::{FlagSet, Kind, parse_go_duration};
use super::instruction::{Cx, FromLine, Parsed, parse_text};
use super::lexer::{Heredoc, parse_heredoc_word};
use super::lint;
use super::mount::parse_mount;
use super::text::Text;
use super::words::{Word, split_command, whitespace_words};

fn duration_flag(
    cx: &mut Cx,
    flags: &FlagSet,
    name: &str,
    at: usize,
) -> Result<Option<Duration>, ()> {
    let Some(v) = flags.string(name) else {
        return Ok(None);
    };
    match parse_go_duration(&v) {
        Err(e) => {
            cx.sink.error(at, e);
            Err(())
        }
        Ok(ns) if ns < 1_000_000 => {
            cx.sink
                .error(at, format!("Interval {name:?} cannot be less than 1ms"));
            Err(())
        }
        Ok(ns) => Ok(Some(Duration::from_nanos(
            u64::try_from(ns).unwrap_or(u64::MAX),
        ))),
    }
}

pub(crate) fn healthcheck(cx: &mut Cx, flag_words: &[Word], rest: &Text) -> Option<Parsed> {
    let typ_end = rest.s.find(char::is_whitespace).unwrap_or(rest.s.len());
    if typ_end == 0 {
        return cx.at_least_one();
    }
    let typ = rest.s[..typ_end].to_ascii_uppercase();
    let args = rest.slice(typ_end, rest.s.len()).trim_start();
    if typ == "NONE" {
        if !args.s.is_empty() {
            return cx.err(args.src(0), "HEALTHCHECK NONE takes no arguments");
        }
        if let Some(w) = flag_words.first() {
            cx.sink
                .warn(w.src, "flags are ignored with HEALTHCHECK NONE");
        }
        return Some(Parsed::Command(Command::Healthcheck(Healthcheck::None)));
    }
    let flags = cx.flags(
        flag_words,
        &[
            ("interval", Kind::Str),
            ("timeout", Kind::Str),
            ("start-period", Kind::Str),
            ("start-interval", Kind::Str),
            ("retries", Kind::Str),
        ],
    )?;
    if typ != "CMD" {
        return cx.err(
            rest.src(0),
            format!("Unknown type {typ:?} in HEALTHCHECK (try CMD)"),
        );
    }
    let command = cx.maybe_json(&args)?;
    if matches!(&command, CommandLine::Exec(v) if v.is_empty())
        || matches!(&command, CommandLine::Shell(s) if s.is_empty())
    {
        return cx.err(rest.src(0), "Missing command after HEALTHCHECK CMD");
    }
    let at = |name: &str| {
        flag_words
            .iter()
            .find(|w| w.text.starts_with(&format!("--{name}=")))
            .map_or(0, |w| w.src)
    };
    let interval = duration_flag(cx, &flags, "interval", at("interval")).ok()?;
    let timeout = duration_flag(cx, &flags, "timeout", at("timeout")).ok()?;
    let start_period = duration_flag(cx, &flags, "start-period", at("start-period")).ok()?;
    let start_interval = duration_flag(cx, &flags, "start-interval", at("start-interval")).ok()?;
    let retries = match flags.string("retries") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Err(_) => {
                return cx.err(
                    at("retries"),
                    format!("strconv.ParseInt: parsing {v:?}: invalid syntax"),
                );
            }
            Ok(n) if n < 1 => {
                return cx.err(
                    at("retries"),
                    format!("--retries must be at least 1 (not {n})"),
                );
            }
            Ok(n) => Some(u32::try_from(n).unwrap_or(u32::MAX)),
        },
    };
    Some(Parsed::Command(Command::Healthcheck(Healthcheck::Check {
        command,
        interval,
        timeout,
        start_period,
        start_interval,
        retries,
    })))
}

pub(crate) fn transfer(
    cx: &mut Cx,
    flag_words: &[Word],
    rest: &Text,
    heredocs: &[Heredoc],
) -> Option<Parsed> {
    let add = cx.kw == "ADD";
    let defs: &[(&'static str, Kind)] = if add {
        &[
            ("chown", Kind::Str),
            ("chmod", Kind::Str),
            ("link", Kind::Bool),
            ("exclude", Kind::Strs),
            ("checksum", Kind::Str),
            ("keep-git-dir", Kind::Bool),
            ("unpack", Kind::Bool),
        ]
    } else {
        &[
            ("from", Kind::Str),
            ("chown", Kind::Str),
            ("chmod", Kind::Str),
            ("link", Kind::Bool),
            ("parents", Kind::Bool),
            ("exclude", Kind::Strs),
        ]
    };
    let flags = cx.flags(flag_words, defs);
    let (args, json) = cx.list(rest)?;
    let flags = flags?;
    if args.len() < 2 {
        let m = format!(
            "{} requires at least two arguments, but only one was provided. Destination could not be determined",
            cx.kw
        );
        return cx.err(args.first().map_or(cx.kw_src, |w| w.src), m);
    }
    let (dest, srcs) = args.split_last()?;
    let mut t = Transfer {
        dest: dest.text.clone(),
        from: flags.string("from"),
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        link: flags.bool("link"),
        parents: flags.bool("parents"),
        exclude: flags.strings("exclude"),
        checksum: flags.string("checksum"),
        keep_git_dir: flags.bool("keep-git-dir"),
        unpack: flags.opt_bool("unpack"),
        ..Transfer::default()
    };
    if !json && matches!(parse_heredoc_word(&dest.text), Ok(Some(_))) {
        let m = format!("{} cannot accept a heredoc as a destination", cx.kw);
        return cx.err(dest.src, m);
    }
    for s in srcs {
        match (json, parse_heredoc_word(&s.text)) {
            (false, Ok(Some(h))) => {
                let body = heredocs
                    .iter()
                    .find(|d| d.name == h.name)
                    .cloned()
                    .unwrap_or(h);
                t.heredocs.push(body);
            }
            _ => t.sources.push(s.text.clone()),
        }
    }
    Some(Parsed::Command(if add {
        Command::Add(t)
    } else {
        Command::Copy(t)
    }))
}

pub(crate) fn from(cx: &mut Cx, flag_words: &[Word], rest: &Text) -> Option<Parsed> {
    let flags = cx.flags(flag_words, &[("platform", Kind::Str)]);
    let words = whitespace_words(rest);
    let name = match words.as_slice() {
        [_] => None,
        [_, as_kw, name] if as_kw.text.eq_ignore_ascii_case("as") => {
            let lower = name.text.to_ascii_lowercase();
            lint::stage_name_casing(cx.sink, &name.text, name.src);
            let valid = lower.starts_with(|c: char| c.is_ascii_lowercase())
                && lower
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
            if !valid {
                return cx.err(
                    name.src,
                    format!(
                        "invalid name for build stage: {:?}, name can't start with a number or contain symbols",
                        name.text
                    ),
                );
            }
            let kw_upper = cx.sink.text[cx.kw_src..].starts_with("FROM");
            let as_upper = as_kw.text == "AS";
            let kw_lower = cx.sink.text[cx.kw_src..].starts_with("from");
            if (kw_upper && !as_upper) || (kw_lower && as_kw.text != "as") {
                cx.sink.warn(
                    as_kw.src,
                    "'as' and 'FROM' keywords' casing do not match (FromAsCasing)",
                );
            }
            Some(lower)
        }
        _ => {
            let at = words.get(1).map_or(cx.kw_src, |w| w.src);
            return cx.err(at, "FROM requires either one or three arguments");
        }
    };
    let flags = flags?;
    Some(Parsed::From(FromLine {
        base: words[0].text.clone(),
        name,
        platform: flags.string("platform"),
    }))
}

pub(crate) fn run(
    cx: &mut Cx,
    flag_words: &[Word],
    rest: &Text,
    heredocs: &[Heredoc],
) -> Option<Parsed> {
    let flags = cx.flags(
        flag_words,
        &[
            ("mount", Kind::Strs),
            ("network", Kind::Str),
            ("security", Kind::Str),
        ],
    );
    let command = cx.maybe_json(rest);
    let flags = flags?;
    let mut mounts = Vec::new();
    let mut ok = true;
    let mount_words = flag_words.iter().filter(|w| w.text.starts_with("--mount="));
    for (spec, w) in flags.strings("mount").iter().zip(mount_words) {
        match parse_mount(spec, &mut |v| Ok(v.to_string())) {
            Ok(m) => mounts.push(m),
            Err(e) => {
                cx.sink.error(w.src, e);
                ok = false;
            }
        }
    }
    let at = |name: &str| {
        flag_words
            .iter()
            .find(|w| w.text.starts_with(&format!("--{name}")))
            .map_or(0, |w| w.src)
    };
    let network = match flags.string("network").as_deref() {
        None => None,
        Some("default") => Some(NetworkMode::Default),
        Some("none") => Some(NetworkMode::None),
        Some("host") => Some(NetworkMode::Host),
        Some(v) => return cx.err(at("network"), format!("unsupported network mode {v:?}")),
    };
    let security = match flags.string("security").as_deref() {
        None => None,
        Some("sandbox") => Some(SecurityMode::Sandbox),
        Some("insecure") => Some(SecurityMode::Insecure),
        Some(v) => return cx.err(at("security"), format!("unsupported security mode {v:?}")),
    };
    let command = command?;
    if matches!(&command, CommandLine::Shell(s) if s.is_empty()) {
        return cx.at_least_one();
    }
    ok.then_some(Parsed::Command(Command::Run(Run {
        command,
        heredocs: heredocs.to_vec(),
        mounts,
        network,
        security,
    })))
}

pub(crate) fn onbuild(cx: &mut Cx, rest: &Text, heredocs: &[Heredoc]) -> Option<Parsed> {
    if rest.s.is_empty() {
        return cx.at_least_one();
    }
    let (sub, _) = split_command(rest);
    let sub_kw = sub.s.to_ascii_uppercase();
    match sub_kw.as_str() {
        "ONBUILD" => {
            return cx.err(
                sub.src(0),
                "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
            );
        }
        "MAINTAINER" | "FROM" => {
            return cx.err(
                sub.src(0),
                format!("{sub_kw} isn't allowed as an ONBUILD trigger"),
            );
        }
        _ => {}
    }
    let Parsed::Command(trigger) = parse_text(cx.sink, rest, heredocs, cx.escape)? else {
        return None;
    };
    let mut expression = rest.s.clone();
    for h in heredocs {
        expression.push('\n');
        expression.push_str(&h.content);
        expression.push_str(&h.name);
    }
    Some(Parsed::Command(Command::Onbuild(Onbuild {
        expression,
        trigger: Box::new(trigger),
    })))
}
