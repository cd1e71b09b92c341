//! [`Outbox`]: one client's bounded queue of frames waiting to be written.
//!
//! Senders push without waiting; the connection takes what is queued in batches. Nothing is
//! allocated while the queue is empty, and a push past the bound flags the client as too slow
//! instead of growing the queue. The bound is in frames and in bytes, so a client that stops
//! reading large messages cannot pin more memory than a client that stops reading small ones;
//! what the connection has taken to write is bounded too ([`TAKE_BYTES`] per batch).
//!
//! With session resume on, the queue is also a replay log: every frame gets the next sequence
//! number as it is pushed and stays after it was taken (taking moves a cursor), up to the
//! session's byte budget, oldest first out; while the session is parked (no socket), pushes
//! land in the log, and one that would need more than the budget loses the session.
//!
//! Without a log, a queue may follow the hub's [feed](super::feed): a broadcast appended there
//! once puts only a marker in the queue, and taking the marker reads the feed's entries. A
//! queue whose last entry is a marker still open is not touched by the next broadcasts at all
//! (see [`Outbox::notify_feed`]).
//!
//! Without a log, over plain TCP and without permessage-deflate, a push into an empty queue
//! while the connection's task is not writing is written to the socket at once, by the pusher,
//! under the queue's lock ([`transport::direct`](crate::transport::direct)): a broadcast then
//! costs one send per recipient and no wake of the recipient's task. Whatever the socket does
//! not take at once is queued (the rest of a frame first), and the task writes it as before.

use super::feed::{Feed, Read};
use super::{Outbound, cork, pacing};
use crate::cluster::MessageId;
use crate::transport::direct::{self, Sent, Target};
use crate::transport::frame;
use bytes::Bytes;
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;
use zocket_protocol::Codec;

/// What became of one push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued.
    Queued,
    /// The queue was full: the client is flagged as too slow.
    Full,
    /// The connection is gone.
    Closed,
    /// Queued without a wake, held back by this thread's cork: the pusher hands the queue to
    /// [`cork::keep`], which writes it when the cork is dropped.
    Corked,
}

/// What the connection found in its outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    /// Frames were moved into the batch.
    Frames,
    /// Frames were moved into the batch, a backlog of at least [`BACKLOG`] (queued or read
    /// from the feed), and nothing more waits: fan-outs come faster than this connection is
    /// served. It may linger before taking again, so that its next take carries more per
    /// `send` (`Config::broadcast_linger`). A take that stops at its bounds with more waiting
    /// is [`Frames`](Self::Frames): the connection takes again at once, so lingering never
    /// leaves it further behind; so is one that read more than a quarter of what its queue
    /// holds or the feed keeps ([`leaves_room`]), so a lingering client never comes near
    /// being closed as too slow, whatever the linger.
    Backlog,
    /// The queue overflowed: the client must be closed as too slow.
    Overflowed,
    /// The server is shutting down: the client must be closed.
    ShutDown,
    /// A resuming connection took the session over: this connection must let go.
    Handover,
}

impl Taken {
    /// Whether frames were moved into the batch.
    pub(crate) fn has_frames(self) -> bool {
        matches!(self, Self::Frames | Self::Backlog)
    }
}

/// Frames queued or read from the feed in one take, at least, for the connection to linger
/// ([`Taken::Backlog`]).
pub(crate) const BACKLOG: usize = 8;

/// Whether a connection that just read `read` (frames, bytes) from a queue or the feed, whose
/// bound is `bound` (frames, bytes), may wait for as many more before it reads again (it
/// lingers: [`Taken::Backlog`]): they fill at most a quarter of the bound, so a lingering client
/// stays far from being closed as too slow or losing entries, and one that reads more each time
/// stops lingering.
fn leaves_room(read: (usize, usize), bound: (usize, usize)) -> bool {
    read.0 <= bound.0 / 4 && read.1 <= bound.1 / 4
}

/// Bytes moved into one batch at most (but always at least one frame): frames being written
/// have left the queue, so this bounds what a stalled write holds on top of it.
pub(crate) const TAKE_BYTES: usize = 256 * 1024;

/// Slots a queue keeps once the connection finds it empty (more are freed after a burst).
const KEPT_FRAMES: usize = 8;

