//! [`ClientBuilder`]: a client's options, then the first connection.

use crate::client::{Client, Shared};
use crate::driver::{Driver, Hook};
use crate::{Backoff, ClientError, ConnectionState, ServerEvents};
use futures_util::future::BoxFuture;
use serde::Serialize;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use zocket_protocol::Codec;

/// Probing a silent connection: after `interval` without hearing anything from the server the
/// client sends a WebSocket ping; if still nothing arrives within `timeout`, the server is
/// taken for dead and the connection is replaced (closed with 1006, then reconnected).
/// Default: 15 s, then 10 s.
///
/// ```
/// use std::time::Duration;
/// let quick = zocket_client::Heartbeat::new(Duration::from_millis(500), Duration::from_millis(500));
/// assert_eq!(quick.deadline(), Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    interval: Duration,
    timeout: Duration,
}

impl Heartbeat {
    /// A ping after `interval` of silence; dead after `timeout` more.
    pub fn new(interval: Duration, timeout: Duration) -> Self {
        Self { interval, timeout }
    }

    /// How long after the last thing heard the connection is replaced.
    pub fn deadline(&self) -> Duration {
        self.interval + self.timeout
    }

    pub(crate) fn interval(&self) -> Duration {
        self.interval
    }
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self::new(Duration::from_secs(15), Duration::from_secs(10))
    }
}

/// Everything the connection task needs to know.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) url: String,
    pub(crate) headers: Result<Vec<(String, String)>, String>,
    pub(crate) headers_in_query: bool,
    pub(crate) codec: Codec,
    pub(crate) call_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) reconnect: Option<Backoff>,
    pub(crate) heartbeat: Option<Heartbeat>,
    pub(crate) outbox: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) event_buffer: usize,
    pub(crate) max_message_size: usize,
    pub(crate) root_certificates: Vec<Vec<u8>>,
    pub(crate) resume: bool,
    pub(crate) compression: bool,
}

/// A client's options; `.await` it (or [`connect`](Self::connect)) to connect. Made by
/// [`Client::connect`].
///
/// Defaults: JSON; calls time out after 10 s, connecting after 10 s, a write after 10 s;
/// reconnects with [`Backoff::default`]; [`Heartbeat::default`]; an outbox of 1024 messages;
/// 256 calls in flight; 1024 events buffered per subscriber; messages up to 16 MiB.
///
/// ```no_run
/// # use std::time::Duration;
/// # use zocket_client::{Backoff, Client, Codec, Heartbeat, RawEvent};
/// # async fn run() -> Result<(), zocket_client::ClientError> {
/// let client = Client::<RawEvent>::connect("wss://chat.example/ws")
///     .header("token", "secret")
///     .codec(Codec::MsgPack)
///     .call_timeout(Duration::from_secs(5))
///     .reconnect(Backoff::default().max(Duration::from_secs(30)))
///     .heartbeat(Some(Heartbeat::new(Duration::from_secs(10), Duration::from_secs(5))))
///     .on_reconnect(|client| async move {
///         let _ = client.call_route("rooms.join", serde_json::json!({"room": "lobby"})).await;
///     })
///     .await?;
/// # Ok(()) }
/// ```
pub struct ClientBuilder<O> {
    config: Config,
    hook: Option<Hook<O>>,
}

impl<O> fmt::Debug for ClientBuilder<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("on_reconnect", &self.hook.is_some())
            .finish()
    }
}

impl<O: ServerEvents> ClientBuilder<O> {
    pub(crate) fn new(url: String) -> Self {
        Self {
            config: Config {
                url,
                headers: Ok(Vec::new()),
                headers_in_query: true,
                codec: Codec::Json,
                call_timeout: Duration::from_secs(10),
                connect_timeout: Duration::from_secs(10),
                write_timeout: Duration::from_secs(10),
                reconnect: Some(Backoff::default()),
                heartbeat: Some(Heartbeat::default()),
                outbox: 1024,
                max_in_flight: 256,
                event_buffer: 1024,
                max_message_size: 16 << 20,
                root_certificates: Vec::new(),
                resume: true,
                compression: false,
            },
            hook: None,
        }
    }

