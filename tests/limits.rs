//! Defences of a server facing the open internet, over real loopback sockets: the header-read
//! deadline (slowloris), the Origin allow-list, query parameters that never stand in for
//! trusted headers, the connection cap, the byte bound of the outbound queue, ping floods,
//! and the deadlines of `on_connect`, `on_disconnect` and of a message under way.

mod support;

use garde::Validate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::raw::{self, RawClient};
use support::{Client, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};
use zocket::{
    CallError, ClientId, Config, Ctx, Heartbeat, Json, Outgoing, RateLimit, Reject, Router, Sender, Server, TS, Zocket,
};

#[derive(Debug, Outgoing)]
enum Out {
    #[zocket(route = "test.blob")]
    Blob { data: String },
}

/// The connection headers an app might be tempted to trust.
#[derive(Debug, Clone, Deserialize, Validate, Serialize, TS)]
#[garde(allow_unvalidated)]
struct Seen {
    token: Option<String>,
    origin: Option<String>,
    host: Option<String>,
    cookie: Option<String>,
    authorization: Option<String>,
    #[serde(rename = "x-forwarded-for")]
    forwarded_for: Option<String>,
    #[serde(rename = "x-real-ip")]
    real_ip: Option<String>,
}

async fn seen(seen: Ctx<Seen>) -> Json<Seen> {
    Json(Seen::clone(&seen))
}

async fn ping() -> &'static str {
    "pong"
}

async fn me(id: ClientId) -> ClientId {
    id
}

async fn shout(send: Sender<Out>) -> Result<(), CallError> {
    send.emit(Out::Blob { data: "hi".into() }).broadcast()?;
    Ok(())
}

fn router() -> Router<Out, Seen> {
    Router::new()
        .route("seen", seen)
        .route("ping", ping)
        .route("me", me)
        .route("shout", shout)
}

fn server(config: Config) -> Server<Seen, Out, Seen> {
    let zo = Zocket::<Seen, Out>::new()
        .config(config)
        .on_connect(|headers: Seen, _| async move { Ok::<_, Reject>(headers) });
    zo.server(router())
}

fn url(addr: SocketAddr) -> String {
    format!("ws://{addr}/")
}

/// Resolves once the server has closed `stream` (EOF or reset); panics after `within`.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) {
    let mut buf = [0; 1024];
    loop {
        match tokio::time::timeout(within, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(_)) => continue,
            Err(_) => panic!("still open after {within:?}"),
        }
    }
}

/// A socket that sends the start of an upgrade request and then nothing.
async fn slowloris(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /?token=abcd HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    stream
}

#[tokio::test]
async fn a_request_head_that_does_not_arrive_in_time_is_closed() {
    let config = Config::default().header_read_timeout(Duration::from_millis(500));
    let (addr, _) = start(server(config)).await;
    let mut partial = slowloris(addr).await;
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    closed_by_server(&mut partial, Duration::from_secs(5)).await;
    closed_by_server(&mut silent, Duration::from_secs(5)).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400),
        "closed before the deadline: {took:?}"
    );
    assert!(
        took < Duration::from_secs(3),
        "closed long after the deadline: {took:?}"
    );
}

#[tokio::test]
async fn hundreds_of_slowloris_sockets_do_not_delay_a_normal_client() {
    // Default config: a 10 s deadline, so every one of them is still open while we connect.
    let (addr, _) = start(server(Config::default())).await;
    let mut sockets = Vec::new();
    for _ in 0..300 {
        sockets.push(slowloris(addr).await);
    }
    let started = Instant::now();
    let mut client = Client::connect(&format!("{}?token=t", url(addr))).await;
    assert_eq!(client.ok("ping", Value::Null).await, "pong");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "a normal client took {took:?}");
    // The slowloris sockets were all still open meanwhile.
    let mut open = 0;
    for socket in &mut sockets {
        let mut byte = [0; 1];
        if let Err(_elapsed) = tokio::time::timeout(Duration::from_millis(1), socket.read(&mut byte)).await {
            open += 1;
        }
    }
    assert_eq!(open, 300);
}

