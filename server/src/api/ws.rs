//! The run WebSockets: `/api/runs/ws` starts a run and follows it; `/api/runs/{id}/ws` watches
//! one. Both send the run's events as JSON text and its output as binary frames
//! (`[stream, payload…]`), and take stdin, resizes, signals and detach from the client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use berth_shared::exit::DOCKER_ERROR;
use berth_shared::wire::{ClientMessage, ServerEvent};
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use super::access::{acts_on, visible_run};
use super::auth::UserOrGuest;
use super::request::valid_signal;
use super::{Action, AppState, Outcome};
use crate::auth::Principal;
use crate::run::journal::Cursor;
use crate::run::{Input, Run};
use crate::shutdown::Shutdown;

/// Client messages larger than this close the socket (1009).
const MAX_CLIENT_MESSAGE: usize = 1024 * 1024;
/// What a socket reads at a time. tungstenite fills its whole read buffer (128 KiB by default)
/// on the first read, so every socket, even one that never sends a message, held that much:
/// 2,000 silent sockets took 250 MiB. Clients send keystrokes and control messages; a larger
/// message is still read whole, in more reads.
pub(super) const READ_BUFFER: usize = 8 * 1024;
/// Output taken from the journal per round; coalesced into frames of at most this size.
const MAX_FRAME: usize = 256 * 1024;
/// Output pieces at least this large are sent as they are (no copy); smaller ones are joined.
const SEND_ALONE: usize = 16 * 1024;
/// How long a little output may wait for more right after a message went out.
const COALESCE_WINDOW: Duration = Duration::from_millis(3);
/// Unread output of at least this much is sent without waiting.
const COALESCE_ENOUGH: u64 = 16 * 1024;
/// How long a client may take to send its first message.
const FIRST_MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);

type Sink = SplitSink<WebSocket, Message>;

// The identity comes first: an unauthenticated request is a 401 whatever else is wrong with it.
#[utoipa::path(
    get, path = "/api/runs/ws", tag = "runs", summary = "WebSocket: start a run and follow it",
    description = "Starts a run and follows it (docs/API.md, \"WebSocket: GET /api/runs/ws\"). The first client message is `ClientMessage` `run` (a `RunRequest` with `cols`/`rows`); then resize, signal, close_stdin, detach, and stdin as binary frames. The server sends `ServerEvent`s as text (`accepted`, `pull`…, `created`, `started`, `exit`, or `error` at any point) and the output as binary frames.",
    responses(
        (status = 101, description = "Switching Protocols: the WebSocket."),
        (status = 401, description = "No or bad credentials."),
        (status = 403, description = "A session from another origin."),
    ),
    extensions(("x-websocket" = json!({
        "client": {"$ref": "#/components/schemas/ClientMessage"},
        "server": {"$ref": "#/components/schemas/ServerEvent"},
        "binary": "client to server: stdin bytes; server to client: output, the first byte 1 (stdout) or 2 (stderr), then the bytes"
    }))),
)]
pub async fn run(user: Principal, ws: WebSocketUpgrade, State(app): State<AppState>) -> Response {
    ws.max_message_size(MAX_CLIENT_MESSAGE)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| start_and_follow(socket, app, user))
}

/// Open to guests: a demo session's terminal is its run, and its visitor types into it whatever
/// their role.
#[utoipa::path(
    get, path = "/api/runs/{run_id}/ws", tag = "runs", summary = "WebSocket: watch a run",
    description = "Watches a run (docs/API.md, \"WebSocket: GET /api/runs/{run_id}/ws\"): the first client message is `ClientMessage` `watch` (with `from`, output bytes already held, to resume); the run's events and retained output are replayed, then followed live, as on `/api/runs/ws`. A `from` past the output produced is answered `resume_refused` only, then a close (1008).",
    security(("bearer" = []), ("session" = []), ("guest" = [])),
    params(("run_id" = String, Path, description = "The run's id."),),
    responses(
        (status = 101, description = "Switching Protocols: the WebSocket."),
        (status = 404, description = "No such run (before the upgrade)."),
    ),
    extensions(("x-websocket" = json!({
        "client": {"$ref": "#/components/schemas/ClientMessage"},
        "server": {"$ref": "#/components/schemas/ServerEvent"},
        "binary": "client to server: stdin bytes; server to client: output, the first byte 1 (stdout) or 2 (stderr), then the bytes"
    }))),
)]
pub async fn watch(
    UserOrGuest(user): UserOrGuest,
    ws: WebSocketUpgrade,
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Response {
    let run = match visible_run(&app, &user, &id).await {
        Ok(run) => run,
        Err(e) => return e.into_response(),
    };
    let may_input =
        acts_on(&app, &user, &run.owner()) || app.demo.is_visitor_of_run(&run.id, &user.user_id);
    ws.max_message_size(MAX_CLIENT_MESSAGE)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| watch_and_follow(socket, app.shutdown, run, may_input))
}

