//! Runs: one per `docker run` Berth performs, each with its journal of events and output.

pub mod journal;
mod sequence;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use berth_shared::models::ContainerInspectResponse;
use berth_shared::plan::Plan;
use berth_shared::wire::{RunInfo, RunState, ServerEvent};
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::engine::Engine;
use crate::store::{Store, StoredRun};
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
    info: Mutex<RunInfo>,
    input: mpsc::Sender<Input>,
    /// Whether the container's stdin is attached (`-i`): stdin from clients is taken.
    pub stdin_attached: bool,
    /// `false`: create only, like `docker create`.
    start: bool,
    /// Why the run failed, once it has.
    failure: Mutex<Option<Failure>>,
}

pub fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
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

    pub fn owner(&self) -> (String, String) {
        let info = self.info.lock().expect("run lock");
        (info.owner.clone(), info.team.clone())
    }

    fn update(&self, f: impl FnOnce(&mut RunInfo)) {
        f(&mut self.info.lock().expect("run lock"));
    }

    /// Queues input for the container; waits while the queue is full.
    pub async fn send_input(&self, input: Input) -> bool {
        self.input.send(input).await.is_ok()
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

/// What a run does.
enum What {
    /// `docker run` (or `docker create` with `start: false`).
    Run { plan: Box<Plan>, start: bool },
    /// `docker attach` to a running container.
    Attach { container_id: String },
}

/// Who a run belongs to.
#[derive(Debug, Clone)]
pub struct Owner {
    pub username: String,
    pub team: String,
}

/// Every run this gateway knows, newest last, kept in the store too when there is one.
pub struct Runs {
    inner: Mutex<Registry>,
    engine: Engine,
    store: Option<Store>,
    /// This gateway's instance id, on the labels of the containers it starts.
    instance: String,
    output_limit: usize,
    max_finished: usize,
}

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
        engine: Engine,
        store: Option<Store>,
        instance: String,
        output_limit: usize,
        max_finished: usize,
    ) -> Self {
        Runs {
            inner: Mutex::default(),
            engine,
            store,
            instance,
            output_limit,
            max_finished,
        }
    }

    /// Registers a `docker run` (or, with `start: false`, `docker create`) recorded with
    /// `argv`, and starts its sequence in the background: it goes on whether or not any client
    /// is connected. With `max_seconds`, the container is stopped and removed after that long.
    pub fn launch(
        &self,
        mut plan: Plan,
        argv: Vec<String>,
        start: bool,
        owner: &Owner,
        max_seconds: Option<u64>,
    ) -> Arc<Run> {
        let id = new_id();
        plan.add_label(berth_shared::LABEL_RUN_ID, &id);
        plan.add_label(berth_shared::LABEL_INSTANCE, &self.instance);
        plan.add_label(berth_shared::LABEL_OWNER, &owner.username);
        plan.add_label(berth_shared::LABEL_TEAM, &owner.team);
        let deadline = max_seconds.map(|s| crate::store::unix_now() + s as i64);
        if let Some(d) = deadline {
            plan.add_label(berth_shared::LABEL_DEADLINE, &d.to_string());
        }
        let mut info = new_info(&id, owner, argv);
        info.image = plan.body.image.clone().unwrap_or_default();
        info.tty = plan.tty();
        info.interactive = plan.attach_stdin();
        info.detach = plan.detach;
        let stdin = plan.attach_stdin();
        let run = self.start(
            info,
            stdin,
            start,
            What::Run {
                plan: Box::new(plan),
                start,
            },
        );
        if let Some(deadline) = deadline {
            self.arm_deadline(run.clone(), deadline);
        }
        run
    }

    /// Follows a running container (`docker attach`), or resumes following one of Berth's own
    /// runs after a restart (`info` then carries the run's record).
    pub fn attach(&self, container: &ContainerInspectResponse, info: RunInfo) -> Arc<Run> {
        let config = container.config.clone().unwrap_or_default();
        let container_id = container.id.clone().unwrap_or_default();
        let mut info = info;
        info.container_id = Some(container_id.clone());
        info.tty = config.tty.unwrap_or(false);
        info.interactive = config.open_stdin.unwrap_or(false);
        if info.image.is_empty() {
            info.image = config.image.unwrap_or_default();
        }
        let stdin = info.interactive;
        let deadline = config
            .labels
            .as_ref()
            .and_then(|l| l.get(berth_shared::LABEL_DEADLINE))
            .and_then(|d| d.parse::<i64>().ok());
        let run = self.start(info, stdin, true, What::Attach { container_id });
        if let Some(deadline) = deadline {
            self.arm_deadline(run.clone(), deadline);
        }
        run
    }

    /// A new record for a run of `owner` (or an attach by them).
    pub fn record(&self, owner: &Owner) -> RunInfo {
        new_info(&new_id(), owner, Vec::new())
    }

    fn start(&self, info: RunInfo, stdin: bool, start: bool, what: What) -> Arc<Run> {
        let (input, inputs) = mpsc::channel(INPUT_QUEUE);
        let id = info.run_id.clone();
        let run = Arc::new(Run {
            id: id.clone(),
            journal: Journal::new(self.output_limit),
            info: Mutex::new(info),
            input,
            stdin_attached: stdin,
            start,
            failure: Mutex::new(None),
        });
        // Not the arguments: they may carry secrets (`-e PASSWORD=…`).
        tracing::info!(run = %id, image = %run.info().image, "run accepted");
        run.journal.push_event(ServerEvent::Accepted { run_id: id });
        self.register(run.clone());
        let (engine, store, task_run) = (self.engine.clone(), self.store.clone(), run.clone());
        tokio::spawn(async move {
            // The first record is written while the sequence runs, not before: a disk write
            // is no reason to make the container wait.
            let first_record = async {
                if let Some(store) = &store {
                    persist(store, &task_run).await;
                }
            };
            let sequence = sequence::drive(engine, Arc::clone(&task_run), what, inputs);
            tokio::join!(first_record, sequence);
            if let Some(store) = &store {
                persist(store, &task_run).await;
            }
        });
        run
    }

    /// Stops and removes the run's container once `deadline` (Unix seconds) has passed.
    fn arm_deadline(&self, run: Arc<Run>, deadline: i64) {
        let engine = self.engine.clone();
        tokio::spawn(async move {
            let wait = (deadline - crate::store::unix_now()).max(0) as u64;
            tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
            if run.journal.is_finished() {
                return;
            }
            let Some(container) = run.container_id() else {
                return;
            };
            tracing::info!(run = %run.id, "maximum run time reached: stopping and removing");
            run.update(|i| {
                i.error = Some("stopped by Berth: the maximum run time was reached".into())
            });
            let _ = engine.stop(&container, Some(10)).await;
            if let Err(e) = engine.remove(&container, true).await
                && e.status() != Some(404)
            {
                tracing::warn!(run = %run.id, "removing after the maximum run time: {}", e.message());
            }
        });
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

    /// Runs of `username` that have not ended.
    pub fn active_of(&self, username: &str) -> usize {
        let reg = self.inner.lock().expect("runs lock");
        reg.by_id
            .values()
            .filter(|r| {
                !r.journal.is_finished() && r.info.lock().expect("run lock").owner == username
            })
            .count()
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
        if let Some(store) = &self.store {
            for run in &active {
                persist(store, run).await;
            }
        }
        active.len()
    }

    pub async fn forget(&self, id: &str) -> Option<Arc<Run>> {
        let run = {
            let mut reg = self.inner.lock().expect("runs lock");
            reg.order.retain(|o| o != id);
            reg.by_id.remove(id)
        };
        if let Some(store) = &self.store
            && let Err(e) = store.delete_run(id).await
        {
            tracing::warn!(run = %id, "forgetting the run in the store: {e}");
        }
        run
    }
}

fn new_info(id: &str, owner: &Owner, argv: Vec<String>) -> RunInfo {
    RunInfo {
        run_id: id.to_string(),
        owner: owner.username.clone(),
        team: owner.team.clone(),
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
        created_at: now(),
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
        owner: info.owner.clone(),
        team: info.team.clone(),
        info,
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
