//! A large fan-out written directly by two threads at once.
//!
//! Writing each recipient's frame to its socket from the sending thread (`outbox.rs`) is the
//! cheapest delivery, but a fan-out to 1000 clients from one thread makes the last recipient
//! wait for 1000 `send`s in a row (`BENCHMARKS.md`: twice the p99 latency of queueing). So the
//! sender hands half of the recipients to a thread of tokio's blocking pool, writes to the
//! other half itself, then either takes the half back (the helper has not begun it) or waits
//! for the helper to finish it. Either way every recipient has the frame, written or queued,
//! before the send returns, as with one thread: what one sender sends stays in order.
//!
//! Only when the server keeps up: a large fan-out that starts within [`INTERVAL`] of the last
//! one queues every frame instead, and the recipients' connections batch what queues (one
//! `send` for many frames, where direct writes make one each). Under a load the server cannot
//! keep up with, fan-outs follow each other without a pause, so they all queue.

use super::{Delivery, Message, Recipient, pacing};
use crate::cluster::MessageId;
use parking_lot::Mutex;
use std::ops::Range;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// Fan-outs to more recipients than this are split (smaller ones are written by the sender
/// alone, `pacing.rs`).
pub(crate) const LEAST: usize = pacing::MAX_DIRECT;

/// A large fan-out that starts sooner than this after the last one queues instead.
const INTERVAL: Duration = Duration::from_millis(2);

/// When the last large fan-out began, in microseconds since [`EPOCH`] plus [`INTERVAL`] (so
/// that 0 means never).
static LAST: AtomicU64 = AtomicU64::new(0);
static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Whether a large fan-out starting now is split and written directly: not if another began
/// less than [`INTERVAL`] ago (it counts as the last one either way).
pub(crate) fn due() -> bool {
    let interval = INTERVAL.as_micros() as u64;
    let now = EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64 + interval;
    let last = LAST.swap(now, Ordering::Relaxed);
    now.saturating_sub(last) >= interval
}

/// Helpers handed a share and not yet finished with it, at most [`MOST_HELPERS`]: beyond, the
/// sender delivers the whole fan-out itself (so tokio's blocking pool, whose queue has no
/// bound, holds at most this many of ours).
static HELPERS: AtomicUsize = AtomicUsize::new(0);
const MOST_HELPERS: usize = 2;

/// The helper's share has not been begun.
const WAITING: u8 = 0;
/// Someone (the helper or the sender) delivers the share.
const TAKEN: u8 = 1;
/// The helper delivered the share.
const DONE: u8 = 2;

/// The recipients of a share: `all[range]` but those whose queue's address is in `excepted`,
/// each sent the frame of its codec (none: not sent). `all` is shared, not copied: a copy of
/// its half cost the sender a cache miss per recipient (`Registry::everyone`).
#[derive(Debug)]
pub(super) struct Recipients {
    pub(super) all: Arc<[Recipient]>,
    pub(super) range: Range<usize>,
    pub(super) excepted: Vec<usize>,
    pub(super) frames: [Option<Message>; 2],
}

/// The share of a fan-out handed to a helper.
#[derive(Debug)]
pub(super) struct Share {
    state: AtomicU8,
    recipients: Recipients,
    delivery: Mutex<Delivery>,
    id: MessageId,
    /// The whole fan-out's size (for `pacing::gap`).
    size: usize,
    sender: Thread,
}

impl Share {
    /// Hands `recipients` (each with its frame) to a helper, when there is a runtime to take
    /// one from; [`finish`](Self::finish) must follow.
    pub(super) fn start(recipients: Recipients, id: MessageId, size: usize) -> Arc<Share> {
        let share = Arc::new(Share {
            state: AtomicU8::new(WAITING),
            recipients,
            delivery: Mutex::new(Delivery::default()),
            id,
            size,
            sender: std::thread::current(),
        });
        // (Not a `let` chain: the crate's rust-version predates them.)
        let helper = tokio::runtime::Handle::try_current()
            .ok()
            .and_then(|runtime| Some((runtime, Helper::new()?)));
        if let Some((runtime, counted)) = helper {
            let helper = share.clone();
            runtime.spawn_blocking(move || {
                let _counted = counted;
                if helper.take() {
                    // Done even if a push panics: the sender must not wait for ever.
                    let _done = Done(&helper);
                    helper.deliver();
                }
            });
        }
        share
    }

