//! The on-disk markers of a union, in every form we read:
//! - kernel overlayfs: a whiteout is a character device 0/0, an opaque
//!   directory carries `trusted.overlay.opaque=y`;
//! - fuse-overlayfs / OCI-style: a whiteout is a file `.wh.<name>`, an
//!   opaque directory holds `.wh..wh..opq` or carries `user.overlay.opaque`
//!   / `user.fuseoverlayfs.opaque`.
//!
//! We always *write* the kernel form. No marker is ever visible through the
//! mount: marker names are hidden from readdir and lookup, private xattr
//! names from the xattr calls.

use std::ffi::OsStr;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::sys;

/// The xattr the kernel (and we) use to mark an opaque directory.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// Other opaque xattrs written by other tools (read only).
const OTHER_OPAQUE_XATTRS: [&str; 2] = ["user.overlay.opaque", "user.fuseoverlayfs.opaque"];
/// Prefix of fuse-overlayfs / OCI whiteout file names.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the fuse-overlayfs / OCI opaque-directory marker file.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// Prefixes of xattr names private to union filesystems: never listed,
/// read or written through the mount.
const PRIVATE_XATTR_PREFIXES: [&str; 3] =
    ["trusted.overlay.", "user.overlay.", "user.fuseoverlayfs."];

/// A kernel-format whiteout: a character device with device number 0/0.
pub fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// `mode`/`rdev` of an object a user asks to create would be a whiteout.
pub fn would_be_whiteout(mode: u32, rdev: u64) -> bool {
    mode & libc::S_IFMT == libc::S_IFCHR && rdev == 0
}

/// A name that is a marker in some layer format, never a user entry.
pub fn is_marker_name(name: &OsStr) -> bool {
    name.as_bytes().starts_with(WHITEOUT_PREFIX.as_bytes())
}

/// For a `.wh.<name>` marker, the name it hides (`None` for the opaque
/// marker and for ordinary names).
pub fn whiteout_target(name: &OsStr) -> Option<&OsStr> {
    let bytes = name.as_bytes();
    if name == OPAQUE_MARKER {
        return None;
    }
    bytes
        .strip_prefix(WHITEOUT_PREFIX.as_bytes())
        .filter(|rest| !rest.is_empty())
        .map(OsStr::from_bytes)
}

/// The marker file name that hides `name` in the fuse-overlayfs format.
pub fn whiteout_file_name(name: &OsStr) -> std::ffi::OsString {
    let mut s = std::ffi::OsString::from(WHITEOUT_PREFIX);
    s.push(name);
    s
}

/// Whether the directory at `dir` hides the layers below it, in any format.
/// One listxattr tells which opaque xattrs to read (usually none: one
/// syscall instead of one per format).
pub fn is_opaque_dir(dir: &Path) -> bool {
    let yes =
        |name: &str| sys::lgetxattr(dir, OsStr::new(name)).is_ok_and(|v| v.as_slice() == b"y");
    let mut names = std::iter::once(OPAQUE_XATTR).chain(OTHER_OPAQUE_XATTRS);
    let by_xattr = match sys::llistxattr(dir) {
        Ok(present) => names.filter(|n| present.iter().any(|p| p == n)).any(yes),
        // Not listable: asked name by name.
        Err(_) => names.any(yes),
    };
    by_xattr || dir.join(OPAQUE_MARKER).symlink_metadata().is_ok()
}

/// Whether an xattr name belongs to the union machinery (hidden from users).
pub fn is_private_xattr(name: &OsStr) -> bool {
    let bytes = name.as_bytes();
    PRIVATE_XATTR_PREFIXES
        .iter()
        .any(|p| bytes.starts_with(p.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_names() {
        assert!(is_marker_name(OsStr::new(".wh.foo")));
        assert!(is_marker_name(OsStr::new(OPAQUE_MARKER)));
        assert!(!is_marker_name(OsStr::new(".whfoo")));
        assert!(!is_marker_name(OsStr::new("foo.wh.")));
        assert_eq!(
            whiteout_target(OsStr::new(".wh.foo")),
            Some(OsStr::new("foo"))
        );
        assert_eq!(whiteout_target(OsStr::new(OPAQUE_MARKER)), None);
        assert_eq!(whiteout_target(OsStr::new(".wh.")), None);
        assert_eq!(whiteout_target(OsStr::new("foo")), None);
        assert_eq!(whiteout_file_name(OsStr::new("x")), ".wh.x");
    }

    #[test]
    fn private_xattrs() {
        assert!(is_private_xattr(OsStr::new("trusted.overlay.opaque")));
        assert!(is_private_xattr(OsStr::new("user.overlay.redirect")));
        assert!(is_private_xattr(OsStr::new("user.fuseoverlayfs.opaque")));
        assert!(!is_private_xattr(OsStr::new("user.overlayfoo")));
        assert!(!is_private_xattr(OsStr::new("security.capability")));
        assert!(!is_private_xattr(OsStr::new("trusted.other")));
    }

    #[test]
    fn opaque_dirs_in_every_format_and_only_those() {
        let t = tempfile::tempdir().unwrap();
        let dir = |name: &str, xattrs: &[(&str, &[u8])]| {
            let d = t.path().join(name);
            std::fs::create_dir(&d).unwrap();
            for (n, v) in xattrs {
                sys::lsetxattr(&d, OsStr::new(n), v, 0).unwrap();
            }
            d
        };
        let plain = dir("plain", &[]);
        let other = dir("other", &[("user.other", b"y")]);
        let no = dir("no", &[("user.fuseoverlayfs.opaque", b"n")]);
        let user = dir(
            "user",
            &[("user.other", b"1"), ("user.overlay.opaque", b"y")],
        );
        let kernel = dir("kernel", &[(OPAQUE_XATTR, b"y")]);
        let marker = dir("marker", &[]);
        std::fs::write(marker.join(OPAQUE_MARKER), "").unwrap();
        for d in [&plain, &other, &no] {
            assert!(!is_opaque_dir(d), "{}", d.display());
        }
        for d in [&user, &kernel, &marker] {
            assert!(is_opaque_dir(d), "{}", d.display());
        }
        // A missing directory is not opaque.
        assert!(!is_opaque_dir(&t.path().join("none")));
    }

    #[test]
    fn whiteout_device_numbers() {
        assert!(would_be_whiteout(libc::S_IFCHR | 0o644, 0));
        assert!(!would_be_whiteout(libc::S_IFCHR | 0o644, 0x0103));
        assert!(!would_be_whiteout(libc::S_IFBLK | 0o644, 0));
        assert!(!would_be_whiteout(libc::S_IFIFO | 0o644, 0));
    }
}