fn text(event: &ServerEvent) -> Message {
    Message::Text(Utf8Bytes::from(
        serde_json::to_string(event).expect("events serialise"),
    ))
}

async fn close(mut sink: Sink, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
}

/// Closes with 1001 "going away": Berth is stopping, and the client may come back once it is
/// up again (the dashboard does).
pub(super) async fn going_away<S: futures_util::Sink<Message> + Unpin>(mut sink: S) {
    let frame = CloseFrame {
        code: close_code::AWAY,
        reason: Utf8Bytes::from_static(crate::shutdown::GOING_AWAY),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
}

/// Refuses a session with an `error` event (status 125) and a close.
async fn refuse(mut sink: Sink, message: String) {
    let _ = sink
        .send(text(&ServerEvent::Error {
            code: DOCKER_ERROR,
            message,
        }))
        .await;
    close(sink, close_code::POLICY, "invalid request").await;
}

/// The first text message, parsed. Pings and pongs before it are control frames, not
/// messages: they are answered and the wait goes on, all within `FIRST_MESSAGE_TIMEOUT`.
async fn first_message(socket: &mut WebSocket) -> Result<ClientMessage, String> {
    let deadline = tokio::time::Instant::now() + FIRST_MESSAGE_TIMEOUT;
    let late = || "no first message within 30 seconds".to_string();
    loop {
        let msg = match tokio::time::timeout_at(deadline, socket.recv()).await {
            Err(_) => return Err(late()),
            Ok(None) => return Err("the connection closed before the first message".into()),
            Ok(Some(Err(e))) => return Err(format!("invalid message: {e}")),
            Ok(Some(Ok(msg))) => msg,
        };
        match msg {
            Message::Text(t) => {
                return serde_json::from_str(t.as_str())
                    .map_err(|e| format!("invalid message: {e}"));
            }
            // tungstenite queued the pong when it read the ping; it would go out with the
            // next read or write, but the client may be waiting for it before it writes.
            Message::Ping(_) | Message::Pong(_) => {
                match tokio::time::timeout_at(deadline, socket.flush()).await {
                    Err(_) => return Err(late()),
                    Ok(Err(e)) => return Err(format!("invalid message: {e}")),
                    Ok(Ok(())) => {}
                }
            }
            _ => return Err("the first message must be a JSON text message".into()),
        }
    }
}

async fn start_and_follow(mut socket: WebSocket, app: AppState, user: Principal) {
    let _open = app.shutdown.hold();
    let first = tokio::select! {
        first = first_message(&mut socket) => first,
        () = app.shutdown.stopping() => return going_away(socket).await,
    };
    let (sink, stream) = socket.split();
    let req = match first {
        Ok(ClientMessage::Run(req)) => req,
        Ok(_) => {
            return refuse(
                sink,
                "the first message must be {\"type\":\"run\", …}".into(),
            )
            .await;
        }
        Err(e) => return refuse(sink, e).await,
    };
    if req.start.is_some() {
        return refuse(
            sink,
            "\"start\" is for POST /api/runs; a WebSocket run always starts".into(),
        )
        .await;
    }
    let admitted = match app.admit(&user, &req).await {
        Ok(a) => a,
        Err(e) => return refuse(sink, e.to_string()).await,
    };
    let run = app.launch(admitted, true);
    app.audit(
        &user,
        Action::RunCreate,
        &run.id,
        Outcome::Ok,
        &run.info().image,
    )
    .await;
    if let (Some(cols), Some(rows)) = (req.cols, req.rows) {
        run.send_input(Input::Resize { cols, rows }).await;
    }
    let shutdown = app.shutdown.clone();
    follow(sink, stream, &shutdown, run, Cursor::default(), true, true).await;
}

async fn watch_and_follow(
    mut socket: WebSocket,
    shutdown: Shutdown,
    run: Arc<Run>,
    may_input: bool,
) {
    let _open = shutdown.hold();
    let first = tokio::select! {
        first = first_message(&mut socket) => first,
        () = shutdown.stopping() => return going_away(socket).await,
    };
    let (mut sink, stream) = socket.split();
    match first {
        Ok(ClientMessage::Watch { from }) => match run.journal.cursor_from(from.unwrap_or(0)) {
            Ok(cursor) => follow(sink, stream, &shutdown, run, cursor, false, may_input).await,
            // Not an `error`: the run has not failed; the client may watch it from the start.
            Err(produced) => {
                let refused = text(&ServerEvent::ResumeRefused { produced });
                let _ = sink.send(refused).await;
                close(sink, close_code::POLICY, "invalid request").await
            }
        },
        Ok(_) => {
            refuse(
                sink,
                "the first message must be {\"type\":\"watch\"}".into(),
            )
            .await
        }
        Err(e) => refuse(sink, e).await,
    }
}

/// What the client reader tells the sender.
enum Control {
    Detach,
    Warning(String),
    /// A message over `MAX_CLIENT_MESSAGE`: the socket closes with 1009.
    TooBig,
}

/// Sends the run's journal to the client until the run ends, the client detaches or leaves.
/// The primary follower (the client that started the run) back-pressures the container. When
/// Berth stops, the client is told to go away (the run goes on in the engine).
async fn follow(
    mut sink: Sink,
    stream: SplitStream<WebSocket>,
    shutdown: &Shutdown,
    run: Arc<Run>,
    cursor: Cursor,
    primary: bool,
    may_input: bool,
) {
    // A demo session with a client is not idle.
    let _watching = run.watching();
    let (control_tx, mut control) = mpsc::channel(16);
    let reader = tokio::spawn(read_client(stream, run.clone(), control_tx, may_input));
    let mut follower = run.journal.follow(cursor, primary);
    let mut changes = run.journal.subscribe();
    // When output was last sent: a little output soon after it is held back for a moment.
    let mut last_output: Option<Instant> = None;
    let outcome = loop {
        if shutdown.is_stopping() {
            break Ok((close_code::AWAY, crate::shutdown::GOING_AWAY));
        }
        changes.borrow_and_update();
        if let Some(sent) = last_output {
            let (unread, finished) = follower.unread();
            if hold_back(unread, finished, sent.elapsed()) {
                // A program writing in small pieces: more is on its way, and waiting a few
                // milliseconds turns many tiny messages (a wake-up, a frame and a write each)
                // into one. Output after a quiet moment goes out at once.
                tokio::time::sleep_until((sent + COALESCE_WINDOW).into()).await;
            }
        }
        let batch = follower.read(MAX_FRAME);
        match send_batch(&mut sink, &run, primary, &batch).await {
            Ok(Some(end)) => break Ok((close_code::NORMAL, end)),
            Ok(None) => {}
            Err(()) => break Err(()),
        }
        if !batch.output.is_empty() {
            last_output = Some(Instant::now());
        }
        follower.sent();
        // Client messages are looked at between batches even while output keeps flowing.
        let next = if batch.is_empty() {
            tokio::select! {
                _ = changes.changed() => None,
                c = control.recv() => Some(c),
                () = shutdown.stopping() => None,
            }
        } else {
            control.try_recv().ok().map(Some)
        };
        match next {
            None => {}
            Some(None) => break Err(()),
            Some(Some(Control::Warning(message))) => {
                let sent = sink.send(text(&ServerEvent::Warning { message })).await;
                if sent.is_err() {
                    break Err(());
                }
            }
            Some(Some(Control::Detach)) => {
                let container_id = run.container_id().unwrap_or_default();
                let _ = sink
                    .send(text(&ServerEvent::Detached { container_id }))
                    .await;
                break Ok((close_code::NORMAL, "detached"));
            }
            Some(Some(Control::TooBig)) => break Ok((close_code::SIZE, "message too big")),
        }
    };
    drop(follower);
    reader.abort();
    if let Ok((code, reason)) = outcome {
        close(sink, code, reason).await;
    }
}

/// Whether to wait before sending `unread` bytes, `since` the last output was sent: only a
/// little output, in the middle of a run, right after a message went out.
fn hold_back(unread: u64, finished: bool, since: Duration) -> bool {
    unread > 0 && unread < COALESCE_ENOUGH && !finished && since < COALESCE_WINDOW
}

/// Sends one batch. `Ok(Some(reason))` when the session is over.
async fn send_batch(
    sink: &mut Sink,
    run: &Run,
    primary: bool,
    batch: &crate::run::journal::Batch,
) -> Result<Option<&'static str>, ()> {
    for event in &batch.events {
        sink.send(text(event)).await.map_err(|_| ())?;
        // `-d`: the client that started the run is done once the container has started.
        if primary && *event == ServerEvent::Started && run.is_detach() {
            let container_id = run.container_id().unwrap_or_default();
            sink.send(text(&ServerEvent::Detached { container_id }))
                .await
                .map_err(|_| ())?;
            return Ok(Some("detached"));
        }
    }
    if batch.skipped > 0 {
        sink.send(text(&ServerEvent::Gap {
            bytes: batch.skipped,
        }))
        .await
        .map_err(|_| ())?;
    }
    if !batch.output.is_empty() {
        // Queued without flushing each: the socket is written once the queue is large, and at
        // the end of the batch.
        for frame in coalesce(&batch.output) {
            sink.feed(Message::Binary(frame)).await.map_err(|_| ())?;
        }
        sink.flush().await.map_err(|_| ())?;
    }
    match &batch.last {
        Some(last) => {
            sink.send(text(last)).await.map_err(|_| ())?;
            Ok(Some("run ended"))
        }
        None => Ok(None),
    }
}

