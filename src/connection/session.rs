//! One connection's task: read, dispatch, write, ping, and clean up.
//!
//! Calls run concurrently inside this task (no task per message): their futures sit in a
//! bounded set that is polled with the socket, and the socket is not read while the set is
//! full. Replies and pushes are written in batches, one flush per batch, and every write has a
//! deadline, so a client that stops reading is dropped instead of stalling the server.

use super::dispatch::Dispatcher;
use crate::call::Conn;
use crate::hub::Frame;
use crate::server::Shared;
use crate::{Ctx, Disconnected, Handle, Outgoing};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream, StreamExt};
use futures_util::{FutureExt, SinkExt};
use std::{panic::AssertUnwindSafe, sync::Arc, time::Duration};
use tokio::sync::{Notify, mpsc};
use tokio::time::{Instant, MissedTickBehavior, timeout};
use tracing::Instrument;

/// Frames written per flush at most.
const BATCH: usize = 64;

/// How long a server-initiated close waits for the client's close reply.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Why a connection ended.
#[derive(Debug, Clone, Copy)]
enum End {
    /// The client sent a close frame.
    ClientClosed,
    /// The socket broke or a write failed: nothing more can be sent.
    Gone(&'static str),
    /// The server closes with this code and reason.
    Close(u16, &'static str),
    /// The client sent something unreadable (too big, not UTF-8, not WebSocket): the server
    /// closes with this code and reason, and can read nothing more.
    Refuse(u16, &'static str),
}

impl End {
    fn reason(self) -> &'static str {
        match self {
            Self::ClientClosed => "client closed",
            Self::Gone(reason) | Self::Close(_, reason) | Self::Refuse(_, reason) => reason,
        }
    }
}

/// Takes a client out of the hub and runs `on_disconnect` for it, panics caught. Runs once for
/// every connection whose `on_connect` succeeded, whether or not its upgrade did.
pub(super) async fn farewell<H, O, C>(shared: &Shared<H, O, C>, conn: &Arc<Conn<C>>)
where
    O: Outgoing,
    C: Send + Sync + 'static,
{
    let rooms = shared.hub.unregister(&conn.id);
    if let Some(hook) = &shared.on_disconnect {
        let gone = Disconnected {
            client_id: conn.id.clone(),
            ctx: Ctx(conn.clone()),
            rooms,
        };
        let server = Handle::new(shared.hub.clone(), shared.lifecycle.clone());
        if AssertUnwindSafe(async { hook(gone, server).await })
            .catch_unwind()
            .await
            .is_err()
        {
            tracing::error!("on_disconnect panicked");
        }
    }
}

/// Serves one upgraded connection, already registered in the hub with the queue `rx`.
pub(super) async fn run<H, O, C>(
    socket: WebSocket,
    shared: Arc<Shared<H, O, C>>,
    conn: Arc<Conn<C>>,
    rx: mpsc::Receiver<Frame>,
    overflow: Arc<Notify>,
) where
    O: Outgoing,
    C: Send + Sync + 'static,
{
    let span = tracing::info_span!("connection", client_id = %conn.id);
    async move {
        tracing::debug!("connected");
        // Handler panics are caught per call; this catches the runtime's own, so that whatever
        // happens the client still leaves the hub and `on_disconnect` still runs.
        let end = AssertUnwindSafe(drive(socket, &shared, &conn, rx, &overflow))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                tracing::error!("connection task panicked");
                End::Gone("panicked")
            });
        tracing::debug!(reason = end.reason(), "disconnected");
        farewell(&shared, &conn).await;
    }
    .instrument(span)
    .await;
}