/// Tries to connect with an `Origin` header (if any); the HTTP status and JSON body of a
/// refusal, or the open client.
async fn connect_from(target: &str, origin: Option<&str>) -> Result<Client, (u16, Value)> {
    let mut request = target.into_client_request().unwrap();
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(Client::from_stream(ws)),
        Err(tungstenite::Error::Http(response)) => {
            let body = response.body().clone().unwrap_or_default();
            Err((response.status().as_u16(), serde_json::from_slice(&body).unwrap()))
        }
        Err(other) => panic!("unexpected error {other}"),
    }
}

#[tokio::test]
async fn the_origin_allow_list_refuses_other_sites_with_403_before_the_upgrade() {
    let config = Config::default().allowed_origins(["https://app.example"]);
    let (addr, handle) = start(server(config)).await;
    let base = url(addr);

    let refused = connect_from(&base, Some("https://evil.example")).await;
    let Err((status, body)) = refused else {
        panic!("a listed-not-allowed origin was let in")
    };
    assert_eq!(status, 403);
    assert_eq!(body, json!({ "error": "Origin not allowed" }));

    let mut allowed = connect_from(&base, Some("https://app.example"))
        .await
        .expect("allowed origin");
    assert_eq!(allowed.ok("seen", Value::Null).await["origin"], "https://app.example");
    let mut no_origin = connect_from(&base, None).await.expect("no Origin: not a browser page");
    assert_eq!(no_origin.ok("ping", Value::Null).await, "pong");

    // A query parameter never counts as the Origin: not to get in, nor for the app to see.
    let spoofed = format!("{base}?origin=https://app.example");
    let refused = connect_from(&spoofed, Some("https://evil.example")).await;
    assert_eq!(refused.err().map(|(status, _)| status), Some(403));
    let mut plain = connect_from(&spoofed, None).await.expect("no Origin header");
    assert_eq!(plain.ok("seen", Value::Null).await["origin"], Value::Null);
    assert_eq!(handle.client_count(), 3, "refused upgrades never joined the hub");
}

#[tokio::test]
async fn query_parameters_never_stand_in_for_trusted_headers() {
    let (addr, _) = start(server(Config::default())).await;
    let query = "?token=from-query&cookie=evil&authorization=Bearer%20evil&host=evil.example\
                 &x-forwarded-for=6.6.6.6&X-Real-IP=6.6.6.6&origin=https://evil.example";
    let mut request = format!("{}{query}", url(addr)).into_client_request().unwrap();
    request.headers_mut().insert("cookie", "session=real".parse().unwrap());
    request
        .headers_mut()
        .insert("authorization", "Bearer real".parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut client = Client::from_stream(ws);
    let seen = client.ok("seen", Value::Null).await;
    assert_eq!(seen["token"], "from-query", "application headers come from the query");
    assert_eq!(seen["cookie"], "session=real");
    assert_eq!(
        seen["authorization"], "Bearer real",
        "real credentials are never replaced"
    );
    assert_eq!(seen["host"], addr.to_string());
    for trusted in ["x-forwarded-for", "x-real-ip", "origin"] {
        assert_eq!(seen[trusted], Value::Null, "{trusted} came from the query: {seen}");
    }

    // Browser clients cannot set headers: `authorization` may come from the query when the
    // request carries none (as the original client sends it); `cookie` never does.
    let mut browser = Client::connect(&format!("{}?authorization=Bearer%20q&cookie=c", url(addr))).await;
    let seen = browser.ok("seen", Value::Null).await;
    assert_eq!(seen["authorization"], "Bearer q");
    assert_eq!(seen["cookie"], Value::Null);
}

#[tokio::test]
async fn past_max_connections_upgrades_get_503_until_one_leaves() {
    let (addr, handle) = start(server(Config::default().max_connections(2))).await;
    let mut a = Client::connect(&url(addr)).await;
    let mut b = Client::connect(&url(addr)).await;
    assert_eq!(a.ok("ping", Value::Null).await, "pong");
    assert_eq!(b.ok("ping", Value::Null).await, "pong");
    let (status, body) = Client::refused(&url(addr)).await;
    assert_eq!(status, 503);
    assert_eq!(body, json!({ "error": "Server is full" }));
    assert_eq!(handle.client_count(), 2);
    a.close().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut c = loop {
        match connect_from(&url(addr), None).await {
            Ok(client) => break client,
            Err((503, _)) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(other) => panic!("refused after a client left: {other:?}"),
        }
    };
    assert_eq!(c.ok("ping", Value::Null).await, "pong");
}

/// This process's resident memory, in bytes.
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<usize>().unwrap() * 1024
}

