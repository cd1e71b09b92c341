//! The lifecycle hooks: `on_connect` builds a connection's context (or refuses it with a
//! [`Reject`]), `on_disconnect` sees a client that left ([`Disconnected`]). Both may take the
//! application [`State`] as a last argument.

use crate::{ClientId, Ctx, FromRef, Handle, State};
use futures_util::future::BoxFuture;
use std::{future::Future, sync::Arc};

/// `on_connect`, type-erased.
pub(crate) type OnConnect<H, C, S> =
    Arc<dyn Fn(H, ClientId, &S) -> BoxFuture<'static, Result<C, Reject>> + Send + Sync>;

/// `on_disconnect`, type-erased.
pub(crate) type OnDisconnect<O, C, S> =
    Arc<dyn Fn(Disconnected<C>, Handle<O>, &S) -> BoxFuture<'static, ()> + Send + Sync>;

/// A function usable as `on_connect`: `async fn(headers: H, id: ClientId) -> Result<C, Reject>`,
/// optionally with a [`State`] as third argument. `M` marks which of the two it is.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an on_connect hook",
    note = "on_connect takes (H, ClientId) or (H, ClientId, State<T>) and returns a future of Result<C, Reject>; annotate the closure's argument types"
)]
pub trait ConnectHook<H, C, S, M>: Send + Sync + 'static {
    /// The hook, type-erased.
    #[doc(hidden)]
    fn erase(self) -> OnConnect<H, C, S>;
}

impl<H, C, S, F, Fut> ConnectHook<H, C, S, ()> for F
where
    F: Fn(H, ClientId) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<C, Reject>> + Send + 'static,
{
    fn erase(self) -> OnConnect<H, C, S> {
        Arc::new(move |headers, id, _| Box::pin(self(headers, id)))
    }
}

impl<H, C, S, T, F, Fut> ConnectHook<H, C, S, State<T>> for F
where
    T: FromRef<S>,
    F: Fn(H, ClientId, State<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<C, Reject>> + Send + 'static,
{
    fn erase(self) -> OnConnect<H, C, S> {
        Arc::new(move |headers, id, state| Box::pin(self(headers, id, State(T::from_ref(state)))))
    }
}

/// A function usable as `on_disconnect`: `async fn(gone: Disconnected<C>, server: Handle<O>)`,
/// optionally with a [`State`] as third argument. `M` marks which of the two it is.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an on_disconnect hook",
    note = "on_disconnect takes (Disconnected<C>, Handle<O>) or (Disconnected<C>, Handle<O>, State<T>) and returns a future of ()"
)]
pub trait DisconnectHook<O, C, S, M>: Send + Sync + 'static {
    /// The hook, type-erased.
    #[doc(hidden)]
    fn erase(self) -> OnDisconnect<O, C, S>;
}

impl<O, C, S, F, Fut> DisconnectHook<O, C, S, ()> for F
where
    F: Fn(Disconnected<C>, Handle<O>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn erase(self) -> OnDisconnect<O, C, S> {
        Arc::new(move |gone, server, _| Box::pin(self(gone, server)))
    }
}

impl<O, C, S, T, F, Fut> DisconnectHook<O, C, S, State<T>> for F
where
    T: FromRef<S>,
    F: Fn(Disconnected<C>, Handle<O>, State<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn erase(self) -> OnDisconnect<O, C, S> {
        Arc::new(move |gone, server, state| Box::pin(self(gone, server, State(T::from_ref(state)))))
    }
}

/// A connection refused by `on_connect`: an HTTP status and a message, sent as
/// `{"error": message}` before any upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub(crate) status: u16,
    pub(crate) message: String,
}

impl Reject {
    /// HTTP 401: the client could not be authenticated.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self {
            status: 401,
            message: message.into(),
        }
    }

    /// HTTP 403: the client is known but not allowed in.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self {
            status: 403,
            message: message.into(),
        }
    }

    /// The HTTP status sent.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The message sent.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// A client that left, as `on_disconnect` receives it.
#[derive(Debug)]
#[non_exhaustive]
pub struct Disconnected<C> {
    /// Its id.
    pub client_id: ClientId,
    /// Its context.
    pub ctx: Ctx<C>,
    /// The rooms it was in, sorted.
    pub rooms: Vec<String>,
}
