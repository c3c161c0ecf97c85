//! Diagnostics: errors and warnings with file, line and column.

use std::fmt;

/// How bad a diagnostic is. Errors make `parse` fail; warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One error or warning. `line` and `column` are 1-based; the column counts
/// characters (not bytes) of the physical source line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `FILE:LINE:COL: severity: message`, the format of compilers and of
    /// `strata image build --check`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, self.severity, self.message
        )
    }
}

/// Every diagnostic of one parse, in source order. Returned as the error of
/// [`super::parse`] when at least one is an error.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Warning)
    }
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }
    pub(crate) fn sort(&mut self) {
        self.0.sort_by_key(|d| (d.line, d.column, d.severity));
        self.0.dedup();
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Maps byte offsets of the source text to 1-based (line, column).
#[derive(Debug, Clone)]
pub(crate) struct SourceMap {
    line_starts: Vec<usize>,
}

impl SourceMap {
    pub fn new(text: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceMap { line_starts }
    }

    /// 1-based line of a byte offset.
    pub fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset).max(1)
    }

    pub fn position(&self, text: &str, offset: usize) -> (usize, usize) {
        let line = self.line(offset);
        let start = self.line_starts[line - 1];
        let offset = offset.min(text.len());
        let col = text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line, col + 1)
    }
}

/// Collects diagnostics while parsing; knows the file name and source text.
pub(crate) struct Sink<'a> {
    pub file: String,
    pub text: &'a str,
    pub map: SourceMap,
    pub diags: Vec<Diagnostic>,
}

impl<'a> Sink<'a> {
    pub fn new(file: &str, text: &'a str) -> Self {
        Sink {
            file: file.to_string(),
            text,
            map: SourceMap::new(text),
            diags: Vec::new(),
        }
    }

    /// Records a diagnostic at a byte offset of the source text.
    pub fn at(&mut self, severity: Severity, offset: usize, message: impl Into<String>) {
        let (line, column) = self.map.position(self.text, offset);
        self.diags.push(Diagnostic {
            severity,
            file: self.file.clone(),
            line,
            column,
            message: message.into(),
        });
    }

    pub fn error(&mut self, offset: usize, message: impl Into<String>) {
        self.at(Severity::Error, offset, message);
    }

    pub fn warn(&mut self, offset: usize, message: impl Into<String>) {
        self.at(Severity::Warning, offset, message);
    }

    /// A diagnostic about the whole file, reported at line 1 column 1 when
    /// the file is empty and at the last line otherwise.
    pub fn error_at_line(&mut self, line: usize, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            severity: Severity::Error,
            file: self.file.clone(),
            line: line.max(1),
            column: 1,
            message: message.into(),
        });
    }

    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(|d| d.severity == Severity::Error)
    }
}
