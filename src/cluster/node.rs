//! [`Node`]: this server's seat in the cluster. It publishes what local sends owe other nodes,
//! delivers what other nodes publish, keeps a room channel subscribed while the room has a
//! local member, and asks and answers cluster-wide questions.

use super::envelope::{Answer, Body, Envelope, Message, Question, To, Unreadable};
use super::{Backplane, Inbound, NodeId};
use crate::ClientId;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

/// The channel every node subscribes to: broadcasts, sends to client ids, questions.
pub(crate) const ALL: &str = "all";

/// What a node needs from the hub it serves.
pub(crate) trait Local: Send + Sync {
    /// Delivers an encoded event to this node's clients only.
    fn deliver(&self, to: To, names: &[Box<str>], except: &[Box<str>], json: &Bytes, msgpack: Option<&Bytes>);
    /// The members of `room` on this node.
    fn members(&self, room: &str) -> Vec<ClientId>;
    /// Whether this node holds the client.
    fn holds(&self, id: &str) -> bool;
}

/// The channel of one room.
pub(crate) fn room_channel(room: &str) -> String {
    format!("room:{room}")
}

fn node_channel(node: &str) -> String {
    format!("node:{node}")
}

/// Questions waiting for answers (each from a node id), by question id.
type Asked = Mutex<HashMap<u64, mpsc::Sender<(Box<str>, Answer)>>>;

/// One server's membership of a cluster.
pub(crate) struct Node {
    id: NodeId,
    backplane: Arc<dyn Backplane>,
    local: OnceLock<Weak<dyn Local>>,
    /// Questions waiting for answers, by id.
    asked: Asked,
    next_question: AtomicU64,
    /// A publication of another version was seen (logged once).
    saw_other_version: AtomicBool,
    /// Malformed publications seen (the first, then every 1000th, is logged).
    malformed: AtomicU64,
}

impl Node {
    pub(crate) fn new(id: NodeId, backplane: Arc<dyn Backplane>) -> Arc<Self> {
        Arc::new(Self {
            id,
            backplane,
            local: OnceLock::new(),
            asked: Mutex::default(),
            next_question: AtomicU64::new(1),
            saw_other_version: AtomicBool::new(false),
            malformed: AtomicU64::new(0),
        })
    }

    /// Joins the cluster on behalf of `local`: subscribes this node's channels and starts the
    /// backplane.
    pub(crate) fn start(self: &Arc<Self>, local: Weak<dyn Local>) {
        if self.local.set(local).is_err() {
            return;
        }
        self.backplane.subscribe(ALL);
        self.backplane.subscribe(&node_channel(self.id.as_str()));
        self.backplane.start(Inbound::new(self));
        tracing::info!(node = %self.id, "joined the cluster");
    }

    pub(crate) fn id(&self) -> &NodeId {
        &self.id
    }

    pub(crate) fn is_up(&self) -> bool {
        self.backplane.is_up()
    }

    /// Waits (at most 2 s) until what was published so far has left.
    pub(crate) async fn flush(&self) {
        if tokio::time::timeout(Duration::from_secs(2), self.backplane.flush())
            .await
            .is_err()
        {
            tracing::warn!(node = %self.id, "the backplane did not flush in time");
        }
    }

    /// A room got its first local member.
    pub(crate) fn room_opened(&self, room: &str) {
        self.backplane.subscribe(&room_channel(room));
    }

    /// A room lost its last local member.
    pub(crate) fn room_closed(&self, room: &str) {
        self.backplane.unsubscribe(&room_channel(room));
    }

    /// Publishes what other nodes owe their clients of a send this node already delivered
    /// locally. A send to several rooms goes to each room's channel (only nodes with members
    /// hear it); the receiver delivers each member its one copy (see [`Node::receive`]).
    pub(crate) fn publish(&self, message: Message) {
        let channels: Vec<String> = match message.to {
            To::All | To::Clients => vec![ALL.to_owned()],
            To::Rooms => message.names.iter().map(|room| room_channel(room)).collect(),
        };
        let bytes = Envelope {
            origin: self.id.as_str().into(),
            body: Body::Message(message),
        }
        .encode();
        for channel in channels {
            self.backplane.publish(&channel, bytes.clone());
        }
    }

