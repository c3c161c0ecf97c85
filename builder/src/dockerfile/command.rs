//! Typed instructions (BuildKit's `instructions` package). Every value here
//! is text as the Dockerfile gives it; expansion produces a second copy with
//! variables replaced (see `Instruction::command` and `Instruction::raw`).

use std::fmt;
use std::time::Duration;

pub use super::lexer::Heredoc;
pub use super::mount::{Mount, MountType, Sharing};

/// A command of RUN, CMD, ENTRYPOINT or HEALTHCHECK CMD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    /// JSON array form: run directly, no shell.
    Exec(Vec<String>),
    /// Shell form: one string given to the SHELL (default `/bin/sh -c`).
    Shell(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// One name of an ARG instruction (`ARG a=1 b` declares two).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    Default,
    None,
    Host,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityMode {
    Sandbox,
    Insecure,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub command: CommandLine,
    /// Heredocs of the command line (`RUN <<EOF ...`), in order.
    pub heredocs: Vec<Heredoc>,
    pub mounts: Vec<Mount>,
    pub network: Option<NetworkMode>,
    pub security: Option<SecurityMode>,
}

/// ADD and COPY. Flags a command does not take are rejected by the parser,
/// so e.g. `checksum` is always `None` for COPY.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Transfer {
    /// Source paths, URLs or git references, in order (heredoc sources excluded).
    pub sources: Vec<String>,
    /// Inline sources written as heredocs (`COPY <<EOF /dst`).
    pub heredocs: Vec<Heredoc>,
    pub dest: String,
    /// `--from=stage|index|image` (COPY only).
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    /// `--parents` (COPY only).
    pub parents: bool,
    pub exclude: Vec<String>,
    /// `--checksum` (ADD only).
    pub checksum: Option<String>,
    /// `--keep-git-dir` (ADD only).
    pub keep_git_dir: bool,
    /// `--unpack` (ADD only; `None` means Docker's default: unpack local archives).
    pub unpack: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable any check inherited from the base image.
    None,
    Check {
        command: CommandLine,
        interval: Option<Duration>,
        timeout: Option<Duration>,
        start_period: Option<Duration>,
        start_interval: Option<Duration>,
        retries: Option<u32>,
    },
}

impl Healthcheck {
    /// The `Test` array of the image config: `["NONE"]`, `["CMD", ...]` or
    /// `["CMD-SHELL", cmd]`.
    pub fn test(&self) -> Vec<String> {
        match self {
            Healthcheck::None => vec!["NONE".into()],
            Healthcheck::Check { command, .. } => match command {
                CommandLine::Exec(v) => std::iter::once("CMD".to_string())
                    .chain(v.iter().cloned())
                    .collect(),
                CommandLine::Shell(s) => vec!["CMD-SHELL".into(), s.clone()],
            },
        }
    }
}

/// `ONBUILD <instruction>`: stored for images built FROM this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Onbuild {
    /// The trigger as written (heredoc bodies appended), what Docker stores
    /// in the image config.
    pub expression: String,
    /// The trigger parsed (not expanded: it runs in the child build).
    pub trigger: Box<Command>,
}

/// An instruction inside a stage (FROM starts a [`super::Stage`] instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run(Run),
    Cmd(CommandLine),
    Entrypoint(CommandLine),
    Shell(Vec<String>),
    Label(Vec<KeyValue>),
    Expose(Vec<String>),
    Env(Vec<KeyValue>),
    Add(Transfer),
    Copy(Transfer),
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    Arg(Vec<ArgDecl>),
    Onbuild(Onbuild),
    StopSignal(String),
    Healthcheck(Healthcheck),
    Maintainer(String),
}

impl Command {
    /// The instruction keyword in upper case.
    pub fn keyword(&self) -> &'static str {
        match self {
            Command::Run(_) => "RUN",
            Command::Cmd(_) => "CMD",
            Command::Entrypoint(_) => "ENTRYPOINT",
            Command::Shell(_) => "SHELL",
            Command::Label(_) => "LABEL",
            Command::Expose(_) => "EXPOSE",
            Command::Env(_) => "ENV",
            Command::Add(_) => "ADD",
            Command::Copy(_) => "COPY",
            Command::Volume(_) => "VOLUME",
            Command::User(_) => "USER",
            Command::Workdir(_) => "WORKDIR",
            Command::Arg(_) => "ARG",
            Command::Onbuild(_) => "ONBUILD",
            Command::StopSignal(_) => "STOPSIGNAL",
            Command::Healthcheck(_) => "HEALTHCHECK",
            Command::Maintainer(_) => "MAINTAINER",
        }
    }
}

