//! The policy file (TOML), optionally with a plan's arguments after a 0xFF byte. The body and its invariants: `berth_server::fuzzing::policy_file`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berth_server::fuzzing::policy_file(data));
