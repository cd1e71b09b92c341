//! The lifecycle hooks: `on_connect` builds a connection's context (or refuses it with a
//! [`Reject`]), `on_disconnect` sees a client that left ([`Disconnected`]), `on_move` a session
//! that moved between nodes ([`Moved`]). Each may take the application [`State`] as a last
//! argument.

use crate::{ClientId, Ctx, FromRef, Handle, State};
use futures_util::future::BoxFuture;
use std::{future::Future, sync::Arc};

/// `on_connect`, type-erased.
pub(crate) type OnConnect<H, C, S> =
    Arc<dyn Fn(H, ClientId, &S) -> BoxFuture<'static, Result<C, Reject>> + Send + Sync>;

/// A hook told of an event about a client (`on_disconnect`, `on_move`), type-erased.
pub(crate) type OnEvent<E, O, S> = Arc<dyn Fn(E, Handle<O>, &S) -> BoxFuture<'static, ()> + Send + Sync>;

/// `on_disconnect`, type-erased.
pub(crate) type OnDisconnect<O, C, S> = OnEvent<Disconnected<C>, O, S>;

/// `on_move`, type-erased.
pub(crate) type OnMove<O, C, S> = OnEvent<Moved<C>, O, S>;

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

/// A function usable as `on_move`: `async fn(moved: Moved<C>, server: Handle<O>)`, optionally
/// with a [`State`] as third argument. `M` marks which of the two it is.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an on_move hook",
    note = "on_move takes (Moved<C>, Handle<O>) or (Moved<C>, Handle<O>, State<T>) and returns a future of ()"
)]
pub trait MoveHook<O, C, S, M>: Send + Sync + 'static {
    /// The hook, type-erased.
    #[doc(hidden)]
    fn erase(self) -> OnMove<O, C, S>;
}

/// Implements a hook trait for `Fn(Event<C>, Handle<O>)` and `Fn(Event<C>, Handle<O>, State<T>)`.
macro_rules! event_hook {
    ($hook:ident, $event:ident) => {
        impl<O, C, S, F, Fut> $hook<O, C, S, ()> for F
        where
            F: Fn($event<C>, Handle<O>) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = ()> + Send + 'static,
        {
            fn erase(self) -> OnEvent<$event<C>, O, S> {
                Arc::new(move |event, server, _| Box::pin(self(event, server)))
            }
        }

        impl<O, C, S, T, F, Fut> $hook<O, C, S, State<T>> for F
        where
            T: FromRef<S>,
            F: Fn($event<C>, Handle<O>, State<T>) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = ()> + Send + 'static,
        {
            fn erase(self) -> OnEvent<$event<C>, O, S> {
                Arc::new(move |event, server, state| Box::pin(self(event, server, State(T::from_ref(state)))))
            }
        }
    };
}

event_hook!(DisconnectHook, Disconnected);
event_hook!(MoveHook, Moved);

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

/// A session that moved between nodes of a cluster
/// ([`resume_across_nodes`](crate::Zocket::resume_across_nodes)), as `on_move` receives it:
/// once on the node it left (`arrived: false`; the client is no longer there, and
/// `on_disconnect` does not run), then on the node it resumed on (`arrived: true`, before
/// the client's first call there). What a node keeps per client of its own (a map from
/// client ids to names, say) is dropped on the first and rebuilt on the second; what the
/// other clients see does not change, as the session goes on.
#[derive(Debug)]
#[non_exhaustive]
pub struct Moved<C> {
    /// Its id, the same on both nodes.
    pub client_id: ClientId,
    /// Its context (on the node it arrived on, as deserialized there).
    pub ctx: Ctx<C>,
    /// The rooms it is in, sorted.
    pub rooms: Vec<String>,
    /// Whether it arrived on this node (`true`) or left it (`false`).
    pub arrived: bool,
}
