//! The `docker run` sequence, as the docker CLI's `runContainer` performs it:
//!
//! ```text
//! [pull if --pull=always] → create ─404 & --pull=missing→ pull → create again
//!   → attach (if any stream) → wait (registered before start) → start
//!   → stream output until the attach ends → exit status from the wait
//! ```
//!
//! Each step records the run's state and an event in its journal. Exit statuses follow the CLI:
//! the container's own status, or 125 / 126 / 127 when the run fails before the command runs.

use std::sync::Arc;
use std::time::Duration;

use berth_shared::exit;
use berth_shared::plan::{Plan, PullPolicy};
use berth_shared::reference::{ImageRef, ImageSpec};
use berth_shared::wire::{PullProgress, ServerEvent};
use tokio::sync::mpsc;

use super::{Input, Launch, Run};
use crate::engine::{
    AttachOptions, Attached, Engine, EngineError, StdinWriter, Wait, WaitCondition,
};

/// Why a run ended without an exit status of the container's own.
#[derive(Debug, Clone)]
pub struct Failure {
    /// 125, 126 or 127.
    pub code: i32,
    pub message: String,
    /// The daemon's HTTP status when the daemon refused, so REST can answer in kind.
    pub daemon_status: Option<u16>,
    /// The engine could not be reached at all.
    pub unreachable: bool,
}

impl Failure {
    /// A create, pull or other pre-start failure: 125 unless the message says otherwise.
    fn from_engine(e: EngineError) -> Self {
        let message = e.message();
        Failure {
            code: exit::status_for_error(&message),
            daemon_status: e.status(),
            unreachable: e.is_unreachable(),
            message,
        }
    }
}

/// How a run that got past start ended.
enum Ending {
    Created,
    Exited(i64),
}

/// Runs the sequence and records how it ended.
pub(super) async fn drive(
    engine: Engine,
    run: Arc<Run>,
    launch: Launch,
    inputs: mpsc::Receiver<Input>,
) {
    let outcome = match launch {
        Launch::Run { plan, start } => run_container(&engine, &run, *plan, start, inputs).await,
        Launch::Attach { container_id } => {
            attach_existing(&engine, &run, &container_id, inputs).await
        }
    };
    match outcome {
        Ok(Ending::Created) => {}
        Ok(Ending::Exited(code)) => {
            tracing::info!(run = %run.id, code, "run exited");
            crate::metrics::run_finished("exited");
            run.finish(ServerEvent::Exit { code });
        }
        Err(mut f) => {
            tracing::info!(run = %run.id, code = f.code, "run failed: {}", f.message);
            crate::metrics::run_finished("failed");
            // A stream that broke without a daemon's answer: if the engine does not answer
            // now either, it is the engine that went (and the run is looked at again when it
            // answers).
            if !f.unreachable && f.daemon_status.is_none() {
                let ping = tokio::time::timeout(Duration::from_secs(1), engine.ping()).await;
                f.unreachable = !matches!(ping, Ok(Ok(_)));
            }
            // Checked runs are non-admins': their clients, and teammates watching, see the
            // daemon's message without what it reveals beyond the request.
            if run.owner().policy.is_some() {
                f.message = redact_daemon_message(&f.message);
            }
            if f.unreachable {
                f.message = format!("engine {}: {}", run.engine_name(), f.message);
            }
            *run.failure.lock().expect("run lock") = Some(f.clone());
            run.finish(ServerEvent::Error {
                code: f.code,
                message: f.message,
            });
        }
    }
}

/// A daemon's error as a non-admin may read it: without the id of a container they may not
/// see (a name conflict), and without what the daemon found, or did not find, at a host path
/// the request named (which would tell what exists on the host). Errors from inside the
/// container (the OCI runtime's: a command not found) are theirs to read.
fn redact_daemon_message(message: &str) -> String {
    if let Some(at) = message.find(" by container \"") {
        return format!(
            "{}. You have to remove (or rename) that container to be able to reuse that name.",
            &message[..at]
        );
    }
    let host_path = [
        "no such file or directory",
        "does not exist",
        "not a directory",
        "permission denied",
        "not a block device",
    ];
    if !message.contains("OCI runtime") && host_path.iter().any(|m| message.contains(m)) {
        return "the daemon could not use a host path the request names (admins see why)".into();
    }
    message.to_string()
}

