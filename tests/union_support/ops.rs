//! Filesystem operations as data: a seeded generator picks them from the
//! current tree, `apply` runs one against a mount and returns what a user
//! observes (a value or an errno), so two filesystems can be compared step
//! by step.

use std::fs::{DirBuilder, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use nix::fcntl::{AT_FDCWD, RenameFlags};

use super::layers::{NAMES, pattern};
use super::rng::Rng;
use super::sys;

#[derive(Debug, Clone)]
pub enum Op {
    Create {
        path: String,
        mode: u32,
        excl: bool,
        trunc: bool,
    },
    Write {
        path: String,
        offset: u64,
        len: usize,
        seed: u64,
        append: bool,
        trunc: bool,
    },
    Truncate {
        path: String,
        len: u64,
    },
    /// `flags`: 0, RENAME_NOREPLACE or RENAME_EXCHANGE.
    Rename {
        from: String,
        to: String,
        flags: u32,
    },
    Unlink {
        path: String,
    },
    Rmdir {
        path: String,
    },
    Mkdir {
        path: String,
        mode: u32,
    },
    Link {
        from: String,
        to: String,
    },
    Symlink {
        target: String,
        path: String,
    },
    Chmod {
        path: String,
        mode: u32,
    },
    Setxattr {
        path: String,
        name: String,
        value: Vec<u8>,
    },
    Removexattr {
        path: String,
        name: String,
    },
    Read {
        path: String,
    },
    Readdir {
        path: String,
    },
    /// Open read-write, unlink, then fstat, write and read through the fd:
    /// an unlinked open file keeps working and reports the remaining links.
    UnlinkWhileOpen {
        path: String,
        seed: u64,
    },
    /// Open read-only (a lower file: before any copy-up), write through a
    /// second fd (the copy-up), read through the first: it sees the write.
    ReadAcrossCopyUp {
        path: String,
        seed: u64,
    },
}

/// What an operation showed the user: a value (content hash, names) or an
/// errno.
pub type Outcome = Result<String, i32>;

fn errno(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(-1)
}

fn nix_errno(e: nix::Error) -> i32 {
    e as i32
}

impl Op {
    /// The variant's name, e.g. "Rename".
    pub fn kind(&self) -> String {
        let debug = format!("{self:?}");
        debug
            .split([' ', '{'])
            .next()
            .unwrap_or_default()
            .to_string()
    }

    /// The paths whose state the operation may change or observe.
    pub fn paths(&self) -> Vec<&str> {
        match self {
            Op::Create { path, .. }
            | Op::Write { path, .. }
            | Op::Truncate { path, .. }
            | Op::Unlink { path }
            | Op::Rmdir { path }
            | Op::Mkdir { path, .. }
            | Op::Symlink { path, .. }
            | Op::Chmod { path, .. }
            | Op::Setxattr { path, .. }
            | Op::Removexattr { path, .. }
            | Op::Read { path }
            | Op::Readdir { path }
            | Op::UnlinkWhileOpen { path, .. }
            | Op::ReadAcrossCopyUp { path, .. } => vec![path],
            Op::Rename { from, to, .. } | Op::Link { from, to } => vec![from, to],
        }
    }
}

/// Runs `op` under `root`.
pub fn apply(root: &Path, op: &Op) -> Outcome {
    let p = |rel: &str| root.join(rel);
    let done = |r: std::io::Result<()>| r.map(|()| String::new()).map_err(errno);
    match op {
        Op::Create {
            path,
            mode,
            excl,
            trunc,
        } => {
            let mut o = OpenOptions::new();
            o.write(true).mode(*mode).truncate(*trunc);
            if *excl {
                o.create_new(true);
            } else {
                o.create(true);
            }
            done(o.open(p(path)).map(drop))
        }
        Op::Write {
            path,
            offset,
            len,
            seed,
            append,
            trunc,
        } => {
            let data = pattern(*len, *seed);
            let mut f = OpenOptions::new()
                .write(true)
                .append(*append)
                .truncate(*trunc)
                .open(p(path))
                .map_err(errno)?;
            if *append {
                done(f.write_all(&data))
            } else {
                done(f.write_all_at(&data, *offset))
            }
        }
        Op::Truncate { path, len } => nix::unistd::truncate(&p(path), *len as i64)
            .map(|()| String::new())
            .map_err(nix_errno),
        Op::Rename { from, to, flags } => {
            let flags = RenameFlags::from_bits_truncate(*flags);
            nix::fcntl::renameat2(AT_FDCWD, &p(from), AT_FDCWD, &p(to), flags)
                .map(|()| String::new())
                .map_err(nix_errno)
        }
        Op::Unlink { path } => done(std::fs::remove_file(p(path))),
        Op::Rmdir { path } => done(std::fs::remove_dir(p(path))),
        Op::Mkdir { path, mode } => done(DirBuilder::new().mode(*mode).create(p(path))),
        Op::Link { from, to } => done(std::fs::hard_link(p(from), p(to))),
        Op::Symlink { target, path } => done(std::os::unix::fs::symlink(target, p(path))),
        Op::Chmod { path, mode } => done(std::fs::set_permissions(
            p(path),
            PermissionsExt::from_mode(*mode),
        )),
        Op::Setxattr { path, name, value } => done(sys::lsetxattr(&p(path), name, value)),
        Op::Removexattr { path, name } => done(sys::lremovexattr(&p(path), name)),
        Op::Read { path } => {
            let mut f = std::fs::File::open(p(path)).map_err(errno)?;
            let mut buf = Vec::new();
            f.read_to_end(&mut buf).map_err(errno)?;
            Ok(format!(
                "{} bytes, sha256 {}",
                buf.len(),
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&buf))
            ))
        }
        Op::Readdir { path } => super::snapshot::read_names(&p(path))
            .map(|n| n.join(" "))
            .map_err(errno),
        Op::UnlinkWhileOpen { path, seed } => {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(p(path))
                .map_err(errno)?;
            std::fs::remove_file(p(path)).map_err(errno)?;
            let nlink = f.metadata().map_err(errno)?.nlink();
            let data = pattern(100, *seed);
            f.write_all_at(&data, 0).map_err(errno)?;
            let mut back = vec![0u8; data.len()];
            f.read_exact_at(&mut back, 0).map_err(errno)?;
            Ok(format!(
                "st_nlink {nlink} after unlink, write read back intact: {}",
                back == data
            ))
        }
        Op::ReadAcrossCopyUp { path, seed } => {
            let reader = std::fs::File::open(p(path)).map_err(errno)?;
            let ino_before = reader.metadata().map_err(errno)?.ino();
            let writer = OpenOptions::new()
                .write(true)
                .open(p(path))
                .map_err(errno)?;
            let data = pattern(64, *seed);
            writer.write_all_at(&data, 0).map_err(errno)?;
            let mut back = vec![0u8; data.len()];
            reader.read_exact_at(&mut back, 0).map_err(errno)?;
            // st_ino survives the copy-up, seen through either fd and the path.
            let inos = [
                reader.metadata().map_err(errno)?.ino(),
                writer.metadata().map_err(errno)?.ino(),
                std::fs::symlink_metadata(p(path)).map_err(errno)?.ino(),
            ];
            Ok(format!(
                "earlier read-only fd sees the write: {}, st_ino unchanged: {}",
                back == data,
                inos.iter().all(|i| *i == ino_before)
            ))
        }
    }
}

