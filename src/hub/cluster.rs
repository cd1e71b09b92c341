//! The hub as one node of many: what a send owes the other nodes, and delivering what they
//! send. What travels between nodes is the message as the hub holds it, encoded per codec.

use super::{Delivery, Encoded, Hub, Message, Target};
use crate::ClientId;
use crate::cluster::MessageId;
use crate::cluster::envelope::{self, To};
use crate::cluster::node::{Local, Node};
use std::collections::HashSet;
use std::sync::{Arc, Weak};
use zocket_protocol::{Codec, EncodeError};

impl Hub {
    /// `hub` as one node of a cluster, already joined. Panics outside a tokio runtime,
    /// which runs the backplane.
    #[track_caller]
    pub(crate) fn clustered(mut hub: Hub, node: Arc<Node>) -> Arc<Self> {
        assert!(
            tokio::runtime::Handle::try_current().is_ok(),
            "zocket: a server with a backplane must be built inside a tokio runtime"
        );
        hub.node = Some(node.clone());
        let hub = Arc::new(hub);
        let local: Weak<dyn Local> = Arc::downgrade(&hub) as Weak<dyn Local>;
        node.start(local);
        hub
    }

    /// This server's seat in a cluster, if any.
    pub(crate) fn node(&self) -> Option<&Arc<Node>> {
        self.node.as_ref()
    }

    /// Whether this node holds the client.
    pub(crate) fn holds(&self, id: &str) -> bool {
        self.registry.read().clients.contains_key(id)
    }

    pub(super) fn room_opened(&self, room: &str) {
        if let Some(node) = &self.node {
            node.room_opened(room);
        }
    }

    pub(super) fn room_closed(&self, room: &str) {
        if let Some(node) = &self.node {
            node.room_closed(room);
        }
    }

    /// Delivers locally, then publishes for the other nodes: every broadcast and room send,
    /// and a send to client ids only for the ids not found here.
    pub(super) fn deliver_everywhere(
        &self,
        node: &Node,
        target: Target<'_>,
        except: &[Box<str>],
        frame: &Encoded<'_>,
    ) -> Delivery {
        // Held until the publication is queued: see `fence`.
        let _publishing = self.publishing.read();
        let id = node.next_message_id();
        let mut missing = Vec::new();
        let delivery = self.deliver_here(target, except, frame, id, Some(&mut missing));
        let (to, names) = match target {
            Target::All => (To::All, Vec::new()),
            Target::Clients(_) if missing.is_empty() => return delivery,
            Target::Clients(_) => (To::Clients, missing),
            Target::Rooms(rooms) => {
                let mut seen = HashSet::with_capacity(rooms.len());
                let rooms = rooms.iter().filter(|room| seen.insert(&***room)).cloned();
                (To::Rooms, rooms.collect())
            }
        };
        // JSON is what every node can use; MessagePack goes along only if it was made anyway.
        let Some(json) = frame.get(Codec::Json) else {
            // It cannot be serialized: the sender sees the error.
            return delivery;
        };
        #[cfg(feature = "msgpack")]
        let msgpack = frame.messages[Codec::MsgPack.index()].get().and_then(Option::clone);
        #[cfg(not(feature = "msgpack"))]
        let msgpack = None;
        node.publish(envelope::Message {
            to,
            names,
            except: except.to_vec(),
            json: json.clone(),
            msgpack,
            id,
        });
        delivery
    }

    /// Takes a client out of the hub as its session moves to another node, while no send is
    /// under way: returns its rooms and the id this node's next send will get, so every send
    /// with a smaller id was delivered here while the client was (`docs/resume.md`).
    pub(crate) fn hand_off(&self, id: &ClientId) -> (Vec<String>, MessageId) {
        let _quiet = self.publishing.write();
        let rooms = self.unregister(id);
        let next = self
            .node
            .as_ref()
            .map_or(MessageId::NONE, |node| node.upcoming_message_id());
        (rooms, next)
    }

    /// Waits until every clustered send that began before has queued its publication: one
    /// that missed a client registered before this call is published before whatever this
    /// node publishes after it (`cluster/handover.rs`).
    pub(crate) fn fence(&self) {
        drop(self.publishing.write());
    }
}

impl Local for Hub {
    fn deliver(&self, message: &envelope::Message, names: &[Box<str>], except: &[Box<str>]) {
        let (to, json, msgpack, id) = (message.to, &message.json, message.msgpack.as_ref(), message.id);
        let encode = |codec: Codec| -> Result<Message, EncodeError> {
            match codec {
                #[cfg(feature = "msgpack")]
                Codec::MsgPack => match msgpack {
                    Some(msgpack) => Ok(msgpack.clone()),
                    None => Ok(Message::from(to_msgpack(json)?)),
                },
                _ => Ok(json.clone()),
            }
        };
        #[cfg(not(feature = "msgpack"))]
        let _ = msgpack;
        let message = Encoded::new(&encode);
        let target = match to {
            To::All => Target::All,
            To::Rooms => Target::Rooms(names),
            To::Clients => Target::Clients(names),
        };
        self.deliver_here(target, except, &message, id, None);
        if let Some(error) = message.into_error() {
            tracing::warn!(%error, "a message from another node could not be encoded for MessagePack clients");
        }
    }

    fn members(&self, room: &str) -> Vec<ClientId> {
        Hub::members(self, room)
    }

    fn holds(&self, id: &str) -> bool {
        Hub::holds(self, id)
    }
}

/// The MessagePack encoding of an event another node sent in JSON only (it had no
/// MessagePack client), made once per message by a node that has one.
#[cfg(feature = "msgpack")]
fn to_msgpack(json: &[u8]) -> Result<Vec<u8>, EncodeError> {
    #[derive(serde::Deserialize)]
    struct Event {
        #[serde(rename = "type")]
        route: String,
        payload: Option<serde_json::Value>,
    }
    let event: Event = serde_json::from_slice(json)?;
    let mut out = Vec::with_capacity(json.len());
    Codec::MsgPack.write_event(&mut out, &event.route, &event.payload)?;
    Ok(out)
}

#[cfg(all(test, feature = "msgpack"))]
mod tests {
    use super::*;

    #[test]
    fn json_events_become_the_same_msgpack_events() {
        let json = br#"{"type":"chat.onMessage","payload":{"text":"hi","n":[1,2.5,null]}}"#;
        let mut direct = Vec::new();
        let payload = serde_json::json!({"text": "hi", "n": [1, 2.5, null]});
        Codec::MsgPack
            .write_event(&mut direct, "chat.onMessage", &payload)
            .unwrap();
        let converted = to_msgpack(json).unwrap();
        assert_eq!(converted, direct, "the same bytes as encoding the value directly");
        let decoded = Codec::MsgPack.decode(&converted).unwrap();
        assert_eq!(decoded.route, "chat.onMessage");
        let as_json = Codec::MsgPack.payload_to_json(decoded.payload.unwrap()).unwrap();
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&as_json).unwrap(), payload);
        assert!(to_msgpack(b"not json").is_err());
    }
}
