//! Runs: one per `docker run` Berth performs, each with its journal of events and output.

pub mod journal;
mod sequence;
#[cfg(test)]
mod sequence_tests;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_shared::models::ContainerInspectResponse;
use berth_shared::plan::Plan;
use berth_shared::record::Recorded;
use berth_shared::wire::{RunInfo, RunState, ServerEvent};
use berth_shared::{LABEL_DEADLINE, LABEL_INSTANCE, LABEL_OWNER_ID, Owner, RunLabels};
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::engine::{Engine, EngineError};
use crate::engines::{Engines, Member};
use crate::store::{Store, StoredRun};
use crate::time::{rfc3339_now, unix_now};
use journal::Journal;
pub use sequence::Failure;

mod restore;

/// What clients send to a running container.
#[derive(Debug)]
pub enum Input {
    Stdin(Bytes),
    CloseStdin,
    Resize { cols: u16, rows: u16 },
    Signal(String),
}

/// Input messages waiting for the container; senders wait when it is full.
const INPUT_QUEUE: usize = 256;

pub struct Run {
    pub id: String,
    pub journal: Journal,
    engine: Engine,
    info: Mutex<RunInfo>,
    input: mpsc::Sender<Input>,
    /// Whether the container's stdin is attached (`-i`): stdin from clients is taken.
    pub stdin_attached: bool,
    /// `false`: create only, like `docker create`.
    start: bool,
    /// Why the run failed, once it has.
    failure: Mutex<Option<Failure>>,
    /// The sequence is over: the container's exit is recorded (or it never ran). A detached
    /// run's journal is finished long before this.
    ended: AtomicBool,
    /// Every event the run recorded, with when: what its record is the fold of, kept with it
    /// in the store so that a restart replays them.
    recorded: Mutex<Vec<Recorded>>,
    /// Its clients now, and when it last had one or took input (a demo session's idleness).
    presence: Mutex<Presence>,
    /// The `X-Registry-Auth` its pulls send (its owner's credential), if any.
    registry_auth: Option<String>,
    /// When it was accepted: its first byte's latency counts from here.
    accepted: Instant,
}

struct Presence {
    watchers: usize,
    last: Instant,
}

/// A client following a run, for as long as it lives.
pub struct Watching<'a>(&'a Run);

impl Drop for Watching<'_> {
    fn drop(&mut self) {
        let mut presence = self.0.presence.lock().expect("run lock");
        presence.watchers -= 1;
        presence.last = Instant::now();
    }
}

impl Run {
    pub fn info(&self) -> RunInfo {
        let mut info = self.info.lock().expect("run lock").clone();
        info.output_bytes = self.journal.output_len();
        info
    }

    pub fn container_id(&self) -> Option<String> {
        self.info.lock().expect("run lock").container_id.clone()
    }

    pub fn failure(&self) -> Option<Failure> {
        self.failure.lock().expect("run lock").clone()
    }

    pub fn is_detach(&self) -> bool {
        self.info.lock().expect("run lock").detach
    }

    /// The engine it runs on.
    pub fn engine_name(&self) -> String {
        self.info.lock().expect("run lock").engine.clone()
    }

    pub fn owner(&self) -> Owner {
        self.info.lock().expect("run lock").owner()
    }

    /// Whether the sequence is over; until then the run counts against its owner's limits,
    /// however its clients left.
    pub fn has_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    fn new(
        runs: &Runs,
        engine: Engine,
        info: RunInfo,
        stdin: bool,
        start: bool,
    ) -> (Run, mpsc::Receiver<Input>) {
        let (input, inputs) = mpsc::channel(INPUT_QUEUE);
        let run = Run {
            id: info.run_id.clone(),
            journal: Journal::new(runs.output_limit),
            engine,
            info: Mutex::new(info),
            input,
            stdin_attached: stdin,
            start,
            failure: Mutex::new(None),
            ended: AtomicBool::new(false),
            recorded: Mutex::default(),
            presence: Mutex::new(Presence {
                watchers: 0,
                last: Instant::now(),
            }),
            registry_auth: None,
            accepted: Instant::now(),
        };
        (run, inputs)
    }

    /// Records an event: the run's record follows from it ([`RunInfo::apply`]) and its
    /// followers get it.
    fn record(&self, event: ServerEvent) {
        self.note(&event, false);
        self.journal.push_event(event);
    }

    /// Records the event that ends the run for its followers. The first such event stands for
    /// them; the record takes every one, so a detached run's later exit is still recorded.
    fn finish(&self, event: ServerEvent) {
        self.note(&event, true);
        self.journal.finish(event);
    }

