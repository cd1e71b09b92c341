//! [`serve`]: the standalone server in one line.
//!
//! Connections are served with hyper directly (not `axum::serve`), with a timer, so that a
//! socket that does not send its request head in time is closed (`header_read_timeout`).

use super::Server;
use crate::Outgoing;
use crate::metrics::{self, Refusal};
use futures_util::future::BoxFuture;
use garde::Validate;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::de::DeserializeOwned;
use std::future::{Future, IntoFuture};
use std::time::Duration;
use std::{fmt, io, net::SocketAddr, pin::pin};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Serves `server` at `/` on `listener`: an address (`"127.0.0.1:3000"`, a `SocketAddr`) or a
/// bound [`TcpListener`]. Runs until [`Handle::shutdown`](crate::Handle::shutdown) or the
/// signal given to [`Serve::with_graceful_shutdown`], then closes every connection gracefully.
///
/// A socket must send its HTTP request head within the server's
/// [`header_read_timeout`](crate::Config::header_read_timeout) (10 s by default), so sockets
/// that connect and then say nothing, or trickle their request (slowloris), are closed instead
/// of piling up. Accepting never waits on any one connection.
///
/// ```no_run
/// # use zocket::{Zocket, NoHeaders, NoOutgoing};
/// # async fn run() -> std::io::Result<()> {
/// let zo = Zocket::<NoHeaders, NoOutgoing>::new();
/// let router = zo.router();
/// zocket::serve("127.0.0.1:3000", zo.server(router))
///     .with_graceful_shutdown(async { tokio::signal::ctrl_c().await.ok(); })
///     .await
/// # }
/// ```
pub fn serve<H, O, C, S>(listener: impl IntoListener, server: Server<H, O, C, S>) -> Serve<H, O, C, S> {
    Serve {
        listener: listener.into_listener(),
        server,
        app: None,
        signal: None,
    }
}

/// What [`serve`] listens on: an address to bind, or a bound listener.
pub trait IntoListener {
    /// Binds (if needed).
    fn into_listener(self) -> BoxFuture<'static, io::Result<TcpListener>>;
}

impl IntoListener for TcpListener {
    fn into_listener(self) -> BoxFuture<'static, io::Result<TcpListener>> {
        Box::pin(async move { Ok(self) })
    }
}

impl IntoListener for SocketAddr {
    fn into_listener(self) -> BoxFuture<'static, io::Result<TcpListener>> {
        Box::pin(listen(self))
    }
}

impl IntoListener for &str {
    fn into_listener(self) -> BoxFuture<'static, io::Result<TcpListener>> {
        let addr = self.to_owned();
        Box::pin(async move { listen(addr).await })
    }
}

impl IntoListener for String {
    fn into_listener(self) -> BoxFuture<'static, io::Result<TcpListener>> {
        Box::pin(async move { listen(self).await })
    }
}

/// How many connections may wait to be accepted: a burst of clients connecting at once (all of
/// them reconnecting after a restart, say) is not refused.
const BACKLOG: u32 = 1024;

/// Binds a TCP listener on `addr` (the first address it resolves to) with room for a burst of
/// connections waiting to be accepted (tokio's `TcpListener::bind` allows 128).
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let listener = zocket::listen("127.0.0.1:3000").await?;
/// println!("listening on {}", listener.local_addr()?);
/// # Ok(()) }
/// ```
pub async fn listen(addr: impl tokio::net::ToSocketAddrs) -> io::Result<TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host(addr).await? {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        match socket.bind(addr).and_then(|()| socket.listen(BACKLOG)) {
            Ok(listener) => return Ok(listener),
            Err(error) => last = Some(error),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to bind")))
}

/// A server being served; `.await` it. See [`serve`].
#[must_use = "a server does nothing until awaited"]
pub struct Serve<H, O, C, S> {
    listener: BoxFuture<'static, io::Result<TcpListener>>,
    server: Server<H, O, C, S>,
    app: Option<axum::Router>,
    signal: Option<BoxFuture<'static, ()>>,
}

impl<H, O, C, S> Serve<H, O, C, S> {
    /// Serves `app` instead of the endpoint alone at `/`: an axum app that mounts the endpoint
    /// with [`Server::method_router`] at a path of its choice, next to its other routes. The
    /// whole app gets the server's HTTP deadline and its graceful shutdown.
    ///
    /// ```no_run
    /// # use zocket::{Zocket, NoHeaders, NoOutgoing};
    /// # async fn run() -> std::io::Result<()> {
    /// # let zo = Zocket::<NoHeaders, NoOutgoing>::new();
    /// # let router = zo.router();
    /// let server = zo.server(router);
    /// let app = axum::Router::new()
    ///     .route("/ws", server.method_router())
    ///     .route("/health", axum::routing::get(|| async { "ok" }));
    /// zocket::serve("127.0.0.1:3000", server).with_app(app).await
    /// # }
    /// ```
    pub fn with_app(mut self, app: axum::Router) -> Self {
        self.app = Some(app);
        self
    }

    /// Shuts down gracefully when `signal` resolves (for example `tokio::signal::ctrl_c()`).
    pub fn with_graceful_shutdown<F>(mut self, signal: F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.signal = Some(Box::pin(signal));
        self
    }
}

impl<H, O, C, S> IntoFuture for Serve<H, O, C, S>
where
    H: DeserializeOwned + Validate + Send + 'static,
    H::Context: Default,
    O: Outgoing,
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    type Output = io::Result<()>;
    type IntoFuture = BoxFuture<'static, io::Result<()>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let listener = self.listener.await?;
            let handle = self.server.handle();
            let header_read_timeout = self.server.shared.config.header_read_timeout;
            let app = match self.app {
                Some(app) => app,
                None => self.server.into_router(),
            };
            let stop = handle.clone();
            let signal = self.signal;
            let mut stopping = pin!(async move {
                match signal {
                    Some(signal) => tokio::select! {
                        () = signal => {}
                        () = stop.shutting_down() => {}
                    },
                    None => stop.shutting_down().await,
                }
            });
            let connections = TaskTracker::new();
            let closing = CancellationToken::new();
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            accept_failed(error).await;
                            continue;
                        }
                    },
                    () = &mut stopping => break,
                };
                let connection = connection(stream, app.clone(), header_read_timeout, closing.clone());
                connections.spawn(connection);
            }
            // No new connections; requests under way finish, idle connections close.
            drop(listener);
            closing.cancel();
            connections.close();
            connections.wait().await;
            handle.shutdown().await;
            Ok(())
        })
    }
}

/// Serves one HTTP connection: its requests, and the upgrade that hands it to a WebSocket
/// session. Ends early if its request head is late.
async fn connection(stream: TcpStream, app: axum::Router, header_read_timeout: Duration, closing: CancellationToken) {
    let service = TowerToHyperService::new(app);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let mut serving = pin!(builder.serve_connection(TokioIo::new(stream), service).with_upgrades());
    let served = tokio::select! {
        served = serving.as_mut() => served,
        () = closing.cancelled() => {
            serving.as_mut().graceful_shutdown();
            serving.await
        }
    };
    if let Err(error) = served {
        if error.is_timeout() {
            metrics::refused(Refusal::HeaderTimeout, None);
        } else {
            tracing::debug!(%error, "HTTP connection failed");
        }
    }
}

/// After a failed accept: a connection reset before it was accepted is nothing; anything else
/// (out of file descriptors, say) is logged and waited out, rather than retried in a busy loop.
async fn accept_failed(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(%error, "accept failed; retrying in 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

impl<H, O, C, S> fmt::Debug for Serve<H, O, C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}
