//! The "Examples:" section of every command's `--help`, kept in one table
//! so that a test can walk the command tree and check that every command
//! has a summary and examples, and that every example parses.

use clap::{Command, CommandFactory, FromArgMatches};

/// Examples per command path (the words after `strata`).
const EXAMPLES: &[(&str, &[&str])] = &[
    ("version", &["strata version"]),
    (
        "image build",
        &[
            "strata image build -t meuubuntu:nginx_auto examples/dockerfile",
            "strata image build --check examples/dockerfile",
            "strata image build --explain -t cache:demo examples/cache",
            "strata image build -q --build-arg VERSION=2 -f ci/Dockerfile .",
        ],
    ),
    (
        "image bootstrap",
        &[
            "strata image bootstrap debian:bookworm",
            "strata image bootstrap --mirror http://mirror.example/debian debian:trixie",
        ],
    ),
    (
        "image history",
        &[
            "strata image history debian",
            "strata image history --no-trunc --format json meuubuntu:nginx",
        ],
    ),
    (
        "image import",
        &[
            "strata image import rootfs.tar.gz busybox:latest",
            "strata image import --change 'CMD [\"sh\"]' ./rootfs busybox",
        ],
    ),
    (
        "image inspect",
        &[
            "strata image inspect debian",
            "strata image inspect --format json meuubuntu:nginx_auto",
        ],
    ),
    (
        "image ls",
        &[
            "strata image ls",
            "strata image ls -q",
            "strata image ls --format json debian",
        ],
    ),
    (
        "image mount",
        &[
            "strata image mount -d debian /mnt/debian",
            "strata image mount debian /mnt/debian",
        ],
    ),
    (
        "image prune",
        &["strata image prune", "strata image prune -a"],
    ),
    (
        "image rm",
        &["strata image rm meuubuntu:nginx", "strata image rm 3f2a1c"],
    ),
    ("image tag", &["strata image tag debian:bookworm debian"]),
    ("image umount", &["strata image umount /mnt/debian"]),
    (
        "image save",
        &[
            "strata image save -o nginx.tar meuubuntu:nginx_auto",
            "strata image save --format docker -o nginx.tar meuubuntu:nginx_auto",
        ],
    ),
    (
        "image load",
        &[
            "strata image load -i nginx.tar",
            "strata image load -q -i oci:./layout:1",
        ],
    ),
    (
        "image push",
        &["strata image push 127.0.0.1:5000/team/nginx:1"],
    ),
    (
        "image pull",
        &[
            "strata image pull 127.0.0.1:5000/team/nginx:1",
            "strata image pull -q debian:bookworm",
        ],
    ),
    (
        "image export",
        &["strata image export -o rootfs.tar meuubuntu:nginx"],
    ),
    (
        "container run",
        &[
            "strata container run --rm debian echo hello",
            "strata container run -it --name containercriado debian bash",
            "strata container run -d --name web -v /srv/www:/var/www:ro meuubuntu:nginx nginx -g 'daemon off;'",
        ],
    ),
    (
        "container commit",
        &[
            "strata container commit containercriado meuubuntu:nginx",
            "strata container commit -c 'CMD [\"nginx\", \"-g\", \"daemon off;\"]' web web:2",
        ],
    ),
    (
        "container create",
        &["strata container create --name web meuubuntu:nginx nginx -g 'daemon off;'"],
    ),
    ("container diff", &["strata container diff containercriado"]),
    (
        "container exec",
        &[
            "strata container exec web cat /etc/nginx/nginx.conf",
            "strata container exec -it web bash",
        ],
    ),
    (
        "container export",
        &["strata container export -o web.tar web"],
    ),
    (
        "container inspect",
        &[
            "strata container inspect web",
            "strata container inspect --format json web",
        ],
    ),
    (
        "container kill",
        &[
            "strata container kill web",
            "strata container kill -s HUP web",
        ],
    ),
    (
        "container logs",
        &[
            "strata container logs web",
            "strata container logs -f -t web",
        ],
    ),
    (
        "container ps",
        &[
            "strata container ps",
            "strata container ps -a -q",
            "strata container ps -a --format json",
        ],
    ),
    (
        "container start",
        &[
            "strata container start web",
            "strata container start -a -i containercriado",
        ],
    ),
    (
        "container stop",
        &[
            "strata container stop web",
            "strata container stop -t 2 web",
        ],
    ),
    (
        "container rm",
        &[
            "strata container rm containercriado",
            "strata container rm -f web",
        ],
    ),
    (
        "system check",
        &["strata system check", "strata system check --repair"],
    ),
    (
        "system df",
        &["strata system df", "strata system df --format json"],
    ),
    (
        "system prune",
        &["strata system prune", "strata system prune -a"],
    ),
    (
        "login",
        &["echo \"$TOKEN\" | strata login -u me --password-stdin 127.0.0.1:5000"],
    ),
    (
        "completion",
        &["strata completion bash > /etc/bash_completion.d/strata"],
    ),
];

