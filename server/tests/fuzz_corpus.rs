//! Replays every committed fuzz input — the minimised corpus (`fuzz/corpus/<target>/`) and the
//! inputs of past findings (`fuzz/regressions/<target>/`) — through the fuzz targets' own
//! bodies (`berth_server::fuzzing`), so a regression fails `cargo test` without nightly Rust or
//! cargo-fuzz. fuzz/README.md describes the targets and how to fuzz them.

use std::path::{Path, PathBuf};

use berth_server::fuzzing::TARGETS;

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str) {
    let (_, body) = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no fuzz target {target}"));
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let corpus = inputs(&fuzz.join("corpus").join(target));
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target}/ is empty: its seeds are committed"
    );
    let regressions = inputs(&fuzz.join("regressions").join(target));
    for path in corpus.iter().chain(&regressions) {
        let data = std::fs::read(path).expect("a corpus file");
        let outcome = std::panic::catch_unwind(|| body(&data));
        assert!(
            outcome.is_ok(),
            "{target} fails on {} (replay: cd fuzz && cargo fuzz run {target} {})",
            path.display(),
            path.display()
        );
    }
}

#[test]
fn every_target_is_replayed() {
    let tested = [
        "parse_run_args",
        "demux",
        "pull_progress",
        "client_message",
        "rest_body",
        "run_spec",
        "policy_file",
        "template_body",
    ];
    let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, tested, "a target without its replay test below");
}

#[test]
fn parse_run_args() {
    replay("parse_run_args");
}

#[test]
fn demux() {
    replay("demux");
}

#[test]
fn pull_progress() {
    replay("pull_progress");
}

#[test]
fn client_message() {
    replay("client_message");
}

#[test]
fn rest_body() {
    replay("rest_body");
}

#[test]
fn run_spec() {
    replay("run_spec");
}

#[test]
fn policy_file() {
    replay("policy_file");
}

#[test]
fn template_body() {
    replay("template_body");
}
