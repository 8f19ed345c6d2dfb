//! Inside running containers: `docker exec` and live resource use.
//!
//! `GET /api/containers/{id}/exec`: `docker exec` over a WebSocket. The first message says what
//! to run (`{"type":"exec",…}`); the process's output comes as the runs' binary frames, stdin,
//! `resize` and `close_stdin` go to it, and `{"type":"exit","code":N}` ends it. Closing the
//! socket drops the connection to the process: with a TTY it gets SIGHUP.

use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use berth_shared::wire::{ClientMessage, ExecRequest, ServerEvent, StatsSample};
use bytes::{BufMut, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::broadcast;

use super::access::{Found, actionable_container, visible_container};
use super::containers::EngineQuery;
use super::request::query;
use super::ws::going_away;
use super::{Action, ApiError, AppState, Outcome};
use crate::auth::Principal;
use crate::engine::{Engine, EngineError, ExecConfig};

/// The docker CLI's status when the daemon refuses an exec (e.g. the container is not running).
const EXEC_REFUSED: i32 = 1;
/// A client has this long to say what to run.
const FIRST_MESSAGE: Duration = Duration::from_secs(30);

#[utoipa::path(
    get, path = "/api/containers/{id}/exec", tag = "containers", summary = "WebSocket: `docker exec` in a container",
    description = "`docker exec` over a WebSocket: the first client message is `ClientMessage` `exec` (an `ExecRequest`); then stdin as binary frames, `resize` and `close_stdin`. The server sends `exec_started`, the output as the runs' binary frames, and `exit` (or `error`). Closing the socket drops the process's connection (with a TTY it gets SIGHUP).",
    params(("id" = String, Path, description = "A container's ID, ID prefix or name."), EngineQuery),
    responses(
        (status = 101, description = "Switching Protocols: the WebSocket."),
        (status = 404, description = "No such container."),
    ),
    extensions(("x-websocket" = json!({
        "client": {"$ref": "#/components/schemas/ClientMessage"},
        "server": {"$ref": "#/components/schemas/ServerEvent"},
        "binary": "client to server: stdin bytes; server to client: output, the first byte 1 (stdout) or 2 (stderr), then the bytes"
    }))),
)]
pub async fn exec(
    State(app): State<AppState>,
    user: Principal,
    ws: WebSocketUpgrade,
    Path(id): Path<String>,
    q: Result<Query<EngineQuery>, QueryRejection>,
) -> Response {
    let found = match query(q) {
        Ok(q) => actionable_container(&app, &user, &id, q.engine.as_deref()).await,
        Err(e) => Err(e),
    };
    match found {
        Ok(found) => ws
            .max_message_size(1024 * 1024)
            .read_buffer_size(super::ws::READ_BUFFER)
            .on_upgrade(move |socket| console(socket, app, user, found)),
        Err(e) => e.into_response(),
    }
}

fn text(event: &ServerEvent) -> Message {
    Message::Text(Utf8Bytes::from(
        serde_json::to_string(event).expect("events serialise"),
    ))
}