/// The command tree with its examples, for parsing and for completions.
pub fn command() -> Command {
    with_examples(super::Cli::command(), "")
}

/// Parses this process's arguments (exits with clap's message on errors,
/// and after `--help`/`--version`).
pub fn parse() -> super::Cli {
    let matches = command().get_matches();
    super::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

fn with_examples(mut cmd: Command, path: &str) -> Command {
    if let Some((_, lines)) = EXAMPLES.iter().find(|(p, _)| *p == path) {
        let text: String = lines.iter().map(|l| format!("\n  {l}")).collect();
        cmd = cmd.after_help(format!("Examples:{text}"));
    }
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        let sub = if path.is_empty() {
            name.clone()
        } else {
            format!("{path} {name}")
        };
        cmd = cmd.mut_subcommand(&name, |c| with_examples(c, &sub));
    }
    cmd
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Every visible command without subcommands, with its path.
    fn leaves(cmd: &Command, path: &str, out: &mut Vec<(String, Command)>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let p = format!("{path} {}", sub.get_name()).trim().to_string();
            if sub.has_subcommands() {
                leaves(sub, &p, out);
            } else {
                out.push((p, sub.clone()));
            }
        }
    }

    /// Splits a shell line into words: quotes group, a pipe or redirection
    /// ends the strata command.
    fn words(line: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut quote = None;
        let mut in_word = false;
        for ch in line.chars() {
            match (quote, ch) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => cur.push(c),
                (None, '\'' | '"') => {
                    quote = Some(ch);
                    in_word = true;
                }
                (None, ' ') => {
                    if in_word {
                        out.push(std::mem::take(&mut cur));
                    }
                    in_word = false;
                }
                (None, '|' | '>') => break,
                (None, c) => {
                    cur.push(c);
                    in_word = true;
                }
            }
        }
        if in_word {
            out.push(cur);
        }
        out
    }

    #[test]
    fn every_command_has_a_summary_and_examples_that_parse() {
        let root = command();
        let mut all = Vec::new();
        leaves(&root, "", &mut all);
        assert!(all.len() >= 35, "{} commands", all.len());
        for (path, cmd) in &all {
            let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
            assert!(
                !about.is_empty() && !about.contains('\n'),
                "strata {path}: needs a one-line summary"
            );
            let help = cmd
                .get_after_help()
                .map(|a| a.to_string())
                .unwrap_or_default();
            let examples: Vec<&str> = help.lines().skip(1).map(str::trim).collect();
            assert!(
                help.starts_with("Examples:") && !examples.is_empty(),
                "strata {path}: needs examples in help.rs"
            );
            for ex in examples {
                let line = ex.rsplit_once("| ").map_or(ex, |(_, cmd)| cmd);
                let argv = words(line);
                assert!(
                    argv.join(" ").starts_with(&format!("strata {path}")),
                    "strata {path}: example {ex:?} is for another command"
                );
                if let Err(e) = command().try_get_matches_from(&argv) {
                    panic!("strata {path}: example {ex:?} does not parse: {e}");
                }
            }
        }
        // No example for a command that does not exist.
        for (path, _) in EXAMPLES {
            assert!(
                all.iter().any(|(p, _)| p == path),
                "help.rs has examples for unknown command {path:?}"
            );
        }
    }

    #[test]
    fn help_shows_the_examples() {
        let mut cmd = command();
        let help = cmd
            .find_subcommand_mut("image")
            .unwrap()
            .find_subcommand_mut("ls")
            .unwrap()
            .render_help()
            .to_string();
        assert!(
            help.contains("Examples:\n  strata image ls\n  strata image ls -q\n"),
            "{help}"
        );
    }

    #[test]
    fn shell_words() {
        assert_eq!(
            words("strata x -c 'CMD [\"sh\"]' a > f"),
            vec!["strata", "x", "-c", "CMD [\"sh\"]", "a"]
        );
    }
}
