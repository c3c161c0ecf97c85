//! Recognising how a layer or rootfs archive is compressed, from its first
//! bytes (the file name is not trusted): gzip, zstd or a plain tar.

use std::io::{self, Read};

use super::error::{Error, Result};

/// Compression of an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Peeks at `reader` and returns a reader of the uncompressed tar stream.
pub fn decompressed<'a, R: Read + 'a>(mut reader: R) -> Result<(Compression, Box<dyn Read + 'a>)> {
    let mut head = Vec::with_capacity(512);
    (&mut reader)
        .take(512)
        .read_to_end(&mut head)
        .map_err(|source| Error::Archive {
            context: "reading".to_string(),
            source,
        })?;
    let kind = detect(&head)?;
    let stream = io::Cursor::new(head).chain(reader);
    let out: Box<dyn Read + 'a> = match kind {
        Compression::None => Box::new(stream),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(stream)),
        Compression::Zstd => {
            Box::new(zstd::Decoder::new(stream).map_err(|source| Error::Archive {
                context: "zstd".to_string(),
                source,
            })?)
        }
    };
    Ok((kind, out))
}

/// Classifies the first bytes of an archive.
pub fn detect(head: &[u8]) -> Result<Compression> {
    const GZIP: &[u8] = &[0x1f, 0x8b];
    const ZSTD: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
    if head.starts_with(GZIP) {
        return Ok(Compression::Gzip);
    }
    if head.starts_with(ZSTD) {
        return Ok(Compression::Zstd);
    }
    let named = [
        (&b"BZh"[..], "bzip2"),
        (&[0xfd, b'7', b'z', b'X', b'Z', 0x00][..], "xz"),
        (&[0x5d, 0x00, 0x00][..], "lzma"),
        (&[0x04, 0x22, 0x4d, 0x18][..], "lz4"),
    ];
    for (magic, name) in named {
        if head.starts_with(magic) {
            return Err(Error::BadArchive(format!(
                "unsupported compression {name} (use plain tar, gzip or zstd)"
            )));
        }
    }
    // A tar header has "ustar" at offset 257; an empty archive is all zeros.
    if head.len() >= 262 && &head[257..262] == b"ustar" {
        return Ok(Compression::None);
    }
    if head.len() == 512 && head.iter().all(|&b| b == 0) {
        return Ok(Compression::None);
    }
    if head.is_empty() {
        return Err(Error::BadArchive("empty input".to_string()));
    }
    Err(Error::BadArchive(
        "unknown format: not a tar archive, gzip or zstd".to_string(),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_magic() {
        assert_eq!(detect(&[0x1f, 0x8b, 8, 0]).unwrap(), Compression::Gzip);
        assert_eq!(
            detect(&[0x28, 0xb5, 0x2f, 0xfd, 0]).unwrap(),
            Compression::Zstd
        );
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(detect(&tar).unwrap(), Compression::None);
        let e = detect(b"BZh91AY&SY").unwrap_err().to_string();
        assert!(e.contains("bzip2"), "{e}");
        let e = detect(b"hello world").unwrap_err().to_string();
        assert!(e.contains("unknown format"), "{e}");
        assert!(detect(b"").is_err());
    }
}
