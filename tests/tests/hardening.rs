//! Attacks on the gateway itself, through the real gateway: sign-in floods (memory, disk, and
//! locking a user out), slow request heads and connection floods, and a WebSocket ping before
//! the first message. Each client address is its own loopback address (127.0.0.0/8 all reach
//! the gateway on Linux), so the per-address limits of one test do not touch another's.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use berth_server::Config;
use berth_server::auth::sign_in::{ADDRESS_BURST, ADDRESS_EVERY};
use berth_shared::wire::{ClientMessage, RunRequest};
use berth_tests::{Client, DOCKER_HOST, FIXTURE, http_as, spawn_gateway, status_and_json};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;

const ADMIN: &str = "hardening-admin-token";
const USER: &str = "ann";
const PASSWORD: &str = "correct horse battery";
const TOO_MANY: &str = "too many failed sign-ins; try again in a few minutes";

/// A gateway of its own with one user, `ann`.
async fn gateway(config: Config) -> SocketAddr {
    let mut config = config;
    config.admin_token = Some(ADMIN.into());
    let addr = spawn_gateway(config);
    let user = json!({"username": USER, "password": PASSWORD, "role": "operator"});
    let create = http_as(ADMIN).post(format!("http://{addr}/api/users"));
    let (status, body) = status_and_json(create.json(&user)).await;
    assert_eq!(status, 201, "{body}");
    addr
}

/// An HTTP client whose connections come from `ip` (a loopback address).
fn client_from(ip: &str) -> reqwest::Client {
    let ip: IpAddr = ip.parse().unwrap();
    reqwest::Client::builder()
        .local_address(ip)
        .build()
        .unwrap()
}

/// `POST /api/login` from `client`: the status and the JSON body.
async fn sign_in(
    client: &reqwest::Client,
    addr: SocketAddr,
    username: &str,
    password: &str,
) -> (u16, Value) {
    let credentials = json!({"username": username, "password": password});
    let login = client.post(format!("http://{addr}/api/login"));
    status_and_json(login.json(&credentials)).await
}

/// The whole audit log, newest first.
async fn audit(addr: SocketAddr) -> Vec<Value> {
    let get = http_as(ADMIN).get(format!("http://{addr}/api/audit?limit=100000"));
    let (status, entries) = status_and_json(get).await;
    assert_eq!(status, 200, "{entries}");
    entries.as_array().unwrap().clone()
}

/// Text that is no username (too long, capitals): `n` characters, different every call.
fn junk_username(n: usize) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEED: AtomicU64 = AtomicU64::new(0x2545_f491_4f6c_dd1d);
    let mut x = SEED.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed) | 1;
    (0..n)
        .map(|_| {
            // xorshift64: cheap noise, so that no two usernames compress alike.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                    [(x % 62) as usize],
            )
        })
        .collect()
}

#[tokio::test]
async fn huge_usernames_are_refused_as_wrong_passwords_and_stored_nowhere() {
    let addr = gateway(Config::local(DOCKER_HOST)).await;
    let (status, wrong_password) =
        sign_in(&client_from("127.0.0.1"), addr, USER, "not the password").await;
    assert_eq!(status, 401);
    let before = audit(addr).await;

    // A megabyte of username each, from a few addresses, each within its address's burst.
    for ip in ["127.0.1.1", "127.0.1.2", "127.0.1.3"] {
        let client = client_from(ip);
        for _ in 0..ADDRESS_BURST {
            let username = junk_username(1_000_000);
            let (status, body) = sign_in(&client, addr, &username, "whatever").await;
            assert_eq!(status, 401, "{ip}");
            assert_eq!(body, wrong_password, "answered exactly as a wrong password");
        }
    }

    let after = audit(addr).await;
    let added: Vec<usize> = after[..after.len() - before.len()]
        .iter()
        .map(|e| e.to_string().len())
        .collect();
    assert!(
        added.is_empty(),
        "new audit rows, of these sizes: {added:?}"
    );
}

