//! Several nodes of the conformance app (servers in this process on their own ports) on one
//! real Redis started by each test: every send reaches the clients of every node exactly once,
//! cluster-wide questions span the nodes, and an outage of Redis heals by itself.
//! Run by `scripts/redis-tests` (`cargo test --features redis --test cluster`).
#![cfg(feature = "redis")]
// Each example includes the shared `examples/support/run.rs` as its own module.
#![allow(clippy::duplicate_mod)]

#[path = "../examples/chat.rs"]
#[allow(dead_code)]
mod chat;
#[path = "../examples/conformance.rs"]
#[allow(dead_code)]
mod conformance;
#[path = "support/redis.rs"]
mod redis;
mod support;

use conformance::Out;
use redis::Redis;
use serde_json::{Value, json};
use std::time::Duration;
use support::{Client, start};
use zocket::cluster::{ClusterError, RedisBackplane};
use zocket::{ClientId, Handle, Location};

const QUIET: Duration = Duration::from_millis(300);
const ASK: Duration = Duration::from_secs(2);

struct Node {
    url: String,
    handle: Handle<Out>,
}

/// `count` conformance nodes on `redis`, each subscribed to the broadcast channel.
async fn nodes(redis: &Redis, count: usize) -> Vec<Node> {
    let mut nodes = Vec::new();
    for _ in 0..count {
        let backplane = RedisBackplane::new(&redis.url()).unwrap();
        let (addr, handle) = start(conformance::app_with(|zo| zo.backplane(backplane))).await;
        nodes.push(Node {
            url: format!("ws://{addr}/"),
            handle,
        });
    }
    redis.await_subscribers("zocket:all", count).await;
    for node in &nodes {
        let cluster = node.handle.cluster();
        redis.await_up(|| cluster.is_up()).await;
    }
    nodes
}

async fn client(node: &Node, token: &str) -> (Client, ClientId) {
    let mut client = Client::connect(&format!("{}?token={token}", node.url)).await;
    let id = client.ok("whoami", Value::Null).await["clientId"]
        .as_str()
        .unwrap()
        .into();
    (client, id)
}

async fn silent_all(clients: &mut [&mut Client]) {
    for client in clients {
        client.silent(QUIET).await;
    }
}

