//! The bodies of the fuzz targets (`fuzz/fuzz_targets/*.rs`, cargo-fuzz / libFuzzer), here so
//! that a plain `cargo test` replays the committed corpora and regression inputs through the
//! very same code (`server/tests/fuzz_corpus.rs`) without nightly Rust or cargo-fuzz.
//!
//! Each function takes arbitrary bytes, drives the gateway's code the way its handler does, and
//! panics when an invariant breaks (not only when the code under test panics). fuzz/README.md
//! lists the targets, their invariants and the campaigns run.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use berth_shared::plan::{self, Plan};
use berth_shared::spec::RunSpec;
use berth_shared::wire::{
    ClientMessage, Login, NewRegistry, NewToken, NewUser, PullProgress, Role, RunRequest,
    ServerEvent, SessionRequest, TemplateAccess, TemplateRequest,
};
use berth_shared::{argv, units};
use bytes::BytesMut;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::admission::plan_for;
use crate::api::request::{json_body, valid_signal};
use crate::demo::StoredTemplate;
use crate::engine::demux::{self, Frame, OutputReader};
use crate::engine::pull::Decoder;
use crate::policy::{Facts, Policy, RolePolicy};

/// A target's body: arbitrary bytes in, a panic when an invariant breaks.
pub type Target = fn(&[u8]);

/// Every target by name, for the corpus replay.
pub const TARGETS: &[(&str, Target)] = &[
    ("parse_run_args", parse_run_args),
    ("demux", demux),
    ("pull_progress", pull_progress),
    ("client_message", client_message),
    ("rest_body", rest_body),
    ("run_spec", run_spec),
    ("policy_file", policy_file),
    ("template_body", template_body),
];

// ---------------------------------------------------------------------------------------------
// Helpers

/// JSON out and back in gives the same value (what the gateway sends is what a client reads).
fn round_trip<T: Serialize + DeserializeOwned + PartialEq>(value: &T, what: &str) {
    let json = serde_json::to_string(value).unwrap_or_else(|e| panic!("{what} serialises: {e}"));
    let back: T =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{what} {json} reads back: {e}"));
    assert!(
        back == *value,
        "{what} changes in a JSON round trip: {json}"
    );
}

/// Polls a future that never waits (its reads are in memory) to its end.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("an in-memory read waited"),
    }
}

/// An attach connection that delivers `data` in reads of the given sizes (cycled).
struct Chunked<'a> {
    data: &'a [u8],
    sizes: &'a [usize],
    read: usize,
}

impl tokio::io::AsyncRead for Chunked<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let size = this.sizes[this.read % this.sizes.len()];
        let n = size.min(this.data.len()).min(buf.remaining());
        buf.put_slice(&this.data[..n]);
        this.data = &this.data[n..];
        this.read += 1;
        Poll::Ready(Ok(()))
    }
}

/// An `[operator]` table allowing everything the file can allow: the check then runs every
/// group of rules on any plan (values it does not recognise are still refused: fail closed).
const PERMISSIVE: &str = r#"
[operator]
allowed_images = ["**", "**:*", "**@*", "**:*@*"]
allow_image_ids = true
allow_privileged = true
allow_host_binds = true
allow_named_volumes = true
allowed_volume_drivers = ["local", "*"]
allow_volume_options = true
allow_host_namespaces = true
allow_foreign_containers = true
allow_cgroup_parent = true
allowed_capabilities = ["ALL", "AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND",
    "BPF", "CHECKPOINT_RESTORE", "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER",
    "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE", "LINUX_IMMUTABLE", "MAC_ADMIN",
    "MAC_OVERRIDE", "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_RAW",
    "PERFMON", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYSLOG", "SYS_ADMIN", "SYS_BOOT",
    "SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "WAKE_ALARM"]
allowed_devices = ["/dev/fuse", "/dev/null"]
allow_device_requests = true
allow_device_cgroup_rules = true
allowed_security_opts = ["*"]
allowed_sysctls = ["*"]
allowed_runtimes = ["*"]
allowed_networks = ["*"]
allow_network_driver_opts = true
allow_published_ports = true
allowed_log_drivers = ["*"]
allow_log_options = true
allow_annotations = true
allow_restart_policies = true
allow_oom_adjustments = true
allowed_ulimits = ["*"]
allow_exec_privileged = true
allow_exec_user = true

[guest]
allowed_images = ["**"]
max_memory = "256m"
max_cpus = 0.5
max_pids = 128
max_run_seconds = 3600
"#;

/// [`PERMISSIVE`], loaded once.
pub fn permissive_policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| Policy::from_toml(PERMISSIVE).expect("the permissive policy loads"))
}