/// Slots the connection's batch keeps once it finds its queue empty.
const KEPT_BATCH: usize = 4;

#[derive(Debug, Default)]
struct State {
    /// Without a log, the frames waiting; with one, the log: frames already taken first.
    frames: VecDeque<Bytes>,
    /// Bytes of the frames waiting to be taken.
    bytes: usize,
    overflowed: bool,
    shut_down: bool,
    closed: bool,
    /// The connection's task is writing (or wrote, and has not looked at its queue since): a
    /// sender must queue, not write.
    busy: bool,
    /// `frames[0]` is the rest of a frame a sender began writing directly: already framed,
    /// and due before anything else the connection writes.
    unfinished: bool,
    /// The data frames' opcode, once senders may write directly (0 before): the socket is
    /// plain TCP and nothing is compressed for it alone, so frames read from the feed are
    /// also framed here, as they are taken (see [`Outbox::take`]).
    opcode: u8,
    /// The connection's socket, while senders may write to it directly (see `direct`).
    direct: Option<Target>,
    /// When the socket was last written to (directly or by the connection), with direct
    /// writes on: see `pacing::gap`.
    written_at: Option<Instant>,
    /// Boxed: a connection without resume pays one pointer for it.
    log: Option<Box<Log>>,
    /// Where this queue reads the hub's feed, if it follows it (never with a log).
    follow: Option<Box<Follow>>,
}

/// A queue's place in the hub's feed.
#[derive(Debug)]
struct Follow {
    feed: Arc<Feed>,
    codec: Codec,
    /// The next entry to read.
    cursor: u64,
    /// Where each closed marker in the queue ends, in order. The open marker, if any, is the
    /// last entry of the queue and has no end yet.
    ends: VecDeque<u64>,
}

/// The marker's bytes: it is told from a frame by its address.
static MARKER: &[u8] = b"feed";

fn marker() -> Bytes {
    Bytes::from_static(MARKER)
}

fn is_marker(frame: &Bytes) -> bool {
    std::ptr::eq(frame.as_ptr(), MARKER.as_ptr()) && frame.len() == MARKER.len()
}

/// Frees the memory of a burst's batch once the connection found nothing more to take (and
/// has nothing else in it: replies gather there too).
fn release(batch: &mut Vec<Outbound>) {
    if batch.is_empty() && batch.capacity() > KEPT_BATCH {
        *batch = Vec::new();
    }
}

/// What [`Outbox::take`] does when the queue (without a log) has nothing to take.
fn found_empty(state: &mut State, batch: &mut Vec<Outbound>) -> Option<Taken> {
    if std::mem::take(&mut state.busy) {
        // The connection wrote, and found nothing more: senders may write again.
        state.written_at = Some(Instant::now());
    }
    // A burst is over: give its memory back (while it lasts, the queue and the batch keep
    // theirs from one take to the next instead of growing again each time).
    if state.frames.capacity() > KEPT_FRAMES {
        state.frames = VecDeque::new();
    }
    release(batch);
    None
}

/// The replay log's bookkeeping (resume on).
#[derive(Debug)]
struct Log {
    /// The sequence number of `frames[0]` (of the next frame pushed when empty).
    first: u64,
    /// The sequence number of the next frame to take: those before it went to a socket.
    cursor: u64,
    /// Frames before this one are a replay for a resumed connection: bounded by the budget,
    /// they do not count against the queue's own limits (so a long replay does not make the
    /// next live frame overflow the queue).
    replay_end: u64,
    /// Bytes of every frame kept.
    kept: usize,
    /// The most bytes kept (frames are trimmed oldest first past it).
    budget: usize,
    /// The codec of the frames, which says how their sequence number is written.
    codec: Codec,
    /// No socket takes from the log: the session waits for its client to resume.
    parked: bool,
    /// While parked, more was pushed than the budget keeps: the session cannot resume.
    lost: bool,
    /// A resuming connection takes the session over: the current one must let go.
    taken_over: bool,
    /// The parked session's timer, woken when the log is lost (its own waker: the outbox's
    /// belongs to whichever connection takes from it).
    watcher: AtomicWaker,
    /// The id of each frame kept (beside `frames`, the same length): what a handover to
    /// another node compares (`cluster/handover.rs`).
    ids: VecDeque<MessageId>,
}

