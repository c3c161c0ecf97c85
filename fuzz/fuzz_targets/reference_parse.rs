//! Both image reference parsers: no panic, and a parsed reference prints to a
//! string that parses back to itself.
//! The body lives in `builder::fuzz` so the normal tests run it too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| builder::fuzz::reference(data));