async fn fail(mut socket: WebSocket, code: i32, message: String) {
    let _ = socket
        .send(text(&ServerEvent::Error { code, message }))
        .await;
    let frame = CloseFrame {
        code: close_code::POLICY,
        reason: Utf8Bytes::from_static("exec refused"),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// The first message: what to run.
async fn request(socket: &mut WebSocket) -> Result<ExecRequest, String> {
    loop {
        let msg = match tokio::time::timeout(FIRST_MESSAGE, socket.recv()).await {
            Err(_) => return Err("no first message within 30 seconds".into()),
            Ok(None | Some(Err(_))) => return Err("the connection closed".into()),
            Ok(Some(Ok(msg))) => msg,
        };
        match msg {
            Message::Text(t) => {
                return match serde_json::from_str::<ClientMessage>(t.as_str()) {
                    Ok(ClientMessage::Exec(req)) => Ok(*req),
                    Ok(_) => Err("the first message must be {\"type\":\"exec\", …}".into()),
                    Err(e) => Err(format!("invalid message: {e}")),
                };
            }
            Message::Ping(_) | Message::Pong(_) => continue,
            _ => return Err("the first message must be a JSON text message".into()),
        }
    }
}

/// Whether `user` may run `req` in `found`'s container: the role's `allow_exec`, and
/// `allow_exec_privileged` / `allow_exec_user` for those options.
fn allowed(
    app: &AppState,
    user: &Principal,
    found: &Found,
    req: &ExecRequest,
) -> Result<(), String> {
    let rules = app.policy.for_user(user.role, &user.team).exec();
    if !rules.allowed {
        return Err("your role may not exec into containers".into());
    }
    if req.cmd.is_empty() || req.cmd.iter().any(String::is_empty) {
        return Err("exec needs a command: \"cmd\": [\"sh\"]".into());
    }
    if req.privileged && !rules.privileged {
        return Err(
            "--privileged exec is not allowed for your role (allow_exec_privileged)".into(),
        );
    }
    let own_user = found
        .container
        .config
        .as_ref()
        .and_then(|c| c.user.clone())
        .unwrap_or_default();
    if let Some(u) = &req.user
        && *u != own_user
        && !rules.user
    {
        return Err(format!(
            "exec as user {u:?} is not allowed for your role (allow_exec_user); the container runs as {own_user:?}"
        ));
    }
    if req
        .env
        .iter()
        .any(|e| !e.contains('=') || e.starts_with('='))
    {
        return Err("env entries are K=V".into());
    }
    Ok(())
}

async fn console(mut socket: WebSocket, app: AppState, user: Principal, found: Found) {
    let _open = app.shutdown.hold();
    let req = tokio::select! {
        req = request(&mut socket) => req,
        () = app.shutdown.stopping() => return going_away(socket).await,
    };
    let req = match req {
        Ok(req) => req,
        Err(e) => return fail(socket, EXEC_REFUSED, e).await,
    };
    let container = found.container.id.clone().unwrap_or_default();
    let line: Vec<String> = req
        .cmd
        .iter()
        .map(|w| berth_shared::shell::quote(w))
        .collect();
    let line = line.join(" ");
    if let Err(why) = allowed(&app, &user, &found, &req) {
        app.audit(
            &user,
            Action::ContainerExec,
            &container,
            Outcome::Denied,
            &why,
        )
        .await;
        return fail(socket, EXEC_REFUSED, why).await;
    }
    let engine = found.engine.engine.clone();
    let config = ExecConfig {
        cmd: req.cmd.clone(),
        tty: req.tty,
        attach_stdin: req.interactive,
        attach_stdout: true,
        attach_stderr: true,
        user: req.user.clone(),
        working_dir: req.workdir.clone(),
        env: req.env.clone(),
        privileged: req.privileged,
        console_size: req.rows.zip(req.cols).map(|(r, c)| [r, c]),
    };
    let exec_id = match engine.create_exec(&container, &config).await {
        Ok(id) => id,
        Err(e) => {
            let message = format!("Error response from daemon: {}", e.message());
            app.audit(
                &user,
                Action::ContainerExec,
                &container,
                Outcome::Failed,
                &message,
            )
            .await;
            return fail(socket, EXEC_REFUSED, message).await;
        }
    };
    app.audit(&user, Action::ContainerExec, &container, Outcome::Ok, &line)
        .await;
    let _ = socket
        .send(text(&ServerEvent::ExecStarted {
            exec_id: exec_id.clone(),
        }))
        .await;
    let attached = match engine.start_exec(&exec_id, req.tty).await {
        Ok(a) => a,
        Err(e) => return fail(socket, EXEC_REFUSED, e.message()).await,
    };
    // Engines before API 1.42 ignore `ConsoleSize`: the TTY is sized once started, as the CLI
    // does.
    if let (true, Some(cols), Some(rows)) = (req.tty, req.cols, req.rows) {
        let _ = engine.resize_exec(&exec_id, rows, cols).await;
    }
    let (mut sink, mut stream) = socket.split();
    let mut output = attached.output;
    let mut stdin = attached.stdin;
    let interactive = req.interactive;
    let resizer = engine.clone();
    let exec_for_input = exec_id.clone();
    // Client → process: stdin, resizes, end of input. Its end (the client left) drops the
    // process's connection.
    let mut input = tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            match msg {
                Message::Binary(data) if interactive && stdin.write(&data).await.is_err() => {
                    break;
                }
                Message::Text(t) => match serde_json::from_str::<ClientMessage>(t.as_str()) {
                    Ok(ClientMessage::Resize { cols, rows }) if cols > 0 && rows > 0 => {
                        let _ = resizer.resize_exec(&exec_for_input, rows, cols).await;
                    }
                    Ok(ClientMessage::CloseStdin) => {
                        let _ = stdin.close().await;
                    }
                    _ => {}
                },
                Message::Close(_) => break,
                _ => {}
            }
        }
    });
    // Process → client, until its output ends.
    let sent = async {
        loop {
            match output.next().await {
                Ok(Some(frame)) => {
                    let mut buf = BytesMut::with_capacity(frame.data.len() + 1);
                    buf.put_u8(frame.stream);
                    buf.extend_from_slice(&frame.data);
                    if sink.send(Message::Binary(buf.freeze())).await.is_err() {
                        return false;
                    }
                }
                Ok(None) => return true,
                Err(_) => return true,
            }
        }
    };
    // `Some(whether the output ended)`, or `None` when Berth is stopping.
    let finished = tokio::select! {
        finished = sent => Some(finished),
        _ = &mut input => return,
        () = app.shutdown.stopping() => None,
    };
    input.abort();
    match finished {
        Some(true) => {}
        Some(false) => return,
        // The exec's process ends with its connection to the engine (SIGHUP through the TTY).
        None => return going_away(sink).await,
    }
    let event = match exit_code(&engine, &exec_id).await {
        Ok(code) => ServerEvent::Exit { code },
        Err(e) => ServerEvent::Error {
            code: EXEC_REFUSED,
            message: e.message(),
        },
    };
    let _ = sink.send(text(&event)).await;
    let frame = CloseFrame {
        code: close_code::NORMAL,
        reason: Utf8Bytes::from_static("exec ended"),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
}

