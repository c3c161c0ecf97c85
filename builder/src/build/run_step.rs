//! A RUN step that missed the cache: its command (heredocs applied), its
//! environment (build args, secrets as variables), its mounts, then the
//! container itself ([`super::run`]).

use std::path::PathBuf;

use super::config;
use super::error::Result;
use super::fsutil::Scratch;
use super::heredoc::{self, PIPES_DIR};
use super::mounts::MountPlan;
use super::run::{self, RunStep};
use super::stage::{Runner, State};
use crate::dockerfile::{self, Instruction, Run};
use crate::runtime::BindMount;
use crate::store::Layer;

impl Runner<'_> {
    /// Runs `r` on `lowerdirs`; returns the layer and its history line.
    pub(super) fn run_step(
        &mut self,
        st: &State,
        instr: &Instruction,
        r: &Run,
        lowerdirs: &[PathBuf],
        mounts: Option<&MountPlan>,
    ) -> Result<(Layer, String)> {
        let line = instr.lines.start;
        let rc = &st.cfg.config;
        let cmd = heredoc::run_command(rc, r, line)?;
        // Build args are in RUN's environment; ENV wins over ARG.
        let mut env = rc.env.clone();
        for (k, v) in &instr.args {
            if !config::env_pairs(&rc.env).iter().any(|(ek, _)| ek == k) {
                env.push(format!("{k}={v}"));
            }
        }
        let cwd = if rc.working_dir.is_empty() {
            "/".to_string()
        } else {
            rc.working_dir.clone()
        };
        // Host sides of the mounts; removed after the step (views first:
        // `prepared` is declared after `scratch`, so it drops first).
        let scratch = Scratch(self.store.staging_dir("mounts")?);
        let mut binds: Vec<BindMount> = Vec::new();
        if let Some((name, body)) = &cmd.script {
            let dir = scratch.0.join("pipes");
            heredoc::write_script(&dir, name, body)?;
            binds.push(BindMount {
                source: dir,
                destination: PIPES_DIR.into(),
                readonly: true,
            });
        }
        let prepared = match mounts {
            Some(m) => Some(m.prepare(self.store, &self.opts.secrets, &scratch.0, &cwd)?),
            None => None,
        };
        if let Some(p) = &prepared {
            binds.extend(p.binds.iter().cloned());
            env.extend(p.env.iter().cloned());
        }
        let step = RunStep {
            args: cmd.args.clone(),
            env,
            cwd,
            user: rc.user.clone(),
            network: match r.network {
                Some(dockerfile::NetworkMode::None) => crate::runtime::NetworkMode::None,
                None if self.opts.network_none => crate::runtime::NetworkMode::None,
                _ => crate::runtime::NetworkMode::Host,
            },
            line,
            init_program: &self.opts.init_program,
            epoch: self.opts.source_date_epoch,
            binds,
        };
        let no = self.step;
        let events = &mut *self.events;
        let layer = run::run(self.store, lowerdirs, &step, events, no)?;
        drop(prepared);
        drop(scratch);
        // BuildKit's spelling: build args in scope as `|N K=V ...`.
        let mut by = String::from("RUN ");
        if !instr.args.is_empty() {
            by.push_str(&format!("|{} ", instr.args.len()));
            for (k, v) in &instr.args {
                by.push_str(&format!("{k}={v} "));
            }
        }
        by.push_str(&cmd.args.join(" "));
        Ok((layer, by))
    }
}
