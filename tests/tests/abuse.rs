//! Protocol abuse, bounded (issue 13), against a real gateway: 2,000 WebSockets at once that
//! never send a first message (closed after the first-message timeout, memory and descriptors
//! bounded), messages of 1 MiB + 1, a binary message before the first text one, ping floods, a
//! flood of slowloris request heads, and 10,000 hostile paths against the static file service,
//! which must never serve a file outside its directory.
//!
//! A single slow head, the per-address limit and a ping before the first message are
//! `hardening.rs`'s; these are the same attacks in bulk, and the ones it has not. Each test's
//! clients connect from loopback addresses of their own (127.0.0.0/8 all reach the gateway), so
//! the per-address limit (256) of one test does not touch another's. The gateway runs in this
//! process: the memory and descriptor figures are the process's, clients included.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use berth_server::Config;
use berth_shared::wire::{ClientMessage, RunRequest, ServerEvent};
use berth_tests::{Client, DOCKER_HOST, FIXTURE, Socket, spawn_gateway};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const ADMIN: &str = "abuse-admin-token";
/// docs/API.md, "Limits": client messages over this close the socket.
const MAX_MESSAGE: usize = 1024 * 1024;

fn gateway_with(mut config: Config) -> SocketAddr {
    config.admin_token = Some(ADMIN.into());
    spawn_gateway(config)
}

fn gateway() -> SocketAddr {
    gateway_with(Config::local(DOCKER_HOST))
}

/// This process's resident memory (KiB) and open descriptors.
fn usage() -> (u64, usize) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    (rss, std::fs::read_dir("/proc/self/fd").unwrap().count())
}

async fn connect_from(ip: IpAddr, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(ip, 0)).unwrap();
    socket.connect(addr).await.unwrap()
}

/// A WebSocket on `path` as the admin, from `ip`.
async fn websocket_from(ip: IpAddr, addr: SocketAddr, path: &str) -> Socket {
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    let bearer = format!("Bearer {ADMIN}").parse().unwrap();
    request.headers_mut().insert("authorization", bearer);
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(connect_from(ip, addr).await);
    // The client's side reads little at a time, so that the process's memory is mostly the
    // gateway's side of each socket.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .unwrap()
        .0
}

