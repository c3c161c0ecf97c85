//! Progress of blob transfers, reported to the caller (the CLI draws bars).

/// Receives transfer events. `id` is the blob digest (or a short label);
/// calls for different blobs may interleave.
pub trait Progress {
    /// A transfer of `total` bytes (0 if unknown) starts; `action` says what
    /// ("Pushing", "Downloading", ...).
    fn start(&self, _id: &str, _action: &str, _total: u64) {}
    /// `bytes` more were transferred.
    fn advance(&self, _id: &str, _bytes: u64) {}
    /// The blob is done; `status` says how ("Pushed", "Layer already exists",
    /// "Mounted from x/y", "Download complete", ...).
    fn finish(&self, _id: &str, _status: &str) {}
}

/// Ignores everything.
pub struct NoProgress;

impl Progress for NoProgress {}

/// A reader that reports the bytes read through it.
pub struct ProgressReader<'a, R> {
    pub inner: R,
    pub id: &'a str,
    pub progress: &'a dyn Progress,
}

impl<R: std::io::Read> std::io::Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.progress.advance(self.id, n as u64);
        }
        Ok(n)
    }
}

/// A writer that reports the bytes written through it.
pub struct ProgressWriter<'a, W> {
    pub inner: W,
    pub id: &'a str,
    pub progress: &'a dyn Progress,
}

impl<W: std::io::Write> std::io::Write for ProgressWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        if n > 0 {
            self.progress.advance(self.id, n as u64);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
