use super::*;
use crate::transport::Pieces;
use std::time::{Duration, Instant};

struct Rx(Arc<Outbox>);

impl Rx {
    fn try_recv(&mut self) -> Result<Message, ()> {
        let mut batch = Vec::new();
        match self.0.take(&mut batch, 1) {
            Some(Taken::Frames | Taken::Backlog) => Ok(Message::from(batch.pop().unwrap().pieces().concat())),
            _ => Err(()),
        }
    }
}

fn client(hub: &Hub, name: &str, capacity: usize) -> (ClientId, Rx, Arc<Outbox>) {
    let outbox = Arc::new(Outbox::new(capacity, usize::MAX));
    let id = ClientId::from(name);
    hub.register(id.clone(), Slot::new(outbox.clone(), Codec::Json));
    (id, Rx(outbox.clone()), outbox)
}

fn frame(bytes: &'static [u8]) -> impl Fn(Codec) -> Result<Message, EncodeError> {
    move |_| Ok(Message::from_static(bytes))
}

fn boxed(items: &[&str]) -> Vec<Box<str>> {
    items.iter().map(|s| (*s).into()).collect()
}

#[test]
fn rooms_are_tracked_sorted_and_freed() {
    let hub = Hub::new(8);
    let (a, _rx, _) = client(&hub, "a", 4);
    assert_eq!(hub.join(&a, "zeta"), Ok(true));
    assert_eq!(hub.join(&a, "alpha"), Ok(true));
    assert_eq!(hub.join(&a, "alpha"), Ok(false));
    assert_eq!(hub.room_names(), ["alpha", "zeta"]);
    assert_eq!(hub.rooms_of(&a), ["alpha", "zeta"]);
    assert!(hub.is_member(&a, "zeta"));
    assert!(hub.leave(&a, "zeta"));
    assert!(!hub.leave(&a, "zeta"));
    assert!(hub.members("zeta").is_empty());
    assert!(!hub.registry.read().rooms.contains_key("zeta"));
    assert_eq!(hub.unregister(&a), ["alpha"]);
    assert!(hub.registry.read().rooms.is_empty());
    assert_eq!(hub.join(&a, "late"), Ok(false), "a gone client cannot join");
}

#[test]
fn delivers_once_per_client_and_honours_except() {
    let hub = Hub::new(8);
    let (a, mut ra, _) = client(&hub, "a", 4);
    let (b, mut rb, _) = client(&hub, "b", 4);
    let (_c, mut rc, _) = client(&hub, "c", 4);
    for (id, room) in [(&a, "r1"), (&a, "r2"), (&b, "r2")] {
        hub.join(id, room).unwrap();
    }
    let x = frame(b"x");
    let frame = Encoded::new(&x);
    let d = hub.deliver(Target::Rooms(&boxed(&["r1", "r2"])), &[], &frame);
    assert_eq!(
        d,
        Delivery {
            delivered: 2,
            dropped: 0
        }
    );
    assert!(
        ra.try_recv().is_ok() && ra.try_recv().is_err(),
        "one copy for a member of both rooms"
    );
    assert!(rb.try_recv().is_ok());
    assert!(rc.try_recv().is_err());
    let d = hub.deliver(Target::All, &boxed(&["b"]), &frame);
    assert_eq!(d.delivered, 2);
    assert!(rb.try_recv().is_err());
    let d = hub.deliver(Target::Clients(&boxed(&["c", "c", "nobody"])), &[], &frame);
    assert_eq!(d.delivered, 1);
    assert!(rc.try_recv().is_ok() && rc.try_recv().is_ok() && rc.try_recv().is_err());
}

#[test]
fn sends_to_an_arriving_session_are_published_too() {
    let hub = Hub::new(8);
    let outbox = Arc::new(Outbox::new(4, usize::MAX));
    hub.register(ClientId::from("a"), Slot::arriving(outbox, Codec::Json));
    let x = frame(b"x");
    let frame = Encoded::new(&x);
    let mut missing = Vec::new();
    let ids = boxed(&["a"]);
    let target = Target::Clients(&ids);
    let d = hub.deliver_here(target, &[], &frame, MessageId::NONE, Some(&mut missing));
    assert_eq!(
        (d.delivered, missing),
        (1, boxed(&["a"])),
        "delivered here and published"
    );
    hub.arrived(&ClientId::from("a"));
    let mut missing = Vec::new();
    let d = hub.deliver_here(target, &[], &frame, MessageId::NONE, Some(&mut missing));
    assert_eq!((d.delivered, missing.len()), (1, 0), "this node's alone once arrived");
}