/// `GET /api/health` from `ip`: how long the answer took (panics without one within 10 s).
async fn health_latency(ip: IpAddr, addr: SocketAddr) -> Duration {
    let since = Instant::now();
    let mut conn = connect_from(ip, addr).await;
    conn.write_all(b"GET /api/health HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(10), conn.read_exact(&mut buf))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
    since.elapsed()
}

/// A run of `echo <word>` to its end on `socket`: the transcript.
async fn run_echo(socket: Socket, word: &str) -> berth_tests::Transcript {
    let mut client = Client {
        socket,
        transcript: Default::default(),
    };
    let run = RunRequest {
        argv: Some(vec![
            "--rm".into(),
            FIXTURE.into(),
            "echo".into(),
            word.into(),
        ]),
        ..Default::default()
    };
    client.send(&ClientMessage::Run(Box::new(run))).await;
    client.finish().await
}

/// What the server sends on a socket until it closes (60 s at most): its text messages and the
/// close frame's code, if one came.
async fn until_closed(socket: &mut Socket) -> (Vec<String>, Option<u16>) {
    let mut texts = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => panic!("still open after 60 s; it sent {texts:?}"),
            Ok(None) | Ok(Some(Err(_))) => return (texts, None),
            Ok(Some(Ok(Message::Text(t)))) => texts.push(t.to_string()),
            Ok(Some(Ok(Message::Close(frame)))) => {
                return (texts, frame.map(|f| u16::from(f.code)));
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

const SILENT: usize = 2000;
/// The gateway's first-message timeout (server/src/api/ws.rs).
const FIRST_MESSAGE_TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_silent_websockets_are_closed_after_the_timeout() {
    let addr = gateway();
    // One warm-up socket, so that the runtime's and the allocator's first costs are not counted.
    drop(websocket_from(IpAddr::from([127, 21, 0, 1]), addr, "/api/runs/ws").await);
    let before = usage();
    // From ten addresses, 200 each: under the per-address limit of 256.
    let opened = Arc::new(AtomicUsize::new(0));
    let sockets = (0..SILENT).map(|i| {
        let opened = opened.clone();
        tokio::spawn(async move {
            let ip = IpAddr::from([127, 21, 1 + (i % 10) as u8, 1]);
            let mut socket = websocket_from(ip, addr, "/api/runs/ws").await;
            let at = Instant::now();
            opened.fetch_add(1, Ordering::Relaxed);
            let (texts, code) = until_closed(&mut socket).await;
            (at, Instant::now(), texts, code)
        })
    });
    let sockets: Vec<_> = sockets.collect();
    let since = Instant::now();
    while opened.load(Ordering::Relaxed) < SILENT {
        assert!(
            since.elapsed() < Duration::from_secs(25),
            "only {} open",
            opened.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = since.elapsed();
    let open = usage();
    // The gateway still answers, and runs, while they hang on.
    let latency = health_latency(IpAddr::from([127, 21, 100, 1]), addr).await;
    let socket = websocket_from(IpAddr::from([127, 21, 100, 2]), addr, "/api/runs/ws").await;
    let transcript = run_echo(socket, "meanwhile").await;
    assert_eq!(transcript.exit_code(), Some(0), "{:?}", transcript.events);
    assert_eq!(transcript.stdout_str(), "meanwhile\n");

    let mut early_or_late = Vec::new();
    for done in futures_util::future::join_all(sockets).await {
        let (opened_at, closed_at, texts, code) = done.unwrap();
        let lived = closed_at - opened_at;
        let told = texts
            .iter()
            .any(|t| t.contains("no first message within 30 seconds"));
        if lived < FIRST_MESSAGE_TIMEOUT - Duration::from_secs(1)
            || lived > FIRST_MESSAGE_TIMEOUT + Duration::from_secs(15)
            || !told
            || code != Some(1008)
        {
            early_or_late.push((lived, texts, code));
        }
    }
    let after_closed = {
        tokio::time::sleep(Duration::from_secs(2)).await;
        usage()
    };
    let mib = |kib: u64| kib as f64 / 1024.0;
    eprintln!(
        "{SILENT} silent WebSockets opened in {took:?}; process (gateway and clients) before {:.1} MiB / {} fds, with them open {:.1} MiB / {} fds, after they closed {:.1} MiB / {} fds; /api/health meanwhile in {latency:?}",
        mib(before.0),
        before.1,
        mib(open.0),
        open.1,
        mib(after_closed.0),
        after_closed.1
    );
    assert!(
        early_or_late.is_empty(),
        "{} of {SILENT} not closed with the timeout's error at 30 s: {:?}",
        early_or_late.len(),
        &early_or_late[..early_or_late.len().min(3)]
    );
    // Both ends of each socket are in this process: 64 KiB for the two is the bound.
    let grew = open.0.saturating_sub(before.0);
    assert!(
        grew <= SILENT as u64 * 64,
        "{SILENT} idle WebSockets took {:.1} MiB",
        mib(grew)
    );
    assert!(
        after_closed.1 <= before.1 + 16,
        "descriptors: {} before, {} after",
        before.1,
        after_closed.1
    );
}

#[tokio::test]
async fn messages_over_a_mebibyte_close_the_socket_and_a_mebibyte_is_taken() {
    let addr = gateway();
    let ip = |n: u8| IpAddr::from([127, 22, 0, n]);
    // A first message of exactly 1 MiB (a run request padded with spaces) is a run.
    let run = serde_json::to_string(&ClientMessage::Run(Box::new(RunRequest {
        argv: Some(vec![
            "--rm".into(),
            FIXTURE.into(),
            "echo".into(),
            "big".into(),
        ]),
        ..Default::default()
    })))
    .unwrap();
    let padded = |len: usize| format!("{run}{}", " ".repeat(len - run.len()));
    let mut socket = websocket_from(ip(1), addr, "/api/runs/ws").await;
    socket
        .send(Message::text(padded(MAX_MESSAGE)))
        .await
        .unwrap();
    let mut client = Client {
        socket,
        transcript: Default::default(),
    };
    while client.step().await {}
    assert_eq!(
        client.transcript.exit_code(),
        Some(0),
        "{:?}",
        client.transcript.events
    );
    assert_eq!(client.transcript.stdout_str(), "big\n");

    // One byte more: the socket closes, and no run is made.
    let runs_before = runs_count(addr).await;
    let mut socket = websocket_from(ip(2), addr, "/api/runs/ws").await;
    let _ = socket.send(Message::text(padded(MAX_MESSAGE + 1))).await;
    let (texts, code) = until_closed(&mut socket).await;
    assert!(
        texts.iter().all(|t| !t.contains("accepted")),
        "a run from an oversized message: {texts:?}"
    );
    assert_eq!(code, Some(1008), "{texts:?}");
    assert!(texts[0].contains("Message too long"), "{texts:?}");
    // The same as stdin to a running `-i` run: its socket closes; the run goes on.
    let mut socket = websocket_from(ip(3), addr, "/api/runs/ws").await;
    let cat = ClientMessage::Run(Box::new(RunRequest {
        argv: Some(vec![
            "-i".into(),
            "--rm".into(),
            FIXTURE.into(),
            "sh".into(),
            "-c".into(),
            "head -c 4 >/dev/null; echo fed".into(),
        ]),
        ..Default::default()
    }));
    socket
        .send(Message::text(serde_json::to_string(&cat).unwrap()))
        .await
        .unwrap();
    let mut client = Client {
        socket,
        transcript: Default::default(),
    };
    client.until(|t| t.kinds().contains(&"started")).await;
    let run_id = client.transcript.run_id().unwrap();
    let _ = client
        .socket
        .send(Message::binary(vec![b'x'; MAX_MESSAGE + 1]))
        .await;
    let (_, code) = until_closed(&mut client.socket).await;
    assert_eq!(
        code,
        Some(1009),
        "1 MiB + 1 of stdin closes with 1009 (message too big)"
    );
    assert_eq!(
        runs_count(addr).await,
        runs_before + 1,
        "only the -i run was made"
    );
    // The run is still there for a watcher, and takes input from it.
    let mut watcher = Client::watch_as(addr, ADMIN, &run_id).await;
    watcher.send_stdin(b"abcd").await;
    let t = watcher.finish().await;
    assert_eq!(t.exit_code(), Some(0), "{:?}", t.events);
    assert_eq!(t.stdout_str(), "fed\n");
    let _ = health_latency(ip(4), addr).await;
}

/// How many runs the gateway lists.
async fn runs_count(addr: SocketAddr) -> usize {
    let listing =
        berth_tests::json_of(berth_tests::http_as(ADMIN).get(format!("http://{addr}/api/runs")))
            .await;
    listing.as_array().unwrap().len()
}

#[tokio::test]
async fn a_binary_message_first_is_refused_and_makes_no_run() {
    let addr = gateway();
    let runs_before = runs_count(addr).await;
    for (n, path) in [(1u8, "/api/runs/ws")] {
        let mut socket = websocket_from(IpAddr::from([127, 23, 0, n]), addr, path).await;
        let run = serde_json::to_vec(&ClientMessage::Run(Box::new(RunRequest {
            argv: Some(vec![FIXTURE.into(), "true".into()]),
            ..Default::default()
        })))
        .unwrap();
        // A run request, but as a binary message: not a first message.
        socket.send(Message::binary(run)).await.unwrap();
        let (texts, code) = until_closed(&mut socket).await;
        assert_eq!(code, Some(1008), "{texts:?}");
        let event: ServerEvent = serde_json::from_str(&texts[0]).unwrap();
        assert!(
            matches!(&event, ServerEvent::Error { code: 125, message } if message.contains("must be a JSON text message")),
            "{event:?}"
        );
    }
    assert_eq!(runs_count(addr).await, runs_before);
}

const PINGS: usize = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_floods_are_answered_within_bounds_and_the_run_goes_on() {
    let addr = gateway();
    let before = usage();
    // Before the first message, a client that floods pings and reads none of the pongs: the
    // gateway stops reading once its answers back up (TCP pushes back), holding one pong.
    let socket = websocket_from(IpAddr::from([127, 24, 0, 1]), addr, "/api/runs/ws").await;
    let (mut sink, mut stream) = socket.split();
    let mut sent = 0;
    let flood = async {
        for i in 0..PINGS {
            sink.send(Message::Ping(vec![(i % 251) as u8; 125].into()))
                .await
                .unwrap();
            sent += 1;
        }
    };
    let blocked = tokio::time::timeout(Duration::from_secs(10), flood)
        .await
        .is_err();
    let during = usage();
    eprintln!("{sent} pings sent before the first message without reading (blocked: {blocked})");
    // Now it reads: pongs (at most one per ping), and the socket takes its first message.
    let reading = tokio::spawn(async move {
        let mut pongs = 0usize;
        let mut texts = Vec::new();
        let mut stdout = Vec::new();
        while let Ok(Some(Ok(msg))) =
            tokio::time::timeout(Duration::from_secs(60), stream.next()).await
        {
            match msg {
                Message::Pong(_) => pongs += 1,
                Message::Text(t) => texts.push(t.to_string()),
                Message::Binary(b) => stdout.extend_from_slice(&b[1..]),
                Message::Close(_) => break,
                _ => {}
            }
        }
        (pongs, texts, stdout)
    });
    // Let the reader drain what backed up before sending more.
    for i in sent..PINGS {
        sink.send(Message::Ping(vec![(i % 251) as u8; 125].into()))
            .await
            .unwrap();
    }
    let run = ClientMessage::Run(Box::new(RunRequest {
        argv: Some(vec![
            "--rm".into(),
            FIXTURE.into(),
            "sh".into(),
            "-c".into(),
            "sleep 1; echo survived".into(),
        ]),
        ..Default::default()
    }));
    sink.send(Message::text(serde_json::to_string(&run).unwrap()))
        .await
        .unwrap();
    // And another flood while the run goes on.
    for i in 0..PINGS {
        sink.send(Message::Ping(vec![(i % 251) as u8; 125].into()))
            .await
            .unwrap();
    }
    let (pongs, texts, stdout) = reading.await.unwrap();
    let after = usage();
    eprintln!(
        "{} pings in all, {pongs} pongs; process before {} KiB, during {} KiB, after {} KiB",
        2 * PINGS,
        before.0,
        during.0,
        after.0
    );
    assert!((1..=2 * PINGS).contains(&pongs), "{pongs} pongs");
    assert!(
        texts
            .iter()
            .any(|t| t.contains("\"exit\"") && t.contains("\"code\":0")),
        "{texts:?}"
    );
    assert_eq!(String::from_utf8_lossy(&stdout), "survived\n");
    let grew = during.0.max(after.0).saturating_sub(before.0);
    assert!(grew <= 32 * 1024, "ping floods took {} KiB", grew);
}

const SLOW_HEADS: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_slow_request_heads_are_cut_off_and_others_are_served() {
    let addr = gateway();
    let started = Instant::now();
    // 1,000 connections from five addresses (200 each), each sending a head a few bytes at a
    // time, never finishing it.
    let heads = (0..SLOW_HEADS).map(|i| {
        tokio::spawn(async move {
            let ip = IpAddr::from([127, 25, 1 + (i % 5) as u8, 1]);
            let mut conn = connect_from(ip, addr).await;
            let opened = Instant::now();
            let _ = conn
                .write_all(b"GET /api/health HTTP/1.1\r\nHost: berth\r\n")
                .await;
            let mut buf = [0u8; 256];
            for line in 0.. {
                match tokio::time::timeout(Duration::from_secs(1), conn.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return Some(opened.elapsed()),
                    Ok(Ok(_)) => return Some(opened.elapsed()),
                    Err(_) => {}
                }
                if opened.elapsed() > Duration::from_secs(30) {
                    return None;
                }
                let header = format!("X-{line}: {line}\r\n");
                if conn.write_all(header.as_bytes()).await.is_err() {
                    return Some(opened.elapsed());
                }
            }
            None
        })
    });
    let heads: Vec<_> = heads.collect();
    // Meanwhile another address is served promptly.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut latencies = Vec::new();
    for n in 0..5 {
        latencies.push(health_latency(IpAddr::from([127, 25, 100, 1 + n]), addr).await);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let mut lived = Vec::new();
    for h in futures_util::future::join_all(heads).await {
        lived.push(h.unwrap());
    }
    let open: Vec<_> = lived.iter().filter(|l| l.is_none()).collect();
    assert!(
        open.is_empty(),
        "{} slow heads still open after 30 s",
        open.len()
    );
    let lived: Vec<Duration> = lived.into_iter().flatten().collect();
    let (shortest, longest) = (lived.iter().min().unwrap(), lived.iter().max().unwrap());
    eprintln!(
        "{SLOW_HEADS} slow heads cut off after {shortest:?} to {longest:?} ({:?} in all); /api/health meanwhile {latencies:?}",
        started.elapsed()
    );
    assert!(
        *shortest >= Duration::from_secs(9),
        "cut off after {shortest:?}: by the head's deadline (10 s), not before"
    );
    assert!(*longest <= Duration::from_secs(20), "one lived {longest:?}");
    for l in &latencies {
        assert!(
            *l < Duration::from_secs(2),
            "/api/health took {l:?} during the flood"
        );
    }
}

const PATHS: usize = 10_000;

/// xorshift64*: reproducible noise without a dependency.
struct Noise(u64);

impl Noise {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64) as usize
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

/// A hostile path: segments that climb (`..` in every spelling: encoded, double-encoded,
/// overlong UTF-8, fullwidth, with NUL or `;`), names of the canary files, separators (`/`,
/// encoded `/`, backslashes), absolute paths, unicode and very long segments.
fn hostile_path(noise: &mut Noise, dir: &str) -> String {
    let climbs = [
        "..",
        "%2e%2e",
        "%2E%2E",
        ".%2e",
        "%2e.",
        "%252e%252e",
        "%c0%ae%c0%ae",
        "%e0%80%ae%e0%80%ae",
        "..%00",
        "%00..",
        "..;",
        "...",
        "....",
        "%u002e%u002e",
        "%ef%bc%8e%ef%bc%8e",
        "．．",
        "..%2f..",
        "..%5c..",
        "..\\..",
        "%2e%2e%2f",
        "%2e%2e%5c",
        ".%00.",
        "..%c0%af",
        "..%25%32%66",
    ];
    let names = [
        "canary.txt",
        "secret.txt",
        "dist2",
        "dist.txt",
        "site",
        "etc",
        "passwd",
        "shadow",
        "proc",
        "self",
        "environ",
        "sub",
        "dir",
        "file.txt",
        "index.html",
        "app.js",
        ".",
        "",
        "~",
        "ü",
        "%ff",
        "%00",
        "a%00.txt",
        "%2f",
        "%5c",
        "\\",
        "%2fetc%2fpasswd",
        "CANARY.TXT",
        "canary.txt%00.html",
        "canary.txt;.js",
        "canary.txt%20",
        "canary%2etxt",
    ];
    let separators = ["/", "/", "/", "//", "\\", "%2f", "%2F", "%5c", "/./"];
    let mut path = String::new();
    path.push_str(match noise.below(6) {
        0 => "//",
        1 => dir,
        2 => "/%2e/",
        _ => "/",
    });
    for _ in 0..1 + noise.below(12) {
        let segment = match noise.below(10) {
            0..5 => noise.pick(&climbs).to_string(),
            5..9 => noise.pick(&names).to_string(),
            _ => "x".repeat(1 + noise.below(300)),
        };
        path.push_str(&segment);
        path.push_str(noise.pick(&separators));
    }
    path.push_str(noise.pick(&[
        "canary.txt",
        "secret.txt",
        "passwd",
        "dist.txt",
        "",
        "index.html",
    ]));
    if noise.below(50) == 0 {
        // Long: a few KiB of climbing.
        path = format!("{}{path}", "../".repeat(1000 + noise.below(2000)));
    }
    path
}

/// Sends `GET <path>` on a new connection from `ip` and reads the whole answer (the
/// connection closes after it): status code and body, or `None` when the gateway closed without
/// an answer.
async fn raw_get(ip: IpAddr, addr: SocketAddr, path: &[u8]) -> Option<(u16, Vec<u8>, String)> {
    let mut conn = connect_from(ip, addr).await;
    let mut request = b"GET ".to_vec();
    request.extend_from_slice(path);
    request.extend_from_slice(b" HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n");
    if conn.write_all(&request).await.is_err() {
        return None;
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), conn.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "no end of answer within 20 s for {:?}",
        String::from_utf8_lossy(path)
    );
    let text = String::from_utf8_lossy(&answer);
    let status = text.get(9..12)?.parse().ok()?;
    let (head, body) = match answer.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(at) => (&answer[..at], answer[at + 4..].to_vec()),
        None => (&answer[..], Vec::new()),
    };
    let location = String::from_utf8_lossy(head)
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("location")
                .then(|| value.trim().to_string())
        })
        .unwrap_or_default();
    Some((status, body, location))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_hostile_paths_never_leave_the_static_dir() {
    // site/dist is the static dir; canaries beside it, above it, and in a sibling whose name
    // begins with the static dir's (a prefix check that forgets the separator would serve it).
    let site = std::env::temp_dir().join(format!("berth-abuse-static-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&site);
    let dist = site.join("dist");
    std::fs::create_dir_all(dist.join("sub/dir")).unwrap();
    std::fs::create_dir_all(site.join("dist2")).unwrap();
    let canary = format!("CANARY-{}-never-served", std::process::id());
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><title>index</title>",
    )
    .unwrap();
    std::fs::write(dist.join("app.js"), "console.log('app')").unwrap();
    std::fs::write(dist.join("sub/dir/file.txt"), "inside").unwrap();
    for outside in [
        "canary.txt",
        "secret.txt",
        "dist.txt",
        "dist2/secret.txt",
        "dist2/canary.txt",
    ] {
        std::fs::write(site.join(outside), &canary).unwrap();
    }
    let mut config = Config::local(DOCKER_HOST);
    config.static_dir = dist.clone();
    let addr = gateway_with(config);
    let dir = dist.to_str().unwrap().to_string();
    let ip = |n: usize| IpAddr::from([127, 26, (n / 200) as u8, 1 + (n % 200) as u8]);

    // The controls: a file inside is served, an unknown path is the dashboard's index.
    let (status, body, _) = raw_get(ip(0), addr, b"/sub/dir/file.txt").await.unwrap();
    assert_eq!((status, body.as_slice()), (200, &b"inside"[..]));
    let (status, _, location) = raw_get(ip(0), addr, b"/sub").await.unwrap();
    assert_eq!(
        (status, location.as_str()),
        (307, "/sub/"),
        "a directory redirects to itself with a slash"
    );
    let (status, _, location) = raw_get(ip(0), addr, b"//sub").await.unwrap();
    assert!(
        status == 404 && location.is_empty(),
        "//sub: {status} to {location:?}, not to the host `sub`"
    );
    let (status, body, _) = raw_get(ip(0), addr, b"/no/such/page").await.unwrap();
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("<title>index</title>"));

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed:#x}");
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let workers = (0..16).map(|w| {
        let (next, dir, canary) = (next.clone(), dir.clone(), canary.clone());
        tokio::spawn(async move {
            let mut noise = Noise(seed ^ (w as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
            let (mut leaked, mut failed, mut offsite) = (Vec::new(), Vec::new(), Vec::new());
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= PATHS {
                    break;
                }
                let path = hostile_path(&mut noise, &dir);
                let Some((status, body, location)) =
                    raw_get(ip(n % 2000), addr, path.as_bytes()).await
                else {
                    *statuses.entry(0).or_default() += 1;
                    continue;
                };
                *statuses.entry(status).or_default() += 1;
                let body = String::from_utf8_lossy(&body);
                if body.contains(&canary) || body.contains("root:x:0:0") {
                    leaked.push((status, path));
                } else if status >= 500 {
                    // A client's path is never the server's fault.
                    failed.push((status, path));
                } else if !location.is_empty()
                    && (!location.starts_with('/')
                        || location.starts_with("//")
                        || location.starts_with("/\\"))
                {
                    // A redirect stays on the site.
                    offsite.push((location, path));
                }
            }
            (statuses, leaked, failed, offsite)
        })
    });
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let (mut leaked, mut failed, mut offsite) = (Vec::new(), Vec::new(), Vec::new());
    for done in futures_util::future::join_all(workers).await {
        let (s, l, f, o) = done.unwrap();
        for (k, v) in s {
            *statuses.entry(k).or_default() += v;
        }
        leaked.extend(l);
        failed.extend(f);
        offsite.extend(o);
    }
    eprintln!(
        "{PATHS} hostile paths in {:?}; statuses (0: closed without an answer) {statuses:?}",
        started.elapsed()
    );
    assert!(
        leaked.is_empty(),
        "served from outside the static dir: {leaked:?}"
    );
    assert!(
        failed.is_empty(),
        "{} server errors, e.g. {:?}",
        failed.len(),
        examples(&failed)
    );
    assert!(
        offsite.is_empty(),
        "{} redirects off the site, e.g. {:?}",
        offsite.len(),
        examples(&offsite)
    );
    assert_eq!(statuses.values().sum::<usize>(), PATHS);
    let _ = std::fs::remove_dir_all(&site);
}

/// The first few of `found`, paths cut short, for a failure message.
fn examples<T: std::fmt::Debug>(found: &[(T, String)]) -> Vec<String> {
    found
        .iter()
        .take(3)
        .map(|(what, path)| format!("{what:?} {}", &path[..path.len().min(120)]))
        .collect()
}
