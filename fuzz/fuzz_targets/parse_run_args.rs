//! `docker run` arguments from arbitrary bytes: NUL-separated words (UTF-8, lossy).
//! Whatever parses and plans must render back to the same spec, and that spec must plan
//! to the same create request.

#![no_main]

use berth_shared::{argv, plan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let words: Vec<String> = data
        .split(|b| *b == 0)
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    let Ok(spec) = argv::parse(&words) else {
        return;
    };
    let Ok(first) = plan::build(&spec) else {
        return;
    };
    let rendered = argv::render(&spec);
    let reparsed = argv::parse(&rendered)
        .unwrap_or_else(|e| panic!("render {rendered:?} of {words:?} does not parse: {e}"));
    assert_eq!(
        reparsed, spec,
        "round trip of {words:?} through {rendered:?}"
    );
    let second = plan::build(&reparsed)
        .unwrap_or_else(|e| panic!("re-parsed {rendered:?} does not plan: {e}"));
    assert_eq!(second, first, "plan of {words:?} after the round trip");
});
