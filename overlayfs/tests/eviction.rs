//! Requests of every kind while the kernel keeps evicting dentries and
//! inodes (and so sends FORGETs, served by other daemon threads, for
//! inodes the same requests are about): creates, hard links, renames of
//! files and of lower directory trees (a copy-up of the whole tree),
//! unlinks, rmdirs, readdirplus listings and stats of lower files. Each
//! thread owns its names, so it knows what must exist: every request that
//! must succeed does, and every listing shows exactly the thread's names.
//! Once all is removed and forgotten, the table holds the root only.
//! The long variant (`STRATA_LONG_TESTS=1`) runs more operations.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use common::evict::{Evictor, forget_all};
use common::{Union, layers};

const THREADS: usize = 3;
const TREES: usize = 8;
const SHARED: usize = 60;

/// xorshift64*: a seeded sequence, enough to vary the operations.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    File,
    Dir,
    /// A lower directory tree moved in (its files counted).
    Tree,
}

/// One thread's run on its own dir `w{t}`; the first failure, if any.
fn work(u: &Union, t: usize, ops: usize) -> Result<(), String> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1));
    let dir = u.m(&format!("w{t}"));
    let mut model: BTreeMap<String, Kind> = BTreeMap::new();
    let mut next = 0usize;
    let mut fresh = |prefix: &str| {
        next += 1;
        format!("{prefix}{next}")
    };
    let mut moved = 0usize;
    for step in 0..ops {
        let names: Vec<String> = model.keys().cloned().collect();
        let pick = |rng: &mut Rng, kind: Kind| {
            let of: Vec<&String> = names.iter().filter(|n| model[*n] == kind).collect();
            (!of.is_empty()).then(|| of[rng.below(of.len())].clone())
        };
        // Removals only past a bound: every listing stats every entry.
        let what = if model.len() > 120 {
            3 + rng.below(2)
        } else {
            rng.below(10)
        };
        let res = match what {
            0 | 1 => {
                let n = fresh("f");
                model.insert(n.clone(), Kind::File);
                fs::write(dir.join(&n), "data").map_err(|e| format!("create {n}: {e}"))
            }
            2 => {
                let n = fresh("d");
                model.insert(n.clone(), Kind::Dir);
                fs::create_dir(dir.join(&n)).map_err(|e| format!("mkdir {n}: {e}"))
            }
            3 => match pick(&mut rng, Kind::File) {
                Some(n) => {
                    model.remove(&n);
                    fs::remove_file(dir.join(&n)).map_err(|e| format!("unlink {n}: {e}"))
                }
                None => Ok(()),
            },
            4 => match pick(&mut rng, Kind::Dir) {
                Some(n) => {
                    model.remove(&n);
                    fs::remove_dir(dir.join(&n)).map_err(|e| format!("rmdir {n}: {e}"))
                }
                None => Ok(()),
            },
            5 => match pick(&mut rng, Kind::File) {
                Some(n) => {
                    let to = fresh("r");
                    model.remove(&n);
                    model.insert(to.clone(), Kind::File);
                    fs::rename(dir.join(&n), dir.join(&to))
                        .map_err(|e| format!("rename {n} {to}: {e}"))
                }
                None => Ok(()),
            },
            6 => match pick(&mut rng, Kind::File) {
                Some(n) => {
                    let to = fresh("l");
                    model.insert(to.clone(), Kind::File);
                    fs::hard_link(dir.join(&n), dir.join(&to))
                        .map_err(|e| format!("link {n} {to}: {e}"))
                }
                None => Ok(()),
            },
            7 if moved < TREES => {
                // A lower tree: the kernel looks its files up first.
                let src = u.m(&format!("t{t}_{moved}"));
                let files = fs::read_dir(src.join("s")).map_err(|e| format!("ls tree: {e}"));
                files.and_then(|files| {
                    for f in files {
                        fs::symlink_metadata(f.unwrap().path()).unwrap();
                    }
                    let to = format!("m{moved}");
                    moved += 1;
                    model.insert(to.clone(), Kind::Tree);
                    fs::rename(&src, dir.join(&to)).map_err(|e| format!("rename tree {to}: {e}"))
                })
            }
            8 => check_listing(&dir, &model),
            _ => {
                for i in (0..SHARED).step_by(1 + rng.below(7)) {
                    let p = u.m(&format!("shared/f{i}"));
                    if let Err(e) = fs::symlink_metadata(&p) {
                        return Err(format!("step {step}: stat shared/f{i}: {e}"));
                    }
                }
                Ok(())
            }
        };
        res.map_err(|e| format!("thread {t} step {step}: {e}"))?;
    }
    check_listing(&dir, &model)
}

/// Listing (with every entry's attributes, as `ls -l`) of `dir` equals
/// the model, moved trees whole.
fn check_listing(dir: &Path, model: &BTreeMap<String, Kind>) -> Result<(), String> {
    let mut seen = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| format!("ls: {e}"))? {
        let e = e.map_err(|e| format!("readdir: {e}"))?;
        let meta = fs::symlink_metadata(e.path())
            .map_err(|err| format!("stat {:?}: {err}", e.file_name()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if model.get(&name) == Some(&Kind::Tree) {
            let n = fs::read_dir(e.path().join("s")).map_err(|e| format!("{e}"))?;
            if n.count() != 10 {
                return Err(format!("{name}: files lost"));
            }
        } else if meta.is_dir() != (model.get(&name) == Some(&Kind::Dir)) {
            return Err(format!("{name}: unexpected kind"));
        }
        seen.push(name);
    }
    seen.sort();
    let want: Vec<&String> = model.keys().collect();
    if seen.iter().collect::<Vec<_>>() != want {
        return Err(format!("listing {seen:?}, want {want:?}"));
    }
    Ok(())
}

fn run(ops: usize) {
    let l = layers(1);
    for i in 0..SHARED {
        l.file(0, &format!("shared/f{i}"), "lower");
    }
    for t in 0..THREADS {
        for k in 0..TREES {
            for f in 0..10 {
                l.file(0, &format!("t{t}_{k}/s/f{f}"), "tree");
            }
        }
    }
    let u = l.mount();
    for t in 0..THREADS {
        fs::create_dir(u.m(&format!("w{t}"))).unwrap();
    }
    let evictor = Evictor::start();
    let errors: Vec<String> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let u = &u;
                s.spawn(move || work(u, t, ops))
            })
            .collect();
        threads
            .into_iter()
            .filter_map(|h| h.join().unwrap().err())
            .collect()
    });
    assert!(errors.is_empty(), "{errors:#?}");
    for t in 0..THREADS {
        fs::remove_dir_all(u.m(&format!("w{t}"))).unwrap();
    }
    // Everything the threads made is gone: once the kernel forgets what it
    // looked up, no node is left but the root (and no open file).
    let stats = forget_all(&u, 1);
    drop(evictor);
    assert_eq!(
        (stats.inodes, stats.open_files, stats.open_dirs),
        (1, 0, 0),
        "{stats:?}"
    );
}

/// About 3 s: 3 threads x 600 operations.
#[test]
fn requests_racing_forgets_succeed_and_leave_nothing_behind() {
    run(600);
}

#[test]
fn requests_racing_forgets_succeed_and_leave_nothing_behind_long() {
    if std::env::var("STRATA_LONG_TESTS").as_deref() != Ok("1") {
        eprintln!("skipped: set STRATA_LONG_TESTS=1 for the long run");
        return;
    }
    run(5_000);
}
