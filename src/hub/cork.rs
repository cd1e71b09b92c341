//! Corking: the direct writes of one read's messages go out together, one `send` per client.
//!
//! A client that sends several messages in one read (a busy sender: two shouts to its room
//! close together) has them all handled in one turn of its connection (`connection/session.rs`).
//! Uncorked, the first message's fan-out writes to each recipient directly (`outbox.rs`), and
//! the second, finding each recipient written to within [`pacing::gap`](super::pacing::gap),
//! queues its frame and wakes the recipient's connection: a wake and a turn of another task per
//! recipient on top of the `send`. In `rooms` (`BENCHMARKS.md`) that is what a run that falls
//! behind pays more of, which puts it further behind.
//!
//! While a [`Cork`] is held on a thread, a push that would write directly queues its frame
//! without a wake instead, and the cork keeps the queue; the turn's later frames for that client
//! queue behind it (a queue already holding frames is never written directly). When the cork is
//! dropped, each kept queue is written in one `send` of all its frames, or, if its socket is
//! taken by then, its connection is woken to write them (uWS corks the same way, per turn of its
//! loop). A cork is held only while the turn runs: frames wait for the rest of that read's
//! messages to be handled, no longer.

use super::Outbox;
use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::sync::Arc;

/// Queues a thread's idle cork keeps room for (8 bytes each); a turn that held back more
/// frees its vector when it ends.
const KEEP: usize = 1024;

thread_local! {
    /// A cork is held on this thread.
    static HELD: Cell<bool> = const { Cell::new(false) };
    /// The queues it holds frames in.
    static KEPT: RefCell<Vec<Arc<Outbox>>> = const { RefCell::new(Vec::new()) };
}

/// Held while one read's messages are handled; dropping it writes what it held back. Not
/// `Send`: it must not be held across an `.await` (the frames would wait for whatever that
/// waits for).
#[derive(Debug)]
pub(crate) struct Cork {
    /// Whether this is the thread's outermost cork (an inner one leaves the writing to it).
    outer: bool,
    _not_send: PhantomData<*const ()>,
}

impl Cork {
    pub(crate) fn new() -> Self {
        Self {
            outer: !HELD.replace(true),
            _not_send: PhantomData,
        }
    }
}

impl Drop for Cork {
    fn drop(&mut self) {
        if !self.outer {
            return;
        }
        HELD.set(false);
        let kept = KEPT.take();
        for outbox in &kept {
            outbox.uncork();
        }
        // The vector's memory is kept for the next cork, unless a large turn grew it.
        if kept.capacity() <= KEEP {
            let mut kept = kept;
            kept.clear();
            KEPT.set(kept);
        }
    }
}

/// Whether a cork is held on this thread: a direct write is to be held back.
pub(crate) fn held() -> bool {
    HELD.get()
}

/// `outbox` holds frames held back by this thread's cork (see [`Pushed::Corked`](super::Pushed)).
pub(crate) fn keep(outbox: &Arc<Outbox>) {
    KEPT.with_borrow_mut(|kept| kept.push(outbox.clone()));
}