/// `rules` on `plan` as admission asks them, every referenced container counted as the
/// requester's own: the same answer twice, and a create body that serialises once the
/// defaults are in. Returns the plan with its defaults when allowed.
fn check_as_admission(rules: &RolePolicy, role: Role, plan: &Plan) -> Option<Plan> {
    let lookups = rules.lookups(plan);
    let own: HashSet<String> = lookups.containers.into_iter().collect();
    let volumes = HashMap::new();
    let facts = Facts {
        role,
        own_containers: &own,
        volumes: &volumes,
    };
    let first = rules.check(plan, &facts);
    let second = rules.check(plan, &facts);
    assert_eq!(first, second, "the check is not a function of the plan");
    let defaults = first.ok()?;
    let mut plan = plan.clone();
    defaults.apply(&mut plan);
    serde_json::to_vec(&plan.body).expect("a create body serialises");
    Some(plan)
}

/// A run request as `AppState::admit` takes it (`plan_for`, then the rules): the argv the run
/// is recorded with plans to the same create request, and the permissive rules, admins' and
/// the default policy's answer without panicking.
fn admit_like(req: &RunRequest) {
    let Ok((plan, recorded)) = plan_for(req) else {
        return;
    };
    let again = RunRequest {
        argv: Some(recorded.clone()),
        ..Default::default()
    };
    let (replanned, _) = plan_for(&again)
        .unwrap_or_else(|e| panic!("the recorded argv {recorded:?} does not plan: {e}"));
    assert_eq!(
        replanned, plan,
        "the recorded argv {recorded:?} plans otherwise"
    );
    check_as_admission(
        permissive_policy().for_role(Role::Operator),
        Role::Operator,
        &plan,
    );
    let admin = Policy::deny_all();
    assert!(
        check_as_admission(admin.for_role(Role::Admin), Role::Admin, &plan).is_some(),
        "admins are unrestricted"
    );
    assert!(
        check_as_admission(admin.for_role(Role::Operator), Role::Operator, &plan).is_none(),
        "without a policy file operators run nothing"
    );
}

// ---------------------------------------------------------------------------------------------
// Targets

/// `docker run` arguments: NUL-separated words (UTF-8, lossy). Whatever parses and plans must
/// render back to the same spec, and that spec must plan to the same create request.
pub fn parse_run_args(data: &[u8]) {
    let words: Vec<String> = data
        .split(|b| *b == 0)
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    let Ok(spec) = argv::parse(&words) else {
        return;
    };
    let Ok(first) = plan::build(&spec) else {
        return;
    };
    let rendered = argv::render(&spec);
    let reparsed = argv::parse(&rendered)
        .unwrap_or_else(|e| panic!("render {rendered:?} of {words:?} does not parse: {e}"));
    assert_eq!(
        reparsed, spec,
        "round trip of {words:?} through {rendered:?}"
    );
    let second = plan::build(&reparsed)
        .unwrap_or_else(|e| panic!("re-parsed {rendered:?} does not plan: {e}"));
    assert_eq!(second, first, "plan of {words:?} after the round trip");
}

/// Splits `data` into (mode byte, read sizes, the rest).
fn mode_and_sizes(data: &[u8]) -> Option<(u8, Vec<usize>, &[u8])> {
    let (&mode, rest) = data.split_first()?;
    let n = usize::from(mode & 0x0f).min(rest.len());
    let (sizes, rest) = rest.split_at(n);
    let mut sizes: Vec<usize> = sizes.iter().map(|s| usize::from(*s) + 1).collect();
    if sizes.is_empty() {
        sizes.push(rest.len().max(1));
    }
    Some((mode, sizes, rest))
}

