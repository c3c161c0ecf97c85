//! Differential test of the union filesystem against kernel overlayfs: the
//! same seeded random operations on identical copies of a generated 3-layer
//! stack; after each step the outcome (value or errno) and the state of the
//! touched paths match, and the whole visible trees match every 100 steps
//! and at the end.
//!
//! Replay: `STRATA_DIFF_SEED=<seed> [STRATA_DIFF_OPS=<n>] cargo test --test
//! union_differential`. Longer runs: `STRATA_LONG_TESTS=1`.
//! Needs root and /dev/fuse.

mod common;
mod union_support;

use std::collections::VecDeque;
use std::path::Path;

use union_support::mount::{Layout, Mount, watchdog};
use union_support::ops::{Generator, Op, Outcome, apply};
use union_support::{layers, rng, snapshot};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a number"))
    })
}

/// State of the paths an op touched, as a user sees them (or the errno).
fn touched(root: &Path, op: &Op) -> Vec<Result<snapshot::Entry, i32>> {
    op.paths()
        .into_iter()
        .map(|p| snapshot::entry(&root.join(p)).map_err(|e| e.raw_os_error().unwrap_or(-1)))
        .collect()
}

fn compare_trees(kernel: &Path, union: &Path) -> Vec<String> {
    snapshot::diff(
        "kernel",
        &snapshot::snapshot(kernel),
        "union",
        &snapshot::snapshot(union),
    )
}

/// Runs `n_ops` operations from `seed` under `root`; returns a failure
/// description.
fn run(root: &Path, seed: u64, n_ops: u64) -> Result<(), String> {
    let k = Layout::create(&root.join("kernel"), 3);
    let u = Layout::create(&root.join("union"), 3);
    // Built twice from the seed rather than copied: identical by
    // construction, and no tool's copy semantics in between.
    layers::generate_stack(&k.lowers, seed);
    layers::generate_stack(&u.lowers, seed);
    let kernel = Mount::kernel(&k);
    let union = Mount::union(&u);

    let diffs = compare_trees(kernel.path(), union.path());
    if !diffs.is_empty() {
        return Err(format!(
            "trees differ right after mounting:\n{}",
            diffs.join("\n")
        ));
    }
    let mut gen_ = Generator::new(seed);
    let mut recent: VecDeque<String> = VecDeque::new();
    // Per operation kind: (succeeded, failed), to show the run did real work.
    let mut stats: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for step in 0..n_ops {
        let tree = snapshot::listing(kernel.path());
        let op = gen_.next(&tree);
        let rk: Outcome = apply(kernel.path(), &op);
        let ru: Outcome = apply(union.path(), &op);
        recent.push_back(format!("  #{step} {op:?} -> {rk:?}"));
        let kind = format!("{op:?}")
            .split([' ', '{'])
            .next()
            .unwrap_or_default()
            .to_string();
        let counts = stats.entry(kind).or_default();
        if rk.is_ok() {
            counts.0 += 1;
        } else {
            counts.1 += 1;
        }
        if recent.len() > 25 {
            recent.pop_front();
        }
        let history = || recent.iter().cloned().collect::<Vec<_>>().join("\n");
        if rk != ru {
            return Err(format!(
                "step {step}: {op:?}\n  kernel: {}\n  union:  {}\nlast ops (kernel outcome):\n{}",
                show(&rk),
                show(&ru),
                history()
            ));
        }
        let (sk, su) = (touched(kernel.path(), &op), touched(union.path(), &op));
        if sk != su {
            return Err(format!(
                "step {step}: {op:?} ({})\n  paths after, kernel: {sk:?}\n  paths after, union:  {su:?}\nlast ops:\n{}",
                show(&rk),
                history()
            ));
        }
        if step % 100 == 99 || step + 1 == n_ops {
            let diffs = compare_trees(kernel.path(), union.path());
            if !diffs.is_empty() {
                return Err(format!(
                    "trees differ after step {step}:\n{}\nlast ops:\n{}",
                    diffs.join("\n"),
                    history()
                ));
            }
        }
    }
    let summary: Vec<String> = stats
        .iter()
        .map(|(k, (ok, err))| format!("{k} {ok}/{}", ok + err))
        .collect();
    eprintln!(
        "differential: seed {seed}: succeeded/run per op: {}",
        summary.join(", ")
    );
    // What was written must survive an unmount: compare once more on fresh
    // mounts of the same upper dirs.
    kernel.unmount();
    union.unmount();
    let kernel = Mount::kernel(&k);
    let union = Mount::union(&u);
    let diffs = compare_trees(kernel.path(), union.path());
    if !diffs.is_empty() {
        return Err(format!(
            "trees differ after remounting:\n{}",
            diffs.join("\n")
        ));
    }
    Ok(())
}

fn show(o: &Outcome) -> String {
    match o {
        Ok(v) if v.is_empty() => "ok".into(),
        Ok(v) => format!("ok: {v}"),
        Err(e) => format!("errno {e} ({})", nix::errno::Errno::from_raw(*e).desc()),
    }
}

fn run_seeds(seeds: &[u64], n_ops: u64) {
    let mut failures = Vec::new();
    for &seed in seeds {
        eprintln!("differential: seed {seed}, {n_ops} ops");
        let tmp = union_support::tempdir();
        let root = tmp.path().to_path_buf();
        let union_mnt = root.join("union/mnt");
        // An hour per seed is far beyond any run (about 7 ms per op here).
        let limit = std::time::Duration::from_secs(3600);
        if let Err(e) = watchdog(limit, vec![union_mnt], move || run(&root, seed, n_ops)) {
            failures.push(format!(
                "seed {seed} failed (replay: STRATA_DIFF_SEED={seed} STRATA_DIFF_OPS={n_ops}):\n{e}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn union_differential_vs_kernel_overlay() {
    common::require_root_and_fuse();
    let n_ops = env_u64("STRATA_DIFF_OPS").unwrap_or(1500);
    match env_u64("STRATA_DIFF_SEED") {
        Some(seed) => run_seeds(&[seed], n_ops),
        // One fixed seed (the same every run) and one fresh (new coverage
        // each run, printed on failure): 3000 operations in all.
        None => run_seeds(&[1, rng::fresh_seed()], n_ops),
    }
}

#[test]
fn union_differential_vs_kernel_overlay_long() {
    if !union_support::long_tests() {
        eprintln!("skipped: set STRATA_LONG_TESTS=1 for the long differential run");
        return;
    }
    common::require_root_and_fuse();
    let seeds: Vec<u64> = (0..8).map(|_| rng::fresh_seed()).chain([2, 3]).collect();
    run_seeds(&seeds, env_u64("STRATA_DIFF_OPS").unwrap_or(10_000));
}
