//! The hub: who is connected, who is in which room, and delivery of encoded messages to them.
//!
//! Every send (from handlers, hooks or a server [`Handle`](crate::Handle)) ends here as one
//! encoded message whose bytes are shared by all recipients. Locks are held only for the
//! non-blocking pushes into each client's bounded queue, never across an await.

mod cluster;
mod cork;
mod encode;
mod feed;
mod members;
mod outbox;
mod pacing;
mod questions;
mod sequence;
mod split;

pub(crate) use cork::Cork;
pub(crate) use encode::encode;
pub(crate) use feed::Feed;
pub(crate) use outbox::{Outbox, Pushed, Snapshot, Taken};
pub use questions::{Cluster, Location};
pub(crate) use sequence::Outbound;

use crate::ClientId;
use crate::cluster::MessageId;
use crate::cluster::node::Node;
use bytes::Bytes;
use members::Members;
use parking_lot::RwLock;
use std::cell::OnceCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use zocket_protocol::{Codec, EncodeError};

/// One message encoded for one codec (no WebSocket framing: the connection adds that as it
/// writes), shared by every recipient that speaks the codec.
pub(crate) type Message = Bytes;

/// One message, encoded on first use for each codec its recipients speak; every recipient of
/// a codec shares that one encoding.
pub(crate) struct Encoded<'a> {
    encode: &'a dyn Fn(Codec) -> Result<Message, EncodeError>,
    messages: [OnceCell<Option<Message>>; 2],
    error: OnceCell<EncodeError>,
}

impl<'a> Encoded<'a> {
    pub(crate) fn new(encode: &'a dyn Fn(Codec) -> Result<Message, EncodeError>) -> Self {
        Self {
            encode,
            messages: Default::default(),
            error: OnceCell::new(),
        }
    }

    fn get(&self, codec: Codec) -> Option<&Message> {
        self.messages[codec.index()]
            .get_or_init(|| match (self.encode)(codec) {
                Ok(frame) => Some(frame),
                Err(error) => {
                    let _ = self.error.set(error);
                    None
                }
            })
            .as_ref()
    }

    /// The encoding error, if some codec failed.
    pub(crate) fn into_error(self) -> Option<EncodeError> {
        self.error.into_inner()
    }
}

/// What became of one send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Clients whose queue took the frame.
    pub delivered: usize,
    /// Clients whose queue was full: they are being disconnected as too slow (code 1013).
    ///
    /// A large broadcast under load goes through the server's shared feed instead of each
    /// queue (`docs/architecture.md`); a client that falls further behind the feed is found
    /// when its connection reads it, closed the same way, and not counted here.
    pub dropped: usize,
}

/// Where one client's frames go: its queue, and the codec it speaks. Rooms keep one per
/// member, so a send to a room reaches its members without looking each one up.
#[derive(Debug, Clone)]
struct Recipient {
    outbox: Arc<Outbox>,
    codec: Codec,
}

impl Recipient {
    fn push(&self, message: &Encoded<'_>, id: MessageId, delivery: &mut Delivery) {
        if let Some(frame) = message.get(self.codec) {
            self.count(self.outbox.push(frame, id), delivery);
        }
    }

    /// Counts a push to this recipient, handing its queue to this thread's cork if it held the
    /// frame back.
    fn count(&self, pushed: Pushed, delivery: &mut Delivery) {
        if pushed == Pushed::Corked {
            cork::keep(&self.outbox);
        }
        delivery.count(pushed);
    }

    /// Pushes to each of `recipients` in turn the frame `frame` gives for its codec (none: not
    /// sent), the next one's queue read ahead ([`Outbox::push_before`]).
    fn push_each<'a, 'm>(
        recipients: impl Iterator<Item = &'a Self>,
        frame: impl Fn(Codec) -> Option<&'m Message>,
        id: MessageId,
        delivery: &mut Delivery,
    ) {
        let mut recipients = recipients.peekable();
        while let Some(recipient) = recipients.next() {
            if let Some(frame) = frame(recipient.codec) {
                let next = recipients.peek().map(|next| &*next.outbox);
                recipient.count(recipient.outbox.push_before(frame, id, next), delivery);
            }
        }
    }

