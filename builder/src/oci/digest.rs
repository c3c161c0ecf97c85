//! sha256 digests and readers/writers that hash what passes through them.
//! Every byte that enters the store from outside passes through one of
//! these, and is checked against the digest and size it was announced with
//! before it is used.

use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

use super::error::{OciError, Result};

/// Validates `sha256:<64 lowercase hex>` and returns the hex part.
pub fn sha256_hex(digest: &str) -> Result<&str> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| OciError::InvalidDigest(digest.to_string()))?;
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(OciError::InvalidDigest(digest.to_string()));
    }
    Ok(hex)
}

/// `sha256:<hex>` of a byte slice.
pub fn sha256_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Checks that `bytes` have the announced digest and size.
pub fn verify_bytes(bytes: &[u8], digest: &str, size: Option<u64>) -> Result<()> {
    sha256_hex(digest)?;
    if let Some(expected) = size
        && expected != bytes.len() as u64
    {
        return Err(OciError::SizeMismatch {
            digest: digest.to_string(),
            expected,
            actual: bytes.len() as u64,
        });
    }
    let actual = sha256_of(bytes);
    if actual != digest {
        return Err(OciError::DigestMismatch {
            digest: digest.to_string(),
            actual,
        });
    }
    Ok(())
}

/// A reader that hashes and counts everything read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// `sha256:<hex>` of everything read, and its length.
    pub fn finish(self) -> (String, u64) {
        (
            format!("sha256:{}", hex::encode(self.hasher.finalize())),
            self.count,
        )
    }

    /// Reads to the end (so trailing bytes count), then checks digest and size.
    pub fn verify(mut self, digest: &str, size: Option<u64>) -> Result<()> {
        io::copy(&mut self, &mut io::sink()).map_err(|source| OciError::Io {
            path: digest.into(),
            source,
        })?;
        let (actual, count) = self.finish();
        check(digest, size, &actual, count)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A writer that hashes and counts everything written through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The inner writer, `sha256:<hex>` of everything written, and its length.
    pub fn finish(self) -> (W, String, u64) {
        let digest = format!("sha256:{}", hex::encode(self.hasher.finalize()));
        (self.inner, digest, self.count)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Compares a computed digest and size with the announced ones.
pub fn check(digest: &str, size: Option<u64>, actual: &str, count: u64) -> Result<()> {
    if let Some(expected) = size
        && expected != count
    {
        return Err(OciError::SizeMismatch {
            digest: digest.to_string(),
            expected,
            actual: count,
        });
    }
    if actual != digest {
        return Err(OciError::DigestMismatch {
            digest: digest.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_digest_syntax() {
        let good = sha256_of(b"x");
        assert!(sha256_hex(&good).is_ok());
        assert!(sha256_hex("sha256:abc").is_err());
        assert!(sha256_hex(&good.replace("sha256", "sha512")).is_err());
        assert!(sha256_hex(&good.to_uppercase()).is_err());
    }

    #[test]
    fn hashing_reader_detects_tamper_and_truncation() {
        let data = b"hello layer".to_vec();
        let digest = sha256_of(&data);
        HashingReader::new(&data[..])
            .verify(&digest, Some(data.len() as u64))
            .expect("intact");
        let err = HashingReader::new(&data[..5])
            .verify(&digest, Some(data.len() as u64))
            .expect_err("must fail");
        assert!(matches!(err, OciError::SizeMismatch { .. }), "{err}");
        let mut bad = data.clone();
        bad[0] ^= 1;
        let err = HashingReader::new(&bad[..])
            .verify(&digest, None)
            .expect_err("must fail");
        assert!(err.to_string().contains(&digest), "{err}");
    }
}
