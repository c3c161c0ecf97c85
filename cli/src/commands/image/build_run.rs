//! `strata image build` without `--check`: runs the executor and renders
//! its events like BuildKit's plain progress (on stderr).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use builder::build::{self, BuildError, BuildOptions, Event};
use builder::dockerfile::ParseOptions;
use builder::store::Reference;

use super::build::BuildArgs;
use crate::commands::context::open_store;
use crate::commands::style::{self, dim};

/// Renders events. `quiet` prints nothing; plain prints one line per
/// event; tty folds a finished step (its header and output) into one line.
struct Progress {
    quiet: bool,
    tty: bool,
    /// The running step's header, for error reports.
    current: String,
    /// Terminal lines printed for the running step (tty mode).
    printed: usize,
    /// Step output dimmed (a terminal, no NO_COLOR; see `style`).
    color: bool,
}

/// Longest output line shown in tty mode, so that folding (which counts
/// lines) is not confused by wrapping.
fn tty_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(80)
        .saturating_sub(1)
        .max(20)
}

impl Progress {
    fn event(&mut self, e: Event) {
        if self.tty && !self.quiet {
            return self.tty_event(e);
        }
        self.plain_event(e);
    }

    /// tty: `#N [i/n] TEXT ...` while running, output indented below it;
    /// when the step ends, all of that is replaced by one line.
    fn tty_event(&mut self, e: Event) {
        let mut err = std::io::stderr().lock();
        match e {
            Event::Step { .. } => {
                self.plain_event(e);
                self.printed = 1;
            }
            Event::Output { line, .. } | Event::Miss { reason: line, .. } => {
                let line: String = line.chars().take(tty_width() - 2).collect();
                let _ = writeln!(err, "{}", dim(&format!("  {line}"), self.color));
                self.printed += 1;
            }
            Event::Cached { step } | Event::Done { step, .. } => {
                let verdict = match e {
                    Event::Done { secs, .. } => format!("DONE {secs:.1}s"),
                    _ => "CACHED".to_string(),
                };
                if self.printed > 0 {
                    // Up to the step's header, clear to the end of the screen.
                    let _ = write!(err, "\x1b[{}F\x1b[J", self.printed);
                }
                let _ = writeln!(err, "#{step} {} {verdict}", self.current);
                self.printed = 0;
            }
            other => {
                drop(err);
                self.plain_event(other);
            }
        }
    }

    fn plain_event(&mut self, e: Event) {
        if let Event::Step {
            stage,
            index,
            total,
            text,
            ..
        } = &e
        {
            self.current = match stage {
                Some(s) => format!("[{s} {index}/{total}] {text}"),
                None => format!("[{index}/{total}] {text}"),
            };
        }
        if self.quiet {
            return;
        }
        let line = match e {
            Event::Step { step, .. } => format!("#{step} {}", self.current),
            Event::Output { step, line } => format!("#{step} {line}"),
            Event::Miss { step, reason } => format!("#{step} cache miss: {reason}"),
            Event::Cached { step } => format!("#{step} CACHED"),
            Event::Done { step, secs } => format!("#{step} DONE {secs:.1}s"),
            Event::Explain { step, explanation } => match explanation.hit {
                Some(id) => format!("#{step} CACHED ({})", id.short()),
                None => format!("#{step} cache miss: {}", explanation.reason),
            },
            Event::Warning(w) => w,
        };
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
    }
}

/// `--label K=V` values.
fn labels(raw: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    raw.iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            if k.is_empty() {
                anyhow::bail!("invalid label {l:?}: empty key");
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

/// SOURCE_DATE_EPOCH from `--build-arg` or the environment.
fn source_date_epoch(parse: &ParseOptions) -> anyhow::Result<Option<i64>> {
    let raw = parse
        .build_args
        .get("SOURCE_DATE_EPOCH")
        .cloned()
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok());
    raw.filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i64>()
                .with_context(|| format!("invalid SOURCE_DATE_EPOCH {s:?}"))
        })
        .transpose()
}

pub fn build(
    args: &BuildArgs,
    root: &Path,
    text: String,
    dockerfile: Option<PathBuf>,
    parse: ParseOptions,
) -> anyhow::Result<i32> {
    // Names are checked before anything runs, as Docker does.
    let tags = args
        .tags
        .iter()
        .map(|t| Reference::parse_tagged(t).with_context(|| format!("invalid tag {t:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut opts =
        BuildOptions::new(std::env::current_exe().context("locating the strata binary")?);
    opts.context = args.context.clone();
    opts.dockerfile_text = text;
    opts.dockerfile_path = dockerfile;
    opts.source_date_epoch = source_date_epoch(&parse)?;
    opts.parse = parse;
    opts.no_cache = args.no_cache;
    opts.labels = labels(&args.labels)?;
    opts.explain_only = args.explain;
    opts.network_none = args.network == "none";
    watch_signals()?;
    let store = open_store(root)?;
    let mut progress = Progress {
        quiet: args.quiet || args.progress == "quiet",
        tty: args.progress == "tty" || (args.progress == "auto" && std::io::stderr().is_terminal()),
        current: String::new(),
        printed: 0,
        color: style::stderr_color(),
    };
    let built = match build::build(&store, &opts, &mut |e| progress.event(e)) {
        Ok(b) => b,
        Err(BuildError::RunFailed {
            line,
            command,
            code,
            tail,
        }) => {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "------\n > {}:", progress.current);
            for l in &tail {
                let _ = writeln!(err, "{l}");
            }
            let _ = writeln!(err, "------");
            drop(err);
            anyhow::bail!(
                "Dockerfile:{line}: process \"{command}\" did not complete successfully: exit code: {code}"
            );
        }
        Err(e) => return Err(e.into()),
    };
    let Some(image) = built.image else {
        return Ok(0);
    };
    for t in &tags {
        store.tag(t, &image)?;
    }
    if let Some(f) = &args.iidfile {
        std::fs::write(f, image.as_str()).with_context(|| format!("writing {}", f.display()))?;
    }
    if progress.quiet {
        println!("{image}");
    } else {
        let names: Vec<String> = tags
            .iter()
            .map(|t| t.familiar_name() + ":" + t.tag().unwrap_or("latest"))
            .collect();
        let mut line = format!("writing image {image} done");
        if !names.is_empty() {
            line.push_str(&format!(", naming to {}", names.join(", ")));
        }
        eprintln!("{line} ({} cached, {} run)", built.cached, built.ran);
    }
    Ok(0)
}

/// SIGINT/SIGTERM/SIGHUP cancel the build cleanly: they are blocked here,
/// before any thread starts (so every thread inherits the mask; children
/// get a clean mask from `Command`), and a thread waits for them and asks
/// the executor to stop, which unwinds through the mount and staging guards.
fn watch_signals() -> anyhow::Result<()> {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(s);
    }
    set.thread_block().context("blocking signals")?;
    std::thread::spawn(move || {
        while set.wait().is_ok() {
            build::interrupt();
        }
    });
    Ok(())
}
