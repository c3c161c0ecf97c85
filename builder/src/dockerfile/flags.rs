//! Instruction flags (`--name=value`, BuildKit's `BFlags`) and the value
//! syntaxes they use (Go durations).

use super::diag::Sink;
use super::words::Word;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `--link`, `--link=true|false`.
    Bool,
    /// `--from=x`, at most once.
    Str,
    /// `--mount=x`, repeatable.
    Strs,
}

/// The flags an instruction was given, after validation.
#[derive(Debug, Default)]
pub(crate) struct FlagSet {
    vals: Vec<(&'static str, Vec<String>)>,
}

impl FlagSet {
    fn get(&self, name: &str) -> Option<&Vec<String>> {
        self.vals.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name).and_then(|v| v.last().cloned())
    }
    pub fn strings(&self, name: &str) -> Vec<String> {
        self.get(name).cloned().unwrap_or_default()
    }
    pub fn opt_bool(&self, name: &str) -> Option<bool> {
        self.string(name).map(|v| v == "true")
    }
    pub fn bool(&self, name: &str) -> bool {
        self.opt_bool(name).unwrap_or(false)
    }
}

/// Validates `words` against the flags `defs` that instruction `kw` takes.
/// Every problem is reported; `None` when there was any.
pub(crate) fn parse_flags(
    sink: &mut Sink,
    words: &[Word],
    kw: &str,
    defs: &[(&'static str, Kind)],
) -> Option<FlagSet> {
    let mut set = FlagSet::default();
    let mut ok = true;
    for w in words {
        let body = w.text.strip_prefix("--").unwrap_or(&w.text);
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let Some(&(def_name, kind)) = defs.iter().find(|(n, _)| *n == name) else {
            let known = if defs.is_empty() {
                format!("{kw} takes no flags")
            } else {
                let names: Vec<String> = defs.iter().map(|(n, _)| format!("--{n}")).collect();
                format!("{kw} takes {}", names.join(", "))
            };
            sink.error(w.src, format!("unknown flag: {name} ({known})"));
            ok = false;
            continue;
        };
        let entry = match set.vals.iter().position(|(n, _)| *n == def_name) {
            Some(i) if kind != Kind::Strs => {
                sink.error(w.src, format!("duplicate flag specified: {name}"));
                ok = false;
                &mut set.vals[i].1
            }
            Some(i) => &mut set.vals[i].1,
            None => {
                set.vals.push((def_name, Vec::new()));
                let last = set.vals.len() - 1;
                &mut set.vals[last].1
            }
        };
        match (kind, value) {
            (Kind::Bool, Some("")) | (Kind::Str | Kind::Strs, None) => {
                sink.error(w.src, format!("missing a value on flag: {name}"));
                ok = false;
            }
            (Kind::Bool, v) => match v.map(str::to_ascii_lowercase).as_deref() {
                None | Some("true") => entry.push("true".into()),
                Some("false") => entry.push("false".into()),
                Some(_) => {
                    sink.error(
                        w.src,
                        format!(
                            "expecting boolean value for flag {name}, not: {}",
                            value.unwrap_or("")
                        ),
                    );
                    ok = false;
                }
            },
            (_, Some(v)) => entry.push(v.to_string()),
        }
    }
    ok.then_some(set)
}

/// Go's `time.ParseDuration`, in nanoseconds (may be negative).
pub(crate) fn parse_go_duration(s: &str) -> Result<i128, String> {
    let invalid = || format!("time: invalid duration {s:?}");
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(invalid());
        }
        let value: f64 = num.parse().map_err(|_| invalid())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let mult: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration {s:?}")),
            _ => return Err(format!("time: unknown unit {unit:?} in duration {s:?}")),
        };
        total += value * mult;
        if total > i64::MAX as f64 {
            return Err(invalid());
        }
    }
    let n = total as i128;
    Ok(if neg { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::parse_go_duration;

    #[test]
    fn go_durations() {
        let ok = [
            ("0", 0),
            ("1s", 1_000_000_000),
            ("1.5h", 5_400_000_000_000),
            ("1m30s", 90_000_000_000),
            ("300ms", 300_000_000),
            ("2us", 2_000),
            ("2µs", 2_000),
            ("7ns", 7),
            ("-1s", -1_000_000_000),
            ("+.5s", 500_000_000),
        ];
        for (s, ns) in ok {
            assert_eq!(parse_go_duration(s), Ok(ns), "{s}");
        }
        for s in ["", "s", "1", "1x", "1.2.3s", "1h-5m", "-", "1e3s"] {
            assert!(parse_go_duration(s).is_err(), "{s}");
        }
    }
}
