//! What a benchmark client does with the output it receives: count it, note when the first
//! byte came, and optionally fingerprint it so that clients can be compared byte for byte.

use std::hash::{DefaultHasher, Hasher};
use std::time::{Duration, Instant};

/// The lines the fan-out workload prints while it waits for its go signal; how many a client
/// sees depends on when it attached, so they are not part of the compared payload.
pub const WAIT_LINE: &[u8] = b"wait\n";

pub struct Consumer {
    started: Instant,
    pub first_byte: Option<Duration>,
    /// Every byte received.
    pub total: u64,
    /// Bytes after the leading `WAIT_LINE`s (all of them when not stripping).
    pub payload: u64,
    hasher: Option<DefaultHasher>,
    /// Position inside `WAIT_LINE` while still in the leading wait lines.
    prefix: Option<usize>,
}

impl Consumer {
    pub fn new(started: Instant) -> Self {
        Consumer {
            started,
            first_byte: None,
            total: 0,
            payload: 0,
            hasher: None,
            prefix: None,
        }
    }

    /// Also fingerprints the payload, skipping leading `WAIT_LINE`s.
    pub fn fingerprinting(mut self) -> Self {
        self.hasher = Some(DefaultHasher::new());
        self.prefix = Some(0);
        self
    }

    pub fn take(&mut self, mut data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if self.first_byte.is_none() {
            self.first_byte = Some(self.started.elapsed());
        }
        self.total += data.len() as u64;
        if let Some(pos) = self.prefix.as_mut() {
            while let Some(&b) = data.first() {
                if b != WAIT_LINE[*pos] {
                    // A partial wait line followed by something else would be payload, but the
                    // workload only ever writes whole wait lines, so this is the payload's start.
                    self.prefix = None;
                    break;
                }
                *pos = (*pos + 1) % WAIT_LINE.len();
                data = &data[1..];
            }
            if self.prefix.is_some() {
                return;
            }
        }
        self.payload += data.len() as u64;
        if let Some(h) = self.hasher.as_mut() {
            h.write(data);
        }
    }

    pub fn fingerprint(&self) -> Option<u64> {
        self.hasher.as_ref().map(Hasher::finish)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(parts: &[&[u8]]) -> Consumer {
        let mut c = Consumer::new(Instant::now()).fingerprinting();
        for p in parts {
            c.take(p);
        }
        c
    }

    #[test]
    fn fingerprints_ignore_message_boundaries_and_wait_lines() {
        let a = feed(&[b"wait\nwa", b"it\n1\n2\n", b"3\n"]);
        let b = feed(&[b"1\n", b"2", b"\n3\n"]);
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!((a.total, a.payload), (16, 6));
        assert_eq!(b.payload, 6);
        let c = feed(&[b"1\n2\n4\n"]);
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert!(a.first_byte.is_some());
    }
}
