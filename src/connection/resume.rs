//! Session resume (`docs/resume.md`): tokens, the sessions that can be resumed, parking a
//! session whose connection dropped, and handing it to the connection that resumes it.
//!
//! Every session (connected or parked) is kept under the key half of its current token; the
//! other half is a secret compared in constant time. Whoever removes a session from the map
//! owns it: a resuming connection, the parked session's timer (window over, budget lost,
//! shutdown), or the connection itself when it ends for good. So each session ends exactly
//! once, and `on_disconnect` runs once.

mod handover;

pub(crate) use handover::{ContextCodec, Peer};

use super::Shared;
use super::admit::farewell;
use crate::call::Conn;
use crate::hub::Outbox;
use crate::{Outgoing, Resume};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::task::task_tracker::TaskTrackerToken;
use zocket_protocol::Codec;

/// The query parameter that carries the token of the session to resume.
pub(crate) const SESSION_PARAM: &str = "__session";
/// The query parameter that carries the last sequence number the client received.
pub(crate) const SEQ_PARAM: &str = "__seq";
/// The type of the frame that tells a client its token.
const SESSION_FRAME: &str = "__session";

/// How long a resuming connection waits for the connection it takes over to let go, on top
/// of the write timeout (that one may be stuck in a write to its dead socket).
const RELEASE: Duration = Duration::from_secs(2);

/// Half of a token: the key a session is found by, or the secret that proves the token.
type Half = [u8; 16];

/// 32 random bytes from a CSPRNG (rand's thread generator, seeded by the OS): a key to find
/// the session by and a secret compared in constant time.
struct Token([u8; 32]);

impl Token {
    fn random() -> Self {
        Self(rand::random())
    }

    fn parse(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        // Exactly 43 characters: anything else cannot be a token (and is not decoded).
        if text.len() != 43 {
            return None;
        }
        match URL_SAFE_NO_PAD.decode_slice(text, &mut bytes) {
            Ok(32) => Some(Self(bytes)),
            _ => None,
        }
    }

    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    fn key(&self) -> Half {
        let mut key = [0; 16];
        key.copy_from_slice(&self.0[..16]);
        key
    }

    fn secret(&self) -> Half {
        let mut secret = [0; 16];
        secret.copy_from_slice(&self.0[16..]);
        secret
    }
}

/// Whether `a` and `b` are equal, in time that does not depend on where they differ.
fn same(a: &Half, b: &Half) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// A resume request: the query parameters `__session` and `__seq`.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    token: String,
    seen: Option<u64>,
}

impl Request {
    /// Takes the request's parameters out of `collected` (the headers the app sees).
    pub(crate) fn take(collected: &mut serde_json::Value) -> Option<Self> {
        let map = collected.as_object_mut()?;
        let token = map.remove(SESSION_PARAM);
        let seen = map.remove(SEQ_PARAM);
        let token = token?.as_str()?.to_owned();
        let seen = seen.and_then(|seen| seen.as_str().and_then(|seen| seen.parse().ok()));
        Some(Self { token, seen })
    }
}

/// The sessions of one server that can be resumed.
pub(crate) struct Sessions<C> {
    config: Resume,
    map: Mutex<HashMap<Half, Entry<C>>>,
    /// Sessions handed to and from other nodes, if this server resumes across nodes.
    across: Option<handover::Across<C>>,
}

impl<C> std::fmt::Debug for Sessions<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("config", &self.config)
            .field("count", &self.map.lock().len())
            .finish()
    }
}

struct Entry<C> {
    secret: Half,
    conn: Arc<Conn<C>>,
    outbox: Arc<Outbox>,
    codec: Codec,
    held: Held,
}

enum Held {
    /// A connection serves it; it tells this when it lets go after a takeover.
    Connected(Arc<Notify>),
    /// Parked: nobody serves it. Its place among the connections (counted against
    /// `max_connections`, waited for by a shutdown) and the wake-up of its timer.
    Parked(TaskTrackerToken, Arc<Notify>),
}

/// A connection's hold on its session.
#[derive(Debug)]
pub(crate) struct Ticket {
    key: Half,
    /// The token the connection's `__session` frame gives the client.
    token: String,
    resumed: bool,
    released: Arc<Notify>,
}