/// A log's frames from some sequence number on, with their ids, for another node.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    /// The frames after the client's `__seq`, oldest first, with their ids.
    pub(crate) frames: Vec<(MessageId, Bytes)>,
    /// The ids of the frames still kept up to `__seq` (already sent).
    pub(crate) older: Vec<MessageId>,
    /// The old node's next message id as the client left it: its messages with a smaller id
    /// reached the client there (in `frames`, `older`, or trimmed before). `NONE`: unknown.
    pub(crate) before: MessageId,
}

impl Log {
    /// The sequence number the next push gets.
    fn next(&self, frames: &VecDeque<Bytes>) -> u64 {
        self.first + frames.len() as u64
    }
}

/// A bounded, lazily allocated frame queue with one consumer.
#[derive(Debug)]
pub(crate) struct Outbox {
    state: Mutex<State>,
    /// The last entry of the queue is an open marker: broadcasts appended to the feed reach
    /// this client without touching its queue. Written under the lock only; read without.
    feed_open: AtomicBool,
    waker: AtomicWaker,
    capacity: usize,
    capacity_bytes: usize,
}

impl Outbox {
    /// A queue of at most `capacity` frames and `capacity_bytes` bytes (a single larger frame
    /// is still taken into an empty queue, so any message can reach a client that reads).
    pub(crate) fn new(capacity: usize, capacity_bytes: usize) -> Self {
        Self::with_log(capacity, capacity_bytes, None)
    }

    /// A queue that is also a replay log of `budget` bytes, if given with the frames' codec
    /// (see the module's documentation).
    pub(crate) fn with_log(capacity: usize, capacity_bytes: usize, log: Option<(usize, Codec)>) -> Self {
        let log = log.map(|(budget, codec)| {
            Box::new(Log {
                first: 1,
                cursor: 1,
                replay_end: 1,
                kept: 0,
                budget,
                codec,
                parked: false,
                lost: false,
                taken_over: false,
                watcher: AtomicWaker::new(),
                ids: VecDeque::new(),
            })
        });
        Self {
            state: Mutex::new(State {
                log,
                ..State::default()
            }),
            feed_open: AtomicBool::new(false),
            waker: AtomicWaker::new(),
            capacity,
            capacity_bytes,
        }
    }

    /// Follows `feed` from its head on, taking its frames for `codec`; `false` (and nothing
    /// changes) for a queue with a replay log, whose frames must each be numbered, or one
    /// closed.
    pub(crate) fn follow_feed(&self, feed: &Arc<Feed>, codec: Codec) -> bool {
        let mut state = self.state.lock();
        if state.log.is_some() || state.closed {
            return false;
        }
        if state.follow.is_some() {
            // Already following (its markers keep their meaning).
            return true;
        }
        let cursor = feed.head();
        state.follow = Some(Box::new(Follow {
            feed: feed.clone(),
            codec,
            cursor,
            ends: VecDeque::new(),
        }));
        true
    }

    /// Tells a queue that follows the feed that a broadcast for it was appended there; `None`
    /// if it does not follow the feed (the frame must be pushed).
    ///
    /// Costs one load while the queue ends with an open marker: whoever closes the marker (the
    /// connection taking it, or a push after it) reads the feed's head after closing it, and
    /// the sender appended before it looked, both sequentially consistent, so either the
    /// closer sees the entry or the sender sees the marker closed and queues another.
    pub(crate) fn notify_feed(&self) -> Option<Pushed> {
        if self.feed_open.load(Ordering::SeqCst) {
            return Some(Pushed::Queued);
        }
        let mut state = self.state.lock();
        if state.closed {
            return Some(Pushed::Closed);
        }
        state.follow.as_ref()?;
        if self.feed_open.load(Ordering::SeqCst) {
            return Some(Pushed::Queued);
        }
        let was_empty = state.frames.is_empty();
        if !was_empty && state.frames.len() >= self.capacity {
            return Some(self.overflow(state));
        }
        state.frames.push_back(marker());
        self.feed_open.store(true, Ordering::SeqCst);
        drop(state);
        if was_empty {
            self.waker.wake();
        }
        Some(Pushed::Queued)
    }

