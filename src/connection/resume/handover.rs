//! Resume across nodes (`docs/resume.md`): a client whose session a node of the same cluster
//! holds resumes it on this one.
//!
//! 1. This node (the new one) asks the cluster who holds the token's key ([`claim`]); the holder
//!    checks the secret, takes the session out of its map (so it cannot be resumed twice) and
//!    answers with the client's id and rooms, keeping the client registered meanwhile.
//! 2. This node registers the same client id in the same rooms, holding every frame for it in a
//!    parked log (bounded by the byte budget), waits until it hears its own probe on each room's
//!    channel (it is subscribed), lets every send that missed the client publish ([`Hub::fence`])
//!    and sends the holder a marker.
//! 3. The holder, as the marker arrives on its stream of publications, unregisters the client
//!    (without `on_disconnect`, while none of its sends is under way) and sends its log from the
//!    client's `__seq` on, with each frame's message id, its own next message id, and the
//!    context serialized in JSON.
//! 4. This node puts that log first, then the frames it held whose ids are not in it (nor the
//!    holder's, below its next id).
//!
//! While this node holds the client, its sends to the client's id are published too, so the
//! holder logs them in the order they were made.
//!
//! Anything published before this node was subscribed reached the holder before the marker;
//! anything the holder did not log reached this node; frames both got are told apart by id. Any
//! failure or timeout gives the client a fresh session, and `on_disconnect` runs once, on
//! whichever node ends up with the context.

use super::{Entry, Request, Resumed, Shared, Token, release};
use crate::call::Conn;
use crate::cluster::envelope::{Answer, Body, Claim, Claimed, Moved, Question, Transfer};
use crate::cluster::node::{self, Node, room_channel};
use crate::connection::admit::{farewell, goodbye, moved as tell_moved, reserve};
use crate::hub::{Outbox, Slot, Snapshot};
use crate::{ClientId, Outgoing};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::task::task_tracker::TaskTrackerToken;
use zocket_protocol::Codec;

/// How long the new node waits for the cluster to say who holds a session.
const ASK: Duration = Duration::from_secs(2);
/// How long it waits to be subscribed to the client's rooms.
const PROBE: Duration = Duration::from_secs(2);
/// How long it waits for the session after its marker.
const TRANSFER: Duration = Duration::from_secs(3);
/// How long the holder keeps a session it promised, waiting for the marker.
const PROMISED: Duration = Duration::from_secs(10);

/// How a context travels between nodes: JSON, through its `Serialize` and `Deserialize`.
pub(crate) struct ContextCodec<C> {
    encode: fn(&C) -> serde_json::Result<Vec<u8>>,
    decode: fn(&[u8]) -> serde_json::Result<C>,
}

impl<C: serde::Serialize + serde::de::DeserializeOwned> ContextCodec<C> {
    pub(crate) fn json() -> Self {
        Self {
            encode: |ctx| serde_json::to_vec(ctx),
            decode: |bytes| serde_json::from_slice(bytes),
        }
    }
}

impl<C> ContextCodec<C> {
    /// A context from another node; `None` (logged: `on_disconnect` cannot run for it) if
    /// it cannot be read, or reading it panicked.
    fn read(&self, bytes: &[u8]) -> Option<C> {
        let decode = self.decode;
        match std::panic::catch_unwind(|| decode(bytes)) {
            Ok(Ok(ctx)) => Some(ctx),
            Ok(Err(error)) => {
                tracing::error!(%error, "a context from another node could not be read");
                None
            }
            Err(_) => {
                tracing::error!("reading a context from another node panicked");
                None
            }
        }
    }
}

/// A session promised to another node, waiting for its marker.
struct Promised<C> {
    to: Box<str>,
    conn: Arc<Conn<C>>,
    outbox: Arc<Outbox>,
    seen: u64,
    tracked: Option<TaskTrackerToken>,
}

/// Sessions on their way between this node and others.
pub(super) struct Across<C> {
    context: ContextCodec<C>,
    promised: Mutex<HashMap<u64, Promised<C>>>,
    next: AtomicU64,
    /// Handovers this node waits for, by holder and handover number.
    awaited: Mutex<HashMap<(Box<str>, u64), Arrival>>,
}

