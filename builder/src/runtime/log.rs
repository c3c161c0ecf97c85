//! The container log: Docker's `json-file` format, one JSON object per line
//! (`{"log":"...","stream":"stdout","time":"RFC 3339"}`), appended by the
//! init while it tees the container's stdout and stderr.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::error::{Result, RuntimeError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The bytes written (lossy UTF-8), usually one line with its newline.
    pub log: String,
    /// "stdout" or "stderr".
    pub stream: String,
    pub time: String,
}

/// Appends entries to a log file.
#[derive(Debug)]
pub struct LogWriter {
    file: File,
}

impl LogWriter {
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| RuntimeError::io("open log", path, e))?;
        Ok(LogWriter { file })
    }

    /// Records a chunk of output, one entry per line. Logging must never
    /// stop the container, so write errors are returned but callers may
    /// ignore them.
    pub fn write(&mut self, stream: &str, data: &[u8]) -> std::io::Result<()> {
        let time = rfc3339(SystemTime::now());
        let mut out = Vec::new();
        for line in data.split_inclusive(|b| *b == b'\n') {
            let entry = LogEntry {
                log: String::from_utf8_lossy(line).into_owned(),
                stream: stream.to_string(),
                time: time.clone(),
            };
            serde_json::to_writer(&mut out, &entry)?;
            out.push(b'\n');
        }
        self.file.write_all(&out)
    }
}

/// Reads every entry of a log file (`container logs`). A torn last line
/// (the writer was killed mid-write) is ignored.
pub fn read_log(path: &Path) -> Result<Vec<LogEntry>> {
    let file = File::open(path).map_err(|e| RuntimeError::io("open log", path, e))?;
    let mut entries = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| RuntimeError::io("read log", path, e))?;
        if let Ok(entry) = serde_json::from_str(&line) {
            entries.push(entry);
        }
    }
    Ok(entries)
}

/// `2026-11-27T18:01:02.123456789Z` (Docker's log timestamps).
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    crate::store::time::format_rfc3339_nanos(d.as_secs() as i64, d.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(1_709_210_096, 5);
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56.000000005Z");
    }

    #[test]
    fn entries_round_trip_line_by_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log.json");
        let mut w = LogWriter::open(&path).expect("open");
        w.write("stdout", b"one\ntwo\n").expect("write");
        w.write("stderr", b"oops").expect("write");
        let entries = read_log(&path).expect("read");
        let got: Vec<(&str, &str)> = entries
            .iter()
            .map(|e| (e.stream.as_str(), e.log.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![("stdout", "one\n"), ("stdout", "two\n"), ("stderr", "oops")]
        );
    }
}
