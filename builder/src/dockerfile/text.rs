//! Logical lines: text assembled from several physical lines (continuations)
//! that remembers, for every byte, where it came from in the source, so any
//! error found later can point at the exact line and column.

/// A string plus the source byte offset of each of its bytes.
/// Invariant: `map.len() == s.len() + 1`; the last entry is the offset just
/// past the text (where "missing something at the end" errors point).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Text {
    pub s: String,
    map: Vec<usize>,
}

impl Text {
    pub fn new(end: usize) -> Self {
        Text {
            s: String::new(),
            map: vec![end],
        }
    }

    /// Appends `piece`, which starts at source offset `src`.
    pub fn push(&mut self, piece: &str, src: usize) {
        self.map.pop();
        self.s.push_str(piece);
        self.map.extend((0..piece.len()).map(|i| src + i));
        self.map.push(src + piece.len());
    }

    /// Source offset of logical byte `i` (clamped to the end).
    pub fn src(&self, i: usize) -> usize {
        self.map[i.min(self.s.len())]
    }

    /// The sub-text `[start, end)`; both must be char boundaries.
    pub fn slice(&self, start: usize, end: usize) -> Text {
        let end = end.min(self.s.len());
        let start = start.min(end);
        Text {
            s: self.s[start..end].to_string(),
            map: self.map[start..=end].to_vec(),
        }
    }

    /// The text without leading and trailing Unicode whitespace.
    pub fn trim(&self) -> Text {
        let start = self.s.len() - self.s.trim_start().len();
        let end = self.s.trim_end().len().max(start);
        self.slice(start, end)
    }

    pub fn trim_start(&self) -> Text {
        let start = self.s.len() - self.s.trim_start().len();
        self.slice(start, self.s.len())
    }
}

impl Text {
    /// Appends another text, keeping its source offsets.
    pub fn extend(&mut self, other: &Text) {
        self.map.pop();
        self.s.push_str(&other.s);
        self.map.extend_from_slice(&other.map);
    }
}