#[tokio::test]
async fn audit_fields_keep_at_most_256_characters() {
    let addr = gateway(Config::local(DOCKER_HOST)).await;
    // An unauthenticated request is audited with its path (below /api) as the target.
    let path = format!("/api/runs/{}", "x".repeat(5000));
    let get = client_from("127.0.2.1").get(format!("http://{addr}{path}"));
    let (status, _) = status_and_json(get).await;
    assert_eq!(status, 401);

    let entries = audit(addr).await;
    let refused = entries
        .iter()
        .find(|e| e["action"] == "auth" && e["target"].as_str().unwrap().contains("xxxx"))
        .expect("the refused request is audited");
    let target = refused["target"].as_str().unwrap();
    let start: String = target.chars().take(40).collect();
    let shown = || format!("{} characters: {start}…", target.chars().count());
    assert_eq!(target.chars().count(), 256, "{}", shown());
    assert!(target.ends_with('…'), "{}", shown());
    assert!(path.contains(target.trim_end_matches('…')), "{}", shown());
    for entry in &entries {
        for (field, value) in entry.as_object().unwrap() {
            if let Some(text) = value.as_str() {
                assert!(text.chars().count() <= 256, "{field} of {entry}");
            }
        }
    }
}

#[tokio::test]
async fn one_address_trying_many_usernames_is_refused_after_its_burst() {
    let addr = gateway(Config::local(DOCKER_HOST)).await;
    let sprayer = client_from("127.0.3.1");
    // Names that could exist (each costs an argon2 verification), one more than the burst,
    // all at once. The refusal needs no verification, so it is the first answer back, long
    // before the address could have earned another try.
    let mut attempts: futures_util::stream::FuturesUnordered<_> = (0..=ADDRESS_BURST)
        .map(|i| {
            let sprayer = sprayer.clone();
            async move { sign_in(&sprayer, addr, &format!("spray{i}"), "password1").await }
        })
        .collect();
    let (status, body) = attempts.next().await.unwrap();
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["message"], TOO_MANY);
    // Even with the right password: the address, not the name, is out of attempts.
    let (status, _) = sign_in(&sprayer, addr, USER, PASSWORD).await;
    assert_eq!(status, 429);
    let answers: Vec<_> = attempts.collect().await;
    assert_eq!(answers.len(), ADDRESS_BURST as usize);
    for (status, body) in &answers {
        assert_eq!(*status, 401, "{body}");
    }
}

#[tokio::test]
async fn hammering_a_username_from_one_address_does_not_lock_its_user_out() {
    let addr = gateway(Config::local(DOCKER_HOST)).await;
    let attacker = client_from("127.0.4.1");
    let mut refused_after = None;
    let started = Instant::now();
    for attempt in 0..ADDRESS_BURST + 10 {
        let (status, body) = sign_in(&attacker, addr, USER, "not the password").await;
        match status {
            401 => continue,
            429 => {
                assert_eq!(body["error"]["message"], TOO_MANY);
                refused_after = Some(attempt);
                break;
            }
            other => panic!("HTTP {other}: {body}"),
        }
    }
    // The burst, and one more try per ADDRESS_EVERY the burst took (argon2 is slow in a
    // debug build on a busy machine).
    let refilled = (started.elapsed().as_secs_f64() / ADDRESS_EVERY.as_secs_f64()) as u32;
    let refused_after = refused_after.expect("429 at last");
    assert!(
        (ADDRESS_BURST..=ADDRESS_BURST + refilled).contains(&refused_after),
        "the attacker's address gets its burst of tries, then 429: refused after {refused_after}, {refilled} refilled"
    );

    // Ann, from her own address, signs in with her password as ever.
    let ann = client_from("127.0.4.2");
    let (status, me) = sign_in(&ann, addr, USER, PASSWORD).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["username"], USER);
    // The gateway sees each client's own address (ConnectInfo through the server loop).
    let entries = audit(addr).await;
    let signed_in = entries
        .iter()
        .find(|e| e["action"] == "login" && e["outcome"] == "ok")
        .expect("her sign-in is audited");
    let remote = signed_in["remote"].as_str().unwrap();
    assert!(remote.starts_with("127.0.4.2:"), "{remote}");
}

