//! Shell words, both ways. The browser splits what a user pastes (`docker run …` copied from a
//! terminal or from docs) into words as a POSIX shell would; the server renders a run's argv for
//! the record, and the dashboard for "Copy as docker run", as a line a shell could paste back.
//! The two live together so that [`split_words`] reads back exactly what [`quote`] writes.

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

/// `word` as a POSIX shell reads it back: as it is when every byte is plain (ASCII letters,
/// digits and `-_=./:,@%+`), otherwise in single quotes, each `'` written as `'\''`.
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_=./:,@%+".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r#"'\''"#))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        split_words(line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    #[test]
    fn splits_as_a_shell_does() {
        assert_eq!(
            words("  docker  run\t-it img "),
            ["docker", "run", "-it", "img"]
        );
        assert_eq!(words(""), Vec::<String>::new());
        assert_eq!(words("a '' b"), ["a", "", "b"]);
        assert_eq!(words(r#"'a b'"c d"e\ f"#), ["a bc de f"]);
        assert_eq!(
            words(r#"'a\b' "a\b" "\"\\\$\`""#),
            [r"a\b", r"a\b", r#""\$`"#]
        );
        assert_eq!(words("docker run \\\n  img"), ["docker", "run", "img"]);
        assert_eq!(words("\"a\\\nb\""), ["ab"]);
        assert_eq!(words("'a\nb'"), ["a\nb"]);
    }

    #[test]
    fn unfinished_lines_are_errors() {
        assert_eq!(
            split_words("a \\").unwrap_err(),
            "the command ends with a lone backslash"
        );
        assert_eq!(split_words("'a").unwrap_err(), "unterminated single quote");
        assert_eq!(split_words("\"a").unwrap_err(), "unterminated double quote");
        assert_eq!(
            split_words("\"a\\").unwrap_err(),
            "unterminated double quote"
        );
    }

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(quote("--env=A_1:b,c@d%e+f/g.h"), "--env=A_1:b,c@d%e+f/g.h");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("é"), "'é'");
    }

    #[test]
    fn quoted_words_split_back_into_the_same_words() {
        let tricky = [
            "",
            " ",
            "a b",
            "  leading and trailing  ",
            "it's",
            "''",
            "'",
            "\"",
            r#"say "hi""#,
            r"back\slash",
            "\\",
            r"\'",
            "$HOME",
            "${x:-y}",
            "`id`",
            "line\nbreak",
            "\n",
            "tab\there",
            "ünïcødé ✓",
            "--flag=value with space",
            "-e=A='b c'",
            "plain",
        ];
        for word in tricky {
            assert_eq!(words(&quote(word)), [word], "{word:?}");
        }
        let line: Vec<String> = tricky.iter().map(|w| quote(w)).collect();
        assert_eq!(words(&line.join(" ")), tricky);
    }
}
