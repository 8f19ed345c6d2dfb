//! The structured JSON form of a run (`"spec"`). The body and its invariants: `berth_server::fuzzing::run_spec`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berth_server::fuzzing::run_spec(data));
