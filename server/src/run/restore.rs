//! After a restart: runs come back from the store, and the containers Berth started (found by
//! their `io.berth.*` labels, so this works even without the store) are followed again.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use berth_shared::models::ContainerSummary;
use berth_shared::wire::{RunInfo, RunState, ServerEvent};
use berth_shared::{LABEL_INSTANCE, LABEL_RUN_ID, RunLabels};
use tokio::sync::mpsc;

use super::journal::Journal;
use super::{Run, Runs, decode_output, now, persist};
use crate::engine::EngineError;

/// How many stored runs are brought back into memory.
const RESTORED_RUNS: u32 = 1000;
/// An engine call during a restore that takes longer is given up: a wedged container must not
/// keep the gateway from starting.
const ENGINE_CALL_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

async fn timeout<T>(call: impl Future<Output = Result<T, EngineError>>) -> Result<T, EngineError> {
    tokio::time::timeout(ENGINE_CALL_LIMIT, call)
        .await
        .unwrap_or_else(|_| {
            Err(EngineError::Stream(
                "the engine did not answer within 10 s".into(),
            ))
        })
}

impl Runs {
    /// Brings back stored runs and follows Berth's running containers again.
    pub async fn restore(&self) -> Result<(), EngineError> {
        let stored = self
            .store
            .runs(RESTORED_RUNS, true)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!("loading run history: {e}");
                Vec::new()
            });
        let mine = format!("{LABEL_INSTANCE}={}", self.instance);
        let containers = timeout(self.engine.list_containers(Some(&mine))).await;
        let by_run: HashMap<String, ContainerSummary> = match &containers {
            Ok(list) => list
                .iter()
                .filter_map(|c| Some((c.labels.as_ref()?.get(LABEL_RUN_ID)?.clone(), c.clone())))
                .collect(),
            Err(e) => {
                tracing::warn!("cannot list containers to follow again: {}", e.message());
                HashMap::new()
            }
        };
        let mut known = HashSet::new();
        // Oldest first, so the registry keeps the original order.
        for run in stored.into_iter().rev() {
            known.insert(run.info.run_id.clone());
            if run.finished {
                // Finished runs stay in the store; `find` brings one back when it is asked for.
                continue;
            }
            match by_run.get(&run.info.run_id) {
                Some(c) => self.resume(c, run.info).await,
                None if containers.is_ok() => {
                    let mut info = run.info;
                    info.state = RunState::Failed;
                    info.error = Some(
                        "the container was removed while Berth was not running; its exit status is unknown"
                            .into(),
                    );
                    info.finished_at = Some(now());
                    self.finish_restored(info, Vec::new()).await;
                }
                // The engine is unreachable: nothing can be said about the run yet.
                None => self.register(finished_run(run.info, Vec::new(), self).await),
            }
        }
        // Containers of runs the store does not know (no store, or a store that was reset).
        for (run_id, c) in &by_run {
            if known.contains(run_id) {
                continue;
            }
            // Without owner labels (a Berth before owner ids) the run is nobody's: admins'.
            let owner = c
                .labels
                .as_ref()
                .and_then(RunLabels::from_labels)
                .and_then(|l| l.owner)
                .unwrap_or_default();
            let mut info = self.record(&owner);
            info.run_id = run_id.clone();
            info.image = c.image.clone().unwrap_or_default();
            self.resume(c, info).await;
        }
        containers.map(|_| ())
    }

    /// Follows a stored run's container again, or records how it ended while Berth was away.
    async fn resume(&self, container: &ContainerSummary, mut info: RunInfo) {
        let Some(id) = container.id.clone() else {
            return;
        };
        let inspect = match timeout(self.engine.inspect(&id)).await {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(container = %id, "inspecting to follow again: {}", e.message());
                return;
            }
        };
        let state = inspect.state.clone().unwrap_or_default();
        if state.running.unwrap_or(false) {
            tracing::info!(run = %info.run_id, "following the run again");
            self.attach(&inspect, info);
            return;
        }
        // It ended while Berth was away: its exit code and logs are still with the engine.
        let tty = inspect.config.as_ref().and_then(|c| c.tty).unwrap_or(false);
        let output = timeout(self.engine.logs(&id, tty, None))
            .await
            .map(|frames| frames.into_iter().map(|f| (f.stream, f.data)).collect())
            .unwrap_or_default();
        info.container_id = Some(id);
        info.state = RunState::Exited;
        info.exit_code = state.exit_code;
        info.finished_at = state.finished_at.or_else(|| Some(now()));
        self.finish_restored(info, output).await;
    }

    async fn finish_restored(&self, info: RunInfo, output: Vec<(u8, bytes::Bytes)>) {
        let run = finished_run(info, output, self).await;
        persist(&self.store, &run).await;
        self.register(run);
    }
}

impl Runs {
    /// A run by id: from memory, or else rebuilt from the store (finished runs that memory
    /// no longer holds).
    pub async fn find(&self, id: &str) -> Option<Arc<Run>> {
        if let Some(run) = self.get(id) {
            return Some(run);
        }
        let stored = self.store.run(id).await.ok()??;
        if !stored.finished {
            return None;
        }
        let output = stored
            .output
            .as_deref()
            .map(decode_output)
            .unwrap_or_default();
        let run = finished_run(stored.info, output, self).await;
        self.register(run.clone());
        Some(run)
    }

    /// Every run's record, newest first: those in memory and the stored history, at most
    /// `limit`.
    pub async fn history(&self, limit: u32) -> Vec<RunInfo> {
        let mut infos: Vec<RunInfo> = self.list().iter().map(|r| r.info()).collect();
        match self.store.runs(limit, false).await {
            Ok(stored) => {
                let known: HashSet<String> = infos.iter().map(|i| i.run_id.clone()).collect();
                infos.extend(
                    stored
                        .into_iter()
                        .map(|s| s.info)
                        .filter(|i| !known.contains(&i.run_id)),
                );
            }
            Err(e) => tracing::warn!("reading run history: {e}"),
        }
        // RFC 3339 times of one format sort as strings.
        infos.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        infos.truncate(limit as usize);
        infos
    }
}

/// A run that has ended, rebuilt from its record and transcript.
async fn finished_run(info: RunInfo, output: Vec<(u8, bytes::Bytes)>, runs: &Runs) -> Arc<Run> {
    let journal = Journal::new(runs.output_limit);
    journal.push_event(ServerEvent::Accepted {
        run_id: info.run_id.clone(),
    });
    if let Some(container_id) = &info.container_id {
        journal.push_event(ServerEvent::Created {
            container_id: container_id.clone(),
            warnings: info.warnings.clone(),
        });
    }
    if info.started_at.is_some() {
        journal.push_event(ServerEvent::Started);
    }
    for (stream, data) in output {
        journal.push_output(stream, data).await;
    }
    let last = match (info.state, info.exit_code) {
        (RunState::Exited, Some(code)) => ServerEvent::Exit { code },
        (_, code) => ServerEvent::Error {
            code: code.map_or(berth_shared::exit::DOCKER_ERROR, |c| c as i32),
            message: info
                .error
                .clone()
                .unwrap_or_else(|| "Berth restarted while the engine was unreachable".into()),
        },
    };
    journal.finish(last);
    // Nothing reads input for a finished run: the receiver is dropped at once.
    let (input, _) = mpsc::channel(1);
    Arc::new(Run {
        id: info.run_id.clone(),
        journal,
        engine: runs.engine.clone(),
        stdin_attached: false,
        start: true,
        failure: Mutex::new(None),
        ended: AtomicBool::new(true),
        info: Mutex::new(info),
        input,
    })
}
