//! The tty rendering of `strata image build` progress (BuildKit's tty
//! mode, simplified): the running step is a live area at the bottom, its
//! header with an elapsed time that ticks and its last output lines dimmed;
//! when the step ends the whole area is replaced by one line
//! `#N [i/n] TEXT DONE 1.2s` (or `CACHED`). Redraws happen at most every
//! [`FRAME`] (10 per second), whatever the output rate.
//!
//! Pure state machine: every call takes the current time, so the tests
//! drive it with a fake clock; the caller writes the returned bytes.

use std::collections::VecDeque;
use std::time::Duration;

use crate::commands::style::dim;
use builder::build::Event;

/// Minimum time between two redraws of the live area.
pub const FRAME: Duration = Duration::from_millis(100);

/// Output lines the live area keeps (the last ones).
const LIVE_LINES: usize = 6;

struct Running {
    step: usize,
    header: String,
    started: Duration,
    lines: VecDeque<String>,
}

pub struct TtyView {
    /// Longest line drawn (so that counting lines is not confused by wrapping).
    width: usize,
    running: Option<Running>,
    /// Lines of the live area currently on screen.
    drawn: usize,
    last_draw: Option<Duration>,
    /// What the live area showed last (skip redraws that change nothing).
    last_frame: String,
    /// Output lines dimmed (see `style`: a terminal without NO_COLOR).
    color: bool,
}

fn fit(s: &str, width: usize) -> String {
    s.chars().take(width).collect()
}

impl TtyView {
    pub fn new(width: usize, color: bool) -> TtyView {
        TtyView {
            width: width.max(20),
            running: None,
            drawn: 0,
            last_draw: None,
            last_frame: String::new(),
            color,
        }
    }

    /// The live area's text at `now`.
    fn frame(&self, now: Duration) -> String {
        let Some(r) = &self.running else {
            return String::new();
        };
        let secs = now.saturating_sub(r.started).as_secs_f64();
        let elapsed = format!(" {secs:.1}s");
        let room = self.width.saturating_sub(elapsed.len());
        let mut out = format!("{}{elapsed}\n", fit(&r.header, room));
        for l in &r.lines {
            let line = format!("  {}", fit(l, self.width.saturating_sub(2)));
            out.push_str(&dim(&line, self.color));
            out.push('\n');
        }
        out
    }

    /// Erases the live area: cursor up to its first line, clear below.
    fn erase(&mut self) -> String {
        let s = if self.drawn > 0 {
            format!("\x1b[{}F\x1b[J", self.drawn)
        } else {
            String::new()
        };
        self.drawn = 0;
        self.last_frame.clear();
        s
    }

    /// Redraws the live area (unconditionally).
    fn redraw(&mut self, now: Duration) -> String {
        let frame = self.frame(now);
        let mut out = self.erase();
        self.drawn = frame.lines().count();
        out.push_str(&frame);
        self.last_frame = frame;
        self.last_draw = Some(now);
        out
    }

    fn due(&self, now: Duration) -> bool {
        self.last_draw
            .is_none_or(|t| now.saturating_sub(t) >= FRAME)
    }

    /// Called periodically: a redraw when one is due and would change
    /// what is shown (the elapsed time ticks), else nothing.
    pub fn tick(&mut self, now: Duration) -> String {
        if self.running.is_none() || !self.due(now) || self.frame(now) == self.last_frame {
            return String::new();
        }
        self.redraw(now)
    }

    /// Prints `line` above the live area (which is redrawn below it).
    fn above(&mut self, line: &str, now: Duration) -> String {
        let mut out = self.erase();
        out.push_str(&fit(line, self.width));
        out.push('\n');
        if self.running.is_some() {
            out.push_str(&self.redraw(now));
        }
        out
    }

    /// One build event; returns what to write.
    pub fn event(&mut self, e: &Event, header: &str, now: Duration) -> String {
        match e {
            Event::Step { step, .. } => {
                let mut out = self.erase();
                self.running = Some(Running {
                    step: *step,
                    header: format!("#{step} {header}"),
                    started: now,
                    lines: VecDeque::new(),
                });
                out.push_str(&self.redraw(now));
                out
            }
            Event::Output { line, .. } | Event::Miss { reason: line, .. } => {
                let line = match e {
                    Event::Miss { .. } => format!("cache miss: {line}"),
                    _ => line.clone(),
                };
                if let Some(r) = &mut self.running {
                    if r.lines.len() == LIVE_LINES {
                        r.lines.pop_front();
                    }
                    r.lines.push_back(line);
                }
                if self.due(now) {
                    self.redraw(now)
                } else {
                    String::new()
                }
            }
            Event::Cached { step } | Event::Done { step, .. } => {
                let verdict = match e {
                    Event::Done { secs, .. } => format!("DONE {secs:.1}s"),
                    _ => "CACHED".to_string(),
                };
                let mut out = self.erase();
                let head = match self.running.take() {
                    Some(r) if r.step == *step => r.header,
                    _ => format!("#{step} {header}"),
                };
                let room = self.width.saturating_sub(verdict.len() + 1);
                out.push_str(&format!("{} {verdict}\n", fit(&head, room)));
                out
            }
            Event::Warning(w) => self.above(w, now),
            Event::Explain { step, explanation } => {
                let line = match &explanation.hit {
                    Some(id) => format!("#{step} CACHED ({})", id.short()),
                    None => format!("#{step} cache miss: {}", explanation.reason),
                };
                self.above(&line, now)
            }
        }
    }

