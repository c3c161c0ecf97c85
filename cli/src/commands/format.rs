//! Docker's ways of showing things: aligned tables, human sizes, "2 hours ago".

use std::io::Write;

/// `--format` of the listing commands: Docker's `table` (the default) or
/// `json` (one object per line). Go templates are not supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
}

/// `--format` of the inspect commands: their output is JSON already;
/// Docker's `--format json` is accepted for scripts written for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InspectFormat {
    Json,
}

/// Prints one JSON object per line (Docker's `--format json`).
pub fn print_json_lines(values: &[serde_json::Value]) {
    let mut out = std::io::stdout().lock();
    for v in values {
        let _ = writeln!(out, "{v}");
    }
}

/// Prints rows as Docker's tabwriter does (minimum width 10, padding 3); the
/// last column is not padded.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = std::io::stdout().lock();
    let header: Vec<String> = header.iter().map(|s| s.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let width = (widths[i] + 3).max(10);
                line.push_str(&" ".repeat(width - cell.chars().count()));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// Sizes like Docker (`units.HumanSizeWithPrecision(n, 3)`): 1000-based,
/// three significant digits: `512B`, `4.26MB`, `77.8MB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < UNITS.len() {
        v /= 1000.0;
        i += 1;
    }
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let mut s = format!("{v:.digits$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", UNITS[i])
}

/// "2 hours ago" as Docker (`units.HumanDuration`).
pub fn ago(then_unix: i64) -> String {
    let now = builder::store::time::now_unix();
    format!("{} ago", human_duration((now - then_unix).max(0)))
}

pub fn human_duration(secs: i64) -> String {
    let minutes = secs / 60;
    let hours = (secs as f64 / 3600.0 + 0.5) as i64;
    match () {
        _ if secs < 1 => "Less than a second".into(),
        _ if secs == 1 => "1 second".into(),
        _ if secs < 60 => format!("{secs} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", hours / 24 / 365),
    }
}

/// Cuts `s` to `max` characters with a trailing ellipsis, as Docker does.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(4_261_301), "4.26MB");
        assert_eq!(human_size(77_800_000), "77.8MB");
        assert_eq!(human_size(5_000_000), "5MB");
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(61), "About a minute");
        assert_eq!(human_duration(7200), "2 hours");
        assert_eq!(human_duration(86_400 * 3), "3 days");
        assert_eq!(ellipsis("abcdef", 4), "abc…");
    }
}