    /// Its queue's address: which client it is, among a registry's.
    fn address(&self) -> usize {
        Arc::as_ptr(&self.outbox) as usize
    }
}

impl Delivery {
    /// Counts one push.
    pub(crate) fn count(&mut self, pushed: Pushed) {
        match pushed {
            Pushed::Queued | Pushed::Corked => self.delivered += 1,
            Pushed::Full => self.dropped += 1,
            // The connection is closing; it is about to leave the hub.
            Pushed::Closed => {}
        }
    }
}

/// The hub's side of one connection.
#[derive(Debug)]
pub(crate) struct Slot {
    to: Recipient,
    rooms: BTreeSet<Arc<str>>,
    /// A session on its way here from another node: a send to its id is published too, so
    /// the old node logs this node's sends in the order they were made (`docs/resume.md`).
    forward: bool,
}

impl Slot {
    pub(crate) fn new(outbox: Arc<Outbox>, codec: Codec) -> Self {
        Self {
            to: Recipient { outbox, codec },
            rooms: BTreeSet::new(),
            forward: false,
        }
    }

    /// The slot of a session on its way here from another node (see `forward`).
    pub(crate) fn arriving(outbox: Arc<Outbox>, codec: Codec) -> Self {
        Self {
            forward: true,
            ..Self::new(outbox, codec)
        }
    }
}

#[derive(Debug, Default)]
struct Registry {
    clients: HashMap<ClientId, Slot>,
    /// Every client's recipient in one slice, made by the first broadcast after a client came
    /// or left. A broadcast walks it rather than `clients` (16 bytes a client, in a row, where
    /// a map entry also holds the rest of the slot), and the helper of a split one shares it
    /// rather than a copy of its half (`split.rs`: a copy cost a cache miss per recipient).
    everyone: OnceLock<Arc<[Recipient]>>,
    rooms: HashMap<Arc<str>, Members>,
    /// Clients per codec (by index), so a broadcast through the feed encodes what is spoken.
    speakers: [usize; 2],
}

impl Registry {
    fn everyone(&self) -> &Arc<[Recipient]> {
        self.everyone
            .get_or_init(|| self.clients.values().map(|slot| slot.to.clone()).collect())
    }

    /// The queues' addresses of the clients of `ids` found here (see [`Recipient::address`]).
    fn addresses(&self, ids: &[Box<str>]) -> Vec<usize> {
        ids.iter()
            .filter_map(|id| self.clients.get(&**id))
            .map(|slot| slot.to.address())
            .collect()
    }

    /// The frame of `message` for each codec some client speaks, at its index.
    fn spoken(&self, message: &Encoded<'_>) -> [Option<Message>; 2] {
        spoken(message, self.speakers)
    }
}

/// The frame of `message` for each codec with `speakers`, at its index.
fn spoken(message: &Encoded<'_>, speakers: [usize; 2]) -> [Option<Message>; 2] {
    let mut frames: [Option<Message>; 2] = Default::default();
    for &codec in CODECS {
        if speakers[codec.index()] > 0 {
            frames[codec.index()] = message.get(codec).cloned();
        }
    }
    frames
}

/// Every codec, each at its index.
const CODECS: &[Codec] = &[
    Codec::Json,
    #[cfg(feature = "msgpack")]
    Codec::MsgPack,
];