/// Where the session a node waits for is handed (`None`: the holder could not send it).
type Arrival = oneshot::Sender<Option<Moved>>;

impl<C> Across<C> {
    pub(super) fn new(context: ContextCodec<C>) -> Self {
        Self {
            context,
            promised: Mutex::default(),
            next: AtomicU64::new(1),
            awaited: Mutex::default(),
        }
    }
}

fn codec_number(codec: Codec) -> u8 {
    codec.index() as u8
}

/// The new node's side: resumes here the session another node holds, if one does and all goes
/// well in time; `None` gives the client a fresh session.
pub(super) async fn claim<H, O, C, S>(
    shared: &Arc<Shared<H, O, C, S>>,
    token: &Token,
    request: &Request,
    codec: Codec,
) -> Option<Resumed<C>>
where
    O: Outgoing,
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    let sessions = shared.sessions.as_ref()?;
    let across = sessions.across.as_ref()?;
    let hub = &shared.app.hub;
    let node = hub.node()?.clone();
    let seen = request.seen?;
    // A full server or one shutting down refuses as for a fresh session.
    drop(reserve(shared).ok()?);
    let claim = Claim {
        token: token.0,
        seen,
        codec: codec_number(codec),
    };
    let found = |answer: &Answer| matches!(answer, Answer::Claimed(Some(_)));
    let answers = match node.ask(Question::Claim(claim), ASK, found).await {
        Ok(answers) => answers,
        Err(error) => {
            tracing::debug!(%error, "no node handed the session over: a fresh one");
            return None;
        }
    };
    let (holder, claimed) = answers.into_iter().find_map(|(origin, answer)| match answer {
        Answer::Claimed(Some(claimed)) => Some((origin, claimed)),
        _ => None,
    })?;
    let Claimed {
        handover,
        client,
        rooms,
    } = claimed;
    let id = ClientId::from(&*client);
    if hub.holds(id.as_str()) {
        // Cannot be: ids are random. The holder's promise expires.
        return None;
    }
    // Frames for the client are held here from now on, in a log that is not taken from.
    let (capacity, capacity_bytes) = (shared.config.outbound_queue, shared.config.outbound_queue_bytes);
    let outbox = Arc::new(sessions.outbox(capacity, capacity_bytes, codec));
    outbox.park();
    let (sender, arrived) = oneshot::channel();
    let key = (holder.clone(), handover);
    across.awaited.lock().insert(key.clone(), sender);
    hub.register(id.clone(), Slot::arriving(outbox.clone(), codec));
    // Undoes all this if the handover does not complete (however this future ends).
    let mut pending = Pending {
        across,
        hub,
        key,
        id: &id,
        outbox: &outbox,
        armed: true,
    };
    for room in &rooms {
        if hub.join(&id, room).is_err() {
            tracing::debug!(client_id = %id, "handover abandoned (too many rooms): a fresh session");
            return None;
        }
    }
    let mut channels: Vec<String> = rooms.iter().map(|room| room_channel(room)).collect();
    channels.push(node::ALL.to_owned());
    if !node.probe(&channels, PROBE).await {
        tracing::debug!(client_id = %id, "handover abandoned (not subscribed in time): a fresh session");
        return None;
    }
    // A send that missed the client before it was registered is published before the marker.
    hub.fence();
    node.send(&holder, Body::Marker(handover));
    let moved = match tokio::time::timeout(TRANSFER, arrived).await {
        Ok(Ok(Some(moved))) => moved,
        // Too late, it ends where it arrives (see `Peer::transfer`).
        _ => {
            tracing::debug!(client_id = %id, "handover abandoned (no session in time): a fresh session");
            return None;
        }
    };
    let ctx = across.context.read(&moved.context)?;
    // The client is this node's now, whatever follows.
    pending.armed = false;
    drop(pending);
    hub.arrived(&id);
    let conn = Arc::new(Conn { id, ctx });
    let snapshot = Snapshot {
        frames: moved.frames,
        older: moved.older,
        before: moved.before,
    };
    if moved.rooms != rooms || !outbox.adopt(seen, snapshot) || !outbox.resume_after(seen) {
        // The session is here now: it ends here.
        tracing::debug!(client_id = %conn.id, "session moved but cannot resume: it ends");
        outbox.close();
        farewell(shared, &conn).await;
        return None;
    }
    tracing::debug!(client_id = %conn.id, "session resumed from another node");
    let mut rooms: Vec<String> = rooms.iter().map(|room| room.to_string()).collect();
    rooms.sort_unstable();
    tell_moved(shared, &conn, rooms, true).await;
    Some(Resumed {
        conn,
        outbox,
        tracked: None,
    })
}

