//! Media types (OCI and Docker) and layer compression.

use std::io::{self, BufRead, BufReader, Read, Write};

use super::error::{OciError, Result};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_LAYER_FOREIGN_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
/// Docker's uncompressed layer type (written by some tools, e.g. skopeo
/// converting an uncompressed OCI layer).
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// The manifest formats strata writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestFormat {
    Oci,
    Docker,
}

impl ManifestFormat {
    pub fn manifest_type(self) -> &'static str {
        match self {
            ManifestFormat::Oci => OCI_MANIFEST,
            ManifestFormat::Docker => DOCKER_MANIFEST,
        }
    }

    pub fn config_type(self) -> &'static str {
        match self {
            ManifestFormat::Oci => OCI_CONFIG,
            ManifestFormat::Docker => DOCKER_CONFIG,
        }
    }

    /// Layer media type for a compression. Docker schema 2 has no zstd
    /// type; callers use the OCI manifest for zstd layers.
    pub fn layer_type(self, compression: Compression) -> &'static str {
        match (self, compression) {
            (_, Compression::Zstd) => OCI_LAYER_ZSTD,
            (ManifestFormat::Oci, Compression::Gzip) => OCI_LAYER_GZIP,
            (ManifestFormat::Oci, Compression::None) => OCI_LAYER,
            (ManifestFormat::Docker, Compression::Gzip) => DOCKER_LAYER_GZIP,
            (ManifestFormat::Docker, Compression::None) => DOCKER_LAYER_TAR,
        }
    }
}

/// Whether a media type names a single-image manifest.
pub fn is_manifest(media_type: &str) -> bool {
    media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

/// Whether a media type names a multi-platform index.
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// Whether a media type names an image config.
pub fn is_config(media_type: &str) -> bool {
    media_type == OCI_CONFIG || media_type == DOCKER_CONFIG
}

/// Layer compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

impl Compression {
    /// Name used in the blob cache and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::None => "none",
        }
    }

    /// The compression a layer media type announces; an error for media
    /// types that are not layers strata can unpack.
    pub fn of_layer(media_type: &str, digest: &str) -> Result<Compression> {
        match media_type {
            OCI_LAYER_GZIP | DOCKER_LAYER_GZIP | DOCKER_LAYER_FOREIGN_GZIP => Ok(Compression::Gzip),
            OCI_LAYER_ZSTD => Ok(Compression::Zstd),
            OCI_LAYER | DOCKER_LAYER_TAR => Ok(Compression::None),
            _ => Err(OciError::UnsupportedMediaType {
                digest: digest.to_string(),
                media_type: media_type.to_string(),
            }),
        }
    }

    /// Compression recognised from a stream's first bytes (docker-archive
    /// layers carry no media type).
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

impl std::str::FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            "none" | "uncompressed" => Ok(Compression::None),
            _ => Err(format!("unknown compression {s:?} (gzip, zstd, none)")),
        }
    }
}

/// A reader of the uncompressed tar inside a (possibly compressed) layer.
pub fn decompress<'a, R: Read + 'a>(
    compression: Compression,
    inner: R,
) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match compression {
        // MultiGzDecoder: pigz and others may write several members.
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(inner)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(inner)?),
        Compression::None => Box::new(inner),
    })
}

/// Like [`decompress`] but recognises the compression from the first bytes.
pub fn decompress_sniffed<'a, R: Read + 'a>(inner: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut buffered = BufReader::new(inner);
    let compression = Compression::sniff(buffered.fill_buf()?);
    decompress(compression, buffered)
}

/// A writer that compresses into `W`; [`Encoder::finish`] ends the stream.
pub enum Encoder<W: Write> {
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
    None(W),
}

impl<W: Write> Encoder<W> {
    /// gzip headers carry no name and mtime 0, so the same tar always gives
    /// the same blob.
    pub fn new(compression: Compression, dst: W) -> io::Result<Encoder<W>> {
        Ok(match compression {
            Compression::Gzip => Encoder::Gzip(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .write(dst, flate2::Compression::default()),
            ),
            Compression::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(dst, 3)?),
            Compression::None => Encoder::None(dst),
        })
    }

    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
            Encoder::None(mut w) => w.flush().map(|_| w),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
            Encoder::None(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
            Encoder::None(w) => w.flush(),
        }
    }
}

/// Compresses everything read from `src` into `dst`.
pub fn compress<R: Read, W: Write>(compression: Compression, src: &mut R, dst: W) -> io::Result<W> {
    let mut enc = Encoder::new(compression, dst)?;
    io::copy(src, &mut enc)?;
    enc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_sniffs_every_compression() {
        let data = b"some tar bytes".repeat(100);
        for c in [Compression::Gzip, Compression::Zstd, Compression::None] {
            let out = compress(c, &mut &data[..], Vec::new()).expect("compress");
            assert_eq!(Compression::sniff(&out), c);
            let mut back = Vec::new();
            decompress_sniffed(&out[..])
                .and_then(|mut r| r.read_to_end(&mut back))
                .expect("decompress");
            assert_eq!(back, data);
            // Deterministic: the same input gives the same blob.
            assert_eq!(out, compress(c, &mut &data[..], Vec::new()).expect("again"));
        }
    }

    #[test]
    fn refuses_unknown_layer_types() {
        let err = Compression::of_layer("application/vnd.oci.image.layer.v1.tar+bzip2", "sha256:x")
            .expect_err("must fail");
        assert!(err.to_string().contains("unsupported media type"), "{err}");
    }
}
