//! [`Handle`]: pushes, rooms and shutdown from outside any handler (cron jobs, HTTP routes).

use crate::hub::Hub;
use crate::lifecycle::Lifecycle;
use crate::{ClientId, Cluster, Emit, Outgoing, Rooms, Sender};
use std::{fmt, sync::Arc};

/// A cheap, cloneable handle to a running server: the seed's `handlers.send`.
///
/// ```
/// # use zocket::{Outgoing, Zocket, NoHeaders};
/// #[derive(Outgoing)]
/// enum Out {
///     #[zocket(route = "system.announcement")]
///     Announcement { text: String },
/// }
/// let zo = Zocket::<NoHeaders, Out>::new();
/// let router = zo.router();
/// let server = zo.server(router);
/// let push = server.handle();
/// # let rt = tokio::runtime::Runtime::new().unwrap();
/// rt.block_on(async move {
///     tokio::spawn(async move {
///         // every minute, from outside any handler:
///         push.emit(Out::Announcement { text: "Tick".into() }).broadcast().unwrap();
///     }).await.unwrap();
/// });
/// ```
pub struct Handle<O> {
    sender: Sender<O>,
    hub: Arc<Hub>,
    lifecycle: Lifecycle,
}

impl<O> Handle<O> {
    pub(crate) fn new(hub: Arc<Hub>, lifecycle: Lifecycle) -> Self {
        Self {
            sender: Sender::new(hub.clone()),
            hub,
            lifecycle,
        }
    }

    /// A sender for this server's messages.
    pub fn sender(&self) -> Sender<O> {
        self.sender.clone()
    }

    /// The rooms of one client.
    pub fn rooms(&self, client: &ClientId) -> Rooms {
        Rooms::new(self.hub.clone(), client.clone())
    }

    /// The ids of every member of `room` on this node, unordered (across a cluster:
    /// [`Cluster::room_members`](crate::Cluster::room_members)).
    pub fn members(&self, room: &str) -> Vec<ClientId> {
        self.hub.members(room)
    }

    /// Every room that has members on this node, sorted.
    pub fn room_names(&self) -> Vec<String> {
        self.hub.room_names()
    }

    /// The cluster this server is a node of: cluster-wide rooms and clients. A server
    /// without a backplane is a cluster of one, answered from memory.
    pub fn cluster(&self) -> Cluster {
        Cluster::new(self.hub.clone())
    }

    /// How many clients are connected to this node.
    pub fn client_count(&self) -> usize {
        self.hub.client_count()
    }

    /// Shuts down gracefully: every connection gets a close frame (1001, "server shutting
    /// down") and its `on_disconnect` runs; new upgrades are refused with HTTP 503. Resolves
    /// when every connection has finished.
    pub async fn shutdown(&self) {
        self.lifecycle.shutdown.cancel();
        // After the cancel: a client admitted later sees it (see `admit`).
        self.hub.shut_down_all();
        self.lifecycle.connections.close();
        self.lifecycle.connections.wait().await;
        // What the departing clients' `on_disconnect` sent to other nodes leaves first.
        if let Some(node) = self.hub.node() {
            node.flush().await;
        }
    }

    /// Resolves once shutdown has begun.
    pub async fn shutting_down(&self) {
        self.lifecycle.shutdown.cancelled().await;
    }
}

impl<O: Outgoing> Handle<O> {
    /// Starts sending `message`, as [`Sender::emit`].
    pub fn emit(&self, message: impl Into<O>) -> Emit<'_, O> {
        self.sender.emit(message)
    }
}

impl<O> Clone for Handle<O> {
    fn clone(&self) -> Self {
        Self::new(self.hub.clone(), self.lifecycle.clone())
    }
}

impl<O> fmt::Debug for Handle<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("clients", &self.client_count())
            .finish_non_exhaustive()
    }
}
