//! Admitting a client: a place among the connections, its context built by `on_connect`, its
//! place in the hub, then its session over whatever byte stream carries it (an upgraded HTTP
//! connection, or memory).

use super::resume::{self, Resumed, Ticket};
use super::{Shared, session};
use crate::call::Conn;
use crate::hub::{Outbox, Slot};
use crate::metrics::{OpenConnection, Refusal};
use crate::transport::Socket;
use crate::transport::direct::Stream;
use crate::transport::frame::opcode;
use crate::{ClientId, Ctx, Disconnected, Moved, Outgoing, Reject};
use futures_util::FutureExt;
use futures_util::future::Either;
use std::{panic::AssertUnwindSafe, sync::Arc};
use tokio_util::task::task_tracker::TaskTrackerToken;
use zocket_protocol::Codec;

/// Why a client was not admitted.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The server is shutting down.
    ShuttingDown,
    /// `max_connections` are open.
    Full,
    /// `on_connect` refused it.
    Rejected(Reject),
    /// `on_connect` did not finish within `on_connect_timeout`.
    TimedOut,
    /// `on_connect` panicked.
    Panicked,
}

impl Refused {
    /// The HTTP status and message the client gets.
    pub(crate) fn into_reject(self) -> Reject {
        let (status, message) = match self {
            Self::Rejected(reject) => return reject,
            Self::ShuttingDown => (503, "Server is shutting down"),
            Self::Full => (503, "Server is full"),
            Self::TimedOut => (503, "Connection setup timed out"),
            Self::Panicked => (500, "Internal server error"),
        };
        Reject {
            status,
            message: message.into(),
        }
    }

    /// Its `reason` label in the refusal metrics and log.
    pub(crate) fn reason(&self) -> Refusal {
        match self {
            Self::ShuttingDown => Refusal::ShuttingDown,
            Self::Full => Refusal::Full,
            Self::Rejected(_) => Refusal::Rejected,
            Self::TimedOut => Refusal::ConnectTimeout,
            Self::Panicked => Refusal::ConnectPanicked,
        }
    }
}

/// A place among the server's connections, held from before `on_connect` until the session
/// ends and `on_disconnect` has run.
#[derive(Debug)]
pub(crate) struct Reservation {
    /// Keeps a shutdown waiting for this connection, and counts it against `max_connections`.
    tracked: TaskTrackerToken,
}

/// Takes a place among the connections, unless the server is shutting down or full.
pub(crate) fn reserve<H, O, C, S>(shared: &Shared<H, O, C, S>) -> Result<Reservation, Refused> {
    // Counts as a connection from here on, so a shutdown waits for it; taken before the
    // checks, so a shutdown cannot slip in between, and two upgrades racing for the last place
    // cannot both take it.
    let tracked = shared.lifecycle.connections.token();
    if shared.lifecycle.shutdown.is_cancelled() {
        return Err(Refused::ShuttingDown);
    }
    if shared.lifecycle.connections.len() > shared.config.max_connections {
        return Err(Refused::Full);
    }
    Ok(Reservation { tracked })
}

/// A client with its context, registered in the hub, waiting for its session to start.
#[derive(Debug)]
pub(crate) struct Admitted<C> {
    pub(crate) conn: Arc<Conn<C>>,
    outbox: Arc<Outbox>,
    codec: Codec,
    /// Counted among the open connections while it lives.
    _open: OpenConnection,
    tracked: TaskTrackerToken,
    /// Its hold on its session, if resume is on.
    ticket: Option<Ticket>,
}

impl Reservation {
    /// Runs `on_connect` for `headers` (raced against shutdown and its deadline, panics
    /// caught) and registers the client in the hub, so that it receives what is sent from now
    /// on.
    pub(crate) async fn admit<H, O, C, S>(
        self,
        shared: &Shared<H, O, C, S>,
        headers: H,
        codec: Codec,
    ) -> Result<Admitted<C>, Refused>
    where
        O: Outgoing,
        C: Send + Sync + 'static,
        S: Send + Sync + 'static,
    {
        admit(self.tracked, shared, headers, codec).await
    }
}

