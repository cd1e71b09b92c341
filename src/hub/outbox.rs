//! [`Outbox`]: one client's bounded queue of frames waiting to be written.
//!
//! Senders push without waiting; the connection takes what is queued in batches. Nothing is
//! allocated while the queue is empty, and a push past the bound flags the client as too slow
//! instead of growing the queue. The bound is in frames and in bytes, so a client that stops
//! reading large messages cannot pin more memory than a client that stops reading small ones;
//! what the connection has taken to write is bounded too ([`TAKE_BYTES`] per batch).

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::task::{Context, Poll};

/// What became of one push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued.
    Queued,
    /// The queue was full: the client is flagged as too slow.
    Full,
    /// The connection is gone.
    Closed,
}

/// What the connection found in its outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    /// Frames were moved into the batch.
    Frames,
    /// The queue overflowed: the client must be closed as too slow.
    Overflowed,
    /// The server is shutting down: the client must be closed.
    ShutDown,
}

/// Bytes moved into one batch at most (but always at least one frame): frames being written
/// have left the queue, so this bounds what a stalled write holds on top of it.
pub(crate) const TAKE_BYTES: usize = 256 * 1024;

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Bytes>,
    /// Bytes of `frames`.
    bytes: usize,
    overflowed: bool,
    shut_down: bool,
    closed: bool,
}

/// A bounded, lazily allocated frame queue with one consumer.
#[derive(Debug)]
pub(crate) struct Outbox {
    state: Mutex<State>,
    waker: AtomicWaker,
    capacity: usize,
    capacity_bytes: usize,
}

impl Outbox {
    /// A queue of at most `capacity` frames and `capacity_bytes` bytes (a single larger frame
    /// is still taken into an empty queue, so any message can reach a client that reads).
    pub(crate) fn new(capacity: usize, capacity_bytes: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            waker: AtomicWaker::new(),
            capacity,
            capacity_bytes,
        }
    }

    /// Queues `frame` without waiting. It counts at its length: frames are encoded into
    /// buffers of their own size, never slices of a larger allocation.
    pub(crate) fn push(&self, frame: &Bytes) -> Pushed {
        let mut state = self.state.lock();
        if state.closed {
            return Pushed::Closed;
        }
        let size = frame.len();
        let was_empty = state.frames.is_empty();
        if !was_empty && (state.frames.len() >= self.capacity || state.bytes + size > self.capacity_bytes) {
            let first = !state.overflowed;
            state.overflowed = true;
            drop(state);
            if first {
                crate::metrics::queue_overflow();
                self.waker.wake();
            }
            return Pushed::Full;
        }
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

    /// Moves up to `max` queued frames into `batch`, without waiting; `None` if none.
    pub(crate) fn take(&self, batch: &mut Vec<Bytes>, max: usize) -> Option<Taken> {
        let mut state = self.state.lock();
        if state.shut_down {
            return Some(Taken::ShutDown);
        }
        if state.overflowed {
            return Some(Taken::Overflowed);
        }
        if state.frames.is_empty() {
            return None;
        }
        let mut taken = 0;
        for _ in 0..max {
            let Some(frame) = state.frames.pop_front() else { break };
            taken += frame.len();
            batch.push(frame);
            if taken >= TAKE_BYTES {
                break;
            }
        }
        state.bytes -= taken;
        if state.frames.is_empty() && state.frames.capacity() > 8 {
            // A burst is over: give its memory back.
            state.frames = VecDeque::new();
        }
        Some(Taken::Frames)
    }

    /// Waits until frames are queued (moving up to `max` into `batch`) or the queue overflowed.
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>, batch: &mut Vec<Bytes>, max: usize) -> Poll<Taken> {
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
        state.frames = VecDeque::new();
        state.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_batched_and_closable() {
        let outbox = Outbox::new(3, 1 << 20);
        let frame = Bytes::from_static(b"f");
        let mut batch = Vec::new();
        assert_eq!(outbox.take(&mut batch, 10), None);
        for _ in 0..3 {
            assert_eq!(outbox.push(&frame), Pushed::Queued);
        }
        assert_eq!(outbox.take(&mut batch, 2), Some(Taken::Frames));
        assert_eq!(batch.len(), 2);
        assert_eq!(outbox.push(&frame), Pushed::Queued);
        assert_eq!(outbox.push(&frame), Pushed::Queued);
        assert_eq!(outbox.push(&frame), Pushed::Full);
        assert_eq!(outbox.take(&mut batch, 10), Some(Taken::Overflowed));
        outbox.shut_down();
        assert_eq!(outbox.take(&mut batch, 10), Some(Taken::ShutDown));
        outbox.close();
        assert_eq!(outbox.push(&frame), Pushed::Closed);
    }

    #[test]
    fn bounded_in_bytes_too() {
        let outbox = Outbox::new(1000, 3000);
        let kib = Bytes::from(vec![0u8; 1024]);
        let mut batch = Vec::new();
        assert_eq!(outbox.push(&kib), Pushed::Queued);
        assert_eq!(outbox.push(&kib), Pushed::Queued);
        assert_eq!(outbox.push(&kib), Pushed::Full, "3 KiB do not fit in 3000 bytes");
        assert_eq!(outbox.take(&mut batch, 10), Some(Taken::Overflowed));

        let outbox = Outbox::new(1000, 3000);
        let big = Bytes::from(vec![0u8; 10_000]);
        assert_eq!(
            outbox.push(&big),
            Pushed::Queued,
            "an empty queue takes one large frame"
        );
        assert_eq!(outbox.push(&kib), Pushed::Full);

        let outbox = Outbox::new(1000, 10 * TAKE_BYTES);
        let quarter = Bytes::from(vec![0u8; TAKE_BYTES / 4]);
        for _ in 0..8 {
            assert_eq!(outbox.push(&quarter), Pushed::Queued);
        }
        assert_eq!(outbox.take(&mut batch, 64), Some(Taken::Frames));
        assert_eq!(batch.len(), 4, "one batch holds at most TAKE_BYTES");
        batch.clear();
        assert_eq!(outbox.take(&mut batch, 64), Some(Taken::Frames));
        assert_eq!(batch.len(), 4);
        assert_eq!(outbox.state.lock().bytes, 0, "taken bytes leave the count");
    }

    #[tokio::test]
    async fn a_push_wakes_the_waiting_consumer() {
        let outbox = std::sync::Arc::new(Outbox::new(8, 1 << 20));
        let consumer = outbox.clone();
        let waiting = tokio::spawn(async move {
            let mut batch = Vec::new();
            let taken = std::future::poll_fn(|cx| consumer.poll_take(cx, &mut batch, 8)).await;
            (taken, batch.len())
        });
        tokio::task::yield_now().await;
        outbox.push(&Bytes::from_static(b"x"));
        assert_eq!(waiting.await.unwrap(), (Taken::Frames, 1));
    }
}