    /// Stops showing the live area (the build ended, maybe with an error).
    pub fn finish(&mut self, now: Duration) -> String {
        // A failed step keeps its header and last lines on screen, without
        // the cursor games: print it once more as plain lines.
        let frame = self.frame(now);
        let mut out = self.erase();
        out.push_str(&frame);
        self.running = None;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn step(n: usize) -> Event {
        Event::Step {
            step: n,
            stage: None,
            index: n,
            total: 3,
            text: "RUN x".into(),
        }
    }

    #[test]
    fn elapsed_ticks_at_most_ten_times_a_second() {
        let mut v = TtyView::new(80, true);
        let out = v.event(&step(2), "[2/3] RUN x", ms(1000));
        assert_eq!(out, "#2 [2/3] RUN x 0.0s\n");
        // Too early: nothing, even though time moved.
        assert_eq!(v.tick(ms(1050)), "");
        // Due and changed: the header is redrawn in place.
        assert_eq!(v.tick(ms(1100)), "\x1b[1F\x1b[J#2 [2/3] RUN x 0.1s\n");
        assert_eq!(v.tick(ms(1150)), "");
        assert_eq!(v.tick(ms(2300)), "\x1b[1F\x1b[J#2 [2/3] RUN x 1.3s\n");
        assert_eq!(v.tick(ms(2399)), "");
    }

    #[test]
    fn output_is_throttled_and_the_step_folds_into_one_line() {
        let mut v = TtyView::new(80, true);
        v.event(&step(2), "[2/3] RUN x", ms(0));
        let line = |s: &str| Event::Output {
            step: 2,
            line: s.into(),
        };
        // Drawn at once (the last draw is 100ms old).
        let out = v.event(&line("a"), "", ms(100));
        assert_eq!(out, "\x1b[1F\x1b[J#2 [2/3] RUN x 0.1s\n\x1b[2m  a\x1b[0m\n");
        // Within the frame: buffered, shown by the next tick.
        assert_eq!(v.event(&line("b"), "", ms(120)), "");
        assert_eq!(
            v.tick(ms(200)),
            "\x1b[2F\x1b[J#2 [2/3] RUN x 0.2s\n\x1b[2m  a\x1b[0m\n\x1b[2m  b\x1b[0m\n"
        );
        let done = Event::Done {
            step: 2,
            secs: 1.25,
        };
        assert_eq!(
            v.event(&done, "", ms(1250)),
            "\x1b[3F\x1b[J#2 [2/3] RUN x DONE 1.2s\n"
        );
        // Nothing is live any more: ticks draw nothing.
        assert_eq!(v.tick(ms(5000)), "");
    }

    #[test]
    fn live_area_keeps_the_last_lines_and_warnings_go_above() {
        let mut v = TtyView::new(80, true);
        v.event(&step(1), "[1/3] RUN x", ms(0));
        for i in 0..10 {
            v.event(
                &Event::Output {
                    step: 1,
                    line: format!("l{i}"),
                },
                "",
                ms(1000),
            );
        }
        let frame = v.frame(ms(1000));
        assert_eq!(frame.lines().count(), 1 + LIVE_LINES);
        assert!(frame.contains("l9") && !frame.contains("l3"));
        // Only the first line made it to the screen within that frame.
        let out = v.event(&Event::Warning("careful".into()), "", ms(1000));
        assert!(
            out.starts_with("\x1b[2F\x1b[Jcareful\n#1 [1/3] RUN x 1.0s\n"),
            "{out:?}"
        );
        let cached = v.event(&Event::Cached { step: 1 }, "", ms(1100));
        assert_eq!(cached, "\x1b[7F\x1b[J#1 [1/3] RUN x CACHED\n");
    }

    #[test]
    fn long_lines_are_cut_to_the_width() {
        let mut v = TtyView::new(20, true);
        let out = v.event(&step(1), "[1/3] RUN a-very-long-instruction", ms(0));
        assert_eq!(out.lines().next().map(|l| l.chars().count()), Some(20));
    }
}
