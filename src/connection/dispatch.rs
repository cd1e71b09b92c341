//! From a frame to a running call: decode, rate-limit, route, check the payload, and run the
//! handler with panics caught. Every path ends in a reply frame or nothing, never a silent drop.

use super::pending::{Done, Pending, Start, error_frame};
use super::rate::{RateGuard, Verdict};
use super::{Route, Shared};
use crate::call::Conn;
use crate::hub::Message;
use crate::metrics::{self, RouteMetrics};
use crate::{Call, CallError, ErrorCode, Issue, PathSegment, transport};
use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::{marker::PhantomData, sync::Arc};
use zocket_protocol::Codec;

pub(super) struct Dispatcher<'a, H, O, C, S> {
    shared: &'a Shared<H, O, C, S>,
    conn: Arc<Conn<C>>,
    codec: Codec,
    limiter: Option<RateGuard>,
    /// Set when the client floods: reading waits until this instant.
    throttled: Option<tokio::time::Instant>,
    /// Made on the first call that waits: an idle connection holds no allocation for it.
    calls: Option<FuturesUnordered<Pending>>,
    /// Calls that finished as soon as they started (most do): their replies, not yet taken,
    /// the oldest inline (a client that makes one call at a time never allocates the queue).
    first_done: Option<Done>,
    done: VecDeque<Done>,
    /// Bytes of the frames the calls in flight hold.
    held: usize,
}