    /// Closes the open marker, if any: it ends at the feed's head now.
    fn close_marker(&self, state: &mut State) {
        if self.feed_open.load(Ordering::Relaxed) {
            self.feed_open.store(false, Ordering::SeqCst);
            if let Some(follow) = state.follow.as_mut() {
                let end = follow.feed.head();
                follow.ends.push_back(end);
            }
        }
    }

    /// Queues `frame` without waiting. It counts at its length: frames are encoded into
    /// buffers of their own size, never slices of a larger allocation.
    pub(crate) fn push(&self, frame: &Bytes, id: MessageId) -> Pushed {
        self.push_before(frame, id, None)
    }

    /// [`push`](Self::push), in a loop whose next push goes to `next`: `next`'s lock is
    /// prefetched, so its cache line arrives while this push writes to the socket instead of
    /// stalling the next push (a fan-out's one cache miss per recipient, 3% of the server's
    /// CPU in `broadcast`). A plain read would not do: the `send` waits for it.
    pub(crate) fn push_before(&self, frame: &Bytes, id: MessageId, next: Option<&Self>) -> Pushed {
        let mut state = self.state.lock();
        if let Some(next) = next {
            next.prefetch();
        }
        if state.closed {
            return Pushed::Closed;
        }
        if state.log.is_some() {
            return self.push_logged(state, frame, id);
        }
        let size = frame.len();
        let was_empty = state.frames.is_empty();
        if !was_empty && (state.frames.len() >= self.capacity || state.bytes + size > self.capacity_bytes) {
            return self.overflow(state);
        }
        let allowed = (was_empty && !state.busy && state.direct.is_some())
            .then(pacing::allowed_now)
            .flatten();
        if let Some(now) = allowed {
            let idle = state
                .written_at
                .is_none_or(|at| now.duration_since(at) >= pacing::gap());
            if idle && cork::held() {
                // The cork writes it, with whatever else this turn queues here.
                state.bytes += size;
                state.frames.push_back(frame.clone());
                return Pushed::Corked;
            }
            if let Some(target) = state.direct.as_ref().filter(|_| idle) {
                let sent = direct::send_frame(target, state.opcode, frame);
                state.written_at = Some(now);
                pacing::spent(now, Instant::now());
                match sent {
                    Sent::All => return Pushed::Queued,
                    Sent::Part(rest) => {
                        // The rest goes first; the frame is as good as queued.
                        state.bytes += rest.len();
                        state.frames.push_back(rest);
                        state.unfinished = true;
                        drop(state);
                        self.waker.wake();
                        return Pushed::Queued;
                    }
                    Sent::Nothing => {}
                }
            }
        }
        pacing::queued(!was_empty);
        // Broadcasts appended to the feed before this frame go before it.
        self.close_marker(&mut state);
        state.bytes += size;
        state.frames.push_back(frame.clone());
        drop(state);
        // The consumer re-checks the queue after every batch, so only the first frame of a
        // run needs to wake it.
        if was_empty {
            self.waker.wake();
        }
        Pushed::Queued
    }

    /// Writes the frames a cork held back here (`cork.rs`), and any queued behind them, in one
    /// `send` if the socket is still free for senders; whatever it does not take, or all of it
    /// if the connection's task holds the socket by now, that task is woken to write.
    pub(crate) fn uncork(&self) {
        let mut state = self.state.lock();
        if state.frames.is_empty() {
            return;
        }
        let plain = !state.busy && !state.unfinished && !state.closed && state.log.is_none();
        let allowed = (plain && !state.frames.iter().any(is_marker))
            .then(pacing::allowed_now)
            .flatten();
        if let (Some(now), Some(target)) = (allowed, state.direct.as_ref()) {
            let (whole, rest) = direct::send_frames(target, state.opcode, state.frames.iter());
            pacing::spent(now, Instant::now());
            state.written_at = Some(now);
            let sent: usize = state.frames.drain(..whole).map(|frame| frame.len()).sum();
            state.bytes -= sent;
            if let Some(rest) = rest {
                // The rest of the next frame goes first.
                let begun = state.frames.pop_front().map_or(0, |frame| frame.len());
                state.bytes = state.bytes - begun + rest.len();
                state.frames.push_front(rest);
                state.unfinished = true;
            }
            if state.frames.is_empty() {
                return;
            }
        }
        drop(state);
        self.waker.wake();
    }

