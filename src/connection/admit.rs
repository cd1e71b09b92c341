//! Admitting a client: its context built by `on_connect`, its place in the hub, then its
//! session over whatever byte stream carries it (an upgraded HTTP connection, or memory).

use super::{Shared, session};
use crate::call::Conn;
use crate::hub::{Outbox, Slot};
use crate::transport::Socket;
use crate::{ClientId, Ctx, Disconnected, Outgoing, Reject};
use futures_util::FutureExt;
use std::{panic::AssertUnwindSafe, sync::Arc};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::task::task_tracker::TaskTrackerToken;
use zocket_protocol::Codec;

/// Why a client was not admitted.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The server is shutting down.
    ShuttingDown,
    /// `on_connect` refused it.
    Rejected(Reject),
    /// `on_connect` panicked.
    Panicked,
}

/// A client with its context, registered in the hub, waiting for its session to start.
#[derive(Debug)]
pub(crate) struct Admitted<C> {
    pub(crate) conn: Arc<Conn<C>>,
    outbox: Arc<Outbox>,
    codec: Codec,
    /// Keeps a shutdown waiting for this connection.
    tracked: TaskTrackerToken,
}

/// Runs `on_connect` for `headers` (raced against shutdown, panics caught) and registers the
/// client in the hub, so that it receives what is sent from now on.
pub(crate) async fn admit<H, O, C, S>(
    shared: &Shared<H, O, C, S>,
    headers: H,
    codec: Codec,
) -> Result<Admitted<C>, Refused>
where
    O: Outgoing,
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    // Counts as a connection from here on, so a shutdown waits for it; taken before the check,
    // so a shutdown cannot slip in between.
    let tracked = shared.lifecycle.connections.token();
    if shared.lifecycle.shutdown.is_cancelled() {
        return Err(Refused::ShuttingDown);
    }
    let id = ClientId::random();
    let connecting =
        AssertUnwindSafe(async { (shared.on_connect)(headers, id.clone(), &shared.app.state).await }).catch_unwind();
    // A shutdown does not wait for a slow `on_connect`: it is dropped, no context was built,
    // so no `on_disconnect` is owed.
    let connected = tokio::select! {
        connected = connecting => connected,
        () = shared.lifecycle.shutdown.cancelled() => return Err(Refused::ShuttingDown),
    };
    let ctx = match connected {
        Ok(Ok(ctx)) => ctx,
        Ok(Err(reject)) => return Err(Refused::Rejected(reject)),
        Err(_) => {
            tracing::error!("on_connect panicked");
            return Err(Refused::Panicked);
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
    let outbox = Arc::new(Outbox::new(shared.config.outbound_queue));
    shared
        .app
        .hub
        .register(conn.id.clone(), Slot::new(outbox.clone(), codec));
    if shared.lifecycle.shutdown.is_cancelled() {
        // A shutdown that told every registered client may have missed this one.
        outbox.shut_down();
    }
    Ok(Admitted {
        conn,
        outbox,
        codec,
        tracked,
    })
}

impl<C: Send + Sync + 'static> Admitted<C> {
    /// Serves the client over `io` until it leaves.
    pub(crate) async fn serve<H, O, S, IO>(self, shared: Arc<Shared<H, O, C, S>>, io: IO)
    where
        O: Outgoing,
        S: Send + Sync + 'static,
        IO: AsyncRead + AsyncWrite + Unpin + Send,
    {
        // Up to twice the limit is read so the client gets a PAYLOAD_TOO_LARGE reply; past that
        // the socket refuses it (close 1009) without buffering it.
        let max = shared.config.max_message_size.saturating_mul(2);
        let socket = Box::new(Socket::new(io, max, self.codec.is_binary()));
        session::run(socket, self.codec, shared, self.conn, self.outbox).await;
        drop(self.tracked);
    }

    /// The session never started: the client leaves the hub and `on_disconnect` runs.
    pub(crate) async fn abandon<H, O, S>(self, shared: Arc<Shared<H, O, C, S>>)
    where
        O: Outgoing,
        S: Send + Sync + 'static,
    {
        farewell(&shared, &self.conn).await;
        drop(self.tracked);
    }
}

/// Takes a client out of the hub and runs `on_disconnect` for it, panics caught. Runs once for
/// every connection whose `on_connect` succeeded, whether or not its upgrade did.
pub(super) async fn farewell<H, O, C, S>(shared: &Shared<H, O, C, S>, conn: &Arc<Conn<C>>)
where
    O: Outgoing,
    C: Send + Sync + 'static,
{
    let rooms = shared.app.hub.unregister(&conn.id);
    if let Some(hook) = &shared.on_disconnect {
        let gone = Disconnected {
            client_id: conn.id.clone(),
            ctx: Ctx(conn.clone()),
            rooms,
        };
        let leaving = hook(gone, shared.handle(), &shared.app.state);
        if AssertUnwindSafe(leaving).catch_unwind().await.is_err() {
            tracing::error!("on_disconnect panicked");
        }
    }
}