/// Where a frame goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// Everyone.
    All,
    /// These client ids.
    Clients(&'a [Box<str>]),
    /// Members of any of these rooms (each member once).
    Rooms(&'a [Box<str>]),
}

/// The registry of connected clients and rooms of one server.
#[derive(Debug)]
pub(crate) struct Hub {
    registry: RwLock<Registry>,
    max_rooms_per_client: usize,
    /// This server's seat in a cluster, if it is one node of many (see `cluster.rs`).
    node: Option<Arc<Node>>,
    /// Held (shared) by a clustered send from its local delivery until its publication is
    /// queued; taken alone by [`Hub::fence`].
    publishing: RwLock<()>,
    /// Large broadcasts under load go here once, not into every recipient's queue (`feed.rs`).
    feed: Option<Arc<Feed>>,
}

/// A client already is in as many rooms as it may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooManyRooms(pub(crate) usize);

impl Hub {
    pub(crate) fn new(max_rooms_per_client: usize) -> Self {
        Self {
            registry: RwLock::default(),
            max_rooms_per_client,
            node: None,
            publishing: RwLock::new(()),
            feed: None,
        }
    }

    /// Large broadcasts under load go through a [`Feed`] of `capacity` frames and
    /// `capacity_bytes` bytes (the bounds of one client's queue) to the clients registered
    /// after this call.
    pub(crate) fn with_feed(mut self, capacity: usize, capacity_bytes: usize) -> Self {
        self.feed = Some(Arc::new(Feed::new(capacity, capacity_bytes)));
        self
    }

    /// Adds a client. One registered again under the same id keeps its rooms, which now
    /// reach it through `slot`.
    pub(crate) fn register(&self, id: ClientId, mut slot: Slot) {
        let mut guard = self.registry.write();
        let registry = &mut *guard;
        if let Some(old) = registry.clients.get_mut(&id) {
            for room in &old.rooms {
                if let Some(members) = registry.rooms.get_mut(room) {
                    members.reach(&id, &slot.to);
                }
            }
            slot.rooms = std::mem::take(&mut old.rooms);
        }
        if let Some(feed) = &self.feed {
            // Under the registry's lock: every broadcast appended after the feed's head read
            // here finds this client registered.
            slot.to.outbox.follow_feed(feed, slot.to.codec);
        }
        registry.speakers[slot.to.codec.index()] += 1;
        if let Some(old) = registry.clients.insert(id, slot) {
            registry.speakers[old.to.codec.index()] -= 1;
        }
        // The old slice goes outside the lock: dropping it is a decrement per client.
        let stale = std::mem::take(&mut registry.everyone);
        drop(guard);
        drop(stale);
    }

    /// A session that arrived from another node is this node's alone now: sends to its id
    /// are no longer published when it is here.
    pub(crate) fn arrived(&self, id: &ClientId) {
        if let Some(slot) = self.registry.write().clients.get_mut(id) {
            slot.forward = false;
        }
    }

    /// Removes a client and its memberships; returns the rooms it was in, sorted.
    pub(crate) fn unregister(&self, id: &ClientId) -> Vec<String> {
        let mut registry = self.registry.write();
        let Some(slot) = registry.clients.remove(id) else {
            return Vec::new();
        };
        registry.speakers[slot.to.codec.index()] -= 1;
        for room in &slot.rooms {
            if remove_member(&mut registry.rooms, room, id) {
                self.room_closed(room);
            }
        }
        // The old slice goes outside the lock (see `register`).
        let stale = std::mem::take(&mut registry.everyone);
        drop(registry);
        drop(stale);
        slot.rooms.iter().map(|room| room.to_string()).collect()
    }

    /// Tells every connected client's connection that the server is shutting down.
    pub(crate) fn shut_down_all(&self) {
        for slot in self.registry.read().clients.values() {
            slot.to.outbox.shut_down();
        }
    }

    pub(crate) fn client_count(&self) -> usize {
        self.registry.read().clients.len()
    }

    /// Adds `id` to `room`; `false` if it was already a member or is not connected.
    pub(crate) fn join(&self, id: &ClientId, room: &str) -> Result<bool, TooManyRooms> {
        let mut guard = self.registry.write();
        let registry = &mut *guard;
        let Some(slot) = registry.clients.get_mut(id) else {
            return Ok(false);
        };
        if slot.rooms.contains(room) {
            return Ok(false);
        }
        if slot.rooms.len() >= self.max_rooms_per_client {
            return Err(TooManyRooms(self.max_rooms_per_client));
        }
        let name: Arc<str> = match registry.rooms.get_key_value(room) {
            Some((name, _)) => name.clone(),
            None => {
                self.room_opened(room);
                room.into()
            }
        };
        slot.rooms.insert(name.clone());
        registry
            .rooms
            .entry(name)
            .or_default()
            .insert(id.clone(), slot.to.clone());
        Ok(true)
    }

    /// Removes `id` from `room`, freeing the room when it empties; `false` if not a member.
    pub(crate) fn leave(&self, id: &ClientId, room: &str) -> bool {
        let mut guard = self.registry.write();
        let registry = &mut *guard;
        let Some(slot) = registry.clients.get_mut(id) else {
            return false;
        };
        if !slot.rooms.remove(room) {
            return false;
        }
        if remove_member(&mut registry.rooms, room, id) {
            self.room_closed(room);
        }
        true
    }

    /// The rooms `id` is in, sorted.
    pub(crate) fn rooms_of(&self, id: &ClientId) -> Vec<String> {
        self.registry
            .read()
            .clients
            .get(id)
            .map(|slot| slot.rooms.iter().map(|room| room.to_string()).collect())
            .unwrap_or_default()
    }

    pub(crate) fn is_member(&self, id: &ClientId, room: &str) -> bool {
        self.registry
            .read()
            .clients
            .get(id)
            .is_some_and(|slot| slot.rooms.contains(room))
    }

    /// Every room that has members, sorted.
    pub(crate) fn room_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.registry.read().rooms.keys().map(|room| room.to_string()).collect();
        names.sort_unstable();
        names
    }

    /// The members of `room`, unordered.
    pub(crate) fn members(&self, room: &str) -> Vec<ClientId> {
        self.registry
            .read()
            .rooms
            .get(room)
            .map(|members| members.ids().cloned().collect())
            .unwrap_or_default()
    }

    /// Pushes `frame` into the queue of every client `target` names, skipping `except`, and
    /// in a cluster publishes it for the clients of other nodes.
    pub(crate) fn deliver(&self, target: Target<'_>, except: &[Box<str>], frame: &Encoded<'_>) -> Delivery {
        match &self.node {
            None => self.deliver_here(target, except, frame, MessageId::NONE, None),
            Some(node) => self.deliver_everywhere(node, target, except, frame),
        }
    }

    /// Delivers to this server's clients only; the ids of `Target::Clients` not found here go
    /// to `missing`, if given.
    fn deliver_here(
        &self,
        target: Target<'_>,
        except: &[Box<str>],
        frame: &Encoded<'_>,
        mid: MessageId,
        mut missing: Option<&mut Vec<Box<str>>>,
    ) -> Delivery {
        let registry = self.registry.read();
        // A large fan-out is split over two threads or queued (`split.rs`, `pacing.rs`).
        let size = match target {
            Target::All => registry.clients.len(),
            Target::Clients(ids) => ids.len(),
            Target::Rooms(rooms) => rooms
                .iter()
                .map(|room| registry.rooms.get(&**room).map_or(0, Members::len))
                .sum(),
        };
        let _fan_out = pacing::FanOut::start(size);
        let mut delivery = Delivery::default();
        let skip = |id: &str| except.iter().any(|e| &**e == id);
        match target {
            Target::All => {
                let excepted = registry.addresses(except);
                let feed = self.feed.as_deref().map(|feed| ToFeed {
                    feed,
                    registry: &registry,
                    excepted: &excepted,
                });
                push_everyone(&registry, &excepted, frame, mid, feed, &mut delivery);
            }
            Target::Clients(ids) => {
                let mut seen = HashSet::with_capacity(ids.len());
                let recipients = ids
                    .iter()
                    .filter(|id| !skip(id) && seen.insert(&***id))
                    .filter_map(|id| {
                        let slot = registry.clients.get(&**id);
                        if slot.is_none_or(|slot| slot.forward) {
                            missing.iter_mut().for_each(|missing| missing.push(id.clone()));
                        }
                        slot.map(|slot| &slot.to)
                    });
                push_listed(recipients, size, frame, mid, &mut delivery);
            }
            Target::Rooms(rooms) => {
                let excepted = registry.addresses(except);
                let mut seen = HashSet::new();
                let recipients = rooms
                    .iter()
                    .filter_map(|room| registry.rooms.get(&**room))
                    .flat_map(|members| members.list().iter())
                    .filter(|member| {
                        let address = member.address();
                        !excepted.contains(&address) && (rooms.len() == 1 || seen.insert(address))
                    });
                push_listed(recipients, size, frame, mid, &mut delivery);
            }
        }
        delivery
    }
}

