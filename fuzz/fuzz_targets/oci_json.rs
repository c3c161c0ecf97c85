//! OCI index/manifest JSON (nested indexes, platform choice, layer media
//! types) and image configs: no panic, no unbounded recursion.
//! The body lives in `builder::fuzz` so the normal tests run it too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| builder::fuzz::oci_json(data));
