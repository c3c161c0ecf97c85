//! Building one stage: FROM, then each instruction as a cached step that
//! yields an image.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use super::cache::{self, Inputs};
use super::config;
use super::context::Context;
use super::copy::Plan;
use super::error::{Result, step_err};
use super::fsutil::{Scratch, clamp_times, image_rel, is_dir_in, make_dir_like, make_parents};
use super::mounts::MountPlan;
use super::view::{View, mount_image};
use super::{BuildOptions, Event, heredoc, transfer};
use crate::dockerfile::{Base, Command, Dockerfile, FromRef, Instruction, Stage};
use crate::store::{Image, ImageConfig, ImageId, Layer, Store, time};

pub struct Runner<'a> {
    pub(super) store: &'a Store,
    pub(super) opts: &'a BuildOptions,
    df: &'a Dockerfile,
    ctx: &'a Context,
    pub(super) events: &'a mut dyn FnMut(Event),
    pub(super) step: usize,
    cached: usize,
    ran: usize,
}

/// The image a stage is at.
pub(super) struct State {
    id: Option<ImageId>,
    pub(super) cfg: ImageConfig,
    /// A step missed the cache: this and later steps run.
    missed: bool,
    /// CMD set in this stage (ENTRYPOINT keeps it).
    cmd_set: bool,
}

impl State {
    fn parent_key(&self) -> String {
        self.id
            .as_ref()
            .map(|i| i.to_string())
            .unwrap_or_else(|| "scratch".into())
    }
    fn lowerdirs(&self, store: &Store) -> Result<Vec<PathBuf>> {
        let dirs = self
            .cfg
            .diff_ids()?
            .iter()
            .rev()
            .map(|d| store.layer_dir(d))
            .collect();
        Ok(dirs)
    }
}

impl<'a> Runner<'a> {
    pub fn new(
        store: &'a Store,
        opts: &'a BuildOptions,
        df: &'a Dockerfile,
        ctx: &'a Context,
        events: &'a mut dyn FnMut(Event),
    ) -> Self {
        Runner {
            store,
            opts,
            df,
            ctx,
            events,
            step: 0,
            cached: 0,
            ran: 0,
        }
    }

    pub fn counts(&self) -> (usize, usize) {
        (self.cached, self.ran)
    }

    fn created(&self) -> String {
        time::format_rfc3339(self.opts.source_date_epoch.unwrap_or_else(time::now_unix))
    }

    fn image(&self, id: &ImageId) -> Result<Image> {
        Ok(self.store.image(id)?)
    }

    /// Builds `stage`; `results` holds the images of earlier stages.
    pub fn stage(
        &mut self,
        stage: &Stage,
        results: &BTreeMap<usize, ImageId>,
    ) -> Result<Option<ImageId>> {
        let label = (self.df.stages.len() > 1).then(|| {
            stage
                .name
                .clone()
                .unwrap_or_else(|| format!("stage-{}", stage.index))
        });
        let total = stage.instructions.len() + 1;
        self.step += 1;
        let started = Instant::now();
        (self.events)(Event::Step {
            step: self.step,
            stage: label.clone(),
            index: 1,
            total,
            text: format!("FROM {}", stage.base_name),
        });
        let mut st = match &stage.base {
            Base::Scratch => State {
                id: None,
                cfg: ImageConfig::for_host(),
                missed: false,
                cmd_set: false,
            },
            Base::Stage(i) => {
                let id = results
                    .get(i)
                    .cloned()
                    .ok_or_else(|| step_err(stage.lines.start, "stage not built"))?;
                self.base_state(id)?
            }
            Base::Image(name) => {
                let image = self.store.resolve_image(name).map_err(|source| {
                    super::BuildError::BaseImage {
                        name: name.clone(),
                        line: stage.lines.start,
                        source,
                    }
                })?;
                // Held until the build ends: `image rm` + prune meanwhile
                // must not take its layers from under the RUN mounts.
                self.store.lease_image(&image.id)?;
                let mut st = self.base_state(image.id)?;
                // Triggers run once, in this build (the parser inserted them).
                st.cfg.config.on_build.clear();
                st
            }
        };
        (self.events)(Event::Done {
            step: self.step,
            secs: started.elapsed().as_secs_f64(),
        });
        for (k, instr) in stage.instructions.iter().enumerate() {
            self.step += 1;
            (self.events)(Event::Step {
                step: self.step,
                stage: label.clone(),
                index: k + 2,
                total,
                text: instr.expanded.clone(),
            });
            self.instruction(&mut st, instr, results)?;
        }
        if st.id.is_none() && !self.opts.explain_only {
            st.id = Some(self.store.put_image(&st.cfg, None)?);
        }
        Ok(st.id)
    }