    /// Starts fetching this queue's lock into the cache, for a write (a hint: where the CPU has
    /// no such instruction, nothing).
    fn prefetch(&self) {
        #[cfg(target_arch = "x86_64")]
        safe_arch::prefetch_et0(&self.state);
    }

    /// A push that does not fit: the queue is marked overflowed (its consumer closes the
    /// connection); the first time, it is counted and the consumer woken, outside the lock.
    fn overflow(&self, mut guard: parking_lot::MutexGuard<'_, State>) -> Pushed {
        let first = !std::mem::replace(&mut guard.overflowed, true);
        drop(guard);
        if first {
            crate::metrics::queue_overflow();
            self.waker.wake();
        }
        Pushed::Full
    }

    /// [`push`](Self::push) into the replay log: the frame gets the next sequence number.
    fn push_logged(&self, mut guard: parking_lot::MutexGuard<'_, State>, frame: &Bytes, id: MessageId) -> Pushed {
        let state = &mut *guard;
        let Some(log) = state.log.as_mut() else {
            return Pushed::Closed;
        };
        if log.lost {
            // The session is ending.
            return Pushed::Closed;
        }
        let size = frame.len();
        let waiting = log.next(&state.frames) - log.cursor.max(log.replay_end);
        if !log.parked && waiting > 0 && (waiting >= self.capacity as u64 || state.bytes + size > self.capacity_bytes) {
            return self.overflow(guard);
        }
        state.frames.push_back(frame.clone());
        log.ids.push_back(id);
        state.bytes += size;
        log.kept += size;
        trim(&mut state.frames, &mut state.bytes, log);
        if log.lost {
            // The parked session's timer ends it.
            log.watcher.wake();
        }
        let wake = !log.parked && waiting == 0;
        drop(guard);
        if wake {
            self.waker.wake();
        }
        Pushed::Queued
    }

