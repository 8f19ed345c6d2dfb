//! The scalar grammars of `docker run` values, as the Go CLI parses them: sizes (go-units),
//! Go durations, Go integers and booleans (strconv), and `--cpus` rationals (math/big).
//!
//! Each parser returns the Go error text, so callers can wrap it the way pflag does:
//! `invalid argument "lots" for "-m, --memory" flag: invalid size: 'lots'`.

/// Go's `strconv.Quote` for the plain strings that appear in error messages.
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `strconv.ParseBool`.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "strconv.ParseBool: parsing {}: invalid syntax",
            go_quote(s)
        )),
    }
}

/// The digits of a Go integer literal with base 0 (`0x`, `0o`, `0b`, leading `0` = octal).
fn base_and_digits(s: &str) -> (u32, &str) {
    let lower = s.get(..2).map(str::to_ascii_lowercase);
    match lower.as_deref() {
        Some("0x") => (16, &s[2..]),
        Some("0o") => (8, &s[2..]),
        Some("0b") => (2, &s[2..]),
        _ if s.len() > 1 && s.starts_with('0') => (8, &s[1..]),
        _ => (10, s),
    }
}

/// Go's rule for `_` in base-0 literals (`strconv`'s `underscoreOK`): only between digits, or
/// between a base prefix and a digit (`1_000`, `0x_1F`; not `_1`, `1__0`, `1_`).
fn underscores_ok(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let lower = s.to_ascii_lowercase();
    let (hex, rest, mut saw_digit) = match lower.get(..2) {
        Some("0x") => (true, &lower[2..], true),
        Some("0o" | "0b") => (false, &lower[2..], true),
        _ => (false, lower.as_str(), false),
    };
    let mut saw_underscore = false;
    for c in rest.chars() {
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            (saw_digit, saw_underscore) = (true, false);
        } else if c == '_' {
            if !saw_digit {
                return false;
            }
            (saw_digit, saw_underscore) = (false, true);
        } else if saw_underscore {
            return false;
        } else {
            saw_digit = false;
        }
    }
    !saw_underscore
}

/// The digits without Go's `_` separators, or `None` when they are misplaced.
fn without_underscores(literal: &str, digits: &str) -> Option<String> {
    if !digits.contains('_') {
        return Some(digits.to_string());
    }
    underscores_ok(literal).then(|| digits.replace('_', ""))
}

/// `strconv.ParseInt(s, 0, bits)`, as pflag's int flags use it.
pub fn parse_int(s: &str, bits: u32) -> Result<i64, String> {
    let err = |why: &str| format!("strconv.ParseInt: parsing {}: {why}", go_quote(s));
    let (negative, unsigned) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (base, digits) = base_and_digits(unsigned);
    let digits = without_underscores(s, digits).unwrap_or_default();
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(base)) {
        return Err(err("invalid syntax"));
    }
    let limit: i128 = 1i128 << (bits - 1);
    let value = i128::from_str_radix(&digits, base)
        .ok()
        .map(|v| if negative { -v } else { v })
        .filter(|v| *v >= -limit && *v < limit)
        .ok_or_else(|| err("value out of range"))?;
    Ok(value as i64)
}

/// `strconv.ParseUint(s, 0, bits)`, as pflag's uint flags use it.
pub fn parse_uint(s: &str, bits: u32) -> Result<u64, String> {
    let err = |why: &str| format!("strconv.ParseUint: parsing {}: {why}", go_quote(s));
    let (base, digits) = base_and_digits(s);
    let digits = without_underscores(s, digits).unwrap_or_default();
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(base)) {
        return Err(err("invalid syntax"));
    }
    u128::from_str_radix(&digits, base)
        .ok()
        .filter(|v| *v < (1u128 << bits))
        .map(|v| v as u64)
        .ok_or_else(|| err("value out of range"))
}

/// `strconv.ParseFloat(s, 64)` for the decimal forms people write.
fn parse_float(s: &str) -> Result<f64, String> {
    let ok = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b".eE+-".contains(&b))
        && s.bytes().any(|b| b.is_ascii_digit());
    match s.parse::<f64>() {
        Ok(v) if ok && v.is_finite() => Ok(v),
        Ok(_) if ok => Err(format!(
            "strconv.ParseFloat: parsing {}: value out of range",
            go_quote(s)
        )),
        _ => Err(format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            go_quote(s)
        )),
    }
}