async fn run_container(
    engine: &Engine,
    run: &Run,
    plan: Plan,
    start: bool,
    inputs: mpsc::Receiver<Input>,
) -> Result<Ending, Failure> {
    let named = match &plan.image {
        ImageSpec::Named(r) => Some(r),
        ImageSpec::Id(_) => None,
    };

    // Like the CLI, refuse what the daemon's API version cannot do before anything happens.
    let version = engine.api_version().await.map_err(Failure::from_engine)?;
    let body = plan.create_json(&version).map_err(|e| Failure {
        code: exit::DOCKER_ERROR,
        message: e.to_string(),
        daemon_status: Some(400),
        unreachable: false,
    })?;

    // Create, pulling first or on a missing image as the pull policy says.
    if let (PullPolicy::Always, Some(image)) = (plan.pull, named) {
        pull(engine, run, image, plan.platform.as_deref()).await?;
    }
    let created = match create(engine, &plan, &body).await {
        Err(e)
            if e.status() == Some(404) && plan.pull == PullPolicy::Missing && named.is_some() =>
        {
            let image = named.expect("checked");
            pull_notice(
                run,
                format!("Unable to find image '{}' locally", image.familiar_string()),
            );
            pull(engine, run, image, plan.platform.as_deref()).await?;
            create(engine, &plan, &body).await
        }
        other => other,
    }
    .map_err(Failure::from_engine)?;
    let id = created.id;
    run.record(ServerEvent::Created {
        container_id: id.clone(),
        warnings: created.warnings,
    });
    if !start {
        return Ok(Ending::Created);
    }

    // Attach before start so no output is missed. With -d the CLI does not attach, but Berth
    // still captures stdout and stderr so the run can be watched and its exit recorded.
    let attach = AttachOptions {
        stdin: plan.attach_stdin(),
        stdout: plan.attach_stdout() || plan.detach,
        stderr: plan.attach_stderr() || plan.detach,
        tty: plan.tty(),
        detach_keys: plan.detach_keys.clone(),
        logs: false,
    };
    let attached = if attach.stdin || attach.stdout || attach.stderr {
        Some(
            engine
                .attach(&id, &attach)
                .await
                .map_err(Failure::from_engine)?,
        )
    } else {
        None
    };

    // Wait before start: registered after it, a fast exit could be missed or, with --rm,
    // the container could already be gone.
    let condition = if plan.auto_remove() {
        WaitCondition::Removed
    } else {
        WaitCondition::NextExit
    };
    let wait = engine
        .wait(&id, condition)
        .await
        .map_err(Failure::from_engine)?;

    if let Err(e) = engine.start(&id).await {
        // The daemon has already recorded 126/127 for the container; --rm removes it.
        drop(attached);
        if plan.auto_remove() {
            let _ = tokio::time::timeout(Duration::from_secs(10), wait.status()).await;
        }
        return Err(Failure::from_engine(e));
    }
    stream_until_exit(
        engine,
        run,
        &id,
        attached,
        attach.stdin,
        plan.tty(),
        wait,
        inputs,
    )
    .await
    .map(Ending::Exited)
}

/// `docker attach`: follows a container that is already running (started elsewhere).
async fn attach_existing(
    engine: &Engine,
    run: &Run,
    id: &str,
    inputs: mpsc::Receiver<Input>,
) -> Result<Ending, Failure> {
    let container = engine.inspect(id).await.map_err(Failure::from_engine)?;
    let config = container.config.unwrap_or_default();
    if !container.state.and_then(|s| s.running).unwrap_or(false) {
        return Err(Failure {
            code: exit::DOCKER_ERROR,
            message: "You cannot attach to a stopped container, start it first".into(),
            daemon_status: Some(409),
            unreachable: false,
        });
    }
    let attach = AttachOptions {
        stdin: config.open_stdin.unwrap_or(false),
        stdout: true,
        stderr: true,
        tty: config.tty.unwrap_or(false),
        detach_keys: None,
        logs: true,
    };
    let attached = engine
        .attach(id, &attach)
        .await
        .map_err(Failure::from_engine)?;
    let wait = engine
        .wait(id, WaitCondition::NextExit)
        .await
        .map_err(Failure::from_engine)?;
    stream_until_exit(
        engine,
        run,
        id,
        Some(attached),
        attach.stdin,
        attach.tty,
        wait,
        inputs,
    )
    .await
    .map(Ending::Exited)
}

/// The common end of a run: the container is running; its output goes to the journal and
/// client input to the container until the output ends; then its exit status.
#[allow(clippy::too_many_arguments)]
async fn stream_until_exit(
    engine: &Engine,
    run: &Run,
    id: &str,
    attached: Option<Attached>,
    stdin_attached: bool,
    tty: bool,
    wait: Wait,
    inputs: mpsc::Receiver<Input>,
) -> Result<i64, Failure> {
    run.record(ServerEvent::Started);

    let (output, stdin) = match attached {
        Some(Attached { output, stdin }) => (Some(output), stdin_attached.then_some(stdin)),
        None => (None, None),
    };
    let input_task = tokio::spawn(forward_input(
        engine.clone(),
        id.to_string(),
        inputs,
        stdin,
        tty,
    ));
    if let Some(mut output) = output {
        loop {
            match output.next().await {
                Ok(Some(frame)) => {
                    if run.journal.output_len() == 0 {
                        crate::metrics::first_byte(run.accepted.elapsed().as_secs_f64());
                    }
                    run.journal.push_output(frame.stream, frame.data).await
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(run = %run.id, "attach stream: {e}");
                    break;
                }
            }
        }
    }
    let status = exit_status(engine, run, id, wait).await;
    input_task.abort();
    status
}

