//! Session resume across the nodes of a cluster (`docs/resume.md`, issue 13 part 4), over real
//! loopback sockets, on the in-memory backplane and on a real Redis (started by each test,
//! see `tests/support/redis.rs`): a client dropped without a close frame on node A comes back
//! on node B with its token and last sequence number, and gets there its context, client id
//! and rooms, every message it missed once and in order, then live ones; `on_connect` ran
//! once and `on_disconnect` runs once, when it really leaves. Every way it cannot resume gives
//! a fresh session (`resumed: false`), never a wrong replay.

#[path = "support/redis.rs"]
mod redis;
mod support;

use garde::Validate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::resume::{resume_url, session, url};
use support::{Client, WAIT, msgpack, start};
use tokio::task::JoinHandle;
#[cfg(feature = "redis")]
use zocket::cluster::RedisBackplane;
use zocket::cluster::{Backplane, MemoryBus};
use zocket::{
    ClientId, Config, Ctx, Disconnected, Handle, Input, Moved, Outgoing, Resume, Rooms, Sender, Server, TS, Zocket,
};

#[derive(Debug, Deserialize, Validate, TS)]
#[garde(allow_unvalidated)]
struct Headers {
    token: String,
}

#[derive(Debug, Outgoing)]
enum Out {
    #[zocket(route = "room.message")]
    RoomMessage { source: String, n: u64, pad: String },
}

/// The context: it travels between nodes as JSON.
#[derive(Serialize, Deserialize)]
struct User {
    name: String,
    /// Set by `on_connect` on the node the client first connected to.
    connected_on: String,
}

/// How often `on_connect` and `on_disconnect` ran, by user name, on every node.
#[derive(Default)]
struct Counts {
    connects: Mutex<HashMap<String, usize>>,
    disconnects: Mutex<HashMap<String, usize>>,
    /// What `on_move` saw, in order.
    moves: Mutex<Vec<Move>>,
}

