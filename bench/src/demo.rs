//! Demo environments as visitors see them: `POST /api/templates/{name}/sessions` as an
//! anonymous guest, then the session's run WebSocket until its first output byte.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use berth_shared::wire::ClientMessage;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::berth::Credential;

/// The guest cookie the gateway sets on an anonymous visitor's first session.
const GUEST_COOKIE: &str = "berth_guest";
/// How long a visitor waits for its terminal's first byte before giving up.
const PATIENCE: Duration = Duration::from_secs(120);

/// An HTTP answer.
pub struct Reply {
    pub status: u16,
    /// The `berth_guest` cookie it set, as a `Cookie` header's value.
    pub guest_cookie: Option<String>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// One HTTP/1.0 request (the body ends at the close), as `credential` or anonymous.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    credential: Option<&Credential>,
    body: Option<&str>,
) -> std::io::Result<Reply> {
    let mut s = TcpStream::connect(addr).await?;
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: berth\r\n");
    if let Some(c) = credential {
        let (name, value) = c.header();
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "POST" || method == "PUT" {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    head.push_str(body);
    s.write_all(head.as_bytes()).await?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await?;
    let answer = String::from_utf8_lossy(&answer);
    let (headers, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let mut lines = headers.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let guest_cookie = lines
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("set-cookie"))
        .filter_map(|(_, value)| value.trim().split(';').next())
        .find(|pair| pair.starts_with(&format!("{GUEST_COOKIE}=")))
        .map(str::to_string);
    Ok(Reply {
        status,
        guest_cookie,
        body: body.to_string(),
    })
}

/// What one visitor saw.
pub struct Arrival {
    /// From sending the POST to its answer.
    pub answered: Duration,
    /// From sending the POST to the WebSocket's upgrade answer.
    pub connected: Option<Duration>,
    /// From sending the POST to the first output byte on the run's WebSocket.
    pub first_byte: Option<Duration>,
    /// The answer's `warm`: the session took a ready container.
    pub warm: bool,
    pub session_id: Option<String>,
    pub error: Option<String>,
}

/// A new anonymous visitor opens a session of `template` (an 80×24 terminal, as the dashboard
/// asks for), watches its run and stops at the first output byte.
pub async fn arrive(addr: SocketAddr, template: &str) -> Arrival {
    let started = Instant::now();
    let mut a = Arrival {
        answered: Duration::ZERO,
        connected: None,
        first_byte: None,
        warm: false,
        session_id: None,
        error: None,
    };
    let path = format!("/api/templates/{template}/sessions");
    let reply = http(addr, "POST", &path, None, Some(r#"{"cols":80,"rows":24}"#)).await;
    a.answered = started.elapsed();
    let reply = match reply {
        Ok(r) => r,
        Err(e) => {
            a.error = Some(format!("POST: {e}"));
            return a;
        }
    };
    let info = reply.json();
    a.session_id = info["session_id"].as_str().map(str::to_string);
    a.warm = info["warm"] == true;
    let (Some(run_id), Some(cookie), 201) = (
        info["run_id"].as_str(),
        reply.guest_cookie.as_ref(),
        reply.status,
    ) else {
        a.error = Some(format!("POST {path}: {} {}", reply.status, reply.body));
        return a;
    };
    let credential = Credential::Cookie(cookie.clone());
    let watching = first_output(addr, run_id, &credential, &mut a.connected, started);
    match tokio::time::timeout(PATIENCE, watching).await {
        Ok(Ok(())) => a.first_byte = Some(started.elapsed()),
        Ok(Err(e)) => a.error = Some(e),
        Err(_) => a.error = Some(format!("no output within {} s", PATIENCE.as_secs())),
    }
    a
}

/// Watches the run until its first output byte (a binary frame `[stream, bytes…]` with bytes),
/// then closes; `connected` is when the upgrade was answered, since `started`.
async fn first_output(
    addr: SocketAddr,
    run_id: &str,
    credential: &Credential,
    connected: &mut Option<Duration>,
    started: Instant,
) -> Result<(), String> {
    let mut request = format!("ws://{addr}/api/runs/{run_id}/ws")
        .into_client_request()
        .expect("a valid URL");
    let (name, value) = credential.header();
    request
        .headers_mut()
        .insert(name, value.parse().expect("a header value"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    *connected = Some(started.elapsed());
    let watch = serde_json::to_string(&ClientMessage::Watch { from: None }).expect("serialises");
    socket
        .send(Message::text(watch))
        .await
        .map_err(|e| format!("send: {e}"))?;
    while let Some(msg) = socket.next().await {
        match msg.map_err(|e| format!("read: {e}"))? {
            Message::Binary(b) if b.len() > 1 => {
                let _ = socket.close(None).await;
                return Ok(());
            }
            Message::Close(_) => return Err("closed before any output".into()),
            _ => {}
        }
    }
    Err("the connection ended before any output".into())
}
