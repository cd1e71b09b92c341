//! Opening connections: a TCP connect and WebSocket handshake bounded by a timeout, the subprotocol
//! offer for MessagePack, setup of many connections with bounded concurrency, and one-off calls.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::clock::now_ms;
use crate::frame::{self, Codec, Kind, MSGPACK_PROTOCOL, Payload};

/// A client connection.
pub(crate) type Ws = WebSocketStream<TcpStream>;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    url: String,
    addr: SocketAddr,
    pub(crate) codec: Codec,
    timeout: Duration,
    /// Local addresses connections are bound to in turn (empty: the system picks).
    sources: Arc<[IpAddr]>,
    next_source: Arc<AtomicUsize>,
}

/// The loopback source addresses `127.0.0.1` to `127.0.0.N`: each has its own ephemeral port
/// range, so N of them carry N times as many connections to one server port.
pub(crate) fn loopback_sources(n: usize) -> Vec<IpAddr> {
    (1..=n.min(254) as u8)
        .map(|last| IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .collect()
}

impl Target {
    /// Resolves the URL's host once, so connections skip name lookups.
    pub(crate) async fn resolve(url: &str, codec: Codec, timeout: Duration) -> Result<Self, String> {
        let request = url
            .into_client_request()
            .map_err(|e| format!("bad --url {url:?}: {e}"))?;
        let host = request.uri().host().ok_or("the URL has no host")?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = request.uri().port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("{host} resolves to nothing"))?;
        Ok(Self {
            url: url.to_owned(),
            addr,
            codec,
            timeout,
            sources: Arc::from([]),
            next_source: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Binds connections to `sources` in turn (a loopback target only needs loopback sources).
    pub(crate) fn with_sources(mut self, sources: Vec<IpAddr>) -> Self {
        self.sources = sources.into();
        self
    }

    /// Opens one connection, handshake included, within the connect timeout.
    pub(crate) async fn connect(&self) -> Result<Ws, String> {
        tokio::time::timeout(self.timeout, self.handshake())
            .await
            .map_err(|_| format!("connecting to {} timed out after {:?}", self.url, self.timeout))?
    }

    async fn handshake(&self) -> Result<Ws, String> {
        let mut request = self.url.as_str().into_client_request().map_err(|e| e.to_string())?;
        if self.codec == Codec::Msgpack {
            request
                .headers_mut()
                .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(MSGPACK_PROTOCOL));
        }
        let tcp = self
            .tcp()
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.addr))?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        // Small read buffers: thousands of connections live in this one process.
        let config = WebSocketConfig::default().read_buffer_size(4096);
        match tokio_tungstenite::client_async_with_config(request, tcp, Some(config)).await {
            Ok((ws, _)) => Ok(ws),
            Err(WsError::Protocol(ProtocolError::SecWebSocketSubProtocolError(e))) => Err(format!(
                "the server did not accept WebSocket subprotocol {MSGPACK_PROTOCOL:?} ({e}): \
                 it does not speak Zocket MessagePack"
            )),
            Err(WsError::Http(response)) => Err(format!("the server refused the upgrade: HTTP {}", response.status())),
            Err(e) => Err(format!("WebSocket handshake with {} failed: {e}", self.url)),
        }
    }
}

