//! The members of one room.

use super::Recipient;
use crate::ClientId;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// The members of one room, by id, and as one slice that sends to the room walk.
#[derive(Debug, Default)]
pub(super) struct Members {
    by_id: HashMap<ClientId, Recipient>,
    /// Every member's recipient in one slice, made by the first send to the room after a
    /// member came or left (as `Registry::everyone` is for broadcasts): a send walks 16 bytes
    /// a member in a row, not the map's entries. Dropping an old one is a decrement per member,
    /// made at most once per send to the room, which costs a `send` per member.
    list: OnceLock<Arc<[Recipient]>>,
}

impl Members {
    /// Adds `id`, reached through `to`; `false` if it already was a member.
    pub(super) fn insert(&mut self, id: ClientId, to: Recipient) -> bool {
        self.list.take();
        self.by_id.insert(id, to).is_none()
    }

    /// The member `id` is reached through `to` from now on, if it is one.
    pub(super) fn reach(&mut self, id: &ClientId, to: &Recipient) {
        if let Some(member) = self.by_id.get_mut(id) {
            *member = to.clone();
            self.list.take();
        }
    }

    /// Removes `id`; `false` if it was not a member.
    pub(super) fn remove(&mut self, id: &ClientId) -> bool {
        let removed = self.by_id.remove(id).is_some();
        if removed {
            self.list.take();
        }
        removed
    }

    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The members' ids, unordered.
    pub(super) fn ids(&self) -> impl Iterator<Item = &ClientId> {
        self.by_id.keys()
    }

    /// Every member's recipient, unordered.
    pub(super) fn list(&self) -> &Arc<[Recipient]> {
        self.list.get_or_init(|| self.by_id.values().cloned().collect())
    }
}
