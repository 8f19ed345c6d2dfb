//! The hijacks: `POST /containers/{id}/attach` (and `POST /exec/{id}/start`) with
//! `Upgrade: tcp`, after which the connection carries the output one way and stdin the other.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST, UPGRADE};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};

use super::connect::EngineStream;
use super::demux::OutputReader;
use super::error::{EngineError, Result};
use super::transport::{Transport, daemon_error, error_chain, segment};

#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Whether the container has a TTY: then the stream is raw, else multiplexed.
    pub tty: bool,
    pub detach_keys: Option<String>,
    /// Replay the container's output so far before streaming (attaching to a running one).
    pub logs: bool,
}

/// An attached container: read its output, write its stdin.
pub struct Attached {
    pub output: OutputReader<ReadHalf<EngineStream>>,
    pub stdin: StdinWriter,
}

/// The write half of an attach connection.
pub struct StdinWriter {
    io: WriteHalf<EngineStream>,
}

impl StdinWriter {
    pub async fn write(&mut self, data: &[u8]) -> Result<()> {
        self.io
            .write_all(data)
            .await
            .map_err(|e| EngineError::Stream(format!("writing to the container's stdin: {e}")))
    }

    /// Half-closes the connection (after a TLS close_notify over TLS): the container reads
    /// end-of-file on stdin.
    pub async fn close(&mut self) -> Result<()> {
        self.io
            .shutdown()
            .await
            .map_err(|e| EngineError::Stream(format!("closing the container's stdin: {e}")))
    }
}

pub async fn attach(transport: &Transport, id: &str, opts: &AttachOptions) -> Result<Attached> {
    let flag = |b: bool| if b { "1" } else { "0" };
    let mut query = vec![
        ("stream", "1"),
        ("stdin", flag(opts.stdin)),
        ("stdout", flag(opts.stdout)),
        ("stderr", flag(opts.stderr)),
    ];
    if opts.logs {
        query.push(("logs", "1"));
    }
    if let Some(keys) = &opts.detach_keys {
        query.push(("detachKeys", keys));
    }
    let path = transport
        .versioned(&format!("/containers/{}/attach", segment(id)), &query)
        .await?;
    hijack(transport, path, None, opts.tty).await
}

/// POSTs `path` (with a JSON `body`) asking to upgrade, and hands back the raw connection.
pub async fn hijack(
    transport: &Transport,
    path: String,
    body: Option<Vec<u8>>,
    tty: bool,
) -> Result<Attached> {
    // A connection of its own, outside the pool: it stops being HTTP after the upgrade.
    let stream = transport.connect().await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| transport.unreachable(error_chain(&e)))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!("attach connection: {e}");
        }
    });
    let content_type = if body.is_some() {
        "application/json"
    } else {
        "text/plain"
    };
    let req = Request::post(path)
        .header(HOST, &transport.authority)
        .header(CONNECTION, "Upgrade")
        .header(UPGRADE, "tcp")
        .header(CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| EngineError::Protocol(e.to_string()))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| transport.unreachable(error_chain(&e)))?;
    match resp.status() {
        StatusCode::SWITCHING_PROTOCOLS => {}
        s if s.is_client_error() || s.is_server_error() => return Err(daemon_error(resp).await),
        s => {
            return Err(EngineError::Protocol(format!(
                "unable to upgrade to tcp, received {}",
                s.as_u16()
            )));
        }
    }
    let upgraded = hyper::upgrade::on(resp)
        .await
        .map_err(|e| EngineError::Protocol(format!("attach upgrade failed: {e}")))?;
    // Take the socket back from hyper so both directions are plain tokio I/O with a real
    // half-close; bytes hyper had already read past the response come first.
    let parts = upgraded.downcast::<TokioIo<EngineStream>>().map_err(|_| {
        EngineError::Protocol("attach upgrade returned an unexpected stream".into())
    })?;
    let (read, write) = tokio::io::split(parts.io.into_inner());
    Ok(Attached {
        output: OutputReader::new(read, parts.read_buf, tty),
        stdin: StdinWriter { io: write },
    })
}