/// A TCP connection to `addr` from `ip`.
async fn connect_from(ip: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Whether the server closed `conn` within `within` (end of stream, or a reset), with
/// whatever it sent first.
async fn closed_within(conn: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, conn.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// Sends `GET /api/health` on `conn`: whether a response comes back.
async fn served(conn: &mut TcpStream) -> bool {
    let request = b"GET /api/health HTTP/1.1\r\nHost: berth\r\n\r\n";
    if conn.write_all(request).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 12];
    let read = tokio::time::timeout(Duration::from_secs(10), conn.read_exact(&mut buf)).await;
    matches!(read, Ok(Ok(_))) && buf.starts_with(b"HTTP/1.1 200")
}

#[tokio::test]
async fn a_request_head_sent_slowly_is_cut_off() {
    let addr = gateway(Config::local(DOCKER_HOST)).await;
    let mut conn = connect_from("127.0.5.1", addr).await;
    let started = Instant::now();
    // A partial request line, then a header line every 2 seconds, never the blank line.
    conn.write_all(b"GET /api/health HT").await.unwrap();
    let mut closed = false;
    for line in 0.. {
        if closed_within(&mut conn, Duration::from_secs(2)).await {
            closed = true;
            break;
        }
        if started.elapsed() > Duration::from_secs(20) {
            break;
        }
        let header = if line == 0 {
            "TP/1.1\r\nHost: berth\r\n".to_string()
        } else {
            format!("X-Slow-{line}: {line}\r\n")
        };
        if conn.write_all(header.as_bytes()).await.is_err() {
            closed = true;
            break;
        }
    }
    let elapsed = started.elapsed();
    assert!(closed, "still open after {elapsed:?}");
    assert!(
        elapsed <= Duration::from_secs(15),
        "closed only after {elapsed:?}"
    );
    assert!(
        elapsed >= Duration::from_secs(8),
        "closed after {elapsed:?}: by the head's deadline, not as a bad request"
    );
}

#[tokio::test]
async fn connections_over_the_per_address_limit_are_closed_at_once() {
    let mut config = Config::local(DOCKER_HOST);
    config.max_connections_per_address = 8;
    let addr = gateway(config).await;
    // Eight idle connections: the most one address may hold.
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(connect_from("127.0.6.1", addr).await);
    }
    let mut ninth = connect_from("127.0.6.1", addr).await;
    let started = Instant::now();
    assert!(
        closed_within(&mut ninth, Duration::from_secs(5)).await,
        "the ninth connection stays open"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // Another address is served meanwhile, and so are the eight.
    let mut other = connect_from("127.0.6.2", addr).await;
    assert!(served(&mut other).await, "a connection from 127.0.6.2");
    for conn in &mut idle {
        assert!(served(conn).await, "one of the eight");
    }

    // Once they close, the address may connect again (the gateway notices when it reads).
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut again = connect_from("127.0.6.1", addr).await;
        if served(&mut again).await {
            break;
        }
        assert!(Instant::now() < deadline, "127.0.6.1 never served again");
    }
}

#[tokio::test]
async fn websockets_count_against_the_per_address_limit() {
    let mut config = Config::local(DOCKER_HOST);
    config.max_connections_per_address = 2;
    let addr = gateway(config).await;
    // Two WebSockets from an address of their own (the set-up's connection from 127.0.0.1 may
    // not be closed yet), upgraded and waiting for their first message.
    let websocket = async || {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://{addr}/api/runs/ws")
            .into_client_request()
            .unwrap();
        let bearer = format!("Bearer {ADMIN}").parse().unwrap();
        request.headers_mut().insert("authorization", bearer);
        let stream = connect_from("127.0.7.1", addr).await;
        tokio_tungstenite::client_async(request, stream)
            .await
            .unwrap()
            .0
    };
    let first = websocket().await;
    let second = websocket().await;
    let mut third = connect_from("127.0.7.1", addr).await;
    assert!(
        closed_within(&mut third, Duration::from_secs(5)).await,
        "a third connection while two WebSockets are open"
    );
    drop((first, second));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut again = connect_from("127.0.7.1", addr).await;
        if served(&mut again).await {
            break;
        }
        assert!(Instant::now() < deadline, "never served again");
    }
}

#[tokio::test]
async fn a_ping_before_the_first_message_is_answered_and_the_run_goes_on() {
    let addr = gateway(Config::local(DOCKER_HOST)).await;
    let mut client = Client::connect_to(addr, "/api/runs/ws", ADMIN)
        .await
        .expect("WebSocket connects");
    client
        .socket
        .send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), client.socket.next())
        .await
        .expect("an answer to the ping within 10 s");
    match answer {
        Some(Ok(Message::Pong(payload))) => assert_eq!(&payload[..], b"are you there"),
        other => panic!("expected a pong, got {other:?}"),
    }
    let run = RunRequest {
        argv: Some(vec![
            "--rm".into(),
            FIXTURE.into(),
            "echo".into(),
            "after the ping".into(),
        ]),
        ..Default::default()
    };
    client.send(&ClientMessage::Run(Box::new(run))).await;
    let transcript = client.finish().await;
    assert_eq!(transcript.exit_code(), Some(0), "{:?}", transcript.events);
    assert_eq!(transcript.stdout_str(), "after the ping\n");
}

