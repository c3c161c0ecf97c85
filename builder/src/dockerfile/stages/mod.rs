//! Grouping instructions into stages, ARG/ENV scoping, variable expansion
//! and references between stages (BuildKit's `dockerfile2llb` up to, not
//! including, building anything).
//!
//! Scoping rules (Docker reference, "ARG" and "ENV"):
//! - ARGs before the first FROM are "global": only FROM lines see them,
//!   unless a stage redeclares `ARG NAME` (taking the global value);
//! - `--build-arg` overrides the default of a declared ARG;
//! - ENV of the stage (inherited from a parent stage) wins over an ARG of
//!   the same name;
//! - the proxy args are usable without declaration when given.

use std::collections::{BTreeMap, BTreeSet};

use super::command::{ArgDecl, Command};
use super::diag::{Diagnostics, Sink};
use super::expand::Lexer;
use super::instruction::{FromLine, Parsed, parse_text};
use super::lexer::{RawInstruction, lex};
use super::lint;
mod expand_cmd;
mod links;

use super::{
    Base, Dockerfile, FromRef, Instruction, LineRange, PREDEFINED_ARGS, ParseOptions, Stage,
    reference,
};

const PLATFORM_ARGS: [&str; 8] = [
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETARCH",
    "TARGETVARIANT",
];

fn platform_args(opts: &ParseOptions) -> Vec<(String, Option<String>)> {
    let split = |p: &str| {
        let mut it = p.splitn(3, '/');
        let os = it.next().unwrap_or("").to_string();
        let arch = it.next().unwrap_or("").to_string();
        let variant = it.next().unwrap_or("").to_string();
        (p.to_string(), os, arch, variant)
    };
    let (bp, bos, barch, bvar) = split(&opts.build_platform);
    let (tp, tos, tarch, tvar) = split(&opts.target_platform);
    PLATFORM_ARGS
        .iter()
        .zip([bp, bos, barch, bvar, tp, tos, tarch, tvar])
        .map(|(k, v)| (k.to_string(), Some(v)))
        .collect()
}

/// Where a word is expanded (decides which undefined-variable warning fits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    From,
    GlobalArg,
    Stage,
}

struct Builder<'o> {
    opts: &'o ParseOptions,
    escape: char,
    /// Global args (platform args first, then ARGs before the first FROM).
    meta: Vec<(String, Option<String>)>,
    meta_instrs: Vec<Instruction>,
    stages: Vec<Stage>,
    /// Names of all stages in order, known before the semantic pass so
    /// forward references can be told apart from images.
    names: Vec<(Option<String>, usize)>,
    /// Args declared in the current stage with their values.
    args: Vec<(String, Option<String>)>,
    declared: Vec<BTreeSet<String>>,
    meta_declared: BTreeSet<String>,
    deps: Vec<BTreeSet<usize>>,
    /// Whether the base environment of the current stage is fully known.
    env_known: bool,
    seen_once: Vec<BTreeSet<&'static str>>,
    /// Whether the current stage has set an absolute WORKDIR (or inherits
    /// one from a parent stage).
    abs_workdir: Vec<bool>,
    missing_stage_reported: bool,
}

fn lookup<'a>(
    list: &'a [(String, Option<String>)],
    name: &str,
) -> Option<&'a (String, Option<String>)> {
    list.iter().rev().find(|(k, _)| k == name)
}

