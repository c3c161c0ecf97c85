//! Per-blob progress lines for push and pull, on stderr: on a terminal a
//! live bar with bytes and speed, otherwise one line per finished blob.

use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::time::Instant;

use builder::oci::Progress;

struct Bar {
    action: String,
    total: u64,
    done: u64,
    started: Instant,
    drawn: Option<Instant>,
}

pub struct Bars {
    tty: bool,
    current: RefCell<Option<(String, Bar)>>,
}

impl Bars {
    pub fn new() -> Bars {
        Bars {
            tty: std::io::stderr().is_terminal(),
            current: RefCell::new(None),
        }
    }
}

/// First 12 hex digits, as Docker shows layer ids.
pub fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

/// Human size with Docker's decimal units.
pub fn human(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0}{}", UNITS[unit])
    } else {
        format!("{v:.1}{}", UNITS[unit])
    }
}

fn rate(bar: &Bar) -> String {
    let secs = bar.started.elapsed().as_secs_f64().max(1e-3);
    format!("{}/s", human(bar.done as f64 / secs))
}

fn draw(id: &str, bar: &Bar) {
    const WIDTH: u64 = 30;
    if bar.total == 0 {
        // Size unknown (compressing a layer): bytes and speed only.
        eprint!(
            "\r\x1b[K{}: {} {} {}",
            short(id),
            bar.action,
            human(bar.done as f64),
            rate(bar)
        );
        let _ = std::io::stderr().flush();
        return;
    }
    let filled = (bar.done.min(bar.total) * WIDTH)
        .checked_div(bar.total)
        .unwrap_or(0);
    let arrow = if filled < WIDTH { ">" } else { "" };
    let pad = WIDTH.saturating_sub(filled + arrow.len() as u64);
    eprint!(
        "\r\x1b[K{}: {} [{}{}{}] {}/{} {}",
        short(id),
        bar.action,
        "=".repeat(filled as usize),
        arrow,
        " ".repeat(pad as usize),
        human(bar.done as f64),
        human(bar.total as f64),
        rate(bar)
    );
    let _ = std::io::stderr().flush();
}

impl Progress for Bars {
    fn start(&self, id: &str, action: &str, total: u64) {
        let bar = Bar {
            action: action.to_string(),
            total,
            done: 0,
            started: Instant::now(),
            drawn: None,
        };
        *self.current.borrow_mut() = Some((id.to_string(), bar));
    }

    fn advance(&self, id: &str, bytes: u64) {
        let mut cur = self.current.borrow_mut();
        if let Some((cid, bar)) = cur.as_mut()
            && cid == id
        {
            bar.done += bytes;
            // Redraw at most ten times a second.
            if self.tty && bar.drawn.is_none_or(|t| t.elapsed().as_millis() >= 100) {
                bar.drawn = Some(Instant::now());
                draw(id, bar);
            }
        }
    }

    fn finish(&self, id: &str, status: &str) {
        let mut current = self.current.borrow_mut();
        let bar = match current.take() {
            Some((cid, bar)) if cid == id => Some(bar),
            other => {
                *current = other;
                None
            }
        };
        drop(current);
        let detail = bar
            .filter(|b| b.done > 0)
            .map(|b| format!(" ({} at {})", human(b.done as f64), rate(&b)))
            .unwrap_or_default();
        if self.tty {
            eprint!("\r\x1b[K");
        }
        eprintln!("{}: {status}{detail}", short(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_sizes_and_ids() {
        assert_eq!(human(999.0), "999B");
        assert_eq!(human(1_500_000.0), "1.5MB");
        assert_eq!(short("sha256:0123456789abcdef"), "0123456789ab");
    }
}