/// One multiplexed frame as the daemon writes it.
fn mux(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![stream, 0, 0, 0];
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// The attach/logs stream demuxer. Byte 0: bit 7 a TTY stream, bit 6 the rest describes frames
/// (`stream % 3, len, payload…`) to multiplex rather than raw wire bytes; its low 4 bits, how
/// many read sizes follow (each 1-256 bytes, cycled). Whatever the chunking: the frames read
/// from an attach connection are those of the whole body at once (the logs endpoint), an
/// error is an error both ways, a TTY stream comes back byte for byte, multiplexed payloads
/// come back as written, and the buffer holds no more than what was received and a read's
/// worth (a header cannot make it reserve its claimed length up front).
pub fn demux(data: &[u8]) {
    let Some((mode, sizes, rest)) = mode_and_sizes(data) else {
        return;
    };
    let tty = mode & 0x80 != 0;
    let mut expected: Option<Vec<Frame>> = None;
    let wire: Vec<u8> = if mode & 0x40 != 0 && !tty {
        let (mut wire, mut frames, mut at) = (Vec::new(), Vec::new(), rest);
        while let [stream, len, tail @ ..] = at {
            let (payload, tail) = tail.split_at(usize::from(*len).min(tail.len()));
            wire.extend(mux(stream % 3, payload));
            frames.push(Frame {
                stream: if stream % 3 == 2 { 2 } else { 1 },
                data: bytes::Bytes::copy_from_slice(payload),
            });
            at = tail;
        }
        expected = Some(frames);
        wire
    } else {
        rest.to_vec()
    };

    if tty {
        let mut reader = OutputReader::new(
            Chunked {
                data: &wire,
                sizes: &sizes,
                read: 0,
            },
            bytes::Bytes::new(),
            true,
        );
        let mut got = Vec::new();
        while let Some(frame) = ready(reader.next()).expect("a TTY stream never fails") {
            assert_eq!(frame.stream, 1, "TTY output is stdout");
            assert!(!frame.data.is_empty(), "no empty TTY frames");
            got.extend_from_slice(&frame.data);
        }
        assert_eq!(got, wire, "a TTY stream comes back as sent");
        return;
    }

    let whole = demux::demux_all(BytesMut::from(&wire[..]));
    if let Some(expected) = &expected {
        assert_eq!(
            whole.as_ref().ok(),
            Some(expected),
            "multiplexed frames come back as written"
        );
    }

    // Pushed piece by piece, frames split off as soon as they are complete.
    let mut buf = BytesMut::new();
    let (mut pushed, mut frames, mut failed) = (0usize, Vec::new(), None);
    let mut at = &wire[..];
    'feed: for i in 0.. {
        if at.is_empty() {
            break;
        }
        let (piece, tail) = at.split_at(sizes[i % sizes.len()].min(at.len()));
        at = tail;
        buf.extend_from_slice(piece);
        pushed += piece.len();
        loop {
            match demux::split_frame(&mut buf) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => {
                    failed = Some(e.to_string());
                    break 'feed;
                }
            }
            assert!(
                buf.capacity() <= 4 * pushed + (1 << 20),
                "{} bytes reserved after {pushed} received",
                buf.capacity()
            );
        }
        assert!(
            buf.capacity() <= 4 * pushed + (1 << 20),
            "{} bytes reserved after {pushed} received",
            buf.capacity()
        );
    }
    let truncated = failed.is_none() && !buf.is_empty();
    match &whole {
        Ok(all) => {
            assert_eq!(failed, None, "fails only when read piece by piece");
            assert!(!truncated, "truncated only when read piece by piece");
            assert_eq!(&frames, all, "frames depend on how the stream was read");
        }
        Err(e) => {
            let e = e.to_string();
            match &failed {
                Some(f) => assert_eq!(f, &e, "another error piece by piece"),
                None => assert!(truncated, "{e} only when read at once"),
            }
        }
    }

    // The same through an attach connection, its first read as the upgrade's leftover.
    let first = sizes[0].min(wire.len());
    let mut reader = OutputReader::new(
        Chunked {
            data: &wire[first..],
            sizes: &sizes,
            read: 1,
        },
        bytes::Bytes::copy_from_slice(&wire[..first]),
        false,
    );
    let mut read = Vec::new();
    let outcome = loop {
        match ready(reader.next()) {
            Ok(Some(f)) => read.push(f),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e.to_string()),
        }
    };
    match (&whole, outcome) {
        (Ok(all), Ok(())) => assert_eq!(&read, all, "the attach stream reads otherwise"),
        (Ok(_), Err(e)) => panic!("the attach stream fails ({e}) on a valid body"),
        (Err(e), Ok(())) => panic!("the attach stream takes a body demux_all refuses ({e})"),
        (Err(_), Err(_)) => assert!(
            frames.starts_with(&read),
            "the frames before an error are the stream's"
        ),
    }
}

/// Drains `decoder`: complete lines, then at the end the unterminated one.
fn drain(decoder: &mut Decoder, at_end: bool, out: &mut Vec<Result<PullProgress, String>>) {
    while let Some(m) = decoder.next(at_end) {
        out.push(m.map_err(|e| e.to_string()));
    }
}

