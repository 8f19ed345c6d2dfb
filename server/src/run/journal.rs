//! A run's journal: its events and its captured output, read by any number of followers.
//!
//! Output is kept up to a byte limit (the oldest is dropped beyond it), so memory stays bounded
//! however long a run lives. One follower may be the *primary*: the client that started the run.
//! The writer waits while the primary is a full limit behind, so a slow primary back-pressures
//! the container (as the docker CLI does) and never loses a byte. Other followers that fall
//! behind the retained window skip ahead and are told how many bytes they missed.
//!
//! Events other than the last one all happen before any output (the container produces output
//! only once started), so a follower sends pending events, then output, and the final event
//! only when it has sent all output.

use std::collections::VecDeque;
use std::sync::Mutex;

use berth_shared::wire::ServerEvent;
use bytes::Bytes;
use tokio::sync::watch;

/// How long the primary follower may read nothing while the journal waits for it.
const PRIMARY_STALL: std::time::Duration = std::time::Duration::from_secs(10);

struct Chunk {
    /// Absolute offset of `data[0]` in the run's output.
    offset: u64,
    stream: u8,
    data: Bytes,
}

#[derive(Default)]
struct State {
    events: Vec<ServerEvent>,
    last: Option<ServerEvent>,
    chunks: VecDeque<Chunk>,
    /// Offsets of the retained output: `[start, end)`.
    start: u64,
    end: u64,
    /// How far the primary follower has read, while one is connected.
    primary: Option<u64>,
}

impl State {
    fn evict(&mut self, limit: usize) {
        let keep_from = self.primary.unwrap_or(u64::MAX);
        while self.end - self.start > limit as u64 {
            let Some(front) = self.chunks.front() else {
                break;
            };
            let front_end = front.offset + front.data.len() as u64;
            if front_end > keep_from {
                break;
            }
            self.start = front_end;
            self.chunks.pop_front();
        }
    }
}

pub struct Journal {
    state: Mutex<State>,
    limit: usize,
    /// Bumped on every append; followers wait on it.
    appended: watch::Sender<()>,
    /// Bumped when the primary reads or leaves; the writer waits on it.
    consumed: watch::Sender<()>,
}

/// Where a follower is.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cursor {
    events: usize,
    offset: u64,
}

/// What a follower has to send next.
#[derive(Default)]
pub struct Batch {
    pub events: Vec<ServerEvent>,
    /// Bytes this follower missed because they were no longer retained.
    pub skipped: u64,
    pub output: Vec<(u8, Bytes)>,
    /// The final event, once every byte of output has been handed out.
    pub last: Option<ServerEvent>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.skipped == 0 && self.output.is_empty() && self.last.is_none()
    }
}

