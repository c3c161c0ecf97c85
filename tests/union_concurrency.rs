//! Two threads hammering one merged directory (create, write, rename,
//! unlink, mkdir, rmdir, readdir): no deadlock (a generous watchdog fails
//! the test, it never measures speed), no lost or duplicated entries, and
//! every file holds what its thread last put there. Each thread owns its
//! names, so at any time it knows exactly which of them must exist; entries
//! nobody touches must show up exactly once in every listing.
//! Needs root and /dev/fuse.

mod common;
mod union_support;

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use union_support::layers;
use union_support::mount::{Layout, Mount};
use union_support::rng::Rng;

const KEEP: usize = 40;
const THREADS: usize = 2;
/// Far above any plausible run time: only a hang trips it.
const WATCHDOG: Duration = Duration::from_secs(600);

/// A thread's own entries: name -> Some(content) for files, None for dirs.
type Model = BTreeMap<String, Option<String>>;

fn initial_model(t: usize) -> Model {
    (0..8)
        .map(|k| (format!("t{t}_lower_{k}"), Some(format!("lower {t} {k}\n"))))
        .collect()
}

fn setup(layout: &Layout) {
    let dir = layout.lowers[0].join("shared");
    for i in 0..KEEP {
        layers::file(&dir.join(format!("keep_{i:02}")), b"untouched\n", 0o644);
    }
    for t in 0..THREADS {
        for (name, content) in initial_model(t) {
            layers::file(
                &dir.join(name),
                content.unwrap_or_default().as_bytes(),
                0o644,
            );
        }
    }
}

fn check_listing(dir: &Path, t: usize, model: &Model, step: u64) -> Result<(), String> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| format!("opendir: {e}"))? {
        names.push(
            e.map_err(|e| format!("readdir: {e}"))?
                .file_name()
                .to_string_lossy()
                .into_owned(),
        );
    }
    let count = |n: &str| names.iter().filter(|x| *x == n).count();
    for i in 0..KEEP {
        let n = format!("keep_{i:02}");
        if count(&n) != 1 {
            return Err(format!(
                "step {step}: untouched {n} listed {} times",
                count(&n)
            ));
        }
    }
    let prefix = format!("t{t}_");
    let mut mine: Vec<&String> = names.iter().filter(|n| n.starts_with(&prefix)).collect();
    mine.sort();
    let want: Vec<&String> = model.keys().collect();
    if mine != want {
        // What the odd names are now (a second look), for the report.
        let odd: Vec<String> = mine
            .iter()
            .filter(|n| !want.contains(n))
            .chain(want.iter().filter(|n| !mine.contains(n)))
            .map(|n| match std::fs::symlink_metadata(dir.join(n.as_str())) {
                Ok(m) => format!("{n}: now a {:?}", m.file_type()),
                Err(e) => format!("{n}: now {e}"),
            })
            .collect();
        return Err(format!(
            "step {step}: thread {t} lists {mine:?}, but its entries are {want:?} ({})",
            odd.join(", ")
        ));
    }
    Ok(())
}

