//! The Dockerfile language: text -> typed stages and instructions, with
//! Docker's semantics and exact error locations. No I/O besides
//! [`parse_file`] reading the file.
//!
//! Two stages, like BuildKit (`frontend/dockerfile/parser`, then
//! `instructions/parse.go`):
//! 1. `lexer`: parser directives, comments, continuations, heredocs ->
//!    logical lines that remember the source position of every byte;
//! 2. `instruction`: each logical line -> a typed [`Command`];
//!
//! then `stages` groups them into [`Stage`]s, applies ARG/ENV scoping and
//! variable expansion ([`expand`]), resolves `--from` and FROM references
//! between stages and computes which stages a `--target` needs.
//!
//! # API for the build executor
//! ```
//! use builder::dockerfile::{parse, Command, ParseOptions};
//! let df = parse("FROM alpine AS base\nARG V=1\nRUN echo $V\n", &ParseOptions::default()).unwrap();
//! let stage = &df.stages[df.target];
//! assert_eq!(stage.base_name, "alpine");
//! assert!(matches!(stage.instructions[1].command, Command::Run(_)));
//! ```
//! - [`parse`] / [`parse_file`] -> [`Dockerfile`] or every error as [`Diagnostics`].
//! - [`Dockerfile::needed`] lists the stages to build for the target, in order.
//! - [`Instruction::command`] is expanded (what to execute), [`Instruction::raw`]
//!   is as written, [`Instruction::args`] are the build args in scope (they
//!   go into RUN's environment and the cache key).
//! - [`expand::expand`] expands one word, e.g. with the base image's
//!   environment, which the parser cannot know unless given in
//!   [`ParseOptions::base_env`].
//! - [`ParseOptions::base_onbuild`]: the base images' ONBUILD triggers,
//!   inserted after their FROM (flagged [`Instruction::onbuild`]). A typical
//!   executor parses once, resolves the base images, then parses again with
//!   `base_env` and `base_onbuild` filled in.
//! - [`Instruction::copy_from`] / [`Instruction::mount_from`]: `--from`
//!   resolved to an earlier stage or an image.
//! - [`ignore::Matcher`] applies `.dockerignore` rules
//!   ([`ignore::Matcher::load`] picks `<Dockerfile>.dockerignore` or
//!   `<context>/.dockerignore`).

pub mod command;
mod diag;
pub mod expand;
mod flags;
pub mod ignore;
mod instruction;
mod instruction_args;
mod lexer;
mod lint;
mod mount;
pub mod reference;
mod shellpattern;
mod stages;
mod text;
mod validate;
mod words;

use std::collections::BTreeMap;
use std::path::Path;

pub use command::{
    ArgDecl, Command, CommandLine, Healthcheck, KeyValue, Mount, MountType, NetworkMode, Onbuild,
    Run, SecurityMode, Sharing, Transfer,
};
pub use diag::{Diagnostic, Diagnostics, Severity};
pub use instruction::KEYWORDS;
pub(crate) use lexer::parse_heredoc_word;
pub use lexer::{Directives, Heredoc};

/// Args Docker defines without an ARG instruction (they can be set with
/// `--build-arg` and are then visible in every stage).
pub const PREDEFINED_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// How to parse: the equivalent of `docker build`'s flags that change what
/// the Dockerfile means.
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// Name shown in diagnostics (`Dockerfile` by default).
    pub file_name: String,
    /// `--build-arg NAME=VALUE`.
    pub build_args: BTreeMap<String, String>,
    /// `--target STAGE` (default: the last stage).
    pub target: Option<String>,
    /// The platform being built for, `os/arch[/variant]` (TARGETPLATFORM);
    /// defaults to the machine's.
    pub target_platform: String,
    /// The platform building (BUILDPLATFORM); defaults to the machine's.
    pub build_platform: String,
    /// Environment of base images, by the image reference as written after
    /// expansion; used to expand instructions of stages built on them.
    pub base_env: BTreeMap<String, Vec<(String, String)>>,
    /// ONBUILD triggers of base images (their config's `OnBuild`), by the
    /// image reference as written after expansion. Docker runs them right
    /// after the FROM that uses the image; the parser inserts them there.
    pub base_onbuild: BTreeMap<String, Vec<String>>,
}