impl Target {
    async fn tcp(&self) -> std::io::Result<TcpStream> {
        if self.sources.is_empty() {
            return TcpStream::connect(self.addr).await;
        }
        let source = self.sources[self.next_source.fetch_add(1, Ordering::Relaxed) % self.sources.len()];
        let socket = match source {
            IpAddr::V4(_) => TcpSocket::new_v4()?,
            IpAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.bind(SocketAddr::new(source, 0))?;
        socket.connect(self.addr).await
    }
}

/// Sends `msg` (a call with `rpc_id`) and waits for its reply, skipping other frames.
pub(crate) async fn call(
    ws: &mut Ws,
    codec: Codec,
    msg: Message,
    rpc_id: &str,
    timeout: Duration,
) -> Result<Reply, String> {
    let wait = async {
        ws.send(msg).await.map_err(|e| format!("send failed: {e}"))?;
        loop {
            let msg = match ws.next().await {
                Some(Ok(msg)) => msg,
                Some(Err(e)) => return Err(format!("connection failed: {e}")),
                None => return Err("the server closed the connection".to_owned()),
            };
            let Some(bytes) = frame::data_of(&msg) else {
                if msg.is_close() {
                    return Err(format!("the server closed the connection: {msg}"));
                }
                continue;
            };
            let Some(frame) = frame::decode(codec, bytes) else {
                return Err(format!(
                    "unreadable frame from the server: {:?}",
                    String::from_utf8_lossy(bytes)
                ));
            };
            if frame.rpc_id != Some(rpc_id.as_bytes()) {
                continue;
            }
            return match frame.kind {
                Kind::Reply => Ok(Reply::from(frame.payload)),
                _ => Err(format!("the call failed: {}", String::from_utf8_lossy(bytes))),
            };
        }
    };
    tokio::time::timeout(timeout, wait)
        .await
        .map_err(|_| format!("no reply within {timeout:?}"))?
}

/// The parts of a call's reply that setup checks.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    /// The payload was `true`.
    pub(crate) is_true: bool,
    /// The payload's `seq`.
    pub(crate) seq: Option<i64>,
    /// The payload's `data`.
    pub(crate) data: Option<Vec<u8>>,
}

impl From<Payload<'_>> for Reply {
    fn from(p: Payload<'_>) -> Self {
        Self {
            is_true: p.is_true,
            seq: p.seq,
            data: p.data.map(<[u8]>::to_vec),
        }
    }
}

/// Runs `open(i)` for `i` in `0..n`, at most `concurrency` at once, and returns the results in
/// order of `i`; fails with a summary if any failed.
pub(crate) async fn open_all<T, F, Fut>(n: usize, concurrency: usize, what: &str, open: F) -> Result<Vec<T>, String>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = now_ms();
    let mut results: Vec<(usize, Result<T, String>)> = futures_util::stream::iter(0..n)
        .map(|i| {
            let fut = open(i);
            async move { (i, fut.await) }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    results.sort_by_key(|(i, _)| *i);
    let mut ok = Vec::with_capacity(n);
    let mut failed = 0;
    let mut first_error = None;
    for (_, result) in results {
        match result {
            Ok(v) => ok.push(v),
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(format!("{failed} of {n} {what} failed; first error: {e}"));
    }
    eprintln!("{what}: {n} ready in {:.2} s", (now_ms() - start) / 1000.0);
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn open_all_keeps_order_and_reports_failures() {
        let ok = open_all(50, 7, "things", |i| async move { Ok::<_, String>(i * 2) })
            .await
            .unwrap();
        assert_eq!(ok, (0..50).map(|i| i * 2).collect::<Vec<_>>());
        let err = open_all(10, 3, "things", |i| async move {
            if i % 4 == 1 { Err(format!("no {i}")) } else { Ok(i) }
        })
        .await
        .unwrap_err();
        assert!(err.starts_with("3 of 10 things failed; first error: no 1"), "{err}");
    }

    #[tokio::test]
    async fn refused_connections_fail_fast_with_a_message() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let target = Target::resolve(&format!("ws://127.0.0.1:{port}/"), Codec::Json, Duration::from_secs(2))
            .await
            .unwrap();
        let err = target.connect().await.unwrap_err();
        assert!(err.contains("cannot connect"), "{err}");
    }

    #[tokio::test]
    async fn connections_take_their_source_addresses_in_turn() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let target = Target::resolve(&format!("ws://127.0.0.1:{port}/"), Codec::Json, Duration::from_secs(2))
            .await
            .unwrap()
            .with_sources(loopback_sources(3));
        let mut seen = Vec::new();
        for _ in 0..4 {
            let _client = target.tcp().await.unwrap();
            let (_, peer) = listener.accept().await.unwrap();
            seen.push(peer.ip().to_string());
        }
        assert_eq!(seen, ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.1"]);
    }
}
