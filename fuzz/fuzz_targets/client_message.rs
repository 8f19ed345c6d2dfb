//! A text message on a run or exec WebSocket. The body and its invariants: `berth_server::fuzzing::client_message`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berth_server::fuzzing::client_message(data));