/// Quotes a value for display when it would not read back as one word.
fn q(s: &str) -> String {
    if !s.is_empty()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\'')
    {
        return s.to_string();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        if matches!(c, '"' | '\\' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn json(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

impl fmt::Display for CommandLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandLine::Exec(v) => f.write_str(&json(v)),
            CommandLine::Shell(s) => f.write_str(s),
        }
    }
}

fn fmt_duration(d: &Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

impl fmt::Display for Command {
    /// A canonical one-line rendering (`KEYWORD flags args`), used as the
    /// "expanded form" of an instruction.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kw = self.keyword();
        let kvs = |v: &[KeyValue]| {
            v.iter()
                .map(|kv| format!("{}={}", q(&kv.key), q(&kv.value)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        match self {
            Command::Run(r) => {
                write!(f, "RUN")?;
                for m in &r.mounts {
                    write!(f, " --mount={m}")?;
                }
                if let Some(n) = r.network {
                    let n = match n {
                        NetworkMode::Default => "default",
                        NetworkMode::None => "none",
                        NetworkMode::Host => "host",
                    };
                    write!(f, " --network={n}")?;
                }
                if let Some(s) = r.security {
                    let s = match s {
                        SecurityMode::Sandbox => "sandbox",
                        SecurityMode::Insecure => "insecure",
                    };
                    write!(f, " --security={s}")?;
                }
                write!(f, " {}", r.command)
            }
            Command::Cmd(c) | Command::Entrypoint(c) => write!(f, "{kw} {c}"),
            Command::Shell(v) => write!(f, "SHELL {}", json(v)),
            Command::Label(v) | Command::Env(v) => write!(f, "{kw} {}", kvs(v)),
            Command::Expose(v) | Command::Volume(v) => write!(f, "{kw} {}", v.join(" ")),
            Command::Add(t) | Command::Copy(t) => {
                write!(f, "{kw}")?;
                let opt = [
                    ("from", &t.from),
                    ("chown", &t.chown),
                    ("chmod", &t.chmod),
                    ("checksum", &t.checksum),
                ];
                for (name, v) in opt {
                    if let Some(v) = v {
                        write!(f, " --{name}={}", q(v))?;
                    }
                }
                for (name, on) in [
                    ("link", t.link),
                    ("parents", t.parents),
                    ("keep-git-dir", t.keep_git_dir),
                ] {
                    if on {
                        write!(f, " --{name}")?;
                    }
                }
                if let Some(u) = t.unpack {
                    write!(f, " --unpack={u}")?;
                }
                for e in &t.exclude {
                    write!(f, " --exclude={}", q(e))?;
                }
                for s in &t.sources {
                    write!(f, " {}", q(s))?;
                }
                for h in &t.heredocs {
                    write!(f, " <<{}", h.name)?;
                }
                write!(f, " {}", q(&t.dest))
            }
            Command::User(s)
            | Command::Workdir(s)
            | Command::StopSignal(s)
            | Command::Maintainer(s) => {
                write!(f, "{kw} {s}")
            }
            Command::Arg(v) => {
                let parts: Vec<String> = v
                    .iter()
                    .map(|a| match &a.default {
                        Some(d) => format!("{}={}", a.name, q(d)),
                        None => a.name.clone(),
                    })
                    .collect();
                write!(f, "ARG {}", parts.join(" "))
            }
            Command::Onbuild(o) => write!(f, "ONBUILD {}", o.trigger),
            Command::Healthcheck(Healthcheck::None) => write!(f, "HEALTHCHECK NONE"),
            Command::Healthcheck(Healthcheck::Check {
                command,
                interval,
                timeout,
                start_period,
                start_interval,
                retries,
            }) => {
                write!(f, "HEALTHCHECK")?;
                let durations = [
                    ("interval", interval),
                    ("timeout", timeout),
                    ("start-period", start_period),
                    ("start-interval", start_interval),
                ];
                for (name, d) in durations {
                    if let Some(d) = d {
                        write!(f, " --{name}={}", fmt_duration(d))?;
                    }
                }
                if let Some(r) = retries {
                    write!(f, " --retries={r}")?;
                }
                write!(f, " CMD {command}")
            }
        }
    }
}
