//! [`Client`]: a cheap, cloneable handle on one connection that a background task keeps alive.

use crate::call::Call;
use crate::stream::Subscription;
use crate::{ClientBuilder, ClientError, ConnectionState, RawEvent, wire};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use zocket_core::{DecodeOutgoing, Outgoing, Route};
use zocket_protocol::Codec;

/// What a client's events can be: an outgoing enum deriving `Outgoing` (which also decodes
/// it) and `Clone` (each subscriber gets its own copy), or [`RawEvent`] for any route.
pub trait ServerEvents: Outgoing + for<'de> DecodeOutgoing<'de> + Clone + Send + Sync + 'static {}

impl<T> ServerEvents for T where T: Outgoing + for<'de> DecodeOutgoing<'de> + Clone + Send + Sync + 'static {}

/// The reply of a call, as the connection task hands it over: the payload still encoded.
pub(crate) type Reply = Result<Option<Vec<u8>>, ClientError>;

/// One message for the connection task: an encoded frame, and for a call where its reply goes.
pub(crate) struct Outbound {
    pub(crate) frame: Vec<u8>,
    pub(crate) call: Option<(u64, oneshot::Sender<Reply>)>,
}

/// What a handle asks of the connection task, beside messages.
pub(crate) enum Control {
    /// Close for good with this code and reason; `done` is told when it is.
    Close {
        code: u16,
        reason: String,
        done: oneshot::Sender<()>,
    },
    /// Drop the connection and make a new one now.
    Reconnect,
}

/// What every handle and the connection task share.
pub(crate) struct Shared<O> {
    pub(crate) codec: Codec,
    pub(crate) call_timeout: Duration,
    pub(crate) next_id: AtomicU64,
    pub(crate) state: watch::Sender<ConnectionState>,
    /// Taken when the client stops for good, which ends every subscription.
    pub(crate) changes: Mutex<Option<broadcast::Sender<ConnectionState>>>,
    pub(crate) events: Mutex<Option<broadcast::Sender<O>>>,
    pub(crate) last_error: Mutex<Option<ClientError>>,
}

impl<O> Shared<O> {
    pub(crate) fn set_error(&self, error: ClientError) {
        *self.last_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(error);
    }

    pub(crate) fn set_state(&self, state: ConnectionState) {
        if let Some(changes) = &*self.changes.lock().unwrap_or_else(PoisonError::into_inner) {
            let _ = changes.send(state.clone());
        }
        self.state.send_replace(state);
    }
}

/// A connection to a zocket server, typed by the routes it calls and the events `O` it
/// receives. Cheap to clone: every clone drives the same connection, which a background task
/// keeps alive (reconnecting with backoff, probing a silent server) until [`close`](Self::close)
/// or until every handle is dropped.
///
/// ```no_run
/// # use serde::{Deserialize, Serialize};
/// # use zocket_client::{Client, Outgoing, Route};
/// #[derive(Serialize, Deserialize, Route)]
/// #[zocket(route = "math.add", reply = f64)]
/// struct Add { a: f64, b: f64 }
///
/// #[derive(Debug, Clone, Outgoing)]
/// enum Out {
///     #[zocket(route = "system.tick")]
///     Tick { n: i64 },
/// }
///
/// # #[derive(Serialize)] struct Headers { token: String }
/// # async fn run() -> Result<(), zocket_client::ClientError> {
/// let client = Client::<Out>::connect("ws://127.0.0.1:3000/")
///     .headers(Headers { token: "secret".into() })
///     .await?;
/// let sum: f64 = client.call(Add { a: 1.0, b: 2.0 }).await?;
/// # Ok(()) }
/// ```
pub struct Client<O = RawEvent> {
    pub(crate) shared: Arc<Shared<O>>,
    pub(crate) outbox: mpsc::Sender<Outbound>,
    pub(crate) control: mpsc::Sender<Control>,
    /// Held by the user's handles only: when the last is dropped the connection task stops.
    pub(crate) alive: Option<mpsc::Sender<()>>,
}

impl<O> Clone for Client<O> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            outbox: self.outbox.clone(),
            control: self.control.clone(),
            alive: self.alive.clone(),
        }
    }
}

impl<O> fmt::Debug for Client<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("codec", &self.shared.codec)
            .field("state", &*self.shared.state.borrow())
            .finish_non_exhaustive()
    }
}

impl<O: ServerEvents> Client<O> {
    /// Starts building a client for `url` (`ws://` or `wss://`); `.await` it (or call
    /// [`ClientBuilder::connect`]) to connect.
    pub fn connect(url: impl Into<String>) -> ClientBuilder<O> {
        ClientBuilder::new(url.into())
    }