/// One run of `on_move`: (user, node, arrived, rooms).
type Move = (String, &'static str, bool, Vec<String>);

impl Counts {
    fn connects(&self, name: &str) -> usize {
        self.connects.lock().unwrap().get(name).copied().unwrap_or(0)
    }

    fn disconnects(&self, name: &str) -> usize {
        self.disconnects.lock().unwrap().get(name).copied().unwrap_or(0)
    }

    fn moves(&self) -> Vec<Move> {
        self.moves.lock().unwrap().clone()
    }
}

#[derive(Deserialize, Validate, TS)]
#[garde(allow_unvalidated)]
struct Join {
    room: String,
}

#[derive(Deserialize, Validate, TS)]
#[garde(allow_unvalidated)]
struct Say {
    source: String,
    n: u64,
}

async fn join(rooms: Rooms, Input(j): Input<Join>) -> Vec<String> {
    let _ = rooms.join(&j.room);
    rooms.current()
}

async fn say(send: Sender<Out>, Input(s): Input<Say>) -> bool {
    let message = Out::RoomMessage {
        source: s.source,
        n: s.n,
        pad: String::new(),
    };
    send.emit(message).to_room("r").is_ok()
}

async fn whoami(user: Ctx<User>, id: ClientId, rooms: Rooms) -> Value {
    json!({ "name": user.name, "on": user.connected_on, "id": id, "rooms": rooms.current() })
}

/// One node, named `name`, on `backplane`, resuming across nodes.
fn node(
    name: &'static str,
    backplane: impl Backplane,
    counts: &Arc<Counts>,
    budget: usize,
) -> Server<Headers, Out, User> {
    node_with(name, backplane, counts, Resume::new(Duration::from_secs(10), budget))
}

fn node_with(
    name: &'static str,
    backplane: impl Backplane,
    counts: &Arc<Counts>,
    resume: Resume,
) -> Server<Headers, Out, User> {
    node_across(name, backplane, counts, resume, true)
}

/// A node that resumes sessions of other nodes if `across`.
fn node_across(
    name: &'static str,
    backplane: impl Backplane,
    counts: &Arc<Counts>,
    resume: Resume,
    across: bool,
) -> Server<Headers, Out, User> {
    let (on, off) = (counts.clone(), counts.clone());
    let config = Config::default().resume(Some(resume));
    let zo = Zocket::<Headers, Out>::new()
        .config(config)
        .backplane(backplane)
        .on_connect(move |headers: Headers, _id: ClientId| {
            let counts = on.clone();
            async move {
                *counts
                    .connects
                    .lock()
                    .unwrap()
                    .entry(headers.token.clone())
                    .or_default() += 1;
                Ok(User {
                    name: headers.token,
                    connected_on: name.to_owned(),
                })
            }
        })
        .on_disconnect(move |gone: Disconnected<User>, _server: Handle<Out>| {
            let counts = off.clone();
            async move {
                *counts
                    .disconnects
                    .lock()
                    .unwrap()
                    .entry(gone.ctx.name.clone())
                    .or_default() += 1;
            }
        });
    let moves = counts.clone();
    let on_move = move |moved: Moved<User>, _server: Handle<Out>| {
        let counts = moves.clone();
        async move {
            let user = moved.ctx.name.clone();
            counts
                .moves
                .lock()
                .unwrap()
                .push((user, name, moved.arrived, moved.rooms));
        }
    };
    let zo = if across {
        zo.resume_across_nodes().on_move(on_move)
    } else {
        zo
    };
    let router = zo
        .router()
        .route("join", join)
        .route("say", say)
        .route("whoami", whoami);
    zo.server(router)
}

/// Waits until `check` holds (panics after 5 s).
async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What a client saw of the room: the last seq, and the last `n` of each source.
#[derive(Default, Debug)]
struct Seen {
    seq: u64,
    last: HashMap<String, u64>,
}

impl Seen {
    /// Reads one room message and checks it comes right after what was seen: the next seq,
    /// and the next `n` of its source.
    async fn next(&mut self, client: &mut Client) {
        let frame = client.next_frame().await;
        assert_eq!(frame["type"], "room.message", "{frame}");
        let seq = frame["seq"].as_u64().expect("a seq");
        assert_eq!(seq, self.seq + 1, "contiguous seq: {frame}");
        self.seq = seq;
        let source = frame["payload"]["source"].as_str().unwrap().to_owned();
        let n = frame["payload"]["n"].as_u64().unwrap();
        if let Some(last) = self.last.insert(source.clone(), n) {
            assert_eq!(n, last + 1, "every message of {source} once and in order");
        }
    }
}

/// Tells the feeders to stop. Sticky: a feeder busy sending when it is raised still sees it
/// (a `Notify::notify_waiters` reaches only the tasks waiting at that instant, and one whose
/// sleep had just fired could miss it and feed forever).
type Stop = tokio::sync::watch::Receiver<bool>;

/// Resolves once `stop` is raised.
async fn stopped(stop: &mut Stop) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Sends to room `r` from a server handle every 5 ms until stopped; returns the last `n` sent.
fn feed(handle: Handle<Out>, source: &'static str, mut stop: Stop) -> JoinHandle<u64> {
    tokio::spawn(async move {
        let mut n = 0;
        loop {
            n += 1;
            let message = Out::RoomMessage {
                source: source.into(),
                n,
                pad: String::new(),
            };
            handle.emit(message).to_room("r").unwrap();
            tokio::select! {
                biased;
                () = stopped(&mut stop) => return n,
                () = tokio::time::sleep(Duration::from_millis(5)) => {}
            }
        }
    })
}

/// Sends to room `r` from a client's calls until stopped; returns the last `n` sent.
fn feed_from_client(mut client: Client, mut stop: Stop) -> JoinHandle<u64> {
    tokio::spawn(async move {
        let mut n = 0;
        loop {
            n += 1;
            assert_eq!(client.ok("say", json!({"source": "client", "n": n})).await, true);
            tokio::select! {
                biased;
                () = stopped(&mut stop) => return n,
                () = tokio::time::sleep(Duration::from_millis(5)) => {}
            }
        }
    })
}

/// Three nodes; a client on A in a busy room (fed by a client on B, by A's and by C's
/// handles) is dropped, comes back on B and misses nothing, twice nothing.
async fn resumes_on_another_node(backplanes: [Box<dyn FnOnce() -> Box<dyn Backplane>>; 3], settle: Duration) {
    let counts = Arc::new(Counts::default());
    let mut nodes = Vec::new();
    for (backplane, name) in backplanes.into_iter().zip(["a", "b", "c"]) {
        nodes.push(start(node(name, Boxed(backplane()), &counts, 1 << 20)).await);
    }
    tokio::time::sleep(settle).await;
    let [(a, handle_a), (b, _), (_, handle_c)] = [nodes[0].clone(), nodes[1].clone(), nodes[2].clone()];

    let mut alice = Client::connect(&url(a, "token=alice")).await;
    let (token, resumed) = session(&mut alice).await;
    assert!(!resumed);
    assert_eq!(alice.ok("join", json!({"room": "r"})).await, json!(["r"]));
    let before = alice.ok("whoami", Value::Null).await;
    assert_eq!(before["on"], "a");
    tokio::time::sleep(settle).await;

    let mut bob = Client::connect(&url(b, "token=bob")).await;
    session(&mut bob).await;
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let feeders = [
        feed_from_client(bob, stopping.clone()),
        feed(handle_a.clone(), "a", stopping.clone()),
        feed(handle_c, "c", stopping),
    ];
    let mut seen = Seen::default();
    for _ in 0..60 {
        seen.next(&mut alice).await;
    }
    // Dropped without a close frame.
    drop(alice);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(counts.disconnects("alice"), 0, "a parked session has not ended");

    let mut back = Client::connect(&resume_url(b, "alice", &token, seen.seq)).await;
    let (_, resumed) = session(&mut back).await;
    assert!(resumed, "resumed on another node");
    let arrived = ("alice".to_owned(), "b", true, vec!["r".to_owned()]);
    assert!(counts.moves().contains(&arrived), "on_move ran on B before the resume");
    // The missed messages (some 1.5 s of three sources), then live ones.
    for _ in 0..900 {
        seen.next(&mut back).await;
    }
    stop.send_replace(true);
    let mut sent = HashMap::new();
    for (feeder, source) in feeders.into_iter().zip(["client", "a", "c"]) {
        let last = tokio::time::timeout(WAIT, feeder)
            .await
            .expect("a feeder stops when told");
        sent.insert(source.to_owned(), last.unwrap());
    }
    while seen.last != sent {
        seen.next(&mut back).await;
    }
    back.silent(Duration::from_millis(300)).await;

    let after = back.ok("whoami", Value::Null).await;
    assert_eq!(after, before, "same client id, context (set on A) and rooms");
    assert_eq!(counts.connects("alice"), 1, "on_connect ran once");
    assert_eq!(counts.disconnects("alice"), 0, "the session lives on at B");
    let left = ("alice".to_owned(), "a", false, vec!["r".to_owned()]);
    let mut moves = counts.moves();
    moves.sort();
    assert_eq!(moves, vec![left, arrived], "on_move ran once on each node");
    // Well past A's own window and every handover timeout: A never ends it.
    back.close().await;
    eventually("on_disconnect runs once the client leaves", || {
        counts.disconnects("alice") == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(counts.disconnects("alice"), 1, "exactly once");
    assert!(handle_a.members("r").is_empty(), "the client left node A");
}

/// A backplane built elsewhere, as a `Backplane` value.
struct Boxed(Box<dyn Backplane>);

impl std::fmt::Debug for Boxed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Backplane for Boxed {
    fn start(&self, inbound: zocket::cluster::Inbound) {
        self.0.start(inbound)
    }
    fn publish(&self, channel: &str, message: bytes::Bytes) {
        self.0.publish(channel, message)
    }
    fn publish_counted(
        &self,
        channel: &str,
        message: bytes::Bytes,
    ) -> futures_util::future::BoxFuture<'static, Result<usize, zocket::cluster::BackplaneError>> {
        self.0.publish_counted(channel, message)
    }
    fn subscribe(&self, channel: &str) {
        self.0.subscribe(channel)
    }
    fn unsubscribe(&self, channel: &str) {
        self.0.unsubscribe(channel)
    }
    fn is_up(&self) -> bool {
        self.0.is_up()
    }
    fn flush(&self) -> futures_util::future::BoxFuture<'static, ()> {
        self.0.flush()
    }
    fn subscribed(&self) -> futures_util::future::BoxFuture<'static, ()> {
        self.0.subscribed()
    }
}