impl Ticket {
    /// The `__session` frame, encoded with `codec`.
    pub(crate) fn frame(&self, codec: Codec) -> Option<bytes::Bytes> {
        #[derive(serde::Serialize)]
        struct Payload<'a> {
            token: &'a str,
            resumed: bool,
        }
        let payload = Payload {
            token: &self.token,
            resumed: self.resumed,
        };
        crate::hub::encode(|out| codec.write_event(out, SESSION_FRAME, &payload)).ok()
    }
}

/// A session handed to the connection that resumed it.
pub(crate) struct Resumed<C> {
    pub(crate) conn: Arc<Conn<C>>,
    pub(crate) outbox: Arc<Outbox>,
    /// The parked session's place among the connections, if it was parked.
    pub(crate) tracked: Option<TaskTrackerToken>,
}

impl<C> Sessions<C> {
    pub(crate) fn new(config: Resume, across: Option<ContextCodec<C>>) -> Self {
        Self {
            config,
            map: Mutex::new(HashMap::new()),
            across: across.map(handover::Across::new),
        }
    }

    /// Whether sessions move between nodes (given a backplane).
    pub(crate) fn across_nodes(&self) -> bool {
        self.across.is_some()
    }

    /// Takes the session of `token` out of the map, if the token is valid.
    fn remove(&self, token: &Token) -> Option<Entry<C>> {
        let mut map = self.map.lock();
        match map.get(&token.key()) {
            Some(entry) if same(&entry.secret, &token.secret()) => map.remove(&token.key()),
            _ => None,
        }
    }

    /// Whether a session of this token's key is here (valid or not).
    fn knows(&self, token: &Token) -> bool {
        self.map.lock().contains_key(&token.key())
    }

    /// The outbox of a new session: a queue that is also its replay log.
    pub(crate) fn outbox(&self, capacity: usize, capacity_bytes: usize, codec: Codec) -> Outbox {
        Outbox::with_log(capacity, capacity_bytes, Some((self.config.max_bytes, codec)))
    }

    /// Registers a connected session under a fresh token.
    pub(crate) fn open(&self, conn: Arc<Conn<C>>, outbox: Arc<Outbox>, codec: Codec, resumed: bool) -> Ticket {
        let token = Token::random();
        let released = Arc::new(Notify::new());
        let entry = Entry {
            secret: token.secret(),
            conn,
            outbox,
            codec,
            held: Held::Connected(released.clone()),
        };
        self.map.lock().insert(token.key(), entry);
        Ticket {
            key: token.key(),
            token: token.encode(),
            resumed,
            released,
        }
    }
}

/// Hands the session `request` names to a new connection speaking `codec`, if it can be
/// resumed. A valid token is used up whatever the outcome: a session whose log cannot replay
/// from the client's `__seq`, or that another codec asks for, ends here (`on_disconnect`
/// runs), and the client gets a fresh one.
pub(crate) async fn claim<H, O, C, S>(
    shared: &Arc<Shared<H, O, C, S>>,
    request: &Request,
    codec: Codec,
) -> Option<Resumed<C>>
where
    O: Outgoing,
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    let sessions = shared.sessions.as_ref()?;
    let token = Token::parse(&request.token)?;
    if sessions.across_nodes() && !sessions.knows(&token) {
        // Another node may hold it.
        return handover::claim(shared, &token, request, codec).await;
    }
    let entry = sessions.remove(&token)?;
    let Entry {
        conn,
        outbox,
        held,
        codec: was,
        ..
    } = entry;
    let (tracked, released) = release(shared, held, &outbox).await;
    let resumed = released && was == codec && request.seen.is_some_and(|seen| outbox.resume_after(seen));
    if !resumed {
        tracing::debug!(client_id = %conn.id, "session not resumable: it ends");
        outbox.close();
        farewell(shared, &conn).await;
        drop(tracked);
        return None;
    }
    tracing::debug!(client_id = %conn.id, "session resumed");
    Some(Resumed { conn, outbox, tracked })
}

/// Takes a session just removed from the map from whoever held it: its parked timer, or the
/// connection still serving it (which is asked to let go, and waited for). Returns the parked
/// session's place among the connections, and whether it was let go of in time.
async fn release<H, O, C, S>(
    shared: &Shared<H, O, C, S>,
    held: Held,
    outbox: &Outbox,
) -> (Option<TaskTrackerToken>, bool) {
    match held {
        Held::Parked(tracked, wake) => {
            // Its timer finds it gone and stops.
            wake.notify_one();
            (Some(tracked), true)
        }
        Held::Connected(released) => {
            // Its old socket is somehow still open: that connection lets go first.
            outbox.take_over();
            let limit = shared.config.write_timeout + RELEASE;
            let released = tokio::time::timeout(limit, released.notified()).await.is_ok();
            (None, released)
        }
    }
}

