//! The examples, driven over real loopback sockets against their own code (`examples/*.rs`).
// Each example includes the shared `examples/support/run.rs` as its own module.
#![allow(clippy::duplicate_mod)]

#[path = "../examples/announce.rs"]
#[allow(dead_code)]
mod announce;
#[path = "../examples/chat.rs"]
#[allow(dead_code)]
mod chat;
#[path = "../examples/complete.rs"]
#[allow(dead_code)]
mod complete;
#[path = "../examples/header_validation.rs"]
#[allow(dead_code)]
mod header_validation;
#[path = "../examples/lifecycle.rs"]
#[allow(dead_code)]
mod lifecycle;
#[path = "../examples/push.rs"]
#[allow(dead_code)]
mod push;
mod support;
#[path = "../examples/user_context.rs"]
#[allow(dead_code)]
mod user_context;

use futures_util::future::join_all;
use serde_json::{Value, json};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::{Client, WAIT, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const QUIET: Duration = Duration::from_millis(150);
const API_KEY: &str = "6f1c2a4e-0b3d-4c5e-9f70-1a2b3c4d5e6f";

/// The `path` of every entry of a refusal's `details` (or an error's `issues`), sorted.
fn paths(list: &Value) -> Vec<Value> {
    let mut paths: Vec<Value> = list
        .as_array()
        .expect("a list of issues")
        .iter()
        .map(|i| i["path"].clone())
        .collect();
    paths.sort_by_key(Value::to_string);
    paths
}

// ---------- header_validation ----------

#[tokio::test]
async fn header_validation_refuses_bad_headers_with_every_detail() {
    let (addr, _handle) = start(header_validation::app()).await;

    let (status, body) = Client::refused(&format!("ws://{addr}/")).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "Invalid headers");
    assert_eq!(paths(&body["details"]), [json!(["api-key"]), json!(["authorization"])]);

    let url = format!("ws://{addr}/?authorization=Token%20abc&api-key=not-a-uuid");
    let (status, body) = Client::refused(&url).await;
    assert_eq!(status, 400);
    assert_eq!(paths(&body["details"]), [json!(["api-key"]), json!(["authorization"])]);
    assert!(body["details"][0]["message"].as_str().unwrap().len() > 3, "{body}");

    // "Bearer " with nothing after it, and a user agent that is too long.
    let agent = "x".repeat(257);
    let url = format!("ws://{addr}/?authorization=Bearer%20&api-key={API_KEY}&user-agent={agent}");
    let (status, body) = Client::refused(&url).await;
    assert_eq!(status, 400);
    assert_eq!(
        paths(&body["details"]),
        [json!(["authorization"]), json!(["user-agent"])]
    );
}

#[tokio::test]
async fn header_validation_accepts_real_headers_and_query_parameters() {
    let (addr, _handle) = start(header_validation::app()).await;

    let mut request = format!("ws://{addr}/").into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert("authorization", "Bearer secret".parse().unwrap());
    headers.insert("api-key", API_KEY.to_uppercase().parse().unwrap());
    headers.insert("user-agent", "zocket-tests/1".parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut c = Client::from_stream(ws);
    let me = c.ok("whoami", Value::Null).await;
    assert_eq!(
        me,
        json!({"apiKey": API_KEY.to_uppercase(), "userAgent": "zocket-tests/1"})
    );

    let mut c = Client::connect(&format!("ws://{addr}/?authorization=Bearer%20x&api-key={API_KEY}")).await;
    assert_eq!(c.ok("whoami", Value::Null).await["apiKey"], API_KEY);
}

// ---------- user_context ----------

#[tokio::test]
async fn user_context_refuses_unknown_and_suspended_tokens() {
    let (addr, _handle) = start(user_context::app()).await;
    let (status, body) = Client::refused(&format!("ws://{addr}/?token=nope")).await;
    assert_eq!((status, body), (401, json!({"error": "Invalid token"})));
    let (status, body) = Client::refused(&format!("ws://{addr}/?token=tok-eve")).await;
    assert_eq!((status, body), (403, json!({"error": "Account suspended"})));
    let (status, body) = Client::refused(&format!("ws://{addr}/")).await;
    assert_eq!(status, 400);
    assert_eq!(paths(&body["details"]), [json!(["token"])]);
}

#[tokio::test]
async fn user_context_is_what_on_connect_returned() {
    let (addr, _handle) = start(user_context::app()).await;
    let mut ada = Client::connect(&format!("ws://{addr}/?token=tok-ada")).await;
    let me = ada.ok("whoami", Value::Null).await;
    assert_eq!(
        me,
        json!({"userId": "u1", "username": "Ada", "role": "admin", "isAuthenticated": true})
    );
    assert_eq!(ada.ok("admin.stats", Value::Null).await, "Ada is looking at the stats");

    let mut bob = Client::connect(&format!("ws://{addr}/?token=tok-bob")).await;
    assert_eq!(bob.ok("whoami", Value::Null).await["role"], "member");
    let err = bob.err("admin.stats", Value::Null).await;
    assert_eq!(err["code"], "FORBIDDEN");
}

// ---------- lifecycle ----------

/// Collects formatted log lines.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// The first line containing `needle`, waiting for it to be logged.
    async fn line(&self, needle: &str) -> String {
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some(line) = self.text().lines().find(|l| l.contains(needle)) {
                    return line.to_owned();
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("nothing logged {needle:?}; logs:\n{}", self.text()))
    }
}