/// A broadcast to every client of the registry but those whose queue's address is in
/// `excepted`, through `feed` if it queues.
struct ToFeed<'a> {
    feed: &'a Feed,
    registry: &'a Registry,
    excepted: &'a [usize],
}

impl ToFeed<'_> {
    /// Appends `frame` to the feed and tells every client of it (an excepted one too, so its
    /// place in the feed moves past the entry); a client not following the feed (a resume log)
    /// gets the frame pushed, unless excepted.
    fn deliver(&self, frame: &Encoded<'_>, mid: MessageId, delivery: &mut Delivery) {
        let frames = self.registry.spoken(frame);
        self.feed.append(frames.clone(), self.excepted.into());
        // The slice of every client's recipient, as `push_everyone` walks it, not the map.
        for recipient in self.registry.everyone().iter() {
            let excepted = self.excepted.contains(&recipient.address());
            let counted = !excepted && frames[recipient.codec.index()].is_some();
            match recipient.outbox.notify_feed() {
                Some(pushed) if counted => delivery.count(pushed),
                // Told even when excepted, or when its codec failed to encode (the entry has
                // no frame for it): its place in the feed must move past the entry.
                Some(_) => {}
                None if !excepted => recipient.push(frame, mid, delivery),
                None => {}
            }
        }
    }
}

