//! Expansion of a stage instruction's words: only the instructions and
//! fields Docker expands (ENV, LABEL, EXPOSE, VOLUME, USER, WORKDIR,
//! STOPSIGNAL, ADD/COPY paths and flags, RUN mount options); RUN, CMD,
//! ENTRYPOINT, SHELL, HEALTHCHECK and ONBUILD are left to the shell or the
//! child build.

use super::super::command::{Command, KeyValue};
use super::super::diag::Sink;
use super::super::expand::Lexer;
use super::super::lexer::RawInstruction;
use super::super::validate;
use super::{Builder, Scope, locate};

impl Builder<'_> {
    pub(super) fn expand_command(
        &mut self,
        sink: &mut Sink,
        raw: &RawInstruction,
        cmd: &Command,
    ) -> Command {
        let vars = self.vars();
        let x = |s: &Self, sink: &mut Sink, w: &str| {
            s.expand(sink, raw, w, &vars, Scope::Stage)
                .unwrap_or_default()
        };
        let mut c = cmd.clone();
        match &mut c {
            Command::Env(kvs) | Command::Label(kvs) => {
                for KeyValue { key, value } in kvs.iter_mut() {
                    *key = x(self, sink, key);
                    *value = x(self, sink, value);
                }
            }
            Command::Expose(ports) => {
                let mut out = Vec::new();
                for p in ports.iter() {
                    let v = x(self, sink, p);
                    for part in v.split_whitespace() {
                        if let Err(e) = validate::port(part) {
                            sink.error(locate(raw, p), e);
                        }
                        out.push(part.to_string());
                    }
                }
                *ports = out;
            }
            Command::Volume(v) => v.iter_mut().for_each(|p| *p = x(self, sink, p)),
            Command::User(s) | Command::Workdir(s) => *s = x(self, sink, s),
            Command::StopSignal(s) => {
                let raw_s = s.clone();
                *s = x(self, sink, s);
                if let Err(e) = validate::signal(s) {
                    sink.error(locate(raw, &raw_s), e);
                }
            }
            Command::Add(t) | Command::Copy(t) => {
                t.sources.iter_mut().for_each(|p| *p = x(self, sink, p));
                t.dest = x(self, sink, &t.dest);
                t.exclude.iter_mut().for_each(|p| *p = x(self, sink, p));
                for o in [&mut t.from, &mut t.chown, &mut t.chmod, &mut t.checksum] {
                    if let Some(v) = o.as_mut() {
                        *v = x(self, sink, v);
                    }
                }
                for h in t.heredocs.iter_mut().filter(|h| h.expand) {
                    let mut lx = Lexer::new(self.escape);
                    lx.skip_quotes = true;
                    match lx.word(&h.content, &vars) {
                        Ok(v) => h.content = v,
                        Err(e) => sink.error(locate(raw, &h.name), e.message),
                    }
                }
            }
            Command::Run(r) => {
                for m in r.mounts.iter_mut() {
                    for o in [
                        &mut m.target,
                        &mut m.source,
                        &mut m.from,
                        &mut m.id,
                        &mut m.env,
                    ] {
                        if let Some(v) = o.as_mut() {
                            *v = x(self, sink, v);
                        }
                    }
                }
            }
            _ => {}
        }
        c
    }
}
