//! [`Node`]: this server's seat in the cluster. It publishes what local sends owe other nodes,
//! delivers what other nodes publish, keeps a room channel subscribed while the room has a
//! local member, and asks and answers cluster-wide questions.

use super::envelope::{Answer, Body, Claim, Envelope, Message, Question, To, Transfer, Unreadable};
use super::{Backplane, BackplaneError, Inbound, MessageId, NodeId};
use crate::ClientId;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

/// The channel every node subscribes to: broadcasts, sends to client ids, questions.
pub(crate) const ALL: &str = "all";

/// What a node needs from the hub it serves.
pub(crate) trait Local: Send + Sync {
    /// Delivers an encoded event (`message`, to `names` except `except`) to this node's
    /// clients only.
    fn deliver(&self, message: &Message, names: &[Box<str>], except: &[Box<str>]);
    /// The members of `room` on this node.
    fn members(&self, room: &str) -> Vec<ClientId>;
    /// Whether this node holds the client.
    fn holds(&self, id: &str) -> bool;
}

/// The channel of one room.
pub(crate) fn room_channel(room: &str) -> String {
    format!("room:{room}")
}

/// The sessions of a server that resumes across nodes (`cluster/handover.rs`): what the node
/// hands them of the handover protocol. None of these may wait.
pub(crate) trait Sessions: Send + Sync {
    /// Node `origin` asks (question `id`) for the session of a token; answer with
    /// [`Node::reply`], now or later.
    fn claim(&self, origin: Box<str>, id: u64, claim: Claim);
    /// Node `origin`, to which this node promised a session, is ready for it.
    fn marker(&self, origin: Box<str>, handover: u64);
    /// A session node `origin` hands to this one.
    fn transfer(&self, origin: Box<str>, transfer: Transfer);
}

pub(crate) fn node_channel(node: &str) -> String {
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
    /// This run's random number, the first half of the ids of the messages it sends.
    incarnation: u64,
    next_message: AtomicU64,
    /// The handover side of session resume, if this server resumes across nodes.
    sessions: OnceLock<Arc<dyn Sessions>>,
    /// Probes waiting for this node's own publications, by id: the channels heard so far.
    probes: Mutex<HashMap<u64, HashSet<String>>>,
    /// Rooms that got their first local member so far (each a new subscription).
    rooms_opened: AtomicU64,
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
            // Never 0, so that no id is `MessageId::NONE`.
            incarnation: rand::random::<u64>() | 1,
            next_message: AtomicU64::new(1),
            sessions: OnceLock::new(),
            probes: Mutex::default(),
            rooms_opened: AtomicU64::new(0),
        })
    }

    /// The id of the next message this node sends.
    pub(crate) fn next_message_id(&self) -> MessageId {
        MessageId {
            node: self.incarnation,
            n: self.next_message.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The id the next message this node sends will get (none is taken).
    pub(crate) fn upcoming_message_id(&self) -> MessageId {
        MessageId {
            node: self.incarnation,
            n: self.next_message.load(Ordering::Relaxed),
        }
    }

    /// Hands session handovers to `sessions` from now on.
    pub(crate) fn serve_sessions(&self, sessions: Arc<dyn Sessions>) {
        let _ = self.sessions.set(sessions);
    }

    /// Answers question `id` of node `to`.
    pub(crate) fn reply(&self, to: &str, id: u64, answer: Answer) {
        self.send(to, Body::Answer { id, answer });
    }

    /// Publishes `body` on node `to`'s own channel, without waiting.
    pub(crate) fn send(&self, to: &str, body: Body) {
        let envelope = Envelope {
            origin: self.id.as_str().into(),
            body,
        };
        self.backplane.publish(&node_channel(to), envelope.encode());
    }

    /// Publishes `body` on node `to`'s own channel; resolves with how many received it.
    pub(crate) async fn send_counted(&self, to: &str, body: Body) -> Result<usize, BackplaneError> {
        let envelope = Envelope {
            origin: self.id.as_str().into(),
            body,
        };
        self.backplane
            .publish_counted(&node_channel(to), envelope.encode())
            .await
    }

    /// Waits until this node is subscribed to every one of `channels` (it hears its own
    /// probe on each), at most `timeout`; `false` if it is not by then.
    pub(crate) async fn probe(&self, channels: &[String], timeout: Duration) -> bool {
        let id = self.next_question.fetch_add(1, Ordering::Relaxed);
        self.probes.lock().insert(id, HashSet::new());
        let _forget = ForgetProbe(&self.probes, id);
        let deadline = tokio::time::Instant::now() + timeout;
        let bytes = Envelope {
            origin: self.id.as_str().into(),
            body: Body::Probe(id),
        }
        .encode();
        loop {
            let missing: Vec<&String> = {
                let probes = self.probes.lock();
                let Some(heard) = probes.get(&id) else {
                    return false;
                };
                channels.iter().filter(|c| !heard.contains(c.as_str())).collect()
            };
            if missing.is_empty() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            for channel in missing {
                self.backplane.publish(channel, bytes.clone());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
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
        self.rooms_opened.fetch_add(1, Ordering::Relaxed);
        self.backplane.subscribe(&room_channel(room));
    }

    /// How many rooms got their first local member so far: when it moves during a call, the
    /// call's reply waits for [`Node::subscribed`].
    pub(crate) fn rooms_opened(&self) -> u64 {
        self.rooms_opened.load(Ordering::Relaxed)
    }

    /// Waits (at most 2 s) until every channel wanted so far is subscribed on the backplane.
    pub(crate) async fn subscribed(&self) {
        if tokio::time::timeout(Duration::from_secs(2), self.backplane.subscribed())
            .await
            .is_err()
        {
            tracing::warn!(node = %self.id, "a room's channel was not subscribed within 2 s: its traffic from other nodes may be missed until it is");
        }
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
            if let Body::Probe(id) = envelope.body {
                if let Some(heard) = self.probes.lock().get_mut(&id) {
                    heard.insert(channel.to_owned());
                }
            }
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
                    Question::Claim(claim) => match self.sessions.get() {
                        Some(sessions) => return sessions.claim(envelope.origin, id, claim),
                        None => Answer::Claimed(None),
                    },
                };
                self.reply(&envelope.origin, id, answer);
            }
            Body::Probe(_) => {}
            Body::Marker(handover) => match self.sessions.get() {
                Some(sessions) => sessions.marker(envelope.origin, handover),
                None => self.send(
                    &envelope.origin,
                    Body::Transfer(Transfer {
                        handover,
                        session: None,
                    }),
                ),
            },
            Body::Transfer(transfer) => {
                if let Some(sessions) = self.sessions.get() {
                    sessions.transfer(envelope.origin, transfer);
                }
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

/// Removes a probe from the waiting list however its wait ends.
struct ForgetProbe<'a>(&'a Mutex<HashMap<u64, HashSet<String>>>, u64);

impl Drop for ForgetProbe<'_> {
    fn drop(&mut self) {
        self.0.lock().remove(&self.1);
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
        To::All | To::Clients => local.deliver(&message, &message.names, &message.except),
        To::Rooms => {
            let Some(room) = channel.strip_prefix("room:") else {
                return;
            };
            let Some(index) = message.names.iter().position(|name| **name == *room) else {
                return;
            };
            let mut except = message.except.clone();
            for earlier in &message.names[..index] {
                except.extend(local.members(earlier).iter().map(|id| id.as_str().into()));
            }
            let this = std::slice::from_ref(&message.names[index]);
            local.deliver(&message, this, &except);
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