    /// Takes an event recorded before (a restart): with the time it was recorded.
    fn replay(&self, r: Recorded) {
        self.note_at(&r.event, r.ends, r.at);
        match r.ends {
            true => self.journal.finish(r.event),
            false => self.journal.push_event(r.event),
        }
    }

    fn note(&self, event: &ServerEvent, ends: bool) {
        self.note_at(event, ends, rfc3339_now());
    }

    fn note_at(&self, event: &ServerEvent, ends: bool, at: String) {
        self.info.lock().expect("run lock").apply(event, &at);
        // Pull progress is many events that tell nothing once the image is there.
        if !matches!(event, ServerEvent::Pull(_)) {
            let event = event.clone();
            let recorded = Recorded { at, event, ends };
            self.recorded.lock().expect("run lock").push(recorded);
        }
    }

    fn recorded(&self) -> Vec<Recorded> {
        self.recorded.lock().expect("run lock").clone()
    }

    /// Notes why the run ended when no event says so (the deadline's stop).
    fn note_error(&self, error: &str) {
        self.info.lock().expect("run lock").error = Some(error.into());
    }

    fn container(&self) -> Result<String, ActionError> {
        self.container_id()
            .ok_or_else(|| ActionError::NoContainer(self.id.clone()))
    }

    /// `docker stop` of the run's container, waiting `timeout` seconds before killing it.
    pub async fn stop(&self, timeout: Option<u32>) -> Result<(), ActionError> {
        let container = self.container()?;
        // A client that stopped reading must not keep the container from stopping.
        self.journal.release_primary();
        Ok(self.engine.stop(&container, timeout).await?)
    }

    /// `docker kill --signal` of the run's container.
    pub async fn kill(&self, signal: &str) -> Result<(), ActionError> {
        let container = self.container()?;
        self.journal.release_primary();
        Ok(self.engine.kill(&container, signal).await?)
    }

    /// Queues input for the container; waits while the queue is full.
    pub async fn send_input(&self, input: Input) -> bool {
        self.presence.lock().expect("run lock").last = Instant::now();
        self.input.send(input).await.is_ok()
    }

    /// Counts as activity now (a warm demo container given to its visitor).
    pub fn touch(&self) {
        self.presence.lock().expect("run lock").last = Instant::now();
    }

    /// Counts a client as following the run until the guard is dropped.
    pub fn watching(&self) -> Watching<'_> {
        self.presence.lock().expect("run lock").watchers += 1;
        Watching(self)
    }

    /// Clients following it now.
    pub fn watchers(&self) -> usize {
        self.presence.lock().expect("run lock").watchers
    }

    /// How long the run has had no client and no input (zero while a client follows it).
    pub fn idle_for(&self) -> Duration {
        let presence = self.presence.lock().expect("run lock");
        match presence.watchers {
            0 => presence.last.elapsed(),
            _ => Duration::ZERO,
        }
    }

    /// Gives the run to another owner (a warm demo container taken by a visitor); the record in
    /// the store follows.
    pub async fn set_owner(&self, owner: &Owner, store: &Store) {
        {
            let mut info = self.info.lock().expect("run lock");
            info.owner = owner.username.clone();
            info.team = owner.team.clone();
            info.owner_id = owner.user_id.clone();
            info.policy = owner.policy.clone();
        }
        persist(store, self).await;
    }

    /// Removes the run's container at once (killed if it runs, with its anonymous volumes),
    /// whatever its `--rm`; one already gone is fine. The run records its end as the engine
    /// reports it.
    pub async fn remove_container(&self) -> Result<(), EngineError> {
        self.journal.release_primary();
        match self.container_id() {
            Some(id) => match self.engine.remove(&id, true).await {
                Err(e) if e.status() == Some(404) => Ok(()),
                other => other,
            },
            None => Ok(()),
        }
    }

    /// Waits until the run has started (or was created, with `start: false`), or has ended.
    pub async fn launched(&self) -> RunInfo {
        let mut changes = self.journal.subscribe();
        loop {
            changes.borrow_and_update();
            let info = self.info();
            let launched = match info.state {
                RunState::Pending | RunState::Pulling => false,
                RunState::Created => !self.start,
                RunState::Running | RunState::Exited | RunState::Failed => true,
            };
            if launched {
                return info;
            }
            // The sender lives in the journal, so this only wakes on a change.
            let _ = changes.changed().await;
        }
    }
}