impl Builder<'_> {
    /// Variables visible to a stage instruction: declared ARGs, then ENV.
    /// Undeclared proxy args are not among them: BuildKit passes those to
    /// RUN's environment only (they are in [`Instruction::args`]).
    fn vars(&self) -> BTreeMap<String, String> {
        let mut m: BTreeMap<String, String> = self
            .args
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        if let Some(st) = self.stages.last() {
            m.extend(st.env.iter().cloned());
        }
        m
    }

    fn in_scope_args(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = PREDEFINED_ARGS
            .iter()
            .filter_map(|k| {
                self.opts
                    .build_args
                    .get(*k)
                    .map(|v| (k.to_string(), v.clone()))
            })
            .collect();
        for (k, v) in &self.args {
            out.retain(|(o, _)| o != k);
            if let Some(v) = v {
                out.push((k.clone(), v.clone()));
            }
        }
        out
    }

    fn meta_vars(&self) -> BTreeMap<String, String> {
        self.meta
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect()
    }

    /// Expands `word`, reporting errors at its place in the instruction.
    fn expand(
        &self,
        sink: &mut Sink,
        raw: &RawInstruction,
        word: &str,
        vars: &BTreeMap<String, String>,
        scope: Scope,
    ) -> Option<String> {
        let at = locate(raw, word);
        match Lexer::new(self.escape).word_tracked(word, vars) {
            Err(e) => {
                sink.error(at, format!("failed to process {word:?}: {}", e.message));
                None
            }
            Ok((v, missing)) => {
                for name in missing {
                    if scope == Scope::Stage
                        && lookup(&self.meta, &name).is_some()
                        && !PLATFORM_ARGS.contains(&name.as_str())
                    {
                        sink.warn(
                            at,
                            format!(
                                "${name} is a global ARG (declared before the first FROM) and is empty here: add `ARG {name}` to this stage to use it"
                            ),
                        );
                    } else if scope == Scope::From {
                        sink.warn(
                            at,
                            format!("FROM argument '{name}' is not declared (UndefinedArgInFrom)"),
                        );
                    } else if scope == Scope::Stage && self.env_known {
                        sink.warn(
                            at,
                            format!("Usage of undefined variable '${name}' (UndefinedVar)"),
                        );
                    }
                }
                Some(v)
            }
        }
    }

    fn start_stage(&mut self, sink: &mut Sink, raw: &RawInstruction, f: &FromLine) {
        let index = self.stages.len();
        let meta = self.meta_vars();
        let expanded = self.expand(sink, raw, &f.base, &meta, Scope::From);
        let failed = expanded.is_none();
        let base_name = expanded.unwrap_or_default();
        let platform = f
            .platform
            .as_ref()
            .and_then(|p| self.expand(sink, raw, p, &meta, Scope::From));
        if let Some(p) = &f.platform {
            lint::from_platform(sink, p, locate(raw, "--platform"));
        }
        let at = locate(raw, &f.base);
        let lower = base_name.to_ascii_lowercase();
        let earlier = self.names[..index]
            .iter()
            .find(|(n, _)| n.as_deref() == Some(lower.as_str()))
            .map(|(_, i)| *i);
        let later = self.names[index + 1..]
            .iter()
            .any(|(n, _)| n.as_deref() == Some(lower.as_str()));
        let base = if base_name.is_empty() {
            if !failed {
                sink.error(at, format!("base name ({}) should not be blank", f.base));
            }
            Base::Image(String::new())
        } else if let Some(i) = earlier {
            Base::Stage(i)
        } else if later {
            sink.error(at, format!("stage {lower:?} is used before it is defined"));
            Base::Image(base_name.clone())
        } else if lower == "scratch" {
            Base::Scratch
        } else {
            if let Err(e) = reference::validate(&base_name) {
                sink.error(at, format!("{e}: {base_name:?}"));
            }
            Base::Image(base_name.clone())
        };
        if let Some(name) = &f.name {
            if self.names[..index]
                .iter()
                .any(|(n, _)| n.as_ref() == Some(name))
            {
                sink.error(locate(raw, name), format!("duplicate stage name {name:?}"));
            }
            if name == "scratch" || name == "context" {
                sink.warn(
                    locate(raw, name),
                    format!("{name:?} is a reserved stage name (ReservedStageName)"),
                );
            }
        }
        let (env, known) = match &base {
            Base::Stage(i) => (self.stages[*i].env.clone(), true),
            Base::Scratch => (Vec::new(), true),
            Base::Image(r) => match self.opts.base_env.get(r) {
                Some(e) => (e.clone(), true),
                None => (Vec::new(), false),
            },
        };
        let mut deps = BTreeSet::new();
        if let Base::Stage(i) = base {
            deps.insert(i);
        }
        self.deps.push(deps);
        self.declared.push(BTreeSet::new());
        self.seen_once.push(BTreeSet::new());
        let inherited = match base {
            Base::Stage(i) => self.abs_workdir.get(i).copied().unwrap_or(false),
            _ => false,
        };
        self.abs_workdir.push(inherited);
        self.args.clear();
        self.env_known = known;
        self.stages.push(Stage {
            index,
            name: f.name.clone(),
            base_raw: f.base.clone(),
            base_name,
            base,
            platform,
            lines: LineRange {
                start: raw.start_line,
                end: raw.end_line,
            },
            original: raw.text.s.clone(),
            instructions: Vec::new(),
            env,
        });
    }

    /// Declares ARGs (global or in the current stage); returns the expanded decls.
    fn declare_args(
        &mut self,
        sink: &mut Sink,
        raw: &RawInstruction,
        decls: &[ArgDecl],
        global: bool,
    ) -> Vec<ArgDecl> {
        let mut out = Vec::new();
        for d in decls {
            let vars = if global {
                self.meta_vars()
            } else {
                self.vars()
            };
            let default = d.default.as_ref().and_then(|v| {
                self.expand(
                    sink,
                    raw,
                    v,
                    &vars,
                    if global {
                        Scope::GlobalArg
                    } else {
                        Scope::Stage
                    },
                )
            });
            let value = match self.opts.build_args.get(&d.name) {
                Some(b) => Some(b.clone()),
                None if default.is_some() => default.clone(),
                None if !global => lookup(&self.meta, &d.name).and_then(|(_, v)| v.clone()),
                None => None,
            };
            if global {
                self.meta.push((d.name.clone(), value));
                self.meta_declared.insert(d.name.clone());
            } else {
                self.args.push((d.name.clone(), value));
                if let Some(set) = self.declared.last_mut() {
                    set.insert(d.name.clone());
                }
            }
            out.push(ArgDecl {
                name: d.name.clone(),
                default,
            });
        }
        out
    }

    fn command(&mut self, sink: &mut Sink, raw: &RawInstruction, cmd: Command) {
        let kw_at = raw.text.src(0);
        if self.stages.is_empty() {
            if let Command::Arg(decls) = &cmd {
                let expanded = Command::Arg(self.declare_args(sink, raw, decls, true));
                let inst = self.instruction(raw, cmd, expanded);
                self.meta_instrs.push(inst);
            } else if !self.missing_stage_reported {
                self.missing_stage_reported = true;
                sink.error(
                    kw_at,
                    format!(
                        "no build stage in current context: {} before the first FROM (only ARG may come before FROM)",
                        cmd.keyword()
                    ),
                );
            }
            return;
        }
        let kw = cmd.keyword();
        let once = matches!(kw, "CMD" | "ENTRYPOINT" | "HEALTHCHECK");
        let repeated = once
            && self
                .seen_once
                .last_mut()
                .is_some_and(|seen| !seen.insert(kw));
        if repeated {
            sink.warn(
                kw_at,
                format!(
                    "Multiple {kw} instructions should not be used in the same stage because only the last one will be used (MultipleInstructionsDisallowed)"
                ),
            );
        }
        let expanded = match &cmd {
            Command::Arg(decls) => Command::Arg(self.declare_args(sink, raw, decls, false)),
            _ => self.expand_command(sink, raw, &cmd),
        };
        let mut inst = self.instruction(raw, cmd, expanded);
        let mut deps = Vec::new();
        match &inst.command {
            Command::Copy(t) => {
                if let Some(f) = t.from.as_deref().filter(|f| !f.is_empty()) {
                    inst.copy_from = self.resolve_from(sink, f, locate(raw, "--from"));
                }
            }
            Command::Run(r) => {
                for m in &r.mounts {
                    let f = m.from.as_deref().filter(|f| !f.is_empty());
                    inst.mount_from
                        .push(f.and_then(|f| self.resolve_from(sink, f, locate(raw, "from="))));
                }
            }
            Command::Workdir(path) => {
                let windows_abs = path.get(1..3).is_some_and(|s| s.starts_with(':'));
                let absolute = path.starts_with('/') || path.starts_with('\\') || windows_abs;
                if let Some(abs) = self.abs_workdir.last_mut() {
                    if absolute {
                        *abs = true;
                    } else if !*abs {
                        lint::relative_workdir(sink, path, locate(raw, path));
                    }
                }
            }
            Command::Env(kvs) => {
                if let Some(st) = self.stages.last_mut() {
                    for kv in kvs {
                        st.env.retain(|(k, _)| *k != kv.key);
                        st.env.push((kv.key.clone(), kv.value.clone()));
                    }
                }
            }
            _ => {}
        }
        deps.extend(
            inst.copy_from
                .iter()
                .chain(inst.mount_from.iter().flatten())
                .filter_map(|f| match f {
                    FromRef::Stage(i) => Some(*i),
                    FromRef::Image(_) => None,
                }),
        );
        if let Some(d) = self.deps.last_mut() {
            d.extend(deps);
        }
        if let Some(st) = self.stages.last_mut() {
            st.instructions.push(inst);
        }
    }

    fn instruction(&self, raw: &RawInstruction, cmd: Command, expanded: Command) -> Instruction {
        Instruction {
            expanded: expanded.to_string(),
            command: expanded,
            raw: cmd,
            lines: LineRange {
                start: raw.start_line,
                end: raw.end_line,
            },
            original: raw.text.s.clone(),
            args: self.in_scope_args(),
            copy_from: None,
            mount_from: Vec::new(),
            comments: raw.comments.clone(),
            onbuild: false,
        }
    }
}