/// A handover under way on the new node: undone when dropped armed.
struct Pending<'a, C> {
    across: &'a Across<C>,
    hub: &'a crate::hub::Hub,
    key: (Box<str>, u64),
    id: &'a ClientId,
    outbox: &'a Arc<Outbox>,
    armed: bool,
}

impl<C> Drop for Pending<'_, C> {
    fn drop(&mut self) {
        if self.armed {
            self.across.awaited.lock().remove(&self.key);
            self.hub.unregister(self.id);
            self.outbox.close();
        }
    }
}

/// What a node hands the sessions of a server that resumes across nodes.
pub(crate) struct Peer<H, O, C, S> {
    shared: Weak<Shared<H, O, C, S>>,
}

impl<H, O, C, S> Peer<H, O, C, S> {
    pub(crate) fn new(shared: &Arc<Shared<H, O, C, S>>) -> Self {
        Self {
            shared: Arc::downgrade(shared),
        }
    }
}

impl<H, O, C, S> node::Sessions for Peer<H, O, C, S>
where
    H: Send + 'static,
    O: Outgoing,
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
    Shared<H, O, C, S>: Send + Sync,
{
    fn claim(&self, origin: Box<str>, id: u64, claim: Claim) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let Some(node) = shared.app.hub.node().cloned() else {
            return;
        };
        let token = Token(claim.token);
        let entry = shared.sessions.as_ref().and_then(|sessions| sessions.remove(&token));
        match entry {
            None => node.reply(&origin, id, Answer::Claimed(None)),
            Some(entry) => {
                tokio::spawn(promise(shared, node, origin, id, claim, entry));
            }
        }
    }

    fn marker(&self, origin: Box<str>, handover: u64) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        hand_over(&shared, origin, handover);
    }

    fn transfer(&self, origin: Box<str>, transfer: Transfer) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let Some(across) = across_of(&shared) else {
            return;
        };
        let waiting = across.awaited.lock().remove(&(origin, transfer.handover));
        match (waiting, transfer.session) {
            (Some(waiting), session) => {
                if let Err(Some(moved)) = waiting.send(session) {
                    tokio::spawn(end_moved(shared, moved));
                }
            }
            // Arrived after this node gave up: the session is here, and ends here.
            (None, Some(moved)) => {
                tokio::spawn(end_moved(shared, moved));
            }
            (None, None) => {}
        }
    }
}

/// Runs `on_disconnect` for a session that arrived too late to resume.
async fn end_moved<H, O, C, S>(shared: Arc<Shared<H, O, C, S>>, moved: Moved)
where
    O: Outgoing,
    C: Send + Sync + 'static,
{
    let Some(across) = across_of(&shared) else {
        return;
    };
    let Some(ctx) = across.context.read(&moved.context) else {
        return;
    };
    let conn = Arc::new(Conn {
        id: ClientId::from(&*moved.client),
        ctx,
    });
    tracing::debug!(client_id = %conn.id, "a session arrived too late to resume: it ends");
    let rooms = moved.rooms.iter().map(|room| room.to_string()).collect();
    goodbye(&shared, &conn, rooms).await;
}

