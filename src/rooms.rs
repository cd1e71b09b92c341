//! [`Rooms`]: one client's room memberships.

use crate::hub::{Hub, TooManyRooms};
use crate::{CallError, ClientId};
use std::{fmt, sync::Arc};

/// The rooms of one client: join, leave, list, test. As a handler argument, the caller's.
///
/// Rooms exist while they have members; the last one leaving (or disconnecting) frees it.
/// Memberships end when the client disconnects.
pub struct Rooms {
    hub: Arc<Hub>,
    id: ClientId,
}

impl Rooms {
    pub(crate) fn new(hub: Arc<Hub>, id: ClientId) -> Self {
        Self { hub, id }
    }

    /// Joins `room`: `Ok(true)` if newly joined, `Ok(false)` if already a member (or the
    /// client is gone). Past [`Config::max_rooms_per_client`](crate::Config) it fails with
    /// `FORBIDDEN`, so `rooms.join(&room)?` in a handler answers the client.
    pub fn join(&self, room: &str) -> Result<bool, CallError> {
        self.hub
            .join(&self.id, room)
            .map_err(|TooManyRooms(max)| CallError::forbidden(format!("A client may be in at most {max} rooms")))
    }

    /// Leaves `room`; `false` if not a member.
    pub fn leave(&self, room: &str) -> bool {
        self.hub.leave(&self.id, room)
    }

    /// The rooms the client is in, sorted.
    pub fn current(&self) -> Vec<String> {
        self.hub.rooms_of(&self.id)
    }

    /// Whether the client is in `room`.
    pub fn has(&self, room: &str) -> bool {
        self.hub.is_member(&self.id, room)
    }

    /// The ids of every member of `room` (any room, not only the client's) on this node,
    /// unordered; across every node of a cluster, see [`Cluster::room_members`](crate::Cluster::room_members).
    pub fn members(&self, room: &str) -> Vec<ClientId> {
        self.hub.members(room)
    }

    /// The client these rooms belong to.
    pub fn client_id(&self) -> &ClientId {
        &self.id
    }

    /// Resolves once every room with members on this node hears every node: in a cluster, once
    /// the backplane has subscribed to their channels (at most 2 s; at once while it is down,
    /// see `docs/redis.md`); without a cluster, at once.
    ///
    /// A handler's reply already waits for the rooms its call opened. After joins made outside
    /// a call ([`Handle::rooms`](crate::Handle::rooms)), await this before counting on what other
    /// nodes send those rooms to reach the client.
    ///
    /// ```
    /// # async fn run(handle: zocket::Handle<()>, client: zocket::ClientId) -> Result<(), zocket::CallError> {
    /// let rooms = handle.rooms(&client);
    /// rooms.join("lobby")?;
    /// rooms.heard().await;
    /// // Every node's sends to "lobby" now reach the client.
    /// # Ok(())
    /// # }
    /// ```
    pub async fn heard(&self) {
        if let Some(node) = self.hub.node() {
            node.subscribed().await;
        }
    }
}

impl fmt::Debug for Rooms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rooms")
            .field("client_id", &self.id)
            .finish_non_exhaustive()
    }
}
