//! [`Outbox`]: one client's bounded queue of frames waiting to be written, and the lock that
//! orders every write to its socket.
//!
//! Senders push without waiting; the connection takes what is queued in batches. Nothing is
//! allocated while the queue is empty, and a push past the bound flags the client as too slow
//! instead of growing the queue.
//!
//! When the connection is a plain TCP stream, a sender that finds the queue empty and the
//! session not writing writes the frame to the socket itself, without blocking: a broadcast to
//! idle clients then costs one non-blocking write per recipient, with no task woken. Whatever
//! the socket does not take at once is queued for the session, which writes it when the socket
//! can take more. Writes never interleave: senders write only under the lock, with nothing
//! queued and no session write under way.

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::net::TcpStream;

/// What became of one push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Written or queued.
    Queued,
    /// The queue was full: the client is flagged as too slow.
    Full,
    /// The connection is gone.
    Closed,
}

/// What the connection found in its outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    /// Frames (maybe none) were moved into the batch, and the session now writes.
    Frames,
    /// The queue overflowed: the client must be closed as too slow.
    Overflowed,
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<Bytes>,
    overflowed: bool,
    closed: bool,
    /// The session is writing: senders queue instead of writing.
    writing: bool,
    /// The socket, when senders may write to it directly.
    direct: Option<Arc<TcpStream>>,
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

    /// Lets senders write to `tcp` directly when nothing is queued.
    pub(crate) fn attach(&self, tcp: Arc<TcpStream>) {
        self.state.lock().direct = Some(tcp);
    }

    /// Writes `frame` to the socket or queues it, without waiting.
    pub(crate) fn push(&self, frame: &Bytes) -> Pushed {
        let mut state = self.state.lock();
        if state.closed {
            return Pushed::Closed;
        }
        if state.frames.is_empty() && !state.writing {
            if let Some(tcp) = &state.direct {
                let rest = match tcp.try_write(frame) {
                    Ok(written) if written == frame.len() => return Pushed::Queued,
                    Ok(written) => frame.slice(written..),
                    // Full (or failing): the session writes it, or finds out why it cannot.
                    Err(_) => frame.clone(),
                };
                state.frames.push_back(rest);
                drop(state);
                self.waker.wake();
                return Pushed::Queued;
            }
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

    /// The session starts a write: senders queue from now until [`end_write`](Self::end_write).
    /// Moves up to `max` queued frames (the oldest first) into `batch`.
    pub(crate) fn begin_write(&self, batch: &mut Vec<Bytes>, max: usize) -> Taken {
        let mut state = self.state.lock();
        state.writing = true;
        Self::take_into(&mut state, batch, max)
    }

    /// Moves up to `max` more queued frames into `batch`, during a write.
    pub(crate) fn take_more(&self, batch: &mut Vec<Bytes>, max: usize) -> Taken {
        Self::take_into(&mut self.state.lock(), batch, max)
    }

    /// The session's write is done; senders may write directly again once the queue is empty.
    pub(crate) fn end_write(&self) {
        self.state.lock().writing = false;
    }

    fn take_into(state: &mut State, batch: &mut Vec<Bytes>, max: usize) -> Taken {
        if state.overflowed {
            return Taken::Overflowed;
        }
        let count = state.frames.len().min(max);
        batch.extend(state.frames.drain(..count));
        if state.frames.is_empty() && state.frames.capacity() > 8 {
            // A burst is over: give its memory back.
            state.frames = VecDeque::new();
        }
        Taken::Frames
    }

    /// Waits until frames are queued or the queue overflowed. With frames, begins a write
    /// (see [`begin_write`](Self::begin_write)) and moves up to `max` of them into `batch`.
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>, batch: &mut Vec<Bytes>, max: usize) -> Poll<Taken> {
        // Registered before looking, so a push after the look wakes this task. Registering the
        // same task again is cheap.
        self.waker.register(cx.waker());
        let mut state = self.state.lock();
        if !state.overflowed && state.frames.is_empty() {
            return Poll::Pending;
        }
        state.writing = true;
        Poll::Ready(Self::take_into(&mut state, batch, max))
    }

    /// Refuses every later push; returns what was still queued, oldest first.
    pub(crate) fn close(&self) -> VecDeque<Bytes> {
        let mut state = self.state.lock();
        state.closed = true;
        state.direct = None;
        std::mem::take(&mut state.frames)
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
        for _ in 0..3 {
            assert_eq!(outbox.push(&frame), Pushed::Queued);
        }
        assert_eq!(outbox.begin_write(&mut batch, 2), Taken::Frames);
        assert_eq!(batch.len(), 2);
        outbox.end_write();
        assert_eq!(outbox.push(&frame), Pushed::Queued);
        assert_eq!(outbox.push(&frame), Pushed::Queued);
        assert_eq!(outbox.push(&frame), Pushed::Full);
        assert_eq!(outbox.take_more(&mut batch, 10), Taken::Overflowed);
        assert_eq!(outbox.close().len(), 3);
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

#[cfg(test)]
mod direct {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    async fn pair() -> (Arc<TcpStream>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (Arc::new(server), client)
    }

    #[tokio::test]
    async fn senders_write_directly_unless_the_session_writes_or_frames_wait() {
        let (server, mut client) = pair().await;
        let outbox = Outbox::new(8);
        outbox.attach(server);
        assert_eq!(outbox.push(&Bytes::from_static(b"ab")), Pushed::Queued);
        let mut got = [0; 2];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ab", "written straight to the socket");

        let mut batch = Vec::new();
        assert_eq!(outbox.begin_write(&mut batch, 8), Taken::Frames);
        assert!(batch.is_empty());
        outbox.push(&Bytes::from_static(b"cd"));
        outbox.end_write();
        outbox.push(&Bytes::from_static(b"ef"));
        assert_eq!(outbox.begin_write(&mut batch, 8), Taken::Frames);
        assert_eq!(
            batch,
            [Bytes::from_static(b"cd"), Bytes::from_static(b"ef")],
            "queued in order behind the write"
        );
    }

    #[tokio::test]
    async fn what_the_socket_cannot_take_is_queued_whole_or_in_part() {
        let (server, _client) = pair().await;
        let outbox = Outbox::new(1 << 20);
        outbox.attach(server);
        let big = Bytes::from(vec![7; 1 << 20]);
        let mut pushes = 0;
        // Nobody reads: the socket's buffers fill and the rest waits in the queue.
        while outbox.state.lock().frames.is_empty() {
            outbox.push(&big);
            pushes += 1;
            assert!(pushes < 1000, "a socket buffer is not that large");
        }
        let queued: usize = outbox.state.lock().frames.iter().map(Bytes::len).sum();
        assert!(queued > 0 && queued <= big.len());
        outbox.push(&big);
        assert_eq!(outbox.state.lock().frames.len(), 2, "later frames queue behind");
    }
}
