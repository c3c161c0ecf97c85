//! The build executor: runs a parsed Dockerfile against the store, one
//! image per instruction, with a per-instruction cache whose misses explain
//! themselves.
//!
//! API (what `strata image build` calls):
//! ```ignore
//! let opts = BuildOptions { context, dockerfile_text, parse, ..BuildOptions::new(init) };
//! let built = builder::build::build(&store, &opts, &mut |event| print(event))?;
//! store.tag(&reference, &built.image)?;
//! ```
//! Every step yields an image (the classic builder's intermediate images),
//! so a cache hit is just "reuse that image". Nothing is printed here: the
//! caller renders [`Event`]s.

mod cache;
mod config;
mod context;
mod copy;
mod error;
mod fsutil;
mod heredoc;
mod interrupt;
mod mounts;
mod run;
mod run_step;
mod stage;
mod transfer;
mod view;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::dockerfile::{self, Base, Dockerfile, ParseOptions};
use crate::store::{ImageId, Store};

pub use cache::{Explanation, Inputs};
pub use context::unpack_context;
pub use error::{BuildError, Result};
pub use interrupt::interrupt;
pub use mounts::{SecretSource, parse_secret};

/// What to build and how.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The build context directory.
    pub context: PathBuf,
    /// Dockerfile text and the path it came from (None for stdin), used for
    /// `<Dockerfile>.dockerignore`.
    pub dockerfile_text: String,
    pub dockerfile_path: Option<PathBuf>,
    /// Build args, target, platform, file name for diagnostics.
    pub parse: ParseOptions,
    /// `--no-cache`: run every step (results are still recorded).
    pub no_cache: bool,
    /// `--label`: added to the final image's config.
    pub labels: BTreeMap<String, String>,
    /// The strata binary: RUN steps re-execute it as the container init.
    pub init_program: PathBuf,
    /// `SOURCE_DATE_EPOCH`: fixed history/config times, file times clamped.
    pub source_date_epoch: Option<i64>,
    /// `--network=none`: every RUN without network (`RUN --network` wins).
    pub network_none: bool,
    /// `--explain`: compute every step's key and compare it with the
    /// catalog, without running anything.
    pub explain_only: bool,
    /// `--secret id=X,src=FILE`: what `RUN --mount=type=secret` mounts.
    pub secrets: BTreeMap<String, SecretSource>,
}

impl BuildOptions {
    pub fn new(init_program: PathBuf) -> Self {
        BuildOptions {
            context: PathBuf::from("."),
            dockerfile_text: String::new(),
            dockerfile_path: None,
            parse: ParseOptions::default(),
            no_cache: false,
            labels: BTreeMap::new(),
            init_program,
            source_date_epoch: None,
            network_none: false,
            explain_only: false,
            secrets: BTreeMap::new(),
        }
    }
}

/// Progress of a build, in order. `step` numbers are BuildKit's `#N`.
#[derive(Debug, Clone)]
pub enum Event {
    /// A step starts: `#N [stage i/n] INSTRUCTION`.
    Step {
        step: usize,
        stage: Option<String>,
        index: usize,
        total: usize,
        text: String,
    },
    /// A line the step's process printed.
    Output { step: usize, line: String },
    /// Why the cache could not be used for this step (first miss only).
    Miss { step: usize, reason: String },
    /// The step's result came from the cache.
    Cached { step: usize },
    /// The step ran, in `secs` seconds.
    Done { step: usize, secs: f64 },
    /// `--explain`: the comparison of one step with the catalog.
    Explain {
        step: usize,
        explanation: Explanation,
    },
    /// A warning (unused build args, parser warnings).
    Warning(String),
}

/// The result of a build.
#[derive(Debug, Clone)]
pub struct Built {
    /// The target stage's final image (None with `explain_only`).
    pub image: Option<ImageId>,
    /// Steps taken from the cache / run.
    pub cached: usize,
    pub ran: usize,
}

/// Builds the Dockerfile: parses it (twice: the second time with the base
/// images' environments and ONBUILD triggers), builds the needed stages in
/// order, and returns the target's image. Tags are the caller's business.
pub fn build(store: &Store, opts: &BuildOptions, events: &mut dyn FnMut(Event)) -> Result<Built> {
    let first = parse(opts, &opts.parse)?;
    let mut popts = opts.parse.clone();
    for stage in &first.stages {
        if let Base::Image(name) = &stage.base
            && first.needed.contains(&stage.index)
        {
            let image = store
                .resolve_image(name)
                .map_err(|source| BuildError::BaseImage {
                    name: name.clone(),
                    line: stage.lines.start,
                    source,
                })?;
            popts
                .base_env
                .insert(name.clone(), config::env_pairs(&image.config.config.env));
            if !image.config.config.on_build.is_empty() {
                popts
                    .base_onbuild
                    .insert(name.clone(), image.config.config.on_build.clone());
            }
        }
    }
    let df = parse(opts, &popts)?;
    for w in &df.warnings {
        events(Event::Warning(w.to_string()));
    }
    // SOURCE_DATE_EPOCH is consumed by the executor itself.
    for a in df
        .unused_build_args
        .iter()
        .filter(|a| *a != "SOURCE_DATE_EPOCH")
    {
        events(Event::Warning(format!(
            "[Warning] One or more build-args [{a}] were not consumed"
        )));
    }
    let ctx = context::Context::open(&opts.context, opts.dockerfile_path.as_deref())?;
    let mut run = stage::Runner::new(store, opts, &df, &ctx, events);
    let mut results: BTreeMap<usize, ImageId> = BTreeMap::new();
    let mut last = None;
    for &i in &df.needed {
        let id = run.stage(&df.stages[i], &results)?;
        if let Some(id) = &id {
            results.insert(i, id.clone());
        }
        last = id;
    }
    let (cached, ran) = run.counts();
    if opts.explain_only {
        return Ok(Built {
            image: None,
            cached,
            ran,
        });
    }
    interrupt::check()?;
    let mut image = last.ok_or(BuildError::EmptyResult)?;
    if !opts.labels.is_empty() {
        image = config::add_labels(store, &image, &opts.labels)?;
    }
    Ok(Built {
        image: Some(image),
        cached,
        ran,
    })
}

fn parse(opts: &BuildOptions, popts: &ParseOptions) -> Result<Dockerfile> {
    dockerfile::parse(&opts.dockerfile_text, popts).map_err(BuildError::Dockerfile)
}
