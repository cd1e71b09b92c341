//! [`Backplane`]: what a message bus must do for the nodes of one app to reach each other's
//! clients. The hub never talks to a bus directly; `RedisBackplane` (the `redis` feature) and
//! [`MemoryBus`](super::MemoryBus) implement this trait, and another bus (NATS, say) would too.

use super::node::Node;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use std::sync::Weak;
use std::{fmt, sync::Arc};

/// A publish/subscribe bus between the nodes of one app.
///
/// Channel names are given without any namespace (`all`, `node:ID`, `room:NAME`); the
/// implementation adds its own prefix. Payloads are opaque bytes. Every method but
/// [`publish_counted`](Self::publish_counted) is called from the send path, possibly under the
/// hub's lock, so none of them may wait: queue the work (in a bounded queue) and return.
///
/// What an implementation promises:
/// - messages one node publishes reach every node subscribed to the channel in the order they
///   were published (including the publisher itself, which ignores its own);
/// - a subscription lasts until [`unsubscribe`](Self::unsubscribe), across reconnects: after
///   an outage, every channel still wanted is subscribed again without being asked;
/// - while the bus is unreachable, publications are dropped (never buffered without bound),
///   and the outage and the recovery are logged once each.
pub trait Backplane: Send + Sync + fmt::Debug + 'static {
    /// Connects (in the background, retrying with backoff) and from then on hands every
    /// message of a subscribed channel to `inbound`. Called once, inside a tokio runtime,
    /// when the server is built.
    fn start(&self, inbound: Inbound);

    /// Publishes `message` on `channel`, without waiting.
    fn publish(&self, channel: &str, message: Bytes);

    /// Publishes `message` on `channel` now and tells how many subscribers received it (the
    /// publisher included, if subscribed). Used for cluster-wide questions, to know how many
    /// answers to wait for.
    fn publish_counted(&self, channel: &str, message: Bytes) -> BoxFuture<'static, Result<usize, BackplaneError>>;

    /// Starts receiving `channel`, without waiting.
    fn subscribe(&self, channel: &str);

    /// Stops receiving `channel`, without waiting.
    fn unsubscribe(&self, channel: &str);

    /// Resolves once every channel [`subscribe`](Self::subscribe)d before the call is
    /// subscribed on the bus, so that whatever any node publishes from then on reaches this
    /// one; at once while the bus is unreachable (the channels are subscribed when it is back).
    /// The reply to a call that opened a room waits for it (at most 2 s), so a client that saw
    /// its join answered hears the room's traffic from every node. Without an override, at
    /// once: right for a bus whose `subscribe` takes effect before it returns.
    fn subscribed(&self) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }

    /// Whether the bus is reachable and every wanted channel subscribed, right now: what a
    /// readiness probe asks. Without an override, always.
    fn is_up(&self) -> bool {
        true
    }

    /// Resolves once everything published so far has been handed to the bus (or dropped).
    /// Awaited at graceful shutdown, so that the last messages (those `on_disconnect` sends)
    /// leave before the process does. Without an override, at once.
    fn flush(&self) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

/// Where a [`Backplane`] hands the messages it receives.
#[derive(Clone)]
pub struct Inbound {
    node: Weak<Node>,
    id: super::NodeId,
}

impl Inbound {
    pub(crate) fn new(node: &Arc<Node>) -> Self {
        Self {
            node: Arc::downgrade(node),
            id: node.id().clone(),
        }
    }

    /// The id of the node this belongs to, for the backplane's logs.
    pub fn node_id(&self) -> &super::NodeId {
        &self.id
    }

    /// Handles one message received on `channel` (the name as subscribed, without prefix).
    /// Does not wait. Malformed or foreign messages are logged and skipped.
    pub fn receive(&self, channel: &str, message: Bytes) {
        if let Some(node) = self.node.upgrade() {
            node.receive(channel, message);
        }
    }

    /// Whether the server this belongs to is gone, so the backplane may stop.
    pub fn is_closed(&self) -> bool {
        self.node.strong_count() == 0
    }
}

impl fmt::Debug for Inbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbound")
            .field("node", &self.id)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The backplane failed: it is unreachable, refused a command, or timed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackplaneError(String);

impl BackplaneError {
    /// An error with this description.
    pub fn new(message: impl fmt::Display) -> Self {
        Self(message.to_string())
    }
}

impl fmt::Display for BackplaneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BackplaneError {}