/// The exec's exit code once the engine has it (its output ends a moment before).
async fn exit_code(engine: &Engine, exec: &str) -> Result<i64, EngineError> {
    for _ in 0..50 {
        let state = engine.inspect_exec(exec).await?;
        if let (false, Some(code)) = (state.running, state.exit_code) {
            return Ok(code);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(EngineError::Stream(
        "the exec's output ended but the engine has no exit code for it".into(),
    ))
}

/// `GET /api/containers/{id}/stats`: one sample, for whoever sees the container.
#[utoipa::path(
    get, path = "/api/containers/{id}/stats", tag = "containers", summary = "A container's resource use, once",
    params(("id" = String, Path, description = "A container's ID, ID prefix or name."), EngineQuery),
    responses(
        (status = 200, description = "One reading, computed as `docker stats` does.", body = berth_shared::wire::StatsSample),
        (status = 404, description = "No such container."),
    ),
)]
pub async fn stats(
    State(app): State<AppState>,
    user: Principal,
    Path(id): Path<String>,
    q: Result<Query<EngineQuery>, QueryRejection>,
) -> Result<axum::Json<StatsSample>, ApiError> {
    let q = query(q)?;
    let found = visible_container(&app, &user, &id, q.engine.as_deref()).await?;
    let container = found.container.id.unwrap_or_default();
    let doc = found.engine.engine.stats(&container).await?;
    Ok(axum::Json(crate::stats::sample(&doc)))
}

/// `GET /api/containers/{id}/stats/ws`: a sample a second until the container stops, from the
/// one engine stream every watcher of the container shares.
#[utoipa::path(
    get, path = "/api/containers/{id}/stats/ws", tag = "containers", summary = "WebSocket: a container's resource use, every second",
    description = "A `StatsSample` a second, as a text message, until the container stops (then a normal close). Client messages are ignored.",
    params(("id" = String, Path, description = "A container's ID, ID prefix or name."), EngineQuery),
    responses(
        (status = 101, description = "Switching Protocols: the WebSocket."),
        (status = 404, description = "No such container."),
    ),
    extensions(("x-websocket" = json!({"server": {"$ref": "#/components/schemas/StatsSample"}}))),
)]
pub async fn stats_ws(
    State(app): State<AppState>,
    user: Principal,
    ws: WebSocketUpgrade,
    Path(id): Path<String>,
    q: Result<Query<EngineQuery>, QueryRejection>,
) -> Response {
    let found = match query(q) {
        Ok(q) => visible_container(&app, &user, &id, q.engine.as_deref()).await,
        Err(e) => Err(e),
    };
    let found = match found {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    ws.read_buffer_size(super::ws::READ_BUFFER)
        .on_upgrade(move |mut socket| async move {
            let _open = app.shutdown.hold();
            let container = found.container.id.clone().unwrap_or_default();
            let mut samples = app
                .stats
                .watch(&found.engine.name, &found.engine.engine, &container);
            loop {
                tokio::select! {
                    sample = samples.recv() => match sample {
                        Ok(sample) => {
                            let json = serde_json::to_string(&*sample).expect("samples serialise");
                            if socket.send(Message::Text(Utf8Bytes::from(json))).await.is_err() {
                                return;
                            }
                        }
                        // A slow client skips samples rather than holding the others back.
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                    msg = socket.recv() => match msg {
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                        _ => {}
                    },
                    () = app.shutdown.stopping() => return going_away(socket).await,
                }
            }
            let frame = CloseFrame {
                code: close_code::NORMAL,
                reason: Utf8Bytes::from_static("the container stopped"),
            };
            let _ = socket.send(Message::Close(Some(frame))).await;
        })
}