#[tokio::test]
async fn every_send_reaches_every_node_exactly_once() {
    let redis = Redis::start();
    let nodes = nodes(&redis, 3).await;
    let (mut ada, _) = client(&nodes[0], "ada").await;
    let (mut bob, bob_id) = client(&nodes[1], "bob").await;
    let (mut cyd, cyd_id) = client(&nodes[2], "cyd").await;
    let (mut dan, _) = client(&nodes[2], "dan").await;

    // A broadcast from a handler, from each node in turn.
    for (i, from) in ["ada", "bob", "cyd"].iter().enumerate() {
        let sender = match i {
            0 => &mut ada,
            1 => &mut bob,
            _ => &mut cyd,
        };
        sender
            .ok("chat.message", json!({"text": format!("hi from {from}")}))
            .await;
        for c in [&mut ada, &mut bob, &mut cyd, &mut dan] {
            assert_eq!(
                c.event("chat.onMessage").await,
                json!({"text": format!("hi from {from}"), "from": from})
            );
        }
    }
    ada.ok("system.announce", json!({"text": "hello all"})).await;
    for c in [&mut ada, &mut bob, &mut cyd, &mut dan] {
        assert_eq!(c.event("system.announcement").await, json!({"text": "hello all"}));
    }
    silent_all(&mut [&mut ada, &mut bob, &mut cyd, &mut dan]).await;

    // A room with members on two other nodes; the sender is not a member.
    assert_eq!(bob.ok("rooms.join", json!({"room": "lobby"})).await, json!(["lobby"]));
    assert_eq!(cyd.ok("rooms.join", json!({"room": "lobby"})).await, json!(["lobby"]));
    redis.await_subscribers("zocket:room:lobby", 2).await;
    ada.ok("rooms.send", json!({"room": "lobby", "text": "knock"})).await;
    let knock = json!({"room": "lobby", "text": "knock", "from": "ada"});
    assert_eq!(bob.event("room.message").await, knock);
    assert_eq!(cyd.event("room.message").await, knock);

    // A direct send to a client on another node, and to one on the same node.
    ada.ok("direct.send", json!({"to": cyd_id, "text": "psst"})).await;
    assert_eq!(
        cyd.event("chat.onMessage").await,
        json!({"text": "psst", "from": "ada"})
    );
    dan.ok("direct.send", json!({"to": cyd_id, "text": "next door"})).await;
    assert_eq!(
        cyd.event("chat.onMessage").await,
        json!({"text": "next door", "from": "dan"})
    );

    // A push from outside any handler, through a task on node 2 and through node 3's handle.
    bob.ok("admin.pushTick", json!({"n": 7})).await;
    for c in [&mut ada, &mut bob, &mut cyd, &mut dan] {
        assert_eq!(c.event("system.tick").await, json!({"n": 7}));
    }
    let pushed = nodes[2].handle.emit(Out::Announcement {
        text: "from a handle".into(),
    });
    pushed.except(&bob_id).broadcast().unwrap();
    for c in [&mut ada, &mut cyd, &mut dan] {
        assert_eq!(c.event("system.announcement").await, json!({"text": "from a handle"}));
    }
    silent_all(&mut [&mut ada, &mut bob, &mut cyd, &mut dan]).await;

    // A send to two rooms reaches a member of both once, on whichever node.
    bob.ok("rooms.join", json!({"room": "den"})).await;
    dan.ok("rooms.join", json!({"room": "den"})).await;
    redis.await_subscribers("zocket:room:den", 2).await;
    let both = Out::Announcement {
        text: "two rooms".into(),
    };
    nodes[0].handle.emit(both).to_room(["lobby", "den"]).unwrap();
    for c in [&mut bob, &mut cyd, &mut dan] {
        assert_eq!(c.event("system.announcement").await, json!({"text": "two rooms"}));
    }

    // Leaving on one node stops deliveries there, and only there.
    cyd.ok("rooms.leave", json!({"room": "lobby"})).await;
    redis.await_subscribers("zocket:room:lobby", 1).await;
    ada.ok("rooms.send", json!({"room": "lobby", "text": "again"})).await;
    assert_eq!(bob.event("room.message").await["text"], "again");
    silent_all(&mut [&mut ada, &mut bob, &mut cyd, &mut dan]).await;

    // presence.left of a client that disconnects reaches every node.
    cyd.close().await;
    for c in [&mut ada, &mut bob, &mut dan] {
        assert_eq!(c.event("presence.left").await, json!({"userId": "cyd", "rooms": []}));
    }
    bob.close().await;
    for c in [&mut ada, &mut dan] {
        assert_eq!(
            c.event("presence.left").await,
            json!({"userId": "bob", "rooms": ["den", "lobby"]})
        );
    }
    // The last member of lobby on node 2 left: node 2 no longer hears it.
    redis.await_subscribers("zocket:room:lobby", 0).await;
    silent_all(&mut [&mut ada, &mut dan]).await;
}

/// The reply to a join that opened a room on its node leaves only once the node is subscribed
/// to the room's channel: a message another node sends the moment the join is answered
/// reaches the new member.
#[tokio::test]
async fn a_room_joined_hears_other_nodes_as_soon_as_the_join_is_answered() {
    joined_rooms_hear_other_nodes(Join::ByCall).await;
}

/// A join made outside a call (`Handle::rooms`) reaches the same point once `Rooms::heard`
/// resolves.
#[tokio::test]
async fn a_room_joined_outside_a_call_hears_other_nodes_once_heard() {
    joined_rooms_hear_other_nodes(Join::ByHandle).await;
}

/// How the reader joins in [`joined_rooms_hear_other_nodes`].
#[derive(Clone, Copy)]
enum Join {
    /// It calls `rooms.join` and waits for the reply.
    ByCall,
    /// The server joins it through its handle and awaits `Rooms::heard`.
    ByHandle,
}

