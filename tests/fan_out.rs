//! Fan-out over real loopback sockets. A sender writes each recipient's frame to its socket
//! itself while that socket is idle (`src/transport/direct.rs`), and queues it otherwise: the
//! frames must reach every client whole and in each sender's order, across partial writes, a
//! client that stops reading and starts again, concurrent senders, and the client's own
//! replies written by its connection in between.

mod support;

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use support::{Client, start};
use zocket::{ClientId, Config, NoHeaders, Outgoing, Router, Sender, Zocket};

#[derive(Debug, Outgoing)]
enum Out {
    #[zocket(route = "test.numbered")]
    Numbered { from: String, n: u32, data: String },
}

async fn ping() -> &'static str {
    "pong"
}

async fn me(id: ClientId) -> ClientId {
    id
}

/// Pushes three numbered frames to the caller before its reply (numbered across calls: the
/// connection runs its calls in one task, so they number and push in the same order).
async fn three(send: Sender<Out>, id: ClientId) -> Result<&'static str, zocket::CallError> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    for _ in 0..3 {
        send.emit(Out::Numbered {
            from: "self".into(),
            n: NEXT.fetch_add(1, Ordering::Relaxed),
            data: String::new(),
        })
        .to(&id)?;
    }
    Ok("done")
}

fn server(config: Config) -> zocket::Server<NoHeaders, Out> {
    let zo = Zocket::<NoHeaders, Out>::new().config(config);
    zo.server(Router::new().route("ping", ping).route("me", me).route("three", three))
}

