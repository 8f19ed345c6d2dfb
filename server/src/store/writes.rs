//! Writes the disk refuses (the data directory went read-only, or is full): the store's
//! episodes of failure.
//!
//! A run's record or an audit entry that cannot be written for the disk's sake is not an error
//! for its caller: runs need no disk, so they go on. What could not be written waits in memory
//! (at most [`MAX_WAITING_BYTES`]; beyond, the oldest is dropped and counted as lost) and is
//! written in order, in one transaction, once the disk takes writes again; while writes wait,
//! new ones queue behind them, so that a run's later record is never overwritten by an earlier
//! one. The episode is logged once when it starts and once when it ends, and
//! [`Store::write_failure`] (`/api/ready`) reports it while it lasts.
//!
//! The waiting writes are retried every [`RETRY_EVERY`]: on the store's connection, and when
//! that still fails, on a new one, which replaces it if it writes: a disk that was mounted again
//! is another filesystem, and the old connection's files went with the old one.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, params};

use super::{AuditEntry, Store, StoreError, connect};
use crate::time::rfc3339_now;

/// How often waiting writes are tried again.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// The most that waits in memory for the disk (run records with their transcripts, audit
/// entries).
const MAX_WAITING_BYTES: usize = 64 << 20;

/// One row the store writes: a run's record (an upsert) or an audit entry (an append).
#[derive(Clone)]
pub(super) enum Write {
    Run(RunRow),
    Audit(AuditEntry),
}

/// A run's row as `save_run` writes it, its JSON already made.
#[derive(Clone)]
pub(super) struct RunRow {
    pub run_id: String,
    pub owner: String,
    pub team: String,
    pub created: String,
    pub info: String,
    pub finished: bool,
    pub output: Option<Vec<u8>>,
    pub owner_id: String,
    pub events: Option<String>,
}

impl Write {
    pub(super) fn apply(&self, c: &Connection) -> rusqlite::Result<()> {
        match self {
            Write::Run(r) => c.execute(
                "INSERT INTO runs (run_id, owner, team, created, info, finished, output, owner_id, events) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (run_id) DO UPDATE SET info = ?5, finished = ?6, output = coalesce(?7, output), events = ?9",
                params![r.run_id, r.owner, r.team, r.created, r.info, r.finished, r.output, r.owner_id, r.events],
            ),
            Write::Audit(e) => c.execute(
                "INSERT INTO audit (at, actor, action, target, outcome, detail, remote) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![e.at, e.actor, e.action, e.target, e.outcome, e.detail, e.remote],
            ),
        }
        .map(|_| ())
    }

    fn size(&self) -> usize {
        match self {
            Write::Run(r) => {
                r.info.len()
                    + r.output.as_ref().map_or(0, Vec::len)
                    + r.events.as_ref().map_or(0, String::len)
                    + 128
            }
            Write::Audit(e) => e.detail.len() + e.target.len() + 256,
        }
    }
}

/// Whether `e` is the disk's refusal (read-only, full, an I/O error, a file that cannot be
/// opened) rather than something wrong with the write itself.
pub(super) fn is_disk_error(e: &StoreError) -> bool {
    match e {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => matches!(
            f.code,
            ErrorCode::ReadOnly
                | ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
        ),
        _ => false,
    }
}

/// The store's writes: whether the disk refuses them now, and what waits for it.
#[derive(Default)]
pub(super) struct Writes {
    failing: Option<Failing>,
    /// In the order they were made, each with its number.
    waiting: VecDeque<(u64, Write)>,
    next: u64,
    bytes: usize,
}

struct Failing {
    since: Instant,
    at: String,
    error: String,
    /// Writes dropped because more than [`MAX_WAITING_BYTES`] waited.
    lost: u64,
}

/// What `/api/ready` says of a store whose disk refuses writes.
#[derive(Debug, Clone)]
pub struct WriteFailure {
    /// RFC 3339, when the first write failed.
    pub since: String,
    /// The last error.
    pub error: String,
    /// Writes waiting for the disk.
    pub waiting: usize,
    /// Writes dropped (too many waited): they will not be written.
    pub lost: u64,
}

