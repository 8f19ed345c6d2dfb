//! Connections to the engine, as the docker CLI makes them from `DOCKER_HOST`,
//! `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`: its unix socket (through hyperlocal), or TCP,
//! with TLS (the server verified against `ca.pem`, Berth presenting `cert.pem` and `key.pem`).
//! One stream type serves both the pooled HTTP client and the attach hijack.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tower_service::Service;

use super::error::{EngineError, Result};

/// TLS to a `tcp://` engine, as the docker CLI's `--tlsverify`.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Use TLS and verify the engine (`DOCKER_TLS_VERIFY`); an `https://` host implies it.
    pub verify: bool,
    /// The directory holding `ca.pem`, `cert.pem` and `key.pem` (`DOCKER_CERT_PATH`).
    pub cert_path: Option<PathBuf>,
}

/// Where the engine listens.
enum Endpoint {
    Unix(PathBuf),
    Tcp {
        host: String,
        port: u16,
        tls: Option<(TlsConnector, ServerName<'static>)>,
    },
    /// An engine in this process, for tests: each connection is an in-memory pipe it serves.
    #[cfg(test)]
    Fake(Arc<super::fake::FakeEngine>),
}

/// Opens connections to one engine; a `tower` service for hyper's pooled client.
#[derive(Clone)]
pub struct Connector(Arc<Endpoint>);

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    Connect(io::Error),
    #[error("{0}")]
    Handshake(io::Error),
}

impl ConnectError {
    /// The engine error for a connection to `host` that failed this way.
    pub fn to_engine_error(&self, host: &str) -> EngineError {
        match self {
            ConnectError::Connect(e) => EngineError::Unreachable {
                host: host.to_string(),
                reason: e.to_string(),
            },
            ConnectError::Handshake(e) => EngineError::TlsHandshake {
                host: host.to_string(),
                reason: e.to_string(),
            },
        }
    }
}

impl Connector {
    /// Parses `docker_host` (`unix:///path` or a bare path, `tcp://host:port`,
    /// `https://host:port`) and, for TLS, reads the certificates and key now.
    pub fn new(docker_host: &str, tls: &TlsOptions) -> Result<Self> {
        let unsupported = || EngineError::UnsupportedHost(docker_host.to_string());
        if let Some(path) = docker_host
            .strip_prefix("unix://")
            .or_else(|| docker_host.starts_with('/').then_some(docker_host))
        {
            if path.is_empty() {
                return Err(unsupported());
            }
            return Ok(Connector(Arc::new(Endpoint::Unix(PathBuf::from(path)))));
        }
        let (rest, use_tls) = if let Some(rest) = docker_host.strip_prefix("tcp://") {
            (rest, tls.verify)
        } else if let Some(rest) = docker_host.strip_prefix("https://") {
            (rest, true)
        } else {
            return Err(unsupported());
        };
        // host[:port][/], the host a name, an IPv4 address or a bracketed IPv6 address.
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        let uri: Uri = format!("http://{authority}/")
            .parse()
            .map_err(|_| unsupported())?;
        let Some(parsed) = uri.authority().filter(|a| a.as_str() == authority) else {
            return Err(unsupported());
        };
        let host = parsed.host().trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || authority.contains('@') {
            return Err(unsupported());
        }
        // The CLI's defaults: 2376 with TLS, 2375 without.
        let port = match authority[parsed.host().len()..].strip_prefix(':') {
            Some(port) => port.parse().map_err(|_| unsupported())?,
            None if use_tls => 2376,
            None => 2375,
        };
        let tls = if use_tls {
            let name = ServerName::try_from(host.to_string()).map_err(|_| unsupported())?;
            Some((tls_connector(tls.cert_path.as_deref())?, name))
        } else {
            None
        };
        Ok(Connector(Arc::new(Endpoint::Tcp {
            host: host.to_string(),
            port,
            tls,
        })))
    }

    /// Connections to `fake` instead of a daemon.
    #[cfg(test)]
    pub fn fake(fake: Arc<super::fake::FakeEngine>) -> Self {
        Connector(Arc::new(Endpoint::Fake(fake)))
    }

    /// The authority of request URIs: the engine's `host:port`, or `docker` for a socket.
    pub fn authority(&self) -> String {
        match &*self.0 {
            Endpoint::Unix(_) => "docker".to_string(),
            #[cfg(test)]
            Endpoint::Fake(_) => "docker".to_string(),
            Endpoint::Tcp { host, port, .. } if host.contains(':') => format!("[{host}]:{port}"),
            Endpoint::Tcp { host, port, .. } => format!("{host}:{port}"),
        }
    }

    pub async fn connect(&self) -> Result<EngineStream, ConnectError> {
        match &*self.0 {
            // hyperlocal's connector takes the socket path hex-encoded in a `unix:` URI.
            Endpoint::Unix(path) => hyperlocal::UnixConnector
                .call(hyperlocal::Uri::new(path, "/").into())
                .await
                .map(EngineStream::Unix)
                .map_err(ConnectError::Connect),
            Endpoint::Tcp { host, port, tls } => {
                let tcp = TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(ConnectError::Connect)?;
                // Keystrokes go out as typed, as the Go client does.
                tcp.set_nodelay(true).map_err(ConnectError::Connect)?;
                match tls {
                    None => Ok(EngineStream::Tcp(tcp)),
                    Some((connector, name)) => connector
                        .connect(name.clone(), tcp)
                        .await
                        .map(|s| EngineStream::Tls(Box::new(s)))
                        .map_err(ConnectError::Handshake),
                }
            }
            #[cfg(test)]
            Endpoint::Fake(fake) => Ok(EngineStream::Fake(fake.connect())),
        }
    }
}