#[test]
fn a_client_registered_again_keeps_its_rooms_through_its_new_queue() {
    let hub = Hub::new(8);
    let (a, mut old, _) = client(&hub, "a", 4);
    hub.join(&a, "r").unwrap();
    let (_, mut new, _) = client(&hub, "a", 4);
    assert_eq!(hub.rooms_of(&a), ["r"]);
    let x = frame(b"x");
    let d = hub.deliver(Target::Rooms(&boxed(&["r"])), &[], &Encoded::new(&x));
    assert_eq!(d.delivered, 1);
    assert!(new.try_recv().is_ok(), "the room reaches the new queue");
    assert!(old.try_recv().is_err(), "not the old one");
    assert_eq!(hub.unregister(&a), ["r"]);
    assert!(hub.members("r").is_empty(), "and leaving frees the room");
}

#[test]
fn rooms_per_client_are_capped() {
    let hub = Hub::new(2);
    let (a, _rx, _) = client(&hub, "a", 4);
    assert_eq!(hub.join(&a, "1"), Ok(true));
    assert_eq!(hub.join(&a, "2"), Ok(true));
    assert_eq!(hub.join(&a, "3"), Err(TooManyRooms(2)));
    assert_eq!(hub.join(&a, "2"), Ok(false), "rejoining is not a new room");
    assert_eq!(hub.rooms_of(&a), ["1", "2"]);
}

#[test]
fn a_full_queue_is_dropped_and_flagged() {
    let hub = Hub::new(8);
    let (_a, _ra, outbox) = client(&hub, "a", 1);
    let x = frame(b"x");
    let frame = Encoded::new(&x);
    assert_eq!(hub.deliver(Target::All, &[], &frame).delivered, 1);
    let d = hub.deliver(Target::All, &[], &frame);
    assert_eq!(
        d,
        Delivery {
            delivered: 0,
            dropped: 1
        }
    );
    assert_eq!(outbox.take(&mut Vec::new(), 8), Some(Taken::Overflowed));
}

#[test]
fn each_codec_is_encoded_once_and_only_when_someone_speaks_it() {
    let hub = Hub::new(8);
    let encodings = std::cell::Cell::new(0);
    let encode = |codec: Codec| {
        encodings.set(encodings.get() + 1);
        Ok(Message::from(format!("{codec:?}")))
    };
    let mut queues = Vec::new();
    for (name, codec) in [("a", Codec::Json), ("b", Codec::Json), ("c", Codec::MsgPack)] {
        let outbox = Arc::new(Outbox::new(4, usize::MAX));
        hub.register(ClientId::from(name), Slot::new(outbox.clone(), codec));
        queues.push(Rx(outbox));
    }
    let message = Encoded::new(&encode);
    assert_eq!(hub.deliver(Target::All, &[], &message).delivered, 3);
    assert_eq!(encodings.get(), 2);
    assert_eq!(&queues[2].try_recv().unwrap()[..], b"MsgPack");
    assert_eq!(&queues[0].try_recv().unwrap()[..], b"Json");
    let message = Encoded::new(&encode);
    hub.deliver(Target::Clients(&boxed(&["a"])), &[], &message);
    assert_eq!(encodings.get(), 3, "no MessagePack client, no MessagePack encoding");
}

/// Everything queued for `outbox`, as text.
fn drain(outbox: &Outbox) -> Vec<String> {
    let mut batch: Vec<Outbound> = Vec::new();
    let mut out = Vec::new();
    while outbox.take(&mut batch, 7).is_some_and(Taken::has_frames) {
        out.extend(batch.drain(..).map(|m| String::from_utf8(m.pieces().concat()).unwrap()));
    }
    out
}

fn clients(hub: &Hub, n: usize) -> Vec<Arc<Outbox>> {
    (0..n).map(|i| client(hub, &format!("c{i}"), 64).2).collect()
}

