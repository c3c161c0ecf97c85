//! sha256 digests (`sha256:<64 hex>`), the identity of layers (diff_id) and
//! images (sha256 of the config bytes), and a writer that computes one.

use std::fmt;
use std::io::{self, Write};

use sha2::{Digest as _, Sha256};

use super::error::{Error, Result};

/// A `sha256:<hex>` digest. Only sha256 is produced or accepted for ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

/// Layer id: digest of the uncompressed tar stream.
pub type DiffId = Digest;
/// Image id: digest of the config JSON bytes.
pub type ImageId = Digest;

impl Digest {
    /// Parses `sha256:<64 lowercase hex>`.
    pub fn parse(s: &str) -> Result<Digest> {
        match s.strip_prefix("sha256:") {
            Some(hex) if is_hex64(hex) => Ok(Digest(s.to_string())),
            _ => Err(Error::InvalidDigest(s.to_string())),
        }
    }

    /// From 64 hex characters without the algorithm.
    pub fn from_hex(hex: &str) -> Result<Digest> {
        Digest::parse(&format!("sha256:{hex}"))
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// The 64 hex characters (used as directory names: no `:` so that paths
    /// can go into an overlay `lowerdir=` list).
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// The 12-character short form Docker shows.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub(crate) fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A writer that hashes and counts what passes through it, forwarding to an
/// inner writer (use `io::sink()` to only hash).
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// The digest and byte count of everything written so far, and the inner writer.
    pub fn finish(self) -> (Digest, u64, W) {
        let digest = Digest(format!("sha256:{}", hex::encode(self.hasher.finalize())));
        (digest, self.len, self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts what is read through it, and remembers
/// the last 512 bytes (to check a tar stream's end-of-archive block).
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    len: u64,
    tail: Vec<u8>,
}

impl<R: io::Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            len: 0,
            tail: Vec::with_capacity(1024),
        }
    }

    /// Bytes read so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the last 512 bytes read were all zero.
    pub fn ends_with_zero_block(&self) -> bool {
        self.tail.len() >= 512 && self.tail[self.tail.len() - 512..].iter().all(|&b| b == 0)
    }

    pub fn finish(self) -> (Digest, u64) {
        let digest = Digest(format!("sha256:{}", hex::encode(self.hasher.finalize())));
        (digest, self.len)
    }
}

impl<R: io::Read> io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        let keep = &buf[n.saturating_sub(512)..n];
        self.tail.extend_from_slice(keep);
        if self.tail.len() > 512 {
            self.tail.drain(..self.tail.len() - 512);
        }
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_empty_is_the_known_sha256() {
        let d = Digest::of(b"");
        assert_eq!(
            d.as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(d.short(), "e3b0c44298fc");
        assert_eq!(Digest::parse(d.as_str()).unwrap(), d);
        assert!(Digest::parse("sha256:E3B0").is_err());
        assert!(
            Digest::parse("md5:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
                .is_err()
        );
    }
}