impl Writes {
    fn push(&mut self, write: Write) {
        self.bytes += write.size();
        self.waiting.push_back((self.next, write));
        self.next += 1;
        while self.bytes > MAX_WAITING_BYTES && self.waiting.len() > 1 {
            let (_, dropped) = self.waiting.pop_front().expect("a waiting write");
            self.bytes -= dropped.size();
            if let Some(f) = &mut self.failing {
                f.lost += 1;
            }
        }
    }

    /// Forgets the waiting writes up to number `last`, now written.
    fn written(&mut self, last: u64) -> usize {
        let mut n = 0;
        while self.waiting.front().is_some_and(|(i, _)| *i <= last) {
            let (_, w) = self.waiting.pop_front().expect("a waiting write");
            self.bytes -= w.size();
            n += 1;
        }
        n
    }
}

impl Store {
    /// Writes `write` now, or, while the disk refuses writes (or when it refuses this one),
    /// queues it to be written once the disk takes writes again. Errors only for what is
    /// wrong with the write itself.
    pub(super) async fn write(&self, write: Write) -> Result<(), StoreError> {
        {
            let mut writes = self.writes.lock().expect("writes lock");
            if writes.failing.is_some() {
                writes.push(write);
                return Ok(());
            }
        }
        let attempt = write.clone();
        match self.call(move |c| attempt.apply(c)).await {
            Ok(()) => Ok(()),
            Err(e) if is_disk_error(&e) => {
                self.failed(write, &e);
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// A write the disk refused: queued; the first starts the episode (logged once) and its
    /// retries.
    fn failed(&self, write: Write, e: &StoreError) {
        let mut writes = self.writes.lock().expect("writes lock");
        writes.push(write);
        if writes.failing.is_some() {
            return;
        }
        writes.failing = Some(Failing {
            since: Instant::now(),
            at: rfc3339_now(),
            error: e.to_string(),
            lost: 0,
        });
        drop(writes);
        tracing::error!(
            database = %self.path.display(),
            "the store cannot write: {e}; runs go on, and what they record waits in memory \
             (up to {} MiB) until the disk takes writes again",
            MAX_WAITING_BYTES >> 20
        );
        let store = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RETRY_EVERY).await;
                if store.retry().await {
                    return;
                }
            }
        });
    }

    /// Tries the waiting writes again; `true` once none waits and the episode is over.
    async fn retry(&self) -> bool {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.retry_blocking())
            .await
            .unwrap_or(false)
    }

    fn retry_blocking(&self) -> bool {
        let (batch, last): (Vec<Write>, u64) = {
            let writes = self.writes.lock().expect("writes lock");
            let batch = writes.waiting.iter().map(|(_, w)| w.clone()).collect();
            let last = writes.waiting.back().map_or(0, |(i, _)| *i);
            (batch, last)
        };
        let Ok(mut conn) = self.conn.lock() else {
            return false;
        };
        let flushed = flush(&conn, &batch).or_else(|e| match is_disk_error(&e) {
            // The disk may be another one now (mounted again): a new connection.
            true => {
                let fresh = connect(&self.path).map_err(StoreError::from)?;
                flush(&fresh, &batch)?;
                *conn = fresh;
                Ok(())
            }
            false => Err(e),
        });
        drop(conn);
        let mut writes = self.writes.lock().expect("writes lock");
        match flushed {
            Ok(()) => {
                let written = if batch.is_empty() {
                    0
                } else {
                    writes.written(last)
                };
                if !writes.waiting.is_empty() {
                    return false;
                }
                let Some(failing) = writes.failing.take() else {
                    return true;
                };
                drop(writes);
                let lost = match failing.lost {
                    0 => String::new(),
                    n => format!(
                        "; {n} writes could not wait (more than {} MiB waited) and are lost",
                        MAX_WAITING_BYTES >> 20
                    ),
                };
                tracing::warn!(
                    database = %self.path.display(),
                    "the store writes again, {:?} after it could not: {written} waiting writes written{lost}",
                    failing.since.elapsed()
                );
                true
            }
            Err(e) => {
                if let Some(f) = &mut writes.failing {
                    f.error = e.to_string();
                }
                false
            }
        }
    }

    /// While the disk refuses writes: since when, why, and what waits.
    pub fn write_failure(&self) -> Option<WriteFailure> {
        let writes = self.writes.lock().expect("writes lock");
        writes.failing.as_ref().map(|f| WriteFailure {
            since: f.at.clone(),
            error: f.error.clone(),
            waiting: writes.waiting.len(),
            lost: f.lost,
        })
    }
}

