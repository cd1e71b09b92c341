//! Session resume over real loopback sockets (`docs/resume.md`): a client dropped without a
//! close frame comes back with its token and last sequence number and gets every missed
//! event once and in order, its context and rooms, without `on_connect` running again; and
//! every way it must not resume (window over, forged, used or unknown tokens, a byte budget
//! exceeded, a close frame) gives a fresh session and exactly one `on_disconnect`.

#[path = "support/process.rs"]
mod process;
mod support;

use garde::Validate;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::resume::{resume_url, session, url};
use support::{Client, start};
use zocket::{ClientId, Config, Ctx, Disconnected, Handle, Input, Outgoing, Resume, Rooms, Server, TS, Zocket};

#[derive(Debug, Deserialize, Validate, TS)]
#[garde(allow_unvalidated)]
struct Headers {
    token: String,
    /// Set if the app was shown the resume parameter (it must never be).
    #[serde(rename = "__session")]
    session: Option<String>,
}

#[derive(Debug, Outgoing)]
enum Out {
    #[zocket(route = "room.message")]
    RoomMessage { n: u64, pad: String },
    #[zocket(route = "tick")]
    Tick { n: u64 },
}

struct User {
    name: String,
    saw_session: bool,
}

#[derive(Default)]
struct Counts {
    connects: AtomicUsize,
    disconnects: AtomicUsize,
    /// The rooms each ended session was in.
    gone: Mutex<Vec<Vec<String>>>,
}

#[derive(Deserialize, Validate, TS)]
#[garde(allow_unvalidated)]
struct Join {
    room: String,
}

async fn join(rooms: Rooms, Input(j): Input<Join>) -> Vec<String> {
    let _ = rooms.join(&j.room);
    rooms.current()
}

async fn whoami(user: Ctx<User>, id: ClientId, rooms: Rooms) -> Value {
    json!({ "name": user.name, "id": id, "rooms": rooms.current(), "sawSession": user.saw_session })
}

fn app(resume: Option<Resume>) -> (Server<Headers, Out, User>, Arc<Counts>) {
    app_with(Config::default().resume(resume))
}

fn app_with(config: Config) -> (Server<Headers, Out, User>, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let (on, off) = (counts.clone(), counts.clone());
    let zo = Zocket::<Headers, Out>::new()
        .config(config)
        .on_connect(move |headers: Headers, _id: ClientId| {
            let counts = on.clone();
            async move {
                counts.connects.fetch_add(1, Ordering::SeqCst);
                Ok(User {
                    name: headers.token,
                    saw_session: headers.session.is_some(),
                })
            }
        })
        .on_disconnect(move |gone: Disconnected<User>, _server: Handle<Out>| {
            let counts = off.clone();
            async move {
                counts.disconnects.fetch_add(1, Ordering::SeqCst);
                counts.gone.lock().unwrap().push(gone.rooms);
            }
        });
    let router = zo.router().route("join", join).route("whoami", whoami);
    (zo.server(router), counts)
}

