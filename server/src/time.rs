//! The two clocks Berth writes down: RFC 3339 times for people and records, Unix seconds for
//! deadlines and expiries.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now as RFC 3339 with milliseconds (UTC): one format, so such times sort as strings.
pub fn rfc3339_now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// A time in Unix seconds as RFC 3339 (UTC, whole seconds).
pub fn rfc3339_at(unix: i64) -> String {
    let at = UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// A time in Unix nanoseconds as RFC 3339 with milliseconds (UTC), as [`rfc3339_now`].
pub fn rfc3339_at_nanos(unix_nanos: i64) -> String {
    let at = UNIX_EPOCH + std::time::Duration::from_nanos(unix_nanos.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}

/// Now in Unix seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