/// Turns the journal's output (`[stream, payload…]` each) into WebSocket messages of at most
/// `MAX_FRAME` payload bytes. A large piece goes out as the journal's own buffer, uncopied;
/// consecutive small pieces of one stream are joined into one message. Order within and across
/// streams is kept.
fn coalesce(frames: &[Bytes]) -> Vec<Bytes> {
    let mut messages = Vec::new();
    let mut i = 0;
    while i < frames.len() {
        let first = &frames[i];
        if first.len() > MAX_FRAME + 1 {
            // Larger than a message may be (a TTY read, restored output): split, copying.
            for piece in first[1..].chunks(MAX_FRAME) {
                let mut m = BytesMut::with_capacity(piece.len() + 1);
                m.put_u8(first[0]);
                m.extend_from_slice(piece);
                messages.push(m.freeze());
            }
            i += 1;
            continue;
        }
        // How many of the following pieces join this one.
        let mut end = i + 1;
        let mut len = first.len();
        if first.len() <= SEND_ALONE {
            while let Some(next) = frames.get(end) {
                let fits = len + next.len() - 1 <= MAX_FRAME + 1;
                if next[0] != first[0] || next.len() > SEND_ALONE || !fits {
                    break;
                }
                len += next.len() - 1;
                end += 1;
            }
        }
        if end == i + 1 {
            messages.push(first.clone());
        } else {
            let mut m = BytesMut::with_capacity(len);
            m.extend_from_slice(first);
            for next in &frames[i + 1..end] {
                m.extend_from_slice(&next[1..]);
            }
            messages.push(m.freeze());
        }
        i = end;
    }
    messages
}

