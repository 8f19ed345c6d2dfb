//! The attach/logs stream demuxer, read whole and in arbitrary pieces. The body and its invariants: `berth_server::fuzzing::demux`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berth_server::fuzzing::demux(data));
