//! After a restart: runs come back from the store, replayed from the events they recorded,
//! and the containers Berth started (found by their `io.berth.*` labels, so also those of
//! runs the store does not know) are followed again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use berth_shared::models::{ContainerStateStatusEnum, ContainerSummary};
use berth_shared::record::Recorded;
use berth_shared::wire::{RunInfo, RunState, ServerEvent};
use berth_shared::{LABEL_INSTANCE, RunLabels};

use super::{Failure, Run, Runs, decode_output, persist};
use crate::engine::EngineError;
use crate::engines::Member;
use crate::store::StoredRun;
use crate::time::{rfc3339_at_nanos, rfc3339_now};

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
        // Each engine's containers of this gateway, by run id; and which engines answered.
        let mine = format!("{LABEL_INSTANCE}={}", self.instance);
        let mut by_run: HashMap<String, (Arc<Member>, ContainerSummary)> = HashMap::new();
        let mut listed = HashSet::new();
        let mut failure = None;
        for member in self.engines.all() {
            match timeout(member.engine.list_containers(Some(&mine))).await {
                Ok(list) => {
                    listed.insert(member.name.clone());
                    for c in list {
                        if let Some(labels) = c.labels.as_ref().and_then(RunLabels::from_labels) {
                            by_run.insert(labels.run_id, (Arc::clone(member), c));
                        }
                    }
                }
                Err(e) => {
                    let engine = &member.name;
                    tracing::warn!(
                        engine,
                        "cannot list containers to follow again: {}",
                        e.message()
                    );
                    failure = Some(e);
                }
            }
        }
        let mut known = HashSet::new();
        // Oldest first, so the registry keeps the original order.
        for run in stored.into_iter().rev() {
            known.insert(run.info.run_id.clone());
            if run.finished {
                // Finished runs stay in the store; `find` brings one back when it is asked for.
                continue;
            }
            let events = stored_events(&run);
            let mut info = run.info;
            if info.engine.is_empty() {
                info.engine = self.engines.first().name.clone();
            }
            let ended_as = |message: String| ServerEvent::Error {
                code: berth_shared::exit::DOCKER_ERROR,
                message,
            };
            match by_run.get(&info.run_id) {
                Some((member, c)) => self.resume(member, c, info, events).await,
                // Its record says whether it had a container (saved once it started): a run
                // killed while it pulled or created never had one.
                None if listed.contains(&info.engine) && info.container_id.is_none() => {
                    let never = ended_as(
                        "Berth stopped before its container was created; the run did not start"
                            .into(),
                    );
                    self.finish_restored(info, events, never, rfc3339_now(), Vec::new())
                        .await;
                }
                // Removed (`--rm`) once it ended: the engine's event log may still say how.
                None if listed.contains(&info.engine) => {
                    let member = self.engines.get(&info.engine).expect("a listed engine");
                    let id = info.container_id.clone().unwrap_or_default();
                    let (last, at) = match recorded_exit(member, &id).await {
                        Some((code, at)) => (ServerEvent::Exit { code }, at),
                        None => (
                            ended_as("the container was removed while Berth was not running; its exit status is unknown".into()),
                            rfc3339_now(),
                        ),
                    };
                    self.finish_restored(info, events, last, at, Vec::new())
                        .await;
                }
                None if self.engines.get(&info.engine).is_none() => {
                    let gone = ended_as(format!(
                        "the engine {} is no longer configured; the run's exit status is unknown",
                        info.engine
                    ));
                    self.finish_restored(info, events, gone, rfc3339_now(), Vec::new())
                        .await;
                }
                // The engine is unreachable: nothing can be said about the run yet.
                None => {
                    let unknown = ended_as(format!(
                        "Berth restarted while the engine {} was unreachable",
                        info.engine
                    ));
                    let events = [events, vec![ended(unknown, rfc3339_now())]].concat();
                    let run = replayed_run(info, &events, Vec::new(), self).await;
                    // Looked up again when the engine answers (`look_again`).
                    *run.failure.lock().expect("run lock") = Some(Failure {
                        code: berth_shared::exit::DOCKER_ERROR,
                        message: String::new(),
                        daemon_status: None,
                        unreachable: true,
                    });
                    self.register(run);
                }
            }
        }
        // Containers of runs the store does not know (no store, or a store that was reset).
        for (run_id, (member, c)) in &by_run {
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
            let mut info = self.new_record(&owner);
            info.run_id = run_id.clone();
            info.image = c.image.clone().unwrap_or_default();
            self.resume(member, c, info, Vec::new()).await;
        }
        match failure {
            Some(e) if listed.is_empty() => Err(e),
            _ => Ok(()),
        }
    }

    /// Follows a stored run's container again, or records how it ended while Berth was away.
    /// `events` are what the run recorded before.
    async fn resume(
        &self,
        member: &Member,
        container: &ContainerSummary,
        info: RunInfo,
        events: Vec<Recorded>,
    ) {
        let Some(id) = container.id.clone() else {
            return;
        };
        let inspect = match timeout(member.engine.inspect(&id)).await {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(container = %id, "inspecting to follow again: {}", e.message());
                return;
            }
        };
        let state = inspect.state.clone().unwrap_or_default();
        if state.running.unwrap_or(false) {
            tracing::info!(run = %info.run_id, "following the run again");
            let run = self.attach(&inspect, info, member);
            // Its record goes on from what it recorded before.
            run.recorded.lock().expect("run lock").splice(0..0, events);
            return;
        }
        // Created, never started: Berth stopped between the two. Nothing ran, so no exit code
        // is true (the engine says 0); a `--rm` container would stay in the engine for good.
        if state.status == Some(ContainerStateStatusEnum::CREATED) {
            let auto_remove = inspect.host_config.as_ref().and_then(|h| h.auto_remove);
            if auto_remove == Some(true)
                && let Err(e) = timeout(member.engine.remove(&id, true)).await
            {
                tracing::warn!(container = %id, "removing a --rm container that never started: {}", e.message());
            }
            let never = ServerEvent::Error {
                code: berth_shared::exit::DOCKER_ERROR,
                message: "Berth stopped before the container was started; the run did not start"
                    .into(),
            };
            self.finish_restored(info, events, never, rfc3339_now(), Vec::new())
                .await;
            return;
        }
        // It ended while Berth was away: its exit code and logs are still with the engine.
        let tty = inspect.config.as_ref().and_then(|c| c.tty).unwrap_or(false);
        let output = timeout(member.engine.logs(&id, tty, None))
            .await
            .map(|frames| frames.into_iter().map(|f| (f.stream, f.data)).collect())
            .unwrap_or_default();
        let exit = ServerEvent::Exit {
            code: state.exit_code.unwrap_or_default(),
        };
        let at = state.finished_at.unwrap_or_else(rfc3339_now);
        self.finish_restored(info, events, exit, at, output).await;
    }

    /// Records how a run ended while Berth was away (`last`, at `at`), and keeps it.
    async fn finish_restored(
        &self,
        info: RunInfo,
        events: Vec<Recorded>,
        last: ServerEvent,
        at: String,
        output: Vec<(u8, bytes::Bytes)>,
    ) {
        let events = [events, vec![ended(last, at)]].concat();
        let run = replayed_run(info, &events, output, self).await;
        persist(&self.store, &run).await;
        self.register(run);
    }
}