/// One thread's workload; returns a description of the first violation.
fn hammer(dir: PathBuf, t: usize, ops: u64) -> Result<(), String> {
    let mut rng = Rng::new(1000 + t as u64);
    let mut model = initial_model(t);
    let fresh = |rng: &mut Rng| format!("t{t}_{}", rng.below(24));
    for step in 0..ops {
        let ctx = |e: std::io::Error, what: String| format!("thread {t} step {step}: {what}: {e}");
        let files: Vec<String> = model
            .iter()
            .filter(|(_, c)| c.is_some())
            .map(|(n, _)| n.clone())
            .collect();
        match rng.below(10) {
            0 | 1 => {
                let name = fresh(&mut rng);
                if let Entry::Vacant(slot) = model.entry(name.clone()) {
                    let content = format!("{name} written at step {step}\n");
                    std::fs::write(dir.join(&name), &content)
                        .map_err(|e| ctx(e, format!("create {name}")))?;
                    slot.insert(Some(content));
                }
            }
            2 | 3 if !files.is_empty() => {
                let from = rng.pick(&files).clone();
                let to = fresh(&mut rng);
                // Over an own file it replaces it; over an own dir it would
                // fail, so pick again next time.
                if from != to && !matches!(model.get(&to), Some(None)) {
                    std::fs::rename(dir.join(&from), dir.join(&to))
                        .map_err(|e| ctx(e, format!("rename {from} -> {to}")))?;
                    let content = model.remove(&from).flatten();
                    model.insert(to, content);
                }
            }
            4 if !files.is_empty() => {
                let name = rng.pick(&files).clone();
                std::fs::remove_file(dir.join(&name))
                    .map_err(|e| ctx(e, format!("unlink {name}")))?;
                model.remove(&name);
            }
            5 => {
                let name = fresh(&mut rng);
                match model.get(&name) {
                    None => {
                        std::fs::create_dir(dir.join(&name))
                            .map_err(|e| ctx(e, format!("mkdir {name}")))?;
                        model.insert(name, None);
                    }
                    Some(None) => {
                        std::fs::remove_dir(dir.join(&name))
                            .map_err(|e| ctx(e, format!("rmdir {name}")))?;
                        model.remove(&name);
                    }
                    Some(Some(_)) => {}
                }
            }
            6 | 7 => {
                check_listing(&dir, t, &model, step).map_err(|e| format!("thread {t}: {e}"))?
            }
            _ if !files.is_empty() => {
                let name = rng.pick(&files).clone();
                let got = std::fs::read_to_string(dir.join(&name))
                    .map_err(|e| ctx(e, format!("read {name}")))?;
                if Some(&got) != model[&name].as_ref() {
                    return Err(format!(
                        "thread {t} step {step}: {name} holds {got:?}, wrote {:?}",
                        model[&name]
                    ));
                }
            }
            _ => {}
        }
    }
    check_listing(&dir, t, &model, ops).map_err(|e| format!("thread {t}: {e}"))?;
    for (name, content) in &model {
        let path = dir.join(name);
        match content {
            Some(c) => {
                let got = std::fs::read_to_string(&path)
                    .map_err(|e| format!("thread {t}: read {name}: {e}"))?;
                if &got != c {
                    return Err(format!(
                        "thread {t}: at the end {name} holds {got:?}, wrote {c:?}"
                    ));
                }
            }
            None if !path.is_dir() => return Err(format!("thread {t}: dir {name} is gone")),
            None => {}
        }
    }
    Ok(())
}

fn run_hammer(ops_per_thread: u64) {
    common::require_root_and_fuse();
    let tmp = union_support::tempdir();
    let layout = Layout::create(tmp.path(), 1);
    setup(&layout);
    let mount = Mount::union(&layout);
    let dir = mount.path().join("shared");
    let (tx, rx) = mpsc::channel();
    for t in 0..THREADS {
        let (tx, dir) = (tx.clone(), dir.clone());
        std::thread::spawn(move || {
            let result = std::panic::catch_unwind(|| hammer(dir, t, ops_per_thread))
                .unwrap_or_else(|_| Err(format!("thread {t} panicked")));
            let _ = tx.send(result);
        });
    }
    drop(tx);
    let mut errors = Vec::new();
    for _ in 0..THREADS {
        match rx.recv_timeout(WATCHDOG) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(e),
            Err(_) => {
                // Unblock the stuck threads before failing, so the test
                // binary can still exit and the mount can go.
                mount.abort_fuse();
                panic!("deadlock: the threads made no progress within {WATCHDOG:?}");
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    // Everything is still there on a fresh mount of the same upper dir.
    let before = union_support::snapshot::snapshot(&dir);
    mount.unmount();
    let mount = Mount::union(&layout);
    let after = union_support::snapshot::snapshot(&mount.path().join("shared"));
    let diffs = union_support::snapshot::diff("before unmount", &before, "after remount", &after);
    assert!(
        diffs.is_empty(),
        "shared/ changed across a remount:\n{}",
        diffs.join("\n")
    );
}

#[test]
fn union_two_threads_hammer_one_directory() {
    run_hammer(3000);
}

#[test]
fn union_two_threads_hammer_one_directory_long() {
    if !union_support::long_tests() {
        eprintln!("skipped: set STRATA_LONG_TESTS=1 for the long run");
        return;
    }
    run_hammer(50_000);
}