    /// Handles one publication from the backplane.
    pub(crate) fn receive(&self, channel: &str, bytes: Bytes) {
        let envelope = match Envelope::decode(bytes) {
            Ok(envelope) => envelope,
            Err(Unreadable::Version(version)) => {
                if !self.saw_other_version.swap(true, Ordering::Relaxed) {
                    tracing::warn!(node = %self.id, channel, version, "skipping publications of another zocket version (logged once)");
                }
                return;
            }
            Err(error) => {
                let seen = self.malformed.fetch_add(1, Ordering::Relaxed);
                if seen.is_multiple_of(1000) {
                    tracing::warn!(node = %self.id, channel, %error, skipped = seen + 1, "skipping a malformed publication");
                }
                return;
            }
        };
        if *envelope.origin == *self.id.as_str() {
            // This node delivered its own share when it sent.
            return;
        }
        let Some(local) = self.local.get().and_then(Weak::upgrade) else {
            return;
        };
        match envelope.body {
            Body::Message(message) => deliver(&*local, channel, message),
            Body::Question { id, question } => {
                let answer = match question {
                    Question::Members(room) => {
                        Answer::Members(local.members(&room).iter().map(|id| id.as_str().into()).collect())
                    }
                    Question::Locate(client) => Answer::Located(local.holds(&client)),
                };
                let reply = Envelope {
                    origin: self.id.as_str().into(),
                    body: Body::Answer { id, answer },
                };
                self.backplane.publish(&node_channel(&envelope.origin), reply.encode());
            }
            Body::Answer { id, answer } => {
                if let Some(answers) = self.asked.lock().get(&id) {
                    // Bounded by the number of nodes that received the question.
                    let _ = answers.try_send((envelope.origin, answer));
                }
            }
        }
    }

    /// Asks every other node `question`; resolves with the answers of all that received it, or
    /// fails when the backplane is down or some did not answer within `timeout`. `enough` may
    /// end the wait early (a client was found).
    pub(crate) async fn ask(
        &self,
        question: Question,
        timeout: Duration,
        enough: impl Fn(&Answer) -> bool,
    ) -> Result<Vec<(Box<str>, Answer)>, super::ClusterError> {
        use super::ClusterError;
        let id = self.next_question.fetch_add(1, Ordering::Relaxed);
        let (answers, mut answered) = mpsc::channel(1024);
        self.asked.lock().insert(id, answers);
        let _forget = Forget(&self.asked, id);
        let envelope = Envelope {
            origin: self.id.as_str().into(),
            body: Body::Question { id, question },
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let asking = self.backplane.publish_counted(ALL, envelope.encode());
        let received = match tokio::time::timeout_at(deadline, asking).await {
            Ok(Ok(received)) => received,
            Ok(Err(error)) => return Err(ClusterError::Unavailable(error.to_string())),
            Err(_) => {
                return Err(ClusterError::Timeout {
                    answered: 0,
                    expected: 0,
                });
            }
        };
        // This node hears its own question too (and ignores it).
        let expected = received.saturating_sub(1);
        let mut got = Vec::with_capacity(expected);
        while got.len() < expected {
            match tokio::time::timeout_at(deadline, answered.recv()).await {
                Ok(Some(answer)) => {
                    let done = enough(&answer.1);
                    got.push(answer);
                    if done {
                        break;
                    }
                }
                Ok(None) | Err(_) => {
                    return Err(ClusterError::Timeout {
                        answered: got.len(),
                        expected,
                    });
                }
            }
        }
        Ok(got)
    }
}

/// Removes a question from the waiting list however its wait ends.
struct Forget<'a>(&'a Asked, u64);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.0.lock().remove(&self.1);
    }
}

/// Delivers a message from another node to this node's clients. A send to several rooms
/// arrives once per room channel this node is subscribed to; the copy from room `i` goes only
/// to members of no earlier room of the list, so each member gets exactly one.
fn deliver(local: &dyn Local, channel: &str, message: Message) {
    match message.to {
        To::All | To::Clients => local.deliver(
            message.to,
            &message.names,
            &message.except,
            &message.json,
            message.msgpack.as_ref(),
        ),
        To::Rooms => {
            let Some(room) = channel.strip_prefix("room:") else {
                return;
            };
            let Some(index) = message.names.iter().position(|name| **name == *room) else {
                return;
            };
            let mut except = message.except;
            for earlier in &message.names[..index] {
                except.extend(local.members(earlier).iter().map(|id| id.as_str().into()));
            }
            let this = std::slice::from_ref(&message.names[index]);
            local.deliver(To::Rooms, this, &except, &message.json, message.msgpack.as_ref());
        }
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .field("backplane", &self.backplane)
            .finish_non_exhaustive()
    }
}