#[tokio::test]
async fn a_client_that_never_reads_large_messages_is_closed_once_its_queue_bytes_fill() {
    // Default limits: 1024 frames and 8 MiB. Without the byte bound, 1024 messages of 1 MiB
    // (a gigabyte) would wait for this client before it counted as too slow.
    let (addr, handle) = start(server(Config::default())).await;
    let mut slow = Client::connect(&url(addr)).await;
    let mut healthy = Client::connect(&url(addr)).await;
    let slow_id: ClientId = serde_json::from_value(slow.ok("me", Value::Null).await).unwrap();
    let blob = "z".repeat(1024 * 1024);
    let before = rss();
    let mut sent = 0;
    loop {
        sent += 1;
        let delivery = handle.emit(Out::Blob { data: blob.clone() }).to(&slow_id).unwrap();
        if delivery.dropped > 0 {
            break;
        }
        assert!(sent < 64, "{sent} MiB queued for a client that reads nothing");
        tokio::task::yield_now().await;
    }
    let grown = rss().saturating_sub(before);
    println!(
        "closed as too slow after {sent} messages of 1 MiB; memory grew {} MiB",
        grown >> 20
    );
    assert!(grown < 96 << 20, "memory grew by {} MiB", grown >> 20);
    let close = slow.closed().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 1013);
    assert_eq!(
        healthy.ok("ping", Value::Null).await,
        "pong",
        "others are not disturbed"
    );
}

/// The text frames (parsed as JSON) and the number of pongs the server sends within `within`.
async fn replies(client: &mut RawClient, within: Duration) -> (Vec<Value>, usize) {
    let deadline = tokio::time::Instant::now() + within;
    let (mut texts, mut pongs) = (Vec::new(), 0);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match client.next(left).await {
            Some(frame) if frame.opcode == raw::PONG => pongs += 1,
            Some(frame) if frame.opcode == raw::TEXT => texts.push(serde_json::from_slice(&frame.payload).unwrap()),
            Some(frame) => panic!("unexpected frame {frame:?}"),
            None => return (texts, pongs),
        }
    }
}

#[tokio::test]
async fn a_ping_flood_gets_one_pending_pong_and_is_throttled() {
    let config = Config::default().rate_limit(Some(RateLimit::new(50, 10)));
    let (addr, _) = start(server(config)).await;
    let mut client = RawClient::connect(addr, "/", "").await;
    let flood: Vec<u8> = (0..5000u32)
        .flat_map(|i| raw::frame(true, raw::PING, &i.to_be_bytes()))
        .collect();
    let started = Instant::now();
    client.send(&flood).await;
    let call = json!({"type": "ping", "rpcId": "after", "payload": null}).to_string();
    client.send(&raw::frame(true, raw::TEXT, call.as_bytes())).await;
    let (texts, pongs) = replies(&mut client, Duration::from_millis(1500)).await;
    println!("5000 pings got {pongs} pongs");
    assert!(pongs >= 1, "pings are still answered");
    assert!(pongs <= 40, "{pongs} pongs: they are not coalesced");
    // Past 50 pings and 50 refusals the connection is read only as tokens come (10/s): most
    // of the flood is still unread, so the call after it has no reply yet.
    assert!(texts.is_empty(), "the flood was read at full speed: {texts:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn pings_count_against_the_rate_limit() {
    let config = Config::default().rate_limit(Some(RateLimit::new(5, 1)));
    let (addr, _) = start(server(config)).await;
    let mut client = RawClient::connect(addr, "/", "").await;
    let mut wire: Vec<u8> = (0..5u8).flat_map(|i| raw::frame(true, raw::PING, &[i])).collect();
    let call = json!({"type": "ping", "rpcId": "1", "payload": null}).to_string();
    wire.extend(raw::frame(true, raw::TEXT, call.as_bytes()));
    client.send(&wire).await;
    let (texts, pongs) = replies(&mut client, Duration::from_millis(500)).await;
    assert_eq!(pongs, 1, "five pings in one read: one pong");
    assert_eq!(texts.len(), 1);
    assert_eq!(texts[0]["type"], "__rpc_err");
    assert_eq!(
        texts[0]["payload"]["code"], "RATE_LIMITED",
        "the pings used the burst: {}",
        texts[0]
    );
}

#[tokio::test]
async fn a_hanging_on_disconnect_does_not_hold_up_shutdown() {
    let zo = Zocket::<Seen, Out>::new()
        .config(Config::default().on_disconnect_timeout(Duration::from_millis(300)))
        .on_connect(|headers: Seen, _| async move { Ok::<_, Reject>(headers) })
        .on_disconnect(|_, _| std::future::pending::<()>());
    let (addr, handle) = start(zo.server(router())).await;
    let mut a = Client::connect(&url(addr)).await;
    let mut b = Client::connect(&url(addr)).await;
    assert_eq!(a.ok("ping", Value::Null).await, "pong");
    assert_eq!(b.ok("ping", Value::Null).await, "pong");
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), handle.shutdown())
        .await
        .expect("shutdown waited for hooks that never finish");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(250), "the hooks got their time: {took:?}");
    assert_eq!(handle.client_count(), 0);
}