    /// Moves up to `max` queued frames into `batch` (and [`TAKE_BYTES`] at most), without
    /// waiting; `None` if none (and then a burst's batch and queue give their memory back).
    /// Broadcasts read from the feed and framed together count as one frame.
    pub(crate) fn take(&self, batch: &mut Vec<Outbound>, max: usize) -> Option<Taken> {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        if state.shut_down {
            return Some(Taken::ShutDown);
        }
        if state.overflowed {
            return Some(Taken::Overflowed);
        }
        if let Some(log) = state.log.as_mut() {
            // Closed under it: the session ended elsewhere (a resumer gave up waiting for this
            // connection to let go); nothing more is this connection's to write.
            if log.taken_over || state.closed {
                return Some(Taken::Handover);
            }
            if log.cursor == log.next(&state.frames) {
                release(batch);
                return None;
            }
            let (mut taken, mut queued) = (0, 0);
            for _ in 0..max {
                let Some(frame) = state.frames.get((log.cursor - log.first) as usize) else {
                    break;
                };
                taken += frame.len();
                if log.cursor >= log.replay_end {
                    queued += frame.len();
                }
                batch.push(Outbound::sequenced(frame.clone(), log.codec, log.cursor));
                log.cursor += 1;
                if taken >= TAKE_BYTES {
                    break;
                }
            }
            state.bytes -= queued;
            // Frames taken may now leave the log if it is over its budget.
            trim(&mut state.frames, &mut state.bytes, log);
            if state.frames.capacity() > 64 && state.frames.len() < state.frames.capacity() / 4 {
                // A burst of small frames is over: give most of its slots back.
                let len = state.frames.len();
                state.frames.shrink_to(len * 2);
            }
            return Some(Taken::Frames);
        }
        // The rest of a frame begun directly stays for `begin_write`, which puts it first.
        let rest = if state.unfinished {
            state.frames.pop_front()
        } else {
            None
        };
        if state.frames.is_empty() && rest.is_none() {
            return found_empty(state, batch);
        }
        state.busy = true;
        batch.reserve(max.min(state.frames.len()));
        // Bytes (and frames) moved into the batch, bytes (and frames) of queued frames among
        // them, and frames (and bytes) read from the feed.
        let (mut taken, mut count, mut queued, mut queued_count) = (0, 0, 0, 0);
        let (mut fed, mut fed_bytes) = (0, 0);
        while count < max && taken < TAKE_BYTES {
            let Some(front) = state.frames.front() else { break };
            if !is_marker(front) {
                let frame = state.frames.pop_front().expect("a front");
                taken += frame.len();
                queued += frame.len();
                queued_count += 1;
                count += 1;
                batch.push(Outbound::plain(frame));
                continue;
            }
            if state.follow.as_ref().is_some_and(|follow| follow.ends.is_empty()) {
                // The open marker (always the last entry): it ends here.
                self.close_marker(state);
            }
            // Markers are only queued by `notify_feed`, which needs `follow`, and are closed
            // before they are read.
            let Some(follow) = state.follow.as_mut() else {
                state.frames.pop_front();
                continue;
            };
            let Some(&end) = follow.ends.front() else {
                state.frames.pop_front();
                continue;
            };
            let me = std::ptr::from_ref(self) as usize;
            // Where the connection's frames need no work of their own (`opcode`), the
            // broadcasts read here are framed and copied into one buffer, written as it is:
            // a count taken and given back on each shared frame, by every reader on every
            // core, cost more than copying its bytes (`BENCHMARKS.md`).
            let opcode = state.opcode;
            let mut wire = Vec::new();
            let ahead = usize::try_from(end - follow.cursor).unwrap_or(usize::MAX);
            let read = follow.feed.read(follow.codec, me, follow.cursor, end, |frame| {
                if taken >= TAKE_BYTES {
                    return false;
                }
                if opcode == 0 {
                    if count >= max {
                        return false;
                    }
                    batch.push(Outbound::plain(frame.clone()));
                    count += 1;
                } else {
                    if wire.capacity() == 0 {
                        // The buffer is one message of the batch, bounded in bytes only.
                        if count >= max {
                            return false;
                        }
                        count += 1;
                        // Room for as many more of this size as may be read, not past the
                        // bound on a batch: a broadcast's frames are alike in size.
                        let each = frame::MAX_HEADER + frame.len();
                        wire.reserve(ahead.saturating_mul(each).min(TAKE_BYTES - taken + each));
                    }
                    frame::append(&mut wire, opcode, frame);
                }
                taken += frame.len();
                fed += 1;
                fed_bytes += frame.len();
                true
            });
            if !wire.is_empty() {
                batch.push(Outbound::framed(Bytes::from(wire)));
            }
            match read {
                Read::Lost => {
                    // It fell further behind the feed than the feed keeps: too slow, as a
                    // full queue would have said.
                    state.bytes -= queued;
                    state.overflowed = true;
                    drop(guard);
                    crate::metrics::queue_overflow();
                    return Some(Taken::Overflowed);
                }
                Read::To(at) => {
                    follow.cursor = at;
                    if at < end {
                        break;
                    }
                    follow.ends.pop_front();
                    state.frames.pop_front();
                }
            }
        }
        state.bytes -= queued;
        if let Some(rest) = rest {
            state.frames.push_front(rest);
        } else if count == 0 && state.frames.is_empty() {
            // Only markers with nothing left to read: as if the queue had been empty.
            return found_empty(state, batch);
        }
        // A backlog: frames queued or read from the feed while the connection was busy.
        let backlog = queued_count + fed >= BACKLOG && state.frames.is_empty();
        let room = || {
            leaves_room((queued_count, queued), (self.capacity, self.capacity_bytes))
                && (fed == 0
                    || state
                        .follow
                        .as_ref()
                        .is_some_and(|follow| leaves_room((fed, fed_bytes), follow.feed.bounds())))
        };
        if backlog && room() {
            return Some(Taken::Backlog);
        }
        Some(Taken::Frames)
    }

    /// Whether frames wait to be taken (or the rest of a frame begun directly to be written).
    pub(crate) fn has_waiting(&self) -> bool {
        let state = self.state.lock();
        match state.log.as_ref() {
            Some(log) => !state.closed && log.cursor < log.next(&state.frames),
            None => !state.frames.is_empty(),
        }
    }