/// Why an action on a run could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("run {0} has no container yet")]
    NoContainer(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// How a run gets its container: its own (`docker run`, or `docker create` with
/// `start: false`), or a running one (`docker attach`, and following a run again after a
/// restart).
enum Launch {
    /// `docker run` (or `docker create` with `start: false`).
    Run { plan: Box<Plan>, start: bool },
    /// `docker attach` to a running container.
    Attach { container_id: String },
}

/// Every run this gateway knows, newest last, kept in the store too.
pub struct Runs {
    inner: Mutex<Registry>,
    engines: Arc<Engines>,
    store: Store,
    /// This gateway's instance id, on the labels of the containers it starts.
    instance: String,
    output_limit: usize,
    max_finished: usize,
    /// Containers being stopped for their deadline, so one is stopped once.
    expiring: Arc<Mutex<HashSet<String>>>,
}

/// How often the containers' deadlines are looked at.
const DEADLINE_SWEEP: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Registry {
    by_id: HashMap<String, Arc<Run>>,
    order: Vec<String>,
}

fn new_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl Runs {
    pub fn new(
        engines: Arc<Engines>,
        store: Store,
        instance: String,
        output_limit: usize,
        max_finished: usize,
    ) -> Self {
        Runs {
            inner: Mutex::default(),
            engines,
            store,
            instance,
            output_limit,
            max_finished,
            expiring: Arc::default(),
        }
    }

    /// Registers a `docker run` (or, with `start: false`, `docker create`) recorded with
    /// `argv`, and starts its sequence in the background: it goes on whether or not any client
    /// is connected. With a `deadline` (Unix seconds), the container is stopped and removed
    /// then (see [`Runs::sweep_deadlines`]).
    #[allow(clippy::too_many_arguments)]
    pub fn launch(
        &self,
        mut plan: Plan,
        argv: Vec<String>,
        start: bool,
        owner: &Owner,
        deadline: Option<i64>,
        engine: &Member,
        registry_auth: Option<String>,
    ) -> Arc<Run> {
        let id = new_id();
        let labels = RunLabels {
            run_id: id.clone(),
            instance: self.instance.clone(),
            owner: Some(owner.clone()),
            deadline,
        };
        labels.write(plan.body.labels.get_or_insert_default());
        let mut info = new_info(&id, owner, argv);
        info.engine = engine.name.clone();
        info.image = plan.body.image.clone().unwrap_or_default();
        info.tty = plan.tty();
        info.interactive = plan.attach_stdin();
        info.detach = plan.detach;
        let stdin = plan.attach_stdin();
        let launch = Launch::Run {
            plan: Box::new(plan),
            start,
        };
        self.start(
            info,
            stdin,
            start,
            launch,
            engine.engine.clone(),
            registry_auth,
        )
    }

    /// Follows a running container of `engine` (`docker attach`), or resumes following one of
    /// Berth's own runs after a restart (`info` then carries the run's record).
    pub fn attach(
        &self,
        container: &ContainerInspectResponse,
        info: RunInfo,
        engine: &Member,
    ) -> Arc<Run> {
        let config = container.config.clone().unwrap_or_default();
        let container_id = container.id.clone().unwrap_or_default();
        let mut info = info;
        info.engine = engine.name.clone();
        info.container_id = Some(container_id.clone());
        info.tty = config.tty.unwrap_or(false);
        info.interactive = config.open_stdin.unwrap_or(false);
        if info.image.is_empty() {
            info.image = config.image.unwrap_or_default();
        }
        let stdin = info.interactive;
        let launch = Launch::Attach { container_id };
        self.start(info, stdin, true, launch, engine.engine.clone(), None)
    }

    /// A new record for a run of `owner` (or an attach by them).
    pub fn new_record(&self, owner: &Owner) -> RunInfo {
        new_info(&new_id(), owner, Vec::new())
    }

    fn start(
        &self,
        info: RunInfo,
        stdin: bool,
        start: bool,
        launch: Launch,
        engine: Engine,
        registry_auth: Option<String>,
    ) -> Arc<Run> {
        let id = info.run_id.clone();
        let on = info.engine.clone();
        let (mut run, inputs) = Run::new(self, engine.clone(), info, stdin, start);
        run.registry_auth = registry_auth;
        let run = Arc::new(run);
        // Not the arguments: they may carry secrets (`-e PASSWORD=…`).
        tracing::info!(run = %id, image = %run.info().image, "run accepted");
        crate::metrics::run_started();
        run.record(ServerEvent::Accepted {
            run_id: id,
            engine: on,
        });
        self.register(run.clone());
        let (store, task_run) = (self.store.clone(), run.clone());
        tokio::spawn(async move {
            // The first record is written while the sequence runs, not before: a disk write
            // is no reason to make the container wait.
            let first_record = async {
                persist(&store, &task_run).await;
                // And again once it started: after a crash the record tells a run whose
                // container went (`--rm`) from one killed before it had a container.
                task_run.launched().await;
                if !task_run.journal.is_finished() {
                    persist(&store, &task_run).await;
                }
            };
            let sequence = sequence::drive(engine, Arc::clone(&task_run), launch, inputs);
            tokio::join!(first_record, sequence);
            task_run.ended.store(true, Ordering::Release);
            persist(&store, &task_run).await;
        });
        run
    }

    /// Stops and removes, every [`DEADLINE_SWEEP`], this gateway's containers that are past
    /// their `io.berth.deadline`. The engine's containers are what is looked at, not the runs:
    /// a container outlives its run's journal when its client detached, when it was attached
    /// to again, or across a restart of the gateway, and the limit holds for all of them.
    pub fn sweep_deadlines(self: &Arc<Self>) {
        let runs = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(DEADLINE_SWEEP);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(runs) = runs.upgrade() else { return };
                for member in runs.engines.all().iter().filter(|m| m.is_reachable()) {
                    if let Err(e) = runs.stop_expired(&member.engine).await {
                        let e = e.message();
                        let engine = &member.name;
                        tracing::debug!(engine, "looking for containers past their deadline: {e}");
                    }
                }
            }
        });
    }

    async fn stop_expired(&self, engine: &Engine) -> Result<(), EngineError> {
        let mine = format!("{LABEL_INSTANCE}={}", self.instance);
        let now = unix_now();
        let live = engine
            .list_live_containers(&[&mine, LABEL_DEADLINE])
            .await?;
        for c in live {
            let labels = c.labels.as_ref().and_then(RunLabels::from_labels);
            let (Some(labels), Some(id)) = (labels, c.id) else {
                continue;
            };
            if labels.deadline.is_none_or(|d| d > now) {
                continue;
            }
            if !self
                .expiring
                .lock()
                .expect("deadline lock")
                .insert(id.clone())
            {
                continue;
            }
            if let Some(run) = self.get(&labels.run_id) {
                run.note_error("stopped by Berth: the maximum run time was reached");
            }
            tracing::info!(run = %labels.run_id, "maximum run time reached: stopping and removing");
            let engine = engine.clone();
            let expiring = Arc::clone(&self.expiring);
            tokio::spawn(async move {
                let _ = engine.stop(&id, Some(10)).await;
                if let Err(e) = engine.remove(&id, true).await
                    && e.status() != Some(404)
                {
                    tracing::warn!(container = %id, "removing after the maximum run time: {}", e.message());
                }
                expiring.lock().expect("deadline lock").remove(&id);
            });
        }
        Ok(())
    }

    fn register(&self, run: Arc<Run>) {
        let mut reg = self.inner.lock().expect("runs lock");
        reg.order.push(run.id.clone());
        reg.by_id.insert(run.id.clone(), run);
        // Forget the oldest finished runs beyond the limit so memory stays bounded (the store
        // keeps them).
        let finished: Vec<String> = reg
            .order
            .iter()
            .filter(|id| reg.by_id[*id].journal.is_finished())
            .cloned()
            .collect();
        let excess = finished.len().saturating_sub(self.max_finished);
        for id in finished.into_iter().take(excess) {
            reg.by_id.remove(&id);
            reg.order.retain(|o| o != &id);
        }
    }

    /// Drops a run from memory (not from the store): another `Run` follows it on.
    fn unregister(&self, id: &str) {
        let mut reg = self.inner.lock().expect("runs lock");
        reg.order.retain(|o| o != id);
        reg.by_id.remove(id);
    }

    pub fn get(&self, id: &str) -> Option<Arc<Run>> {
        self.inner.lock().expect("runs lock").by_id.get(id).cloned()
    }

    /// Newest first.
    pub fn list(&self) -> Vec<Arc<Run>> {
        let reg = self.inner.lock().expect("runs lock");
        reg.order
            .iter()
            .rev()
            .map(|id| reg.by_id[id].clone())
            .collect()
    }

    /// How many runs of the user `user_id` are in progress: their containers that run (or
    /// are paused or restarting) on the engines, however their runs' clients left, and the
    /// runs not over yet that have no container so far. Each container counts once, also
    /// when someone attached to it. An engine that does not answer is counted by the runs
    /// this gateway follows on it.
    pub async fn in_progress_of(&self, user_id: &str) -> Result<usize, EngineError> {
        let theirs = format!("{LABEL_OWNER_ID}={user_id}");
        let listings = self
            .engines
            .all()
            .iter()
            .filter(|m| m.is_reachable())
            .map(|m| {
                let filter = [theirs.as_str()];
                async move { m.engine.list_live_containers(&filter).await }
            });
        let mut live = HashSet::new();
        for listed in futures_util::future::join_all(listings).await {
            live.extend(listed?.into_iter().filter_map(|c| c.id));
        }
        let mut pending = 0;
        for run in self.list() {
            if run.has_ended() || run.owner().user_id != user_id {
                continue;
            }
            match run.container_id() {
                Some(id) => {
                    live.insert(id);
                }
                None => pending += 1,
            }
        }
        Ok(live.len() + pending)
    }

    /// Berth runs in progress on the engine `name` (what `max_runs` limits and placement
    /// weighs).
    pub fn on_engine(&self, name: &str) -> usize {
        self.list()
            .iter()
            .filter(|r| !r.has_ended() && r.engine_name() == name)
            .count()
    }

    pub fn engines(&self) -> &Arc<Engines> {
        &self.engines
    }

    /// Records the runs still in progress as they are now (state, container), so that the
    /// history is current while the gateway is down; their containers go on, and the next start
    /// follows them again. Returns how many there were.
    pub async fn persist_in_progress(&self) -> usize {
        let active: Vec<Arc<Run>> = self
            .list()
            .into_iter()
            .filter(|r| !r.journal.is_finished())
            .collect();
        for run in &active {
            persist(&self.store, run).await;
        }
        active.len()
    }

    /// Removes the run's container (forcibly, with its anonymous volumes) and forgets the
    /// run. A container already gone (`--rm`, or removed by hand) is fine.
    pub async fn remove(&self, run: &Run) -> Result<(), EngineError> {
        run.journal.release_primary();
        if let Some(container) = run.container_id() {
            match run.engine.remove(&container, true).await {
                Err(e) if e.status() == Some(404) => {}
                other => other?,
            }
        }
        self.unregister(&run.id);
        if let Err(e) = self.store.delete_run(&run.id).await {
            tracing::warn!(run = %run.id, "forgetting the run in the store: {e}");
        }
        Ok(())
    }
}