/// Whether a fan-out to `size` recipients, `first` among them, is split over two threads and
/// written directly (`split.rs`): not while this thread is held off direct writes
/// (`pacing.rs`), whose share would queue while the helper's took as long as ever.
fn splits(first: Option<&Recipient>, size: usize) -> bool {
    size > split::LEAST
        && first.is_some_and(|recipient| recipient.outbox.is_direct())
        && split::due()
        && !pacing::held_now()
}

/// Pushes `frame` to every client of `registry` whose queue's address is not in `excepted`. A
/// large fan-out to clients written to directly goes out from two threads (`split.rs`); a large
/// one that queues goes through the feed, if given.
fn push_everyone(
    registry: &Registry,
    excepted: &[usize],
    frame: &Encoded<'_>,
    mid: MessageId,
    feed: Option<ToFeed<'_>>,
    delivery: &mut Delivery,
) {
    let everyone = registry.everyone();
    let size = everyone.len();
    let kept = |recipient: &&Recipient| !excepted.contains(&recipient.address());
    if splits(everyone.first(), size) {
        let _share = pacing::FanOut::share(size);
        let half = size / 2;
        let helper = split::Share::start(
            split::Recipients {
                all: everyone.clone(),
                range: 0..half,
                excepted: excepted.to_vec(),
                frames: registry.spoken(frame),
            },
            mid,
            size,
        );
        Recipient::push_each(
            everyone[half..].iter().filter(kept),
            |codec| frame.get(codec),
            mid,
            delivery,
        );
        helper.finish(delivery);
    } else if let Some(feed) = feed.filter(|_| size > split::LEAST) {
        feed.deliver(frame, mid, delivery);
    } else {
        Recipient::push_each(everyone.iter().filter(kept), |codec| frame.get(codec), mid, delivery);
    }
}

/// Pushes `frame` to each of `recipients` (about `size` of them), split over two threads as
/// [`push_everyone`] does.
fn push_listed<'a>(
    recipients: impl Iterator<Item = &'a Recipient>,
    size: usize,
    frame: &Encoded<'_>,
    mid: MessageId,
    delivery: &mut Delivery,
) {
    let mut recipients = recipients.peekable();
    if splits(recipients.peek().copied(), size) {
        let _share = pacing::FanOut::share(size);
        let half: Arc<[Recipient]> = recipients.by_ref().take(size / 2).cloned().collect();
        let mut speakers = [0; 2];
        for recipient in half.iter() {
            speakers[recipient.codec.index()] += 1;
        }
        let helper = split::Share::start(
            split::Recipients {
                range: 0..half.len(),
                all: half,
                excepted: Vec::new(),
                frames: spoken(frame, speakers),
            },
            mid,
            size,
        );
        Recipient::push_each(recipients, |codec| frame.get(codec), mid, delivery);
        helper.finish(delivery);
    } else {
        Recipient::push_each(recipients, |codec| frame.get(codec), mid, delivery);
    }
}

/// Removes `id` from `room`; `true` if that freed the room.
fn remove_member(rooms: &mut HashMap<Arc<str>, Members>, room: &str, id: &ClientId) -> bool {
    if let Some(members) = rooms.get_mut(room) {
        members.remove(id);
        if members.is_empty() {
            rooms.remove(room);
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests;