/// Checks each sender's frames arrive numbered 0, 1, 2, ... and returns how many each sent.
fn check_order(frames: &[Value]) -> HashMap<String, u32> {
    let mut next: HashMap<String, u32> = HashMap::new();
    for frame in frames {
        let payload = &frame["payload"];
        let from = payload["from"].as_str().unwrap().to_owned();
        let expected = next.entry(from.clone()).or_default();
        assert_eq!(payload["n"], *expected, "{from}'s frames out of order");
        *expected += 1;
    }
    next
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_stay_whole_and_in_order_when_a_client_stops_reading_and_starts_again() {
    let (addr, handle) = start(server(Config::default())).await;
    let mut slow = Client::connect(&format!("ws://{addr}/")).await;
    let id: ClientId = serde_json::from_value(slow.ok("me", Value::Null).await).unwrap();
    // 2 × 400 frames of 6 KiB (4.8 MB, more than loopback's socket buffers hold, within the
    // queue's 8 MiB) from two senders on other threads while the client reads nothing: the
    // socket fills, a frame goes out in part, and the rest queue.
    let data = "x".repeat(6 * 1024);
    let senders: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|from| {
            let (handle, id, data) = (handle.clone(), id.clone(), data.clone());
            tokio::spawn(async move {
                for n in 0..400 {
                    let out = Out::Numbered {
                        from: from.into(),
                        n,
                        data: data.clone(),
                    };
                    let delivery = handle.emit(out).to(&id).unwrap();
                    assert_eq!(delivery.delivered, 1, "frame {n} of {from} dropped");
                    if n % 50 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    // Calls, whose replies and pushes the connection writes itself, between the senders' frames.
    let mut calls = Vec::new();
    for i in 0..20 {
        let route = if i % 2 == 0 { "ping" } else { "three" };
        calls.push((route, slow.start_call(route, Value::Null).await));
    }
    for sender in senders {
        sender.await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Now the client reads everything: any frame cut or interleaved would fail to parse.
    let mut numbered = Vec::new();
    let mut replies = HashMap::new();
    while numbered.len() < 800 + 30 || replies.len() < calls.len() {
        let frame = tokio::time::timeout(Duration::from_secs(10), slow.next_frame())
            .await
            .expect("every frame arrives");
        match frame["type"].as_str() {
            Some("test.numbered") => {
                if frame["payload"]["from"] != "self" {
                    assert_eq!(frame["payload"]["data"].as_str().map(str::len), Some(data.len()));
                }
                numbered.push(frame);
            }
            Some("__rpc_res") => {
                let rpc = frame["rpcId"].as_str().unwrap().to_owned();
                // A call's pushes came before its reply.
                if calls.iter().any(|(route, id)| *route == "three" && *id == rpc) {
                    let pushed = numbered.iter().filter(|f| f["payload"]["from"] == "self").count();
                    assert!(pushed >= 3 * (replies.values().filter(|r| **r == "three").count() + 1));
                }
                let route = calls.iter().find(|(_, id)| *id == rpc).expect("a call of ours").0;
                replies.insert(rpc, route);
            }
            other => panic!("unexpected frame {other:?}: {frame}"),
        }
    }
    let sent = check_order(&numbered);
    assert_eq!(sent["a"], 400);
    assert_eq!(sent["b"], 400);
    assert_eq!(sent["self"], 30);
    // The connection still works both ways.
    assert_eq!(slow.ok("ping", Value::Null).await, json!("pong"));
    handle
        .emit(Out::Numbered {
            from: "a".into(),
            n: 400,
            data: String::new(),
        })
        .to(&id)
        .unwrap();
    assert_eq!(slow.event("test.numbered").await["n"], 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_broadcasts_reach_every_client_in_each_senders_order() {
    // Four senders broadcast at once from two threads; every client reads as they go, so most
    // frames are written directly and some meet a busy socket and queue.
    fan_outs(Config::default(), To::All, 50, 4, 300, Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_broadcasts_split_over_two_threads_keep_each_senders_order() {
    // Over 256 recipients a broadcast is split: half written by a helper thread, half by the
    // sender (`src/hub/split.rs`); one that follows another within 2 ms queues. Paced senders
    // get both, interleaved.
    fan_outs(Config::default(), To::All, 300, 3, 40, Duration::from_millis(3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_sends_to_a_room_split_the_same_way() {
    fan_outs(Config::default(), To::Room, 300, 3, 30, Duration::from_millis(3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_sends_to_listed_clients_split_the_same_way() {
    fan_outs(Config::default(), To::Listed, 300, 3, 30, Duration::from_millis(3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_behind_a_flood_of_broadcasts_still_get_every_frame_and_their_replies() {
    // Broadcasts to 300 clients, back to back from two senders: the server queues them
    // through its feed, and connections that catch up with a backlog of them linger before
    // taking more (`Config::broadcast_linger`). Every frame still arrives, in order, and a
    // call made in the middle of the flood is answered.
    fan_outs(Config::default(), To::All, 300, 2, 400, Duration::ZERO).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_flood_without_lingering() {
    fan_outs(
        Config::default().broadcast_linger(Duration::ZERO),
        To::All,
        300,
        2,
        400,
        Duration::ZERO,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_behind_a_flood_of_sends_to_their_room_linger_the_same_way() {
    // A room of 100: each send is queued to every member's own queue, not through the feed,
    // and a connection that takes a backlog of them lingers the same way.
    fan_outs(Config::default(), To::Room, 100, 2, 400, Duration::ZERO).await;
}

/// Who a fan-out goes to: everyone, a room everyone joined, or everyone's id listed.
#[derive(Debug, Clone, Copy)]
enum To {
    All,
    Room,
    Listed,
}

/// `clients` read while `senders` each send `frames` numbered frames `to` all of them,
/// pausing `pause` between them (none: back to back); every client must get every frame, in
/// each sender's order, and a call a client makes after its 100th frame is answered.
async fn fan_outs(config: Config, to: To, clients: usize, senders: u32, frames: u32, pause: Duration) {
    let (addr, handle) = start(server(config)).await;
    let url = format!("ws://{addr}/");
    let mut connected = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..clients {
        let mut client = Client::connect(&url).await;
        let id: ClientId = serde_json::from_value(client.ok("me", Value::Null).await).unwrap();
        assert!(handle.rooms(&id).join("everyone").unwrap());
        ids.push(id);
        connected.push(client);
    }
    let ids = std::sync::Arc::new(ids);
    let senders: Vec<_> = (0..senders)
        .map(|s| {
            let (handle, ids) = (handle.clone(), ids.clone());
            tokio::spawn(async move {
                for n in 0..frames {
                    let out = Out::Numbered {
                        from: format!("s{s}"),
                        n,
                        data: "y".repeat(n as usize % 300),
                    };
                    let emit = handle.emit(out);
                    let delivery = match to {
                        To::All => emit.broadcast(),
                        To::Room => emit.to_room("everyone"),
                        To::Listed => emit.to(ids.as_slice()),
                    };
                    assert_eq!(delivery.unwrap().delivered, clients);
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    } else if n % 10 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    let total = (senders.len() as u32 * frames) as usize;
    let readers: Vec<_> = connected
        .into_iter()
        .map(|mut client| {
            tokio::spawn(async move {
                let mut received = Vec::new();
                while received.len() < total {
                    received.push(client.next_frame().await);
                    if received.len() == 100 {
                        assert_eq!(client.ok("ping", Value::Null).await, "pong");
                    }
                }
                check_order(&received)
            })
        })
        .collect();
    all_arrive(senders, readers, frames).await;
}

/// Waits for `senders` (sender `s` numbers its frames `from: "s{s}"`), then for `readers`, each
/// of which must have counted `frames` frames, in order, from every sender.
async fn all_arrive(
    senders: Vec<tokio::task::JoinHandle<()>>,
    readers: Vec<tokio::task::JoinHandle<HashMap<String, u32>>>,
    frames: u32,
) {
    let count = senders.len();
    for sender in senders {
        sender.await.unwrap();
    }
    for reader in readers {
        let sent = tokio::time::timeout(Duration::from_secs(30), reader)
            .await
            .expect("every frame arrives")
            .unwrap();
        assert!((0..count).all(|s| sent[&format!("s{s}")] == frames), "{sent:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_never_overtakes_frames_queued_before_it() {
    let (addr, handle) = start(server(Config::default())).await;
    let mut slow = Client::connect(&format!("ws://{addr}/")).await;
    let id: ClientId = serde_json::from_value(slow.ok("me", Value::Null).await).unwrap();
    // 80 frames of 64 KiB while the client reads nothing: the socket fills and most wait in
    // the queue, more than one take of the connection holds.
    let data = "q".repeat(64 * 1024);
    for n in 0..80 {
        let out = Out::Numbered {
            from: "q".into(),
            n,
            data: data.clone(),
        };
        assert_eq!(handle.emit(out).to(&id).unwrap().delivered, 1);
    }
    let call = slow.start_call("ping", Value::Null).await;
    let mut before_reply = 0;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), slow.next_frame())
            .await
            .expect("every frame arrives");
        if frame["rpcId"] == call.as_str() {
            break;
        }
        before_reply += 1;
    }
    assert_eq!(before_reply, 80, "the reply came before frames queued ahead of it");
}