    /// Lets senders write to `target` directly (frames of `opcode`) while the queue is empty
    /// and the connection is not writing. Not with a replay log, whose frames are numbered as
    /// they are taken.
    pub(crate) fn write_directly(&self, target: Target, opcode: u8) {
        let mut state = self.state.lock();
        if state.log.is_none() && !state.closed {
            state.direct = Some(target);
            state.opcode = opcode;
        }
    }

    /// Whether senders write to the socket directly (see [`write_directly`](Self::write_directly)).
    pub(crate) fn is_direct(&self) -> bool {
        self.state.lock().direct.is_some()
    }

    /// The connection is about to write: senders queue until it next finds its queue empty
    /// ([`take`](Self::take)). Returns what must be written before anything else: the rest of
    /// a frame a sender began.
    pub(crate) fn begin_write(&self) -> Option<Bytes> {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        state.busy = true;
        if !std::mem::take(&mut state.unfinished) {
            return None;
        }
        let rest = state.frames.pop_front()?;
        state.bytes -= rest.len();
        Some(rest)
    }

    /// Senders stop writing directly for good (the connection is closing), and let go of the
    /// socket. Returns the rest of a frame a sender began, to be written before the close.
    pub(crate) fn stop_direct(&self) -> Option<Bytes> {
        let rest = self.begin_write();
        self.state.lock().direct = None;
        rest
    }