async fn admit<H, O, C, S>(
    tracked: TaskTrackerToken,
    shared: &Shared<H, O, C, S>,
    headers: H,
    codec: Codec,
) -> Result<Admitted<C>, Refused>
where
    O: Outgoing,
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    let id = ClientId::random();
    let connecting =
        AssertUnwindSafe(async { (shared.on_connect)(headers, id.clone(), &shared.app.state).await }).catch_unwind();
    // Neither a shutdown nor the deadline waits for a slow `on_connect`: it is dropped, no
    // context was built, so no `on_disconnect` is owed.
    let connected = tokio::select! {
        connected = tokio::time::timeout(shared.config.on_connect_timeout, connecting) => connected,
        () = shared.lifecycle.shutdown.cancelled() => return Err(Refused::ShuttingDown),
    };
    let ctx = match connected {
        Ok(Ok(Ok(ctx))) => ctx,
        Ok(Ok(Err(reject))) => return Err(Refused::Rejected(reject)),
        Ok(Err(_)) => {
            tracing::error!("on_connect panicked");
            return Err(Refused::Panicked);
        }
        Err(_) => {
            tracing::warn!(limit = ?shared.config.on_connect_timeout, "on_connect timed out");
            return Err(Refused::TimedOut);
        }
    };
    let conn = Arc::new(Conn { id, ctx });
    if shared.lifecycle.shutdown.is_cancelled() {
        // Shutdown began while `on_connect` ran: refuse, and balance it with `on_disconnect`.
        farewell(shared, &conn).await;
        return Err(Refused::ShuttingDown);
    }
    // The client joins the hub before its session starts (for a WebSocket, before the 101 goes
    // out), so a broadcast sent as soon as it sees the socket open reaches it; frames wait in
    // its outbox until the session runs.
    let (capacity, capacity_bytes) = (shared.config.outbound_queue, shared.config.outbound_queue_bytes);
    let outbox = Arc::new(match &shared.sessions {
        None => Outbox::new(capacity, capacity_bytes),
        Some(sessions) => sessions.outbox(capacity, capacity_bytes, codec),
    });
    shared
        .app
        .hub
        .register(conn.id.clone(), Slot::new(outbox.clone(), codec));
    if shared.lifecycle.shutdown.is_cancelled() {
        // A shutdown that told every registered client may have missed this one.
        outbox.shut_down();
    }
    let ticket = shared
        .sessions
        .as_ref()
        .map(|sessions| sessions.open(conn.clone(), outbox.clone(), codec, false));
    Ok(Admitted {
        conn,
        outbox,
        codec,
        _open: OpenConnection::new(),
        tracked,
        ticket,
    })
}

impl<C: Send + Sync + 'static> Admitted<C> {
    /// A session taken over by a resuming connection, already in the hub with its rooms:
    /// `on_connect` does not run again.
    pub(crate) fn resumed<H, O, S>(shared: &Shared<H, O, C, S>, resumed: Resumed<C>, codec: Codec) -> Option<Self> {
        let sessions = shared.sessions.as_ref()?;
        // The parked session's place among the connections, or a new one if it was taken over
        // from a connection still open (that one gives its own up as it ends).
        let tracked = resumed.tracked.unwrap_or_else(|| shared.lifecycle.connections.token());
        if shared.lifecycle.shutdown.is_cancelled() {
            resumed.outbox.shut_down();
        }
        let ticket = sessions.open(resumed.conn.clone(), resumed.outbox.clone(), codec, true);
        Some(Self {
            conn: resumed.conn,
            outbox: resumed.outbox,
            codec,
            _open: OpenConnection::new(),
            tracked,
            ticket: Some(ticket),
        })
    }
}

/// Where a connection's bytes will come from.
pub(crate) enum Opening {
    /// An HTTP connection being upgraded (its 101 is on its way).
    Upgrade(hyper::upgrade::OnUpgrade),
    /// A stream already open (in memory, for the `testing` clients).
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    Open(Stream),
}

/// What a connection's task starts from. A task's future keeps what it captured for its whole
/// life, moved on or not (so does each `async fn` it awaits, its arguments): the task takes
/// these boxed, one pointer, and the box is freed once unpacked. Nested, they cost every idle
/// connection about 400 bytes.
pub(crate) struct Start<H, O, C, S> {
    pub(crate) admitted: Admitted<C>,
    pub(crate) shared: Arc<Shared<H, O, C, S>>,
    pub(crate) opening: Opening,
    /// The permessage-deflate agreed in the handshake, if any.
    pub(crate) compression: Option<crate::transport::Agreed>,
}

