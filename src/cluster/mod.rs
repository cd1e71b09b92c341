//! Many nodes, one app: a [`Backplane`] carries sends between the servers of one app, so a
//! broadcast, a room send, a send to a client id or a push from a [`Handle`](crate::Handle)
//! reaches the right clients on every node, exactly once.
//!
//! Without a backplane a server is a single node and none of this costs anything. With one
//! ([`Zocket::backplane`](crate::Zocket::backplane), for example `RedisBackplane` behind the
//! `redis` feature, or [`MemoryBus`] inside one process for tests):
//!
//! - the sending node delivers to its own clients at once, then publishes one envelope (the
//!   event encoded once, in JSON, plus MessagePack if it was encoded anyway) that the other
//!   nodes deliver to theirs; a node ignores its own publications;
//! - broadcasts and sends to client ids that are not local go to the channel `all`, which
//!   every node hears; a room send goes to the room's channel, which a node subscribes to only
//!   while the room has a member on it;
//! - cluster-wide questions ([`Cluster`](crate::Cluster)) are published on `all` and each other
//!   node answers on the asker's own channel `node:ID`.

mod backplane;
pub(crate) mod envelope;
mod memory;
pub(crate) mod node;
#[cfg(feature = "redis")]
mod redis;

pub use backplane::{Backplane, BackplaneError, Inbound};
pub use memory::{MemoryBackplane, MemoryBus};
#[cfg(feature = "redis")]
pub use redis::RedisBackplane;

use std::{fmt, sync::Arc};

/// The id of one node (one server process) of a cluster: random for each server unless given,
/// and named in its logs and spans.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(Arc<str>);

impl NodeId {
    /// A fresh random id: 12 hexadecimal digits.
    pub fn random() -> Self {
        let bits: u64 = rand::random();
        Self(format!("{:012x}", bits >> 16).into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for NodeId {
    fn from(id: &str) -> Self {
        Self(id.into())
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", &self.0)
    }
}

/// The id of one delivered message, given where it was sent: the sending node's random
/// incarnation number and its counter. Kept beside each frame of a replay log, so a session
/// handed from one node to another gets each frame once (`docs/resume.md`). `NONE` is never
/// matched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct MessageId {
    pub(crate) node: u64,
    pub(crate) n: u64,
}

impl MessageId {
    /// No id (a server without a backplane).
    pub(crate) const NONE: Self = Self { node: 0, n: 0 };

    pub(crate) fn is_none(self) -> bool {
        self == Self::NONE
    }
}

/// A cluster-wide question got no complete answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClusterError {
    /// The backplane is unreachable: the question could not be asked.
    Unavailable(String),
    /// Not every node answered in time.
    Timeout {
        /// Nodes that answered.
        answered: usize,
        /// Nodes that received the question (this one left out).
        expected: usize,
    },
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(why) => write!(f, "the backplane is unavailable: {why}"),
            Self::Timeout { answered, expected } => {
                write!(f, "{answered} of {expected} nodes answered in time")
            }
        }
    }
}

impl std::error::Error for ClusterError {}