    /// Waits until frames are queued (moving up to `max` into `batch`) or the queue overflowed.
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>, batch: &mut Vec<Outbound>, max: usize) -> Poll<Taken> {
        // Registered before looking, so a push after the look wakes this task. Registering the
        // same task again is cheap.
        self.waker.register(cx.waker());
        match self.take(batch, max) {
            Some(taken) => Poll::Ready(taken),
            None => Poll::Pending,
        }
    }

    /// Tells the connection the server is shutting down. Each connection hears it from its own
    /// outbox, so no lock is shared by all of them on every turn of their loops.
    pub(crate) fn shut_down(&self) {
        self.state.lock().shut_down = true;
        self.waker.wake();
    }

    /// Refuses every later push and drops what is queued.
    pub(crate) fn close(&self) {
        let mut state = self.state.lock();
        state.closed = true;
        self.feed_open.store(false, Ordering::SeqCst);
        if let Some(follow) = state.follow.as_mut() {
            follow.ends = VecDeque::new();
        }
        state.direct = None;
        state.unfinished = false;
        state.frames = VecDeque::new();
        state.bytes = 0;
        if let Some(log) = state.log.as_mut() {
            log.kept = 0;
            log.ids = VecDeque::new();
        }
    }

    /// With a log: no socket takes from it any more; pushes keep landing in it within its
    /// budget. `false` if what waits already exceeds the budget (the session cannot resume).
    pub(crate) fn park(&self) -> bool {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        let Some(log) = state.log.as_mut() else {
            return false;
        };
        log.parked = true;
        log.taken_over = false;
        trim(&mut state.frames, &mut state.bytes, log);
        !log.lost && !state.closed && !state.overflowed
    }

    /// Asks the connection taking from the log to let go (a resuming connection takes over).
    pub(crate) fn take_over(&self) {
        if let Some(log) = self.state.lock().log.as_mut() {
            log.taken_over = true;
        }
        self.waker.wake();
    }

    /// With a log, for a connection that received every frame up to `seen`: the next take
    /// starts after it. `false` (nothing changed) if the log cannot replay from there: frames
    /// after `seen` were trimmed or lost, or `seen` is past what was ever taken.
    pub(crate) fn resume_after(&self, seen: u64) -> bool {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        let Some(log) = state.log.as_mut() else {
            return false;
        };
        let replayable = seen
            .checked_add(1)
            .is_some_and(|from| log.first <= from && from <= log.cursor);
        if log.lost || state.closed || state.overflowed || !replayable {
            return false;
        }
        log.cursor = seen + 1;
        log.parked = false;
        log.taken_over = false;
        // What waits now is the replay: the queue's limits count frames pushed from here on.
        log.replay_end = log.next(&state.frames);
        state.bytes = 0;
        true
    }

    /// With a log: whether it can replay every frame after `seen` (see
    /// [`resume_after`](Self::resume_after)), without changing anything.
    pub(crate) fn can_resume_after(&self, seen: u64) -> bool {
        let state = self.state.lock();
        let Some(log) = state.log.as_ref() else {
            return false;
        };
        let replayable = seen
            .checked_add(1)
            .is_some_and(|from| log.first <= from && from <= log.cursor);
        !log.lost && !state.closed && !state.overflowed && replayable
    }

    /// With a log that can replay after `seen`: its frames (with their ids) for the node the
    /// session moves to; then the outbox is closed. `None` if it cannot replay.
    pub(crate) fn hand_over(&self, seen: u64) -> Option<Snapshot> {
        if !self.can_resume_after(seen) {
            self.close();
            return None;
        }
        let snapshot = {
            let state = self.state.lock();
            let log = state.log.as_ref()?;
            let split = (seen + 1 - log.first) as usize;
            let mut snapshot = Snapshot::default();
            for (i, (id, frame)) in log.ids.iter().zip(&state.frames).enumerate() {
                if i < split {
                    snapshot.older.push(*id);
                } else {
                    snapshot.frames.push((*id, frame.clone()));
                }
            }
            snapshot
        };
        self.close();
        Some(snapshot)
    }

    /// With a parked log that held what was pushed while a session moved here from another
    /// node: puts `from`'s frames first (numbered from `seen + 1`), then those held here whose
    /// id is not among `from`'s, as if all were sent, so that
    /// [`resume_after(seen)`](Self::resume_after) replays them. `false` (and the log is lost)
    /// if they exceed the budget or the log already lost frames.
    pub(crate) fn adopt(&self, seen: u64, from: Snapshot) -> bool {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        let Some(log) = state.log.as_mut() else {
            return false;
        };
        if log.lost || state.closed || state.overflowed || seen == u64::MAX {
            return false;
        }
        let mut known: std::collections::HashSet<MessageId> = (from.frames.iter().map(|(id, _)| *id))
            .chain(from.older.iter().copied())
            .collect();
        known.remove(&MessageId::NONE);
        let before = from.before;
        let known =
            |id: &MessageId| known.contains(id) || (!before.is_none() && id.node == before.node && id.n < before.n);
        let held_frames = std::mem::take(&mut state.frames);
        let held_ids = std::mem::take(&mut log.ids);
        let (mut frames, mut ids) = (VecDeque::new(), VecDeque::new());
        for (id, frame) in from.frames {
            ids.push_back(id);
            frames.push_back(frame);
        }
        for (id, frame) in held_ids.into_iter().zip(held_frames) {
            if !known(&id) {
                ids.push_back(id);
                frames.push_back(frame);
            }
        }
        let kept: usize = frames.iter().map(Bytes::len).sum();
        if kept > log.budget {
            log.lost = true;
            log.kept = 0;
            state.bytes = 0;
            log.watcher.wake();
            return false;
        }
        log.first = seen + 1;
        log.cursor = log.first + frames.len() as u64;
        log.replay_end = log.cursor;
        log.kept = kept;
        log.ids = ids;
        state.frames = frames;
        state.bytes = 0;
        true
    }

    /// Waits until a parked session's log lost frames (more was sent than its budget keeps).
    pub(crate) fn poll_lost(&self, cx: &mut Context<'_>) -> Poll<()> {
        match self.state.lock().log.as_ref() {
            Some(log) if !log.lost => {
                // Registered under the lock, so a push that loses the log wakes it.
                log.watcher.register(cx.waker());
                Poll::Pending
            }
            _ => Poll::Ready(()),
        }
    }
}

/// Drops the oldest frames while the log holds more than its budget: frames already taken
/// freely; a frame never taken only while parked, and that loses the session (everything is
/// dropped then: a replay with a gap is never made). While connected, frames waiting are
/// bounded by the queue's own limits instead.
fn trim(frames: &mut VecDeque<Bytes>, bytes: &mut usize, log: &mut Log) {
    while log.kept > log.budget {
        if log.first >= log.cursor {
            if log.parked {
                log.lost = true;
                log.first += frames.len() as u64;
                log.cursor = log.first;
                log.kept = 0;
                *bytes = 0;
                *frames = VecDeque::new();
                log.ids = VecDeque::new();
            }
            return;
        }
        let Some(frame) = frames.pop_front() else { return };
        log.ids.pop_front();
        log.kept -= frame.len();
        log.first += 1;
    }
}

#[cfg(test)]
mod tests;
