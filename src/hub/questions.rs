//! [`Cluster`]: questions about rooms and clients across every node of an app.

use super::Hub;
use crate::ClientId;
use crate::cluster::envelope::{Answer, Question};
use crate::cluster::{ClusterError, NodeId};
use std::collections::BTreeSet;
use std::{fmt, sync::Arc, time::Duration};

/// Cluster-wide rooms and clients, from [`Handle::cluster`](crate::Handle::cluster).
///
/// On a server without a backplane every answer comes from memory at once. In a cluster, a
/// question costs one publication that every node receives plus one small answer from each
/// other node (two backplane round trips, whatever the number of nodes); it waits for every
/// node that received it, at most `timeout`. Answers reflect the moment each node answered:
/// clients connect and leave meanwhile.
///
/// ```
/// # use zocket::{NoHeaders, NoOutgoing, Zocket};
/// # use std::time::Duration;
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let zo = Zocket::<NoHeaders, NoOutgoing>::new();
/// let router = zo.router();
/// let cluster = zo.server(router).handle().cluster();
/// let members = cluster.room_members("lobby", Duration::from_secs(1)).await.unwrap();
/// assert!(members.is_empty());
/// # });
/// ```
pub struct Cluster {
    hub: Arc<Hub>,
}

/// Where a client is connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// On this node.
    Here,
    /// On another node.
    Node(NodeId),
}

impl Cluster {
    pub(crate) fn new(hub: Arc<Hub>) -> Self {
        Self { hub }
    }

    /// This node's id; `None` without a backplane.
    pub fn node_id(&self) -> Option<&NodeId> {
        self.hub.node().map(|node| node.id())
    }

    /// Whether this node reaches the other nodes right now (always, without a backplane): the
    /// backplane is connected and subscribed to every channel this node needs. What a
    /// readiness probe should ask before sending clients to this node.
    pub fn is_up(&self) -> bool {
        self.hub.node().is_none_or(|node| node.is_up())
    }

    /// The ids of `room`'s members on every node, sorted.
    pub async fn room_members(&self, room: &str, timeout: Duration) -> Result<Vec<ClientId>, ClusterError> {
        let mut members: BTreeSet<ClientId> = self.hub.members(room).into_iter().collect();
        if let Some(node) = self.hub.node() {
            for (_, answer) in node.ask(Question::Members(room.into()), timeout, |_| false).await? {
                if let Answer::Members(ids) = answer {
                    members.extend(ids.iter().map(|id| ClientId::from(&**id)));
                }
            }
        }
        Ok(members.into_iter().collect())
    }

    /// How many members `room` has on every node (the same question as
    /// [`room_members`](Self::room_members)).
    pub async fn room_size(&self, room: &str, timeout: Duration) -> Result<usize, ClusterError> {
        Ok(self.room_members(room, timeout).await?.len())
    }

    /// The node that holds client `id`, if it is connected anywhere. Ends as soon as one node
    /// says it holds it.
    pub async fn locate(&self, id: &ClientId, timeout: Duration) -> Result<Option<Location>, ClusterError> {
        if self.hub.holds(id.as_str()) {
            return Ok(Some(Location::Here));
        }
        let Some(node) = self.hub.node() else {
            return Ok(None);
        };
        let found = |answer: &Answer| matches!(answer, Answer::Located(true));
        let answers = node.ask(Question::Locate(id.as_str().into()), timeout, found).await?;
        Ok(answers
            .into_iter()
            .find(|(_, answer)| found(answer))
            .map(|(origin, _)| Location::Node(NodeId::from(&*origin))))
    }

    /// Whether client `id` is connected to any node.
    pub async fn is_connected(&self, id: &ClientId, timeout: Duration) -> Result<bool, ClusterError> {
        Ok(self.locate(id, timeout).await?.is_some())
    }
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster").field("node", &self.node_id()).finish()
    }
}
