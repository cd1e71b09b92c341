//! The connection runtime over real sockets: limits, slow consumers, heartbeats, shutdown,
//! layers, and mounting into an existing axum app.

mod support;

use garde::Validate;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::{Client, start};
use zocket::{
    Call, CallError, Config, Heartbeat, Input, Next, NoHeaders, Outgoing, RateLimit, Reply, Router, Sender, Server, TS,
    Zocket,
};

#[derive(Debug, Outgoing)]
enum Out {
    #[zocket(route = "test.blob")]
    Blob { data: String },
    #[zocket(route = "test.hello")]
    Hello { from: String },
}

#[derive(Deserialize, Validate, TS)]
#[garde(allow_unvalidated)]
#[serde(rename_all = "camelCase")]
struct Sleep {
    delay_ms: u64,
}

async fn sleep(Input(s): Input<Sleep>) -> u64 {
    tokio::time::sleep(Duration::from_millis(s.delay_ms)).await;
    s.delay_ms
}

async fn ping() -> &'static str {
    "pong"
}

async fn hello_others(id: zocket::ClientId, send: Sender<Out>) -> Result<usize, CallError> {
    let delivery = send.emit(Out::Hello { from: id.to_string() }).except(&id).broadcast()?;
    Ok(delivery.delivered)
}

async fn me(id: zocket::ClientId) -> zocket::ClientId {
    id
}

#[derive(Deserialize, Validate, TS)]
#[garde(allow_unvalidated)]
#[serde(rename_all = "camelCase")]
struct Tagged {
    delay_ms: u64,
    tag: String,
}

/// Waits, pushes `tag` to the caller itself, then replies with it.
async fn push_then_reply(
    id: zocket::ClientId,
    send: Sender<Out>,
    Input(t): Input<Tagged>,
) -> Result<String, CallError> {
    tokio::time::sleep(Duration::from_millis(t.delay_ms)).await;
    send.emit(Out::Blob { data: t.tag.clone() }).to(&id)?;
    Ok(t.tag)
}

/// Pushes to the caller itself, then replies.
async fn to_self(id: zocket::ClientId, send: Sender<Out>) -> Result<&'static str, CallError> {
    send.emit(Out::Hello { from: id.to_string() }).to(&id)?;
    Ok("replied")
}

fn router() -> Router<Out> {
    Router::new()
        .route("sleep", sleep)
        .route("ping", ping)
        .route("hello", hello_others)
        .route("me", me)
        .route("toSelf", to_self)
        .route("pushThenReply", push_then_reply)
}

fn server(config: Config) -> Server<NoHeaders, Out, ()> {
    let zo = Zocket::<NoHeaders, Out>::new().config(config);
    zo.server(router())
}

/// An `on_disconnect` hook that counts into `gone` the clients it saw leave (each with an id).
fn count_into<C>(
    gone: Arc<AtomicUsize>,
) -> impl Fn(zocket::Disconnected<C>, zocket::Handle<Out>) -> std::future::Ready<()> + Send + Sync + 'static {
    move |left, _| {
        assert_eq!(left.client_id.as_str().len(), 32);
        gone.fetch_add(1, Ordering::SeqCst);
        std::future::ready(())
    }
}

/// A rate limit of bursts of 5, refilled at 1 a second.
fn burst_of_five() -> Config {
    Config::default().rate_limit(Some(RateLimit::new(5, 1)))
}

fn url(addr: std::net::SocketAddr) -> String {
    format!("ws://{addr}/")
}

