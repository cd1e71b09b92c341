//! A call in flight: its handler (with the layers around it), then, in a cluster, the wait for
//! the rooms it opened, then the frame it sends back.
//!
//! A plain future rather than a boxed `async` block: a call that finishes when first polled
//! (most do) costs no allocation beyond its handler's.

use crate::cluster::node::Node;
use crate::hub::{self, Message};
use crate::metrics::RouteMetrics;
use crate::middleware::BoxReply;
use crate::{CallError, Reply};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tracing::Span;
use zocket_protocol::Codec;

/// A finished call: the frame to send back, if any, and the bytes it held.
pub(super) type Done = (Option<Message>, usize);

/// A call in flight: resolves to the frame to send back, if any, and the bytes it held.
pub(super) enum Pending {
    /// Refused before any handler ran: its frame, taken by the first poll.
    Refused(Option<Message>),
    Running(Running),
}

/// A call whose handler runs, in its span.
pub(super) struct Running {
    span: Span,
    call: Handling,
}

struct Handling {
    stage: Stage,
    codec: Codec,
    rpc_id: Option<Bytes>,
    route: Arc<str>,
    counters: Arc<RouteMetrics>,
    /// Bytes of the frame the call holds.
    held: usize,
    /// In a cluster, for a call that waits for its reply: the node, and how many rooms it had
    /// opened before the handler ran.
    node: Option<(Arc<Node>, u64)>,
}

enum Stage {
    Handler(BoxReply),
    /// Making the handler's future panicked (a layer's code before its first `await`).
    Panicked,
    /// The handler opened a room: the client may count on the room's traffic from every node
    /// once answered, so the reply waits until the room's channel is subscribed.
    Subscribing(BoxFuture<'static, ()>, Option<Box<Result<Reply, CallError>>>),
    Answered,
}

/// What a [`Running`] call needs besides its handler.
pub(super) struct Start {
    pub(super) codec: Codec,
    pub(super) rpc_id: Option<Bytes>,
    pub(super) route: Arc<str>,
    pub(super) counters: Arc<RouteMetrics>,
    pub(super) held: usize,
    /// In a cluster, for a call that waits for its reply: the node.
    pub(super) node: Option<Arc<Node>>,
}

impl Pending {
    /// Starts a call: `handler` makes its future (in the call's span, panics caught).
    pub(super) fn run(start: Start, handler: impl FnOnce() -> BoxReply) -> Self {
        let span = tracing::debug_span!("call", route = %start.route, rpc = start.rpc_id.is_some());
        let node = start.node.map(|node| {
            let opened = node.rooms_opened();
            (node, opened)
        });
        let stage = span.in_scope(|| match catch_unwind(AssertUnwindSafe(handler)) {
            Ok(handler) => Stage::Handler(handler),
            Err(_) => Stage::Panicked,
        });
        let call = Handling {
            stage,
            codec: start.codec,
            rpc_id: start.rpc_id,
            route: start.route,
            counters: start.counters,
            held: start.held,
            node,
        };
        Self::Running(Running { span, call })
    }
}

impl Future for Pending {
    type Output = Done;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Done> {
        match self.get_mut() {
            Self::Refused(frame) => Poll::Ready((frame.take(), 0)),
            Self::Running(Running { span, call }) => {
                let _entered = span.enter();
                call.poll(cx)
            }
        }
    }
}

impl Handling {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Done> {
        loop {
            let outcome = match &mut self.stage {
                Stage::Handler(handler) => match catch_unwind(AssertUnwindSafe(|| handler.as_mut().poll(cx))) {
                    Ok(Poll::Ready(outcome)) => outcome,
                    Ok(Poll::Pending) => return Poll::Pending,
                    Err(_) => panicked(),
                },
                Stage::Panicked => panicked(),
                Stage::Subscribing(subscribed, outcome) => {
                    ready!(subscribed.as_mut().poll(cx));
                    match outcome.take() {
                        Some(outcome) => return Poll::Ready(self.answer(*outcome)),
                        None => return Poll::Pending,
                    }
                }
                // A finished call is not polled again.
                Stage::Answered => return Poll::Pending,
            };
            match self.node.take() {
                Some((node, opened)) if node.rooms_opened() != opened => {
                    let subscribed = Box::pin(async move { node.subscribed().await });
                    self.stage = Stage::Subscribing(subscribed, Some(Box::new(outcome)));
                }
                _ => return Poll::Ready(self.answer(outcome)),
            }
        }
    }

    /// Counts the call by its outcome and makes its frame.
    fn answer(&mut self, outcome: Result<Reply, CallError>) -> Done {
        self.stage = Stage::Answered;
        match &outcome {
            Ok(_) => self.counters.ok(),
            Err(error) => self.counters.failed(error.code()),
        }
        (
            answer(self.codec, self.rpc_id.as_deref(), &self.route, outcome),
            self.held,
        )
    }
}

fn panicked() -> Result<Reply, CallError> {
    tracing::error!("handler panicked");
    Err(CallError::internal())
}

/// The frame a finished call sends back: its encoded reply when the client waits for one,
/// or its error. Internal causes are logged here, where the error becomes a frame.
fn answer(codec: Codec, rpc_id: Option<&[u8]>, route: &str, outcome: Result<Reply, CallError>) -> Option<Message> {
    let error = match outcome {
        Ok(reply) => {
            let id = rpc_id?;
            match hub::encode(|out| reply.write(codec, out, id)) {
                Ok(message) => return Some(message),
                Err(error) => {
                    tracing::error!(%error, "reply does not serialize");
                    CallError::internal()
                }
            }
        }
        Err(error) => error,
    };
    match std::error::Error::source(&error) {
        Some(cause) => tracing::error!(code = %error.code(), error = %cause, "call failed"),
        None => tracing::debug!(code = %error.code(), "call failed"),
    }
    Some(error_frame(codec, rpc_id, Some(route), error))
}

/// `__rpc_err` when the client waits for a reply, `__error` (naming the route) when not.
pub(super) fn error_frame(codec: Codec, rpc_id: Option<&[u8]>, route: Option<&str>, error: CallError) -> Message {
    let encoded = hub::encode(|out| {
        match rpc_id {
            Some(id) => codec.write_rpc_error(out, id, &error.into_payload(None)),
            None => codec.write_error(out, &error.into_payload(route)),
        }
        Ok(())
    });
    encoded.expect("an error payload always encodes")
}