/// Seeded generator of operations over the current tree: mostly existing
/// paths (so copy-up, whiteouts and renames of lower entries happen), some
/// fresh names from the same pool as the layers (so whited-out names are
/// created again), some paths under missing or non-dir parents (errnos).
pub struct Generator {
    rng: Rng,
    /// Op kinds never generated (`STRATA_DIFF_SKIP`); empty by default.
    skip: Vec<String>,
}

const MODES: &[u32] = &[
    0o644, 0o600, 0o755, 0o700, 0o444, 0o000, 0o1777, 0o2755, 0o4755, 0o640,
];
const XATTRS: &[&str] = &[
    "user.a",
    "user.b",
    "user.origin",
    "user.extra",
    ACL_ACCESS,
    ACL_DEFAULT,
];
const ACL_ACCESS: &str = "system.posix_acl_access";
const ACL_DEFAULT: &str = "system.posix_acl_default";

/// ACLs to set (setfacl's specs): named entries (a mask that chmod then
/// moves) and defaults for what is made in a directory (EACCES on a
/// non-directory), one of them with no named entries.
const ACL_SPECS: &[(&str, &str)] = &[
    (ACL_ACCESS, "u::rw-,u:1000:r--,g::r--,m::r--,o::---"),
    (ACL_ACCESS, "u::r--,u:0:rwx,g::rw-,m::r--,o::rwx"),
    (
        ACL_ACCESS,
        "u::rwx,u:1001:rwx,g::---,g:1000:r-x,m::rwx,o::--x",
    ),
    (ACL_DEFAULT, "u::rwx,u:1000:rwx,g::r-x,m::rwx,o::---"),
    (ACL_DEFAULT, "u::rwx,g::r-x,o::--x"),
];

