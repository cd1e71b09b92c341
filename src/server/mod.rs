//! [`Server`]: an instance with its routes, mounted into axum or served standalone, and its
//! [`Handle`] for pushes from outside any handler.

mod serve;

pub use serve::{IntoListener, Serve, listen, serve};

use crate::call::App;
use crate::cluster::node::Node;
use crate::cluster::{Backplane, NodeId};
use crate::connection::{Route, Shared};
use crate::hooks::{OnConnect, OnDisconnect, OnMove};
use crate::hub::Hub;
use crate::lifecycle::Lifecycle;
use crate::{Config, Handle, Router};
use garde::Validate;
use serde::de::DeserializeOwned;
use std::{fmt, sync::Arc};

/// A Zocket instance with its routes: mount it into an axum app with
/// [`method_router`](Self::method_router), or run it with [`serve`]. Cheap to clone.
///
/// ```no_run
/// # use zocket::{Zocket, NoHeaders, NoOutgoing};
/// # async fn run() -> std::io::Result<()> {
/// let zo = Zocket::<NoHeaders, NoOutgoing>::new();
/// let router = zo.router();
/// let server = zo.server(router);
/// // In an existing axum app, at any path:
/// let app: axum::Router = axum::Router::new().route("/ws", server.method_router());
/// // Or standalone, in one line:
/// zocket::serve("127.0.0.1:3000", server).await
/// # }
/// ```
pub struct Server<H, O, C = (), S = ()> {
    pub(crate) shared: Arc<Shared<H, O, C, S>>,
}

/// What a [`Zocket`](crate::Zocket) instance hands its server.
pub(crate) struct Parts<H, O, C, S> {
    pub(crate) on_connect: OnConnect<H, C, S>,
    pub(crate) on_disconnect: Option<OnDisconnect<O, C, S>>,
    pub(crate) config: Config,
    pub(crate) state: S,
    /// How contexts travel, if sessions resume across nodes.
    pub(crate) across: Option<crate::connection::ContextCodec<C>>,
    pub(crate) on_move: Option<OnMove<O, C, S>>,
}

impl<H, O, C, S> Server<H, O, C, S>
where
    H: DeserializeOwned + Validate + Send + 'static,
    H::Context: Default,
    O: crate::Outgoing,
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    #[track_caller]
    pub(crate) fn new(
        parts: Parts<H, O, C, S>,
        backplane: Option<Arc<dyn Backplane>>,
        router: Router<O, C, S>,
    ) -> Self {
        let Parts {
            on_connect,
            on_disconnect,
            config,
            state,
            across,
            on_move,
        } = parts;
        let mut outgoing = O::routes();
        outgoing.sort_unstable();
        if let Some(pair) = outgoing.windows(2).find(|pair| pair[0] == pair[1]) {
            // The derive sees its own routes, not those of the enums it nests.
            panic!("zocket: the outgoing route \"{}\" is declared twice", pair[0]);
        }
        let routes = router
            .into_endpoints()
            .map(|(name, endpoint)| {
                let name_shared: Arc<str> = name.as_str().into();
                let route = Route {
                    metrics: crate::metrics::RouteMetrics::new(name_shared.clone()),
                    name: name_shared,
                    endpoint,
                };
                (name.into_boxed_str(), route)
            })
            .collect();
        let shared = Arc::new(Shared {
            app: Arc::new(App {
                hub: match backplane {
                    None => Arc::new(
                        Hub::new(config.max_rooms_per_client)
                            .with_feed(config.outbound_queue, config.outbound_queue_bytes),
                    ),
                    Some(backplane) => {
                        let node = Node::new(NodeId::random(), backplane);
                        let hub = Hub::new(config.max_rooms_per_client)
                            .with_feed(config.outbound_queue, config.outbound_queue_bytes);
                        Hub::clustered(hub, node)
                    }
                },
                state,
            }),
            routes,
            on_connect,
            on_disconnect,
            on_move,
            sessions: config
                .resume
                .map(|resume| crate::connection::Sessions::new(resume, across)),
            config,
            lifecycle: Lifecycle::default(),
        });
        if let (Some(node), Some(sessions)) = (shared.app.hub.node(), &shared.sessions) {
            if sessions.across_nodes() {
                node.serve_sessions(Arc::new(crate::connection::Peer::new(&shared)));
            }
        }
        Self { shared }
    }

    /// A handle to push messages, inspect rooms and shut down, from anywhere.
    pub fn handle(&self) -> Handle<O> {
        self.shared.handle()
    }

    /// The WebSocket endpoint as an axum route, to mount at any path of any app.
    pub fn method_router<A>(&self) -> axum::routing::MethodRouter<A>
    where
        A: Clone + Send + Sync + 'static,
    {
        axum::routing::get(crate::connection::upgrade::<H, O, C, S>).with_state(self.shared.clone())
    }

    /// An axum app serving the WebSocket endpoint at `/`.
    pub fn into_router(self) -> axum::Router {
        axum::Router::new().route("/", self.method_router())
    }
}

impl<H, O, C, S> Clone for Server<H, O, C, S> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<H, O, C, S> fmt::Debug for Server<H, O, C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut routes: Vec<_> = self.shared.routes.keys().collect();
        routes.sort();
        f.debug_struct("Server")
            .field("routes", &routes)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}
