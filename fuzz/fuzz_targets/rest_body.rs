//! A REST request body (byte 0 picks which), as its handler reads and checks it. The body and its invariants: `berth_server::fuzzing::rest_body`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berth_server::fuzzing::rest_body(data));
