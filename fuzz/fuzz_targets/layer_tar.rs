//! Layer import: a (possibly compressed) tar stream, header checksums fixed
//! up, extracted into a fresh directory: no panic, nothing written beside it.
//! The body lives in `builder::fuzz` so the normal tests run it too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| builder::fuzz::layer_tar(data));
