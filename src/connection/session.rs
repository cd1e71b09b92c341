//! One connection's task: read, dispatch, write, ping, and clean up.
//!
//! Calls run concurrently inside this task (no task per message): their futures sit in a
//! bounded set that is polled with the socket, and the socket is not read while the set is
//! full. Replies and pushes are written in batches, one flush per batch, and every write has a
//! deadline, so a client that stops reading is dropped instead of stalling the server.

use super::Shared;
use super::dispatch::Dispatcher;
use crate::Outgoing;
use crate::call::Conn;
use crate::hub::{Cork, Message, Outbound, Outbox, Taken};
use crate::metrics::{self, ClosedBy};
use crate::transport::frame::{self, opcode};
use crate::transport::{Closing, Incoming, ReadError, Socket, Violation};
use futures_util::FutureExt;
use std::{panic::AssertUnwindSafe, sync::Arc, time::Duration};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, MissedTickBehavior, timeout};
use tracing::Instrument;
use zocket_protocol::Codec;

/// Frames written per flush at most.
const BATCH: usize = 64;

/// How long a server-initiated close waits for the client's close reply.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// How long a connection taken over by a resuming one waits for its close to be written.
const TAKEOVER_GRACE: Duration = Duration::from_millis(100);

/// Why a connection ended.
#[derive(Debug, Clone, Copy)]
enum End {
    /// The client sent a close frame, with this code if any.
    ClientClosed(Option<u16>),
    /// The socket broke or a write failed: nothing more can be sent.
    Gone(&'static str),
    /// The server closes with this code and reason.
    Close(u16, &'static str),
    /// The client went silent past the heartbeat's timeout: the server closes with 1001.
    Silent,
    /// A resuming connection took the session over: this one closes with 1000 at once.
    Handover,
    /// The client sent something unreadable (too big, not UTF-8, not WebSocket): the server
    /// fails the connection with the violation's code, and can read nothing more.
    Refuse(Violation),
}

impl End {
    fn reason(self) -> &'static str {
        match self {
            Self::ClientClosed(_) => "client closed",
            Self::Gone(reason) | Self::Close(_, reason) => reason,
            Self::Silent => "heartbeat timeout",
            Self::Handover => "session resumed elsewhere",
            Self::Refuse(violation) => violation.reason(),
        }
    }

    /// Counts it in `zocket_closes_total`.
    fn count(self) {
        match self {
            Self::ClientClosed(code) => metrics::closed(ClosedBy::Client, code),
            Self::Gone(_) => metrics::closed(ClosedBy::Nobody, None),
            Self::Close(code, _) => metrics::closed(ClosedBy::Server, Some(code)),
            Self::Silent => metrics::closed(ClosedBy::Server, Some(1001)),
            Self::Handover => metrics::closed(ClosedBy::Server, Some(1000)),
            Self::Refuse(violation) => metrics::closed(ClosedBy::Server, Some(violation.code())),
        }
    }
}

impl End {
    /// Whether the connection was lost rather than closed on purpose: with resume on, its
    /// session is parked for the client to come back.
    fn parks(self) -> bool {
        matches!(self, Self::Gone(_) | Self::Silent)
    }
}

/// Serves one upgraded connection, already registered in the hub with `outbox`; `true` if the
/// connection was lost (see [`End::parks`]). The caller takes the client out of the hub.
///
/// Not an `async fn`, which would keep its own copy of the arguments around the future below.
pub(super) fn run<H, O, C, S, IO>(
    socket: Box<Socket<IO>>,
    codec: Codec,
    shared: Arc<Shared<H, O, C, S>>,
    conn: Arc<Conn<C>>,
    outbox: Arc<Outbox>,
) -> impl Future<Output = bool>
where
    O: Outgoing,
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
    IO: AsyncRead + AsyncWrite + Unpin + Send,
{
    let node = shared.app.hub.node().map(|node| node.id().clone());
    let span =
        tracing::debug_span!("connection", client_id = %conn.id, node = node.as_ref().map(tracing::field::display));
    // Combinators, not an `async` block: a block would hold the session's future twice (once
    // captured, once being polled), or its arguments beside it.
    // Handler panics are caught per call; this catches the runtime's own, so that whatever
    // happens the client still leaves the hub and `on_disconnect` still runs.
    AssertUnwindSafe(drive(socket, codec, shared, conn, outbox))
        .catch_unwind()
        .map(|caught| {
            let end = caught.unwrap_or_else(|_| {
                tracing::error!("connection task panicked");
                End::Gone("panicked")
            });
            tracing::debug!(reason = end.reason(), "disconnected");
            end.count();
            end.parks()
        })
        .instrument(span)
}

#[allow(
    clippy::manual_async_fn,
    reason = "an `async fn` keeps a copy of its arguments in its future"
)]
fn drive<H, O, C, S, IO>(
    mut socket: Box<Socket<IO>>,
    codec: Codec,
    shared: Arc<Shared<H, O, C, S>>,
    conn: Arc<Conn<C>>,
    outbox: Arc<Outbox>,
) -> impl Future<Output = End>
where
    O: Outgoing,
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
    IO: AsyncRead + AsyncWrite + Unpin,
{
    // Not an `async fn`, which would keep a copy of each argument beside the one it uses.
    async move {
        tracing::debug!(?codec, "connected");
        let config = &shared.config;
        let mut dispatcher = Dispatcher::new(&shared, conn.clone(), codec);
        let mut last_heard = Instant::now();
        // Bytes read as of the last heartbeat: a client still uploading a message is not silent.
        let mut received = socket.received();
        // While the client floods past its rate limit, it is not read until this fires.
        let mut throttle: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
        let mut ticker = config.heartbeat.map(|beat| {
            let mut ticker = tokio::time::interval_at(Instant::now() + beat.interval, beat.interval);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            (ticker, beat.timeout)
        });
        // Kept while a burst lasts: the outbox frees it when the connection finds nothing more.
        let mut batch: Vec<Outbound> = Vec::new();
        // After a take that caught up with a backlog of fan-outs, the next waits
        // `Config::broadcast_linger`; the timer is kept while takes keep lingering.
        let mut linger: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
        let mut lingering = false;
        // Senders write to this socket directly while it is idle (`transport/direct.rs`): every
        // write here is bracketed so theirs never land inside one of its frames.
        let direct = outbox.is_direct().then_some(&*outbox);

        let end = 'connection: loop {
            let reading = dispatcher.has_room() && throttle.is_none();
            // Unbiased: under a flood of outgoing frames, reading (and so pongs) still gets its turn.
            tokio::select! {
                Some(mut reply) = dispatcher.next_done(), if dispatcher.in_flight() > 0 => {
                    loop {
                        // What each handler pushed (to this client too) goes out before its reply.
                        if matches!(outbox.take(&mut batch, BATCH), Some(Taken::Overflowed | Taken::ShutDown | Taken::Handover)) {
                            break;
                        }
                        // A take stops at its bounds: while more waits (a client behind on its
                        // reads), the batch goes out first, so nothing queued before the reply
                        // comes after it.
                        while outbox.has_waiting() {
                            if let Err(end) = write(&mut socket, &mut batch, config.write_timeout, direct).await {
                                break 'connection end;
                            }
                            if !outbox.take(&mut batch, BATCH).is_some_and(Taken::has_frames) {
                                break;
                            }
                        }
                        batch.extend(reply.map(Outbound::plain));
                        if batch.len() >= BATCH {
                            break;
                        }
                        match dispatcher.next_done().now_or_never() {
                            Some(Some(next)) => reply = next,
                            _ => break,
                        }
                    }
                    if let Err(end) = write(&mut socket, &mut batch, config.write_timeout, direct).await {
                        break end;
                    }
                }
                taken = std::future::poll_fn(|cx| outbox.poll_take(cx, &mut batch, BATCH)), if !lingering => {
                    match taken {
                        Taken::Overflowed => break End::Close(1013, "outbound queue full"),
                        // Heard from the outbox, not from the shared shutdown signal, whose lock every
                        // connection would take on every turn of its loop.
                        Taken::ShutDown => break End::Close(1001, "server shutting down"),
                        // A resuming connection took the session: this one closes and lets go.
                        Taken::Handover => break End::Handover,
                        Taken::Frames | Taken::Backlog => {}
                    }
                    if let Err(end) = write(&mut socket, &mut batch, config.write_timeout, direct).await {
                        break end;
                    }
                    if taken == Taken::Backlog && !config.broadcast_linger.is_zero() {
                        let until = Instant::now() + config.broadcast_linger;
                        match linger.as_mut() {
                            Some(timer) => timer.as_mut().reset(until),
                            None => linger = Some(Box::pin(tokio::time::sleep_until(until))),
                        }
                        lingering = true;
                    } else {
                        linger = None;
                    }
                }
                () = async { linger.as_mut().expect("guarded").await }, if lingering => {
                    lingering = false;
                }
                message = socket.read(), if reading => {
                    last_heard = Instant::now();
                    let mut message = Some(message);
                    // A pong replaces one still pending, and goes out once the turn's messages are
                    // handled: a flood of pings costs one pending pong and one write per read.
                    // Messages that came in the same read are handled in the same turn, and
                    // what they send to clients directly goes out together when it ends, one
                    // `send` per client (`hub/cork.rs`).
                    let cork = socket.has_buffered().then(Cork::new);
                    while let Some(next) = message.take() {
                        match next {
                            Ok(Incoming::Text(bytes) | Incoming::Binary(bytes)) => dispatcher.dispatch(bytes),
                            Ok(Incoming::Ping(payload)) => {
                                if dispatcher.allow_ping() {
                                    socket.queue_control(frame::control(opcode::PONG, &payload));
                                }
                            }
                            Ok(Incoming::Pong(_)) => {}
                            Ok(Incoming::Close(code)) => break 'connection End::ClientClosed(code),
                            Err(error) => break 'connection classify(error),
                        }
                        if let Some(until) = dispatcher.take_throttle() {
                            throttle = Some(Box::pin(tokio::time::sleep_until(until)));
                            break;
                        }
                        if dispatcher.has_room() {
                            message = socket.read_buffered();
                        }
                    }
                    drop(cork);
                    if socket.has_control() {
                        if let Err(end) = write(&mut socket, &mut batch, config.write_timeout, direct).await {
                            break 'connection end;
                        }
                    }
                }
                () = async { throttle.as_mut().expect("guarded").await }, if throttle.is_some() => {
                    throttle = None;
                }
                _ = async { ticker.as_mut().map(|(t, _)| t).expect("guarded").tick().await }, if ticker.is_some() => {
                    let timeout_after = ticker.as_ref().map(|(_, t)| *t).expect("guarded");
                    if !reading || socket.received() != received {
                        // The server itself stopped reading (calls in flight at their bound, or a
                        // throttled flood), so the client's pongs wait unread; or bytes of a message
                        // still arrive (a large upload leaves no room for pongs in between): that is
                        // not silence. Dead peers still fail the ping's write deadline.
                        last_heard = Instant::now();
                    }
                    received = socket.received();
                    if last_heard.elapsed() >= timeout_after {
                        break End::Silent;
                    }
                    socket.queue_control(frame::control(opcode::PING, &[]));
                    if let Err(end) = write(&mut socket, &mut batch, config.write_timeout, direct).await {
                        break end;
                    }
                }
            }
        };
        if let Some(rest) = direct.and_then(Outbox::stop_direct) {
            // Senders queue from here on, and let go of the socket; the rest of a frame one of
            // them began goes out before the close.
            socket.queue_unfinished(rest);
            if !matches!(end, End::Gone(_)) {
                let _ = write(&mut socket, &mut batch, config.write_timeout, None).await;
            }
        }
        let closing = match end {
            End::ClientClosed(code) => Closing::Echo(code),
            End::Close(code, reason) => Closing::Close(code, reason),
            End::Silent => Closing::Close(1001, "heartbeat timeout"),
            End::Refuse(violation) => Closing::Fail(violation),
            End::Gone(_) => Closing::Gone,
            End::Handover => {
                // The resuming connection waits for this one: no closing handshake, and calls
                // still running are dropped (calls are never replayed; the old socket is likely
                // dead anyway).
                Box::pin(socket.close(Closing::Close(1000, "session resumed elsewhere"), TAKEOVER_GRACE)).await;
                return end;
            }
        };
        // The closing futures are boxed: they run once, at the end, and inline they would be the
        // largest state of this future, which every idle connection's task keeps room for.
        Box::pin(socket.close(closing, config.write_timeout.min(CLOSE_GRACE))).await;
        // Messages already read still run, though their replies can no longer be sent: a message
        // sent just before closing is not lost. Calls still running after the grace are dropped.
        let _ = Box::pin(timeout(CLOSE_GRACE, async {
            while dispatcher.next_done().await.is_some() {}
        }))
        .await;
        end
    }
}