impl<'a, H, O, C, S> Dispatcher<'a, H, O, C, S>
where
    O: 'static,
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    pub(super) fn new(shared: &'a Shared<H, O, C, S>, conn: Arc<Conn<C>>, codec: Codec) -> Self {
        Self {
            codec,
            limiter: shared.config.rate_limit.map(RateGuard::new),
            throttled: None,
            shared,
            conn,
            calls: None,
            first_done: None,
            done: VecDeque::new(),
            held: 0,
        }
    }

    pub(super) fn in_flight(&self) -> usize {
        self.calls.as_ref().map_or(0, FuturesUnordered::len) + usize::from(self.first_done.is_some()) + self.done.len()
    }

    /// Whether another message may be read: calls and the bytes they hold are both bounded.
    pub(super) fn has_room(&self) -> bool {
        let config = &self.shared.config;
        self.in_flight() < config.max_in_flight && self.held < config.max_in_flight_bytes
    }

    /// The next finished call's reply (`Some(None)` when it needs none).
    ///
    /// A poll function, not an `async fn`: every idle connection's task keeps room for this
    /// future (16 bytes here, 80 as an `async fn`, which kept the finished call beside it).
    pub(super) fn next_done(&mut self) -> impl Future<Output = Option<Option<Message>>> + '_ {
        std::future::poll_fn(move |cx| {
            let (reply, held) = match self.first_done.take().or_else(|| self.done.pop_front()) {
                Some(done) => done,
                None => match self.calls.as_mut().map(|calls| calls.poll_next_unpin(cx)) {
                    None | Some(Poll::Ready(None)) => return Poll::Ready(None),
                    Some(Poll::Pending) => return Poll::Pending,
                    Some(Poll::Ready(Some(done))) => done,
                },
            };
            self.held -= held;
            Poll::Ready(Some(reply))
        })
    }

    /// Counts one frame (or ping) against the rate limit; `false` if it is over it.
    fn within_rate(&mut self) -> bool {
        match self.limiter.as_mut().map_or(Verdict::Allow, RateGuard::check) {
            Verdict::Allow => true,
            Verdict::Refuse => false,
            Verdict::Throttle(until) => {
                self.throttled = Some(until);
                false
            }
        }
    }

    /// Whether a ping may be answered: pings count against the rate limit too.
    pub(super) fn allow_ping(&mut self) -> bool {
        self.within_rate()
    }

    /// If the client floods, when reading it may resume (asked once).
    pub(super) fn take_throttle(&mut self) -> Option<tokio::time::Instant> {
        self.throttled.take()
    }

    /// Starts handling one frame.
    pub(super) fn dispatch(&mut self, frame: Bytes) {
        let limit = self.shared.config.max_message_size;
        // Every frame counts against the rate limit, well-formed or not.
        let refusal = if !self.within_rate() {
            Some(CallError::new(ErrorCode::RateLimited, "Too many messages; slow down"))
        } else if frame.len() > limit {
            Some(CallError::new(
                ErrorCode::PayloadTooLarge,
                format!("Messages are limited to {limit} bytes"),
            ))
        } else {
            None
        };
        let codec = self.codec;
        let pending = match (codec.decode(&frame), refusal) {
            (Err(bad), refusal) => {
                let error = refusal.unwrap_or_else(|| CallError::new(ErrorCode::BadRequest, bad.message));
                refuse(codec, bad.rpc_id, None, None, error)
            }
            (Ok(msg), Some(error)) => {
                let known = self.shared.routes.get(&*msg.route).map(|route| &*route.metrics);
                refuse(codec, msg.rpc_id, Some(&msg.route), known, error)
            }
            (Ok(msg), None) => match self.shared.routes.get(&*msg.route) {
                None => refuse(codec, msg.rpc_id, Some(&msg.route), None, CallError::not_found()),
                Some(route) if !route.endpoint.reads_input && msg.payload.is_some() => {
                    let issue = Issue::new(Vec::<PathSegment>::new(), "This route takes no payload");
                    refuse(
                        codec,
                        msg.rpc_id,
                        Some(&msg.route),
                        Some(&route.metrics),
                        CallError::invalid_input(vec![issue]),
                    )
                }
                Some(route) => {
                    // The payload and the rpcId are slices of the frame: the call keeps its
                    // whole allocation alive, which is what counts. The payload stays in the
                    // client's codec until an extractor reads it.
                    let payload = msg.payload.map(|raw| frame.slice_ref(raw));
                    let rpc_id = msg.rpc_id.map(|raw| frame.slice_ref(raw));
                    let held = transport::footprint(frame.len());
                    self.held += held;
                    self.start(route, payload, rpc_id, held)
                }
            },
        };
        self.run(pending);
    }

    /// Polls a call once right away: one that does not wait (most) is done without being
    /// queued for polling; one that waits joins the calls in flight, which poll it again with
    /// the connection's waker.
    fn run(&mut self, mut pending: Pending) {
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(&mut pending).poll(&mut cx) {
            // The inline slot only while the queue is empty, so replies keep their order.
            Poll::Ready(done) if self.first_done.is_none() && self.done.is_empty() => self.first_done = Some(done),
            Poll::Ready(done) => self.done.push_back(done),
            Poll::Pending => self.calls.get_or_insert_with(FuturesUnordered::new).push(pending),
        }
    }

    fn start(&self, route: &Route<O, C, S>, payload: Option<Bytes>, rpc_id: Option<Bytes>, held: usize) -> Pending {
        let codec = self.codec;
        let call = Call {
            conn: self.conn.clone(),
            app: self.shared.app.clone(),
            route: route.name.clone(),
            payload,
            expects_reply: rpc_id.is_some(),
            codec,
            _out: PhantomData,
        };
        // In a cluster, a reply waits for the rooms its call opened (`pending.rs`).
        let node = self.shared.app.hub.node().filter(|_| rpc_id.is_some()).cloned();
        let start = Start {
            codec,
            rpc_id,
            route: route.name.clone(),
            counters: route.metrics.clone(),
            held,
            node,
        };
        Pending::run(start, || (route.endpoint.run)(call))
    }
}

/// A call refused before any handler ran; counted under its route if the router has it.
fn refuse(
    codec: Codec,
    rpc_id: Option<&[u8]>,
    route: Option<&str>,
    known: Option<&RouteMetrics>,
    error: CallError,
) -> Pending {
    metrics::call_failed(known, error.code());
    let frame = error_frame(codec, rpc_id, route, error);
    Pending::Refused(Some(frame))
}
