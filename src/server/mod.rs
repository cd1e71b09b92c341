//! [`Server`]: an instance with its routes, mounted into axum or served standalone, and its
//! [`Handle`] for pushes from outside any handler.

mod handle;
mod serve;

pub use handle::Handle;
pub use serve::{IntoListener, Serve, listen, serve};

use crate::hub::Hub;
use crate::instance::{OnConnect, OnDisconnect};
use crate::router::Endpoint;
use crate::{Config, Router};
use garde::Validate;
use serde::de::DeserializeOwned;
use std::{collections::HashMap, fmt, sync::Arc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A route in the table the connections dispatch on.
pub(crate) struct Route<C, O> {
    pub(crate) name: Arc<str>,
    pub(crate) endpoint: Endpoint<C, O>,
}

/// Stopping: the signal every connection watches, and the connections still running.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lifecycle {
    pub(crate) shutdown: CancellationToken,
    pub(crate) connections: TaskTracker,
}

/// Everything the connections of one server share.
pub(crate) struct Shared<H, O, C> {
    pub(crate) hub: Arc<Hub>,
    pub(crate) routes: HashMap<Box<str>, Route<C, O>>,
    pub(crate) on_connect: OnConnect<H, C>,
    pub(crate) on_disconnect: Option<OnDisconnect<C, O>>,
    pub(crate) config: Config,
    pub(crate) lifecycle: Lifecycle,
}

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
pub struct Server<H, O, C = ()> {
    pub(crate) shared: Arc<Shared<H, O, C>>,
}

impl<H, O, C> Server<H, O, C>
where
    H: DeserializeOwned + Validate + Send + 'static,
    H::Context: Default,
    O: crate::Outgoing,
    C: Send + Sync + 'static,
{
    #[track_caller]
    pub(crate) fn new(
        on_connect: OnConnect<H, C>,
        on_disconnect: Option<OnDisconnect<C, O>>,
        config: Config,
        router: Router<C, O>,
    ) -> Self {
        let mut outgoing = O::routes();
        outgoing.sort_unstable();
        if let Some(pair) = outgoing.windows(2).find(|pair| pair[0] == pair[1]) {
            // The derive sees its own routes, not those of the enums it nests.
            panic!("zocket: the outgoing route \"{}\" is declared twice", pair[0]);
        }
        let routes = router
            .into_endpoints()
            .map(|(name, endpoint)| {
                let route = Route {
                    name: name.as_str().into(),
                    endpoint,
                };
                (name.into_boxed_str(), route)
            })
            .collect();
        Self {
            shared: Arc::new(Shared {
                hub: Arc::new(Hub::new(config.max_rooms_per_client)),
                routes,
                on_connect,
                on_disconnect,
                config,
                lifecycle: Lifecycle::default(),
            }),
        }
    }

    /// A handle to push messages, inspect rooms and shut down, from anywhere.
    pub fn handle(&self) -> Handle<O> {
        Handle::new(self.shared.hub.clone(), self.shared.lifecycle.clone())
    }

    /// The WebSocket endpoint as an axum route, to mount at any path of any app.
    pub fn method_router<S>(&self) -> axum::routing::MethodRouter<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        axum::routing::get(crate::connection::upgrade::<H, O, C>).with_state(self.shared.clone())
    }

    /// An axum app serving the WebSocket endpoint at `/`.
    pub fn into_router(self) -> axum::Router {
        axum::Router::new().route("/", self.method_router())
    }
}

impl<H, O, C> Clone for Server<H, O, C> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<H, O, C> fmt::Debug for Server<H, O, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut routes: Vec<_> = self.shared.routes.keys().collect();
        routes.sort();
        f.debug_struct("Server")
            .field("routes", &routes)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}