/// go-units `RAMInBytes`: `512m`, `1g`, `1.5GiB`, `100` — binary multiples, case-insensitive,
/// optional `b`/`ib` suffix.
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    let Some(sep) = s.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ') else {
        return Err(format!("invalid size: '{s}'"));
    };
    let (num, suffix) = if s.as_bytes()[sep] == b' ' {
        (&s[..sep], &s[sep + 1..])
    } else {
        (&s[..sep + 1], &s[sep + 1..])
    };
    let size = parse_float(num)?;
    if size < 0.0 {
        return Err(format!("invalid size: '{s}'"));
    }
    let bad_suffix = || format!("invalid suffix: '{}'", suffix.to_ascii_lowercase());
    if suffix.is_empty() {
        return Ok(size as i64);
    }
    if suffix.len() > 3 {
        return Err(format!("invalid suffix: '{suffix}'"));
    }
    let sfx = suffix.to_ascii_lowercase();
    if sfx.starts_with('b') {
        return if sfx.len() > 1 {
            Err(bad_suffix())
        } else {
            Ok(size as i64)
        };
    }
    let shift = match sfx.as_bytes()[0] {
        b'k' => 10,
        b'm' => 20,
        b'g' => 30,
        b't' => 40,
        b'p' => 50,
        _ => return Err(bad_suffix()),
    };
    if (sfx.len() == 2 && &sfx[1..] != "b") || (sfx.len() == 3 && &sfx[1..] != "ib") {
        return Err(bad_suffix());
    }
    Ok((size * (1u64 << shift) as f64) as i64)
}

/// Go's `time.ParseDuration`, in nanoseconds: `90s`, `1m30s`, `1.5h`, `250ms`, `0`.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", go_quote(s));
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(invalid());
        }
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: f64 = match unit {
            "" => return Err(format!("time: missing unit in duration {}", go_quote(s))),
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    go_quote(unit),
                    go_quote(s)
                ));
            }
        };
        total += num.parse::<f64>().map_err(|_| invalid())? * scale;
    }
    if total > i64::MAX as f64 {
        return Err(invalid());
    }
    let ns = total.round() as i64;
    Ok(if negative { -ns } else { ns })
}

