//! Building lower layers in kernel-overlay format (0/0 char-device
//! whiteouts, `trusted.overlay.opaque=y` opaque dirs), and the generated
//! 3-layer stack the differential test runs on.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, SFlag};

use super::rng::Rng;
use super::sys;

fn parent_dirs(path: &Path) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("mkdir -p {}: {e}", parent.display()));
    }
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

/// A regular file with exactly `content` and `mode` (umask does not apply).
pub fn file(path: &Path, content: &[u8], mode: u32) {
    parent_dirs(path);
    std::fs::write(path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    set_mode(path, mode);
}

/// A sparse file: `len` bytes, holes except `data` at `offset`.
pub fn sparse_file(path: &Path, offset: u64, data: &[u8], len: u64) {
    use std::os::unix::fs::FileExt;
    parent_dirs(path);
    let f =
        std::fs::File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    f.set_len(len).expect("set_len");
    f.write_all_at(data, offset).expect("write sparse data");
}

/// A directory with exactly `mode`.
pub fn dir(path: &Path, mode: u32) {
    std::fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir -p {}: {e}", path.display()));
    set_mode(path, mode);
}

pub fn symlink(target: &str, path: &Path) {
    parent_dirs(path);
    std::os::unix::fs::symlink(target, path)
        .unwrap_or_else(|e| panic!("ln -s {target} {}: {e}", path.display()));
}

pub fn hardlink(existing: &Path, new: &Path) {
    parent_dirs(new);
    std::fs::hard_link(existing, new)
        .unwrap_or_else(|e| panic!("ln {} {}: {e}", existing.display(), new.display()));
}

/// A kernel-format whiteout: a 0/0 character device.
pub fn whiteout(path: &Path) {
    parent_dirs(path);
    nix::sys::stat::mknod(path, SFlag::S_IFCHR, Mode::empty(), 0)
        .unwrap_or_else(|e| panic!("mknod {} c 0 0: {e}", path.display()));
}

/// Marks a directory opaque in kernel format (it hides the layers below).
pub fn opaque(dir_path: &Path) {
    dir(dir_path, 0o755);
    xattr(dir_path, "trusted.overlay.opaque", b"y");
}

pub fn xattr(path: &Path, name: &str, value: &[u8]) {
    sys::lsetxattr(path, name, value)
        .unwrap_or_else(|e| panic!("setxattr {name} on {}: {e}", path.display()));
}

pub fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {uid}:{gid} {}: {e}", path.display()));
}

/// Deterministic bytes: the same (len, seed) always gives the same content.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Names of the generated trees; the operation generator draws fresh names
/// from the same pool so that it hits whited-out and opaque-hidden names.
pub const NAMES: &[&str] = &[
    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m",
];

