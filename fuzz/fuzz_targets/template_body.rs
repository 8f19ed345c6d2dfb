//! A demo template body (`POST /api/templates`). The body and its invariants: `berth_server::fuzzing::template_body`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berth_server::fuzzing::template_body(data));
