//! The pull progress decoder, fed in arbitrary pieces. The body and its invariants: `berth_server::fuzzing::pull_progress`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berth_server::fuzzing::pull_progress(data));