#[tokio::test]
async fn over_the_rate_limit_messages_get_rate_limited_errors() {
    let (addr, _) = start(server(burst_of_five())).await;
    let mut c = Client::connect(&url(addr)).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(c.start_call("ping", Value::Null).await);
    }
    let mut codes = Vec::new();
    for id in &ids {
        let reply = c.reply(id).await;
        codes.push(if reply["type"] == "__rpc_res" {
            "ok".to_owned()
        } else {
            reply["payload"]["code"].as_str().unwrap().to_owned()
        });
    }
    assert_eq!(codes.iter().filter(|c| *c == "ok").count(), 5, "{codes:?}");
    assert!(codes[5..].iter().all(|c| c == "RATE_LIMITED"), "{codes:?}");
    c.send_json(json!({"type": "ping"})).await;
    let frame = c.next_frame().await;
    assert_eq!(frame["type"], "__error");
    assert_eq!(frame["payload"]["code"], "RATE_LIMITED");
    assert_eq!(frame["payload"]["route"], "ping");
}

#[tokio::test]
async fn oversized_messages_get_payload_too_large_or_close_1009() {
    let config = Config::default().max_message_size(1024);
    let (addr, _) = start(server(config)).await;
    let mut c = Client::connect(&url(addr)).await;
    let err = c.err("sleep", json!({"delayMs": 1, "pad": "x".repeat(1500)})).await;
    assert_eq!(err["code"], "PAYLOAD_TOO_LARGE");
    c.send_json(json!({"type": "ping", "payload": "y".repeat(1500)})).await;
    let frame = c.next_frame().await;
    assert_eq!(
        (frame["type"].as_str(), frame["payload"]["code"].as_str()),
        (Some("__error"), Some("PAYLOAD_TOO_LARGE"))
    );
    assert_eq!(frame["payload"]["route"], "ping");
    assert_eq!(c.ok("ping", Value::Null).await, "pong", "the connection stays open");

    c.send_text_lossy(json!({"type": "ping", "payload": "z".repeat(4096)}).to_string())
        .await;
    let close = c.closed().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 1009);
}

#[tokio::test]
async fn a_client_that_does_not_read_is_disconnected_not_buffered() {
    let config = Config::default().outbound_queue(4);
    let (addr, handle) = start(server(config)).await;
    let mut slow = Client::connect(&url(addr)).await;
    let mut healthy = Client::connect(&url(addr)).await;
    let slow_id = slow.ok("me", Value::Null).await.as_str().unwrap().to_owned();
    // From here on `slow` reads nothing, so its socket and then its queue fill up.
    let blob = "z".repeat(256 * 1024);
    let mut dropped = 0;
    for _ in 0..400 {
        dropped += handle
            .emit(Out::Blob { data: blob.clone() })
            .to(zocket::ClientId::from(slow_id.as_str()))
            .unwrap()
            .dropped;
        if dropped > 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(dropped > 0, "the slow client's queue never filled");
    let close = slow.closed().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 1013);
    assert_eq!(
        healthy.ok("ping", Value::Null).await,
        "pong",
        "others are not disturbed"
    );
}

#[tokio::test]
async fn silent_clients_are_closed_by_the_heartbeat_and_live_ones_stay() {
    let heartbeat = Heartbeat::new(Duration::from_millis(100), Duration::from_millis(350));
    let config = Config::default().heartbeat(Some(heartbeat));
    let (addr, _) = start(server(config)).await;
    let mut live = Client::connect(&url(addr)).await;
    let mut mute = Client::connect(&url(addr)).await;
    // `live` keeps reading (which answers pings); `mute` does not read at all.
    live.silent(Duration::from_millis(800)).await;
    assert_eq!(live.ok("ping", Value::Null).await, "pong");
    let close = mute.closed().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 1001);
    assert_eq!(close.reason.as_str(), "heartbeat timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_is_registered_before_its_upgrade_completes() {
    let (addr, handle) = start(server(Config::default())).await;
    let mut sender = Client::connect(&url(addr)).await;
    let mut open = Vec::new();
    for round in 0..100 {
        // No round trip first: a broadcast sent as soon as the socket is open must reach it.
        let newcomer = Client::connect(&url(addr)).await;
        assert_eq!(
            handle.client_count(),
            round + 2,
            "round {round}: connected but not yet registered"
        );
        open.push(newcomer);
    }
    assert_eq!(sender.ok("hello", Value::Null).await, 100);
    for newcomer in &mut open {
        assert!(newcomer.event("test.hello").await["from"].is_string());
    }
}

