//! The Dockerfile parser, the expansion lexer and the .dockerignore matcher
//! on arbitrary input: no panic, no hang. The body lives in
//! `builder::fuzz` so the normal tests run it too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| builder::fuzz::dockerfile(data));