impl Service<Uri> for Connector {
    type Response = TokioIo<EngineStream>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    /// Every request goes to the configured engine, whatever its URI says.
    fn call(&mut self, _: Uri) -> Self::Future {
        let connector = self.clone();
        Box::pin(async move { connector.connect().await.map(TokioIo::new) })
    }
}

/// Reads a PEM file of the certificate directory, naming it in any error.
fn pem_file<T>(
    dir: &Path,
    name: &str,
    parse: impl FnOnce(&[u8]) -> std::result::Result<T, String>,
) -> Result<T> {
    let path = dir.join(name);
    let tls_file = |reason: String| EngineError::TlsFile {
        path: path.clone(),
        reason,
    };
    let bytes = std::fs::read(&path).map_err(|e| tls_file(e.to_string()))?;
    parse(&bytes).map_err(tls_file)
}

/// The client configuration of `--tlsverify`: the engine verified against `ca.pem`,
/// `cert.pem` and `key.pem` presented to it.
fn tls_connector(cert_path: Option<&Path>) -> Result<TlsConnector> {
    let dir = cert_path.ok_or_else(|| {
        EngineError::TlsConfig(
            "no certificate directory (DOCKER_CERT_PATH) for TLS to the engine".into(),
        )
    })?;
    let certs = |bytes: &[u8]| {
        let certs = CertificateDer::pem_slice_iter(bytes)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| format!("bad PEM: {e}"))?;
        if certs.is_empty() {
            return Err("no certificate in it".to_string());
        }
        Ok(certs)
    };
    let ca = pem_file(dir, "ca.pem", certs)?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in ca {
        roots.add(cert).map_err(|e| EngineError::TlsFile {
            path: dir.join("ca.pem"),
            reason: format!("not a usable CA certificate: {e}"),
        })?;
    }
    let chain = pem_file(dir, "cert.pem", certs)?;
    let key = pem_file(dir, "key.pem", |bytes| {
        PrivateKeyDer::from_pem_slice(bytes).map_err(|e| format!("no private key in it: {e}"))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| EngineError::TlsConfig(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| {
            EngineError::TlsConfig(format!(
                "client certificate {} with key {}: {e}",
                dir.join("cert.pem").display(),
                dir.join("key.pem").display()
            ))
        })?;
    // Full handshakes only, as the docker CLI (Go clients keep no session cache by default).
    config.resumption = rustls::client::Resumption::disabled();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// A connection to the engine.
pub enum EngineStream {
    Unix(hyperlocal::UnixStream),
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// The gateway's end of a pipe to a [`super::fake::FakeEngine`].
    #[cfg(test)]
    Fake(tokio::io::DuplexStream),
}

/// Calls `$method` on the stream inside, pinned.
macro_rules! each {
    ($self:ident.$method:ident($($arg:expr),*)) => {
        match $self.get_mut() {
            EngineStream::Unix(s) => Pin::new(s).$method($($arg),*),
            EngineStream::Tcp(s) => Pin::new(s).$method($($arg),*),
            EngineStream::Tls(s) => Pin::new(s).$method($($arg),*),
            #[cfg(test)]
            EngineStream::Fake(s) => Pin::new(s).$method($($arg),*),
        }
    };
}

impl AsyncRead for EngineStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each!(self.poll_read(cx, buf))
    }
}

impl AsyncWrite for EngineStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each!(self.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each!(self.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            EngineStream::Unix(s) => s.is_write_vectored(),
            EngineStream::Tcp(s) => s.is_write_vectored(),
            EngineStream::Tls(s) => s.is_write_vectored(),
            #[cfg(test)]
            EngineStream::Fake(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self.poll_flush(cx))
    }

    /// Half-closes: with TLS, a close_notify first, then the TCP write side.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self.poll_shutdown(cx))
    }
}

impl Connection for EngineStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authority(host: &str) -> Result<String> {
        Connector::new(host, &TlsOptions::default()).map(|c| c.authority())
    }

    #[test]
    fn hosts() {
        assert_eq!(authority("unix:///var/run/docker.sock").unwrap(), "docker");
        assert_eq!(authority("/x.sock").unwrap(), "docker");
        assert_eq!(authority("tcp://1.2.3.4:2375").unwrap(), "1.2.3.4:2375");
        assert_eq!(authority("tcp://engine/").unwrap(), "engine:2375");
        assert_eq!(authority("tcp://[::1]:2000").unwrap(), "[::1]:2000");
        for bad in [
            "unix://",
            "ssh://me@host",
            "tcp://",
            "tcp://:2375",
            "tcp://host:x",
            "tcp://host:2375/path",
            "tcp://me@host:1",
            "npipe:////./pipe/docker_engine",
        ] {
            assert!(
                matches!(authority(bad), Err(EngineError::UnsupportedHost(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn tls_files_are_named_when_missing() {
        let dir = std::env::temp_dir().join(format!("berth-no-certs-{}", std::process::id()));
        let tls = TlsOptions {
            verify: true,
            cert_path: Some(dir.clone()),
        };
        let err = Connector::new("tcp://127.0.0.1:2376", &tls)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains(&dir.join("ca.pem").display().to_string()),
            "{err}"
        );
        // The socket never needs them, as with the CLI.
        assert!(Connector::new("unix:///var/run/docker.sock", &tls).is_ok());
        // Without a directory, https:// says what is missing.
        let err = Connector::new("https://127.0.0.1:2376", &TlsOptions::default())
            .err()
            .unwrap();
        assert!(err.to_string().contains("DOCKER_CERT_PATH"), "{err}");
    }
}