const MANY: usize = split::LEAST + 10;

#[test]
fn a_large_broadcast_goes_through_the_feed_in_order_with_other_sends() {
    let hub = Hub::new(8).with_feed(64, usize::MAX);
    let outboxes = clients(&hub, MANY);
    let text = |t: &'static str| move |_| Ok(Message::from_static(t.as_bytes()));
    let (t1, b1, t2, b2) = (text("t1"), text("b1"), text("t2"), text("b2"));
    let to_first = boxed(&["c0"]);
    assert_eq!(
        hub.deliver(Target::Clients(&to_first), &[], &Encoded::new(&t1))
            .delivered,
        1
    );
    assert_eq!(hub.deliver(Target::All, &[], &Encoded::new(&b1)).delivered, MANY);
    assert_eq!(
        hub.deliver(Target::Clients(&to_first), &[], &Encoded::new(&t2))
            .delivered,
        1
    );
    assert_eq!(hub.deliver(Target::All, &[], &Encoded::new(&b2)).delivered, MANY);
    assert_eq!(
        hub.feed.as_ref().unwrap().head(),
        2,
        "both broadcasts went through the feed"
    );
    assert_eq!(drain(&outboxes[0]), ["t1", "b1", "t2", "b2"]);
    for outbox in &outboxes[1..] {
        assert_eq!(drain(outbox), ["b1", "b2"]);
    }
    // Read once: the feed's entries are not read again.
    assert_eq!(hub.deliver(Target::All, &[], &Encoded::new(&b1)).delivered, MANY);
    assert_eq!(drain(&outboxes[7]), ["b1"]);
}

#[test]
fn a_broadcast_with_exceptions_goes_through_the_feed_too() {
    let hub = Hub::new(8).with_feed(64, usize::MAX);
    let outboxes = clients(&hub, MANY);
    let x = frame(b"x");
    let d = hub.deliver(Target::All, &boxed(&["c3", "nobody"]), &Encoded::new(&x));
    assert_eq!(d.delivered, MANY - 1);
    assert_eq!(hub.feed.as_ref().unwrap().head(), 1, "through the feed");
    assert!(drain(&outboxes[3]).is_empty());
    assert_eq!(drain(&outboxes[4]), ["x"]);
}

#[test]
fn a_client_excepted_from_more_broadcasts_than_the_feed_keeps_is_not_left_behind() {
    let hub = Hub::new(8).with_feed(4, usize::MAX);
    let outboxes = clients(&hub, MANY);
    let x = frame(b"x");
    let all = frame(b"all");
    for _ in 0..10 {
        hub.deliver(Target::All, &boxed(&["c0"]), &Encoded::new(&x));
        assert_eq!(drain(&outboxes[1]), ["x"]);
        // c0's connection takes what it is told of: nothing for it, but its place moves on.
        assert!(drain(&outboxes[0]).is_empty());
    }
    hub.deliver(Target::All, &[], &Encoded::new(&all));
    assert_eq!(drain(&outboxes[0]), ["all"], "not left behind by what was not for it");
}

#[test]
fn a_client_left_behind_by_the_feed_is_closed_as_too_slow() {
    let hub = Hub::new(8).with_feed(4, usize::MAX);
    let outboxes = clients(&hub, MANY);
    let x = frame(b"x");
    for round in 0..6 {
        assert_eq!(hub.deliver(Target::All, &[], &Encoded::new(&x)).delivered, MANY);
        // One client keeps up.
        assert_eq!(drain(&outboxes[1]), ["x"], "round {round}");
    }
    assert_eq!(outboxes[0].take(&mut Vec::new(), 8), Some(Taken::Overflowed));
    assert_eq!(
        outboxes[0].take(&mut Vec::new(), 8),
        Some(Taken::Overflowed),
        "and stays so"
    );
}

#[test]
fn a_client_follows_the_feed_from_when_it_registered() {
    let hub = Hub::new(8).with_feed(64, usize::MAX);
    let early = clients(&hub, MANY);
    let old = frame(b"old");
    hub.deliver(Target::All, &[], &Encoded::new(&old));
    let (_, _, late) = client(&hub, "late", 64);
    let new = frame(b"new");
    hub.deliver(Target::All, &[], &Encoded::new(&new));
    assert_eq!(drain(&late), ["new"]);
    assert_eq!(drain(&early[0]), ["old", "new"]);
}

