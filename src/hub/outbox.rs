//! [`Outbox`]: one client's bounded queue of frames waiting to be written.
//!
//! Senders push without waiting; the connection takes what is queued in batches. Nothing is
//! allocated while the queue is empty, and a push past the bound flags the client as too slow
//! instead of growing the queue.

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

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Bytes>,
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
}

impl Outbox {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            waker: AtomicWaker::new(),
            capacity,
        }
    }

    /// Queues `frame` without waiting.
    pub(crate) fn push(&self, frame: &Bytes) -> Pushed {
        let mut state = self.state.lock();
        if state.closed {
            return Pushed::Closed;
        }
        if state.frames.len() >= self.capacity {
            let first = !state.overflowed;
            state.overflowed = true;
            drop(state);
            if first {
                self.waker.wake();
            }
            return Pushed::Full;
        }
        let was_empty = state.frames.is_empty();
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
        let count = state.frames.len().min(max);
        batch.extend(state.frames.drain(..count));
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_batched_and_closable() {
        let outbox = Outbox::new(3);
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

    #[tokio::test]
    async fn a_push_wakes_the_waiting_consumer() {
        let outbox = std::sync::Arc::new(Outbox::new(8));
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