/// `--cpus` (`opts.ParseCPUs`): a rational number of CPUs, to NanoCPUs. `1.5`, `0.25`, `3/2`.
pub fn parse_cpus(s: &str) -> Result<i64, String> {
    let bad = || format!("failed to parse {s} as a rational number");
    // An exact rational num/den, so "value is too precise" is decided exactly as math/big does.
    let (num, den): (i128, i128) = if let Some((n, d)) = s.split_once('/') {
        let n: i128 = n.parse().map_err(|_| bad())?;
        let d: i128 = d.parse().map_err(|_| bad())?;
        if d == 0 {
            return Err(bad());
        }
        (n, d)
    } else {
        let (mantissa, exp) = match s.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.parse::<i32>().map_err(|_| bad())?),
            None => (s, 0),
        };
        let (sign, mantissa) = match mantissa.as_bytes().first() {
            Some(b'-') => (-1, &mantissa[1..]),
            Some(b'+') => (1, &mantissa[1..]),
            _ => (1, mantissa),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits = format!("{int}{frac}");
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 30 {
            return Err(bad());
        }
        let scale = exp - frac.len() as i32;
        if scale.abs() > 30 {
            return Err(bad());
        }
        let n: i128 = sign * digits.parse::<i128>().map_err(|_| bad())?;
        if scale >= 0 {
            (n * 10i128.pow(scale as u32), 1)
        } else {
            (n, 10i128.pow((-scale) as u32))
        }
    };
    let nano = num.checked_mul(1_000_000_000).ok_or_else(bad)?;
    if nano % den != 0 {
        return Err("value is too precise".to_string());
    }
    Ok((nano / den) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(ram_in_bytes("1G"), Ok(1073741824));
        assert_eq!(ram_in_bytes("128m"), Ok(134217728));
        assert_eq!(ram_in_bytes("1.5kb"), Ok(1536));
        assert_eq!(ram_in_bytes("2KiB"), Ok(2048));
        assert_eq!(ram_in_bytes("100"), Ok(100));
        assert_eq!(ram_in_bytes("100b"), Ok(100));
        assert_eq!(ram_in_bytes("32 mb"), Ok(33554432));
        assert_eq!(ram_in_bytes("lots").unwrap_err(), "invalid size: 'lots'");
        assert_eq!(
            ram_in_bytes("invalid").unwrap_err(),
            "invalid size: 'invalid'"
        );
        assert_eq!(
            ram_in_bytes("a128m").unwrap_err(),
            r#"strconv.ParseFloat: parsing "a128": invalid syntax"#
        );
        assert_eq!(ram_in_bytes("1x").unwrap_err(), "invalid suffix: 'x'");
        assert_eq!(ram_in_bytes("1mbb").unwrap_err(), "invalid suffix: 'mbb'");
        assert_eq!(ram_in_bytes("-1").unwrap_err(), "invalid size: '-1'");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("250ms"), Ok(250_000_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("-1s"), Ok(-1_000_000_000));
        assert_eq!(parse_duration("10us"), Ok(10_000));
        assert_eq!(
            parse_duration("5").unwrap_err(),
            r#"time: missing unit in duration "5""#
        );
        assert_eq!(
            parse_duration("1d").unwrap_err(),
            r#"time: unknown unit "d" in duration "1d""#
        );
        assert_eq!(
            parse_duration("x").unwrap_err(),
            r#"time: invalid duration "x""#
        );
        assert_eq!(
            parse_duration("").unwrap_err(),
            r#"time: invalid duration """#
        );
    }

    #[test]
    fn integers_and_cpus() {
        assert_eq!(parse_int("512", 64), Ok(512));
        assert_eq!(parse_int("-1", 64), Ok(-1));
        assert_eq!(parse_int("0x10", 64), Ok(16));
        assert_eq!(parse_int("010", 64), Ok(8));
        // Go's digit separators, where base 0 allows them.
        assert_eq!(parse_int("1_000", 64), Ok(1000));
        assert_eq!(parse_int("-0x_1F", 64), Ok(-31));
        assert_eq!(parse_int("0_7", 64), Ok(7));
        assert_eq!(parse_uint("0b1_0", 64), Ok(2));
        for bad in ["_1", "1_", "1__0", "0x_", "1_a"] {
            assert_eq!(
                parse_int(bad, 64).unwrap_err(),
                format!(r#"strconv.ParseInt: parsing "{bad}": invalid syntax"#)
            );
        }
        assert_eq!(
            parse_int("1.5", 64).unwrap_err(),
            r#"strconv.ParseInt: parsing "1.5": invalid syntax"#
        );
        assert_eq!(
            parse_int("99999999999999999999", 64).unwrap_err(),
            r#"strconv.ParseInt: parsing "99999999999999999999": value out of range"#
        );
        assert_eq!(
            parse_uint("70000", 16).unwrap_err(),
            r#"strconv.ParseUint: parsing "70000": value out of range"#
        );
        assert_eq!(parse_uint("300", 16), Ok(300));
        assert_eq!(parse_cpus("1.5"), Ok(1_500_000_000));
        assert_eq!(parse_cpus("0.001"), Ok(1_000_000));
        assert_eq!(parse_cpus("3/2"), Ok(1_500_000_000));
        assert_eq!(parse_cpus("2"), Ok(2_000_000_000));
        assert_eq!(parse_cpus("1e-3"), Ok(1_000_000));
        assert_eq!(
            parse_cpus("0.0000000001").unwrap_err(),
            "value is too precise"
        );
        assert_eq!(
            parse_cpus("abc").unwrap_err(),
            "failed to parse abc as a rational number"
        );
        assert_eq!(
            parse_bool("maybe").unwrap_err(),
            r#"strconv.ParseBool: parsing "maybe": invalid syntax"#
        );
    }
}