/// The pull progress decoder. Byte 0's low 4 bits: how many read sizes follow (1-256 bytes,
/// cycled); the rest is the daemon's stream. Whatever the chunking the messages are the same
/// (no line is taken before its end), there are no more of them than non-blank lines, a total
/// is never 0 (the page divides by it), and each goes out to watchers as JSON that reads back
/// the same.
pub fn pull_progress(data: &[u8]) {
    let Some((_, sizes, stream)) = mode_and_sizes(data) else {
        return;
    };
    let mut whole = Vec::new();
    let mut decoder = Decoder::default();
    decoder.push(stream);
    drain(&mut decoder, false, &mut whole);
    drain(&mut decoder, true, &mut whole);

    let mut pieces = Vec::new();
    let mut decoder = Decoder::default();
    let mut at = stream;
    for i in 0.. {
        if at.is_empty() {
            break;
        }
        let (piece, tail) = at.split_at(sizes[i % sizes.len()].min(at.len()));
        at = tail;
        decoder.push(piece);
        drain(&mut decoder, false, &mut pieces);
    }
    drain(&mut decoder, true, &mut pieces);
    assert_eq!(pieces, whole, "messages depend on how the stream was read");

    let lines = stream
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .count();
    assert!(
        whole.len() <= lines,
        "{} messages of {lines} lines",
        whole.len()
    );
    for m in whole.into_iter().flatten() {
        assert_ne!(m.total, Some(0), "a total of 0");
        round_trip(&ServerEvent::Pull(m), "a pull event");
    }
}

/// A text message on a run or exec WebSocket, as `api/ws.rs` and `api/inside.rs` read it: it
/// reads back the same after a JSON round trip; a run request goes through admission's
/// planning and checks; a signal the gateway passes on is a short ASCII name or number.
pub fn client_message(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // WebSocket text frames are UTF-8
    };
    let Ok(msg) = serde_json::from_str::<ClientMessage>(text) else {
        return;
    };
    round_trip(&msg, "a client message");
    match msg {
        ClientMessage::Run(req) => admit_like(&req),
        ClientMessage::Signal { signal } if valid_signal(&signal) => {
            assert!(
                signal.len() <= 16 && signal.is_ascii(),
                "signal {signal:?} passed on"
            );
        }
        _ => {}
    }
}

/// A REST body, as its handler reads it (`json_body`, then its checks). Byte 0 picks the body:
/// 0 `POST /api/runs`, 1 `POST /api/users`, 2 `POST /api/login`, 3 `POST /api/tokens`,
/// 4 `POST /api/registries`, 5 `POST /api/templates/{name}/sessions`, 6 `POST /api/templates`.
pub fn rest_body(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 7 {
        0 => {
            let Ok(req) = json_body::<RunRequest>(body) else {
                return;
            };
            round_trip(&req, "a run request");
            if req.cols.is_some() || req.rows.is_some() {
                return; // refused: for the WebSocket API
            }
            admit_like(&req);
        }
        1 => {
            let Ok(req) = json_body::<NewUser>(body) else {
                return;
            };
            round_trip(&req, "a new user");
            if crate::auth::valid_name(&req.username) {
                assert!(
                    (1..=32).contains(&req.username.len()) && req.username.is_ascii(),
                    "username {:?} taken",
                    req.username
                );
            }
            let _ = req.password.chars().count() < 8 || req.password.len() > 1024;
        }
        2 => {
            let Ok(req) = json_body::<Login>(body) else {
                return;
            };
            round_trip(&req, "a login");
            let _ = crate::auth::valid_name(&req.username);
        }
        3 => {
            let Ok(req) = json_body::<NewToken>(body) else {
                return;
            };
            round_trip(&req, "a new token");
            let name = req.name.trim();
            let _ = name.is_empty() || name.chars().count() > 64;
        }
        4 => {
            let Ok(req) = json_body::<NewRegistry>(body) else {
                return;
            };
            round_trip(&req, "a new registry");
            let index = crate::registries::index_name(&req.server);
            if crate::registries::valid_server(&index) {
                assert_eq!(
                    crate::registries::index_name(&index),
                    index,
                    "a stored server is its own index name"
                );
            }
        }
        5 => {
            let Ok(req) = json_body::<SessionRequest>(body) else {
                return;
            };
            round_trip(&req, "a session request");
        }
        _ => template_body(body),
    }
}