/// A reader on node A joins fresh rooms one after another; node B sends to each room as soon
/// as the join is done, and the reader gets every message. Node A talks to Redis through a link
/// that delays what it sends by 50 ms, so without a wait for A's SUBSCRIBE every such message
/// would be published before A subscribed.
async fn joined_rooms_hear_other_nodes(join: Join) {
    let redis = Redis::start();
    let slow = slow_link(redis.port(), Duration::from_millis(50)).await;
    let (a, a_handle) = start(conformance::app_with(|zo| {
        zo.backplane(RedisBackplane::new(&format!("redis://{slow}")).unwrap())
    }))
    .await;
    let (_b, b) = start(conformance::app_with(|zo| {
        zo.backplane(RedisBackplane::new(&redis.url()).unwrap())
    }))
    .await;
    redis.await_subscribers("zocket:all", 2).await;
    redis.await_up(|| b.cluster().is_up()).await;
    redis.await_up(|| a_handle.cluster().is_up()).await;
    let mut reader = Client::connect(&format!("ws://{a}/?token=reader")).await;
    let id: ClientId = reader.ok("whoami", Value::Null).await["clientId"]
        .as_str()
        .unwrap()
        .into();
    for i in 0..4 {
        let room = format!("fresh-{i}");
        match join {
            Join::ByCall => {
                reader.ok("rooms.join", json!({ "room": room })).await;
            }
            Join::ByHandle => {
                let rooms = a_handle.rooms(&id);
                assert_eq!(rooms.join(&room), Ok(true));
                rooms.heard().await;
            }
        }
        let message = Out::RoomMessage {
            room: room.clone(),
            text: format!("m{i}"),
            from: "b".into(),
        };
        b.emit(message).to_room(&room).unwrap();
        assert_eq!(
            reader.event("room.message").await,
            json!({"room": room, "text": format!("m{i}"), "from": "b"}),
            "the message node B sent to room {i} as soon as the join was done"
        );
    }
    reader.silent(QUIET).await;
}