#[tokio::test]
async fn graceful_shutdown_closes_everyone_and_runs_on_disconnect() {
    let gone = Arc::new(AtomicUsize::new(0));
    let hook = count_into(gone.clone());
    let zo = Zocket::<NoHeaders, Out>::new().on_disconnect(hook);
    let (addr, handle) = start(zo.server(router())).await;
    let mut a = Client::connect(&url(addr)).await;
    let mut b = Client::connect(&url(addr)).await;
    assert_eq!(a.ok("ping", Value::Null).await, "pong");
    assert_eq!(b.ok("ping", Value::Null).await, "pong");
    assert_eq!(handle.client_count(), 2);
    let stopping = handle.clone();
    let shutdown = tokio::spawn(async move { stopping.shutdown().await });
    for c in [&mut a, &mut b] {
        let close = c.closed().await.expect("a close frame");
        assert_eq!(u16::from(close.code), 1001);
        assert_eq!(close.reason.as_str(), "server shutting down");
    }
    tokio::time::timeout(Duration::from_secs(5), shutdown)
        .await
        .expect("shutdown finishes")
        .unwrap();
    assert_eq!(gone.load(Ordering::SeqCst), 2);
    assert_eq!(handle.client_count(), 0);
    assert!(
        tokio_tungstenite::connect_async(url(addr)).await.is_err(),
        "no new connections after shutdown"
    );
}

/// Three 300 ms calls on one connection whose limits admit only two at once: the third waits.
async fn third_call_waits(config: Config, payload: Value) {
    let (addr, _) = start(server(config)).await;
    let mut c = Client::connect(&url(addr)).await;
    let started = Instant::now();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(c.start_call("sleep", payload.clone()).await);
    }
    for id in &ids {
        assert_eq!(c.reply(id).await["payload"], 300);
    }
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "the third call waited for a free slot"
    );
}

#[tokio::test]
async fn calls_in_flight_are_bounded_per_connection() {
    let config = Config::default().max_in_flight(2);
    third_call_waits(config, json!({"delayMs": 300})).await;
}

#[tokio::test]
async fn bytes_in_flight_are_bounded_per_connection() {
    let config = Config::default().max_in_flight_bytes(1000);
    third_call_waits(config, json!({"delayMs": 300, "pad": "p".repeat(600)})).await;
}

#[tokio::test]
async fn layers_wrap_every_call_and_can_refuse() {
    let seen = Arc::new(parking_lot::Mutex::new(Vec::<(String, bool)>::new()));
    let log = seen.clone();
    let logging = move |call: Call<Out, ()>, next: Next<Out, ()>| {
        let log = log.clone();
        async move {
            let route = call.route().to_owned();
            let outcome = next.run(call).await;
            log.lock().push((route, outcome.is_ok()));
            outcome
        }
    };
    async fn no_sleeping(call: Call<Out, ()>, next: Next<Out, ()>) -> Result<Reply, CallError> {
        if call.route() == "sleep" {
            return Err(CallError::forbidden("no sleeping here"));
        }
        next.run(call).await
    }
    let zo = Zocket::<NoHeaders, Out>::new();
    let (addr, _) = start(zo.server(router().layer(no_sleeping).layer(logging))).await;
    let mut c = Client::connect(&url(addr)).await;
    assert_eq!(c.ok("ping", Value::Null).await, "pong");
    assert_eq!(c.err("sleep", json!({"delayMs": 1})).await["code"], "FORBIDDEN");
    assert_eq!(*seen.lock(), [("ping".to_owned(), true), ("sleep".to_owned(), false)]);
}