/// The structured JSON form of a run (`"spec"`): it reads back the same after a JSON round
/// trip, and when it plans, the argv it is recorded with (`argv::render`) parses and plans to
/// the same create request, and renders to itself again.
pub fn run_spec(data: &[u8]) {
    let Ok(spec) = serde_json::from_slice::<RunSpec>(data) else {
        return;
    };
    round_trip(&spec, "a run spec");
    let Ok(first) = plan::build(&spec) else {
        return;
    };
    let rendered = argv::render(&spec);
    let reparsed = argv::parse(&rendered)
        .unwrap_or_else(|e| panic!("the spec's argv {rendered:?} does not parse: {e}"));
    let second = plan::build(&reparsed)
        .unwrap_or_else(|e| panic!("the spec's argv {rendered:?} does not plan: {e}"));
    assert_eq!(
        second, first,
        "the spec's argv {rendered:?} plans otherwise"
    );
    assert_eq!(
        argv::render(&reparsed),
        rendered,
        "rendering is not a fixed point"
    );
    admit_like(&RunRequest {
        spec: Some(spec),
        ..Default::default()
    });
}

/// Plans the policy file target checks each loaded policy with.
const PLANS: &[&[&str]] = &[
    &["busybox"],
    &["-m", "2g", "--cpus", "4", "--pids-limit", "5000", "busybox"],
    &["--memory-swap", "-1", "-m", "1m", "busybox"],
    &["--pids-limit", "-1", "--cpu-period", "1000000", "busybox"],
    &["--cpu-quota", "400000", "127.0.0.1:5000/team/app:1"],
    &[
        "--privileged",
        "-v",
        "/:/host",
        "--network",
        "host",
        "busybox",
    ],
    &[
        "-v",
        "data:/data",
        "--volumes-from",
        "web",
        "--cap-add",
        "sys_admin",
        "alpine",
    ],
    &[
        "--cpu-period",
        "1000",
        "berth-fixture@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ],
];

/// A role's maxima as the file writes them (`max_memory` bytes, `max_pids`), read from its
/// table independently of the policy's own parsing.
fn maxima(table: Option<&toml::Value>) -> (Option<i64>, Option<i64>) {
    let Some(t) = table.and_then(toml::Value::as_table) else {
        return (None, None);
    };
    let memory = match t.get("max_memory") {
        Some(toml::Value::Integer(i)) => Some(*i),
        Some(toml::Value::String(s)) => units::ram_in_bytes(s).ok(),
        _ => None,
    };
    let pids = t.get("max_pids").and_then(toml::Value::as_integer);
    (memory, pids)
}

/// The policy file (`BERTH_POLICY`): TOML text, then optionally a 0xFF byte and a plan's
/// `docker run` arguments (NUL-separated) to check besides a fixed set. Loading is
/// deterministic (same answer and digest twice); every role's check answers the same twice;
/// and what a role with `max_memory` / `max_pids` is allowed to run has, once the defaults are
/// in, a memory / pids limit within that maximum (never unlimited).
pub fn policy_file(data: &[u8]) {
    let (text, extra) = match data.iter().position(|b| *b == 0xff) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let loaded = Policy::from_toml(text);
    let again = Policy::from_toml(text);
    let policy = match (loaded, again) {
        (Ok(p), Ok(q)) => {
            assert_eq!(
                p.digest(),
                q.digest(),
                "the digest of the same file changes"
            );
            p
        }
        (Err(e), Err(f)) => {
            assert_eq!(
                e.to_string(),
                f.to_string(),
                "another error for the same file"
            );
            return;
        }
        _ => panic!("the same file loads once and not twice"),
    };
    let file: toml::Table = toml::from_str(text).expect("a loaded policy is TOML");
    let mut plans: Vec<Plan> = PLANS
        .iter()
        .map(|a| plan::build(&argv::parse(a).expect("fixed argv parses")).expect("and plans"))
        .collect();
    if let Some(extra) = extra {
        let words: Vec<String> = extra
            .split(|b| *b == 0)
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        if let Ok(p) = argv::parse(&words)
            .map_err(|_| ())
            .and_then(|s| plan::build(&s).map_err(|_| ()))
        {
            plans.push(p);
        }
    }
    let mut roles: Vec<(&RolePolicy, Role, Option<&toml::Value>)> = vec![
        (
            policy.for_role(Role::Operator),
            Role::Operator,
            file.get("operator"),
        ),
        (policy.for_role(Role::Guest), Role::Guest, file.get("guest")),
        (policy.for_role(Role::Viewer), Role::Viewer, None),
        (policy.for_role(Role::Admin), Role::Admin, None),
    ];
    if let Some(teams) = file.get("team").and_then(toml::Value::as_table) {
        for (name, table) in teams {
            roles.push((
                policy.for_user(Role::Operator, name),
                Role::Operator,
                Some(table),
            ));
        }
    }
    for (rules, role, table) in roles {
        let (max_memory, max_pids) = maxima(table);
        for plan in &plans {
            let Some(allowed) = check_as_admission(rules, role, plan) else {
                continue;
            };
            let host = allowed.body.host_config.unwrap_or_default();
            if let Some(max) = max_memory {
                let m = host.memory.unwrap_or(0);
                assert!(
                    m > 0 && m <= max,
                    "memory {m} allowed under max_memory {max}"
                );
            }
            if let Some(max) = max_pids {
                let p = host.pids_limit.unwrap_or(0);
                assert!(p > 0 && p <= max, "pids {p} allowed under max_pids {max}");
            }
        }
    }
}

/// A template body (`POST /api/templates`, `PUT /api/templates/{name}`) through the checks
/// `checked_template` makes before it asks the engine: the request reads back the same; once
/// valid, its terms are in range, it is stored and read back (the store's JSON) unchanged, and
/// its command goes through planning, the no-`--name` rule and, when public, the `[guest]`
/// rules (a guest's run always limited).
pub fn template_body(data: &[u8]) {
    let Ok(mut req) = json_body::<TemplateRequest>(data) else {
        return;
    };
    round_trip(&req, "a template request");
    if crate::demo::validate(&req).is_err() {
        return;
    }
    assert!(crate::engines::valid_name(&req.name));
    assert!((10..=7 * 24 * 3600).contains(&req.ttl_seconds));
    assert!((1..=1000).contains(&req.capacity));
    req.max_ttl_seconds = Some(req.max_ttl_seconds.unwrap_or(req.ttl_seconds));
    let stored = StoredTemplate {
        request: req,
        created_at: "2026-12-01T00:00:00Z".into(),
        updated_at: "2026-12-01T00:00:00Z".into(),
    };
    assert!(stored.max_ttl() >= stored.request.ttl_seconds);
    let _ = stored.max_queue();
    let json = serde_json::to_string(&stored).expect("templates serialise");
    let back: StoredTemplate = serde_json::from_str(&json).expect("a stored template reads back");
    assert!(
        back.request == stored.request,
        "a stored template changes: {json}"
    );

    let run = stored.run_request();
    let Ok((plan, _)) = plan_for(&run) else {
        return;
    };
    if plan.name.is_some() {
        return; // refused: every session has its own container
    }
    admit_like(&run);
    if stored.request.access == TemplateAccess::Public {
        let rules = permissive_policy().for_role(Role::Guest);
        if let Some(allowed) = check_as_admission(rules, Role::Guest, &plan) {
            let host = allowed.body.host_config.unwrap_or_default();
            assert!(
                host.memory.is_some_and(|m| m > 0 && m <= 256 << 20),
                "a guest's run without its memory limit"
            );
            assert!(
                host.pids_limit.is_some_and(|p| p > 0 && p <= 128),
                "a guest's run without its pids limit"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The permissive rules really let the check run to its end (else the targets would only
    /// ever see the first rule refuse).
    #[test]
    fn the_permissive_policy_admits_what_it_can() {
        let spec = argv::parse(&[
            "--privileged",
            "-v",
            "/:/host",
            "-v",
            "data:/data",
            "--cap-add",
            "sys_admin",
            "--network",
            "host",
            "-p",
            "80:80",
            "--volumes-from",
            "web",
            "127.0.0.1:5000/team/app:1",
        ])
        .unwrap();
        let plan = plan::build(&spec).unwrap();
        let rules = permissive_policy().for_role(Role::Operator);
        let own = HashSet::from(["web".to_string()]);
        let facts = Facts {
            role: Role::Operator,
            own_containers: &own,
            volumes: &HashMap::new(),
        };
        assert_eq!(rules.check(&plan, &facts).map(|_| ()), Ok(()));
        let guest = permissive_policy().for_role(Role::Guest);
        let plan = plan::build(&argv::parse(&["--network", "none", "busybox"]).unwrap()).unwrap();
        let allowed = check_as_admission(guest, Role::Guest, &plan).expect("a guest's run");
        let host = allowed.body.host_config.unwrap();
        assert_eq!(host.memory, Some(256 << 20));
        assert_eq!(host.pids_limit, Some(128));
    }
}
