//! [`Feed`]: one queue shared by every recipient of a broadcast, instead of a copy of the
//! frame pushed into each recipient's [`Outbox`](super::Outbox).
//!
//! A broadcast to many clients while the server is busy (when it queues rather than writes
//! directly, `pacing.rs`) costs a push per recipient: a lock, a slot and a reference count in
//! each client's queue, on memory the client's connection last touched on another core. Under
//! load that was most of a delivery's cost (`BENCHMARKS.md`). So such a broadcast is appended
//! here once, and each recipient's queue only needs to say "read the feed here": a marker. A
//! queue whose last entry already is a marker still open (see `Outbox::notify_feed`) is not
//! touched at all: the connection reads every entry up to the feed's head when it takes the
//! marker, so a busy client costs the broadcast one load of a flag.
//!
//! Entries are broadcasts to every client of the node, but those an entry names as excepted:
//! every client following the feed since before an entry is told of it (an excepted one too,
//! so that its place moves past the entry), and a client's place in the feed is all it needs.
//! The feed is bounded like one client's queue (the same frames and bytes): a client that
//! falls further behind than that finds its entries gone and is closed as too slow, as a full
//! queue would close it.

use super::Message;
use bytes::Bytes;
use parking_lot::RwLock;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use zocket_protocol::Codec;

/// One broadcast: its frame for each codec its recipients speak.
#[derive(Debug)]
struct Entry {
    frames: [Option<Message>; 2],
    /// The addresses of the excepted clients' queues (a queue registered later, even at a
    /// freed one's address, starts reading after this entry).
    except: Box<[usize]>,
    bytes: usize,
}

#[derive(Debug)]
struct Ring {
    /// The sequence number of `entries[0]`.
    first: u64,
    entries: VecDeque<Entry>,
    /// Bytes of every entry kept.
    bytes: usize,
}

/// The broadcasts of one hub, oldest first, bounded.
#[derive(Debug)]
pub(crate) struct Feed {
    ring: RwLock<Ring>,
    /// The sequence number of the next entry (0 before the first).
    head: AtomicU64,
    capacity: usize,
    capacity_bytes: usize,
}

/// What a follower found when reading the feed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// Read up to here (the end asked for, or where a limit stopped it).
    To(u64),
    /// Entries it had not read were dropped: it fell too far behind.
    Lost,
}

impl Feed {
    /// A feed of at most `capacity` entries and `capacity_bytes` bytes (but always the latest
    /// entry).
    pub(crate) fn new(capacity: usize, capacity_bytes: usize) -> Self {
        Self {
            ring: RwLock::new(Ring {
                first: 0,
                entries: VecDeque::new(),
                bytes: 0,
            }),
            head: AtomicU64::new(0),
            capacity: capacity.max(1),
            capacity_bytes,
        }
    }

    /// The sequence number the next entry gets: a client that starts following now reads
    /// from here.
    ///
    /// Sequentially consistent, as is the store in [`append`](Self::append): together with
    /// the follower's flag (`Outbox::follow_feed`), either a sender sees that a follower's
    /// marker was closed and pushes another, or the follower sees the sender's entry.
    pub(crate) fn head(&self) -> u64 {
        self.head.load(Ordering::SeqCst)
    }

    /// The most entries, and bytes, the feed keeps.
    pub(crate) fn bounds(&self) -> (usize, usize) {
        (self.capacity, self.capacity_bytes)
    }

    /// Appends one broadcast (`frames` by codec index), not for the queues at the addresses in
    /// `except`; returns its sequence number.
    pub(crate) fn append(&self, frames: [Option<Message>; 2], except: Box<[usize]>) -> u64 {
        let bytes = frames.iter().flatten().map(Bytes::len).sum();
        let mut ring = self.ring.write();
        ring.entries.push_back(Entry { frames, except, bytes });
        ring.bytes += bytes;
        while ring.entries.len() > 1 && (ring.entries.len() > self.capacity || ring.bytes > self.capacity_bytes) {
            let old = ring.entries.pop_front().expect("more than one entry");
            ring.bytes -= old.bytes;
            ring.first += 1;
        }
        let seq = ring.first + ring.entries.len() as u64 - 1;
        self.head.store(seq + 1, Ordering::SeqCst);
        seq
    }