/// The xattr values of `ACL_SPECS` as setfacl makes them (the kernel's
/// binary format), made once on a scratch file and directory.
fn acl_values() -> &'static [(&'static str, Vec<u8>)] {
    static VALUES: std::sync::OnceLock<Vec<(&'static str, Vec<u8>)>> = std::sync::OnceLock::new();
    VALUES.get_or_init(|| {
        let dir = super::tempdir();
        let (file, sub) = (dir.path().join("f"), dir.path().join("d"));
        std::fs::write(&file, "").expect("scratch file");
        std::fs::create_dir(&sub).expect("scratch dir");
        ACL_SPECS
            .iter()
            .map(|&(name, spec)| {
                let (flags, on): (&[&str], _) = if name == ACL_DEFAULT {
                    (&["-b", "-d", "-m"], &sub)
                } else {
                    (&["-b", "-m"], &file)
                };
                let st = std::process::Command::new("setfacl")
                    .args(flags)
                    .arg(spec)
                    .arg(on)
                    .status()
                    .expect("setfacl (package acl)");
                assert!(st.success(), "setfacl {flags:?} {spec}");
                let value = sys::lgetxattr(on, name).expect("setfacl stored the ACL");
                (name, value)
            })
            .collect()
    })
}

impl Generator {
    pub fn new(seed: u64) -> Self {
        Generator {
            rng: Rng::new(seed),
            skip: Vec::new(),
        }
    }

    /// Never generates the op kinds listed (e.g. `["ReadAcrossCopyUp"]`):
    /// an exploration aid to look past one known divergence, never a
    /// default.
    pub fn skipping(mut self, kinds: Vec<String>) -> Self {
        self.skip = kinds;
        self
    }

    fn existing<'a>(
        &mut self,
        tree: &'a [(String, &'static str)],
        kind: Option<&str>,
    ) -> Option<&'a str> {
        let matching: Vec<&str> = tree
            .iter()
            .filter(|(_, k)| kind.is_none_or(|want| *k == want))
            .map(|(p, _)| p.as_str())
            .collect();
        (!matching.is_empty()).then(|| *self.rng.pick(&matching))
    }

    /// A path that probably does not exist yet: a pool name under an
    /// existing dir (or rarely under a file or a missing dir).
    fn fresh(&mut self, tree: &[(String, &'static str)]) -> String {
        let name = *self.rng.pick(NAMES);
        let parent = match self.rng.below(10) {
            0..=3 => None,
            4 => self.existing(tree, None).map(str::to_string),
            5 => Some(format!("missing{}", self.rng.below(3))),
            _ => self.existing(tree, Some("dir")).map(str::to_string),
        };
        match parent {
            Some(parent) => format!("{parent}/{name}"),
            None => format!("{name}{}", if self.rng.percent(50) { "" } else { "x" }),
        }
    }

    fn any(&mut self, tree: &[(String, &'static str)], existing_percent: u64) -> String {
        match self.existing(tree, None) {
            Some(p) if self.rng.percent(existing_percent) => p.to_string(),
            _ => self.fresh(tree),
        }
    }

    fn file_or_any(&mut self, tree: &[(String, &'static str)]) -> String {
        match self.existing(tree, Some("file")) {
            Some(p) if self.rng.percent(80) => p.to_string(),
            _ => self.any(tree, 70),
        }
    }

    fn dir_or_any(&mut self, tree: &[(String, &'static str)]) -> String {
        match self.existing(tree, Some("dir")) {
            Some(p) if self.rng.percent(70) => p.to_string(),
            _ => self.any(tree, 70),
        }
    }

    pub fn next(&mut self, tree: &[(String, &'static str)]) -> Op {
        loop {
            let op = self.any_op(tree);
            if !self.skip.contains(&op.kind().to_string()) {
                return op;
            }
        }
    }

    fn any_op(&mut self, tree: &[(String, &'static str)]) -> Op {
        let r = &mut self.rng;
        let mode = *r.pick(MODES);
        let seed = r.next_u64();
        match self.rng.below(100) {
            0..=9 => {
                let (excl, trunc) = (self.rng.percent(40), self.rng.percent(30));
                Op::Create {
                    path: self.any(tree, 30),
                    mode,
                    excl,
                    trunc,
                }
            }
            10..=23 => {
                let len = if self.rng.percent(10) {
                    100_000
                } else {
                    1 + self.rng.below(8192) as usize
                };
                let offset = if self.rng.percent(20) {
                    self.rng.below(2 << 20)
                } else {
                    self.rng.below(30_000)
                };
                let (append, trunc) = (self.rng.percent(15), self.rng.percent(10));
                Op::Write {
                    path: self.file_or_any(tree),
                    offset,
                    len,
                    seed,
                    append,
                    trunc,
                }
            }
            24..=29 => {
                let len = *self.rng.pick(&[0, 1, 100, 4096, 5000, 70_000, 1 << 21]);
                Op::Truncate {
                    path: self.file_or_any(tree),
                    len,
                }
            }
            30..=43 => {
                let from = if self.rng.percent(40) {
                    self.dir_or_any(tree)
                } else {
                    self.any(tree, 90)
                };
                let to = match self.rng.below(10) {
                    0..=4 => self.fresh(tree),
                    5..=7 => self.dir_or_any(tree),
                    _ => self.any(tree, 90),
                };
                let flags = match self.rng.below(20) {
                    0..=2 => RenameFlags::RENAME_NOREPLACE.bits(),
                    3..=5 => RenameFlags::RENAME_EXCHANGE.bits(),
                    _ => 0,
                };
                Op::Rename { from, to, flags }
            }
            44..=51 => Op::Unlink {
                path: self.any(tree, 85),
            },
            52..=57 => Op::Rmdir {
                path: self.dir_or_any(tree),
            },
            58..=65 => Op::Mkdir {
                path: self.any(tree, 20),
                mode: *self.rng.pick(&[0o755, 0o700, 0o555, 0o777, 0o2775]),
            },
            66..=71 => {
                let from = self.file_or_any(tree);
                Op::Link {
                    from,
                    to: self.any(tree, 25),
                }
            }
            72..=76 => {
                let target = self
                    .rng
                    .pick(&["a", "b/a", "a/d", "nowhere", "j", "c", "m"])
                    .to_string();
                Op::Symlink {
                    target,
                    path: self.any(tree, 25),
                }
            }
            77..=82 => Op::Chmod {
                path: self.any(tree, 90),
                mode,
            },
            83..=87 => {
                // Never an overlay-private name (`trusted.overlay.*`): Linux
                // >= 6.7 accepts and *shows* them through the mount (escaped
                // as `trusted.overlay.overlay.*` in upper, for nesting), while
                // the spec wants them hidden; that is a deliberate difference.
                let name = self.rng.pick(XATTRS).to_string();
                let mut value = pattern(1 + self.rng.below(64) as usize, seed);
                if name.starts_with("system.") {
                    // A value of its kind (any, for the other ACL name:
                    // EACCES/EINVAL), chosen by the seed (no extra draw).
                    let values = acl_values();
                    let (_, v) = &values[(seed % values.len() as u64) as usize];
                    value = v.clone();
                }
                Op::Setxattr {
                    path: self.any(tree, 90),
                    name,
                    value,
                }
            }
            88..=89 => {
                let name = self.rng.pick(XATTRS).to_string();
                Op::Removexattr {
                    path: self.any(tree, 90),
                    name,
                }
            }
            90..=94 => Op::Read {
                path: self.file_or_any(tree),
            },
            95..=96 => Op::Readdir {
                path: self.dir_or_any(tree),
            },
            97 => Op::UnlinkWhileOpen {
                path: self.file_or_any(tree),
                seed,
            },
            _ => Op::ReadAcrossCopyUp {
                path: self.file_or_any(tree),
                seed,
            },
        }
    }
}
