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
//!
//! Output is stored once in the WebSocket's wire format (`[stream, payload…]`), so every follower
//! sends the same buffers without copying them (one attach fanned out to any number of
//! watchers). Small pieces of one stream are joined as they arrive, which keeps the number of
//! chunks (and their bookkeeping) bounded by the byte limit even when the daemon sends many tiny
//! frames.

use std::collections::VecDeque;
use std::sync::Mutex;

use berth_shared::wire::ServerEvent;
use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::watch;

/// Output pieces smaller than this are joined with the previous piece of the same stream.
/// Joining copies at most this many bytes per piece, and it bounds the chunk count: neighbouring
/// chunks of one stream together exceed it.
const JOIN_BELOW: usize = 8 * 1024;

/// How long the primary follower may read nothing while the journal waits for it.
const PRIMARY_STALL: std::time::Duration = std::time::Duration::from_secs(10);

struct Chunk {
    /// Absolute offset of the first payload byte in the run's output.
    offset: u64,
    /// `[stream, payload…]`: a WebSocket output message as it is sent.
    wire: Bytes,
}

impl Chunk {
    fn stream(&self) -> u8 {
        self.wire[0]
    }

    /// Payload length.
    fn len(&self) -> usize {
        self.wire.len() - 1
    }

    fn end(&self) -> u64 {
        self.offset + self.len() as u64
    }

    fn payload(&self) -> Bytes {
        self.wire.slice(1..)
    }

    /// The payload from `skip` on, in wire format: the stored buffer itself when whole.
    fn wire_from(&self, skip: usize) -> Bytes {
        if skip == 0 {
            return self.wire.clone();
        }
        // Only a joined (small) chunk is ever read from its middle: a follower had read it
        // before more was joined to it. The copy is at most `JOIN_BELOW` bytes.
        let mut w = BytesMut::with_capacity(self.wire.len() - skip);
        w.put_u8(self.stream());
        w.extend_from_slice(&self.wire[1 + skip..]);
        w.freeze()
    }
}

/// `[stream, data…]`, allocated to size: a chunk that is joined to grows as it needs (a chunk
/// allocated larger than its payload would hold that memory for as long as it is retained).
fn wire(stream: u8, data: &[u8]) -> BytesMut {
    let mut w = BytesMut::with_capacity(data.len() + 1);
    w.put_u8(stream);
    w.extend_from_slice(data);
    w
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
    /// Appends a piece of output, joining it to the last chunk when both are small.
    fn append(&mut self, stream: u8, data: &[u8]) {
        let offset = self.end;
        self.end += data.len() as u64;
        if let Some(last) = self.chunks.back_mut()
            && last.stream() == stream
            && last.len() + data.len() < JOIN_BELOW
        {
            // Grows the last chunk in place when no follower holds it (the usual case: they
            // drop what they sent), else copies its few bytes into a new buffer.
            let mut joined = std::mem::take(&mut last.wire)
                .try_into_mut()
                .unwrap_or_else(|shared| wire(stream, &shared[1..]));
            joined.extend_from_slice(data);
            last.wire = joined.freeze();
            return;
        }
        self.chunks.push_back(Chunk {
            offset,
            wire: wire(stream, data).freeze(),
        });
    }

    fn evict(&mut self, limit: usize) {
        let keep_from = self.primary.unwrap_or(u64::MAX);
        while self.end - self.start > limit as u64 {
            let Some(front) = self.chunks.front() else {
                break;
            };
            let front_end = front.end();
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
    /// Output in wire format: each `[stream, payload…]`, in order.
    pub output: Vec<Bytes>,
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
                    state.append(stream, &data);
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

    /// A follower's starting point: every event, and output after the first `from` bytes (what
    /// a reconnecting client already has). `Err(produced)` when `from` is past the output
    /// produced so far.
    pub fn cursor_from(&self, from: u64) -> Result<Cursor, u64> {
        let end = self.lock().end;
        if from > end {
            return Err(end);
        }
        Ok(Cursor {
            events: 0,
            offset: from,
        })
    }

    /// A follower from `cursor`. The primary follower (the client that started the run)
    /// back-pressures the writer until it says what it has sent, and until it is dropped.
    pub fn follow(&self, cursor: Cursor, primary: bool) -> Follower<'_> {
        if primary {
            self.set_primary(&cursor);
        }
        Follower {
            journal: self,
            cursor,
            primary,
        }
    }

    /// Makes a follower the primary, from its current position.
    fn set_primary(&self, cursor: &Cursor) {
        self.lock().primary = Some(cursor.offset);
        self.consumed.send_replace(());
    }

    /// The primary has sent everything up to `cursor`.
    fn primary_read(&self, cursor: &Cursor) {
        let mut state = self.lock();
        if state.primary.is_some() {
            state.primary = Some(cursor.offset);
            state.evict(self.limit);
        }
        drop(state);
        self.consumed.send_replace(());
    }

    /// The primary detached or disconnected, or the run is being stopped: the run no longer
    /// waits for it.
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
        let first = state.chunks.partition_point(|c| c.end() <= cursor.offset);
        let mut taken = 0;
        for chunk in state.chunks.range(first..) {
            let skip = (cursor.offset - chunk.offset) as usize;
            let wire = chunk.wire_from(skip);
            taken += wire.len() - 1;
            cursor.offset = chunk.end();
            batch.output.push(wire);
            if taken >= max_bytes {
                break;
            }
        }
        if cursor.offset == state.end {
            batch.last = state.last.clone();
        }
        batch
    }

    /// Output bytes `cursor` has not read yet, and whether the run has ended: lets a follower
    /// decide whether to wait a moment for more before sending.
    pub fn unread(&self, cursor: &Cursor) -> (u64, bool) {
        let state = self.lock();
        let from = cursor.offset.max(state.start);
        (state.end - from, state.last.is_some())
    }

    /// The retained output in order, and how many bytes before it were dropped.
    pub fn output(&self) -> (u64, Vec<(u8, Bytes)>) {
        let state = self.lock();
        let chunks = state
            .chunks
            .iter()
            .map(|c| (c.stream(), c.payload()))
            .collect();
        (state.start, chunks)
    }
}

