//! [`serve`]: the standalone server in one line.

use super::Server;
use crate::Outgoing;
use futures_util::future::BoxFuture;
use garde::Validate;
use serde::de::DeserializeOwned;
use std::future::{Future, IntoFuture};
use std::{fmt, io, net::SocketAddr};
use tokio::net::TcpListener;

/// Serves `server` at `/` on `listener`: an address (`"127.0.0.1:3000"`, a `SocketAddr`) or a
/// bound [`TcpListener`]. Runs until [`Handle::shutdown`](crate::Handle::shutdown) or the
/// signal given to [`Serve::with_graceful_shutdown`], then closes every connection gracefully.
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
    signal: Option<BoxFuture<'static, ()>>,
}

impl<H, O, C, S> Serve<H, O, C, S> {
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
            let stop = handle.clone();
            let signal = self.signal;
            let app = self.server.into_router();
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    match signal {
                        Some(signal) => tokio::select! {
                            () = signal => {}
                            () = stop.shutting_down() => {}
                        },
                        None => stop.shutting_down().await,
                    }
                })
                .await?;
            handle.shutdown().await;
            Ok(())
        })
    }
}

impl<H, O, C, S> fmt::Debug for Serve<H, O, C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}
