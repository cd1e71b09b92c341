//! [`Zocket`]: the instance. Headers, the connection context and its lifecycle hooks.

use crate::call::Conn;
use crate::cluster::Backplane;
use crate::hooks::{ConnectHook, DisconnectHook, MoveHook, OnConnect, OnDisconnect, OnMove};
use crate::server::{Parts, Server};
use crate::{Config, Ctx, Disconnected, Outgoing, Router};
use garde::Validate;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::{fmt, sync::Arc};

/// A Zocket instance: the headers a client must send (`H`), the messages the server sends
/// (`O`), the context built for each connection (`C`) and the application state (`S`).
///
/// Headers are read from the upgrade request's headers and URL query (a query parameter wins,
/// since browsers cannot set headers; but never for `origin`, `host`, `cookie`, `forwarded`,
/// `x-real-ip`, `sec-*` or `x-forwarded-*`, which only a real header supplies, and for
/// `authorization` only when the request has none), deserialized into `H` and checked against
/// its `garde` rules: a client whose headers fail gets HTTP 400 before any upgrade.
/// `on_connect` then builds the context, or refuses with a [`Reject`](crate::Reject) (HTTP 401
/// or 403).
///
/// Application state (a database pool, configuration) is given once with
/// [`with_state`](Zocket::with_state); handlers, extractors and both hooks take it as
/// [`State`](crate::State).
///
/// ```
/// use garde::Validate;
/// use serde::Deserialize;
/// use zocket::{ClientId, Outgoing, Reject, Zocket};
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
///     .on_connect(|headers: Headers, _id: ClientId| async move {
///         if headers.token.starts_with("banned") {
///             return Err(Reject::unauthorized("User is banned"));
///         }
///         Ok(User { id: headers.token })
///     })
///     .on_disconnect(|gone: zocket::Disconnected<User>, _send: zocket::Handle<Out>| async move {
///         println!("{} left {:?}", gone.ctx.id, gone.rooms);
///     });
/// let router = zo.router();
/// let server = zo.server(router);
/// ```
pub struct Zocket<H, O, C = (), S = ()> {
    on_connect: OnConnect<H, C, S>,
    on_disconnect: Option<OnDisconnect<O, C, S>>,
    config: Config,
    state: S,
    backplane: Option<Arc<dyn Backplane>>,
    /// How contexts travel between nodes, if sessions resume across nodes.
    across: Option<crate::connection::ContextCodec<C>>,
    on_move: Option<OnMove<O, C, S>>,
}

impl<H, O> Zocket<H, O, (), ()>
where
    H: Send + 'static,
    O: 'static,
{
    /// An instance whose connections have no context (`()`) until [`on_connect`](Self::on_connect)
    /// gives them one, and no application state until [`with_state`](Self::with_state).
    pub fn new() -> Self {
        Self {
            on_connect: Arc::new(|_, _, _| Box::pin(async { Ok(()) })),
            on_disconnect: None,
            config: Config::default(),
            state: (),
            backplane: None,
            across: None,
            on_move: None,
        }
    }

    /// Gives the application state, once for the whole server: handlers, extractors and hooks
    /// take it (or a part of it, see [`FromRef`](crate::FromRef)) as [`State`](crate::State).
    /// Set it first, before the hooks, which may take it.
    #[must_use]
    pub fn with_state<S>(self, state: S) -> Zocket<H, O, (), S>
    where
        S: Clone + Send + Sync + 'static,
    {
        // An `on_disconnect` set before this took no state, and keeps working.
        let on_disconnect = self
            .on_disconnect
            .map(|earlier| -> OnDisconnect<O, (), S> { Arc::new(move |gone, server, _| earlier(gone, server, &())) });
        Zocket {
            on_connect: Arc::new(|_, _, _| Box::pin(async { Ok(()) })),
            on_disconnect,
            config: self.config,
            state,
            backplane: self.backplane,
            across: None,
            on_move: None,
        }
    }
}

