//! `strata image build` without `--check`: runs the executor and renders
//! its events like BuildKit's plain progress (on stderr).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use builder::build::{self, BuildError, BuildOptions, Event};
use builder::dockerfile::ParseOptions;
use builder::store::Reference;

use super::build::BuildArgs;
use super::build_progress::{FRAME, TtyView};
use crate::commands::context::open_store;
use crate::commands::style;

/// Renders events. `quiet` prints nothing; plain prints one line per
/// event; tty hands them to a [`TtyView`] (shared with the ticker thread
/// that makes the elapsed time move while a step prints nothing).
struct Progress {
    quiet: bool,
    tty: Option<Arc<Mutex<Live>>>,
    /// The running step's header, for error reports.
    current: String,
}

/// The tty view and the clock it runs on.
struct Live {
    view: TtyView,
    start: Instant,
}

impl Live {
    fn write(s: &str) {
        if !s.is_empty() {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(s.as_bytes());
            let _ = err.flush();
        }
    }
}

/// Width of the terminal on stderr (`COLUMNS` wins), minus one column so
/// that a full line never wraps.
fn tty_width() -> usize {
    let cols = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .or_else(|| {
            use std::os::fd::AsFd;
            builder::runtime::tty::columns(std::io::stderr().as_fd()).map(usize::from)
        })
        .unwrap_or(80);
    cols.saturating_sub(1).max(20)
}

/// Redraws the live area while a build runs (the elapsed time ticks).
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    fn start(live: Arc<Mutex<Live>>) -> Ticker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(FRAME);
                if let Ok(mut l) = live.lock() {
                    let now = l.start.elapsed();
                    let out = l.view.tick(now);
                    Live::write(&out);
                }
            }
        });
        Ticker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Progress {
    fn event(&mut self, e: Event) {
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
        match &self.tty {
            Some(live) => {
                if let Ok(mut l) = live.lock() {
                    let now = l.start.elapsed();
                    let out = l.view.event(&e, &self.current, now);
                    Live::write(&out);
                }
            }
            None => self.plain_event(e),
        }
    }

    /// Ends the live area (before anything else is printed).
    fn finish(&self) {
        if let Some(live) = &self.tty
            && let Ok(mut l) = live.lock()
        {
            let now = l.start.elapsed();
            let out = l.view.finish(now);
            Live::write(&out);
        }
    }

    fn plain_event(&mut self, e: Event) {
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
    for spec in &args.secrets {
        let (id, source) =
            build::parse_secret(spec).map_err(|e| anyhow::anyhow!("--secret: {e}"))?;
        opts.secrets.insert(id, source);
    }
    watch_signals()?;
    let store = open_store(root)?;
    let quiet = args.quiet || args.progress == "quiet";
    // Progress goes to stderr, so `auto` means tty when stderr is one.
    let tty = !quiet
        && (args.progress == "tty" || (args.progress == "auto" && std::io::stderr().is_terminal()));
    let mut progress = Progress {
        quiet,
        tty: tty.then(|| {
            Arc::new(Mutex::new(Live {
                view: TtyView::new(tty_width(), style::stderr_color()),
                start: Instant::now(),
            }))
        }),
        current: String::new(),
    };
    let ticker = progress.tty.clone().map(Ticker::start);
    let result = build::build(&store, &opts, &mut |e| progress.event(e));
    drop(ticker);
    progress.finish();
    let built = match result {
        Ok(b) => b,
        Err(e) => {
            if let BuildError::RunFailed { tail, .. } = &e {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "------\n > {}:", progress.current);
                for l in tail {
                    let _ = writeln!(err, "{l}");
                }
                let _ = writeln!(err, "------");
            }
            return Err(e.into());
        }
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