    /// Calls `each` with the frame for `codec` of the entries from `from` up to `to` that do
    /// not except the queue at address `me`, until it returns `false` (a limit was reached;
    /// that entry was not taken).
    pub(crate) fn read(
        &self,
        codec: Codec,
        me: usize,
        from: u64,
        to: u64,
        mut each: impl FnMut(&Message) -> bool,
    ) -> Read {
        let ring = self.ring.read();
        if from < ring.first {
            return Read::Lost;
        }
        let mut at = from;
        while at < to {
            let Some(entry) = ring.entries.get((at - ring.first) as usize) else {
                break;
            };
            if let Some(frame) = entry.frames[codec.index()]
                .as_ref()
                .filter(|_| !entry.except.contains(&me))
            {
                if !each(frame) {
                    break;
                }
            }
            at += 1;
        }
        Read::To(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(feed: &Feed, from: u64, to: u64) -> (Read, Vec<Message>) {
        let mut frames = Vec::new();
        let read = feed.read(Codec::Json, 0, from, to, |frame| {
            frames.push(frame.clone());
            true
        });
        (read, frames)
    }

    fn json(text: &'static str) -> [Option<Message>; 2] {
        [Some(Message::from_static(text.as_bytes())), None]
    }

    #[test]
    fn entries_are_numbered_and_read_in_order() {
        let feed = Feed::new(8, 1024);
        assert_eq!(feed.head(), 0);
        assert_eq!(feed.append(json("a"), Box::default()), 0);
        assert_eq!(feed.append(json("b"), Box::default()), 1);
        assert_eq!(feed.head(), 2);
        let (read, frames) = read_all(&feed, 0, 2);
        assert_eq!(read, Read::To(2));
        assert_eq!(frames, [Message::from_static(b"a"), Message::from_static(b"b")]);
        let (read, frames) = read_all(&feed, 1, 5);
        assert_eq!((read, frames.len()), (Read::To(2), 1), "stops at the head");
    }

    #[test]
    fn a_reader_stops_where_its_limit_says() {
        let feed = Feed::new(8, 1024);
        for text in ["a", "b", "c"] {
            feed.append(json(text), Box::default());
        }
        let mut taken = 0;
        let read = feed.read(Codec::Json, 0, 0, 3, |_| {
            taken += 1;
            taken <= 2
        });
        assert_eq!(read, Read::To(2), "the third was refused, so not read");
    }

    #[test]
    fn entries_without_the_readers_codec_are_passed_over() {
        let feed = Feed::new(8, 1024);
        feed.append([None, Some(Message::from_static(b"m"))], Box::default());
        feed.append(json("j"), Box::default());
        let (read, frames) = read_all(&feed, 0, 2);
        assert_eq!((read, frames), (Read::To(2), vec![Message::from_static(b"j")]));
    }

    #[test]
    fn bounded_in_entries_and_bytes_and_a_reader_left_behind_hears_it() {
        let feed = Feed::new(2, 1024);
        for text in ["a", "b", "c"] {
            feed.append(json(text), Box::default());
        }
        assert_eq!(read_all(&feed, 0, 3).0, Read::Lost);
        assert_eq!(read_all(&feed, 1, 3).1.len(), 2);

        let feed = Feed::new(8, 10);
        feed.append(json("123456"), Box::default());
        feed.append(json("7890ab"), Box::default());
        assert_eq!(read_all(&feed, 0, 2).0, Read::Lost, "12 bytes do not fit in 10");
        feed.append(json("a very long frame, more than the bound"), Box::default());
        assert_eq!(read_all(&feed, 2, 3).1.len(), 1, "the latest entry is always kept");
    }

    #[test]
    fn an_excepted_reader_passes_over_its_entry() {
        let feed = Feed::new(8, 1024);
        feed.append(json("for all"), Box::default());
        feed.append(json("not for 7"), Box::new([7]));
        let mut seen = Vec::new();
        let read = feed.read(Codec::Json, 7, 0, 2, |frame| {
            seen.push(frame.clone());
            true
        });
        assert_eq!((read, seen), (Read::To(2), vec![Message::from_static(b"for all")]));
        assert_eq!(read_all(&feed, 0, 2).1.len(), 2, "another reader gets both");
    }
}
