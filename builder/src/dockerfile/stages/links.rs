//! References out of a stage: `--from` / `from=` to other stages or images,
//! and the ONBUILD triggers of a base image.

use super::super::diag::Sink;
use super::super::instruction::{Parsed, parse_text};
use super::super::lexer::{RawInstruction, lex};
use super::super::{Base, FromRef, LineRange, reference};
use super::Builder;

impl Builder<'_> {
    /// Resolves `--from` / `from=` to an earlier stage or an image.
    pub(super) fn resolve_from(&self, sink: &mut Sink, value: &str, at: usize) -> Option<FromRef> {
        let cur = self.stages.len() - 1;
        if let Ok(i) = value.parse::<usize>() {
            return match i {
                i if i < cur => Some(FromRef::Stage(i)),
                i if i == cur => {
                    sink.error(at, format!("circular dependency detected on stage: {i}"));
                    None
                }
                i => {
                    sink.error(
                        at,
                        format!(
                            "invalid stage index {i}: only earlier stages (0..{cur}) can be used"
                        ),
                    );
                    None
                }
            };
        }
        let lower = value.to_ascii_lowercase();
        if let Some((_, i)) = self
            .names
            .iter()
            .find(|(n, _)| n.as_deref() == Some(lower.as_str()))
        {
            return match *i {
                i if i < cur => Some(FromRef::Stage(i)),
                i if i == cur => {
                    sink.error(
                        at,
                        format!("circular dependency detected on stage: {lower}"),
                    );
                    None
                }
                _ => {
                    sink.error(at, format!("stage {lower:?} is used before it is defined"));
                    None
                }
            };
        }
        match reference::validate(value) {
            Ok(()) => Some(FromRef::Image(value.to_string())),
            Err(e) => {
                sink.error(
                    at,
                    format!("{value:?} names no stage and is not a valid image reference: {e}"),
                );
                None
            }
        }
    }

    /// Runs the base image's ONBUILD triggers as the first instructions of
    /// the new stage. Problems in a trigger are reported at the FROM line.
    pub(super) fn onbuild_triggers(&mut self, sink: &mut Sink, from: &RawInstruction) {
        let Some(Base::Image(image)) = self.stages.last().map(|s| s.base.clone()) else {
            return;
        };
        let Some(triggers) = self.opts.base_onbuild.get(&image) else {
            return;
        };
        let at = from.text.src(0);
        for trigger in triggers {
            let mut sub = Sink::new(&sink.file, trigger);
            let (_, raws) = lex(&mut sub, trigger);
            for raw in &raws {
                let before = self.stages.last().map_or(0, |s| s.instructions.len());
                match parse_text(&mut sub, &raw.text, &raw.heredocs, '\\') {
                    Some(Parsed::Command(c)) => self.command(&mut sub, raw, c),
                    Some(Parsed::From(_)) => {
                        sub.error(raw.text.src(0), "FROM isn't allowed as an ONBUILD trigger")
                    }
                    None => {}
                }
                if let Some(st) = self.stages.last_mut() {
                    for inst in st.instructions.iter_mut().skip(before) {
                        inst.onbuild = true;
                        inst.lines = LineRange {
                            start: from.start_line,
                            end: from.end_line,
                        };
                    }
                }
            }
            for d in sub.diags {
                sink.at(
                    d.severity,
                    at,
                    format!("ONBUILD {trigger:?} of {image}: {}", d.message),
                );
            }
        }
    }
}