/// A TCP link on 127.0.0.1 to `port` that holds each chunk a client sends for `delay`.
async fn slow_link(port: u16, delay: Duration) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let Ok(outbound) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
                continue;
            };
            let (mut from_client, mut to_client) = inbound.into_split();
            let (mut from_redis, mut to_redis) = outbound.into_split();
            tokio::spawn(async move {
                let mut buf = vec![0; 64 * 1024];
                while let Ok(n @ 1..) = from_client.read(&mut buf).await {
                    tokio::time::sleep(delay).await;
                    if to_redis.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut from_redis, &mut to_client).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn cluster_questions_span_every_node() {
    let redis = Redis::start();
    let nodes = nodes(&redis, 2).await;
    let (mut ada, ada_id) = client(&nodes[0], "ada").await;
    let (mut bob, bob_id) = client(&nodes[1], "bob").await;
    ada.ok("rooms.join", json!({"room": "lobby"})).await;
    bob.ok("rooms.join", json!({"room": "lobby"})).await;

    let cluster = nodes[0].handle.cluster();
    let mut expected = vec![ada_id.clone(), bob_id.clone()];
    expected.sort();
    assert_eq!(cluster.room_members("lobby", ASK).await.unwrap(), expected);
    assert_eq!(cluster.room_size("lobby", ASK).await.unwrap(), 2);
    assert_eq!(cluster.room_size("nowhere", ASK).await.unwrap(), 0);
    assert_eq!(cluster.locate(&ada_id, ASK).await.unwrap(), Some(Location::Here));
    let node_1 = nodes[1].handle.cluster().node_id().unwrap().clone();
    assert_eq!(
        cluster.locate(&bob_id, ASK).await.unwrap(),
        Some(Location::Node(node_1))
    );
    assert!(!cluster.is_connected(&ClientId::from("nobody"), ASK).await.unwrap());
    assert_ne!(cluster.node_id(), nodes[1].handle.cluster().node_id());

    bob.close().await;
    ada.event("presence.left").await;
    assert_eq!(cluster.room_members("lobby", ASK).await.unwrap(), [ada_id]);
    assert!(!cluster.is_connected(&bob_id, ASK).await.unwrap());

    // A subscriber that never answers (a stuck node): the question times out, and says so.
    let mut mute = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port().to_string(), "SUBSCRIBE", "zocket:all"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    redis.await_subscribers("zocket:all", 3).await;
    let started = std::time::Instant::now();
    let answer = cluster.room_members("lobby", Duration::from_millis(300)).await;
    assert_eq!(
        answer,
        Err(ClusterError::Timeout {
            answered: 1,
            expected: 2
        })
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    let _ = mute.kill();
    let _ = mute.wait();
    redis.await_subscribers("zocket:all", 2).await;
    assert_eq!(cluster.room_size("lobby", ASK).await.unwrap(), 1);

    // With Redis gone, a question fails at once instead of answering from half the cluster.
    let mut redis = redis;
    redis.kill();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(cluster.room_members("lobby", ASK).await.is_err());
}

#[tokio::test]
async fn garbage_and_other_versions_on_the_channels_are_skipped() {
    let redis = Redis::start();
    let nodes = nodes(&redis, 2).await;
    let (mut ada, _) = client(&nodes[0], "ada").await;
    let (mut bob, _) = client(&nodes[1], "bob").await;
    redis.publish("zocket:all", "not an envelope");
    redis.publish("zocket:all", "zk\u{3}a future version");
    redis.publish("zocket:all", "zk\u{1}an older version");
    redis.publish("zocket:all", "zk\u{2}cut short");
    ada.ok("chat.message", json!({"text": "still fine"})).await;
    assert_eq!(bob.event("chat.onMessage").await["text"], "still fine");
    assert_eq!(ada.event("chat.onMessage").await["text"], "still fine");
    silent_all(&mut [&mut ada, &mut bob]).await;
}

#[tokio::test]
async fn a_redis_outage_loses_only_cross_node_messages_and_heals_by_itself() {
    let mut redis = Redis::start();
    let nodes = nodes(&redis, 2).await;
    let (mut ada, _) = client(&nodes[0], "ada").await;
    let (mut amy, _) = client(&nodes[0], "amy").await;
    let (mut bob, _) = client(&nodes[1], "bob").await;
    bob.ok("rooms.join", json!({"room": "lobby"})).await;
    redis.await_subscribers("zocket:room:lobby", 1).await;

    redis.kill();
    for node in &nodes {
        let cluster = node.handle.cluster();
        redis.await_up(|| !cluster.is_up()).await;
    }
    // Local delivery goes on; nobody is disconnected; the other node misses this one.
    ada.ok("chat.message", json!({"text": "during the outage"})).await;
    assert_eq!(amy.event("chat.onMessage").await["text"], "during the outage");
    assert_eq!(ada.event("chat.onMessage").await["text"], "during the outage");
    bob.silent(QUIET).await;

    redis.restart();
    // Every channel is subscribed again, the room's included, without anyone asking.
    redis.await_subscribers("zocket:all", 2).await;
    redis.await_subscribers("zocket:room:lobby", 1).await;
    // The publishing side may come back a moment after the subscribing side.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        ada.ok("rooms.send", json!({"room": "lobby", "text": "back"})).await;
        match tokio::time::timeout(Duration::from_millis(200), bob.event("room.message")).await {
            Ok(message) => {
                assert_eq!(message["text"], "back");
                break;
            }
            Err(_) => assert!(tokio::time::Instant::now() < deadline, "delivery did not resume"),
        }
    }
    // From now on, exactly once.
    tokio::time::sleep(QUIET).await;
    while let Ok(late) = tokio::time::timeout(Duration::from_millis(50), bob.next_frame()).await {
        assert_eq!(
            late["payload"]["text"], "back",
            "only retries of the probe may arrive late"
        );
    }
    ada.ok("chat.message", json!({"text": "after"})).await;
    for c in [&mut ada, &mut amy, &mut bob] {
        assert_eq!(c.event("chat.onMessage").await["text"], "after");
    }
    silent_all(&mut [&mut ada, &mut amy, &mut bob]).await;
}

#[tokio::test]
async fn the_chat_on_two_nodes_is_one_chat() {
    let redis = Redis::start();
    let mut urls = Vec::new();
    for _ in 0..2 {
        let backplane = RedisBackplane::new(&redis.url()).unwrap();
        let (addr, handle) = start(chat::app_with(|zo| zo.backplane(backplane))).await;
        let cluster = handle.cluster();
        redis.await_up(|| cluster.is_up()).await;
        urls.push(format!("ws://{addr}/"));
    }
    redis.await_subscribers("zocket:all", 2).await;
    let mut ann = Client::connect(&format!("{}?nick=ann", urls[0])).await;
    let mut ben = Client::connect(&format!("{}?nick=ben", urls[1])).await;
    ann.ok("chat.join", json!({"room": "general"})).await;
    ben.ok("chat.join", json!({"room": "general"})).await;
    redis.await_subscribers("zocket:room:general", 2).await;
    assert_eq!(
        ann.event("chat.joined").await,
        json!({"room": "general", "nick": "ben"})
    );
    // Messages from one node arrive in order; between nodes there is no global order, so each
    // answer waits for the message it answers.
    ann.ok("chat.send", json!({"room": "general", "text": "hello ben"}))
        .await;
    assert_eq!(ben.event("chat.message").await["text"], "hello ben");
    ben.ok("chat.send", json!({"room": "general", "text": "hello ann"}))
        .await;
    assert_eq!(ann.event("chat.message").await["text"], "hello ben");
    for c in [&mut ann, &mut ben] {
        assert_eq!(c.event("chat.message").await["text"], "hello ann");
    }
    ben.close().await;
    assert_eq!(ann.event("chat.left").await, json!({"room": "general", "nick": "ben"}));
    ann.silent(QUIET).await;
}