#[tokio::test]
async fn a_slow_on_connect_is_refused_with_503_at_its_deadline() {
    let zo = Zocket::<Seen, Out>::new()
        .config(Config::default().on_connect_timeout(Duration::from_millis(300)))
        .on_connect(|_: Seen, _| std::future::pending::<Result<Seen, Reject>>());
    let (addr, handle) = start(zo.server(router())).await;
    let started = Instant::now();
    let (status, body) = Client::refused(&url(addr)).await;
    assert_eq!(status, 503);
    assert_eq!(body, json!({ "error": "Connection setup timed out" }));
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(handle.client_count(), 0);
}

#[tokio::test]
async fn a_message_left_unfinished_is_closed_with_1008() {
    let config = Config::default().message_timeout(Duration::from_millis(400));
    let (addr, _) = start(server(config)).await;

    // A fragmented message whose last fragment never comes, pings in between.
    let mut fragments = RawClient::connect(addr, "/", "").await;
    fragments.send(&raw::frame(false, raw::TEXT, b"{\"type\":")).await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        fragments.send_lossy(&raw::frame(true, raw::PING, b"p")).await;
    }
    assert_eq!(fragments.close_code(Duration::from_secs(3)).await, Some(1008));

    // One frame trickled a few bytes at a time, far slower than the deadline allows.
    let mut trickle = RawClient::connect(addr, "/", "").await;
    let started = Instant::now();
    trickle.send(&raw::frame_header(true, raw::TEXT, 1000)).await;
    let code = loop {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the trickle was never cut off"
        );
        trickle.send_lossy(b"          ").await;
        match trickle.next(Duration::from_millis(50)).await {
            Some(frame) if frame.opcode == raw::CLOSE => break frame.close_code(),
            _ => continue,
        }
    };
    assert_eq!(code, Some(1008));
    assert!(started.elapsed() >= Duration::from_millis(350));
}

#[tokio::test]
async fn the_heartbeat_spares_a_client_still_uploading() {
    let heartbeat = Heartbeat::new(Duration::from_millis(100), Duration::from_millis(300));
    let config = Config::default().heartbeat(Some(heartbeat));
    let (addr, _) = start(server(config)).await;
    let mut client = RawClient::connect(addr, "/", "").await;
    let mut call = json!({"type": "ping", "rpcId": "up", "payload": null}).to_string();
    call.push_str(&" ".repeat(2000 - call.len()));
    let frame = raw::frame(true, raw::TEXT, call.as_bytes());
    // One frame over a second, 100 bytes every 50 ms: no room for pongs, yet not silent.
    for chunk in frame.chunks(100) {
        client.send(chunk).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reply = loop {
        let frame = client
            .next(Duration::from_secs(3))
            .await
            .expect("closed while uploading");
        match frame.opcode {
            raw::TEXT => break serde_json::from_slice::<Value>(&frame.payload).unwrap(),
            raw::PING => continue,
            _ => panic!("unexpected frame {frame:?} (close code {:?})", frame.close_code()),
        }
    };
    assert_eq!(reply["rpcId"], "up");
    assert_eq!(reply["payload"], "pong");
}
