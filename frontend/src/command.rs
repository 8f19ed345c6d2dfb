//! The pasted `docker run …` line: split into words as a POSIX shell would, and checked with the
//! gateway's own parser and planner (the shared crate), so errors show before anything is sent.

use berth_shared::spec::RunSpec;
use berth_shared::{argv, plan};

/// Splits a command line into words: whitespace separates, `'…'` and `"…"` quote, `\` escapes,
/// and a backslash-newline continues the line (as in commands copied from docs).
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(n) => {
                    word.push(n);
                    in_word = true;
                }
                None => return Err("the command ends with a lone backslash".into()),
            },
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(n) => word.push(n),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(n @ ('"' | '\\' | '$' | '`')) => word.push(n),
                            Some('\n') => {}
                            Some(n) => {
                                word.push('\\');
                                word.push(n);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(n) => word.push(n),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// The arguments after `docker run` in a pasted line, which may or may not start with
/// `docker run` / `docker container run` (or `$ docker run`, copied from a doc).
pub fn run_args(line: &str) -> Result<Vec<String>, String> {
    let mut words = split_words(line)?;
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
    let mut out = String::new();
    for w in words {
        if !out.is_empty() {
            out.push(' ');
        }
        let plain = !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_=./:,@%+".contains(&b));
        if plain {
            out.push_str(w);
        } else {
            out.push('\'');
            out.push_str(&w.replace('\'', r#"'\''"#));
            out.push('\'');
        }
    }
    out
}