/// Source offset of `needle` in the instruction (its start when not found).
fn locate(raw: &RawInstruction, needle: &str) -> usize {
    raw.text
        .s
        .find(needle)
        .filter(|_| !needle.is_empty())
        .map_or(raw.text.src(0), |i| raw.text.src(i))
}

pub(crate) fn build(text: &str, opts: &ParseOptions) -> Result<Dockerfile, Diagnostics> {
    let mut sink = Sink::new(&opts.file_name, text);
    let (directives, raws) = lex(&mut sink, text);
    if raws.is_empty() && !sink.has_errors() {
        let last = sink.map.line(text.len().saturating_sub(1));
        sink.error_at_line(last, "file with no instructions");
    }
    let parsed: Vec<(&RawInstruction, Parsed)> = raws
        .iter()
        .filter_map(|r| {
            parse_text(&mut sink, &r.text, &r.heredocs, directives.escape).map(|p| (r, p))
        })
        .collect();
    let names = parsed
        .iter()
        .filter_map(|(_, p)| match p {
            Parsed::From(f) => Some(f.name.clone()),
            Parsed::Command(_) => None,
        })
        .enumerate()
        .map(|(i, n)| (n, i))
        .collect();
    let mut b = Builder {
        opts,
        escape: directives.escape,
        meta: platform_args(opts),
        meta_instrs: Vec::new(),
        stages: Vec::new(),
        names,
        args: Vec::new(),
        declared: Vec::new(),
        meta_declared: BTreeSet::new(),
        deps: Vec::new(),
        env_known: false,
        seen_once: Vec::new(),
        abs_workdir: Vec::new(),
        missing_stage_reported: false,
    };
    for (raw, p) in parsed {
        match p {
            Parsed::From(f) => {
                b.start_stage(&mut sink, raw, &f);
                b.onbuild_triggers(&mut sink, raw);
            }
            Parsed::Command(c) => b.command(&mut sink, raw, c),
        }
    }
    if b.stages.is_empty() && !sink.has_errors() {
        let last = sink.map.line(text.len().saturating_sub(1));
        sink.error_at_line(
            last,
            "no build stage in current context: the Dockerfile has no FROM",
        );
    }
    let target = match &opts.target {
        None => b.stages.len().saturating_sub(1),
        Some(t) => {
            let lower = t.to_ascii_lowercase();
            match b
                .stages
                .iter()
                .position(|s| s.name.as_deref() == Some(lower.as_str()))
            {
                Some(i) => i,
                None => {
                    if !b.stages.is_empty() {
                        sink.error_at_line(1, format!("target stage {t:?} could not be found"));
                    }
                    0
                }
            }
        }
    };
    let mut needed = BTreeSet::new();
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if i < b.stages.len() && needed.insert(i) {
            todo.extend(b.deps[i].iter().copied());
        }
    }
    let mut diags = Diagnostics(sink.diags);
    if let Some(check) = &directives.check {
        lint::apply_check_directive(check, &mut diags.0);
    }
    diags.sort();
    if diags.has_errors() {
        return Err(diags);
    }
    let declared: BTreeSet<&String> = needed
        .iter()
        .flat_map(|&i| b.declared[i].iter())
        .chain(b.meta_declared.iter())
        .collect();
    let unused_build_args = opts
        .build_args
        .keys()
        .filter(|k| {
            !declared.contains(k)
                && !PREDEFINED_ARGS.contains(&k.as_str())
                && !PLATFORM_ARGS.contains(&k.as_str())
        })
        .cloned()
        .collect();
    Ok(Dockerfile {
        directives,
        meta_args: b.meta_instrs,
        stages: b.stages,
        target,
        needed: needed.into_iter().collect(),
        unused_build_args,
        warnings: diags.0,
    })
}
