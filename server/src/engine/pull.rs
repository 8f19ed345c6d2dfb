//! The pull progress stream of `POST /images/create`: JSON messages separated by `\r\n`,
//! decoded as they arrive. An in-stream `errorDetail` ends the pull with an error.

use berth_shared::wire::PullProgress;
use bytes::{Buf, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Deserialize;

use super::error::{EngineError, Result};

#[derive(Deserialize)]
struct JsonMessage {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default, rename = "progressDetail")]
    progress_detail: Option<ProgressDetail>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default, rename = "errorDetail")]
    error_detail: Option<ErrorDetail>,
}

#[derive(Deserialize)]
struct ProgressDetail {
    #[serde(default)]
    current: Option<u64>,
    #[serde(default)]
    total: Option<u64>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    message: Option<String>,
}

/// Splits a byte stream into progress messages.
#[derive(Default)]
pub struct Decoder {
    buf: BytesMut,
}

impl Decoder {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete message, if one is buffered. `at_end` also takes a final unterminated
    /// line.
    pub fn next(&mut self, at_end: bool) -> Option<Result<PullProgress>> {
        loop {
            let line = match self.buf.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let line = self.buf.split_to(i);
                    self.buf.advance(1);
                    line
                }
                None if at_end && !self.buf.is_empty() => self.buf.split(),
                None => return None,
            };
            let text = line.strip_suffix(b"\r").unwrap_or(&line);
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(decode(text));
        }
    }
}

fn decode(line: &[u8]) -> Result<PullProgress> {
    let msg: JsonMessage = serde_json::from_slice(line).map_err(|e| {
        EngineError::Protocol(format!(
            "bad pull progress line {:?}: {e}",
            String::from_utf8_lossy(line)
        ))
    })?;
    if let Some(detail) = msg.error_detail {
        let message = detail.message.or(msg.error).unwrap_or_default();
        // v20.10 CLI: a 401 from the registry reads as "authentication is required".
        if detail.code == Some(401) {
            return Err(EngineError::Stream(format!(
                "authentication is required: {message}"
            )));
        }
        return Err(EngineError::Stream(message));
    }
    if let Some(error) = msg.error {
        return Err(EngineError::Stream(error));
    }
    let (current, total) = match msg.progress_detail {
        Some(d) => (d.current, d.total.filter(|t| *t > 0)),
        None => (None, None),
    };
    Ok(PullProgress {
        id: msg.id.unwrap_or_default(),
        status: msg.status.unwrap_or_default(),
        current,
        total,
    })
}

/// A pull in progress.
pub struct PullStream {
    body: Incoming,
    decoder: Decoder,
    done: bool,
}

impl PullStream {
    pub(super) fn new(body: Incoming) -> Self {
        PullStream {
            body,
            decoder: Decoder::default(),
            done: false,
        }
    }

    /// The next progress message; `None` when the pull has finished successfully.
    pub async fn next(&mut self) -> Result<Option<PullProgress>> {
        loop {
            if let Some(msg) = self.decoder.next(self.done) {
                return msg.map(Some);
            }
            if self.done {
                return Ok(None);
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        self.decoder.push(data);
                    }
                }
                Some(Err(e)) => {
                    return Err(EngineError::Stream(format!("the pull stream broke: {e}")));
                }
                None => self.done = true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&str]) -> Vec<Result<PullProgress>> {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        for c in chunks {
            d.push(c.as_bytes());
            while let Some(m) = d.next(false) {
                out.push(m);
            }
        }
        while let Some(m) = d.next(true) {
            out.push(m);
        }
        out
    }

    #[test]
    fn decodes_progress_split_anywhere() {
        let stream = "{\"status\":\"Pulling from berth/busybox\",\"id\":\"latest\"}\r\n{\"status\":\"Downloading\",\"progressDetail\":{\"current\":10,\"total\":20},\"progress\":\"[=>  ]\",\"id\":\"abc\"}\r\n{\"status\":\"Pull complete\",\"progressDetail\":{},\"id\":\"abc\"}\r\n{\"status\":\"Status: Downloaded newer image\"}";
        for split in 1..stream.len() {
            let (a, b) = stream.split_at(split);
            let got: Vec<_> = all(&[a, b]).into_iter().map(Result::unwrap).collect();
            assert_eq!(got.len(), 4, "split at {split}");
            assert_eq!(
                got[1],
                PullProgress {
                    id: "abc".into(),
                    status: "Downloading".into(),
                    current: Some(10),
                    total: Some(20)
                }
            );
            assert_eq!(got[2].current, None);
            assert_eq!(got[3].id, "");
        }
    }

    #[test]
    fn error_detail_is_an_error() {
        let got = all(&[
            "{\"status\":\"x\"}\n{\"errorDetail\":{\"message\":\"manifest unknown\"},\"error\":\"manifest unknown\"}\n",
        ]);
        assert!(got[0].is_ok());
        assert_eq!(got[1].as_ref().unwrap_err().to_string(), "manifest unknown");
        let got = all(&["{\"errorDetail\":{\"code\":401,\"message\":\"denied\"}}"]);
        assert_eq!(
            got[0].as_ref().unwrap_err().to_string(),
            "authentication is required: denied"
        );
        assert!(all(&["not json\n"])[0].is_err());
    }
}