fn memory(bus: &MemoryBus) -> Box<dyn FnOnce() -> Box<dyn Backplane>> {
    let bus = bus.clone();
    Box::new(move || Box::new(bus.node()))
}

#[cfg(feature = "redis")]
fn redis(redis: &redis::Redis) -> Box<dyn FnOnce() -> Box<dyn Backplane>> {
    let url = redis.url();
    Box::new(move || Box::new(RedisBackplane::new(&url).unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_memory_backplane_a_client_resumes_on_another_node() {
    let bus = MemoryBus::new();
    resumes_on_another_node([memory(&bus), memory(&bus), memory(&bus)], Duration::ZERO).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_a_client_resumes_on_another_node() {
    let server = redis::Redis::start();
    resumes_on_another_node(
        [redis(&server), redis(&server), redis(&server)],
        Duration::from_millis(500),
    )
    .await;
}

/// Alice, connected to `a` and in room `r`, dropped without a close frame: her token.
async fn dropped_alice(a: SocketAddr) -> String {
    let mut alice = Client::connect(&url(a, "token=alice")).await;
    let (token, _) = session(&mut alice).await;
    assert_eq!(alice.ok("join", json!({"room": "r"})).await, json!(["r"]));
    drop(alice);
    tokio::time::sleep(Duration::from_millis(200)).await;
    token
}

/// Connects to `addr` with `token`: whether it resumed, and how long the answer took.
async fn try_resume(addr: SocketAddr, token: &str, seq: u64) -> (bool, Duration, Client) {
    let began = std::time::Instant::now();
    let mut client = Client::connect(&resume_url(addr, "alice", token, seq)).await;
    let (_, resumed) = session(&mut client).await;
    (resumed, began.elapsed(), client)
}

#[tokio::test]
async fn forged_and_used_tokens_get_a_fresh_session_on_another_node() {
    let bus = MemoryBus::new();
    let counts = Arc::new(Counts::default());
    let (a, _) = start(node("a", bus.node(), &counts, 1 << 20)).await;
    let (b, _) = start(node("b", bus.node(), &counts, 1 << 20)).await;
    let (c, _) = start(node("c", bus.node(), &counts, 1 << 20)).await;
    let token = dropped_alice(a).await;

    // The secret half changed in one character.
    let mut forged = token.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let (resumed, _, mut fresh) = try_resume(b, &forged, 0).await;
    assert!(!resumed, "a forged token gives a fresh session");
    let me = fresh.ok("whoami", Value::Null).await;
    assert_eq!((me["on"].as_str(), me["rooms"].clone()), (Some("b"), json!([])));
    fresh.close().await;
    assert_eq!(counts.connects("alice"), 2);

    // The forgery did not use the real token up.
    let (resumed, _, mut back) = try_resume(b, &token, 0).await;
    assert!(resumed, "the real token still resumes");
    let me = back.ok("whoami", Value::Null).await;
    assert_eq!((me["on"].as_str(), me["rooms"].clone()), (Some("a"), json!(["r"])));
    // Used: neither another node nor the one that held it resumes it again.
    for node in [c, a] {
        let (resumed, _, mut again) = try_resume(node, &token, 0).await;
        assert!(!resumed, "a used token gives a fresh session");
        again.close().await;
    }
    assert_eq!(
        counts.connects("alice"),
        4,
        "on_connect ran for each fresh session only"
    );
    eventually("the fresh sessions ended", || counts.disconnects("alice") == 3).await;
    back.close().await;
    eventually("the resumed session ends once", || counts.disconnects("alice") == 4).await;
}

#[tokio::test]
async fn a_node_that_does_not_answer_gives_a_fresh_session_within_the_timeout() {
    let bus = MemoryBus::new();
    let counts = Arc::new(Counts::default());
    let (a, handle_a) = start(node("a", bus.node(), &counts, 1 << 20)).await;
    let (b, _) = start(node("b", bus.node(), &counts, 1 << 20)).await;
    let token = dropped_alice(a).await;
    // A node that hears every question but never answers (hung, or cut off), as a killed
    // holder would be: the cluster cannot say who holds a token the live nodes do not.
    let hung = bus.node();
    hung.subscribe("all");
    let mut unknown = token.clone().into_bytes();
    unknown[0] = if unknown[0] == b'A' { b'B' } else { b'A' };
    let unknown = String::from_utf8(unknown).unwrap();
    let (resumed, took, mut fresh) = try_resume(b, &unknown, 0).await;
    assert!(!resumed, "no complete answer in time: a fresh session");
    assert!(took < Duration::from_secs(5), "within the timeout: {took:?}");
    fresh.close().await;
    // The real session is still A's, parked; it ends there when A shuts down, once.
    assert_eq!(handle_a.members("r").len(), 1);
    handle_a.shutdown().await;
    eventually("both sessions ended", || counts.disconnects("alice") == 2).await;
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_down_gives_a_fresh_session_within_the_timeout() {
    let mut server = redis::Redis::start();
    let counts = Arc::new(Counts::default());
    let short = Resume::new(Duration::from_secs(2), 1 << 20);
    let (a, _) = start(node_with(
        "a",
        RedisBackplane::new(&server.url()).unwrap(),
        &counts,
        short,
    ))
    .await;
    let (b, _) = start(node_with(
        "b",
        RedisBackplane::new(&server.url()).unwrap(),
        &counts,
        short,
    ))
    .await;
    server.await_subscribers("zocket:all", 2).await;
    let token = dropped_alice(a).await;
    server.kill();
    let (resumed, took, mut fresh) = try_resume(b, &token, 0).await;
    assert!(!resumed, "Redis down: a fresh session");
    assert!(took < Duration::from_secs(5), "within the timeout: {took:?}");
    let me = fresh.ok("whoami", Value::Null).await;
    assert_eq!(me["on"], "b");
    fresh.close().await;
    // A's parked session ends when its window passes, once.
    eventually("both sessions ended", || counts.disconnects("alice") == 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(counts.disconnects("alice"), 2);
}

#[tokio::test]
async fn more_than_the_budget_missed_gives_a_fresh_session() {
    let bus = MemoryBus::new();
    let counts = Arc::new(Counts::default());
    let (a, handle_a) = start(node("a", bus.node(), &counts, 4096)).await;
    let (b, _) = start(node("b", bus.node(), &counts, 4096)).await;
    let token = dropped_alice(a).await;
    for n in 0..20 {
        let message = Out::RoomMessage {
            source: "a".into(),
            n,
            pad: "x".repeat(300),
        };
        handle_a.emit(message).to_room("r").unwrap();
    }
    let (resumed, _, mut fresh) = try_resume(b, &token, 0).await;
    assert!(!resumed, "resumed: false, never a partial replay");
    fresh.close().await;
    eventually("both sessions ended, once each", || counts.disconnects("alice") == 2).await;
}

#[tokio::test]
async fn a_connection_still_open_on_the_holder_lets_go_to_the_other_node() {
    let bus = MemoryBus::new();
    let counts = Arc::new(Counts::default());
    let (a, handle_a) = start(node("a", bus.node(), &counts, 1 << 20)).await;
    let (b, _) = start(node("b", bus.node(), &counts, 1 << 20)).await;
    let mut alice = Client::connect(&url(a, "token=alice")).await;
    let (token, _) = session(&mut alice).await;
    alice.ok("join", json!({"room": "r"})).await;
    // Node A has not noticed anything wrong with this connection.
    let (resumed, _, mut back) = try_resume(b, &token, 0).await;
    assert!(resumed, "taken over from a connection still open");
    let close = alice.closed().await;
    assert_eq!(
        close.map(|frame| u16::from(frame.code)),
        Some(1000),
        "the old connection is let go"
    );
    let me = back.ok("whoami", Value::Null).await;
    assert_eq!((me["on"].as_str(), me["rooms"].clone()), (Some("a"), json!(["r"])));
    handle_a
        .emit(Out::RoomMessage {
            source: "a".into(),
            n: 1,
            pad: String::new(),
        })
        .to_room("r")
        .unwrap();
    let frame = back.next_frame().await;
    assert_eq!(
        (frame["payload"]["n"].clone(), frame["seq"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(counts.disconnects("alice"), 0);
    back.close().await;
    eventually("one on_disconnect", || counts.disconnects("alice") == 1).await;
}

#[tokio::test]
async fn a_holder_that_does_not_resume_across_nodes_keeps_its_session() {
    let bus = MemoryBus::new();
    let counts = Arc::new(Counts::default());
    let short = Resume::new(Duration::from_millis(1500), 1 << 20);
    let (a, handle_a) = start(node_across("a", bus.node(), &counts, short, false)).await;
    let (b, _) = start(node("b", bus.node(), &counts, 1 << 20)).await;
    let token = dropped_alice(a).await;
    let (resumed, took, mut fresh) = try_resume(b, &token, 0).await;
    assert!(!resumed, "a fresh session, as without resume across nodes");
    assert!(took < Duration::from_secs(1), "every node answered at once: {took:?}");
    fresh.close().await;
    assert_eq!(handle_a.members("r").len(), 1, "still parked on a");
    // It ends on a when its window passes, as before.
    eventually("both sessions ended", || counts.disconnects("alice") == 2).await;
    assert!(handle_a.members("r").is_empty());
}

#[tokio::test]
async fn a_msgpack_session_resumes_on_another_node() {
    let bus = MemoryBus::new();
    let counts = Arc::new(Counts::default());
    let (a, handle_a) = start(node("a", bus.node(), &counts, 1 << 20)).await;
    let (b, handle_b) = start(node("b", bus.node(), &counts, 1 << 20)).await;
    let (_, handle_c) = start(node("c", bus.node(), &counts, 1 << 20)).await;
    let emit = |handle: &Handle<Out>, source: &str, n: u64| {
        let message = Out::RoomMessage {
            source: source.into(),
            n,
            pad: String::new(),
        };
        handle.emit(message).to_room("r").unwrap();
    };
    let mut alice = msgpack::connect(&url(a, "token=alice")).await;
    let hello = msgpack::next(&mut alice).await;
    assert_eq!(hello["type"], "__session");
    let token = hello["payload"]["token"].as_str().unwrap().to_owned();
    msgpack::send(
        &mut alice,
        &json!({"type": "join", "payload": {"room": "r"}, "rpcId": "1"}),
    )
    .await;
    assert_eq!(msgpack::next(&mut alice).await["payload"], json!(["r"]));
    emit(&handle_a, "a", 1);
    let first = msgpack::next(&mut alice).await;
    assert_eq!(
        (first["payload"]["n"].clone(), first["seq"].clone()),
        (json!(1), json!(1))
    );
    drop(alice);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Missed: from a (MessagePack made there), from c (JSON only: c has no MessagePack client).
    emit(&handle_a, "a", 2);
    emit(&handle_c, "c", 1);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut back = msgpack::connect(&resume_url(b, "alice", &token, 1)).await;
    let hello = msgpack::next(&mut back).await;
    assert_eq!(hello["payload"]["resumed"], true, "{hello}");
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(msgpack::next(&mut back).await);
    }
    emit(&handle_b, "b", 1);
    got.push(msgpack::next(&mut back).await);
    let seen: Vec<(Value, Value, Value)> = got
        .iter()
        .map(|f| {
            (
                f["seq"].clone(),
                f["payload"]["source"].clone(),
                f["payload"]["n"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (json!(2), json!("a"), json!(2)),
            (json!(3), json!("c"), json!(1)),
            (json!(4), json!("b"), json!(1)),
        ],
        "the missed MessagePack events, then a live one, numbered on"
    );
    assert_eq!(counts.connects("alice"), 1);
}

/// A backplane that holds back this node's session transfers (envelope kind 6) for `delay`.
#[derive(Debug)]
struct SlowTransfers {
    inner: Arc<dyn Backplane>,
    delay: Duration,
}

impl SlowTransfers {
    fn is_transfer(message: &[u8]) -> bool {
        // "zk", the version, the origin (u32 length + bytes), then the kind.
        let Some(len) = message.get(3..7) else { return false };
        let len = u32::from_be_bytes(len.try_into().unwrap()) as usize;
        message.get(7 + len) == Some(&6)
    }
}

impl Backplane for SlowTransfers {
    fn start(&self, inbound: zocket::cluster::Inbound) {
        self.inner.start(inbound)
    }
    fn publish(&self, channel: &str, message: bytes::Bytes) {
        self.inner.publish(channel, message)
    }
    fn publish_counted(
        &self,
        channel: &str,
        message: bytes::Bytes,
    ) -> futures_util::future::BoxFuture<'static, Result<usize, zocket::cluster::BackplaneError>> {
        let (inner, channel, delay) = (self.inner.clone(), channel.to_owned(), self.delay);
        let delay = if Self::is_transfer(&message) {
            delay
        } else {
            Duration::ZERO
        };
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            inner.publish_counted(&channel, message).await
        })
    }
    fn subscribe(&self, channel: &str) {
        self.inner.subscribe(channel)
    }
    fn unsubscribe(&self, channel: &str) {
        self.inner.unsubscribe(channel)
    }
}

#[tokio::test]
async fn a_session_that_arrives_too_late_ends_where_it_arrives_once() {
    let bus = MemoryBus::new();
    let counts = Arc::new(Counts::default());
    let slow = SlowTransfers {
        inner: Arc::new(bus.node()),
        delay: Duration::from_secs(4),
    };
    let (a, handle_a) = start(node("a", slow, &counts, 1 << 20)).await;
    let (b, handle_b) = start(node("b", bus.node(), &counts, 1 << 20)).await;
    let token = dropped_alice(a).await;
    let (resumed, took, mut fresh) = try_resume(b, &token, 0).await;
    assert!(!resumed, "the session did not arrive in time: a fresh one");
    assert!(took < Duration::from_secs(6), "{took:?}");
    assert!(handle_a.members("r").is_empty(), "a handed it over");
    assert!(handle_b.members("r").is_empty(), "b let go of what it held");
    // It arrives a second later, and ends on b: on_disconnect once, with its rooms.
    eventually("the late session ended", || counts.disconnects("alice") == 1).await;
    fresh.close().await;
    eventually("and the fresh one", || counts.disconnects("alice") == 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(counts.disconnects("alice"), 2, "once each");
    assert_eq!(counts.connects("alice"), 2);
}