    /// Connection headers from a serializable struct (or map): each field is sent as a URL
    /// query parameter, as the browser client sends them, and as an HTTP header. Strings go as
    /// they are, other values as JSON text; `null` fields are left out.
    #[must_use]
    pub fn headers(mut self, headers: impl Serialize) -> Self {
        let fields = match serde_json::to_value(headers) {
            Ok(serde_json::Value::Object(fields)) => Ok(fields
                .into_iter()
                .filter(|(_, value)| !value.is_null())
                .map(|(name, value)| match value {
                    serde_json::Value::String(text) => (name, text),
                    other => (name, other.to_string()),
                })
                .collect::<Vec<_>>()),
            Ok(other) => Err(format!(
                "headers must serialize as an object (a struct or a map), not {other}"
            )),
            Err(error) => Err(format!("headers: {error}")),
        };
        self.config.headers = match (self.config.headers, fields) {
            (Ok(mut all), Ok(fields)) => {
                all.extend(fields);
                Ok(all)
            }
            (Err(error), _) | (_, Err(error)) => Err(error),
        };
        self
    }

    /// One connection header, sent like those of [`headers`](Self::headers).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        if let Ok(all) = &mut self.config.headers {
            all.push((name.into(), value.into()));
        }
        self
    }

    /// Whether headers also go in the URL's query (default `true`, as browsers must). `false`
    /// keeps secrets out of URLs (and server logs) when the server reads HTTP headers.
    #[must_use]
    pub fn headers_in_query(mut self, yes: bool) -> Self {
        self.config.headers_in_query = yes;
        self
    }

    /// The encoding: JSON (default) or MessagePack (the `zocket.v1.msgpack` subprotocol; a
    /// server that does not confirm it is a connection error).
    #[must_use]
    pub fn codec(mut self, codec: Codec) -> Self {
        self.config.codec = codec;
        self
    }

    /// The default timeout of every call (per call: [`Call::timeout`](crate::Call::timeout)).
    #[must_use]
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.config.call_timeout = timeout;
        self
    }

    /// How long one connection attempt (TCP, TLS and the WebSocket handshake) may take.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// How long one write may wait for the socket before the connection is taken for lost.
    #[must_use]
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.config.write_timeout = timeout;
        self
    }

    /// Reconnects after a drop with this backoff (the default is on, with [`Backoff::default`]).
    #[must_use]
    pub fn reconnect(mut self, backoff: Backoff) -> Self {
        self.config.reconnect = Some(backoff);
        self
    }

    /// Never reconnects: the first drop closes the client for good.
    #[must_use]
    pub fn no_reconnect(mut self) -> Self {
        self.config.reconnect = None;
        self
    }

    /// Probes a silent connection ([`Heartbeat`]); `None` turns it off.
    #[must_use]
    pub fn heartbeat(mut self, heartbeat: Option<Heartbeat>) -> Self {
        self.config.heartbeat = heartbeat;
        self
    }

    /// How many messages (calls and sends) may wait to be written, at least 1. Messages made
    /// while the client reconnects wait here and go out, in order, once it is open. When it is
    /// full, a new call or send fails at once with [`ClientError::OutboxFull`]; nothing that
    /// waits is dropped.
    #[must_use]
    pub fn outbox(mut self, capacity: usize) -> Self {
        self.config.outbox = capacity.max(1);
        self
    }

    /// How many calls may wait for their replies at once, at least 1; past it, messages wait
    /// in the outbox.
    #[must_use]
    pub fn max_in_flight(mut self, calls: usize) -> Self {
        self.config.max_in_flight = calls.max(1);
        self
    }

    /// How many events each subscriber may fall behind before it misses the oldest, at least 1.
    #[must_use]
    pub fn event_buffer(mut self, events: usize) -> Self {
        self.config.event_buffer = events.max(1);
        self
    }

    /// The largest message the client accepts from the server.
    #[must_use]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.config.max_message_size = bytes.max(1024);
        self
    }

    /// Trusts this certificate authority (DER) for `wss://`, beside the usual public roots
    /// (`webpki-roots`).
    #[must_use]
    pub fn root_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.config.root_certificates.push(der.into());
        self
    }

    /// Whether to resume the session after a dropped connection (default `true`). A server with
    /// resume on sends a session token at connect; an automatic reconnect asks for that session
    /// back (the token and the last event's sequence number, as `__session` and `__seq` query
    /// parameters) and, within the server's window, gets the same context and rooms and every
    /// event missed meanwhile, once and in order ([`ConnectionState::Open`]'s `resumed`). A
    /// server with resume off sends no token and nothing changes. [`Client::reconnect`] and
    /// [`Client::close`] end the session on purpose: the next one is fresh.
    #[must_use]
    pub fn resume(mut self, yes: bool) -> Self {
        self.config.resume = yes;
        self
    }

    /// Whether to offer permessage-deflate (RFC 7692; default `false`). When the server agrees
    /// (a zocket server with [`Config::compression`](https://docs.rs/zocket/latest/zocket/struct.Config.html#method.compression)
    /// on, or any server that speaks it), the client inflates the server's compressed messages
    /// and compresses its own of 256 bytes or more, with or without context takeover as the
    /// server answered. A server that does not agree gets plain messages.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), zocket_client::ClientError> {
    /// let client = zocket_client::Client::<zocket_client::RawEvent>::connect("ws://127.0.0.1:3000/")
    ///     .compression(true)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn compression(mut self, yes: bool) -> Self {
        self.config.compression = yes;
        self
    }

    /// Runs after every reconnection that made a fresh session, before anything queued while
    /// disconnected is sent: the place to join rooms again. A resumed session keeps its rooms,
    /// so the hook does not run for it ([`ConnectionState::Open`]'s `resumed`). The client it
    /// gets sends ahead of the outbox; queued messages wait until the hook returns (or the call
    /// timeout passes).
    #[must_use]
    pub fn on_reconnect<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Client<O>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.hook = Some(Arc::new(move |client| Box::pin(hook(client)) as BoxFuture<'static, ()>));
        self
    }

    /// The bare WebSocket of one connection made with these options (URL, headers, TLS,
    /// compression, limits), without the Zocket protocol: for the Autobahn client cases
    /// (`examples/autobahn_client.rs`), which test the WebSocket layer on its own.
    #[doc(hidden)]
    pub async fn websocket(
        self,
    ) -> Result<
        impl futures_util::Stream<
            Item = Result<tokio_tungstenite::tungstenite::Message, tokio_tungstenite::tungstenite::Error>,
        > + futures_util::Sink<tokio_tungstenite::tungstenite::Message, Error = tokio_tungstenite::tungstenite::Error>
        + Unpin,
        ClientError,
    > {
        let tls = crate::connect::tls(&self.config)?;
        crate::connect::open(&self.config, tls, None).await
    }

    /// Connects: resolves once the first connection is open, or with the first attempt's
    /// error (reconnecting only starts after a connection was open). Needs a tokio runtime.
    pub async fn connect(self) -> Result<Client<O>, ClientError> {
        if let Err(error) = &self.config.headers {
            return Err(ClientError::Encode(error.clone()));
        }
        if !matches!(self.config.codec, Codec::Json | Codec::MsgPack) {
            let codec = self.config.codec;
            return Err(ClientError::Encode(format!("the client does not speak {codec:?}")));
        }
        let config = Arc::new(self.config);
        let (events, _) = broadcast::channel(config.event_buffer);
        let (changes, _) = broadcast::channel(64);
        let shared = Arc::new(Shared {
            codec: config.codec,
            call_timeout: config.call_timeout,
            next_id: AtomicU64::new(1),
            state: watch::Sender::new(ConnectionState::Connecting),
            changes: Mutex::new(Some(changes)),
            events: Mutex::new(Some(events)),
            last_error: Mutex::new(None),
        });
        let (outbox_tx, outbox) = mpsc::channel(config.outbox);
        let (control_tx, control) = mpsc::channel(8);
        let (alive_tx, alive) = mpsc::channel(1);
        let client = Client {
            shared: shared.clone(),
            outbox: outbox_tx,
            control: control_tx.clone(),
            alive: Some(alive_tx),
        };
        let (opened_tx, opened) = oneshot::channel();
        let driver = Driver::new(config, shared, outbox, control, control_tx, alive, self.hook);
        tokio::spawn(driver.run(opened_tx));
        match opened.await {
            Ok(Ok(())) => Ok(client),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(ClientError::Closed),
        }
    }
}

impl<O: ServerEvents> IntoFuture for ClientBuilder<O> {
    type Output = Result<Client<O>, ClientError>;
    type IntoFuture = BoxFuture<'static, Result<Client<O>, ClientError>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.connect())
    }
}
