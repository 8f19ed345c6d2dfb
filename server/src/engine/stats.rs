//! `GET /containers/{id}/stats`: one sample (`stream=false`, which the daemon answers once it
//! has two readings, so that the CPU delta is real), or one a second (`stream=true`).

use bytes::BytesMut;
use http_body_util::BodyExt;
use hyper::Method;
use hyper::body::Incoming;

use super::transport::{read_json, segment};
use super::{Engine, EngineError, Result};

/// A container's stats documents, one a second, until it stops.
pub struct StatsStream {
    body: Incoming,
    buf: BytesMut,
}

impl StatsStream {
    /// The next document; `None` once the container has stopped (the stream ends).
    pub async fn next(&mut self) -> Result<Option<serde_json::Value>> {
        loop {
            if let Some(end) = self.buf.iter().position(|b| *b == b'\n') {
                let line = self.buf.split_to(end + 1);
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return serde_json::from_slice(&line)
                    .map(Some)
                    .map_err(|e| EngineError::Protocol(format!("bad stats JSON: {e}")));
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        self.buf.extend_from_slice(data);
                    }
                }
                Some(Err(e)) => {
                    return Err(EngineError::Stream(format!("the stats stream broke: {e}")));
                }
                None => return Ok(None),
            }
        }
    }
}

impl Engine {
    pub async fn stats(&self, id: &str) -> Result<serde_json::Value> {
        let path = format!("/containers/{}/stats", segment(id));
        read_json(
            self.call(Method::GET, &path, &[("stream", "false")], None)
                .await?,
        )
        .await
    }

    pub async fn stats_stream(&self, id: &str) -> Result<StatsStream> {
        let path = format!("/containers/{}/stats", segment(id));
        let resp = self
            .call(Method::GET, &path, &[("stream", "true")], None)
            .await?;
        Ok(StatsStream {
            body: resp.into_body(),
            buf: BytesMut::new(),
        })
    }
}