#[test]
fn the_feed_keeps_a_frame_per_codec_spoken() {
    let hub = Hub::new(8).with_feed(64, usize::MAX);
    let json = clients(&hub, MANY);
    let msgpack = Arc::new(Outbox::new(64, usize::MAX));
    hub.register(ClientId::from("m"), Slot::new(msgpack.clone(), Codec::MsgPack));
    let encode = |codec: Codec| Ok(Message::from(format!("{codec:?}")));
    assert_eq!(
        hub.deliver(Target::All, &[], &Encoded::new(&encode)).delivered,
        MANY + 1
    );
    assert_eq!(drain(&msgpack), ["MsgPack"]);
    assert_eq!(drain(&json[0]), ["Json"]);
    hub.unregister(&ClientId::from("m"));
    assert_eq!(hub.registry.read().speakers, [MANY, 0]);
}

#[test]
fn a_closed_client_is_not_counted() {
    let hub = Hub::new(8).with_feed(64, usize::MAX);
    let outboxes = clients(&hub, MANY);
    outboxes[0].close();
    let x = frame(b"x");
    assert_eq!(hub.deliver(Target::All, &[], &Encoded::new(&x)).delivered, MANY - 1);
    assert!(drain(&outboxes[0]).is_empty());
}

/// Senders on several threads broadcast through the feed and send to one client between
/// broadcasts, while connections on other threads take: every client gets every frame
/// once, each sender's in the order sent.
#[test]
fn concurrent_broadcasts_through_the_feed_lose_nothing_and_keep_each_senders_order() {
    const SENDERS: usize = 3;
    const EACH: usize = 300;
    let hub = Arc::new(Hub::new(8).with_feed(1 << 20, usize::MAX));
    let outboxes: Vec<_> = (0..MANY)
        .map(|i| {
            let outbox = Arc::new(Outbox::new(1 << 20, usize::MAX));
            hub.register(
                ClientId::from(format!("c{i}").as_str()),
                Slot::new(outbox.clone(), Codec::Json),
            );
            outbox
        })
        .collect();
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let received: Vec<_> = (0..2)
        .map(|half| {
            let outboxes: Vec<_> = outboxes.iter().skip(half).step_by(2).cloned().collect();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut got = vec![Vec::new(); outboxes.len()];
                let mut batch: Vec<Outbound> = Vec::new();
                loop {
                    let finished = done.load(std::sync::atomic::Ordering::SeqCst) == SENDERS;
                    for (outbox, got) in outboxes.iter().zip(&mut got) {
                        while outbox.take(&mut batch, 5).is_some_and(Taken::has_frames) {
                            got.extend(batch.drain(..).map(|m| String::from_utf8(m.pieces().concat()).unwrap()));
                        }
                    }
                    if finished {
                        return got;
                    }
                    std::thread::yield_now();
                }
            })
        })
        .collect();
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let hub = hub.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let to = boxed(&[&format!("c{sender}")]);
                for n in 0..EACH {
                    let text = format!("{sender}:{n}");
                    let encode = |_| Ok(Message::from(text.clone()));
                    let target = if n % 10 == 0 { Target::Clients(&to) } else { Target::All };
                    // Every seventh broadcast excepts the sender's own client.
                    let except: &[Box<str>] = if n % 7 == 0 { &to } else { &[] };
                    hub.deliver(target, except, &Encoded::new(&encode));
                }
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })
        })
        .collect();
    senders.into_iter().for_each(|sender| sender.join().unwrap());
    let mut per_client = vec![Vec::new(); MANY];
    for (half, got) in received.into_iter().enumerate() {
        for (i, got) in got.join().unwrap().into_iter().enumerate() {
            per_client[half + 2 * i] = got;
        }
    }
    assert!(hub.feed.as_ref().unwrap().head() > 0, "the feed was used");
    for (client, got) in per_client.iter().enumerate() {
        for sender in 0..SENDERS {
            let expected: Vec<String> = (0..EACH)
                .filter(|n| if client == sender { n % 7 != 0 } else { n % 10 != 0 })
                .map(|n| format!("{sender}:{n}"))
                .collect();
            let mine: Vec<&String> = got.iter().filter(|m| m.starts_with(&format!("{sender}:"))).collect();
            assert_eq!(
                mine,
                expected.iter().collect::<Vec<_>>(),
                "client {client}, sender {sender}"
            );
        }
    }
}