fn new_info(id: &str, owner: &Owner, argv: Vec<String>) -> RunInfo {
    RunInfo {
        run_id: id.to_string(),
        owner: owner.username.clone(),
        team: owner.team.clone(),
        owner_id: owner.user_id.clone(),
        policy: owner.policy.clone(),
        engine: String::new(),
        state: RunState::Pending,
        exit_code: None,
        error: None,
        image: String::new(),
        argv,
        container_id: None,
        warnings: Vec::new(),
        tty: false,
        interactive: false,
        detach: false,
        created_at: rfc3339_now(),
        started_at: None,
        finished_at: None,
        output_bytes: 0,
    }
}

/// Saves the run's record; once it has ended, with its transcript.
async fn persist(store: &Store, run: &Run) {
    let info = run.info();
    let finished = run.journal.is_finished();
    let output = finished.then(|| encode_output(&run.journal.output().1));
    let stored = StoredRun {
        info,
        events: Some(run.recorded()),
        finished,
        output,
    };
    if let Err(e) = store.save_run(stored).await {
        tracing::warn!(run = %run.id, "saving the run: {e}");
    }
}

/// Transcript encoding in the store: `[stream][u32 BE length][bytes]…`.
fn encode_output(chunks: &[(u8, Bytes)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(chunks.iter().map(|(_, d)| d.len() + 5).sum());
    for (stream, data) in chunks {
        out.push(*stream);
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(data);
    }
    out
}

fn decode_output(mut data: &[u8]) -> Vec<(u8, Bytes)> {
    let mut chunks = Vec::new();
    while data.len() >= 5 {
        let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
        let Some(payload) = data.get(5..5 + len) else {
            break;
        };
        chunks.push((data[0], Bytes::copy_from_slice(payload)));
        data = &data[5 + len..];
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcripts_round_trip() {
        let chunks = vec![
            (1, Bytes::from_static(b"out")),
            (2, Bytes::from_static(b"")),
            (2, Bytes::from_static(b"err")),
        ];
        assert_eq!(decode_output(&encode_output(&chunks)), chunks);
        assert!(
            decode_output(&[1, 0, 0, 0, 9, b'x']).is_empty(),
            "a truncated chunk is dropped"
        );
    }
}