impl<H: 'static, O, C, S> Start<H, O, C, S>
where
    O: Outgoing,
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    /// Opens the connection and serves the client until it leaves (the connection's task).
    pub(crate) async fn run(mut self: Box<Self>) {
        // The box holds everything while the upgrade completes; then the session's future is
        // awaited straight from `open`, so nothing moved into it is kept beside it.
        let upgraded = match &mut self.opening {
            Opening::Open(_) => None,
            Opening::Upgrade(upgrading) => Some(upgrading.await),
        };
        (*self).open(upgraded).await;
    }

    /// The client's session over the stream `upgraded` (or the one already open), or, if the
    /// upgrade failed, its farewell.
    fn open(self, upgraded: Option<hyper::Result<hyper::upgrade::Upgraded>>) -> impl Future<Output = ()> {
        let Start {
            admitted,
            shared,
            opening,
            compression,
        } = self;
        let io = match (opening, upgraded) {
            (Opening::Open(io), _) => io,
            (Opening::Upgrade(_), Some(Ok(upgraded))) => Stream::new(upgraded),
            (Opening::Upgrade(_), upgraded) => {
                if let Some(Err(error)) = upgraded {
                    tracing::debug!(%error, client_id = %admitted.conn.id, "upgrade failed");
                }
                return Either::Right(admitted.abandon(shared));
            }
        };
        // Senders write to plain TCP directly, unless each frame is compressed for it alone.
        let tcp = io.tcp().filter(|_| compression.is_none());
        // Up to twice the limit is read so the client gets a PAYLOAD_TOO_LARGE reply; past that
        // the socket refuses it (close 1009) without buffering it.
        let max = shared.config.max_message_size.saturating_mul(2);
        let mut socket = Box::new(Socket::new(io, max, admitted.codec.is_binary()));
        socket.set_message_timeout(shared.config.message_timeout);
        if let Some(agreed) = compression {
            socket.set_deflate(agreed);
        }
        Either::Left(admitted.serve(shared, socket, tcp))
    }
}

impl<C: Send + Sync + 'static> Admitted<C> {
    /// Serves the client over `socket` until it leaves; senders write to `tcp` directly.
    ///
    /// An `async` block, not an `async fn`: an `async fn` keeps a second copy of its arguments
    /// beside the ones it captured, for its whole life (112 bytes per connection here).
    #[allow(clippy::manual_async_fn)]
    fn serve<H: 'static, O, S>(
        self,
        shared: Arc<Shared<H, O, C, S>>,
        mut socket: Box<Socket<Stream>>,
        tcp: Option<crate::transport::direct::Target>,
    ) -> impl Future<Output = ()>
    where
        O: Outgoing,
        S: Send + Sync + 'static,
    {
        async move {
            // With resume on, the `__session` frame goes before anything else.
            let hello = self.ticket.as_ref().and_then(|ticket| ticket.frame(self.codec));
            if !session::write_first(&mut socket, hello, shared.config.write_timeout).await {
                self.finish(&shared, true).await;
                return;
            }
            if let Some(tcp) = tcp {
                let opcode = if self.codec.is_binary() {
                    opcode::BINARY
                } else {
                    opcode::TEXT
                };
                self.outbox.write_directly(tcp, opcode);
            }
            let parks = session::run(
                socket,
                self.codec,
                shared.clone(),
                self.conn.clone(),
                self.outbox.clone(),
            )
            .await;
            self.finish(&shared, parks).await;
        }
    }

    /// The session never started: the client leaves the hub and `on_disconnect` runs (with
    /// resume on, the session is parked: its client may come back).
    async fn abandon<H: 'static, O, S>(self, shared: Arc<Shared<H, O, C, S>>)
    where
        O: Outgoing,
        S: Send + Sync + 'static,
    {
        self.finish(&shared, true).await;
    }

    /// The connection ended: its session is parked if it `parks` and resume is on, or ends.
    async fn finish<H: 'static, O, S>(self, shared: &Arc<Shared<H, O, C, S>>, parks: bool)
    where
        O: Outgoing,
        S: Send + Sync + 'static,
    {
        match self.ticket {
            Some(ticket) => resume::leave(shared, ticket, &self.conn, &self.outbox, parks, self.tracked).await,
            None => {
                self.outbox.close();
                farewell(shared, &self.conn).await;
                drop(self.tracked);
            }
        }
    }
}

