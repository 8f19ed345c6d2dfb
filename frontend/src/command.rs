//! The pasted `docker run …` line: split into words as a POSIX shell would, and checked with the
//! gateway's own parser and planner (the shared crate), so errors show before anything is sent.

use berth_shared::spec::RunSpec;
use berth_shared::{argv, plan, shell};

/// The arguments after `docker run` in a pasted line, which may or may not start with
/// `docker run` / `docker container run` (or `$ docker run`, copied from a doc).
pub fn run_args(line: &str) -> Result<Vec<String>, String> {
    let mut words = shell::split_words(line)?;
    if words.first().is_some_and(|w| w == "$") {
        words.remove(0);
    }
    let skip = match words
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["docker", "container", "run", ..] => 3,
        ["docker", "run", ..] => 2,
        ["docker", other, ..] => {
            return Err(format!(
                "only `docker run` commands can be pasted here, not `docker {other}`"
            ));
        }
        ["run", ..] => 1,
        _ => 0,
    };
    Ok(words.split_off(skip))
}

/// A pasted line, checked: its arguments and spec, or the first error the gateway would give.
pub fn check(line: &str) -> Result<(Vec<String>, RunSpec), String> {
    let args = run_args(line)?;
    let spec = argv::parse(&args).map_err(|e| e.to_string())?;
    plan::build(&spec).map_err(|e| e.to_string())?;
    Ok((args, spec))
}

/// The `docker run` line for a spec (what "Copy as docker run" copies). A spec without an image
/// yet (the form half filled) renders without the empty image word.
pub fn line(spec: &RunSpec) -> String {
    if !spec.image.is_empty() {
        return argv::render_command_line(spec);
    }
    let mut words = argv::render(spec);
    if spec.command.is_empty() {
        words.pop();
    }
    format!("docker run {}", command_text(&words))
        .trim_end()
        .to_string()
}

/// Parses arguments for the form even before they name an image, so options typed first are
/// kept when the image is then typed into the form.
pub fn parse_for_form(args: &[String]) -> Option<RunSpec> {
    match argv::parse(args) {
        Ok(spec) => Some(spec),
        Err(argv::ArgvError::MissingImage) => {
            let mut with_image = args.to_vec();
            with_image.push(String::new());
            argv::parse(&with_image).ok()
        }
        Err(_) => None,
    }
}

/// A multi-valued form field: one value per line (commas also separate ports).
pub fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The command box of the form: words, quoted when needed, so it round-trips.
pub fn command_text(words: &[String]) -> String {
    words
        .iter()
        .map(|w| shell::quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}
