//! [`Zocket`]: the instance. Headers, the connection context and its lifecycle hooks.

use crate::call::Conn;
use crate::server::Server;
use crate::{ClientId, Config, Ctx, Handle, Outgoing, Router};
use futures_util::future::BoxFuture;
use garde::Validate;
use serde::de::DeserializeOwned;
use std::{fmt, future::Future, sync::Arc};

pub(crate) type OnConnect<H, C> = Arc<dyn Fn(H, ClientId) -> BoxFuture<'static, Result<C, Reject>> + Send + Sync>;
pub(crate) type OnDisconnect<C, O> = Arc<dyn Fn(Disconnected<C>, Handle<O>) -> BoxFuture<'static, ()> + Send + Sync>;

/// A Zocket instance: the headers a client must send (`H`), the context built for each
/// connection (`C`), and the messages the server sends (`O`).
///
/// Headers are read from the upgrade request's headers and URL query (a query parameter wins,
/// since browsers cannot set headers), deserialized into `H` and checked against its `garde`
/// rules: a client whose headers fail gets HTTP 400 before any upgrade. `on_connect` then
/// builds the context, or refuses with a [`Reject`] (HTTP 401 or 403).
///
/// ```
/// use garde::Validate;
/// use serde::Deserialize;
/// use zocket::{Outgoing, Reject, Zocket};
///
/// #[derive(Deserialize, Validate)]
/// struct Headers {
///     #[garde(length(min = 3))]
///     token: String,
/// }
///
/// #[derive(Outgoing)]
/// enum Out {
///     #[zocket(route = "system.announcement")]
///     Announcement { text: String },
/// }
///
/// struct User { id: String }
///
/// let zo = Zocket::<Headers, Out>::new()
///     .on_connect(|headers: Headers, _id| async move {
///         if headers.token.starts_with("banned") {
///             return Err(Reject::unauthorized("User is banned"));
///         }
///         Ok(User { id: headers.token })
///     })
///     .on_disconnect(|gone, _send| async move {
///         println!("{} left {:?}", gone.ctx.id, gone.rooms);
///     });
/// let router = zo.router();
/// let server = zo.server(router);
/// ```
pub struct Zocket<H, O, C = ()> {
    on_connect: OnConnect<H, C>,
    on_disconnect: Option<OnDisconnect<C, O>>,
    config: Config,
}

impl<H, O> Zocket<H, O, ()>
where
    H: Send + 'static,
    O: 'static,
{
    /// An instance whose connections have no context (`()`) until [`on_connect`](Self::on_connect) gives them one.
    pub fn new() -> Self {
        Self {
            on_connect: Arc::new(|_, _| Box::pin(async { Ok(()) })),
            on_disconnect: None,
            config: Config::default(),
        }
    }

    /// Builds each connection's context from its validated headers and its id, before the
    /// upgrade. An error refuses the connection with its HTTP status and `{"error": message}`.
    ///
    /// An [`on_disconnect`](Self::on_disconnect) set before this keeps working; it sees the
    /// client's id and rooms, with `()` for the context.
    #[must_use]
    pub fn on_connect<C, F, Fut>(self, on_connect: F) -> Zocket<H, O, C>
    where
        C: Send + Sync + 'static,
        F: Fn(H, ClientId) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<C, Reject>> + Send + 'static,
    {
        let on_disconnect = self.on_disconnect.map(|earlier| -> OnDisconnect<C, O> {
            Arc::new(move |gone: Disconnected<C>, server| {
                let unit = Conn {
                    id: gone.client_id.clone(),
                    ctx: (),
                };
                let gone = Disconnected {
                    client_id: gone.client_id,
                    ctx: Ctx(Arc::new(unit)),
                    rooms: gone.rooms,
                };
                earlier(gone, server)
            })
        });
        Zocket {
            on_connect: Arc::new(move |headers, id| Box::pin(on_connect(headers, id))),
            on_disconnect,
            config: self.config,
        }
    }
}

impl<H, O> Default for Zocket<H, O, ()>
where
    H: Send + 'static,
    O: 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<H, O, C> Zocket<H, O, C>
where
    H: DeserializeOwned + Validate + Send + 'static,
    H::Context: Default,
    O: Outgoing,
    C: Send + Sync + 'static,
{
    /// Runs after a client is gone, with the server's [`Handle`]: the client has already left
    /// every room, so a broadcast from here reaches the remaining clients. Also runs for every
    /// client at graceful shutdown.
    #[must_use]
    pub fn on_disconnect<F, Fut>(mut self, on_disconnect: F) -> Self
    where
        F: Fn(Disconnected<C>, Handle<O>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_disconnect = Some(Arc::new(move |gone, send| Box::pin(on_disconnect(gone, send))));
        self
    }

    /// Sets the connection limits and timings. Panics on values that cannot work (a zero size,
    /// rate or heartbeat interval).
    #[must_use]
    #[track_caller]
    pub fn config(mut self, config: Config) -> Self {
        config.check();
        self.config = config;
        self
    }

    /// An empty router for this instance's context and outgoing types.
    pub fn router(&self) -> Router<C, O> {
        Router::new()
    }

    /// The server: this instance with its routes, ready to mount or [`serve`](crate::serve).
    /// Panics if two outgoing messages share a route (possible only through nesting).
    #[must_use]
    #[track_caller]
    pub fn server(self, router: Router<C, O>) -> Server<H, O, C> {
        Server::new(self.on_connect, self.on_disconnect, self.config, router)
    }
}

impl<H, O, C> fmt::Debug for Zocket<H, O, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Zocket")
            .field("config", &self.config)
            .field("on_disconnect", &self.on_disconnect.is_some())
            .finish_non_exhaustive()
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

/// Outgoing messages of a server that sends none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, crate::Outgoing)]
pub enum NoOutgoing {}

/// Headers for an instance that needs none: any request is accepted.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize, Validate)]
pub struct NoHeaders {}

/// No keys in TypeScript, so a client need not pass any headers.
impl ts_rs::TS for NoHeaders {
    type WithoutGenerics = Self;
    type OptionInnerType = Self;

    fn name(_: &ts_rs::Config) -> String {
        "Record<string, never>".to_owned()
    }

    fn inline(cfg: &ts_rs::Config) -> String {
        Self::name(cfg)
    }
}
