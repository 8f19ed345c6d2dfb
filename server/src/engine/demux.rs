//! The attach and logs stream: multiplexed frames without a TTY, raw bytes with one.
//!
//! Multiplexed frame (moby `stdcopy`): `[stream, 0, 0, 0, len as u32 big-endian]` + payload,
//! stream 0 = stdin, 1 = stdout, 2 = stderr, 3 = a system error from the daemon.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::error::{EngineError, Result};

const HEADER_LEN: usize = 8;
const READ_SIZE: usize = 256 * 1024;

/// One piece of container output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// 1 stdout, 2 stderr (Berth's wire numbering, which is also stdcopy's).
    pub stream: u8,
    pub data: Bytes,
}

/// Splits complete frames off the front of `buf`. Returns `Ok(None)` when more bytes are needed.
pub fn split_frame(buf: &mut BytesMut) -> Result<Option<Frame>> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let kind = buf[0];
    let len = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
    if buf.len() < HEADER_LEN + len {
        // At most a read's worth ahead: the length is the sender's word, and up to 4 GiB.
        buf.reserve((HEADER_LEN + len - buf.len()).min(READ_SIZE));
        return Ok(None);
    }
    buf.advance(HEADER_LEN);
    let data = buf.split_to(len).freeze();
    match kind {
        // Stdin frames are never sent by the daemon in practice; treat as stdout like stdcopy.
        0 | 1 => Ok(Some(Frame { stream: 1, data })),
        2 => Ok(Some(Frame { stream: 2, data })),
        3 => Err(EngineError::Stream(
            String::from_utf8_lossy(&data).into_owned(),
        )),
        other => Err(EngineError::Protocol(format!(
            "unknown stream type {other} in a multiplexed stream"
        ))),
    }
}

/// Reads container output frames from an attach connection.
pub struct OutputReader<R> {
    io: R,
    buf: BytesMut,
    tty: bool,
}

impl<R: AsyncRead + Unpin> OutputReader<R> {
    /// `leftover` is what the HTTP layer had already read past the upgrade response.
    pub fn new(io: R, leftover: Bytes, tty: bool) -> Self {
        let mut buf = BytesMut::with_capacity(READ_SIZE);
        buf.extend_from_slice(&leftover);
        OutputReader { io, buf, tty }
    }

    /// The next piece of output, or `None` at the end of the stream.
    pub async fn next(&mut self) -> Result<Option<Frame>> {
        loop {
            if self.tty {
                if !self.buf.is_empty() {
                    let data = self.buf.split().freeze();
                    return Ok(Some(Frame { stream: 1, data }));
                }
            } else if let Some(frame) = split_frame(&mut self.buf)? {
                return Ok(Some(frame));
            }
            if self.buf.capacity() - self.buf.len() < READ_SIZE / 2 {
                self.buf.reserve(READ_SIZE);
            }
            let n =
                self.io.read_buf(&mut self.buf).await.map_err(|e| {
                    EngineError::Stream(format!("reading the attached stream: {e}"))
                })?;
            if n == 0 {
                if !self.tty && !self.buf.is_empty() {
                    return Err(EngineError::Protocol(format!(
                        "the attached stream ended inside a frame ({} bytes left over)",
                        self.buf.len()
                    )));
                }
                return Ok(None);
            }
        }
    }
}

/// One multiplexed frame of `stream` carrying `payload`, as the daemon writes it.
#[cfg(test)]
pub fn mux(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![stream, 0, 0, 0];
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// Demultiplexes a complete body (the logs endpoint without a TTY).
pub fn demux_all(mut body: BytesMut) -> Result<Vec<Frame>> {
    let mut frames = Vec::new();
    while let Some(frame) = split_frame(&mut body)? {
        frames.push(frame);
    }
    if !body.is_empty() {
        return Err(EngineError::Protocol("truncated multiplexed stream".into()));
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::mux as frame;

    #[tokio::test]
    async fn demuxes_frames_split_across_reads() {
        let mut wire = frame(1, b"hello ");
        wire.extend(frame(2, b"oops"));
        wire.extend(frame(1, b""));
        wire.extend(frame(1, &[7u8; 100_000]));
        // Feed it one byte at a time through a duplex pipe to exercise partial headers/payloads.
        let (mut tx, rx) = tokio::io::duplex(1);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            tx.write_all(&wire).await.unwrap();
        });
        let mut reader = OutputReader::new(rx, Bytes::from_static(&[]), false);
        let mut got = Vec::new();
        while let Some(f) = reader.next().await.unwrap() {
            got.push(f);
        }
        writer.await.unwrap();
        assert_eq!(
            got[0],
            Frame {
                stream: 1,
                data: Bytes::from_static(b"hello ")
            }
        );
        assert_eq!(
            got[1],
            Frame {
                stream: 2,
                data: Bytes::from_static(b"oops")
            }
        );
        assert_eq!(got[2].data.len(), 0);
        assert_eq!(got[3].data.len(), 100_000);
        assert_eq!(got.len(), 4);
    }

    #[tokio::test]
    async fn leftover_bytes_come_first_and_tty_is_raw() {
        let (mut tx, rx) = tokio::io::duplex(64);
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            tx.write_all(b" world").await.unwrap();
        });
        let mut reader = OutputReader::new(rx, Bytes::from_static(b"hello"), true);
        let mut all = Vec::new();
        while let Some(f) = reader.next().await.unwrap() {
            assert_eq!(f.stream, 1);
            all.extend_from_slice(&f.data);
        }
        assert_eq!(all, b"hello world");
    }

    #[test]
    fn system_errors_and_truncation_are_errors() {
        let mut b = BytesMut::from(&frame(3, b"daemon broke")[..]);
        assert_eq!(split_frame(&mut b).unwrap_err().to_string(), "daemon broke");
        let mut b = BytesMut::from(&frame(1, b"abc")[..7]);
        assert!(split_frame(&mut b).unwrap().is_none());
        assert!(demux_all(BytesMut::from(&frame(1, b"abc")[..9])).is_err());
        let mut b = BytesMut::from(&frame(9, b"x")[..]);
        assert!(split_frame(&mut b).is_err());
    }
}