    fn base_state(&self, id: ImageId) -> Result<State> {
        let image = self.image(&id)?;
        Ok(State {
            id: Some(id),
            cfg: image.config,
            missed: false,
            cmd_set: false,
        })
    }

    /// One step: key, cache lookup (with the reason of a miss), execution.
    fn instruction(
        &mut self,
        st: &mut State,
        instr: &Instruction,
        results: &BTreeMap<usize, ImageId>,
    ) -> Result<()> {
        super::interrupt::check()?;
        let line = instr.lines.start;
        let started = Instant::now();
        // COPY --from: a read-only view of the source image, kept mounted
        // for the key and the copy.
        let from_view = self.mount_from_view(instr, results)?;
        // Heredoc files of COPY/ADD live here until the step is done.
        let heredocs = match &instr.command {
            Command::Copy(t) | Command::Add(t) if !t.heredocs.is_empty() => {
                Some(Scratch(self.store.staging_dir("heredoc")?))
            }
            _ => None,
        };
        let plan = match &instr.command {
            Command::Copy(t) | Command::Add(t) => {
                let ctx = from_view.as_ref().map(|v| &v.ctx).unwrap_or(self.ctx);
                let dest = if t.dest.starts_with('/') {
                    t.dest.clone()
                } else {
                    let wd = config::workdir(&st.cfg.config, ".");
                    let mut d = format!("{}/{}", wd.trim_end_matches('/'), t.dest);
                    if t.dest == "." || t.dest == "./" {
                        d.push('/');
                    }
                    d
                };
                let add = matches!(instr.command, Command::Add(_));
                Some(transfer::plan(t, add, ctx, dest, heredocs.as_ref(), line)?)
            }
            _ => None,
        };
        let mounts = match &instr.command {
            Command::Run(r) if !r.mounts.is_empty() => Some(MountPlan::new(
                self.store, instr, &r.mounts, self.ctx, results,
            )?),
            _ => None,
        };
        let mut instruction = instr.expanded.clone();
        if let Some(v) = &from_view {
            instruction.push_str(&format!(" # from {}", v.image));
        }
        if let Command::Run(r) = &instr.command
            && r.network.is_none()
            && self.opts.network_none
        {
            // `--network none` for the build changes what RUN sees.
            instruction.push_str(" # network=none");
        }
        let mut files = match &plan {
            Some(p) => p.inputs()?,
            None => Vec::new(),
        };
        if let Command::Run(r) = &instr.command {
            files.extend(heredoc::run_inputs(r));
        }
        if let Some(m) = &mounts {
            let (note, more) = m.key()?;
            instruction.push_str(&note);
            files.extend(more);
        }
        let inputs = Inputs {
            parent: st.parent_key(),
            instruction,
            args: instr.args.clone(),
            files,
        };
        if self.opts.explain_only {
            let explanation = if st.missed {
                cache::Explanation {
                    hit: None,
                    reason: "an earlier step is not cached".into(),
                }
            } else {
                cache::explain(self.store, &inputs)?
            };
            match &explanation.hit {
                Some(id) => {
                    st.cfg = self.image(id)?.config;
                    st.id = Some(id.clone());
                    self.cached += 1;
                }
                None => st.missed = true,
            }
            (self.events)(Event::Explain {
                step: self.step,
                explanation,
            });
            return Ok(());
        }
        if !self.opts.no_cache && !st.missed {
            let e = cache::explain(self.store, &inputs)?;
            if let Some(id) = e.hit
                && let Ok(image) = self.store.image(&id)
            {
                st.cfg = image.config;
                st.id = Some(id);
                self.cached += 1;
                (self.events)(Event::Cached { step: self.step });
                return Ok(());
            }
            (self.events)(Event::Miss {
                step: self.step,
                reason: e.reason,
            });
        }
        st.missed = true;
        self.execute(st, instr, plan.as_ref(), mounts.as_ref())
            .map_err(|e| in_step(e, line, &instr.expanded))?;
        let mut id = self.store.put_image(&st.cfg, st.id.as_ref())?;
        if self.opts.no_cache {
            cache::record(self.store, &inputs, &id)?;
        } else {
            let winner = cache::record_or_adopt(self.store, &inputs, &id)?;
            if winner != id {
                // A concurrent build ran this step first: go on from its
                // image, as a cache hit would have.
                st.cfg = self.image(&winner)?.config;
                st.missed = false;
                id = winner;
            }
        }
        st.id = Some(id);
        self.ran += 1;
        (self.events)(Event::Done {
            step: self.step,
            secs: started.elapsed().as_secs_f64(),
        });
        Ok(())
    }

