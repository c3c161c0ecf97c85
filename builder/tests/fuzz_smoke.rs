//! The fuzz targets without nightly: each `builder::fuzz` function (what
//! `fuzz/fuzz_targets/*.rs` call) gets its seeds, every crash input kept in
//! `fuzz/regressions/<target>/`, then deterministic mutations of the seeds
//! (bit flips, interesting bytes, inserts, deletes, repeats, splices).
//! 2,000 mutations per target here; `STRATA_LONG_TESTS=1` runs 100,000.
//! A panic is a bug: the seed and mutation number are in the message.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use builder::fuzz::Rng;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Files of the given dirs (those that exist), sorted by path.
fn inputs(dirs: &[PathBuf]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut paths: Vec<_> = rd.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for p in paths.into_iter().filter(|p| p.is_file()) {
            out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    out
}

const INTERESTING: &[u8] = b"\0\xff/.:@-_ \n\\$\"{}[]0Z9\x7f";

fn mutate(rng: &mut Rng, seeds: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].1.clone();
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        match rng.below(6) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                data.splice(i..i, bytes);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                data.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                let chunk = data[i..i + n].to_vec();
                data.splice(i..i, chunk);
            }
            _ => {
                let other = &seeds[rng.below(seeds.len())].1;
                let cut = rng.below(data.len() + 1);
                let from = rng.below(other.len() + 1);
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
        }
    }
    data
}

fn mutations() -> usize {
    if std::env::var_os("STRATA_LONG_TESTS").is_some() {
        100_000
    } else {
        2_000
    }
}

/// Seeds and regressions first, then the mutations; names the input on a
/// panic.
fn run(target: &str, seed_dirs: &[PathBuf], body: fn(&[u8])) {
    let regressions = repo().join("fuzz/regressions").join(target);
    let mut dirs = seed_dirs.to_vec();
    dirs.push(regressions);
    let seeds = inputs(&dirs);
    assert!(!seeds.is_empty(), "{target}: no seeds in {dirs:?}");
    for (name, data) in &seeds {
        let ok = std::panic::catch_unwind(|| body(data));
        assert!(ok.is_ok(), "{target}: {name} panicked");
    }
    let mut rng = Rng(0x5eed_0000 ^ target.len() as u64);
    for i in 0..mutations() {
        let data = mutate(&mut rng, &seeds);
        let ok = std::panic::catch_unwind(|| body(&data));
        assert!(
            ok.is_ok(),
            "{target}: mutation {i} panicked on {:?}",
            String::from_utf8_lossy(&data)
        );
    }
}

#[test]
fn dockerfile_parse() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dockerfile/corpus");
    run("dockerfile_parse", &[corpus], builder::fuzz::dockerfile);
}

#[test]
fn reference_parse() {
    let seeds = repo().join("fuzz/seeds/reference_parse");
    run("reference_parse", &[seeds], builder::fuzz::reference);
}

#[test]
fn layer_tar() {
    let seeds = repo().join("fuzz/seeds/layer_tar");
    run("layer_tar", &[seeds], builder::fuzz::layer_tar);
}

#[test]
fn oci_json() {
    let seeds = repo().join("fuzz/seeds/oci_json");
    run("oci_json", &[seeds], builder::fuzz::oci_json);
}
