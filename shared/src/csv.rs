//! The first record of Go's `encoding/csv` reader (default settings), which the CLI uses to
//! split `--mount`, `--gpus` and the advanced `--network` values: comma-separated fields, a
//! field may be double-quoted (`"a,b"`, with `""` for a literal quote).

/// Splits `s` as `csv.NewReader(strings.NewReader(s)).Read()` does; the error is Go's text.
pub fn fields(s: &str) -> Result<Vec<String>, String> {
    // Leading empty lines are skipped; the record ends at the first newline outside quotes.
    let s = s.trim_start_matches(['\n', '\r']);
    if s.is_empty() {
        return Err("EOF".to_string());
    }
    let chars: Vec<char> = s.chars().collect();
    let at = |i: usize, msg: &str| format!("parse error on line 1, column {}: {msg}", i + 1);
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let mut field = String::new();
        if chars.get(i) == Some(&'"') {
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(at(i, "extraneous or missing \" in quoted-field")),
                    Some('"') => match chars.get(i + 1) {
                        Some('"') => {
                            field.push('"');
                            i += 2;
                        }
                        Some(',') | Some('\n') | None => {
                            i += 1;
                            break;
                        }
                        Some('\r') if matches!(chars.get(i + 2), Some('\n') | None) => {
                            i += 1;
                            break;
                        }
                        Some(_) => {
                            return Err(at(i + 1, "extraneous or missing \" in quoted-field"));
                        }
                    },
                    Some(c) => {
                        field.push(*c);
                        i += 1;
                    }
                }
            }
        } else {
            while let Some(&c) = chars.get(i) {
                match c {
                    ',' | '\n' => break,
                    '"' => return Err(at(i, "bare \" in non-quoted-field")),
                    c => field.push(c),
                }
                i += 1;
            }
            if field.ends_with('\r') && matches!(chars.get(i), Some('\n') | None) {
                field.pop();
            }
        }
        out.push(field);
        match chars.get(i) {
            Some(',') => i += 1,
            _ => return Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fields;

    #[test]
    fn go_csv_rules() {
        assert_eq!(fields("a,b,,c").unwrap(), ["a", "b", "", "c"]);
        assert_eq!(fields(r#""a,b",c"#).unwrap(), ["a,b", "c"]);
        assert_eq!(fields(r#"x,"say ""hi""""#).unwrap(), ["x", r#"say "hi""#]);
        assert_eq!(fields("a,b\nc,d").unwrap(), ["a", "b"]);
        assert_eq!(fields("a,").unwrap(), ["a", ""]);
        assert_eq!(fields("").unwrap_err(), "EOF");
        assert_eq!(
            fields(r#"a"b"#).unwrap_err(),
            "parse error on line 1, column 2: bare \" in non-quoted-field"
        );
        assert_eq!(
            fields(r#""ab"c"#).unwrap_err(),
            "parse error on line 1, column 5: extraneous or missing \" in quoted-field"
        );
    }
}