/// Fills `lowers` (top-most first, exactly 3) with a stack that has every
/// feature of the kernel format, plus seed-dependent extras:
/// - bottom (`lowers[2]`): dirs with files, a 3-name hard link (`a/b`, `a/c`,
///   `d`), symlinks to a file, to a dir and dangling, a sparse file, a file
///   with a user xattr, an empty dir;
/// - middle: a whiteout of one name of the hard link, a whiteout of a file,
///   an opaque dir hiding a lower dir, a file replacing a lower dir;
/// - top: a whiteout of a whole lower dir, a hard-linked pair, a file
///   overriding one name of the lower hard link.
///
/// Every whiteout hides something below it. Whiteouts that hide nothing are
/// valid (the kernel ignores them) but whether a union accepts them is a
/// mount-time policy with its own test
/// (`union_mount_accepts_a_whiteout_for_a_name_no_lower_has`); kept out of
/// here so that policy cannot blind the whole differential run.
pub fn generate_stack(lowers: &[PathBuf], seed: u64) {
    assert_eq!(lowers.len(), 3, "generate_stack builds exactly 3 layers");
    let (top, mid, bottom) = (&lowers[0], &lowers[1], &lowers[2]);

    file(
        &bottom.join("a/b"),
        b"bottom a/b: linked three times\n",
        0o644,
    );
    hardlink(&bottom.join("a/b"), &bottom.join("a/c"));
    hardlink(&bottom.join("a/b"), &bottom.join("d"));
    file(&bottom.join("a/d/e"), &pattern(5000, seed), 0o755);
    symlink("e", &bottom.join("a/d/f"));
    file(&bottom.join("a/d/g/h"), b"deep\n", 0o600);
    file(&bottom.join("b/a"), b"b/a bottom\n", 0o644);
    file(
        &bottom.join("b/b"),
        b"b/b bottom, whited out above\n",
        0o644,
    );
    sparse_file(
        &bottom.join("b/c"),
        1 << 20,
        b"tail after a hole",
        (1 << 20) + 4096,
    );
    file(
        &bottom.join("c/a"),
        b"hidden by the opaque c above\n",
        0o644,
    );
    file(&bottom.join("c/b/a"), b"also hidden\n", 0o644);
    symlink("a/d", &bottom.join("e"));
    symlink("nowhere", &bottom.join("f"));
    file(&bottom.join("g"), b"private\n", 0o600);
    xattr(&bottom.join("g"), "user.origin", b"bottom");
    dir(&bottom.join("h"), 0o755);
    dir(&bottom.join("i"), 0o700);

    dir(&mid.join("a"), 0o755);
    whiteout(&mid.join("a/c"));
    file(&mid.join("a/e"), b"mid a/e\n", 0o644);
    whiteout(&mid.join("b/b"));
    file(&mid.join("b/d"), &pattern(70000, seed ^ 1), 0o644);
    opaque(&mid.join("c"));
    file(&mid.join("c/c"), b"only entry of opaque c\n", 0o644);
    file(&mid.join("h"), b"a file over a lower dir\n", 0o644);

    whiteout(&top.join("a/d/g"));
    file(
        &top.join("a/b"),
        b"top overrides one name of the lower link\n",
        0o644,
    );
    file(&top.join("b/f"), b"top pair\n", 0o640);
    hardlink(&top.join("b/f"), &top.join("b/g"));
    file(&top.join("j"), b"top j\n", 0o444);

    let mut rng = Rng::new(seed);
    add_extras(bottom, &[], &mut rng);
    add_extras(mid, &[bottom], &mut rng);
    add_extras(top, &[mid, bottom], &mut rng);
}

/// Random extra entries in one layer: files (some sparse, some with
/// xattrs), dirs, symlinks, hard links, and above the bottom also opaque
/// dirs and whiteouts of names that some layer in `below` has.
fn add_extras(layer: &Path, below: &[&PathBuf], rng: &mut Rng) {
    const PARENTS: &[&str] = &["", "a", "b", "c", "a/d", "i", "k"];
    let upper_layer = !below.is_empty();
    let mut files: Vec<PathBuf> = Vec::new();
    for _ in 0..10 {
        let rel = Path::new(rng.pick(PARENTS)).join(rng.pick::<&str>(NAMES));
        let path = layer.join(&rel);
        let parent = path.parent().unwrap_or(layer).to_path_buf();
        let hides_something = below.iter().any(|l| {
            l.join(&rel)
                .symlink_metadata()
                .is_ok_and(|m| !(m.file_type().is_char_device() && m.rdev() == 0))
        });
        if path.symlink_metadata().is_ok() || std::fs::create_dir_all(&parent).is_err() {
            continue;
        }
        // The fixed top whiteout `a/d/g` must hide something: a middle
        // `a/d` that is not a plain directory (a whiteout, an opaque dir, a
        // file) would leave it hiding nothing, and kernel overlayfs lists
        // such a whiteout in a directory of one layer.
        let kind = if rel == Path::new("a/d") {
            4
        } else {
            rng.below(10)
        };
        match kind {
            0..=3 => {
                let len = rng.below(20000) as usize;
                if rng.percent(20) {
                    sparse_file(&path, 200_000, &pattern(len, rng.next_u64()), 300_000);
                } else {
                    file(
                        &path,
                        &pattern(len, rng.next_u64()),
                        *rng.pick(&[0o644, 0o600, 0o755, 0o444]),
                    );
                }
                if rng.percent(30) {
                    xattr(&path, "user.extra", &pattern(16, rng.next_u64()));
                }
                files.push(path);
            }
            4 | 5 => dir(&path, *rng.pick(&[0o755, 0o700, 0o775])),
            6 => symlink(rng.pick::<&str>(NAMES), &path),
            7 if !files.is_empty() => hardlink(
                &files[rng.below(files.len() as u64) as usize].clone(),
                &path,
            ),
            8 if hides_something => whiteout(&path),
            9 if upper_layer => opaque(&path),
            _ => file(&path, b"filler\n", 0o644),
        }
    }
}