async fn drive<H, O, C>(
    socket: WebSocket,
    shared: &Shared<H, O, C>,
    conn: &Arc<Conn<C>>,
    mut rx: mpsc::Receiver<Frame>,
    overflow: &Notify,
) -> End
where
    O: Outgoing,
    C: Send + Sync + 'static,
{
    let config = &shared.config;
    let (mut sink, mut stream) = socket.split();
    let mut dispatcher = Dispatcher::new(shared, conn.clone());
    let mut last_heard = Instant::now();
    let mut ticker = config.heartbeat.map(|beat| {
        let mut ticker = tokio::time::interval_at(Instant::now() + beat.interval, beat.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        (ticker, beat.timeout)
    });
    let mut batch: Vec<Frame> = Vec::new();

    let end = loop {
        let reading = dispatcher.has_room();
        // Unbiased: under a flood of outgoing frames, reading (and so pongs) still gets its turn.
        tokio::select! {
            () = shared.lifecycle.shutdown.cancelled() => break End::Close(1001, "server shutting down"),
            () = overflow.notified() => break End::Close(1013, "outbound queue full"),
            Some(mut reply) = dispatcher.next_done(), if dispatcher.in_flight() > 0 => {
                loop {
                    // What each handler pushed (to this client too) goes out before its reply.
                    while let Ok(frame) = rx.try_recv() {
                        batch.push(frame);
                    }
                    batch.extend(reply);
                    if batch.len() >= BATCH {
                        break;
                    }
                    match dispatcher.next_done().now_or_never() {
                        Some(Some(next)) => reply = next,
                        _ => break,
                    }
                }
                if let Err(end) = write(&mut sink, &mut batch, config.write_timeout).await {
                    break end;
                }
            }
            Some(frame) = rx.recv() => {
                batch.push(frame);
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(frame) => batch.push(frame),
                        Err(_) => break,
                    }
                }
                if let Err(end) = write(&mut sink, &mut batch, config.write_timeout).await {
                    break end;
                }
            }
            message = stream.next(), if reading => {
                last_heard = Instant::now();
                match message {
                    Some(Ok(Message::Text(text))) => dispatcher.dispatch(Bytes::from(text)),
                    Some(Ok(Message::Binary(bytes))) => dispatcher.dispatch(bytes),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) => break End::ClientClosed,
                    Some(Err(error)) => break classify(error),
                    None => break End::Gone("stream ended"),
                }
            }
            _ = async { ticker.as_mut().map(|(t, _)| t).expect("guarded").tick().await }, if ticker.is_some() => {
                let timeout_after = ticker.as_ref().map(|(_, t)| *t).expect("guarded");
                if !reading {
                    // The server itself stopped reading (calls in flight at their bound), so the
                    // client's pongs wait unread: that is not silence. Dead peers still fail the
                    // ping's write deadline.
                    last_heard = Instant::now();
                }
                if last_heard.elapsed() >= timeout_after {
                    break End::Close(1001, "heartbeat timeout");
                }
                if timeout(config.write_timeout, sink.send(Message::Ping(Bytes::new()))).await.map_or(true, |r| r.is_err()) {
                    break End::Gone("ping failed");
                }
            }
        }
    };
    finish(&mut sink, &mut stream, end, config.write_timeout).await;
    // Messages already read still run, though their replies can no longer be sent: a message
    // sent just before closing is not lost. Calls still running after the grace are dropped.
    let _ = timeout(CLOSE_GRACE, async { while dispatcher.next_done().await.is_some() {} }).await;
    end
}

async fn write(sink: &mut SplitSink<WebSocket, Message>, batch: &mut Vec<Frame>, limit: Duration) -> Result<(), End> {
    if batch.is_empty() {
        return Ok(());
    }
    let writing = async {
        for frame in batch.drain(..) {
            sink.feed(Message::Text(frame)).await?;
        }
        sink.flush().await
    };
    match timeout(limit, writing).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(End::Gone("write failed")),
        Err(_) => Err(End::Gone("write timed out")),
    }
}

/// Completes the closing handshake where one is due, within [`CLOSE_GRACE`]: after a server
/// close, waits for the client's close so the frame is not lost to a TCP reset.
async fn finish(
    sink: &mut SplitSink<WebSocket, Message>,
    stream: &mut SplitStream<WebSocket>,
    end: End,
    limit: Duration,
) {
    let closing = async {
        match end {
            End::Close(code, reason) | End::Refuse(code, reason) => {
                let frame = CloseFrame {
                    code,
                    reason: reason.into(),
                };
                if sink.send(Message::Close(Some(frame))).await.is_err() {
                    return;
                }
                if matches!(end, End::Refuse(..)) {
                    // Nothing more can be read, yet the client may still be sending (the rest of
                    // an oversized message, say): dropping the socket now would reset the
                    // connection and lose the close frame. Linger for the grace period instead.
                    std::future::pending::<()>().await;
                }
                while let Some(Ok(message)) = stream.next().await {
                    if matches!(message, Message::Close(_)) {
                        break;
                    }
                }
            }
            End::ClientClosed => {
                let _ = sink.close().await;
            }
            End::Gone(_) => {}
        }
    };
    let _ = timeout(limit.min(CLOSE_GRACE), closing).await;
}

/// Maps a read error to the close code it deserves.
fn classify(error: axum::Error) -> End {
    match error.into_inner().downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(_)) => End::Refuse(1009, "message too big"),
        Some(tungstenite::Error::Utf8(_)) => End::Refuse(1007, "invalid UTF-8"),
        Some(tungstenite::Error::Protocol(_)) => End::Refuse(1002, "protocol error"),
        _ => End::Gone("read failed"),
    }
}
