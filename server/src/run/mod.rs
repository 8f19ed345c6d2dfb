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
use journal::Journal;
pub use sequence::Failure;

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

/// Every run this gateway knows, newest last.
pub struct Runs {
    inner: Mutex<Registry>,
    engine: Engine,
    output_limit: usize,
    max_finished: usize,
}

#[derive(Default)]
struct Registry {
    by_id: HashMap<String, Arc<Run>>,
    order: Vec<String>,
}

/// What a run does.
enum What {
    /// `docker run` (or `docker create` with `start: false`).
    Run { plan: Box<Plan>, start: bool },
    /// `docker attach` to a running container.
    Attach { container_id: String },
}

/// What a new run's record starts with.
struct Describe {
    image: String,
    container_id: Option<String>,
    tty: bool,
    stdin: bool,
    detach: bool,
    start: bool,
}

impl Runs {
    pub fn new(engine: Engine, output_limit: usize, max_finished: usize) -> Self {
        Runs {
            inner: Mutex::default(),
            engine,
            output_limit,
            max_finished,
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Registers a `docker run` (or, with `start: false`, `docker create`) recorded with
    /// `argv`, and starts its sequence in the background: it goes on whether or not any client
    /// is connected.
    pub fn launch(&self, mut plan: Plan, argv: Vec<String>, start: bool) -> Arc<Run> {
        let id = format!("{:016x}", rand::random::<u64>());
        plan.add_label(berth_shared::LABEL_RUN_ID, &id);
        let describe = Describe {
            image: plan.body.image.clone().unwrap_or_default(),
            container_id: None,
            tty: plan.tty(),
            stdin: plan.attach_stdin(),
            detach: plan.detach,
            start,
        };
        self.start(
            id,
            describe,
            argv,
            What::Run {
                plan: Box::new(plan),
                start,
            },
        )
    }

    /// Follows a running container, typically one Berth did not start (`docker attach`).
    pub fn attach(&self, container: &ContainerInspectResponse) -> Arc<Run> {
        let id = format!("{:016x}", rand::random::<u64>());
        let config = container.config.clone().unwrap_or_default();
        let container_id = container.id.clone().unwrap_or_default();
        let describe = Describe {
            image: config.image.unwrap_or_default(),
            container_id: Some(container_id.clone()),
            tty: config.tty.unwrap_or(false),
            stdin: config.open_stdin.unwrap_or(false),
            detach: false,
            start: true,
        };
        self.start(id, describe, Vec::new(), What::Attach { container_id })
    }

    fn start(&self, id: String, d: Describe, argv: Vec<String>, what: What) -> Arc<Run> {
        let (input, inputs) = mpsc::channel(INPUT_QUEUE);
        let run = Arc::new(Run {
            id: id.clone(),
            journal: Journal::new(self.output_limit),
            info: Mutex::new(RunInfo {
                run_id: id.clone(),
                state: RunState::Pending,
                exit_code: None,
                error: None,
                image: d.image,
                argv,
                container_id: d.container_id,
                warnings: Vec::new(),
                tty: d.tty,
                interactive: d.stdin,
                detach: d.detach,
                created_at: now(),
                started_at: None,
                finished_at: None,
                output_bytes: 0,
            }),
            input,
            stdin_attached: d.stdin,
            start: d.start,
            failure: Mutex::new(None),
        });
        // Not the arguments: they may carry secrets (`-e PASSWORD=…`).
        tracing::info!(run = %id, image = %run.info().image, "run accepted");
        run.journal.push_event(ServerEvent::Accepted { run_id: id });
        self.register(run.clone());
        tokio::spawn(sequence::drive(
            self.engine.clone(),
            run.clone(),
            what,
            inputs,
        ));
        run
    }

    fn register(&self, run: Arc<Run>) {
        let mut reg = self.inner.lock().expect("runs lock");
        reg.order.push(run.id.clone());
        reg.by_id.insert(run.id.clone(), run);
        // Forget the oldest finished runs beyond the limit so memory stays bounded.
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

    pub fn forget(&self, id: &str) -> Option<Arc<Run>> {
        let mut reg = self.inner.lock().expect("runs lock");
        reg.order.retain(|o| o != id);
        reg.by_id.remove(id)
    }
}