impl<H, O, S> Zocket<H, O, (), S>
where
    H: Send + 'static,
    O: 'static,
    S: Send + Sync + 'static,
{
    /// Builds each connection's context from its validated headers and its id (and the
    /// application [`State`](crate::State), if it takes one as a third argument), before the
    /// upgrade. An error refuses the connection with its HTTP status and `{"error": message}`.
    ///
    /// An [`on_disconnect`](Self::on_disconnect) set before this keeps working; it sees the
    /// client's id and rooms, with `()` for the context.
    #[must_use]
    pub fn on_connect<C, M, F>(self, on_connect: F) -> Zocket<H, O, C, S>
    where
        C: Send + Sync + 'static,
        F: ConnectHook<H, C, S, M>,
    {
        let on_disconnect = self.on_disconnect.map(|earlier| -> OnDisconnect<O, C, S> {
            Arc::new(move |gone: Disconnected<C>, server, state| {
                let unit = Conn {
                    id: gone.client_id.clone(),
                    ctx: (),
                };
                let gone = Disconnected {
                    client_id: gone.client_id,
                    ctx: Ctx(Arc::new(unit)),
                    rooms: gone.rooms,
                };
                earlier(gone, server, state)
            })
        });
        Zocket {
            on_connect: on_connect.erase(),
            on_disconnect,
            config: self.config,
            state: self.state,
            backplane: self.backplane,
            across: None,
            on_move: None,
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

impl<H, O, C, S> Zocket<H, O, C, S>
where
    H: DeserializeOwned + Validate + Send + 'static,
    H::Context: Default,
    O: Outgoing,
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    /// Runs after a client is gone, with the server's [`Handle`](crate::Handle) (and the
    /// application [`State`](crate::State), if it takes one as a third argument): the client
    /// has already left every room, so a broadcast from here reaches the remaining clients.
    /// Also runs for every client at graceful shutdown.
    #[must_use]
    pub fn on_disconnect<M, F>(mut self, on_disconnect: F) -> Self
    where
        F: DisconnectHook<O, C, S, M>,
    {
        self.on_disconnect = Some(on_disconnect.erase());
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

    /// Makes the server one node of many: every send also reaches the clients of the other
    /// servers on the same `backplane` (see [`cluster`](crate::cluster)), for example
    /// `.backplane(RedisBackplane::new("redis://127.0.0.1:6379")?)` with the `redis` feature.
    /// The server must then be built inside a tokio runtime, which runs the backplane.
    #[must_use]
    pub fn backplane(mut self, backplane: impl Backplane) -> Self {
        self.backplane = Some(Arc::new(backplane));
        self
    }

    /// An empty router for this instance's context and outgoing types.
    pub fn router(&self) -> Router<O, C, S> {
        Router::new()
    }

    /// The server: this instance with its routes, ready to mount or [`serve`](crate::serve).
    /// Panics if two outgoing messages share a route (possible only through nesting).
    #[must_use]
    #[track_caller]
    pub fn server(self, router: Router<O, C, S>) -> Server<H, O, C, S> {
        let parts = Parts {
            on_connect: self.on_connect,
            on_disconnect: self.on_disconnect,
            config: self.config,
            state: self.state,
            across: self.across,
            on_move: self.on_move,
        };
        Server::new(parts, self.backplane, router)
    }
}

impl<H, O, C, S> Zocket<H, O, C, S>
where
    H: DeserializeOwned + Validate + Send + 'static,
    H::Context: Default,
    O: Outgoing,
    C: Serialize + DeserializeOwned + Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    /// With [session resume](crate::Resume) on and a [backplane](Self::backplane), a client
    /// may resume its session on another node of the cluster than the one it was connected
    /// to: its context (serialized in JSON, hence the bounds), client id, rooms and every
    /// event it missed move there (see `docs/resume.md`). Without this, such a client gets a
    /// fresh session. Call it after [`on_connect`](Self::on_connect), which sets the
    /// context's type; every node of the cluster should turn it on.
    #[must_use]
    pub fn resume_across_nodes(mut self) -> Self {
        self.across = Some(crate::connection::ContextCodec::json());
        self
    }

    /// Tells the app of a session that [moved](Self::resume_across_nodes) to another node:
    /// on the node it left, and then on the node it arrived on, before the client's first
    /// call there (see [`Moved`](crate::Moved)). For what each node keeps about its own
    /// clients; a session that moved has not ended, so `on_disconnect` does not run for it.
    /// Panics in it are caught; it may take [`on_connect_timeout`](crate::Config) where it
    /// arrives and [`on_disconnect_timeout`](crate::Config) where it left.
    ///
    /// ```
    /// # use zocket::{ClientId, Handle, Moved, NoOutgoing, Reject, State, Zocket};
    /// # use std::{collections::HashMap, sync::{Arc, Mutex}};
    /// # #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)] struct User { name: String }
    /// # #[derive(serde::Deserialize, garde::Validate)] struct Headers { #[garde(skip)] name: String }
    /// // Who is on this node, by client id.
    /// type Here = Arc<Mutex<HashMap<ClientId, String>>>;
    /// let zo = Zocket::<Headers, NoOutgoing>::new()
    ///     .with_state(Here::default())
    ///     .on_connect(|h: Headers, _id: ClientId| async move { Ok::<_, Reject>(User { name: h.name }) })
    ///     .resume_across_nodes()
    ///     .on_move(|moved: Moved<User>, _server: Handle<NoOutgoing>, State(here): State<Here>| async move {
    ///         let mut here = here.lock().unwrap();
    ///         if moved.arrived {
    ///             here.insert(moved.client_id, moved.ctx.name.clone());
    ///         } else {
    ///             here.remove(&moved.client_id);
    ///         }
    ///     });
    /// ```
    #[must_use]
    pub fn on_move<M, F>(mut self, on_move: F) -> Self
    where
        F: MoveHook<O, C, S, M>,
    {
        self.on_move = Some(on_move.erase());
        self
    }
}

impl<H, O, C, S> fmt::Debug for Zocket<H, O, C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Zocket")
            .field("config", &self.config)
            .field("on_disconnect", &self.on_disconnect.is_some())
            .field("backplane", &self.backplane)
            .finish_non_exhaustive()
    }
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