#[test]
fn a_broadcast_reaches_the_clients_of_the_moment() {
    let hub = Hub::new(8);
    let (a, mut ra, _) = client(&hub, "a", 4);
    let x = frame(b"x");
    let send = |except: &[Box<str>]| hub.deliver(Target::All, except, &Encoded::new(&x)).delivered;
    assert_eq!(send(&[]), 1);
    // One who came after the last broadcast is in the next; one who left is not.
    let (_b, mut rb, _) = client(&hub, "b", 4);
    assert_eq!(send(&[]), 2);
    hub.unregister(&a);
    assert_eq!(send(&[]), 1);
    assert_eq!(
        (ra.try_recv().unwrap(), ra.try_recv().unwrap()),
        (Message::from_static(b"x"), Message::from_static(b"x"))
    );
    assert!(ra.try_recv().is_err(), "a left before the third");
    // One registered again under the same id gets it through its new queue.
    let (_b2, mut rb2, _) = client(&hub, "b", 4);
    assert_eq!(send(&[]), 1);
    assert_eq!(rb2.try_recv().unwrap(), Message::from_static(b"x"));
    assert_eq!(send(&boxed(&["b"])), 0, "excepted");
    assert!(rb2.try_recv().is_err());
    for _ in 0..2 {
        assert_eq!(rb.try_recv().unwrap(), Message::from_static(b"x"));
    }
    assert!(
        rb.try_recv().is_err(),
        "the old queue of b got nothing after b registered again"
    );
}

#[test]
fn a_send_to_a_room_reaches_its_members_of_the_moment() {
    let hub = Hub::new(8);
    let (a, mut ra, _) = client(&hub, "a", 8);
    let (b, mut rb, _) = client(&hub, "b", 8);
    let x = frame(b"x");
    let room = boxed(&["r"]);
    let send = || hub.deliver(Target::Rooms(&room), &[], &Encoded::new(&x)).delivered;
    hub.join(&a, "r").unwrap();
    assert_eq!(send(), 1);
    hub.join(&b, "r").unwrap();
    assert_eq!(send(), 2, "one who joined after the last send");
    hub.leave(&a, "r");
    assert_eq!(send(), 1, "not one who left");
    // b registered again (a resumed session): the room reaches its new queue.
    let (_, mut rb2, _) = client(&hub, "b", 8);
    assert_eq!(send(), 1);
    assert_eq!(
        hub.deliver(Target::Rooms(&room), &boxed(&["b"]), &Encoded::new(&x))
            .delivered,
        0,
        "excepted"
    );
    let count = |rx: &mut Rx| std::iter::from_fn(|| rx.try_recv().ok()).count();
    assert_eq!((count(&mut ra), count(&mut rb), count(&mut rb2)), (2, 2, 1));
}

#[test]
fn a_thread_held_off_direct_writes_does_not_split_a_large_fan_out() {
    let runtime = runtime();
    let (_client, server) = socket_pair(&runtime);
    let outbox = Arc::new(Outbox::new(8, 1 << 20));
    outbox.write_directly(
        crate::transport::direct::Target::new(Arc::new(server)),
        crate::transport::frame::opcode::TEXT,
    );
    let first = Recipient {
        outbox,
        codec: Codec::Json,
    };
    // A thread of its own: holds are per thread.
    std::thread::spawn(move || {
        // Not held: split, once no other large fan-out (another test's) began just before.
        let split = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(3));
            splits(Some(&first), 1000)
        });
        assert!(split, "a large fan-out to clients written to directly is split");
        // Direct writes that took most of a window, on a thread that never blocked: held.
        let t0 = Instant::now();
        {
            let _small = pacing::FanOut::start(10);
            pacing::spent(t0, t0 + Duration::from_millis(80));
        }
        assert!(pacing::held_now());
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(3));
            assert!(!splits(Some(&first), 1000), "held: the fan-out queues whole");
        }
    })
    .join()
    .unwrap();
}