    fn mount_from_view(
        &self,
        instr: &Instruction,
        results: &BTreeMap<usize, ImageId>,
    ) -> Result<Option<FromView>> {
        let line = instr.lines.start;
        let image = match &instr.copy_from {
            None => return Ok(None),
            Some(FromRef::Stage(i)) => results
                .get(i)
                .cloned()
                .ok_or_else(|| step_err(line, "--from stage was not built"))?,
            Some(FromRef::Image(name)) => {
                let id = self.store.resolve_image(name)?.id;
                self.store.lease_image(&id)?;
                id
            }
        };
        let view = mount_image(self.store, &image, false, line)?;
        let ctx = Context::open_plain(&view.root)?;
        Ok(Some(FromView {
            image,
            ctx,
            _view: view,
        }))
    }

    /// Runs a step that missed the cache, updating `st.cfg`.
    fn execute(
        &mut self,
        st: &mut State,
        instr: &Instruction,
        plan: Option<&Plan>,
        mounts: Option<&MountPlan>,
    ) -> Result<()> {
        let line = instr.lines.start;
        let created = self.created();
        let nop = format!("/bin/sh -c #(nop) {}", instr.expanded);
        let lowerdirs = st.lowerdirs(self.store)?;
        let layer: Option<(Layer, String)> = match &instr.command {
            Command::Run(r) => Some(self.run_step(st, instr, r, &lowerdirs, mounts)?),
            Command::Copy(_) | Command::Add(_) => {
                let plan = plan.ok_or_else(|| step_err(line, "no sources"))?;
                let scratch = Scratch(self.store.staging_dir("copy")?);
                plan.materialize(&scratch.0, &lowerdirs)?;
                Some((self.freeze(&scratch)?, nop.clone()))
            }
            Command::Workdir(d) => {
                config::apply(&mut st.cfg, &instr.command, "", &mut st.cmd_set);
                let rel = image_rel(&config::workdir(&st.cfg.config, d));
                if rel.as_os_str().is_empty() || is_dir_in(&lowerdirs, &rel) {
                    None
                } else {
                    let scratch = Scratch(self.store.staging_dir("workdir")?);
                    make_parents(&scratch.0, &lowerdirs, &rel)?;
                    make_dir_like(&scratch.0, &lowerdirs, &rel)?;
                    Some((self.freeze(&scratch)?, nop.clone()))
                }
            }
            other => {
                let raw = match &instr.raw {
                    Command::Onbuild(o) => o.expression.clone(),
                    _ => String::new(),
                };
                config::apply(&mut st.cfg, other, &raw, &mut st.cmd_set);
                None
            }
        };
        match layer {
            Some((layer, by)) => {
                st.cfg.rootfs.diff_ids.push(layer.diff_id.to_string());
                config::push_history(&mut st.cfg, &created, by, false);
            }
            None => config::push_history(&mut st.cfg, &created, nop, true),
        }
        Ok(())
    }

    /// Freezes a staged layer directory (times clamped first with
    /// SOURCE_DATE_EPOCH). The staging dir is renamed away by freeze.
    fn freeze(&self, scratch: &Scratch) -> Result<Layer> {
        if let Some(epoch) = self.opts.source_date_epoch {
            clamp_times(&scratch.0, epoch)?;
        }
        Ok(self.store.freeze(&scratch.0)?)
    }
}

/// A mounted read-only view of a `COPY --from` source.
struct FromView {
    image: ImageId,
    ctx: Context,
    _view: View,
}

/// Names the step in errors that do not already (file and store errors:
/// a disk full in a COPY must say which COPY).
fn in_step(e: super::BuildError, line: usize, instruction: &str) -> super::BuildError {
    use super::BuildError as E;
    match e {
        E::Io { .. } | E::Store(_) => E::InStep {
            line,
            instruction: instruction.to_string(),
            source: Box::new(e),
        },
        other => other,
    }
}