impl Runs {
    /// Follows every engine's returns: when one answers again after it did not, its runs that
    /// ended because it stopped answering are looked up again, as after a restart.
    pub fn follow_returns(self: &Arc<Self>) {
        for member in self.engines.all() {
            let mut returns = member.returns();
            let (runs, member) = (Arc::downgrade(self), Arc::clone(member));
            tokio::spawn(async move {
                while returns.changed().await.is_ok() {
                    let Some(runs) = runs.upgrade() else { return };
                    runs.look_again(&member).await;
                }
            });
        }
    }

    /// The runs on `member` that ended when it stopped answering: a container that still
    /// runs is followed again; one that ended has its real exit status recorded.
    async fn look_again(&self, member: &Member) {
        let lost = self.list().into_iter().filter(|r| {
            r.engine_name() == member.name && r.failure().is_some_and(|f| f.unreachable)
        });
        for run in lost.collect::<Vec<_>>() {
            let Some(id) = run.container_id() else {
                continue;
            };
            let inspect = match timeout(member.engine.inspect(&id)).await {
                Ok(inspect) => inspect,
                // Removed (`--rm`) once it ended, while the engine was not answering.
                Err(e) if e.status() == Some(404) => {
                    *run.failure.lock().expect("run lock") = None;
                    if let Some((code, _)) = recorded_exit(member, &id).await {
                        tracing::info!(run = %run.id, engine = %member.name, code, "the exit of a removed container, from its engine's events");
                        run.finish(ServerEvent::Exit { code });
                        persist(&self.store, &run).await;
                    }
                    continue;
                }
                Err(_) => continue,
            };
            *run.failure.lock().expect("run lock") = None;
            let state = inspect.state.clone().unwrap_or_default();
            if state.running.unwrap_or(false) {
                tracing::info!(run = %run.id, engine = %member.name, "following the run again");
                self.unregister(&run.id);
                let follower = self.attach(&inspect, run.info(), member);
                follower
                    .recorded
                    .lock()
                    .expect("run lock")
                    .splice(0..0, run.recorded());
            } else {
                let code = state.exit_code.unwrap_or_default();
                tracing::info!(run = %run.id, engine = %member.name, code, "the run's exit, once its engine answered again");
                run.finish(ServerEvent::Exit { code });
                persist(&self.store, &run).await;
            }
        }
    }

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
        let events = stored_events(&stored);
        let run = replayed_run(stored.info, &events, output, self).await;
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

/// The exit code and time (RFC 3339) of a container that is gone, from its engine's event
/// log ([`Engine::recorded_exit`](crate::engine::Engine::recorded_exit)).
async fn recorded_exit(member: &Member, id: &str) -> Option<(i64, String)> {
    match timeout(member.engine.recorded_exit(id)).await {
        Ok(found) => found.map(|(code, nanos)| (code, rfc3339_at_nanos(nanos))),
        Err(e) => {
            tracing::warn!(container = %id, "reading the engine's events: {}", e.message());
            None
        }
    }
}

fn ended(event: ServerEvent, at: String) -> Recorded {
    Recorded {
        at,
        event,
        ends: true,
    }
}

/// What a stored run recorded. Runs stored before events were have their record only: its
/// events are read back from it, once.
fn stored_events(stored: &StoredRun) -> Vec<Recorded> {
    if let Some(events) = &stored.events {
        return events.clone();
    }
    let info = &stored.info;
    let at = |t: &Option<String>| t.clone().unwrap_or_else(|| info.created_at.clone());
    let mut events = vec![Recorded {
        at: info.created_at.clone(),
        event: ServerEvent::Accepted {
            run_id: info.run_id.clone(),
            engine: info.engine.clone(),
        },
        ends: false,
    }];
    if let Some(container_id) = &info.container_id {
        events.push(Recorded {
            at: info.created_at.clone(),
            event: ServerEvent::Created {
                container_id: container_id.clone(),
                warnings: info.warnings.clone(),
            },
            ends: false,
        });
    }
    if info.started_at.is_some() {
        events.push(Recorded {
            at: at(&info.started_at),
            event: ServerEvent::Started,
            ends: false,
        });
    }
    let last = match (info.state, info.exit_code) {
        (RunState::Exited, Some(code)) => Some(ServerEvent::Exit { code }),
        (RunState::Failed, code) => Some(ServerEvent::Error {
            code: code.map_or(berth_shared::exit::DOCKER_ERROR, |c| c as i32),
            message: info.error.clone().unwrap_or_default(),
        }),
        _ => None,
    };
    events.extend(last.map(|e| ended(e, at(&info.finished_at))));
    events
}

/// A run that has ended, replayed from what it recorded and its transcript: through the same
/// [`RunInfo::apply`] as when it ran, so its record is what it was.
async fn replayed_run(
    info: RunInfo,
    events: &[Recorded],
    output: Vec<(u8, bytes::Bytes)>,
    runs: &Runs,
) -> Arc<Run> {
    // Actions on the ended run (removing its container) go to its engine, or the first.
    let engines = runs.engines();
    let member = engines.get(&info.engine).unwrap_or(engines.first());
    let (run, _) = Run::new(runs, member.engine.clone(), info.replay(&[]), false, true);
    let (last, events): (Vec<&Recorded>, Vec<&Recorded>) = events.iter().partition(|r| r.ends);
    for r in events {
        run.replay(r.clone());
    }
    for (stream, data) in output {
        run.journal.push_output(stream, data).await;
    }
    for r in last {
        run.replay(r.clone());
    }
    run.ended.store(true, std::sync::atomic::Ordering::Release);
    Arc::new(run)
}