/// Writes `message` alone, within `limit`: the `__session` frame, before the session runs.
/// `false` if the connection is lost (counted as such).
pub(super) async fn write_first<IO: AsyncRead + AsyncWrite + Unpin>(
    socket: &mut Socket<IO>,
    message: Option<Message>,
    limit: Duration,
) -> bool {
    let Some(message) = message else {
        return true;
    };
    let mut batch = vec![Outbound::plain(message)];
    let written = write(socket, &mut batch, limit, None).await;
    if let Err(end) = written {
        tracing::debug!(
            reason = end.reason(),
            "disconnected before the session frame was written"
        );
        end.count();
    }
    written.is_ok()
}

/// Writes the socket's queued control frame, if any, and a batch of messages with a deadline
/// (emptying the batch; its memory goes once the outbox is found empty). With `direct` (the
/// outbox of a socket senders write to), senders hold off until the connection next finds its
/// outbox empty, and the rest of a frame one of them began goes first.
#[allow(
    clippy::manual_async_fn,
    reason = "an `async fn` keeps a copy of its arguments in its future"
)]
fn write<'a, IO: AsyncRead + AsyncWrite + Unpin>(
    socket: &'a mut Socket<IO>,
    batch: &'a mut Vec<Outbound>,
    limit: Duration,
    direct: Option<&'a Outbox>,
) -> impl Future<Output = Result<(), End>> + 'a {
    // Not an `async fn`: see `drive`.
    async move {
        if let Some(rest) = direct.and_then(Outbox::begin_write) {
            socket.queue_unfinished(rest);
        }
        if batch.is_empty() && !socket.has_control() {
            return Ok(());
        }
        // Most writes complete at once: the deadline's timer is armed only for one that waits, and
        // boxed then (it is a third of this future, and every connection's task keeps room for its
        // largest state while idle: see `BENCHMARKS.md`, "Cost as the work grows").
        let result = {
            let mut writing = std::pin::pin!(socket.write(batch));
            match futures_util::poll!(writing.as_mut()) {
                std::task::Poll::Ready(written) => Ok(written),
                std::task::Poll::Pending => Box::pin(timeout(limit, writing)).await,
            }
        };
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Gone("write failed")),
            Err(_) => Err(End::Gone("write timed out")),
        }
    }
}

/// Maps a read error to how the connection ends.
fn classify(error: ReadError) -> End {
    match error {
        ReadError::Violation(violation) => End::Refuse(violation),
        ReadError::Io(error) => {
            tracing::debug!(%error, "read failed");
            End::Gone("read failed")
        }
    }
}