/// Writes `batch` in order, all or nothing.
fn flush(c: &Connection, batch: &[Write]) -> Result<(), StoreError> {
    let tx = c.unchecked_transaction()?;
    for w in batch {
        w.apply(&tx)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audit(detail: &str) -> Write {
        Write::Audit(AuditEntry {
            id: 0,
            at: "t".into(),
            actor: "a".into(),
            action: "x".into(),
            target: "y".into(),
            outcome: "ok".into(),
            detail: detail.into(),
            remote: "r".into(),
        })
    }

    #[test]
    fn waiting_writes_are_bounded_and_forgotten_in_order() {
        let mut writes = Writes {
            failing: Some(Failing {
                since: Instant::now(),
                at: "t".into(),
                error: "full".into(),
                lost: 0,
            }),
            ..Writes::default()
        };
        let big = "x".repeat(MAX_WAITING_BYTES / 3);
        for _ in 0..4 {
            writes.push(audit(&big));
        }
        assert_eq!(
            writes.waiting.len(),
            2,
            "the oldest are dropped beyond the bound"
        );
        assert_eq!(writes.failing.as_ref().unwrap().lost, 2);
        assert_eq!(writes.waiting.front().unwrap().0, 2);
        writes.push(audit("small"));
        assert_eq!(writes.written(3), 2);
        assert_eq!(writes.waiting.len(), 1);
        assert_eq!(writes.waiting.front().unwrap().0, 4);
    }

    #[test]
    fn only_the_disks_refusals_are_disk_errors() {
        let failure = |code| {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                None,
            ))
        };
        assert!(is_disk_error(&failure(rusqlite::ffi::SQLITE_FULL)));
        assert!(is_disk_error(&failure(rusqlite::ffi::SQLITE_READONLY)));
        assert!(is_disk_error(&failure(rusqlite::ffi::SQLITE_IOERR_WRITE)));
        assert!(!is_disk_error(&failure(rusqlite::ffi::SQLITE_CONSTRAINT)));
        assert!(!is_disk_error(&StoreError::Corrupt("x".into())));
    }

    /// Written once the database takes writes again, in one go; nothing is lost.
    #[tokio::test]
    async fn a_write_the_disk_refuses_waits_and_is_written_later() {
        let dir = std::env::temp_dir().join(format!("berth-writes-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir.join("berth.db")).unwrap();
        // A read-only connection stands for a disk that refuses writes.
        let ro = Connection::open_with_flags(
            dir.join("berth.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let rw = std::mem::replace(&mut *store.conn.lock().unwrap(), ro);
        let Write::Audit(first) = audit("first") else {
            unreachable!()
        };
        store.append_audit(first.clone()).await.unwrap();
        let failure = store.write_failure().expect("a write failure");
        assert_eq!(failure.waiting, 1);
        let Write::Audit(second) = audit("second") else {
            unreachable!()
        };
        store.append_audit(second).await.unwrap();
        assert_eq!(store.write_failure().unwrap().waiting, 2);
        drop(rw);
        // The retry's new connection writes.
        for _ in 0..50 {
            if store.write_failure().is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(store.write_failure().is_none());
        let rows = store.audit(10, None).await.unwrap();
        let details: Vec<&str> = rows.iter().map(|r| r.detail.as_str()).collect();
        assert_eq!(details, ["second", "first"]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
