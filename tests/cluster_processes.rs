//! Two conformance binaries (`REDIS_URL` set) as separate processes on one real Redis, with
//! clients on each: every contract row holds across the nodes, a Redis outage is logged once
//! and heals by itself, and a node killed without warning leaves the other serving.
//! Run by `scripts/redis-tests`, which builds the binary with `--features redis` first
//! (`ZOCKET_CONFORMANCE_BIN` points at another build).
#![cfg(feature = "redis")]

#[path = "support/redis.rs"]
mod redis;
mod support;

use redis::Redis;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::Client;

const QUIET: Duration = Duration::from_millis(300);

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("ZOCKET_CONFORMANCE_BIN") {
        return path.into();
    }
    // target/debug/deps/cluster_processes-HASH -> target/debug/examples/conformance
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join("examples/conformance");
    assert!(
        path.exists(),
        "{} is missing: cargo build --example conformance --features redis (scripts/redis-tests does)",
        path.display()
    );
    path
}

/// A conformance node in its own process; its log (stderr) is kept.
struct Node {
    child: Child,
    url: String,
    log: Arc<Mutex<String>>,
}

impl Node {
    fn start(redis: &Redis) -> Node {
        Self::start_with(redis, &[])
    }

    /// A node with more environment variables.
    fn start_with(redis: &Redis, env: &[(&str, &str)]) -> Node {
        let mut child = Command::new(binary())
            .envs(env.iter().copied())
            .env("PORT", "0")
            .env("REDIS_URL", redis.url())
            .env("RUST_LOG", "zocket=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            let mut why = String::new();
            let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut why);
            panic!(
                "{} did not start ({why}): is it built with --features redis?",
                binary().display()
            );
        };
        let url = url.to_owned() + "/";
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Node { child, url, log }
    }

    fn count(&self, needle: &str) -> usize {
        self.log.lock().unwrap().matches(needle).count()
    }

    /// Kills the process at once (SIGKILL): no shutdown, no goodbye.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn client(node: &Node, token: &str) -> (Client, String) {
    let mut client = Client::connect(&format!("{}?token={token}", node.url)).await;
    let id = client.ok("whoami", Value::Null).await["clientId"]
        .as_str()
        .unwrap()
        .to_owned();
    (client, id)
}