/// `linux/amd64`-style name of the machine this runs on.
pub fn host_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "arm" => "arm/v7",
        other => other,
    };
    format!("linux/{arch}")
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            file_name: "Dockerfile".into(),
            build_args: BTreeMap::new(),
            target: None,
            target_platform: host_platform(),
            build_platform: host_platform(),
            base_env: BTreeMap::new(),
            base_onbuild: BTreeMap::new(),
        }
    }
}

/// Lines `start..=end` (1-based) of the source an instruction spans,
/// continuation and heredoc lines included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineRange {
    pub start: usize,
    pub end: usize,
}

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// `FROM scratch`: an empty filesystem.
    Scratch,
    /// An earlier stage, by index.
    Stage(usize),
    /// An image reference (syntax checked, not resolved).
    Image(String),
}

/// A source of files for `COPY --from` or `RUN --mount=from=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromRef {
    Stage(usize),
    Image(String),
}

/// One instruction of a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// After variable expansion (only where Docker expands), quotes removed.
    pub command: Command,
    /// As written.
    pub raw: Command,
    pub lines: LineRange,
    /// The instruction's text as written, continuation lines joined
    /// (comments and the escape characters of continuations removed).
    pub original: String,
    /// `command` rendered as one line.
    pub expanded: String,
    /// Build args in scope with a value (declared by ARG or predefined and
    /// given), as they are when this instruction runs.
    pub args: Vec<(String, String)>,
    /// `--from` of COPY, resolved.
    pub copy_from: Option<FromRef>,
    /// `from=` of each RUN mount, resolved (same order as the mounts).
    pub mount_from: Vec<Option<FromRef>>,
    /// Comment lines right above the instruction, without `#`.
    pub comments: Vec<String>,
    /// Inserted from an ONBUILD trigger of the base image
    /// ([`ParseOptions::base_onbuild`]); `lines` are then the FROM's.
    pub onbuild: bool,
}

/// A build stage: a FROM line and the instructions up to the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub index: usize,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// The base as written after FROM.
    pub base_raw: String,
    /// The base after expansion with the global ARGs.
    pub base_name: String,
    pub base: Base,
    /// `--platform`, expanded.
    pub platform: Option<String>,
    /// Lines of the FROM instruction.
    pub lines: LineRange,
    pub original: String,
    pub instructions: Vec<Instruction>,
    /// ENV of the stage at its end, inherited from a parent stage (or from
    /// [`ParseOptions::base_env`]) plus its own ENV instructions.
    pub env: Vec<(String, String)>,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub directives: Directives,
    /// ARG instructions before the first FROM (usable in FROM lines).
    pub meta_args: Vec<Instruction>,
    pub stages: Vec<Stage>,
    /// Index of the stage `--target` selects (the last one by default).
    pub target: usize,
    /// The stages the target needs (itself included), ascending: the build order.
    pub needed: Vec<usize>,
    /// `--build-arg`s no ARG of a needed stage declares (Docker warns about them).
    pub unused_build_args: Vec<String>,
    pub warnings: Vec<Diagnostic>,
}

impl Dockerfile {
    /// The stage with this name (case-insensitive) or index.
    pub fn stage(&self, name_or_index: &str) -> Option<&Stage> {
        let lower = name_or_index.to_ascii_lowercase();
        self.stages
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| {
                name_or_index
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| self.stages.get(i))
            })
    }
}

/// Parses a Dockerfile. Errors: every error and warning, in source order.
pub fn parse(text: &str, opts: &ParseOptions) -> Result<Dockerfile, Diagnostics> {
    stages::build(text, opts)
}

/// Errors of [`parse_file`].
#[derive(Debug, thiserror::Error)]
pub enum ParseFileError {
    #[error("reading {path}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// Reads and parses a file; `opts.file_name` is replaced by `path`.
pub fn parse_file(path: &Path, opts: &ParseOptions) -> Result<Dockerfile, ParseFileError> {
    let bytes = std::fs::read(path).map_err(|source| ParseFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let mut opts = opts.clone();
    opts.file_name = path.display().to_string();
    parse(&text, &opts).map_err(ParseFileError::Invalid)
}
