//! `--change` for `image import` (as `docker import --change`): one
//! Dockerfile instruction that only touches the config: CMD, ENTRYPOINT,
//! ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR. The full Dockerfile
//! language lives in `dockerfile`; this is the small subset import allows.

use std::path::Path;

use super::config::{Empty, ImageConfig};
use super::error::{Error, Result};

/// Applies one change line to `config`.
pub fn apply_change(config: &mut ImageConfig, change: &str) -> Result<()> {
    let bad = |reason: &str| Error::BadChange {
        change: change.to_string(),
        reason: reason.to_string(),
    };
    let line = change.trim();
    let (word, args) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let args = args.trim();
    let c = &mut config.config;
    match word.to_ascii_uppercase().as_str() {
        "CMD" => c.cmd = Some(command_form(args, change)?),
        "ENTRYPOINT" => c.entrypoint = Some(command_form(args, change)?),
        "ENV" => {
            for (k, v) in key_values(args, change)? {
                c.env
                    .retain(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n) != k);
                c.env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            for (k, v) in key_values(args, change)? {
                c.labels.insert(k, v);
            }
        }
        "EXPOSE" => {
            for port in args.split_whitespace() {
                let (num, proto) = port.split_once('/').unwrap_or((port, "tcp"));
                if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
                    return Err(bad("invalid port"));
                }
                c.exposed_ports
                    .insert(format!("{num}/{}", proto.to_ascii_lowercase()), Empty {});
            }
        }
        "VOLUME" => {
            let vols = if args.starts_with('[') {
                json_array(args, change)?
            } else {
                args.split_whitespace().map(str::to_string).collect()
            };
            for v in vols {
                c.volumes.insert(v, Empty {});
            }
        }
        "WORKDIR" if !args.is_empty() => {
            let wd = Path::new(if c.working_dir.is_empty() {
                "/"
            } else {
                &c.working_dir
            })
            .join(args);
            c.working_dir = wd.to_string_lossy().into_owned();
        }
        "USER" if !args.is_empty() => c.user = args.to_string(),
        "STOPSIGNAL" if !args.is_empty() => c.stop_signal = args.to_string(),
        "WORKDIR" | "USER" | "STOPSIGNAL" => return Err(bad("requires an argument")),
        _ => {
            return Err(bad(
                "only CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR are allowed",
            ));
        }
    }
    Ok(())
}

/// Exec form `["a","b"]` or shell form `a b` (-> `/bin/sh -c "a b"`).
fn command_form(args: &str, change: &str) -> Result<Vec<String>> {
    if args.starts_with('[') {
        json_array(args, change)
    } else if args.is_empty() {
        Ok(Vec::new())
    } else {
        Ok(vec!["/bin/sh".into(), "-c".into(), args.to_string()])
    }
}

fn json_array(args: &str, change: &str) -> Result<Vec<String>> {
    serde_json::from_str(args).map_err(|e| Error::BadChange {
        change: change.to_string(),
        reason: format!("not a JSON array of strings: {e}"),
    })
}

/// `k=v k2="a b"` pairs, or the legacy single pair `k v w`.
fn key_values(args: &str, change: &str) -> Result<Vec<(String, String)>> {
    let words = split_words(args);
    if words.is_empty() {
        return Err(Error::BadChange {
            change: change.to_string(),
            reason: "requires at least one key=value".to_string(),
        });
    }
    if !words[0].contains('=') {
        let (k, v) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(Error::BadChange {
                change: change.to_string(),
                reason: format!("{w:?} is not key=value"),
            }),
        })
        .collect()
}

/// Splits on unquoted whitespace; double and single quotes group, backslash
/// escapes the next character (outside single quotes).
fn split_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(ch);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn changes_set_the_config_like_docker_import() {
        let mut c = ImageConfig::for_host();
        apply_change(&mut c, r#"CMD ["sh"]"#).unwrap();
        apply_change(&mut c, "ENTRYPOINT echo hi").unwrap();
        apply_change(&mut c, r#"ENV A=1 B="two words""#).unwrap();
        apply_change(&mut c, "ENV A=3").unwrap();
        apply_change(&mut c, "EXPOSE 80 53/UDP").unwrap();
        apply_change(&mut c, "WORKDIR /srv").unwrap();
        apply_change(&mut c, "WORKDIR app").unwrap();
        apply_change(&mut c, "LABEL org.example=yes").unwrap();
        apply_change(&mut c, "USER 1000:1000").unwrap();
        let r = &c.config;
        assert_eq!(r.cmd.as_deref(), Some(&["sh".to_string()][..]));
        assert_eq!(
            r.entrypoint.as_ref().unwrap(),
            &["/bin/sh", "-c", "echo hi"]
        );
        assert_eq!(r.env, ["B=two words", "A=3"]);
        assert!(r.exposed_ports.contains_key("80/tcp") && r.exposed_ports.contains_key("53/udp"));
        assert_eq!(r.working_dir, "/srv/app");
        assert_eq!(r.labels["org.example"], "yes");
        assert_eq!(r.user, "1000:1000");
        assert!(apply_change(&mut c, "RUN rm -rf /").is_err());
        assert!(apply_change(&mut c, "CMD [sh").is_err());
    }
}