/// The holder's side, once it took the session out of its map: checks it can be resumed as
/// asked, then promises it to `origin` until the marker comes.
async fn promise<H, O, C, S>(
    shared: Arc<Shared<H, O, C, S>>,
    node: Arc<Node>,
    origin: Box<str>,
    id: u64,
    claim: Claim,
    entry: Entry<C>,
) where
    O: Outgoing,
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    let Entry {
        conn,
        outbox,
        held,
        codec,
        ..
    } = entry;
    let (tracked, released) = release(&shared, held, &outbox).await;
    let Some(across) = across_of(&shared) else {
        return;
    };
    let ok = released && codec_number(codec) == claim.codec && outbox.can_resume_after(claim.seen);
    if !ok {
        // A valid token is used up whatever the outcome, as on one node.
        node.reply(&origin, id, Answer::Claimed(None));
        outbox.close();
        farewell(&shared, &conn).await;
        drop(tracked);
        return;
    }
    let handover = across.next.fetch_add(1, Ordering::Relaxed);
    let claimed = Claimed {
        handover,
        client: conn.id.as_str().into(),
        rooms: shared.app.hub.rooms_of(&conn.id).into_iter().map(Into::into).collect(),
    };
    across.promised.lock().insert(
        handover,
        Promised {
            to: origin.clone(),
            conn,
            outbox,
            seen: claim.seen,
            tracked,
        },
    );
    node.reply(&origin, id, Answer::Claimed(Some(claimed)));
    tokio::select! {
        () = tokio::time::sleep(PROMISED) => {}
        () = shared.lifecycle.shutdown.cancelled() => {}
    }
    let expired = across.promised.lock().remove(&handover);
    if let Some(promised) = expired {
        tracing::debug!(client_id = %promised.conn.id, "a session promised to another node was not taken: it ends");
        promised.outbox.close();
        farewell(&shared, &promised.conn).await;
    }
}

/// The holder's side as the marker arrives on its stream: the client leaves this node (no
/// `on_disconnect`) and its log, context and rooms go to the node it moved to.
fn hand_over<H: 'static, O, C, S>(shared: &Arc<Shared<H, O, C, S>>, origin: Box<str>, handover: u64)
where
    O: Outgoing,
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    let Some(node) = shared.app.hub.node().cloned() else {
        return;
    };
    let promised = across_of(shared).and_then(|across| {
        let mut promised = across.promised.lock();
        match promised.get(&handover) {
            Some(p) if p.to == origin => promised.remove(&handover),
            _ => None,
        }
    });
    let Some(promised) = promised else {
        let refused = Transfer {
            handover,
            session: None,
        };
        node.send(&origin, Body::Transfer(refused));
        return;
    };
    let Promised {
        conn,
        outbox,
        seen,
        tracked,
        ..
    } = promised;
    // From here on nothing reaches the client on this node: what was logged goes along.
    let (rooms, before) = shared.app.hub.hand_off(&conn.id);
    let snapshot = outbox.hand_over(seen).map(|snapshot| Snapshot { before, ..snapshot });
    let shared = shared.clone();
    // The rest need not be in the stream's order: serializing runs the app's code, off the
    // backplane's task (and a panic there is caught).
    tokio::spawn(async move {
        let encode = across_of(&shared).map(|across| across.context.encode);
        let context = encode.map(|encode| std::panic::catch_unwind(AssertUnwindSafe(|| encode(&conn.ctx))));
        let session = match (snapshot, context) {
            (Some(snapshot), Some(Ok(Ok(context)))) => Some(Moved {
                client: conn.id.as_str().into(),
                context: context.into(),
                rooms: rooms.iter().map(|room| room.as_str().into()).collect(),
                frames: snapshot.frames,
                older: snapshot.older,
                before: snapshot.before,
            }),
            (_, context) => {
                match context {
                    Some(Ok(Err(error))) => {
                        tracing::error!(%error, "a context could not be serialized to move to another node")
                    }
                    Some(Err(_)) => tracing::error!("serializing a context to move to another node panicked"),
                    _ => {}
                }
                None
            }
        };
        let moving = session.is_some();
        let transfer = Transfer { handover, session };
        let sent = node.send_counted(&origin, Body::Transfer(transfer)).await;
        match sent {
            Ok(received) if received > 0 && moving => {
                tracing::debug!(client_id = %conn.id, to = %origin, "session handed to another node");
                tell_moved(&shared, &conn, rooms, false).await;
            }
            // Not moved, or nobody got it: the session ends here.
            _ => goodbye(&shared, &conn, rooms).await,
        }
        drop(tracked);
    });
}

fn across_of<H, O, C, S>(shared: &Shared<H, O, C, S>) -> Option<&Across<C>> {
    shared.sessions.as_ref().and_then(|sessions| sessions.across.as_ref())
}