/// A runtime for the tests' sockets.
pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Both ends of a loopback connection: the client's, and the server's.
pub(super) fn socket_pair(runtime: &tokio::runtime::Runtime) -> (tokio::net::TcpStream, tokio::net::TcpStream) {
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        (client, listener.accept().await.unwrap().0)
    })
}

/// A client whose socket senders write to directly, in room "r": its queue, and the far end.
fn direct_member(runtime: &tokio::runtime::Runtime, hub: &Hub, name: &str) -> (Arc<Outbox>, std::net::TcpStream) {
    let (client, server) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        (client, listener.accept().await.unwrap().0)
    });
    let outbox = Arc::new(Outbox::new(8, 1 << 20));
    outbox.write_directly(
        crate::transport::direct::Target::new(Arc::new(server)),
        crate::transport::frame::opcode::TEXT,
    );
    let id = ClientId::from(name);
    hub.register(id.clone(), Slot::new(outbox.clone(), Codec::Json));
    hub.join(&id, "r").unwrap();
    client.set_nonblocking(true).unwrap();
    (outbox, client)
}

/// What arrived on `client` so far.
fn arrived(client: &mut std::net::TcpStream) -> Vec<u8> {
    use std::io::Read;
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while let Ok(n @ 1..) = client.read(&mut buf) {
        got.extend_from_slice(&buf[..n]);
    }
    got
}

#[test]
fn a_cork_holds_direct_writes_back_and_sends_each_clients_frames_together() {
    let runtime = runtime();
    let hub = Hub::new(8);
    let (a, mut ca) = direct_member(&runtime, &hub, "a");
    let (_b, mut cb) = direct_member(&runtime, &hub, "b");
    let room = boxed(&["r"]);
    let (one, two) = (frame(b"one"), frame(b"two"));
    let cork = Cork::new();
    assert_eq!(hub.deliver(Target::Rooms(&room), &[], &Encoded::new(&one)).delivered, 2);
    assert_eq!(hub.deliver(Target::Rooms(&room), &[], &Encoded::new(&two)).delivered, 2);
    std::thread::sleep(Duration::from_millis(20));
    assert!(arrived(&mut ca).is_empty(), "held back while the cork is held");
    assert!(a.has_waiting(), "both frames wait in the queue");
    drop(cork);
    // Both frames, in order, framed: 0x81 and the length, then the text.
    let both = b"\x81\x03one\x81\x03two".to_vec();
    let deadline = Instant::now() + Duration::from_secs(5);
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    while (got_a.len() < both.len() || got_b.len() < both.len()) && Instant::now() < deadline {
        got_a.extend(arrived(&mut ca));
        got_b.extend(arrived(&mut cb));
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!((got_a, got_b), (both.clone(), both));
    assert!(!a.has_waiting(), "written by the cork, not left for the connection");
    // Uncorked, the next send is written directly again.
    assert_eq!(
        hub.deliver(Target::Rooms(&room), &[], &Encoded::new(&frame(b"3")))
            .delivered,
        2
    );
}

#[test]
fn a_corked_queue_whose_connection_took_its_socket_is_left_to_the_connection() {
    let runtime = runtime();
    let hub = Hub::new(8);
    let (a, mut ca) = direct_member(&runtime, &hub, "a");
    let room = boxed(&["r"]);
    let cork = Cork::new();
    hub.deliver(Target::Rooms(&room), &[], &Encoded::new(&frame(b"one")));
    // The connection takes the held frame to write it itself: the socket is its own now.
    let mut rx = Rx(a.clone());
    assert_eq!(rx.try_recv().unwrap(), Message::from_static(b"one"));
    hub.deliver(Target::Rooms(&room), &[], &Encoded::new(&frame(b"two")));
    drop(cork);
    std::thread::sleep(Duration::from_millis(20));
    assert!(
        arrived(&mut ca).is_empty(),
        "the cork did not write to a socket the connection holds"
    );
    assert_eq!(
        rx.try_recv().unwrap(),
        Message::from_static(b"two"),
        "left queued for it"
    );
}