/// One client following a run ([`Journal::follow`]).
pub struct Follower<'a> {
    journal: &'a Journal,
    cursor: Cursor,
    primary: bool,
}

impl Follower<'_> {
    /// What this follower has not seen yet, up to about `max_bytes` of output.
    pub fn read(&mut self, max_bytes: usize) -> Batch {
        self.journal.read(&mut self.cursor, max_bytes)
    }

    /// Output bytes not read yet, and whether the run has ended.
    pub fn unread(&self) -> (u64, bool) {
        self.journal.unread(&self.cursor)
    }

    /// Everything read so far has gone out to the client: the primary lets the writer on.
    pub fn sent(&self) {
        if self.primary {
            self.journal.primary_read(&self.cursor);
        }
    }
}

impl Drop for Follower<'_> {
    fn drop(&mut self) {
        if self.primary {
            self.journal.release_primary();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn bytes(batch: &Batch) -> Vec<u8> {
        batch.output.iter().flat_map(|w| w[1..].to_vec()).collect()
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
        assert_eq!(b.output, vec![Bytes::from_static(b"\x01ab")]);
        assert!(b.last.is_none(), "the last event waits for the output");
        let b = j.read(&mut c, 100);
        assert_eq!(b.output, vec![Bytes::from_static(b"\x02cd")]);
        assert_eq!(b.last, Some(ServerEvent::Exit { code: 0 }));
    }

    #[tokio::test]
    async fn keeps_the_newest_output_and_tells_late_followers_the_gap() {
        // Pieces of at least JOIN_BELOW bytes are kept apart, so eviction shows chunk by chunk.
        let piece = |i: u8| Bytes::from(vec![i; JOIN_BELOW]);
        let j = Journal::new(2 * JOIN_BELOW + 10);
        for i in 0..5 {
            j.push_output(1, piece(i)).await;
        }
        let (start, kept) = j.output();
        assert_eq!(start, 3 * JOIN_BELOW as u64);
        assert_eq!(kept, vec![(1, piece(3)), (1, piece(4))]);
        let mut c = Cursor::default();
        let b = j.read(&mut c, usize::MAX);
        assert_eq!(b.skipped, 3 * JOIN_BELOW as u64);
        assert_eq!(bytes(&b), [piece(3), piece(4)].concat());
    }

    #[tokio::test]
    async fn joins_small_pieces_of_one_stream_in_order() {
        let j = Journal::new(1 << 20);
        let mut c = Cursor::default();
        j.push_output(1, Bytes::from_static(b"a")).await;
        // A follower reads the first piece, then more is joined to the same chunk.
        assert_eq!(
            j.read(&mut c, usize::MAX).output,
            [Bytes::from_static(b"\x01a")]
        );
        for piece in [&b"b"[..], b"c", b"d"] {
            j.push_output(1, Bytes::copy_from_slice(piece)).await;
        }
        j.push_output(2, Bytes::from_static(b"e")).await;
        j.push_output(1, Bytes::from(vec![b'f'; JOIN_BELOW])).await;
        j.push_output(1, Bytes::from_static(b"g")).await;
        let (_, kept) = j.output();
        let streams: Vec<u8> = kept.iter().map(|(s, _)| *s).collect();
        assert_eq!(
            streams,
            [1, 2, 1, 1],
            "joined: abcd, e; kept apart: the large piece"
        );
        assert_eq!(kept[0].1, Bytes::from_static(b"abcd"));
        // The follower continues mid-chunk without seeing "a" again.
        let b = j.read(&mut c, usize::MAX);
        assert_eq!(b.output[0], Bytes::from_static(b"\x01bcd"));
        assert_eq!(b.output[1], Bytes::from_static(b"\x02e"));
        assert_eq!(bytes(&b).len(), 4 + JOIN_BELOW + 1);
        // A fresh follower sees everything, whole chunks as stored.
        let all = j.read(&mut Cursor::default(), usize::MAX);
        assert_eq!(all.output[0], Bytes::from_static(b"\x01abcd"));
        assert_eq!(j.output_len(), 6 + JOIN_BELOW as u64);
    }

    #[tokio::test]
    async fn many_tiny_pieces_make_few_chunks() {
        let j = Journal::new(1 << 20);
        for _ in 0..100_000 {
            j.push_output(1, Bytes::from_static(b"y\n")).await;
        }
        let (_, kept) = j.output();
        assert!(
            kept.len() <= 200_000 / (JOIN_BELOW / 2),
            "{} chunks",
            kept.len()
        );
        assert_eq!(kept.iter().map(|(_, d)| d.len()).sum::<usize>(), 200_000);
    }

    #[tokio::test]
    async fn unread_counts_what_a_follower_has_not_read() {
        let j = Journal::new(1 << 20);
        let mut c = Cursor::default();
        assert_eq!(j.unread(&c), (0, false));
        j.push_output(1, Bytes::from_static(b"abc")).await;
        assert_eq!(j.unread(&c), (3, false));
        j.read(&mut c, usize::MAX);
        j.finish(ServerEvent::Exit { code: 0 });
        assert_eq!(j.unread(&c), (0, true));
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