#[tokio::test]
async fn two_conformance_processes_are_one_app() {
    let mut redis = Redis::start();
    let a = Node::start(&redis);
    let mut b = Node::start(&redis);
    redis.await_subscribers("zocket:all", 2).await;
    redis
        .await_up(|| a.count("connected to Redis") + b.count("connected to Redis") == 2)
        .await;
    let (mut ada, _) = client(&a, "ada").await;
    let (mut amy, _) = client(&a, "amy").await;
    let (mut bob, bob_id) = client(&b, "bob").await;

    // chat.message and system.announce reach both nodes.
    bob.ok("chat.message", json!({"text": "hi"})).await;
    for c in [&mut ada, &mut amy, &mut bob] {
        assert_eq!(c.event("chat.onMessage").await, json!({"text": "hi", "from": "bob"}));
    }
    ada.ok("system.announce", json!({"text": "news"})).await;
    for c in [&mut ada, &mut amy, &mut bob] {
        assert_eq!(c.event("system.announcement").await, json!({"text": "news"}));
    }
    // rooms.send reaches room members on the other node.
    bob.ok("rooms.join", json!({"room": "lobby"})).await;
    redis.await_subscribers("zocket:room:lobby", 1).await;
    ada.ok("rooms.send", json!({"room": "lobby", "text": "knock"})).await;
    assert_eq!(
        bob.event("room.message").await,
        json!({"room": "lobby", "text": "knock", "from": "ada"})
    );
    // direct.send reaches a client on the other node, only it.
    ada.ok("direct.send", json!({"to": bob_id, "text": "psst"})).await;
    assert_eq!(
        bob.event("chat.onMessage").await,
        json!({"text": "psst", "from": "ada"})
    );
    // admin.pushTick reaches all.
    amy.ok("admin.pushTick", json!({"n": 3})).await;
    for c in [&mut ada, &mut amy, &mut bob] {
        assert_eq!(c.event("system.tick").await, json!({"n": 3}));
    }
    // presence.left reaches every node.
    amy.close().await;
    for c in [&mut ada, &mut bob] {
        assert_eq!(c.event("presence.left").await, json!({"userId": "amy", "rooms": []}));
    }
    for c in [&mut ada, &mut bob] {
        c.silent(QUIET).await;
    }

    // Redis away for a while: logged once, local delivery goes on, then it heals by itself.
    redis.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ada.ok("chat.message", json!({"text": "alone"})).await;
    assert_eq!(ada.event("chat.onMessage").await["text"], "alone");
    bob.silent(QUIET).await;
    redis.restart();
    redis.await_subscribers("zocket:all", 2).await;
    redis.await_subscribers("zocket:room:lobby", 1).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while a.count("Redis is back") + b.count("Redis is back") < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no recovery logged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ada.ok("rooms.send", json!({"room": "lobby", "text": "back"})).await;
    assert_eq!(bob.event("room.message").await["text"], "back");
    for node in [&a, &b] {
        assert_eq!(
            node.count("lost Redis"),
            1,
            "outage logged once:\n{}",
            node.log.lock().unwrap()
        );
        assert_eq!(node.count("Redis is back"), 1, "recovery logged once");
    }

    // A node stopped gracefully (ctrl-c): its clients' presence.left leaves before it does.
    let c = Node::start(&redis);
    redis.await_subscribers("zocket:all", 3).await;
    redis.await_up(|| c.count("connected to Redis") == 1).await;
    let (_cat, _) = client(&c, "cat").await;
    let status = Command::new("kill")
        .args(["-INT", &c.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    for client in [&mut ada, &mut bob] {
        assert_eq!(
            client.event("presence.left").await,
            json!({"userId": "cat", "rooms": []})
        );
    }
    redis.await_subscribers("zocket:all", 2).await;

    // Node b dies without warning: its clients lose their connection, node a serves on.
    b.kill();
    assert!(bob.closed().await.is_none(), "a killed node sends no close frame");
    redis.await_subscribers("zocket:all", 1).await;
    redis.await_subscribers("zocket:room:lobby", 0).await;
    ada.ok("chat.message", json!({"text": "still here"})).await;
    assert_eq!(ada.event("chat.onMessage").await["text"], "still here");
    ada.silent(QUIET).await;
}

/// Reads the `__session` frame: (token, resumed).
async fn session(client: &mut Client) -> (String, bool) {
    let frame = client.next_frame().await;
    assert_eq!(frame["type"], "__session", "{frame}");
    let token = frame["payload"]["token"].as_str().unwrap().to_owned();
    (token, frame["payload"]["resumed"].as_bool().unwrap())
}

#[tokio::test]
async fn a_session_resumes_on_another_conformance_process_and_not_from_a_killed_one() {
    let redis = Redis::start();
    let resume = [("RESUME_WINDOW_MS", "10000")];
    let mut a = Node::start_with(&redis, &resume);
    let b = Node::start_with(&redis, &resume);
    redis.await_subscribers("zocket:all", 2).await;
    redis
        .await_up(|| a.count("connected to Redis") + b.count("connected to Redis") == 2)
        .await;

    // Ada, on a, in the lobby, drops without a close frame; amy, on b, talks to the lobby.
    let mut ada = Client::connect(&format!("{}?token=ada", a.url)).await;
    let (token, _) = session(&mut ada).await;
    let before = ada.ok("whoami", Value::Null).await;
    ada.ok("rooms.join", json!({"room": "lobby"})).await;
    redis.await_subscribers("zocket:room:lobby", 1).await;
    drop(ada);
    let mut amy = Client::connect(&format!("{}?token=amy", b.url)).await;
    session(&mut amy).await;
    amy.ok("rooms.send", json!({"room": "lobby", "text": "missed"})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut back = Client::connect(&format!("{}?token=ada&__session={token}&__seq=0", b.url)).await;
    let (_, resumed) = session(&mut back).await;
    assert!(resumed, "resumed on the other process");
    let missed = back.next_frame().await;
    assert_eq!(missed["type"], "room.message", "{missed}");
    assert_eq!(missed["payload"]["text"], "missed");
    assert_eq!(missed["seq"], 1);
    amy.ok("rooms.send", json!({"room": "lobby", "text": "live"})).await;
    let live = back.next_frame().await;
    assert_eq!(
        (live["payload"]["text"].clone(), live["seq"].clone()),
        (json!("live"), json!(2))
    );
    assert_eq!(
        back.ok("whoami", Value::Null).await,
        before,
        "same client id and context"
    );
    // No presence.left for ada: her session did not end.
    amy.silent(QUIET).await;

    // Ann's holder is killed: resuming on b gives a fresh session, quickly.
    let mut ann = Client::connect(&format!("{}?token=ann", a.url)).await;
    let (token, _) = session(&mut ann).await;
    drop(ann);
    a.kill();
    redis.await_subscribers("zocket:all", 1).await;
    let began = std::time::Instant::now();
    let mut fresh = Client::connect(&format!("{}?token=ann&__session={token}&__seq=0", b.url)).await;
    let (_, resumed) = session(&mut fresh).await;
    assert!(!resumed, "the holder is gone: a fresh session");
    assert!(began.elapsed() < Duration::from_secs(5), "within the timeout");

    // Ada leaves for real: presence.left, once.
    back.close().await;
    assert_eq!(
        amy.event("presence.left").await,
        json!({"userId": "ada", "rooms": ["lobby"]})
    );
    amy.silent(QUIET).await;
}