/// Takes a client out of the hub and runs `on_disconnect` for it, panics caught and within
/// `on_disconnect_timeout` (so a hook that hangs cannot hold up a shutdown). Runs once for
/// every connection whose `on_connect` succeeded, whether or not its upgrade did.
pub(super) async fn farewell<H, O, C, S>(shared: &Shared<H, O, C, S>, conn: &Arc<Conn<C>>)
where
    O: Outgoing,
    C: Send + Sync + 'static,
{
    let rooms = shared.app.hub.unregister(&conn.id);
    goodbye(shared, conn, rooms).await;
}

/// Runs `on_disconnect` for a client already out of the hub, that was in `rooms` (as
/// [`farewell`] does).
pub(super) async fn goodbye<H, O, C, S>(shared: &Shared<H, O, C, S>, conn: &Arc<Conn<C>>, rooms: Vec<String>)
where
    O: Outgoing,
    C: Send + Sync + 'static,
{
    if let Some(hook) = &shared.on_disconnect {
        let gone = Disconnected {
            client_id: conn.id.clone(),
            ctx: Ctx(conn.clone()),
            rooms,
        };
        let leaving = hook(gone, shared.handle(), &shared.app.state);
        run_hook("on_disconnect", shared.config.on_disconnect_timeout, leaving).await;
    }
}

/// Runs `on_move` for a session that left this node (`arrived: false`, within
/// `on_disconnect_timeout`) or arrived on it (within `on_connect_timeout`), panics caught.
pub(super) async fn moved<H, O, C, S>(
    shared: &Shared<H, O, C, S>,
    conn: &Arc<Conn<C>>,
    rooms: Vec<String>,
    arrived: bool,
) where
    O: Outgoing,
    C: Send + Sync + 'static,
{
    if let Some(hook) = &shared.on_move {
        let moved = Moved {
            client_id: conn.id.clone(),
            ctx: Ctx(conn.clone()),
            rooms,
            arrived,
        };
        let config = &shared.config;
        let limit = if arrived {
            config.on_connect_timeout
        } else {
            config.on_disconnect_timeout
        };
        run_hook("on_move", limit, hook(moved, shared.handle(), &shared.app.state)).await;
    }
}

/// Runs a hook's future within `limit`, its panic caught; either is logged.
async fn run_hook(name: &str, limit: std::time::Duration, hook: impl Future<Output = ()>) {
    match tokio::time::timeout(limit, AssertUnwindSafe(hook).catch_unwind()).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => tracing::error!(hook = name, "the hook panicked"),
        Err(_) => tracing::warn!(hook = name, ?limit, "the hook timed out and was dropped"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NoHeaders, NoOutgoing, Zocket};

    /// An idle connection costs its task: the session's future and what the task keeps beside
    /// it. Both must stay small for thousands of idle clients to be cheap.
    #[test]
    fn a_connection_task_is_small() {
        let zo = Zocket::<NoHeaders, NoOutgoing>::new();
        let router = zo.router();
        let server = zo.server(router);
        let shared = server.shared.clone();
        let conn = Arc::new(Conn {
            id: ClientId::from("c"),
            ctx: (),
        });
        let outbox = Arc::new(Outbox::new(8, 1024));

        let (_client, io) = tokio::io::duplex(64);
        let socket = Box::new(Socket::new(io, 1024, false));
        assert!(std::mem::size_of_val(&*socket) <= 256, "the socket holds no buffer");
        let session = session::run(socket, Codec::Json, shared.clone(), conn.clone(), outbox.clone());
        let size = std::mem::size_of_val(&session);
        // 744: the slow paths' futures (a write that waits, the close) boxed, no `async fn`
        // keeping copies of its arguments (960 before).
        assert!(size <= 760, "the session's future is {size} bytes");

        let admitted = Admitted {
            conn,
            outbox,
            codec: Codec::Json,
            _open: OpenConnection::new(),
            tracked: shared.lifecycle.connections.token(),
            ticket: None,
        };
        let mut request = axum::extract::Request::new(axum::body::Body::empty());
        let start = Start {
            admitted,
            shared,
            opening: Opening::Upgrade(hyper::upgrade::on(&mut request)),
            compression: None,
        };
        let task = Box::new(start).run();
        let size = std::mem::size_of_val(&task);
        // 896 (1112 before the session's future shrank; about 1430 while each layer was an
        // `async fn`). Tokio's task cell around it is 128-aligned: up to 920 bytes it fits in
        // 1024, one more byte costs 1152.
        assert!(size <= 920, "the connection task's future is {size} bytes");
    }
}
