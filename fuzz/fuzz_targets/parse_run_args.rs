//! `docker run` arguments from arbitrary bytes: NUL-separated words (UTF-8, lossy). The body and its invariants: `berth_server::fuzzing::parse_run_args`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berth_server::fuzzing::parse_run_args(data));