    /// Calls a declared route: `.await` it for the reply, read as the declared reply type.
    /// [`Call::timeout`] overrides the client's default timeout for this call.
    ///
    /// A call made while the client reconnects waits in the outbox and is sent once the
    /// connection is open (within its timeout); a call in flight when the connection drops
    /// fails at once with [`ClientError::Disconnected`] and is never sent again.
    pub fn call<R>(&self, input: R) -> Call<R::Reply>
    where
        R: Route + Serialize,
        R::Reply: DeserializeOwned,
    {
        self.call_frame(R::NAME.into(), R::HAS_INPUT.then_some(&input))
    }

    /// Calls any route by name, with any payload; the reply as JSON.
    pub fn call_route(&self, route: &str, payload: impl Serialize) -> Call<serde_json::Value> {
        self.call_frame(route.to_owned().into(), Some(&payload))
    }

    fn call_frame<T, P: Serialize>(&self, route: std::borrow::Cow<'static, str>, payload: Option<&P>) -> Call<T> {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = wire::encode(self.shared.codec, &route, payload, Some(id));
        Call::new(
            self.outbox.clone(),
            self.shared.codec,
            route,
            id,
            frame,
            self.shared.call_timeout,
        )
    }

    /// Sends a declared route's message without waiting for a reply. It is queued in the
    /// outbox (sent at once when connected, after reconnecting otherwise); a full outbox
    /// refuses it with [`ClientError::OutboxFull`]. A failure the server reports comes back
    /// as [`last_error`](Self::last_error).
    pub fn send<R: Route + Serialize>(&self, input: R) -> Result<(), ClientError> {
        self.send_frame(R::NAME, R::HAS_INPUT.then_some(&input))
    }

    /// Sends a message to any route by name, with any payload, without waiting for a reply.
    pub fn send_route(&self, route: &str, payload: impl Serialize) -> Result<(), ClientError> {
        self.send_frame(route, Some(&payload))
    }

    fn send_frame<P: Serialize>(&self, route: &str, payload: Option<&P>) -> Result<(), ClientError> {
        let frame = wire::encode(self.shared.codec, route, payload, None)?;
        self.outbox
            .try_send(Outbound { frame, call: None })
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => ClientError::OutboxFull,
                mpsc::error::TrySendError::Closed(_) => ClientError::Closed,
            })
    }

    /// Every event the server sends from now on, decoded as `O`.
    pub fn events(&self) -> Subscription<O> {
        Subscription::new(self.subscribe_events(), |_| true)
    }

    /// The events on one route (a route of `O`, e.g. `"system.tick"`) from now on.
    ///
    /// # Panics
    ///
    /// If `route` is not one of `O`'s routes: such a subscription could never see anything.
    #[track_caller]
    pub fn events_on(&self, route: &str) -> Subscription<O> {
        assert!(
            O::has_route(route),
            "zocket-client: \"{route}\" is not a route of {}",
            std::any::type_name::<O>()
        );
        let route = route.to_owned();
        Subscription::new(self.subscribe_events(), move |event: &O| event.route() == route)
    }

    fn subscribe_events(&self) -> Option<broadcast::Receiver<O>> {
        let events = self.shared.events.lock().unwrap_or_else(PoisonError::into_inner);
        events.as_ref().map(broadcast::Sender::subscribe)
    }
}

impl<O> Client<O> {
    /// Where the connection stands now.
    pub fn state(&self) -> ConnectionState {
        self.shared.state.borrow().clone()
    }

    /// The connection state as a `watch`: its latest value, and a way to wait for the next.
    pub fn state_watch(&self) -> watch::Receiver<ConnectionState> {
        self.shared.state.subscribe()
    }

    /// Every change of the connection state from now on, in order (`Closed`, `Reconnecting`,
    /// `Open`, ...).
    pub fn state_changes(&self) -> Subscription<ConnectionState> {
        let changes = self.shared.changes.lock().unwrap_or_else(PoisonError::into_inner);
        Subscription::new(changes.as_ref().map(broadcast::Sender::subscribe), |_| true)
    }

    /// The last error the client saw outside a call: a failed connection attempt, an
    /// `__error` the server sent for a [`send`](Self::send), an event that did not decode.
    pub fn last_error(&self) -> Option<ClientError> {
        self.shared
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Drops the current connection (or the wait before the next attempt) and connects again
    /// now. Calls in flight fail with [`ClientError::Disconnected`].
    pub fn reconnect(&self) {
        // A full queue already holds a request that will do the same.
        let _ = self.control.try_send(Control::Reconnect);
    }

    /// Closes the connection for good (code 1000) and waits until it is closed (at most a few
    /// seconds). Calls in flight or waiting fail with [`ClientError::Closed`].
    pub async fn close(&self) {
        self.close_with(1000, "").await;
    }

    /// [`close`](Self::close) with a close code and reason.
    pub async fn close_with(&self, code: u16, reason: &str) {
        let (done, closed) = oneshot::channel();
        let request = Control::Close {
            code,
            reason: reason.to_owned(),
            done,
        };
        if self.control.send(request).await.is_ok() {
            // The task answers once closed; if it is already gone, so is the connection.
            let _ = tokio::time::timeout(Duration::from_secs(5), closed).await;
        }
    }
}