impl Journal {
    pub fn new(limit: usize) -> Self {
        Journal {
            state: Mutex::default(),
            limit: limit.max(1),
            appended: watch::Sender::new(()),
            consumed: watch::Sender::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("journal lock")
    }

    pub fn subscribe(&self) -> watch::Receiver<()> {
        self.appended.subscribe()
    }

    pub fn push_event(&self, event: ServerEvent) {
        self.lock().events.push(event);
        self.appended.send_replace(());
    }

    /// Records the final event; later ones are ignored (the first word on how a run ended stands).
    pub fn finish(&self, event: ServerEvent) {
        let mut state = self.lock();
        if state.last.is_none() {
            state.last = Some(event);
        }
        drop(state);
        self.appended.send_replace(());
    }

    /// Bytes of output produced so far, retained or not.
    pub fn output_len(&self) -> u64 {
        self.lock().end
    }

    pub fn is_finished(&self) -> bool {
        self.lock().last.is_some()
    }

    /// Appends output, first waiting while the primary follower is a full limit behind.
    pub async fn push_output(&self, stream: u8, data: Bytes) {
        if data.is_empty() {
            return;
        }
        let mut consumed = self.consumed.subscribe();
        loop {
            consumed.borrow_and_update();
            {
                let mut state = self.lock();
                let lagging = state
                    .primary
                    .is_some_and(|p| state.end - p >= self.limit as u64);
                if !lagging {
                    let offset = state.end;
                    state.end += data.len() as u64;
                    state.chunks.push_back(Chunk {
                        offset,
                        stream,
                        data,
                    });
                    state.evict(self.limit);
                    break;
                }
            }
            // The sender lives in `self`, so this only ends when the primary moves or leaves, or
            // has not moved for too long: then it loses its hold, so that a stalled client can
            // never block the container for good (a blocked attach stream also wedges the
            // daemon's own operations on the container, stop and inspect included).
            if tokio::time::timeout(PRIMARY_STALL, consumed.changed())
                .await
                .is_err()
            {
                tracing::info!(
                    "the client that started the run read nothing for {PRIMARY_STALL:?}: it no longer holds the output back"
                );
                self.release_primary();
            }
        }
        self.appended.send_replace(());
    }

    /// Makes a follower the primary, from its current position.
    pub fn set_primary(&self, cursor: &Cursor) {
        self.lock().primary = Some(cursor.offset);
        self.consumed.send_replace(());
    }

    /// The primary has sent everything up to `cursor`.
    pub fn primary_read(&self, cursor: &Cursor) {
        let mut state = self.lock();
        if state.primary.is_some() {
            state.primary = Some(cursor.offset);
            state.evict(self.limit);
        }
        drop(state);
        self.consumed.send_replace(());
    }

    /// The primary detached or disconnected: the run no longer waits for it.
    pub fn release_primary(&self) {
        let mut state = self.lock();
        state.primary = None;
        state.evict(self.limit);
        drop(state);
        self.consumed.send_replace(());
    }

    /// Takes what `cursor` has not seen yet, up to about `max_bytes` of output.
    pub fn read(&self, cursor: &mut Cursor, max_bytes: usize) -> Batch {
        let state = self.lock();
        let mut batch = Batch {
            events: state.events[cursor.events..].to_vec(),
            ..Batch::default()
        };
        cursor.events = state.events.len();
        if cursor.offset < state.start {
            batch.skipped = state.start - cursor.offset;
            cursor.offset = state.start;
        }
        let first = state
            .chunks
            .partition_point(|c| c.offset + (c.data.len() as u64) <= cursor.offset);
        let mut taken = 0;
        for chunk in state.chunks.range(first..) {
            let skip = (cursor.offset - chunk.offset) as usize;
            let data = chunk.data.slice(skip..);
            taken += data.len();
            cursor.offset += data.len() as u64;
            batch.output.push((chunk.stream, data));
            if taken >= max_bytes {
                break;
            }
        }
        if cursor.offset == state.end {
            batch.last = state.last.clone();
        }
        batch
    }

    /// The retained output in order, and how many bytes before it were dropped.
    pub fn output(&self) -> (u64, Vec<(u8, Bytes)>) {
        let state = self.lock();
        let chunks = state
            .chunks
            .iter()
            .map(|c| (c.stream, c.data.clone()))
            .collect();
        (state.start, chunks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn bytes(batch: &Batch) -> Vec<u8> {
        batch.output.iter().flat_map(|(_, d)| d.to_vec()).collect()
    }

    #[tokio::test]
    async fn events_then_output_then_the_last_event() {
        let j = Journal::new(1024);
        j.push_event(ServerEvent::Started);
        j.push_output(1, Bytes::from_static(b"ab")).await;
        j.push_output(2, Bytes::from_static(b"cd")).await;
        j.finish(ServerEvent::Exit { code: 0 });
        j.finish(ServerEvent::Exit { code: 9 });
        let mut c = Cursor::default();
        let b = j.read(&mut c, 1);
        assert_eq!(b.events, vec![ServerEvent::Started]);
        assert_eq!(b.output, vec![(1, Bytes::from_static(b"ab"))]);
        assert!(b.last.is_none(), "the last event waits for the output");
        let b = j.read(&mut c, 100);
        assert_eq!(b.output, vec![(2, Bytes::from_static(b"cd"))]);
        assert_eq!(b.last, Some(ServerEvent::Exit { code: 0 }));
    }

    #[tokio::test]
    async fn keeps_the_newest_output_and_tells_late_followers_the_gap() {
        let j = Journal::new(10);
        for _ in 0..5 {
            j.push_output(1, Bytes::from_static(b"0123")).await;
        }
        let (start, kept) = j.output();
        assert_eq!(start, 12);
        assert_eq!(kept.len(), 2);
        let mut c = Cursor::default();
        let b = j.read(&mut c, usize::MAX);
        assert_eq!(b.skipped, 12);
        assert_eq!(bytes(&b), b"01230123");
    }

    #[tokio::test]
    async fn a_slow_primary_back_pressures_the_writer_and_loses_nothing() {
        let j = Arc::new(Journal::new(8));
        let mut c = Cursor::default();
        j.set_primary(&c);
        let writer = {
            let j = j.clone();
            tokio::spawn(async move {
                for i in 0..100u8 {
                    j.push_output(1, Bytes::from(vec![i; 3])).await;
                }
                j.finish(ServerEvent::Exit { code: 0 });
            })
        };
        let mut got = Vec::new();
        let mut rx = j.subscribe();
        loop {
            rx.borrow_and_update();
            let b = j.read(&mut c, 4);
            assert_eq!(b.skipped, 0);
            got.extend(bytes(&b));
            j.primary_read(&c);
            if b.last.is_some() {
                break;
            }
            if b.is_empty() {
                rx.changed().await.unwrap();
            }
            tokio::time::sleep(Duration::from_micros(50)).await;
        }
        writer.await.unwrap();
        let want: Vec<u8> = (0..100u8).flat_map(|i| [i; 3]).collect();
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn releasing_the_primary_unblocks_the_writer() {
        let j = Arc::new(Journal::new(4));
        j.set_primary(&Cursor::default());
        j.push_output(1, Bytes::from_static(b"0123")).await;
        let blocked = {
            let j = j.clone();
            tokio::spawn(async move { j.push_output(1, Bytes::from_static(b"x")).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!blocked.is_finished());
        j.release_primary();
        tokio::time::timeout(Duration::from_secs(1), blocked)
            .await
            .unwrap()
            .unwrap();
    }
}
