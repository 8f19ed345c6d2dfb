//! The run sequence's branches against a [`FakeEngine`]: what the run records (its events, its
//! output, its `RunInfo`) and the exact requests the engine received, in the order of the
//! docker CLI's `runContainer` (docs: docker-run-flow.md §1). The same runs against the real
//! daemon are in `tests/tests/run_gateway.rs`.

use crate::engines::{DEFAULT_ENGINE, Engines};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use berth_shared::exit;
use berth_shared::wire::{PullProgress, RunInfo, RunState, ServerEvent};
use berth_shared::{Owner, argv, plan};
use bytes::Bytes;
use serde_json::json;

use super::{Input, Run, Runs};
use crate::engine::Engine;
use crate::engine::fake::{API_VERSION, AttachPeer, FakeEngine, Gate, Reply};
use crate::store::Store;

/// How long any step of a test may take before it fails.
const LIMIT: Duration = Duration::from_secs(10);

/// The container id every scripted create answers.
const ID: &str = "c0ffee";

async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: not within {LIMIT:?}"))
}

/// A gateway's runs against one fake engine, with a store of their own.
struct Gateway {
    fake: Arc<FakeEngine>,
    runs: Runs,
    dir: PathBuf,
}

impl Gateway {
    fn new() -> Gateway {
        let dir =
            std::env::temp_dir().join(format!("berth-sequence-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir.join("berth.db")).unwrap();
        let fake = FakeEngine::new();
        let engine = Engine::fake(fake.clone());
        let engines = Arc::new(Engines::one(DEFAULT_ENGINE, "fake", engine));
        let runs = Runs::new(engines, store, "test-instance".into(), 1 << 20, 16);
        Gateway { fake, runs, dir }
    }

    /// `docker run ARGS…` as an admin (whose daemon messages are not redacted).
    fn run(&self, args: &[&str]) -> Arc<Run> {
        let plan = plan::build(&argv::parse(args).unwrap()).unwrap();
        let owner = Owner {
            user_id: "u1".into(),
            username: "ann".into(),
            team: String::new(),
            policy: None,
        };
        let argv = args.iter().map(|a| a.to_string()).collect();
        let engine = self.runs.engines().first();
        self.runs
            .launch(plan, argv, true, &owner, None, engine, None)
    }

    /// Scripts the container `ID`: its create (after any answers scripted before), attach, a
    /// wait answered with `code` once `exit` opens, and start answered `start`.
    fn script_container(&self, code: i64, exit: &Gate, start: Reply) {
        self.fake
            .on("POST /containers/create", Reply::created(ID))
            .on(&format!("POST /containers/{ID}/attach"), Reply::upgrade())
            .on(
                &format!("POST /containers/{ID}/wait"),
                Reply::exited(code).after(exit),
            )
            .on(&format!("POST /containers/{ID}/start"), start);
    }

    /// The requests after the ping, which the CLI makes too (`HEAD` there, `GET` here).
    fn requests(&self) -> Vec<String> {
        let trace = self.fake.trace();
        assert_eq!(trace[0], "GET /_ping", "the version is negotiated first");
        for call in &self.fake.calls()[1..] {
            assert_eq!(call.version.as_deref(), Some(API_VERSION), "{call}");
        }
        trace[1..].to_vec()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `requests`, then those of the container's run once created: attach, wait, start.
fn then_run(requests: &[&str]) -> Vec<String> {
    let mut trace: Vec<String> = requests.iter().map(|r| r.to_string()).collect();
    trace.extend(["attach", "wait", "start"].map(|step| format!("POST /containers/{ID}/{step}")));
    trace
}

/// The requests of a run whose image is there: create, attach, wait, start.
fn create_and_run() -> Vec<String> {
    then_run(&["POST /containers/create"])
}

/// Waits until `done` holds for the run; it is checked at every change of its journal.
async fn until(run: &Run, what: &str, done: impl Fn(&Run) -> bool) {
    let mut changes = run.journal.subscribe();
    bounded(what, async {
        loop {
            changes.borrow_and_update();
            if done(run) {
                return;
            }
            changes.changed().await.expect("the journal lives");
        }
    })
    .await
}

/// What the run recorded once its journal is finished: its events, the last one, its output.
struct Record {
    events: Vec<ServerEvent>,
    last: ServerEvent,
    output: Vec<(u8, Bytes)>,
    info: RunInfo,
}

async fn finished(run: &Run) -> Record {
    until(run, "the run's end", |r| r.journal.is_finished()).await;
    let mut cursor = run.journal.cursor_from(0).unwrap();
    let batch = run.journal.read(&mut cursor, usize::MAX);
    Record {
        events: batch.events,
        last: batch.last.expect("finished"),
        output: run.journal.output().1,
        info: run.info(),
    }
}

fn accepted(run: &Run) -> ServerEvent {
    ServerEvent::Accepted {
        run_id: run.id.clone(),
        engine: "local".into(),
    }
}

fn created() -> ServerEvent {
    ServerEvent::Created {
        container_id: ID.into(),
        warnings: Vec::new(),
    }
}

fn progress(id: &str, status: &str, current: Option<u64>, total: Option<u64>) -> PullProgress {
    PullProgress {
        id: id.into(),
        status: status.into(),
        current,
        total,
    }
}

/// A pull of busybox as the daemon streams it, and the events it becomes.
fn busybox_pull() -> (Reply, Vec<ServerEvent>) {
    let reply = Reply::progress(&[
        json!({"status": "Pulling from library/busybox", "id": "latest"}),
        json!({"status": "Pulling fs layer", "progressDetail": {}, "id": "a1b2"}),
        json!({"status": "Downloading", "progressDetail": {"current": 512, "total": 2048}, "id": "a1b2"}),
        json!({"status": "Pull complete", "progressDetail": {}, "id": "a1b2"}),
        json!({"status": "Status: Downloaded newer image for busybox:latest"}),
    ]);
    let events = [
        progress("latest", "Pulling from library/busybox", None, None),
        progress("a1b2", "Pulling fs layer", None, None),
        progress("a1b2", "Downloading", Some(512), Some(2048)),
        progress("a1b2", "Pull complete", None, None),
        progress(
            "",
            "Status: Downloaded newer image for busybox:latest",
            None,
            None,
        ),
    ];
    (reply, events.into_iter().map(ServerEvent::Pull).collect())
}

fn output(pieces: &[(u8, &'static [u8])]) -> Vec<(u8, Bytes)> {
    pieces
        .iter()
        .map(|(s, d)| (*s, Bytes::from_static(d)))
        .collect()
}

/// The container side once started: writes `pieces` as multiplexed output.
async fn container_writes(peer: &mut AttachPeer, pieces: &[(u8, &'static [u8])]) {
    for (stream, data) in pieces {
        peer.frame(*stream, data).await;
    }
}

#[tokio::test]
async fn a_missing_image_is_pulled_and_the_create_retried() {
    let gw = Gateway::new();
    let (pull, pulled) = busybox_pull();
    let exit = Gate::new();
    gw.fake
        .on(
            "POST /containers/create",
            Reply::error(404, "No such image: busybox:latest"),
        )
        .on("POST /images/create", pull);
    gw.script_container(3, &exit, Reply::empty(204));

    let run = gw.run(&["--name", "box", "busybox", "sh", "-c", "echo hi; exit 3"]);
    let mut peer = gw.fake.attached().await;
    let launched = bounded("launch", run.launched()).await;
    assert_eq!(launched.state, RunState::Running);
    container_writes(&mut peer, &[(1, b"hi\n"), (2, b"warn\n")]).await;
    exit.open();
    drop(peer);
    let record = finished(&run).await;

    let mut events = vec![
        accepted(&run),
        ServerEvent::Pull(progress(
            "",
            "Unable to find image 'busybox:latest' locally",
            None,
            None,
        )),
    ];
    events.extend(pulled);
    events.extend([created(), ServerEvent::Started]);
    assert_eq!(record.events, events);
    assert_eq!(record.last, ServerEvent::Exit { code: 3 });
    assert_eq!(record.output, output(&[(1, b"hi\n"), (2, b"warn\n")]));
    assert_eq!(record.info.state, RunState::Exited);
    assert_eq!(record.info.exit_code, Some(3));
    assert_eq!(record.info.error, None);
    assert_eq!(record.info.container_id.as_deref(), Some(ID));

    let requests = [
        "POST /containers/create",
        "POST /images/create",
        "POST /containers/create",
    ];
    assert_eq!(gw.requests(), then_run(&requests));
    let creates = gw.fake.calls_to("POST /containers/create");
    assert_eq!(creates[0].param("name"), Some("box"));
    assert_eq!(
        creates[0].json(),
        creates[1].json(),
        "the same create, again"
    );
    assert_eq!(creates[0].json()["Image"], "busybox");
    assert_eq!(
        creates[0].json()["Cmd"],
        json!(["sh", "-c", "echo hi; exit 3"])
    );
    let pull = &gw.fake.calls_to("POST /images/create")[0];
    assert_eq!(pull.param("fromImage"), Some("docker.io/library/busybox"));
    assert_eq!(pull.param("tag"), Some("latest"));
    assert_eq!(pull.header("x-registry-auth"), Some("e30="));
    let attach = &gw.fake.calls_to(&format!("POST /containers/{ID}/attach"))[0];
    let streams = ["stream", "stdin", "stdout", "stderr"].map(|k| attach.param(k));
    assert_eq!(streams, [Some("1"), Some("0"), Some("1"), Some("1")]);
    assert_eq!(attach.header("upgrade"), Some("tcp"));
    let wait = &gw.fake.calls_to(&format!("POST /containers/{ID}/wait"))[0];
    assert_eq!(wait.param("condition"), Some("next-exit"));
}

#[tokio::test]
async fn pull_always_pulls_before_the_first_create() {
    let gw = Gateway::new();
    let (pull, pulled) = busybox_pull();
    let exit = Gate::new();
    gw.fake.on("POST /images/create", pull);
    gw.script_container(0, &exit, Reply::empty(204));

    let run = gw.run(&["--pull", "always", "busybox"]);
    drop(gw.fake.attached().await);
    exit.open();
    let record = finished(&run).await;

    let mut events = vec![accepted(&run)];
    events.extend(pulled);
    events.extend([created(), ServerEvent::Started]);
    assert_eq!(record.events, events, "no 'Unable to find image' notice");
    assert_eq!(record.last, ServerEvent::Exit { code: 0 });
    let requests = ["POST /images/create", "POST /containers/create"];
    assert_eq!(gw.requests(), then_run(&requests));
}

/// A run that fails before its container starts: its record and its last event say why.
fn assert_failed(run: &Run, record: &Record, code: i32, message: &str, daemon_status: u16) {
    let error = ServerEvent::Error {
        code,
        message: message.into(),
    };
    assert_eq!(record.last, error);
    assert_eq!(record.info.state, RunState::Failed);
    assert_eq!(record.info.exit_code, Some(code.into()));
    assert_eq!(record.info.error.as_deref(), Some(message));
    let failure = run.failure().expect("a failure");
    assert_eq!(failure.daemon_status, Some(daemon_status));
    assert!(!failure.unreachable);
}

/// A create the daemon refuses with `status`: 125 with its message, and nothing after it.
async fn create_refused(args: &[&str], status: u16, message: &str) {
    let gw = Gateway::new();
    gw.fake
        .on("POST /containers/create", Reply::error(status, message));

    let run = gw.run(args);
    let record = finished(&run).await;

    assert_eq!(record.events, [accepted(&run)]);
    assert_failed(&run, &record, exit::DOCKER_ERROR, message, status);
    assert_eq!(gw.requests(), ["POST /containers/create"], "no pull");
}

#[tokio::test]
async fn pull_never_reports_the_missing_image_without_pulling() {
    let missing = "No such image: busybox:latest";
    create_refused(&["--pull", "never", "busybox"], 404, missing).await;
}

#[tokio::test]
async fn a_create_conflict_is_125_and_pulls_nothing() {
    let conflict = "Conflict. The container name \"/box\" is already in use by container \"0123abcd\". You have to remove (or rename) that container to be able to reuse that name.";
    create_refused(&["--name", "box", "busybox"], 409, conflict).await;
}

/// What a refused start leaves: the run failed with the daemon's `refused` status and
/// message, `code` as the CLI maps it; the CLI's requests, the wait (with `condition`)
/// registered before start, and nothing after: no kill, stop or remove.
fn assert_start_refused(
    gw: &Gateway,
    run: &Run,
    record: &Record,
    refused: (u16, &str),
    code: i32,
    condition: &str,
) {
    let (status, message) = refused;
    assert_eq!(exit::status_for_error(message), code);
    assert_eq!(record.events, [accepted(run), created()]);
    assert_failed(run, record, code, message, status);
    assert_eq!(gw.requests(), create_and_run());
    let wait = &gw.fake.calls_to(&format!("POST /containers/{ID}/wait"))[0];
    assert_eq!(wait.param("condition"), Some(condition));
}

#[tokio::test]
async fn a_failed_start_with_rm_waits_for_the_removal() {
    let gw = Gateway::new();
    let not_found = "failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"nosuch\": executable file not found in $PATH: unknown";
    let removed = Gate::new();
    gw.script_container(127, &removed, Reply::error(400, not_found));

    let run = gw.run(&["--rm", "busybox", "nosuch"]);
    let mut peer = gw.fake.attached().await;
    // The gateway lets go of the attach once start failed…
    assert_eq!(peer.read_to_end().await, b"");
    // …and reports only once the daemon has removed the container.
    assert!(!run.journal.is_finished(), "reported before the removal");
    removed.open();
    let record = finished(&run).await;

    assert_start_refused(
        &gw,
        &run,
        &record,
        (400, not_found),
        exit::NOT_FOUND,
        "removed",
    );
    let create = gw.fake.calls_to("POST /containers/create")[0].json();
    assert_eq!(create["HostConfig"]["AutoRemove"], true);
}

#[tokio::test]
async fn a_failed_start_without_rm_reports_at_once() {
    let gw = Gateway::new();
    let denied =
        "failed to create task for container: exec: \"/etc/hosts\": permission denied: unknown";
    // The wait never answers: without --rm nothing waits for it.
    let never = Gate::new();
    gw.script_container(126, &never, Reply::error(500, denied));

    let run = gw.run(&["busybox", "/etc/hosts"]);
    let record = finished(&run).await;

    let refused = (500, denied);
    assert_start_refused(
        &gw,
        &run,
        &record,
        refused,
        exit::CANNOT_INVOKE,
        "next-exit",
    );
}

#[tokio::test]
async fn the_exit_status_comes_from_the_wait_when_the_stream_ends_first() {
    let gw = Gateway::new();
    let exit = Gate::new();
    gw.script_container(7, &exit, Reply::empty(204));

    let run = gw.run(&["busybox", "sh", "-c", "echo out; exit 7"]);
    let mut peer = gw.fake.attached().await;
    bounded("launch", run.launched()).await;
    container_writes(&mut peer, &[(1, b"out\n")]).await;
    drop(peer);
    // Nothing in the gateway shows that it saw the stream end, so give it a moment: the wait
    // then answers while it waits for it (well within the second it allows before it looks
    // for a detach).
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!run.journal.is_finished(), "ended before the wait answered");
    exit.open();
    let record = finished(&run).await;

    assert_eq!(
        record.events,
        [accepted(&run), created(), ServerEvent::Started]
    );
    assert_eq!(record.last, ServerEvent::Exit { code: 7 });
    assert_eq!(record.output, output(&[(1, b"out\n")]));
    assert_eq!(
        (record.info.state, record.info.exit_code),
        (RunState::Exited, Some(7))
    );
    // No inspect: the wait answered, so this was no detach.
    assert_eq!(gw.requests(), create_and_run());
}

#[tokio::test]
async fn a_stream_that_ends_while_the_container_runs_is_a_detach() {
    let gw = Gateway::new();
    let exit = Gate::new();
    let inspect = Reply::inspect(ID, true);
    gw.fake.on(&format!("GET /containers/{ID}/json"), inspect);
    gw.script_container(0, &exit, Reply::empty(204));

    let run = gw.run(&["-it", "busybox", "sh"]);
    let mut peer = gw.fake.attached().await;
    bounded("launch", run.launched()).await;
    // A TTY's stream is raw; the daemon ends it when the detach keys are typed.
    peer.raw(b"/ # ").await;
    drop(peer);
    let record = finished(&run).await;

    let detached = ServerEvent::Detached {
        container_id: ID.into(),
    };
    assert_eq!(record.last, detached);
    assert_eq!(record.output, output(&[(1, b"/ # ")]));
    assert_eq!(record.info.exit_code, None, "still running");
    assert_eq!(
        gw.requests(),
        [create_and_run(), vec![format!("GET /containers/{ID}/json")]].concat()
    );
    // The container exits later: its status is still recorded, the detach still stands.
    exit.open();
    until(&run, "the exit after the detach", |r| {
        r.info().state == RunState::Exited
    })
    .await;
    assert_eq!(run.info().exit_code, Some(0));
    assert_eq!(finished(&run).await.last, detached);
}

#[tokio::test]
async fn stdin_goes_through_the_attach_stream() {
    let gw = Gateway::new();
    let exit = Gate::new();
    gw.script_container(0, &exit, Reply::empty(204));

    let run = gw.run(&["-i", "busybox", "cat"]);
    let mut peer = gw.fake.attached().await;
    let launched = bounded("launch", run.launched()).await;
    assert!(launched.interactive && run.stdin_attached);
    assert!(
        run.send_input(Input::Stdin(Bytes::from_static(b"hello\n")))
            .await
    );
    assert_eq!(peer.read_stdin(6).await, b"hello\n");
    assert!(
        run.send_input(Input::Stdin(Bytes::from_static(b"bye")))
            .await
    );
    assert!(run.send_input(Input::CloseStdin).await);
    // A half-close: stdin ends, the container's output still flows.
    assert_eq!(peer.read_to_end().await, b"bye");
    container_writes(&mut peer, &[(1, b"hello\nbye")]).await;
    drop(peer);
    exit.open();
    let record = finished(&run).await;

    assert_eq!(record.output, output(&[(1, b"hello\nbye")]));
    assert_eq!(record.last, ServerEvent::Exit { code: 0 });
    assert_eq!(gw.requests(), create_and_run());
    let attach = &gw.fake.calls_to(&format!("POST /containers/{ID}/attach"))[0];
    assert_eq!(attach.param("stdin"), Some("1"));
    let create = gw.fake.calls_to("POST /containers/create")[0].json();
    assert_eq!(
        [
            &create["OpenStdin"],
            &create["AttachStdin"],
            &create["StdinOnce"]
        ],
        [true, true, true]
    );
}