/// Waits until `count` reaches `want` (panics after 5 s).
async fn reaches(count: &AtomicUsize, want: usize) {
    tokio::time::timeout(Duration::from_secs(5), async {
        while count.load(Ordering::SeqCst) != want {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("count stayed {} (want {want})", count.load(Ordering::SeqCst)));
}

fn room_message(n: u64) -> Out {
    Out::RoomMessage { n, pad: String::new() }
}

#[tokio::test]
async fn a_dropped_client_resumes_with_every_missed_message_once_and_in_order() {
    let (server, counts) = app(Some(Resume::new(Duration::from_secs(10), 1 << 20)));
    let (addr, handle) = start(server).await;
    let mut alice = Client::connect(&url(addr, "token=alice")).await;
    let (token, resumed) = session(&mut alice).await;
    assert!(!resumed);
    assert_eq!(alice.ok("join", json!({"room": "r"})).await, json!(["r"]));
    let before = alice.ok("whoami", Value::Null).await;

    // Messages flow to the room all along, every 10 ms.
    let sender = handle.clone();
    let feeder = tokio::spawn(async move {
        for n in 1.. {
            sender.emit(room_message(n)).to_room("r").unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    // Alice reads a few, then her connection drops without a close frame.
    let mut last = (0, 0);
    for _ in 0..10 {
        let frame = alice.next_frame().await;
        assert_eq!(frame["type"], "room.message", "{frame}");
        let seq = frame["seq"].as_u64().expect("a seq");
        let n = frame["payload"]["n"].as_u64().unwrap();
        assert!(seq > last.0, "seq grows: {seq} after {}", last.0);
        last = (seq, n);
    }
    drop(alice);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        counts.disconnects.load(Ordering::SeqCst),
        0,
        "a parked session has not ended"
    );

    let mut back = Client::connect(&resume_url(addr, "alice", &token, last.0)).await;
    let (new_token, resumed) = session(&mut back).await;
    assert!(resumed, "resumed within the window");
    assert_ne!(new_token, token, "a new token on every connection");
    // Every message after the last one seen, once and in order: ~150 missed, then live ones.
    for _ in 0..250 {
        let frame = back.next_frame().await;
        assert_eq!(frame["type"], "room.message", "{frame}");
        let (seq, n) = (frame["seq"].as_u64().unwrap(), frame["payload"]["n"].as_u64().unwrap());
        assert_eq!((seq, n), (last.0 + 1, last.1 + 1), "contiguous, no gap, no duplicate");
        last = (seq, n);
    }
    feeder.abort();
    let _ = feeder.await;
    let after = back.ok("whoami", Value::Null).await;
    assert_eq!(after, before, "same client id, context and rooms");
    assert_eq!(after["sawSession"], false, "the app never sees __session");
    assert_eq!(counts.connects.load(Ordering::SeqCst), 1, "on_connect ran once");
    assert_eq!(counts.disconnects.load(Ordering::SeqCst), 0);
    assert_eq!(handle.members("r").len(), 1);
}

#[tokio::test]
async fn window_expiry_gives_a_fresh_session_and_exactly_one_on_disconnect() {
    let (server, counts) = app(Some(Resume::new(Duration::from_millis(300), 1 << 20)));
    let (addr, handle) = start(server).await;
    let mut alice = Client::connect(&url(addr, "token=alice")).await;
    let (token, _) = session(&mut alice).await;
    alice.ok("join", json!({"room": "r"})).await;
    drop(alice);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(counts.disconnects.load(Ordering::SeqCst), 0, "parked within the window");
    assert_eq!(handle.members("r").len(), 1, "a parked session keeps its rooms");
    reaches(&counts.disconnects, 1).await;
    assert_eq!(counts.gone.lock().unwrap().as_slice(), [vec!["r".to_owned()]]);
    assert!(handle.members("r").is_empty(), "the session left its rooms");

    let mut back = Client::connect(&resume_url(addr, "alice", &token, 0)).await;
    let (_, resumed) = session(&mut back).await;
    assert!(!resumed, "an expired token gives a fresh session");
    let me = back.ok("whoami", Value::Null).await;
    assert_eq!(me["rooms"], json!([]));
    assert_eq!(me["sawSession"], false, "__session is taken out of the headers");
    assert_eq!(
        counts.connects.load(Ordering::SeqCst),
        2,
        "on_connect ran for the fresh session"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        counts.disconnects.load(Ordering::SeqCst),
        1,
        "exactly one on_disconnect"
    );
}

#[tokio::test]
async fn forged_used_and_unknown_tokens_are_refused() {
    let (server, counts) = app(Some(Resume::new(Duration::from_secs(10), 1 << 20)));
    let (addr, _handle) = start(server).await;
    let mut alice = Client::connect(&url(addr, "token=alice")).await;
    let (token, _) = session(&mut alice).await;
    let id = alice.ok("whoami", Value::Null).await["id"].clone();
    drop(alice);

    // The token's secret half changed in one character.
    let mut forged = token.clone().into_bytes();
    forged[30] = if forged[30] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    for bad in [forged.as_str(), "not-a-token", ""] {
        let mut other = Client::connect(&resume_url(addr, "mallory", bad, 0)).await;
        let (_, resumed) = session(&mut other).await;
        assert!(!resumed, "{bad:?} is refused");
        let me = other.ok("whoami", Value::Null).await;
        assert_ne!(me["id"], id, "never the parked session");
        assert_eq!(me["name"], "mallory");
    }
    assert_eq!(counts.connects.load(Ordering::SeqCst), 4);

    // The real token still works after the forgeries: they did not end the session.
    let mut back = Client::connect(&resume_url(addr, "alice", &token, 0)).await;
    let (second, resumed) = session(&mut back).await;
    assert!(resumed);
    assert_eq!(back.ok("whoami", Value::Null).await["id"], id);
    drop(back);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The first token was used up: replaying it gives a fresh session.
    let mut replay = Client::connect(&resume_url(addr, "alice", &token, 0)).await;
    let (_, resumed) = session(&mut replay).await;
    assert!(!resumed, "a used token is refused");
    assert_ne!(replay.ok("whoami", Value::Null).await["id"], id);

    // The second one still resumes, but not from a sequence number never sent.
    let mut ahead = Client::connect(&resume_url(addr, "alice", &second, 5)).await;
    let (_, resumed) = session(&mut ahead).await;
    assert!(!resumed, "__seq past the last sent is refused");
    reaches(&counts.disconnects, 1).await;
}

#[tokio::test]
async fn a_parked_session_over_its_byte_budget_is_not_resumed() {
    let (server, counts) = app(Some(Resume::new(Duration::from_secs(30), 4096)));
    let (addr, handle) = start(server).await;
    let mut alice = Client::connect(&url(addr, "token=alice")).await;
    let (token, _) = session(&mut alice).await;
    alice.ok("join", json!({"room": "r"})).await;
    drop(alice);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // 10 messages of ~600 bytes: more than the 4 KiB the session may keep.
    for n in 1..=10 {
        let message = Out::RoomMessage {
            n,
            pad: "x".repeat(600),
        };
        handle.emit(message).to_room("r").unwrap();
    }
    reaches(&counts.disconnects, 1).await;
    let mut back = Client::connect(&resume_url(addr, "alice", &token, 0)).await;
    let (_, resumed) = session(&mut back).await;
    assert!(!resumed, "never a partial replay");
    back.silent(Duration::from_millis(200)).await;
    assert_eq!(counts.connects.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_close_frame_ends_the_session_at_once() {
    let (server, counts) = app(Some(Resume::new(Duration::from_secs(30), 1 << 20)));
    let (addr, _handle) = start(server).await;
    let mut alice = Client::connect(&url(addr, "token=alice")).await;
    let (token, _) = session(&mut alice).await;
    alice.close().await;
    reaches(&counts.disconnects, 1).await;
    let mut back = Client::connect(&resume_url(addr, "alice", &token, 0)).await;
    let (_, resumed) = session(&mut back).await;
    assert!(!resumed);
}

#[tokio::test]
async fn resuming_a_session_still_connected_closes_its_old_socket() {
    let (server, counts) = app(Some(Resume::new(Duration::from_secs(30), 1 << 20)));
    let (addr, handle) = start(server).await;
    let mut alice = Client::connect(&url(addr, "token=alice")).await;
    let (token, _) = session(&mut alice).await;
    handle.emit(Out::Tick { n: 1 }).broadcast().unwrap();
    let tick = alice.next_frame().await;
    assert_eq!((tick["type"].as_str(), tick["seq"].as_u64()), (Some("tick"), Some(1)));
    handle.emit(Out::Tick { n: 2 }).broadcast().unwrap();
    // A second socket resumes while the first is still open, having seen only seq 1.
    let mut back = Client::connect(&resume_url(addr, "alice", &token, 1)).await;
    let close = alice.closed().await.expect("a close frame on the old socket");
    assert_eq!(u16::from(close.code), 1000);
    let (_, resumed) = session(&mut back).await;
    assert!(resumed);
    let tick = back.next_frame().await;
    assert_eq!(
        (tick["payload"]["n"].as_u64(), tick["seq"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(counts.disconnects.load(Ordering::SeqCst), 0);
    assert_eq!(handle.client_count(), 1);
}

#[tokio::test]
async fn with_resume_off_the_wire_is_unchanged() {
    let (server, counts) = app(None);
    let (addr, handle) = start(server).await;
    let mut raw = support::raw::RawClient::connect(addr, "/?token=alice&__session=x&__seq=1", "").await;
    // Connected once `on_connect` ran; then the first frame is the event itself, byte for byte.
    reaches(&counts.connects, 1).await;
    handle.emit(Out::Tick { n: 7 }).broadcast().unwrap();
    let frame = raw.next(Duration::from_secs(5)).await.expect("a frame");
    assert_eq!(
        (frame.opcode, frame.payload.as_slice()),
        (1, &br#"{"type":"tick","payload":{"n":7}}"#[..])
    );
    let mut client = Client::connect(&url(addr, "token=bob&__session=abc")).await;
    let me = client.ok("whoami", Value::Null).await;
    assert_eq!(
        me["sawSession"], true,
        "without resume, __session is the app's own header"
    );
    client.silent(Duration::from_millis(100)).await;
}

/// The conformance example with `RESUME_WINDOW_MS` set, as a real process: a client dropped
/// from a busy room resumes with every `room.message` it missed.
#[tokio::test]
async fn the_conformance_example_resumes_when_resume_window_ms_is_set() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut child = tokio::process::Command::new(process::example("conformance"))
        .env("PORT", "0")
        .env("RESUME_WINDOW_MS", "10000")
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("run the conformance example");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("it listens")
        .unwrap()
        .unwrap();
    let base = format!(
        "{}/",
        line.strip_prefix("listening on ")
            .expect("the listening line")
            .trim()
            .trim_end_matches('/')
    );
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let mut alice = Client::connect(&format!("{base}?token=alice")).await;
    let (token, resumed) = session(&mut alice).await;
    assert!(!resumed);
    alice.ok("rooms.join", json!({"room": "r"})).await;
    let mut bob = Client::connect(&format!("{base}?token=bob")).await;
    session(&mut bob).await;
    let send = |n: u64| json!({"room": "r", "text": n.to_string()});
    bob.ok("rooms.send", send(1)).await;
    let first = alice.next_frame().await;
    assert_eq!(first["type"], "room.message", "{first}");
    assert_eq!(first["payload"]["text"], "1");
    let seen = first["seq"].as_u64().expect("a seq");
    drop(alice);
    for n in 2..=20 {
        bob.ok("rooms.send", send(n)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mut back = Client::connect(&format!("{base}?token=alice&__session={token}&__seq={seen}")).await;
    let (_, resumed) = session(&mut back).await;
    assert!(resumed);
    for n in 2..=20u64 {
        let frame = back.next_frame().await;
        assert_eq!(frame["type"], "room.message", "{frame}");
        assert_eq!(frame["payload"]["text"], n.to_string());
        assert_eq!(frame["seq"].as_u64(), Some(seen + n - 1));
    }
    bob.ok("rooms.send", send(21)).await;
    assert_eq!(back.event("room.message").await["text"], "21", "then live traffic");
    let me = back.ok("whoami", Value::Null).await;
    assert_eq!(me["userId"], "alice");
    let _ = child.kill().await;
}

/// MessagePack clients get the same: `seq` is a third entry of each event's map.
#[tokio::test]
async fn msgpack_sessions_resume_and_never_across_codecs() {
    use support::msgpack::{connect, next};

    let (server, counts) = app(Some(Resume::new(Duration::from_secs(10), 1 << 20)));
    let (addr, handle) = start(server).await;
    let mut ws = connect(&url(addr, "token=ada")).await;
    let hello = next(&mut ws).await;
    assert_eq!(hello["type"], "__session");
    assert_eq!(hello["payload"]["resumed"], false);
    let token = hello["payload"]["token"].as_str().unwrap().to_owned();
    for n in 1..=3 {
        handle.emit(Out::Tick { n }).broadcast().unwrap();
    }
    let first = next(&mut ws).await;
    assert_eq!(first, json!({"type": "tick", "payload": {"n": 1}, "seq": 1}));
    drop(ws);
    for n in 4..=200 {
        handle.emit(Out::Tick { n }).broadcast().unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut back = connect(&resume_url(addr, "ada", &token, 1)).await;
    let hello = next(&mut back).await;
    assert_eq!(hello["payload"]["resumed"], true, "{hello}");
    for n in 2..=200u64 {
        assert_eq!(
            next(&mut back).await,
            json!({"type": "tick", "payload": {"n": n}, "seq": n})
        );
    }
    drop(back);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Its log is MessagePack: a JSON connection cannot resume it.
    let token = hello["payload"]["token"].as_str().unwrap();
    let mut json_client = Client::connect(&resume_url(addr, "ada", token, 200)).await;
    let (_, resumed) = session(&mut json_client).await;
    assert!(!resumed, "never across codecs");
    reaches(&counts.disconnects, 1).await;
}

/// A shutdown ends parked sessions at once (it does not wait for their window), each with
/// one `on_disconnect`, and parked sessions count against `max_connections`.
#[tokio::test]
async fn shutdown_ends_parked_sessions_and_parked_sessions_count_as_connections() {
    let (server, counts) = {
        let counts = Arc::new(Counts::default());
        let off = counts.clone();
        let zo = Zocket::<Headers, Out>::new()
            .config(
                Config::default()
                    .max_connections(1)
                    .resume(Some(Resume::new(Duration::from_secs(60), 1 << 20))),
            )
            .on_connect(|headers: Headers, _id: ClientId| async move {
                Ok(User {
                    name: headers.token,
                    saw_session: false,
                })
            })
            .on_disconnect(move |_gone: Disconnected<User>, _server: Handle<Out>| {
                let counts = off.clone();
                async move {
                    counts.disconnects.fetch_add(1, Ordering::SeqCst);
                }
            });
        let router = zo.router();
        (zo.server(router), counts)
    };
    let (addr, handle) = start(server).await;
    let mut alice = Client::connect(&url(addr, "token=alice")).await;
    session(&mut alice).await;
    drop(alice);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _) = Client::refused(&url(addr, "token=bob")).await;
    assert_eq!(status, 503, "the parked session holds the only place");
    tokio::time::timeout(Duration::from_secs(5), handle.shutdown())
        .await
        .expect("shutdown does not wait for the window");
    assert_eq!(counts.disconnects.load(Ordering::SeqCst), 1);
}

/// A heartbeat timeout is a lost connection, not a goodbye: the session is parked.
#[tokio::test]
async fn a_heartbeat_timeout_parks_the_session() {
    let counts = Arc::new(Counts::default());
    let off = counts.clone();
    let zo = Zocket::<Headers, Out>::new()
        .config(
            Config::default()
                .heartbeat(Some(zocket::Heartbeat::new(
                    Duration::from_millis(100),
                    Duration::from_millis(300),
                )))
                .resume(Some(Resume::new(Duration::from_secs(30), 1 << 20))),
        )
        .on_connect(|headers: Headers, _id: ClientId| async move {
            Ok(User {
                name: headers.token,
                saw_session: false,
            })
        })
        .on_disconnect(move |_gone: Disconnected<User>, _server: Handle<Out>| {
            let counts = off.clone();
            async move {
                counts.disconnects.fetch_add(1, Ordering::SeqCst);
            }
        });
    let router = zo.router().route("whoami", whoami);
    let (addr, handle) = start(zo.server(router)).await;
    // A raw client that never answers pings.
    let mut raw = support::raw::RawClient::connect(addr, "/?token=alice", "").await;
    let hello = raw.next(Duration::from_secs(5)).await.expect("the session frame");
    let hello: Value = serde_json::from_slice(&hello.payload).unwrap();
    let token = hello["payload"]["token"].as_str().unwrap().to_owned();
    assert_eq!(
        raw.close_code(Duration::from_secs(5)).await,
        Some(1001),
        "closed as silent"
    );
    drop(raw);
    handle.emit(Out::Tick { n: 1 }).broadcast().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(counts.disconnects.load(Ordering::SeqCst), 0, "parked, not ended");
    let mut back = Client::connect(&resume_url(addr, "alice", &token, 0)).await;
    let (_, resumed) = session(&mut back).await;
    assert!(resumed);
    let tick = back.next_frame().await;
    assert_eq!((tick["type"].as_str(), tick["seq"].as_u64()), (Some("tick"), Some(1)));
}

/// A replay longer than the outbound queue is not a slow consumer: the queue's bound counts
/// live frames only.
#[tokio::test]
async fn a_replay_longer_than_the_outbound_queue_is_delivered() {
    let config = Config::default()
        .outbound_queue(16)
        .resume(Some(Resume::new(Duration::from_secs(10), 1 << 20)));
    let (server, counts) = app_with(config);
    let (addr, handle) = start(server).await;
    let mut alice = Client::connect(&url(addr, "token=alice")).await;
    let (token, _) = session(&mut alice).await;
    drop(alice);
    tokio::time::sleep(Duration::from_millis(200)).await;
    for n in 1..=100 {
        handle.emit(Out::Tick { n }).broadcast().unwrap();
    }
    let mut back = Client::connect(&resume_url(addr, "alice", &token, 0)).await;
    let (_, resumed) = session(&mut back).await;
    assert!(resumed);
    for n in 101..=110 {
        handle.emit(Out::Tick { n }).broadcast().unwrap();
    }
    for n in 1..=110u64 {
        let tick = back.next_frame().await;
        assert_eq!(
            (tick["payload"]["n"].as_u64(), tick["seq"].as_u64()),
            (Some(n), Some(n)),
            "{tick}"
        );
    }
    assert_eq!(counts.disconnects.load(Ordering::SeqCst), 0, "not closed as too slow");
}
