use super::*;

#[test]
fn a_burst_keeps_its_memory_until_the_queue_is_found_empty() {
    let outbox = Outbox::new(1000, 1 << 20);
    let frame = Bytes::from_static(b"f");
    for _ in 0..100 {
        outbox.push(&frame, MessageId::NONE);
    }
    let mut batch = Vec::new();
    assert_eq!(outbox.take(&mut batch, 64), Some(Taken::Frames));
    assert_eq!(batch.len(), 64);
    batch.clear();
    for _ in 0..10 {
        outbox.push(&frame, MessageId::NONE);
    }
    // The last of a backlog: the connection may linger.
    assert_eq!(outbox.take(&mut batch, 64), Some(Taken::Backlog));
    assert_eq!(batch.len(), 46);
    assert!(batch.capacity() >= 64, "the batch is kept while the burst lasts");
    assert!(outbox.state.lock().frames.capacity() >= 100, "and so is the queue");
    batch.truncate(5);
    assert_eq!(outbox.take(&mut batch, 64), None);
    assert_eq!(batch.len(), 5, "what else the batch holds stays");
    batch.clear();
    assert_eq!(outbox.take(&mut batch, 64), None);
    assert_eq!(batch.capacity(), 0, "found empty: the batch's memory goes");
    assert_eq!(outbox.state.lock().frames.capacity(), 0, "and the queue's");
}

#[test]
fn bounded_batched_and_closable() {
    let outbox = Outbox::new(3, 1 << 20);
    let frame = Bytes::from_static(b"f");
    let mut batch = Vec::new();
    assert_eq!(outbox.take(&mut batch, 10), None);
    for _ in 0..3 {
        assert_eq!(outbox.push(&frame, MessageId::NONE), Pushed::Queued);
    }
    assert_eq!(outbox.take(&mut batch, 2), Some(Taken::Frames));
    assert_eq!(batch.len(), 2);
    assert_eq!(outbox.push(&frame, MessageId::NONE), Pushed::Queued);
    assert_eq!(outbox.push(&frame, MessageId::NONE), Pushed::Queued);
    assert_eq!(outbox.push(&frame, MessageId::NONE), Pushed::Full);
    assert_eq!(outbox.take(&mut batch, 10), Some(Taken::Overflowed));
    outbox.shut_down();
    assert_eq!(outbox.take(&mut batch, 10), Some(Taken::ShutDown));
    outbox.close();
    assert_eq!(outbox.push(&frame, MessageId::NONE), Pushed::Closed);
}

#[test]
fn bounded_in_bytes_too() {
    let outbox = Outbox::new(1000, 3000);
    let kib = Bytes::from(vec![0u8; 1024]);
    let mut batch = Vec::new();
    assert_eq!(outbox.push(&kib, MessageId::NONE), Pushed::Queued);
    assert_eq!(outbox.push(&kib, MessageId::NONE), Pushed::Queued);
    assert_eq!(
        outbox.push(&kib, MessageId::NONE),
        Pushed::Full,
        "3 KiB do not fit in 3000 bytes"
    );
    assert_eq!(outbox.take(&mut batch, 10), Some(Taken::Overflowed));

    let outbox = Outbox::new(1000, 3000);
    let big = Bytes::from(vec![0u8; 10_000]);
    assert_eq!(
        outbox.push(&big, MessageId::NONE),
        Pushed::Queued,
        "an empty queue takes one large frame"
    );
    assert_eq!(outbox.push(&kib, MessageId::NONE), Pushed::Full);

    let outbox = Outbox::new(1000, 10 * TAKE_BYTES);
    let quarter = Bytes::from(vec![0u8; TAKE_BYTES / 4]);
    for _ in 0..8 {
        assert_eq!(outbox.push(&quarter, MessageId::NONE), Pushed::Queued);
    }
    assert_eq!(outbox.take(&mut batch, 64), Some(Taken::Frames));
    assert_eq!(batch.len(), 4, "one batch holds at most TAKE_BYTES");
    batch.clear();
    assert_eq!(outbox.take(&mut batch, 64), Some(Taken::Frames));
    assert_eq!(batch.len(), 4);
    assert_eq!(outbox.state.lock().bytes, 0, "taken bytes leave the count");
}