/// A connection with a session ended: the session is parked if the connection was lost
/// (`parks`) and its log can still replay; left alone if another connection took it over;
/// otherwise it ends (`on_disconnect` runs).
pub(crate) async fn leave<H: 'static, O, C, S>(
    shared: &Arc<Shared<H, O, C, S>>,
    ticket: Ticket,
    conn: &Arc<Conn<C>>,
    outbox: &Arc<Outbox>,
    parks: bool,
    tracked: TaskTrackerToken,
) where
    O: Outgoing,
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    enum Outcome {
        TakenOver(TaskTrackerToken),
        Parked(Arc<Notify>),
        Ends(TaskTrackerToken),
    }
    let Some(sessions) = shared.sessions.as_ref() else {
        return;
    };
    let outcome = {
        let mut map = sessions.map.lock();
        match map.get_mut(&ticket.key) {
            None => Outcome::TakenOver(tracked),
            Some(entry) if parks && !shared.lifecycle.shutdown.is_cancelled() && outbox.park() => {
                let wake = Arc::new(Notify::new());
                entry.held = Held::Parked(tracked, wake.clone());
                Outcome::Parked(wake)
            }
            Some(_) => {
                map.remove(&ticket.key);
                Outcome::Ends(tracked)
            }
        }
    };
    match outcome {
        Outcome::TakenOver(tracked) => {
            ticket.released.notify_one();
            drop(tracked);
        }
        Outcome::Parked(wake) => {
            tracing::debug!(window = ?sessions.config.window, "session parked");
            tokio::spawn(expire(shared.clone(), ticket.key, outbox.clone(), wake));
        }
        Outcome::Ends(tracked) => {
            outbox.close();
            farewell(shared, conn).await;
            drop(tracked);
        }
    }
}

/// A parked session's timer: it ends the session when the window passes, its log loses frames
/// or the server shuts down, unless a resuming connection took it first.
async fn expire<H: 'static, O, C, S>(shared: Arc<Shared<H, O, C, S>>, key: Half, outbox: Arc<Outbox>, wake: Arc<Notify>)
where
    O: Outgoing,
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    let Some(sessions) = shared.sessions.as_ref() else {
        return;
    };
    let why = tokio::select! {
        () = tokio::time::sleep(sessions.config.window) => "window passed",
        () = wake.notified() => "resumed",
        () = std::future::poll_fn(|cx| outbox.poll_lost(cx)) => "byte budget exceeded",
        () = shared.lifecycle.shutdown.cancelled() => "server shutting down",
    };
    let entry = {
        let mut map = sessions.map.lock();
        match map.get(&key) {
            Some(Entry {
                held: Held::Parked(..), ..
            }) => map.remove(&key),
            _ => None,
        }
    };
    if let Some(entry) = entry {
        tracing::debug!(client_id = %entry.conn.id, why, "parked session ends");
        entry.outbox.close();
        farewell(&shared, &entry.conn).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_anything_else() {
        let token = Token::random();
        let text = token.encode();
        assert_eq!(text.len(), 43);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        let parsed = Token::parse(&text).unwrap();
        assert_eq!(parsed.0, token.0);
        assert_ne!(Token::random().0, token.0);
        for bad in [
            "",
            "abc",
            &text[..42],
            &format!("{text}A"),
            &text.replace(|_| true, "="),
        ] {
            assert!(Token::parse(bad).is_none(), "{bad:?}");
        }
        assert!(same(&token.secret(), &parsed.secret()));
        let mut other = token.secret();
        other[15] ^= 1;
        assert!(!same(&token.secret(), &other));
    }

    #[test]
    fn the_request_leaves_the_headers() {
        let mut headers = serde_json::json!({"token": "t", "__session": "abc", "__seq": "17"});
        let request = Request::take(&mut headers).unwrap();
        assert_eq!((request.token.as_str(), request.seen), ("abc", Some(17)));
        assert_eq!(headers, serde_json::json!({"token": "t"}));
        let mut headers = serde_json::json!({"__seq": "x"});
        assert!(Request::take(&mut headers).is_none());
        assert_eq!(headers, serde_json::json!({}), "removed even without a token");
    }
}