    fn take(&self) -> bool {
        self.state
            .compare_exchange(WAITING, TAKEN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    fn deliver(&self) {
        let _fan_out = pacing::FanOut::share(self.size);
        let Recipients {
            all,
            range,
            excepted,
            frames,
        } = &self.recipients;
        let mut delivery = Delivery::default();
        Recipient::push_each(
            all[range.clone()]
                .iter()
                .filter(|recipient| !excepted.contains(&recipient.address())),
            |codec| frames[codec.index()].as_ref(),
            self.id,
            &mut delivery,
        );
        *self.delivery.lock() = delivery;
    }

    /// Delivers the share on this thread if the helper has not begun it, or waits until the
    /// helper is done (it only makes non-blocking sends and pushes); adds its counts to
    /// `delivery`.
    pub(super) fn finish(&self, delivery: &mut Delivery) {
        if self.take() {
            self.deliver();
        } else {
            while self.state.load(Ordering::Acquire) != DONE {
                pacing::waiting();
                std::thread::park();
            }
        }
        let share = *self.delivery.lock();
        delivery.delivered += share.delivered;
        delivery.dropped += share.dropped;
    }
}

/// One of the [`HELPERS`], counted until dropped.
struct Helper;

impl Helper {
    fn new() -> Option<Self> {
        if HELPERS.fetch_add(1, Ordering::AcqRel) < MOST_HELPERS {
            Some(Helper)
        } else {
            HELPERS.fetch_sub(1, Ordering::AcqRel);
            None
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        HELPERS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Marks a share the helper took as delivered, and wakes the sender, when dropped.
struct Done<'a>(&'a Share);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.state.store(DONE, Ordering::Release);
        self.0.sender.unpark();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::{Outbound, Outbox, Taken};
    use crate::transport::Pieces;
    use zocket_protocol::Codec;

    fn frames(outbox: &Outbox) -> Vec<Vec<u8>> {
        let mut batch: Vec<Outbound> = Vec::new();
        while outbox.take(&mut batch, 64).is_some_and(Taken::has_frames) {}
        batch.iter().map(|frame| frame.pieces().concat()).collect()
    }

    fn recipients(n: usize, frame: &Message) -> (Vec<Arc<Outbox>>, Recipients) {
        let outboxes: Vec<_> = (0..n).map(|_| Arc::new(Outbox::new(64, 1 << 20))).collect();
        let all = outboxes
            .iter()
            .map(|outbox| Recipient {
                outbox: outbox.clone(),
                codec: Codec::Json,
            })
            .collect();
        let share = Recipients {
            all,
            range: 0..n,
            excepted: Vec::new(),
            frames: [Some(frame.clone()), None],
        };
        (outboxes, share)
    }

    #[test]
    fn a_share_is_its_range_but_the_excepted() {
        let frame = Message::from_static(b"hello");
        let (outboxes, mut share) = recipients(10, &frame);
        share.range = 2..8;
        share.excepted = vec![Arc::as_ptr(&outboxes[4]) as usize];
        let share = Share::start(share, MessageId::NONE, 10);
        let mut delivery = Delivery::default();
        share.finish(&mut delivery);
        assert_eq!(delivery.delivered, 5);
        for (at, outbox) in outboxes.iter().enumerate() {
            let expected = if (2..8).contains(&at) && at != 4 {
                vec![b"hello".to_vec()]
            } else {
                vec![]
            };
            assert_eq!(frames(outbox), expected, "recipient {at}");
        }
    }

    #[test]
    fn a_recipient_whose_codec_has_no_frame_is_skipped() {
        let frame = Message::from_static(b"hello");
        let (outboxes, mut share) = recipients(2, &frame);
        share.frames = [None, Some(frame)];
        let share = Share::start(share, MessageId::NONE, 2);
        let mut delivery = Delivery::default();
        share.finish(&mut delivery);
        assert_eq!(delivery.delivered, 0);
        assert!(outboxes.iter().all(|outbox| frames(outbox).is_empty()));
    }

    #[test]
    fn without_a_runtime_the_sender_delivers_the_share_itself() {
        let frame = Message::from_static(b"hello");
        let (outboxes, share) = recipients(10, &frame);
        let share = Share::start(share, MessageId::NONE, 20);
        let mut delivery = Delivery {
            delivered: 10,
            dropped: 0,
        };
        share.finish(&mut delivery);
        assert_eq!(delivery.delivered, 20);
        for outbox in &outboxes {
            assert_eq!(frames(outbox), [b"hello".to_vec()]);
        }
    }

    #[test]
    fn every_share_is_delivered_once_whoever_takes_it() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut senders = Vec::new();
            for s in 0..4u8 {
                senders.push(tokio::spawn(async move {
                    let mut all = Vec::new();
                    for n in 0..50u8 {
                        let frame = Message::from(vec![s, n]);
                        let (outboxes, share) = recipients(20, &frame);
                        let share = Share::start(share, MessageId::NONE, 20);
                        let mut delivery = Delivery::default();
                        share.finish(&mut delivery);
                        assert_eq!(delivery.delivered, 20);
                        all.push((frame, outboxes));
                        if n % 5 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                    for (frame, outboxes) in all {
                        for outbox in outboxes {
                            assert_eq!(frames(&outbox), [frame.to_vec()]);
                        }
                    }
                }));
            }
            for sender in senders {
                sender.await.unwrap();
            }
        });
    }

    #[test]
    fn a_fan_out_right_after_another_queues() {
        // The first large fan-out in a while is due; one right after it is not.
        std::thread::sleep(INTERVAL);
        assert!(due());
        assert!(!due());
        std::thread::sleep(INTERVAL);
        assert!(due());
    }
}
