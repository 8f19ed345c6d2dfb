//! The run WebSockets: `/api/runs/ws` starts a run and follows it; `/api/runs/{id}/ws` watches
//! one. Both send the run's events as JSON text and its output as binary frames
//! (`[stream, payload…]`), and take stdin, resizes, signals and detach from the client.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use berth_shared::exit::DOCKER_ERROR;
use berth_shared::wire::{ClientMessage, ServerEvent};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use super::rest::{valid_signal, visible_run};
use super::{AppState, Outcome, plan_for};
use crate::auth::Principal;
use crate::run::journal::Cursor;
use crate::run::{Input, Run};

/// Client messages larger than this close the socket (1009).
const MAX_CLIENT_MESSAGE: usize = 1024 * 1024;
/// Output taken from the journal per round; coalesced into frames of at most this size.
const MAX_FRAME: usize = 256 * 1024;
/// How long a client may take to send its first message.
const FIRST_MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);

type Sink = SplitSink<WebSocket, Message>;

// The identity comes first: an unauthenticated request is a 401 whatever else is wrong with it.
pub async fn run(user: Principal, ws: WebSocketUpgrade, State(app): State<AppState>) -> Response {
    ws.max_message_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| start_and_follow(socket, app, user))
}

pub async fn watch(
    user: Principal,
    ws: WebSocketUpgrade,
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Response {
    let run = match visible_run(&app, &user, &id) {
        Ok(run) => run,
        Err(e) => return e.into_response(),
    };
    let (owner, team) = run.owner();
    let may_input = user.acts_on(&owner, &team);
    ws.max_message_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| watch_and_follow(socket, run, may_input))
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

/// The first text message, parsed.
async fn first_message(stream: &mut SplitStream<WebSocket>) -> Result<ClientMessage, String> {
    let msg = match tokio::time::timeout(FIRST_MESSAGE_TIMEOUT, stream.next()).await {
        Err(_) => return Err("no first message within 30 seconds".into()),
        Ok(None) => return Err("the connection closed before the first message".into()),
        Ok(Some(Err(e))) => return Err(format!("invalid message: {e}")),
        Ok(Some(Ok(msg))) => msg,
    };
    match msg {
        Message::Text(t) => {
            serde_json::from_str(t.as_str()).map_err(|e| format!("invalid message: {e}"))
        }
        _ => Err("the first message must be a JSON text message".into()),
    }
}

async fn start_and_follow(socket: WebSocket, app: AppState, user: Principal) {
    let (sink, mut stream) = socket.split();
    let req = match first_message(&mut stream).await {
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
    let (mut plan, argv) = match plan_for(&req) {
        Ok(p) => p,
        Err(e) => return refuse(sink, e.to_string()).await,
    };
    let max_seconds = match app.authorize_run(&user, &mut plan).await {
        Ok(m) => m,
        Err(e) => return refuse(sink, e.message()).await,
    };
    let run = app
        .runs
        .launch(plan, argv, true, &(&user).into(), max_seconds);
    app.audit(&user, "run.create", &run.id, Outcome::Ok, &run.info().image)
        .await;
    if let (Some(cols), Some(rows)) = (req.cols, req.rows) {
        run.send_input(Input::Resize { cols, rows }).await;
    }
    follow(sink, stream, run, true, true).await;
}

async fn watch_and_follow(socket: WebSocket, run: Arc<Run>, may_input: bool) {
    let (sink, mut stream) = socket.split();
    match first_message(&mut stream).await {
        Ok(ClientMessage::Watch) => follow(sink, stream, run, false, may_input).await,
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
}

/// Sends the run's journal to the client until the run ends, the client detaches or leaves.
/// The primary follower (the client that started the run) back-pressures the container.
async fn follow(
    mut sink: Sink,
    stream: SplitStream<WebSocket>,
    run: Arc<Run>,
    primary: bool,
    may_input: bool,
) {
    let (control_tx, mut control) = mpsc::channel(16);
    let reader = tokio::spawn(read_client(stream, run.clone(), control_tx, may_input));
    let mut cursor = Cursor::default();
    if primary {
        run.journal.set_primary(&cursor);
    }
    let mut changes = run.journal.subscribe();
    let outcome = loop {
        changes.borrow_and_update();
        let batch = run.journal.read(&mut cursor, MAX_FRAME);
        match send_batch(&mut sink, &run, primary, &batch).await {
            Ok(Some(end)) => break Ok(end),
            Ok(None) => {}
            Err(()) => break Err(()),
        }
        if primary {
            run.journal.primary_read(&cursor);
        }
        // Client messages are looked at between batches even while output keeps flowing.
        let next = if batch.is_empty() {
            tokio::select! {
                _ = changes.changed() => None,
                c = control.recv() => Some(c),
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
                break Ok("detached");
            }
        }
    };
    if primary {
        run.journal.release_primary();
    }
    reader.abort();
    if let Ok(reason) = outcome {
        close(sink, close_code::NORMAL, reason).await;
    }
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
    for frame in coalesce(&batch.output) {
        sink.send(Message::Binary(frame.into()))
            .await
            .map_err(|_| ())?;
    }
    match &batch.last {
        Some(last) => {
            sink.send(text(last)).await.map_err(|_| ())?;
            Ok(Some("run ended"))
        }
        None => Ok(None),
    }
}

/// Joins consecutive chunks of one stream into frames of at most `MAX_FRAME` bytes, each
/// prefixed with its stream byte. Order within and across streams is kept.
fn coalesce(chunks: &[(u8, bytes::Bytes)]) -> Vec<Vec<u8>> {
    let mut frames: Vec<Vec<u8>> = Vec::new();
    for (stream, data) in chunks {
        let mut data = &data[..];
        while !data.is_empty() {
            let fits = frames
                .last()
                .is_some_and(|f| f[0] == *stream && f.len() < MAX_FRAME + 1);
            if !fits {
                frames.push(Vec::with_capacity((data.len() + 1).min(MAX_FRAME + 1)));
                frames.last_mut().expect("just pushed").push(*stream);
            }
            let frame = frames.last_mut().expect("present");
            let room = MAX_FRAME + 1 - frame.len();
            let n = room.min(data.len());
            frame.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
    }
    frames
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
    while let Some(Ok(msg)) = stream.next().await {
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
                Ok(ClientMessage::Run(_) | ClientMessage::Watch) => {
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
    use bytes::Bytes;

    #[test]
    fn coalesces_by_stream_in_order() {
        let chunks = vec![
            (1, Bytes::from_static(b"a")),
            (1, Bytes::from_static(b"b")),
            (2, Bytes::from_static(b"c")),
            (1, Bytes::from_static(b"d")),
        ];
        assert_eq!(
            coalesce(&chunks),
            vec![b"\x01ab".to_vec(), b"\x02c".to_vec(), b"\x01d".to_vec()]
        );
        let big = vec![(1, Bytes::from(vec![0u8; MAX_FRAME * 2 + 5]))];
        let frames = coalesce(&big);
        assert_eq!(
            frames.iter().map(Vec::len).collect::<Vec<_>>(),
            [MAX_FRAME + 1, MAX_FRAME + 1, 6]
        );
    }
}