/// A WebSocket upgrade from `ip`: the HTTP status it is answered with (101 when it upgraded).
async fn upgrade_status(ip: &str, addr: SocketAddr) -> u16 {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{addr}/api/runs/ws")
        .into_client_request()
        .unwrap();
    let bearer = format!("Bearer {ADMIN}").parse().unwrap();
    request.headers_mut().insert("authorization", bearer);
    let stream = connect_from(ip, addr).await;
    match tokio_tungstenite::client_async(request, stream).await {
        Ok((_socket, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("upgrade from {ip}: {e}"),
    }
}

#[tokio::test]
async fn websocket_upgrades_are_limited_per_address() {
    let mut config = Config::local(DOCKER_HOST);
    config.max_websockets_per_second = std::num::NonZeroU32::new(1).unwrap();
    let addr = gateway(config).await;
    // A burst of ten seconds' worth, then one a second.
    for i in 0..10 {
        assert_eq!(upgrade_status("127.0.8.1", addr).await, 101, "upgrade {i}");
    }
    assert_eq!(
        upgrade_status("127.0.8.1", addr).await,
        429,
        "past the burst"
    );
    assert_eq!(
        upgrade_status("127.0.8.2", addr).await,
        101,
        "another address"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        upgrade_status("127.0.8.1", addr).await,
        101,
        "a second later"
    );
}

/// The failed sign-ins of `username` in the audit log: the addresses they came from.
async fn sign_in_addresses(addr: SocketAddr, username: &str) -> Vec<String> {
    audit(addr)
        .await
        .iter()
        .filter(|e| e["action"] == "login" && e["target"] == username)
        .map(|e| e["remote"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    let mut config = Config::local(DOCKER_HOST);
    config.trusted_proxies = "127.0.9.1".parse().unwrap();
    config.max_connections_per_address = 2;
    let addr = gateway(config).await;
    let forwarded = |client: &reqwest::Client, xff: &str| {
        let credentials = json!({"username": USER, "password": "wrong"});
        client
            .post(format!("http://{addr}/api/login"))
            .header("x-forwarded-for", xff)
            .json(&credentials)
            .send()
    };
    // Through the proxy: the client it names, not the client's own claim left of it.
    let proxy = client_from("127.0.9.1");
    let r = forwarded(&proxy, "6.6.6.6, 203.0.113.7").await.unwrap();
    assert_eq!(r.status(), 401);
    // Straight from a client: its header is ignored.
    let direct = client_from("127.0.9.2");
    let r = forwarded(&direct, "203.0.113.8").await.unwrap();
    assert_eq!(r.status(), 401);
    let remotes = sign_in_addresses(addr, USER).await;
    assert!(
        remotes.iter().any(|r| r.starts_with("203.0.113.7:")),
        "{remotes:?}"
    );
    assert!(
        remotes.iter().any(|r| r.starts_with("127.0.9.2:")),
        "{remotes:?}"
    );
    assert!(
        !remotes
            .iter()
            .any(|r| r.contains("6.6.6.6") || r.contains("203.0.113.8")),
        "{remotes:?}"
    );

    // Sign-in limits count the forwarded client: its burst runs out, another's does not. All
    // at once, so that the allowance does not refill while argon2 verifies the passwords.
    let statuses = futures_util::future::join_all(
        (0..ADDRESS_BURST + 5).map(|_| forwarded(&proxy, "203.0.113.9")),
    )
    .await;
    assert!(
        statuses.iter().any(|r| r.as_ref().unwrap().status() == 429),
        "203.0.113.9 kept signing in past its burst"
    );
    let r = forwarded(&proxy, "203.0.113.10").await.unwrap();
    assert_eq!(r.status(), 401, "another client behind the same proxy");

    // The proxy carries many clients' connections: the per-address limit is not its.
    let mut open = Vec::new();
    for _ in 0..5 {
        open.push(connect_from("127.0.9.1", addr).await);
    }
    for conn in &mut open {
        assert!(
            served(conn).await,
            "a proxy connection over the per-address limit"
        );
    }
}