// A current-thread runtime (the default), so every task logs through this thread's subscriber.
#[tokio::test]
async fn lifecycle_logs_connect_and_disconnect_with_rooms_and_duration() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (addr, _handle) = start(lifecycle::app()).await;
    let (status, _) = Client::refused(&format!("ws://{addr}/")).await;
    assert_eq!(status, 400, "the user header is required");

    let mut c = Client::connect(&format!("ws://{addr}/?user=ada")).await;
    let connected = logs.line(" connected").await;
    assert!(
        connected.contains("user=ada") && connected.contains("client_id="),
        "{connected}"
    );
    assert_eq!(c.ok("rooms.join", json!({"room": "lobby"})).await, json!(["lobby"]));
    assert_eq!(
        c.ok("rooms.join", json!({"room": "dev"})).await,
        json!(["dev", "lobby"])
    );
    tokio::time::sleep(Duration::from_millis(30)).await;
    drop(c);

    let gone = logs.line("disconnected").await;
    assert!(gone.contains("user=ada"), "{gone}");
    assert!(gone.contains(r#"rooms=["dev", "lobby"]"#), "{gone}");
    let duration: u64 = gone
        .split("duration_ms=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((30..5000).contains(&duration), "{gone}");
}

// ---------- complete ----------

#[tokio::test]
async fn complete_example_builds_the_context_from_headers() {
    let (addr, _handle) = start(complete::app()).await;
    let (status, body) = Client::refused(&format!("ws://{addr}/?token=")).await;
    assert_eq!(status, 400);
    assert_eq!(paths(&body["details"]), [json!(["token"])]);
    let (status, body) = Client::refused(&format!("ws://{addr}/?token=forged")).await;
    assert_eq!((status, body), (401, json!({"error": "Authentication failed"})));

    let mut ada = Client::connect(&format!("ws://{addr}/?token=valid-ada")).await;
    let me = ada.ok("whoami", Value::Null).await;
    let expected = json!({
        "userId": "user-ada", "username": "ada", "role": "user",
        "email": "ada@example.com", "clientVersion": "1.0.0",
    });
    assert_eq!(me, expected, "client-version defaults to 1.0.0");

    let mut root = Client::connect(&format!("ws://{addr}/?token=valid-root&client-version=2.1.0")).await;
    let me = root.ok("whoami", Value::Null).await;
    assert_eq!((&me["role"], &me["clientVersion"]), (&json!("admin"), &json!("2.1.0")));

    assert_eq!(ada.ok("rooms.join", json!({"room": "b"})).await, json!(["b"]));
    assert_eq!(ada.ok("rooms.join", json!({"room": "a"})).await, json!(["a", "b"]));
    let err = ada.err("rooms.join", json!({"room": ""})).await;
    assert_eq!(
        (err["code"].clone(), paths(&err["issues"])),
        (json!("INVALID_INPUT"), vec![json!(["room"])])
    );
}

// ---------- announce ----------

#[tokio::test]
async fn announce_broadcasts_to_every_client() {
    let (addr, _handle) = start(announce::app()).await;
    let mut a = Client::connect(&format!("ws://{addr}/?authorization=alice")).await;
    let mut b = Client::connect(&format!("ws://{addr}/")).await;
    assert_eq!(a.ok("system.announce", json!({"text": "hello all"})).await, Value::Null);
    assert_eq!(a.event("system.announcement").await, json!({"text": "hello all"}));
    assert_eq!(b.event("system.announcement").await, json!({"text": "hello all"}));

    let err = b.err("system.announce", json!({"text": ""})).await;
    assert_eq!(err["code"], "INVALID_INPUT");
    a.silent(QUIET).await;
}

// ---------- push ----------

#[tokio::test]
async fn push_ticks_reach_every_client_until_shutdown() {
    let (addr, handle) = start(push::app_with_period(Duration::from_millis(100))).await;
    let mut a = Client::connect(&format!("ws://{addr}/")).await;
    let mut b = Client::connect(&format!("ws://{addr}/")).await;
    for _ in 0..2 {
        assert_eq!(a.event("system.announcement").await, json!({"text": "Tick"}));
        assert_eq!(b.event("system.announcement").await, json!({"text": "Tick"}));
    }
    let stopping = tokio::spawn(async move { handle.shutdown().await });
    for mut client in [a, b] {
        assert_eq!(client.closed().await.map(|f| u16::from(f.code)), Some(1001));
        drop(client); // hang up rather than wait for the close handshake to time out
    }
    tokio::time::timeout(WAIT, stopping).await.unwrap().unwrap();
}

// ---------- chat ----------

async fn start_chat() -> (SocketAddr, zocket::Handle<chat::Out>) {
    start_chat_serving(chat::web_dir()).await
}

/// The chat site, serving its page's files from `web`.
async fn start_chat_serving(web: std::path::PathBuf) -> (SocketAddr, zocket::Handle<chat::Out>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = chat::app();
    let handle = server.handle();
    let site = chat::site(&server, web);
    tokio::spawn(async move { axum::serve(listener, site).await.unwrap() });
    (addr, handle)
}

async fn nick(addr: SocketAddr, nick: &str) -> Client {
    Client::connect(&format!("ws://{addr}/ws?nick={nick}")).await
}

fn now_ms() -> u64 {
    u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

#[tokio::test]
async fn chat_members_join_talk_and_leave() {
    let (addr, _handle) = start_chat().await;
    let mut ann = nick(addr, "ann").await;
    let mut bob = nick(addr, "bob").await;

    let joined = ann.ok("chat.join", json!({"room": "lobby"})).await;
    assert_eq!(joined, json!({"room": "lobby", "history": [], "members": ["ann"]}));
    let joined = bob.ok("chat.join", json!({"room": "lobby"})).await;
    assert_eq!(joined["members"], json!(["ann", "bob"]));
    assert_eq!(ann.event("chat.joined").await, json!({"room": "lobby", "nick": "bob"}));
    // Joining again changes nothing and tells no one.
    assert_eq!(
        bob.ok("chat.join", json!({"room": "lobby"})).await["members"],
        json!(["ann", "bob"])
    );

    let before = now_ms();
    assert_eq!(
        bob.ok("chat.send", json!({"room": "lobby", "text": "hi ann"})).await,
        Value::Null
    );
    for client in [&mut ann, &mut bob] {
        let m = client.event("chat.message").await;
        assert_eq!(
            (&m["room"], &m["from"], &m["text"]),
            (&json!("lobby"), &json!("bob"), &json!("hi ann"))
        );
        let ts = m["ts"].as_u64().expect("ts is a number");
        assert!(
            ts >= before && ts <= now_ms(),
            "ts {ts} is milliseconds since the epoch"
        );
    }
    ann.ok("chat.send", json!({"room": "lobby", "text": "hello bob"})).await;
    assert_eq!(bob.event("chat.message").await["text"], "hello bob");
    assert_eq!(ann.event("chat.message").await["text"], "hello bob");

    // A late joiner gets the history, oldest first.
    let mut cat = nick(addr, "cat").await;
    let joined = cat.ok("chat.join", json!({"room": "lobby"})).await;
    let texts: Vec<&Value> = joined["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["text"])
        .collect();
    assert_eq!(texts, [&json!("hi ann"), &json!("hello bob")]);
    assert_eq!(joined["history"][0]["from"], "bob");
    assert_eq!(joined["members"], json!(["ann", "bob", "cat"]));
    ann.event("chat.joined").await;
    bob.event("chat.joined").await;

    // Leaving: the reply is the rooms left, the others hear of it.
    assert_eq!(
        bob.ok("chat.join", json!({"room": "dev"})).await["members"],
        json!(["bob"])
    );
    assert_eq!(bob.ok("chat.leave", json!({"room": "lobby"})).await, json!(["dev"]));
    assert_eq!(ann.event("chat.left").await, json!({"room": "lobby", "nick": "bob"}));
    assert_eq!(cat.event("chat.left").await, json!({"room": "lobby", "nick": "bob"}));
    assert_eq!(bob.ok("chat.leave", json!({"room": "lobby"})).await, json!(["dev"]));

    // A non-member may not send.
    let err = bob
        .err("chat.send", json!({"room": "lobby", "text": "let me in"}))
        .await;
    assert_eq!(err["code"], "FORBIDDEN");

    let rooms = ann.ok("chat.rooms", Value::Null).await;
    assert_eq!(
        rooms,
        json!([{"room": "dev", "members": 1}, {"room": "lobby", "members": 2}])
    );

    // Disconnecting counts as leaving every room.
    drop(cat);
    assert_eq!(ann.event("chat.left").await, json!({"room": "lobby", "nick": "cat"}));
    assert_eq!(
        ann.ok("chat.join", json!({"room": "dev"})).await["members"],
        json!(["ann", "bob"])
    );
    drop(bob);
    assert_eq!(ann.event("chat.left").await, json!({"room": "dev", "nick": "bob"}));
    let rooms = ann.ok("chat.rooms", Value::Null).await;
    assert_eq!(
        rooms,
        json!([{"room": "dev", "members": 1}, {"room": "lobby", "members": 1}])
    );
    ann.silent(QUIET).await;
}

#[tokio::test]
async fn chat_validates_nicks_and_payloads() {
    let (addr, _handle) = start_chat().await;
    for url in ["/ws", "/ws?nick=", &format!("/ws?nick={}", "n".repeat(25))] {
        let (status, body) = Client::refused(&format!("ws://{addr}{url}")).await;
        assert_eq!(status, 400, "{url}");
        assert_eq!(paths(&body["details"]), [json!(["nick"])], "{url}");
    }
    let mut c = nick(addr, &"%C3%A9".repeat(24)).await; // "é" 24 times: characters, not bytes
    assert_eq!(
        c.ok("chat.join", json!({"room": "r".repeat(32)})).await["history"],
        json!([])
    );
    let err = c.err("chat.join", json!({"room": "r".repeat(33)})).await;
    assert_eq!(
        (err["code"].clone(), paths(&err["issues"])),
        (json!("INVALID_INPUT"), vec![json!(["room"])])
    );
    let err = c.err("chat.send", json!({"room": "", "text": ""})).await;
    assert_eq!(paths(&err["issues"]), [json!(["room"]), json!(["text"])]);
    let err = c
        .err("chat.send", json!({"room": "r".repeat(32), "text": "x".repeat(501)}))
        .await;
    assert_eq!(paths(&err["issues"]), [json!(["text"])]);
    c.ok("chat.send", json!({"room": "r".repeat(32), "text": "é".repeat(500)}))
        .await;
}

#[tokio::test]
async fn chat_keeps_the_last_fifty_messages() {
    let (addr, _handle) = start_chat().await;
    let mut ann = nick(addr, "ann").await;
    ann.ok("chat.join", json!({"room": "lobby"})).await;
    let ids = {
        let mut ids = Vec::new();
        for n in 1..=chat::HISTORY + 5 {
            ids.push(
                ann.start_call("chat.send", json!({"room": "lobby", "text": format!("m{n}")}))
                    .await,
            );
        }
        ids
    };
    for id in ids {
        assert_eq!(ann.reply(&id).await["type"], "__rpc_res");
    }
    let mut bob = nick(addr, "bob").await;
    let history = bob.ok("chat.join", json!({"room": "lobby"})).await["history"].clone();
    let texts: Vec<String> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (6..=chat::HISTORY + 5).map(|n| format!("m{n}")).collect();
    assert_eq!(texts, expected);
}

/// Joins every room, pipelined.
async fn join_every(client: &mut Client, rooms: Vec<String>) {
    let mut ids = Vec::new();
    for room in rooms {
        ids.push(client.start_call("chat.join", json!({"room": room})).await);
    }
    for id in ids {
        let reply = client.reply(&id).await;
        assert_eq!(reply["type"], "__rpc_res", "{reply}");
    }
}

#[tokio::test]
async fn chat_rooms_are_bounded_and_idle_histories_freed() {
    let (addr, _handle) = start_chat().await;
    let mut ann = nick(addr, "ann").await;
    ann.ok("chat.join", json!({"room": "old"})).await;
    ann.ok("chat.send", json!({"room": "old", "text": "remember me"})).await;
    ann.ok("chat.leave", json!({"room": "old"})).await;

    // 999 more rooms, all occupied: with "old", the registry is full. Four members share them,
    // since one client may be in at most 256 rooms.
    let names: Vec<String> = (0..chat::MAX_ROOMS - 1).map(|n| format!("r{n}")).collect();
    let mut members = Vec::new();
    for name in ["bob", "cat", "eve", "fay"] {
        members.push(nick(addr, name).await);
    }
    join_all(
        members
            .iter_mut()
            .zip(names.chunks(250))
            .map(|(member, rooms)| join_every(member, rooms.to_vec())),
    )
    .await;

    // A new room frees the idlest empty one ("old"); once none is empty, new rooms are refused.
    assert_eq!(ann.ok("chat.join", json!({"room": "new"})).await["history"], json!([]));
    let mut dan = nick(addr, "dan").await;
    let err = dan.err("chat.join", json!({"room": "another"})).await;
    assert_eq!(err["code"], "FORBIDDEN");
    ann.ok("chat.leave", json!({"room": "new"})).await;
    let rejoined = dan.ok("chat.join", json!({"room": "old"})).await;
    assert_eq!(rejoined["history"], json!([]), "the history of \"old\" was freed");
    let rooms = dan.ok("chat.rooms", Value::Null).await;
    assert_eq!(rooms.as_array().unwrap().len(), chat::MAX_ROOMS);
}

/// `GET path` over a raw socket: the status code, the content type and the body.
async fn http_get(addr: SocketAddr, path: &str) -> (u16, Option<String>, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete response");
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let content_type = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map(|(_, value)| value.trim().to_ascii_lowercase());
    (status, content_type, body.to_owned())
}

#[tokio::test]
async fn chat_serves_its_built_page() {
    let web = std::env::temp_dir().join(format!("zocket-chat-web-{}", zocket::ClientId::random()));
    std::fs::create_dir_all(web.join("assets")).unwrap();
    std::fs::write(web.join("index.html"), "<!doctype html><title>chat</title>").unwrap();
    std::fs::write(web.join("app.js"), "console.log('chat');").unwrap();
    std::fs::write(web.join("assets/app.css"), "body{}").unwrap();
    let (addr, _handle) = start_chat_serving(web.clone()).await;

    let (status, content_type, body) = http_get(addr, "/").await;
    assert_eq!(status, 200);
    assert!(content_type.is_some_and(|ct| ct.starts_with("text/html")));
    assert_eq!(body, "<!doctype html><title>chat</title>");
    let (status, content_type, body) = http_get(addr, "/app.js").await;
    assert_eq!((status, body.as_str()), (200, "console.log('chat');"));
    assert!(content_type.is_some_and(|ct| ct.starts_with("text/javascript")));
    let (status, content_type, _) = http_get(addr, "/assets/app.css").await;
    assert_eq!(status, 200);
    assert!(content_type.is_some_and(|ct| ct.starts_with("text/css")));

    // Nothing outside the directory, nothing hidden, nothing missing.
    for path in [
        "/missing.js",
        "/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/.hidden",
        "/assets/../../x",
    ] {
        assert_eq!(http_get(addr, path).await.0, 404, "{path}");
    }
    std::fs::remove_dir_all(web).unwrap();
}

#[tokio::test]
async fn chat_says_how_to_build_a_missing_page() {
    let web = std::env::temp_dir().join(format!("zocket-chat-none-{}", zocket::ClientId::random()));
    let (addr, _handle) = start_chat_serving(web).await;
    let (status, content_type, body) = http_get(addr, "/").await;
    assert_eq!(status, 503);
    assert!(content_type.is_some_and(|ct| ct.starts_with("text/html")));
    assert!(
        body.contains("has not been built") && body.contains("scripts/chat"),
        "{body}"
    );
}