/// The sequence numbers and bytes in a batch, as a socket would write them.
fn written(batch: &mut Vec<Outbound>) -> Vec<(u64, String)> {
    use crate::transport::Pieces;
    batch
        .drain(..)
        .map(|out| {
            let value: serde_json::Value = serde_json::from_slice(&out.pieces().concat()).unwrap();
            (
                value["seq"].as_u64().unwrap(),
                value["payload"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn event(text: &str) -> Bytes {
    let mut out = Vec::new();
    zocket_protocol::json::write_event(&mut out, "e", text).unwrap();
    Bytes::from(out)
}

#[test]
fn resume_log_numbers_keeps_and_replays() {
    let log = Outbox::with_log(100, 1 << 20, Some((1 << 20, Codec::Json)));
    let mut batch = Vec::new();
    for text in ["a", "b", "c"] {
        assert_eq!(log.push(&event(text), MessageId::NONE), Pushed::Queued);
    }
    assert_eq!(log.take(&mut batch, 2), Some(Taken::Frames));
    assert_eq!(written(&mut batch), [(1, "a".into()), (2, "b".into())]);
    assert_eq!(log.take(&mut batch, 8), Some(Taken::Frames));
    assert_eq!(written(&mut batch), [(3, "c".into())]);
    assert_eq!(log.take(&mut batch, 8), None);
    // The connection drops; the client had seen only 1.
    assert!(log.park());
    assert_eq!(
        log.push(&event("d"), MessageId::NONE),
        Pushed::Queued,
        "a parked session keeps receiving"
    );
    assert!(!log.resume_after(4), "4 was never sent");
    assert!(log.resume_after(1));
    assert_eq!(log.take(&mut batch, 8), Some(Taken::Frames));
    let seqs: Vec<u64> = written(&mut batch).into_iter().map(|(seq, _)| seq).collect();
    assert_eq!(seqs, [2, 3, 4], "everything after 1, once, in order");
    assert!(
        log.resume_after(0),
        "nothing was trimmed: a replay from the start is possible"
    );
    log.take_over();
    assert_eq!(log.take(&mut batch, 8), Some(Taken::Handover));
}

#[test]
fn a_log_closed_under_its_connection_tells_it_to_let_go() {
    let log = Outbox::with_log(100, 1 << 20, Some((1 << 20, Codec::Json)));
    let mut batch = Vec::new();
    for text in ["a", "b"] {
        log.push(&event(text), MessageId::NONE);
    }
    assert_eq!(log.take(&mut batch, 1), Some(Taken::Frames));
    batch.clear();
    // The session ended elsewhere while this connection was stuck in a write: it must
    // stop, not find "frames" that are gone on every turn of its loop.
    log.close();
    assert_eq!(log.take(&mut batch, 8), Some(Taken::Handover));
    assert!(batch.is_empty());
    assert_eq!(log.push(&event("c"), MessageId::NONE), Pushed::Closed);
}

#[test]
fn resume_log_keeps_its_budget() {
    let frame = event("x");
    let size = frame.len();
    // Room for three frames.
    let log = Outbox::with_log(100, 1 << 20, Some((3 * size, Codec::Json)));
    let mut batch = Vec::new();
    for _ in 0..5 {
        assert_eq!(log.push(&frame, MessageId::NONE), Pushed::Queued);
        log.take(&mut batch, 8);
    }
    batch.clear();
    assert_eq!(
        log.state.lock().frames.len(),
        3,
        "taken frames past the budget are trimmed"
    );
    assert!(!log.resume_after(1), "frames 2 is gone: no partial replay");
    assert!(log.resume_after(2));
    log.take(&mut batch, 8);
    batch.clear();
    assert!(log.park());
    for _ in 0..3 {
        assert_eq!(log.push(&frame, MessageId::NONE), Pushed::Queued);
    }
    assert!(
        !log.resume_after(4),
        "frames taken before the drop were trimmed for newer ones"
    );
    assert!(log.resume_after(5), "a client that saw everything taken resumes");
    log.take(&mut batch, 8);
    let seqs: Vec<u64> = written(&mut batch).into_iter().map(|(seq, _)| seq).collect();
    assert_eq!(seqs, [6, 7, 8]);
    // Three frames more than the budget while parked: the session is lost.
    let log = Outbox::with_log(100, 1 << 20, Some((3 * size, Codec::Json)));
    assert!(log.park());
    for _ in 0..3 {
        assert_eq!(log.push(&frame, MessageId::NONE), Pushed::Queued);
    }
    let waiter = futures_util::task::noop_waker();
    let mut cx = Context::from_waker(&waiter);
    assert!(log.poll_lost(&mut cx).is_pending());
    assert_eq!(log.push(&frame, MessageId::NONE), Pushed::Queued);
    assert!(log.poll_lost(&mut cx).is_ready());
    assert_eq!(log.push(&frame, MessageId::NONE), Pushed::Closed);
    assert!(!log.resume_after(0), "a lost log never replays");
    assert_eq!(log.state.lock().frames.len(), 0, "and holds nothing");
}

#[test]
fn a_long_replay_does_not_overflow_the_queue() {
    let log = Outbox::with_log(4, 1 << 20, Some((1 << 20, Codec::Json)));
    assert!(log.park());
    for n in 0..10 {
        assert_eq!(log.push(&event(&n.to_string()), MessageId::NONE), Pushed::Queued);
    }
    assert!(log.resume_after(0));
    for n in 10..14 {
        assert_eq!(
            log.push(&event(&n.to_string()), MessageId::NONE),
            Pushed::Queued,
            "live frames after a replay of 10"
        );
    }
    assert_eq!(
        log.push(&event("14"), MessageId::NONE),
        Pushed::Full,
        "the queue's own bound still holds"
    );
    let mut batch = Vec::new();
    assert_eq!(log.take(&mut batch, 64), Some(Taken::Overflowed));
    let log = Outbox::with_log(4, 1 << 20, Some((1 << 20, Codec::Json)));
    assert!(log.park());
    for n in 0..10 {
        log.push(&event(&n.to_string()), MessageId::NONE);
    }
    assert!(log.resume_after(0));
    log.push(&event("10"), MessageId::NONE);
    assert_eq!(log.take(&mut batch, 64), Some(Taken::Frames));
    let seqs: Vec<u64> = written(&mut batch).into_iter().map(|(seq, _)| seq).collect();
    assert_eq!(seqs, (1..=11).collect::<Vec<_>>());
    assert_eq!(log.state.lock().bytes, 0, "taken frames leave the queue's count");
}

fn id(n: u64) -> MessageId {
    MessageId { node: 7, n }
}

#[test]
fn a_handover_replays_the_old_log_then_what_was_held_without_duplicates() {
    // The old node: 1..=3 sent, the client saw 2; 4 and 5 arrived while parked.
    let old = Outbox::with_log(100, 1 << 20, Some((1 << 20, Codec::Json)));
    let mut batch = Vec::new();
    for n in 1..=3 {
        old.push(&event(&n.to_string()), id(n));
    }
    old.take(&mut batch, 8);
    batch.clear();
    assert!(old.park());
    old.push(&event("4"), id(4));
    old.push(&event("5"), id(5));
    assert!(!old.can_resume_after(6), "never sent");
    let snapshot = old.hand_over(2).expect("replayable");
    assert_eq!(snapshot.older, [id(1), id(2)]);
    let ids: Vec<MessageId> = snapshot.frames.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, [id(3), id(4), id(5)]);
    assert_eq!(old.push(&event("6"), id(6)), Pushed::Closed, "the old log is closed");

    // The new node held 4 and 5 (published after it subscribed), then 6 and 7, and a
    // publication of the old node's so late that the old node had trimmed it (id 0 of
    // the old node's, before what it sent while the client was there).
    let mut snapshot = snapshot;
    snapshot.before = MessageId { node: 99, n: 10 };
    let new = Outbox::with_log(100, 1 << 20, Some((1 << 20, Codec::Json)));
    assert!(new.park());
    new.push(&event("late"), MessageId { node: 99, n: 0 });
    for n in 4..=7 {
        new.push(&event(&n.to_string()), id(n));
    }
    assert!(new.adopt(2, snapshot));
    assert!(new.resume_after(2));
    new.push(&event("8"), id(8));
    assert_eq!(new.take(&mut batch, 64), Some(Taken::Frames));
    let got: Vec<(u64, String)> = written(&mut batch);
    let want: Vec<(u64, String)> = (3..=8).map(|n| (n, n.to_string())).collect();
    assert_eq!(got, want, "seq continues from 3, each event once, in order");
}

#[test]
fn a_handover_past_the_budget_is_refused() {
    let frame = event("x");
    let size = frame.len();
    let old = Outbox::with_log(100, 1 << 20, Some((3 * size, Codec::Json)));
    assert!(old.park());
    for n in 1..=3 {
        old.push(&frame, id(n));
    }
    let snapshot = old.hand_over(0).expect("replayable");
    let new = Outbox::with_log(100, 1 << 20, Some((3 * size, Codec::Json)));
    assert!(new.park());
    new.push(&frame, id(9));
    assert!(!new.adopt(0, snapshot), "four frames do not fit a budget of three");
    assert!(!new.resume_after(0));
    // Frames without an id are never taken for duplicates.
    let old = Outbox::with_log(100, 1 << 20, Some((1 << 20, Codec::Json)));
    assert!(old.park());
    old.push(&frame, MessageId::NONE);
    let snapshot = old.hand_over(0).unwrap();
    let new = Outbox::with_log(100, 1 << 20, Some((1 << 20, Codec::Json)));
    assert!(new.park());
    new.push(&frame, MessageId::NONE);
    assert!(new.adopt(0, snapshot));
    assert!(new.resume_after(0));
    assert_eq!(
        written(&mut {
            let mut b = Vec::new();
            new.take(&mut b, 8);
            b
        })
        .len(),
        2
    );
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
    outbox.push(&Bytes::from_static(b"x"), MessageId::NONE);
    assert_eq!(waiting.await.unwrap(), (Taken::Frames, 1));
}

/// A queue whose socket senders may write to takes the feed's broadcasts framed and together,
/// in one buffer that counts as one message of the batch, bounded in bytes; one that
/// compresses (no direct writes) takes each shared frame as it is, for the socket to compress
/// and frame, within the batch's bound in messages.
#[test]
fn broadcasts_read_from_the_feed_are_framed_together_where_frames_need_no_work_of_their_own() {
    use crate::transport::Pieces;
    let runtime = crate::hub::tests::runtime();
    let (_client, server) = crate::hub::tests::socket_pair(&runtime);
    let feed = Arc::new(Feed::new(64, usize::MAX));
    let (direct, compressing) = (Outbox::new(8, 1 << 20), Outbox::new(8, 1 << 20));
    assert!(direct.follow_feed(&feed, Codec::Json) && compressing.follow_feed(&feed, Codec::Json));
    direct.write_directly(Target::new(Arc::new(server)), frame::opcode::TEXT);
    // The connection is writing: senders queue (a frame, then a marker for the feed).
    assert_eq!(direct.begin_write(), None);
    direct.push(&Bytes::from_static(b"first"), MessageId::NONE);
    let long = "l".repeat(300);
    let payloads = ["a", long.as_str(), "c"];
    let broadcast = |payload: &str| {
        feed.append([Some(Bytes::copy_from_slice(payload.as_bytes())), None], Box::default());
        for outbox in [&direct, &compressing] {
            assert_eq!(outbox.notify_feed(), Some(Pushed::Queued));
        }
    };
    for payload in payloads {
        broadcast(payload);
    }
    let wire = |payloads: &[&str]| {
        let mut wire = Vec::new();
        for payload in payloads {
            frame::append(&mut wire, frame::opcode::TEXT, payload.as_bytes());
        }
        wire
    };
    let mut batch = Vec::new();
    // The plain frame queued first fills a batch of one: the feed waits for the next take.
    assert_eq!(direct.take(&mut batch, 1), Some(Taken::Frames));
    assert_eq!(
        batch.iter().map(|m| m.pieces().concat()).collect::<Vec<_>>(),
        [b"first".to_vec()]
    );
    batch.clear();
    // Fewer than `BACKLOG` broadcasts: taken together, and the next take comes at once.
    assert_eq!(direct.take(&mut batch, 1), Some(Taken::Frames));
    assert_eq!(batch.len(), 1, "one buffer for all three");
    assert!(batch[0].framed());
    assert_eq!(
        batch[0].pieces().concat(),
        wire(&payloads),
        "a 2-byte header, then a 4-byte one, then a 2-byte one"
    );
    batch.clear();
    assert_eq!(direct.take(&mut batch, 1), None);

    assert_eq!(compressing.take(&mut batch, 2), Some(Taken::Frames));
    let taken: Vec<_> = batch.iter().map(|m| (m.framed(), m.pieces().concat())).collect();
    let shared: Vec<_> = payloads[..2].iter().map(|p| (false, p.as_bytes().to_vec())).collect();
    assert_eq!(taken, shared, "each shared frame as it is, two at most");
    batch.clear();
    assert_eq!(compressing.take(&mut batch, 8), Some(Taken::Frames));
    assert_eq!(batch.len(), 1, "the third");
    batch.clear();

    // A backlog of `BACKLOG` broadcasts, all taken: the connection lingers before the next take.
    assert_eq!(direct.begin_write(), None);
    let many: Vec<String> = (0..BACKLOG).map(|i| i.to_string()).collect();
    for payload in &many {
        broadcast(payload);
    }
    assert_eq!(direct.take(&mut batch, 1), Some(Taken::Backlog));
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(batch[0].pieces().concat(), wire(&many));
    batch.clear();
    assert_eq!(
        compressing.take(&mut batch, 64),
        Some(Taken::Backlog),
        "compressed or not"
    );
    batch.clear();

    // A backlog larger than a take's bytes: taken in two, and the first does not linger (more
    // waits, and waiting would leave the connection further behind).
    assert_eq!(direct.begin_write(), None);
    let large = "x".repeat(TAKE_BYTES / 4);
    for payload in std::iter::repeat_n(large.as_str(), 4).chain(many.iter().copied()) {
        broadcast(payload);
    }
    assert_eq!(direct.take(&mut batch, 1), Some(Taken::Frames));
    assert_eq!(
        batch[0].len(),
        4 * (frame::header_len(large.len()) + large.len()),
        "four fit"
    );
    batch.clear();
    assert_eq!(direct.take(&mut batch, 1), Some(Taken::Backlog), "the rest, caught up");
    assert_eq!(batch[0].pieces().concat(), wire(&many));
}

/// A backlog that fills more than a quarter of the feed (in entries or in bytes) does not
/// linger: waiting for as many more would bring the client near losing entries.
#[test]
fn a_backlog_near_the_feeds_bound_does_not_linger() {
    for (capacity, capacity_bytes, lingers) in [
        (4 * BACKLOG, usize::MAX, true),
        (4 * BACKLOG - 1, usize::MAX, false),
        (usize::MAX, 4 * BACKLOG, true),
        (usize::MAX, 4 * BACKLOG - 1, false),
    ] {
        let feed = Arc::new(Feed::new(capacity, capacity_bytes));
        let outbox = Outbox::new(8, 1 << 20);
        assert!(outbox.follow_feed(&feed, Codec::Json));
        for _ in 0..BACKLOG {
            // One byte each.
            feed.append([Some(Bytes::from_static(b"x")), None], Box::default());
            assert_eq!(outbox.notify_feed(), Some(Pushed::Queued));
        }
        let mut batch = Vec::new();
        let expected = if lingers { Taken::Backlog } else { Taken::Frames };
        assert_eq!(
            outbox.take(&mut batch, 64),
            Some(expected),
            "{capacity} {capacity_bytes}"
        );
        assert_eq!(batch.len(), BACKLOG, "all read either way");
    }
}

#[test]
fn a_backlog_of_queued_frames_lingers_far_from_the_queues_bound() {
    let frame = Bytes::from_static(b"f");
    for (capacity, capacity_bytes, queued, expected) in [
        // Fewer than a backlog: the client keeps up.
        (1000, 1 << 20, BACKLOG - 1, Taken::Frames),
        (1000, 1 << 20, BACKLOG, Taken::Backlog),
        // As many more would fill more than a quarter of the queue, in frames or bytes.
        (4 * BACKLOG, 1 << 20, BACKLOG, Taken::Backlog),
        (4 * BACKLOG - 1, 1 << 20, BACKLOG, Taken::Frames),
        (1000, 4 * BACKLOG, BACKLOG, Taken::Backlog),
        (1000, 4 * BACKLOG - 1, BACKLOG, Taken::Frames),
    ] {
        let outbox = Outbox::new(capacity, capacity_bytes);
        for _ in 0..queued {
            assert_eq!(outbox.push(&frame, MessageId::NONE), Pushed::Queued);
        }
        let mut batch = Vec::new();
        assert_eq!(
            outbox.take(&mut batch, 64),
            Some(expected),
            "{capacity} {capacity_bytes} {queued}"
        );
        assert_eq!(batch.len(), queued, "all taken either way");
    }
    // A take that stops at its bound with more waiting takes again at once.
    let outbox = Outbox::new(1000, 1 << 20);
    for _ in 0..2 * BACKLOG {
        outbox.push(&frame, MessageId::NONE);
    }
    let mut batch = Vec::new();
    assert_eq!(outbox.take(&mut batch, BACKLOG), Some(Taken::Frames));
    assert_eq!(outbox.take(&mut batch, BACKLOG), Some(Taken::Backlog));
}