/// Reads client messages: stdin bytes and control messages go to the run; detach and
/// warnings go to the sender. Ends (dropping `control`) when the client leaves.
async fn read_client(
    mut stream: SplitStream<WebSocket>,
    run: Arc<Run>,
    control: mpsc::Sender<Control>,
    may_input: bool,
) {
    let warn = |m: &str| Control::Warning(m.to_string());
    loop {
        let msg = match stream.next().await {
            Some(Ok(msg)) => msg,
            Some(Err(e)) => {
                // tungstenite's `Error::Capacity`, which axum does not name: told by its text.
                if e.to_string().starts_with("Space limit exceeded") {
                    let _ = control.send(Control::TooBig).await;
                }
                break;
            }
            None => break,
        };
        let input = match msg {
            Message::Binary(data) if run.stdin_attached => Input::Stdin(data),
            Message::Binary(_) => {
                let _ = control
                    .send(warn("stdin is not attached: run with -i to send input"))
                    .await;
                continue;
            }
            Message::Text(t) => match serde_json::from_str::<ClientMessage>(t.as_str()) {
                Ok(ClientMessage::Resize { cols, rows }) if cols > 0 && rows > 0 => {
                    Input::Resize { cols, rows }
                }
                Ok(ClientMessage::Resize { .. }) => {
                    let _ = control
                        .send(warn("resize needs cols and rows above 0"))
                        .await;
                    continue;
                }
                Ok(ClientMessage::Signal { signal }) if valid_signal(&signal) => {
                    Input::Signal(signal)
                }
                Ok(ClientMessage::Signal { signal }) => {
                    let _ = control
                        .send(Control::Warning(format!("invalid signal {signal:?}")))
                        .await;
                    continue;
                }
                Ok(ClientMessage::CloseStdin) => Input::CloseStdin,
                Ok(ClientMessage::Detach) => {
                    let _ = control.send(Control::Detach).await;
                    continue;
                }
                Ok(
                    ClientMessage::Run(_) | ClientMessage::Watch { .. } | ClientMessage::Exec(_),
                ) => {
                    let _ = control
                        .send(warn("this session already follows a run"))
                        .await;
                    continue;
                }
                Err(e) => {
                    let _ = control
                        .send(Control::Warning(format!("invalid message: {e}")))
                        .await;
                    continue;
                }
            },
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        if !may_input {
            let _ = control
                .send(warn(
                    "you may watch this run but not send it input or signals",
                ))
                .await;
            continue;
        }
        if !run.send_input(input).await {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(stream: u8, payload: &[u8]) -> Bytes {
        let mut w = vec![stream];
        w.extend_from_slice(payload);
        Bytes::from(w)
    }

    #[test]
    fn coalesces_by_stream_in_order() {
        let frames = vec![wire(1, b"a"), wire(1, b"b"), wire(2, b"c"), wire(1, b"d")];
        assert_eq!(
            coalesce(&frames),
            vec![wire(1, b"ab"), wire(2, b"c"), wire(1, b"d")]
        );
        let big = vec![wire(1, &vec![0u8; MAX_FRAME * 2 + 5])];
        let messages = coalesce(&big);
        assert_eq!(
            messages.iter().map(Bytes::len).collect::<Vec<_>>(),
            [MAX_FRAME + 1, MAX_FRAME + 1, 6]
        );
        assert!(messages.iter().all(|m| m[0] == 1));
    }

    #[test]
    fn large_pieces_go_out_uncopied_and_small_ones_joined_up_to_the_limit() {
        // Sizes are of payloads; the wire adds the stream byte.
        let large = wire(1, &vec![7u8; SEND_ALONE]);
        let small = wire(1, &[1u8; 100]);
        let frames = vec![small.clone(), small.clone(), large.clone(), small.clone()];
        let messages = coalesce(&frames);
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[0].len(), 201);
        // The same buffer, not a copy of it.
        assert_eq!(messages[1].as_ptr(), large.as_ptr());
        assert_eq!(messages[2], small);
        // Small pieces never make a message larger than MAX_FRAME.
        let many = vec![wire(2, &vec![0u8; SEND_ALONE - 1]); 40];
        let messages = coalesce(&many);
        assert!(messages.iter().all(|m| m.len() <= MAX_FRAME + 1));
        let total: usize = messages.iter().map(|m| m.len() - 1).sum();
        assert_eq!(total, 40 * (SEND_ALONE - 1));
        assert_eq!(messages.len(), 3);
    }

    #[test]
    fn holds_back_only_a_little_output_right_after_a_message() {
        let soon = Duration::from_millis(1);
        assert!(hold_back(10, false, soon));
        assert!(!hold_back(0, false, soon), "nothing to send");
        assert!(
            !hold_back(10, true, soon),
            "the run ended: send the rest now"
        );
        assert!(
            !hold_back(COALESCE_ENOUGH, false, soon),
            "enough for a message"
        );
        assert!(
            !hold_back(10, false, COALESCE_WINDOW),
            "after a quiet moment"
        );
    }
}
