//! Numbers and times as people read them.

use berth_shared::exit;

pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else if v < 10.0 {
        format!("{v:.1} {}", UNITS[unit])
    } else {
        format!("{v:.0} {}", UNITS[unit])
    }
}

/// Milliseconds since the epoch of an RFC 3339 time.
pub fn parse_time(rfc3339: &str) -> Option<f64> {
    let ms = js_sys::Date::parse(rfc3339);
    (!ms.is_nan()).then_some(ms)
}

pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

pub fn duration(ms: f64) -> String {
    let s = ms / 1000.0;
    if s < 10.0 {
        format!("{s:.1} s")
    } else if s < 90.0 {
        format!("{s:.0} s")
    } else if s < 3600.0 {
        format!("{}m {:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!(
            "{}h {:02}m",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    }
}

/// "12 s ago", "5 min ago", "3 h ago", or the date.
pub fn ago(ms: f64) -> String {
    let s = ((now_ms() - ms) / 1000.0).max(0.0);
    if s < 5.0 {
        "just now".to_string()
    } else if s < 60.0 {
        format!("{} s ago", s as u64)
    } else if s < 3600.0 {
        format!("{} min ago", (s / 60.0) as u64)
    } else if s < 86400.0 {
        format!("{} h ago", (s / 3600.0) as u64)
    } else {
        let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms));
        String::from(d.to_locale_date_string("default", &wasm_bindgen::JsValue::UNDEFINED))
    }
}

/// `exited 0`, `exited 137 (killed (SIGKILL))`: the status line's wording, shared by the run
/// page and the history.
pub fn exit_status(code: i64) -> String {
    match exit::meaning(code) {
        Some(m) if code != 0 => format!("exited {code} · {m}"),
        _ => format!("exited {code}"),
    }
}

pub fn error_status(code: i64, message: &str) -> String {
    match exit::meaning(code) {
        Some(m) => format!("error {code} · {m}: {message}"),
        None => format!("error {code}: {message}"),
    }
}

pub fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

/// A local date and time, as the browser's locale writes it.
pub fn datetime(ms: f64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms));
    String::from(d.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED))
}

/// "5 min ago" for an RFC 3339 time, or the text itself when it does not parse.
pub fn ago_rfc3339(t: &str) -> String {
    parse_time(t).map(ago).unwrap_or_else(|| t.to_string())
}

/// The local date and time of an RFC 3339 time, or the text itself.
pub fn datetime_rfc3339(t: &str) -> String {
    parse_time(t).map(datetime).unwrap_or_else(|| t.to_string())
}

/// A length of time given in whole seconds, as a demo's terms say it: "45 s", "10 min",
/// "1 h 30 min".
pub fn seconds(s: u64) -> String {
    match s {
        0..60 => format!("{s} s"),
        60..3600 if s.is_multiple_of(60) => format!("{} min", s / 60),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ if s.is_multiple_of(3600) => format!("{} h", s / 3600),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// The time left on a countdown, as a clock: "9:05", "1:02:30".
pub fn countdown(ms: f64) -> String {
    let s = (ms.max(0.0) / 1000.0).ceil() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// A local time of day (hours and minutes), as the browser's locale writes it.
pub fn time_of_day(ms: f64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms));
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"hour".into(), &"2-digit".into());
    let _ = js_sys::Reflect::set(&options, &"minute".into(), &"2-digit".into());
    String::from(d.to_locale_time_string_with_options("default", &options))
}
