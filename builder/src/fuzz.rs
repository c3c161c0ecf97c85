//! The bodies of the fuzz targets (`fuzz/fuzz_targets/*.rs` call these), in
//! the library so that the normal test suite runs the very same code on the
//! seeds, every crash found so far and deterministic mutations, without
//! nightly (`builder/tests/fuzz_smoke.rs`). No function may panic on any
//! input; the assertions in them are properties, so a failed one is a bug.

use std::collections::BTreeMap;
use std::fs;

use crate::dockerfile::{self, ParseOptions, expand, ignore};
use crate::oci::layout::{Descriptor, resolve_manifest};
use crate::oci::{Compression, OciError};
use crate::store::{self, extract_layer};

/// The Dockerfile parser, the expansion lexer and the .dockerignore matcher.
pub fn dockerfile(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut opts = ParseOptions::default();
    let _ = dockerfile::parse(&text, &opts);
    // Second pass with build args and a target, which exercise other paths.
    opts.build_args = BTreeMap::from([("A".to_string(), "x y".to_string())]);
    opts.target = Some("build".into());
    if let Ok(df) = dockerfile::parse(&text, &opts) {
        for st in &df.stages {
            for i in &st.instructions {
                let _ = i.command.to_string();
            }
        }
    }
    let vars = BTreeMap::from([("A".to_string(), "a/b/c".to_string())]);
    let _ = expand::expand(&text, &vars, '\\');
    let _ = expand::Lexer::new('`').words(&text, &vars);
    if let Ok(m) = ignore::Matcher::parse(&text) {
        for p in ["a", "a/b", "x/y/z.go", ".git/config", "node_modules/x"] {
            let _ = m.excluded(p);
        }
    }
}

/// Both reference parsers (the store's names and the registry's). A
/// parsed reference prints to a string that parses back to itself.
pub fn reference(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for input in [text, text.trim()] {
        if let Ok(r) = store::Reference::parse(input) {
            for printed in [r.to_string(), r.full_string()] {
                let back = store::Reference::parse(&printed);
                assert_eq!(back.ok().as_ref(), Some(&r), "{input:?} -> {printed:?}");
            }
            let _ = r.with_tag("v1");
        }
        let _ = store::Reference::parse_tagged(input);
        if let Ok(r) = crate::oci::registry::Reference::parse(input) {
            let printed = r.to_string();
            let back = crate::oci::registry::Reference::parse(&printed);
            assert_eq!(back.ok().as_ref(), Some(&r), "{input:?} -> {printed:?}");
            let _ = (
                r.familiar(),
                r.full_tagged(),
                r.api_host(),
                r.manifest_ref(),
            );
        }
    }
}

/// Rewrites the header checksum of every entry of a tar stream, so that
/// mutated headers reach the extractor instead of failing the checksum.
pub fn fix_tar_checksums(bytes: &mut [u8]) {
    let mut pos = 0;
    while pos + 512 <= bytes.len() {
        let block = &mut bytes[pos..pos + 512];
        if block.iter().all(|b| *b == 0) {
            return;
        }
        let header = tar::Header::from_byte_slice(block);
        let size = header.entry_size().unwrap_or(0);
        let mut fixed = header.clone();
        fixed.set_cksum();
        block.copy_from_slice(fixed.as_bytes());
        let data = size.div_ceil(512).saturating_mul(512);
        pos = match usize::try_from(data)
            .ok()
            .and_then(|d| pos.checked_add(512)?.checked_add(d))
        {
            Some(next) => next,
            None => return,
        };
    }
}

/// Layer import: the (decompressed) stream extracted into a fresh dir in
/// a fresh parent. Whatever happens, nothing appears next to the layer.
pub fn layer_tar(data: &[u8]) {
    let mut bytes = data.to_vec();
    fix_tar_checksums(&mut bytes);
    let Ok(outer) = tempfile::tempdir() else {
        return;
    };
    let dest = outer.path().join("layer");
    if fs::create_dir(&dest).is_err() {
        return;
    }
    if let Ok(stream) = crate::oci::media::decompress_sniffed(&bytes[..]) {
        let _ = extract_layer(stream, &dest);
    }
    let names: Vec<_> = fs::read_dir(outer.path())
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["layer"], "an entry escaped the layer dir");
}

/// OCI index/manifest JSON as a layout or a registry hands it over: `data`
/// is the first blob read and, through nested indexes, every later one.
pub fn oci_json(data: &[u8]) {
    let desc: Descriptor = match serde_json::from_value(serde_json::json!({
        "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "size": data.len(),
    })) {
        Ok(d) => d,
        Err(_) => return,
    };
    let read = |_: &str, _: u64| -> Result<Vec<u8>, OciError> { Ok(data.to_vec()) };
    if let Ok((manifest, _config)) = resolve_manifest(&desc, "fuzz", &read) {
        for l in &manifest.layers {
            let _ = Compression::of_layer(&l.media_type, &l.digest);
            let _ = crate::oci::digest::sha256_hex(&l.digest);
        }
    }
    let _ = crate::oci::image::parse_config(data, "fuzz");
}

/// A small deterministic PRNG (xorshift64*) for the tests that stand in for
/// the fuzzers: the same inputs on every run, so failures reproduce.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}
