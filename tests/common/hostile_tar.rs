//! Tar archives the `tar` crate refuses to write: names, link targets and
//! sizes are set through the raw header bytes, so tests can hand strata
//! exactly what an attacker would.

use tar::{EntryType, Header};

/// A tar stream built entry by entry from raw headers.
pub struct RawTar(tar::Builder<Vec<u8>>);

impl Default for RawTar {
    fn default() -> Self {
        RawTar(tar::Builder::new(Vec::new()))
    }
}

/// A GNU header with `name` and `link` copied byte for byte (at most 100
/// bytes each), root-owned, mode 0644 (0755 for directories), mtime 0.
pub fn raw_header(name: &str, kind: EntryType, link: &str, size: u64) -> Header {
    let mut h = Header::new_gnu();
    let gnu = h.as_gnu_mut().expect("gnu header");
    gnu.name[..name.len()].copy_from_slice(name.as_bytes());
    gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(kind);
    h.set_mode(if kind == EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(size);
    h.set_cksum();
    h
}

impl RawTar {
    pub fn new() -> Self {
        Self::default()
    }

    /// A regular file with `data`.
    pub fn file(self, name: &str, data: &[u8]) -> Self {
        let h = raw_header(name, EntryType::Regular, "", data.len() as u64);
        self.header(&h, data)
    }

    pub fn dir(self, name: &str) -> Self {
        self.header(&raw_header(name, EntryType::Directory, "", 0), b"")
    }

    pub fn symlink(self, name: &str, target: &str) -> Self {
        self.header(&raw_header(name, EntryType::Symlink, target, 0), b"")
    }

    pub fn hard_link(self, name: &str, target: &str) -> Self {
        self.header(&raw_header(name, EntryType::Link, target, 0), b"")
    }

    /// A character or block device (or FIFO) node.
    pub fn device(self, name: &str, kind: EntryType, major: u32, minor: u32) -> Self {
        let mut h = raw_header(name, kind, "", 0);
        h.set_device_major(major).expect("major");
        h.set_device_minor(minor).expect("minor");
        h.set_cksum();
        self.header(&h, b"")
    }

    /// A PAX extended header whose `path` overrides the name of the next
    /// (harmless-looking) entry.
    pub fn pax_path(mut self, path: &str, name: &str, data: &[u8]) -> Self {
        self.0
            .append_pax_extensions([("path", path.as_bytes())])
            .expect("pax header");
        self.file(name, data)
    }

    /// A GNU long-name record (`././@LongLink`) naming the next entry.
    pub fn gnu_long_name(self, long: &str, data: &[u8]) -> Self {
        let mut name = long.as_bytes().to_vec();
        name.push(0);
        let h = raw_header(
            "././@LongLink",
            EntryType::GNULongName,
            "",
            name.len() as u64,
        );
        self.header(&h, &name).file("short", data)
    }

    /// A GNU sparse file that expands to `real_size` bytes of zeros plus
    /// one stored byte at the end.
    pub fn sparse(self, name: &str, real_size: u64) -> Self {
        let mut h = raw_header(name, EntryType::GNUSparse, "", 1);
        let gnu = h.as_gnu_mut().expect("gnu header");
        gnu.set_real_size(real_size);
        gnu.sparse[0].set_offset(real_size - 1);
        gnu.sparse[0].set_length(1);
        h.set_cksum();
        self.header(&h, b"x")
    }

    /// A file declaring `size` bytes followed by only `data`, then the end
    /// of the stream (no padding, no end-of-archive blocks).
    pub fn truncated_file(mut self, name: &str, size: u64, data: &[u8]) -> Vec<u8> {
        let h = raw_header(name, EntryType::Regular, "", size);
        let mut out = std::mem::take(self.0.get_mut());
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out
    }

    pub fn header(mut self, h: &Header, data: &[u8]) -> Self {
        self.0.append(h, data).expect("append");
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.0.into_inner().expect("finish tar")
    }
}
