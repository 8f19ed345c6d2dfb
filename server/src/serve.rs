//! The HTTP/1 server loop. `axum::serve` gives no hold on hyper's connection settings, so a
//! client could keep a connection open forever by sending its request head a byte at a time
//! (slowloris), and open as many such connections as it liked. This loop serves the same
//! router (WebSocket upgrades and `ConnectInfo<SocketAddr>` included) with a deadline for each
//! request head and a cap on the connections one client address holds open.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower_service::Service;

use crate::clients::TrustedProxies;
use crate::shutdown::Shutdown;

/// How long a client has to send a whole request head. hyper starts the clock whenever the
/// connection waits for a head (a new connection, and an idle keep-alive one after each
/// response) and does not restart it for each byte, so a slow head is cut off after this.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Whom a client address stands for in per-client limits: an IPv4 address itself; an IPv6
/// address by its /64, the block one host or site gets (it picks addresses in it at will, so
/// counting each address would not limit it). IPv4-mapped IPv6 addresses count as IPv4.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

/// Serves `app` on `listener`, at most `max_per_address` connections at a time from one client
/// address (see [`client_key`]; trusted proxies, which carry many clients' connections, are
/// not limited), until `shutdown` says Berth is stopping: then it accepts no more, and each
/// connection ends once the request it is serving (if any) is answered.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    max_per_address: u32,
    proxies: TrustedProxies,
    shutdown: Shutdown,
) -> io::Result<()> {
    let open = Arc::new(OpenConnections::new(max_per_address));
    let mut make_service = app.into_make_service_with_connect_info::<SocketAddr>();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.stopping() => return Ok(()),
        };
        let (tcp, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                accept_failed(e).await;
                continue;
            }
        };
        // Events and output go out as they happen: Nagle's algorithm would hold a small write
        // back until the client's delayed ACK (about 40 ms on Linux).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY on a connection from {remote}: {e}");
        }
        let slot = if proxies.trusts(remote.ip()) {
            None
        } else if let Some(slot) = open.take(remote.ip()) {
            Some(slot)
        } else {
            // Debug only: a client over its limit could otherwise fill the log, a line per try.
            tracing::debug!(
                "{remote}: closed, its address has {max_per_address} connections open already"
            );
            continue;
        };
        // Adds `ConnectInfo<SocketAddr>` to each request (handlers audit the address); the
        // make-service is always ready and never fails.
        let service = match make_service.call(remote).await {
            Ok(service) => service,
            Err(never) => match never {},
        };
        let conn = Counted { tcp, _slot: slot };
        tokio::spawn(serve_connection(
            conn,
            remote,
            TowerToHyperService::new(service),
            shutdown.clone(),
        ));
    }
}

/// One connection, until the client or the router ends it, or Berth stops (after the request
/// in flight is answered); an upgraded connection (a WebSocket) is the handler's from then on,
/// and keeps its slot in the count.
async fn serve_connection<S>(conn: Counted, remote: SocketAddr, service: S, shutdown: Shutdown)
where
    S: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        >,
    S::Future: Send + 'static,
{
    let _open = shutdown.hold();
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(conn), service)
        .with_upgrades();
    tokio::pin!(connection);
    let served = tokio::select! {
        served = connection.as_mut() => served,
        () = shutdown.stopping() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = served {
        // Clients that leave, and heads that time out: nothing the operator must act on.
        tracing::debug!("{remote}: connection ended: {e}");
    }
}

/// Accept errors other than a client that left at once are resource exhaustion (out of file
/// descriptors): waiting a moment lets connections close instead of spinning on the error.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!("accept error: {e}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Open connections per client key. Keys leave with their last connection, so memory is
/// bounded by the connections open.
struct OpenConnections {
    counts: Mutex<HashMap<IpAddr, u32>>,
    max: u32,
}

impl OpenConnections {
    fn new(max: u32) -> Self {
        OpenConnections {
            counts: Mutex::new(HashMap::new()),
            max,
        }
    }

    /// A slot for a connection from `ip`; `None` when its key has `max` open already.
    fn take(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let key = client_key(ip);
        let mut counts = self.counts.lock().expect("connection counts lock");
        let count = counts.entry(key).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Slot {
            open: self.clone(),
            key,
        })
    }

    fn give_back(&self, key: IpAddr) {
        let mut counts = self.counts.lock().expect("connection counts lock");
        if let Some(count) = counts.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&key);
            }
        }
    }
}

/// One open connection in [`OpenConnections`]; given back when dropped.
struct Slot {
    open: Arc<OpenConnections>,
    key: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.give_back(self.key);
    }
}

/// A connection with its slot (none for a trusted proxy): the slot goes when the socket does,
/// which for a WebSocket is long after hyper let go of it (the upgraded connection owns this).
struct Counted {
    tcp: TcpStream,
    _slot: Option<Slot>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let key = |s: &str| client_key(s.parse().unwrap());
        assert_eq!(key("192.0.2.7"), key("192.0.2.7"));
        assert_ne!(key("192.0.2.7"), key("192.0.2.8"));
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:ffff::9"));
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2::"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.7"), key("192.0.2.7"));
    }

    #[test]
    fn connections_are_counted_per_client_and_given_back() {
        let open = Arc::new(OpenConnections::new(2));
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8::2".parse().unwrap();
        let other: IpAddr = "192.0.2.1".parse().unwrap();
        let first = open.take(a).expect("first");
        let second = open.take(same_64).expect("second");
        assert!(open.take(a).is_none(), "a third from the same /64");
        assert!(open.take(other).is_some(), "another client");
        drop(first);
        let third = open.take(a).expect("a slot was given back");
        drop((second, third));
        assert!(
            open.counts.lock().unwrap().is_empty(),
            "keys leave with their last"
        );
    }
}