async fn create(
    engine: &Engine,
    plan: &Plan,
    body: &serde_json::Value,
) -> Result<berth_shared::models::ContainerCreateResponse, EngineError> {
    engine
        .create_container(plan.name.as_deref(), plan.platform.as_deref(), body)
        .await
}

fn pull_notice(run: &Run, status: String) {
    run.record(ServerEvent::Pull(PullProgress {
        id: String::new(),
        status,
        current: None,
        total: None,
    }));
}

async fn pull(
    engine: &Engine,
    run: &Run,
    image: &ImageRef,
    platform: Option<&str>,
) -> Result<(), Failure> {
    let mut progress = engine
        .pull(
            &image.name(),
            image.api_tag(),
            platform,
            run.registry_auth.as_deref(),
        )
        .await
        .map_err(Failure::from_engine)?;
    // Bytes downloaded: each layer's furthest `Downloading` position, added up at the end.
    let mut downloaded: std::collections::HashMap<String, u64> = Default::default();
    while let Some(p) = progress.next().await.map_err(Failure::from_engine)? {
        if p.status == "Downloading"
            && let Some(current) = p.current
        {
            let at = downloaded.entry(p.id.clone()).or_default();
            *at = (*at).max(current);
        }
        run.record(ServerEvent::Pull(p));
    }
    crate::metrics::pull_bytes(downloaded.values().sum());
    Ok(())
}

/// The container's exit status once its output has ended.
///
/// The output can also end without an exit: the user typed the detach keys (the daemon closes
/// the stream). Then the run is reported detached, and the exit is still recorded later.
async fn exit_status(engine: &Engine, run: &Run, id: &str, wait: Wait) -> Result<i64, Failure> {
    let status = wait.status();
    tokio::pin!(status);
    tokio::select! {
        s = &mut status => return s.map_err(Failure::from_engine),
        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
    }
    let running = engine
        .inspect(id)
        .await
        .ok()
        .and_then(|c| c.state)
        .and_then(|s| s.running)
        .unwrap_or(false);
    if running {
        run.finish(ServerEvent::Detached {
            container_id: id.to_string(),
        });
    }
    status.await.map_err(Failure::from_engine)
}

/// Carries client input to the container until the run ends.
async fn forward_input(
    engine: Engine,
    id: String,
    mut inputs: mpsc::Receiver<Input>,
    mut stdin: Option<StdinWriter>,
    tty: bool,
) {
    while let Some(input) = inputs.recv().await {
        match input {
            Input::Stdin(data) => {
                if let Some(w) = &mut stdin
                    && let Err(e) = w.write(&data).await
                {
                    tracing::debug!("stdin: {e}");
                    stdin = None;
                }
            }
            Input::CloseStdin => {
                if let Some(mut w) = stdin.take() {
                    let _ = w.close().await;
                }
            }
            Input::Resize { cols, rows } if tty => resize(&engine, &id, rows, cols).await,
            Input::Resize { .. } => {}
            Input::Signal(signal) => {
                if let Err(e) = engine.kill(&id, &signal).await {
                    tracing::info!(container = %id, "signal {signal}: {}", e.message());
                }
            }
        }
    }
}

/// Like the CLI, retries a little: right after start the TTY may not be ready yet.
async fn resize(engine: &Engine, id: &str, rows: u16, cols: u16) {
    for attempt in 0..10 {
        match engine.resize(id, rows, cols).await {
            Ok(()) => return,
            Err(e) if attempt == 9 => tracing::info!(container = %id, "resize: {}", e.message()),
            Err(_) => tokio::time::sleep(Duration::from_millis(10 * (attempt + 1))).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact_daemon_message;

    #[test]
    fn daemon_messages_for_non_admins() {
        let conflict = "Conflict. The container name \"/box\" is already in use by container \"013cf0a53dcbbc2b7134a75e9088b5930b208c86bb8386aa23a103e9c1bbb8f1\". You have to remove (or rename) that container to be able to reuse that name.";
        let redacted = redact_daemon_message(conflict);
        assert!(!redacted.contains("013cf0a5"), "{redacted}");
        assert!(redacted.starts_with("Conflict. The container name \"/box\" is already in use."));
        for host in [
            "stat /dev/../etc/nonexist: no such file or directory",
            "invalid mount config for type \"bind\": bind source path does not exist: /srv/x",
        ] {
            let redacted = redact_daemon_message(host);
            assert!(
                !redacted.contains("/srv/x") && !redacted.contains("etc"),
                "{redacted}"
            );
        }
        let inside = "failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"/nonexist\": stat /nonexist: no such file or directory: unknown";
        assert_eq!(redact_daemon_message(inside), inside);
        assert_eq!(
            redact_daemon_message("No such image: x:1"),
            "No such image: x:1"
        );
    }
}