#[tokio::test]
async fn mounts_into_an_existing_axum_app_at_any_path() {
    let zo = Zocket::<NoHeaders, Out>::new();
    let server = zo.server(router());
    let app = axum::Router::new()
        .route("/api/live", server.method_router())
        .route("/health", axum::routing::get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut c = Client::connect(&format!("ws://{addr}/api/live")).await;
    assert_eq!(c.ok("ping", Value::Null).await, "pong");
    let mut b = Client::connect(&format!("ws://{addr}/api/live")).await;
    assert_eq!(
        b.ok("hello", Value::Null).await,
        1,
        "sent to the other client, not back to the caller"
    );
    assert_eq!(c.event("test.hello").await["from"].as_str().unwrap().len(), 32);
}

#[tokio::test]
async fn after_shutdown_a_mounted_endpoint_refuses_upgrades_with_503() {
    let zo = Zocket::<NoHeaders, Out>::new();
    let router = router();
    let server = zo.server(router);
    let handle = server.handle();
    let app = axum::Router::new().route("/ws", server.method_router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut before = Client::connect(&format!("ws://{addr}/ws")).await;
    assert_eq!(before.ok("ping", Value::Null).await, "pong");
    let stopping = handle.clone();
    let shutdown = tokio::spawn(async move { stopping.shutdown().await });
    assert_eq!(u16::from(before.closed().await.expect("a close frame").code), 1001);
    shutdown.await.unwrap();
    let (status, body) = Client::refused(&format!("ws://{addr}/ws")).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"], "Server is shutting down");
}

#[tokio::test]
async fn a_plain_http_request_gets_a_json_error() {
    let (addr, _) = start(server(Config::default())).await;
    let response = raw_http(addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 4"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("content-type: application/json"),
        "{head}"
    );
    let body: Value = serde_json::from_str(body).unwrap();
    assert!(body["error"].as_str().unwrap().len() > 5);
}

async fn raw_http(addr: std::net::SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    out
}

#[tokio::test]
async fn a_message_sent_just_before_closing_still_runs() {
    let (addr, _) = start(server(Config::default())).await;
    let mut observer = Client::connect(&url(addr)).await;
    for round in 0..30 {
        let mut leaving = Client::connect(&url(addr)).await;
        // Fire-and-forget, then close at once: the broadcast must still happen.
        leaving.send_and_close(json!({"type": "hello"})).await;
        assert!(observer.event("test.hello").await["from"].is_string(), "round {round}");
    }
}

#[tokio::test]
async fn a_handlers_own_pushes_arrive_before_its_reply() {
    let (addr, _) = start(server(Config::default())).await;
    let mut c = Client::connect(&url(addr)).await;
    for _ in 0..50 {
        let id = c.start_call("toSelf", Value::Null).await;
        let first = c.next_frame().await;
        assert_eq!(first["type"], "test.hello", "the push comes first: {first}");
        let second = c.next_frame().await;
        assert_eq!(
            (second["type"].as_str(), second["rpcId"].as_str()),
            (Some("__rpc_res"), Some(id.as_str()))
        );
    }
}

#[tokio::test]
async fn malformed_frames_count_against_the_rate_limit() {
    let (addr, _) = start(server(burst_of_five())).await;
    let mut c = Client::connect(&url(addr)).await;
    for _ in 0..8 {
        c.send_text("[]").await;
    }
    let mut codes = Vec::new();
    for _ in 0..8 {
        codes.push(c.next_frame().await["payload"]["code"].as_str().unwrap().to_owned());
    }
    assert_eq!(codes[..5], ["BAD_REQUEST"; 5]);
    assert_eq!(codes[5..], ["RATE_LIMITED"; 3]);
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_slow_on_connect() {
    let gone = Arc::new(AtomicUsize::new(0));
    let hook = count_into(gone.clone());
    let zo = Zocket::<NoHeaders, Out>::new()
        .on_connect(|_: NoHeaders, _: zocket::ClientId| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        })
        .on_disconnect(hook);
    let (addr, handle) = start(zo.server(router())).await;
    let connecting = tokio::spawn(async move { tokio_tungstenite::connect_async(url(addr)).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(Duration::from_secs(5), handle.shutdown())
        .await
        .expect("shutdown does not wait 60 s");
    match connecting.await.unwrap() {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("expected a 503 refusal, got {other:?}"),
    }
    assert_eq!(
        gone.load(Ordering::SeqCst),
        0,
        "no context was built, so no on_disconnect is owed"
    );
}

#[tokio::test]
async fn pushes_precede_their_replies_when_many_calls_finish_together() {
    let (addr, _) = start(server(Config::default())).await;
    let mut c = Client::connect(&url(addr)).await;
    for round in 0..5 {
        for n in 0..30 {
            c.start_call("pushThenReply", json!({"delayMs": 50, "tag": format!("{round}-{n}")}))
                .await;
        }
        let mut pushed = std::collections::HashSet::new();
        let mut replies = 0;
        while replies < 30 {
            let frame = c.next_frame().await;
            if frame["type"] == "test.blob" {
                pushed.insert(frame["payload"]["data"].as_str().unwrap().to_owned());
            } else {
                let tag = frame["payload"].as_str().unwrap();
                assert!(pushed.contains(tag), "the reply {tag} came before its own push");
                replies += 1;
            }
        }
    }
}

#[tokio::test]
async fn many_calls_sent_back_to_back_all_get_their_replies() {
    let (addr, _) = start(server(Config::default())).await;
    let mut c = Client::connect(&url(addr)).await;
    for _ in 0..5 {
        // Sent without waiting: they arrive together, finish together, and their replies
        // go out in batches.
        let mut ids = Vec::new();
        for _ in 0..100 {
            ids.push(c.start_call("ping", json!(null)).await);
        }
        for id in ids {
            let reply = tokio::time::timeout(Duration::from_secs(10), c.reply(&id))
                .await
                .unwrap_or_else(|_| panic!("no reply to {id}"));
            assert_eq!(reply["payload"], "pong");
        }
    }
}

#[tokio::test]
async fn a_paused_reader_is_not_taken_for_a_silent_client() {
    let heartbeat = Heartbeat::new(Duration::from_millis(100), Duration::from_millis(300));
    let config = Config::default().max_in_flight(1).heartbeat(Some(heartbeat));
    let (addr, _) = start(server(config)).await;
    let mut c = Client::connect(&url(addr)).await;
    // While this call runs the server reads nothing from the socket, pongs included.
    assert_eq!(c.ok("sleep", json!({"delayMs": 1000})).await, 1000);
    assert_eq!(c.ok("ping", Value::Null).await, "pong");
}

#[tokio::test]
async fn error_frames_do_not_echo_long_routes_back() {
    let (addr, _) = start(server(Config::default())).await;
    let mut c = Client::connect(&url(addr)).await;
    let route = "r".repeat(100_000);
    c.send_json(json!({"type": route})).await;
    let frame = c.next_frame().await;
    assert_eq!(frame["payload"]["code"], "NOT_FOUND");
    assert_eq!(frame["payload"]["route"].as_str().unwrap().len(), 256);
    assert!(frame.to_string().len() < 1024);
}

#[tokio::test]
async fn on_disconnect_set_before_on_connect_still_runs() {
    let gone = Arc::new(AtomicUsize::new(0));
    let hook = count_into(gone.clone());
    let zo = Zocket::<NoHeaders, Out>::new()
        .on_disconnect(hook)
        .on_connect(|_: NoHeaders, id: zocket::ClientId| async move { Ok(id.to_string()) });
    let (addr, _) = start(zo.server(Router::<Out, String>::new().route("ping", ping))).await;
    let mut c = Client::connect(&url(addr)).await;
    assert_eq!(c.ok("ping", Value::Null).await, "pong");
    c.close().await;
    tokio::time::timeout(Duration::from_secs(5), async {
        while gone.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the hook ran");
}
