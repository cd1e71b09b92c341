//! Soak and abuse tests against the soak server (`examples/soak_server.rs`) in its own process,
//! so its memory and file descriptors can be read from `/proc`. Ignored by a plain `cargo
//! test`: `scripts/soak` builds the server in release mode and runs them (`SOAK_SECONDS`, 60 by
//! default, sets the length of the churn and flood phases; `SOAK_CLIENTS`, 1000 by default).
//!
//! - churn: clients in rooms sending room messages, a tenth of them dropping abruptly (no close
//!   frame: half with a FIN, half with a reset) and reconnecting; afterwards no client or room
//!   is left in the hub and the server's memory is back near where it was after a warm-up.
//! - flood: a message flooder and a ping flooder are held to the rate limit while other
//!   clients' round-trip p99 stays within twice that of the undisturbed phases.
//! - slow reader: a client that reads nothing while 1 MiB messages are sent to it is closed
//!   once its queue's bytes fill, and the server's memory stays bounded.
//! - slowloris: 500 sockets that never finish their request do not delay new clients, and the
//!   server closes them at the header-read deadline.

mod support;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use support::raw::{self, RawClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn soak_seconds() -> u64 {
    env_or("SOAK_SECONDS", 60).max(5)
}

/// The soak server, in its own process; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start() -> Server {
        let path = std::env::var("ZOCKET_SOAK_SERVER")
            .expect("ZOCKET_SOAK_SERVER: the path of the soak_server example (scripts/soak sets it)");
        let mut child = Command::new(path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the soak server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().rsplit(':').next().unwrap().parse::<u16>().expect(&line);
        Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// `/stats`: clients and rooms in the hub, resident memory, open file descriptors.
    async fn stats(&self) -> Value {
        let mut stream = TcpStream::connect(self.addr).await.unwrap();
        stream
            .write_all(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let body = response.split_once("\r\n\r\n").expect("an HTTP response").1;
        serde_json::from_str(body).unwrap()
    }

    async fn rss_mib(&self) -> f64 {
        self.stats().await["rss"].as_f64().unwrap() / f64::from(1 << 20)
    }

    /// Waits until the hub has `clients` clients and no room; panics after `within`.
    async fn settle(&self, clients: u64, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let stats = self.stats().await;
            if stats["clients"] == clients && stats["rooms"] == 0 {
                return stats;
            }
            assert!(Instant::now() < deadline, "the hub did not settle: {stats}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn connect(url: &str) -> Ws {
    let mut tries = 0;
    loop {
        match tokio_tungstenite::connect_async(url).await {
            Ok((ws, _)) => return ws,
            Err(error) => {
                tries += 1;
                assert!(tries < 50, "cannot connect: {error}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Sends a call and waits for its reply, answering nothing else; returns the reply.
async fn call(ws: &mut Ws, id: &str, route: &str, payload: Value) -> Value {
    let frame = json!({"type": route, "payload": payload, "rpcId": id});
    ws.send(Message::text(frame.to_string())).await.unwrap();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("no reply in 10 s")
            .expect("closed")
            .unwrap();
        if let Message::Text(text) = message {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["rpcId"] == id {
                return value;
            }
        }
    }
}

/// Drops a connection without a close frame: with a reset, or with a FIN.
fn drop_abruptly(ws: Ws, reset: bool) {
    if reset {
        if let MaybeTlsStream::Plain(tcp) = ws.get_ref() {
            tcp.set_zero_linger().unwrap();
        }
    }
    drop(ws);
}

#[derive(Default)]
struct Counts {
    connects: AtomicU64,
    drops: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
}

/// One member of the churn: joins its room, says something every ~2 s, reads everything; a
/// churning member drops its connection abruptly every few seconds and comes back.
async fn member(url: String, index: usize, until: Instant, churns: bool, counts: Arc<Counts>) {
    let room = format!("room-{}", index % 50);
    let mut round = 0u64;
    while Instant::now() < until {
        round += 1;
        let mut ws = connect(&url).await;
        counts.connects.fetch_add(1, Ordering::Relaxed);
        let joined = call(&mut ws, "join", "join", json!({ "room": room })).await;
        assert_eq!(joined["type"], "__rpc_res", "{joined}");
        let stay = if churns {
            Duration::from_millis(1000 + (index as u64 * 7919 + round * 104_729) % 4000)
        } else {
            until.saturating_duration_since(Instant::now())
        };
        let leave_at = (Instant::now() + stay).min(until);
        let mut next_say = tokio::time::Instant::now() + Duration::from_millis((index as u64 * 37) % 2000);
        loop {
            tokio::select! {
                message = ws.next() => match message {
                    Some(Ok(Message::Text(_))) => { counts.received.fetch_add(1, Ordering::Relaxed); }
                    Some(Ok(_)) => {}
                    _ => panic!("member {index} lost its connection"),
                },
                () = tokio::time::sleep_until(next_say) => {
                    let say = json!({"type": "say", "payload": {"room": room, "text": "hello"}, "rpcId": "s"});
                    ws.send(Message::text(say.to_string())).await.unwrap();
                    counts.sent.fetch_add(1, Ordering::Relaxed);
                    next_say += Duration::from_secs(2);
                }
                () = tokio::time::sleep_until(leave_at.into()) => break,
            }
        }
        if churns && Instant::now() < until {
            counts.drops.fetch_add(1, Ordering::Relaxed);
            drop_abruptly(ws, round & 1 == 0);
        } else {
            // The end: most leave politely, the churners abruptly.
            if churns {
                drop_abruptly(ws, index & 1 == 0);
            } else {
                let _ = ws.close(None).await;
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while let Some(Ok(_)) = ws.next().await {}
                })
                .await;
            }
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak test: run by scripts/soak"]
async fn churn_leaves_no_client_no_room_and_no_memory_behind() {
    let server = Server::start();
    let clients = env_or("SOAK_CLIENTS", 1000) as usize;
    let seconds = soak_seconds();
    let started_mib = server.rss_mib().await;

    // Warm-up: every client connects, joins and leaves once, so allocator pools and buffers
    // reach their working size; that is the baseline.
    let warm_until = Instant::now() + Duration::from_secs(3);
    let counts = Arc::new(Counts::default());
    let warm: Vec<_> = (0..clients)
        .map(|i| tokio::spawn(member(server.url(), i, warm_until, false, counts.clone())))
        .collect();
    for task in warm {
        task.await.unwrap();
    }
    server.settle(0, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let baseline_mib = server.rss_mib().await;

    let until = Instant::now() + Duration::from_secs(seconds);
    let counts = Arc::new(Counts::default());
    let members: Vec<_> = (0..clients)
        .map(|i| tokio::spawn(member(server.url(), i, until, i % 10 == 0, counts.clone())))
        .collect();
    let mut peak_mib: f64 = 0.0;
    let mut peak_clients = 0;
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let stats = server.stats().await;
        peak_mib = peak_mib.max(stats["rss"].as_f64().unwrap() / f64::from(1 << 20));
        peak_clients = peak_clients.max(stats["clients"].as_u64().unwrap());
    }
    for member in members {
        member.await.unwrap();
    }
    let settled = server.settle(0, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_mib = server.rss_mib().await;
    let (connects, drops) = (
        counts.connects.load(Ordering::Relaxed),
        counts.drops.load(Ordering::Relaxed),
    );
    let (sent, received) = (
        counts.sent.load(Ordering::Relaxed),
        counts.received.load(Ordering::Relaxed),
    );
    println!(
        "churn: {clients} clients for {seconds} s: {connects} connections, {drops} abrupt drops, \
         {sent} room messages sent, {received} frames received; peak {peak_clients} clients"
    );
    println!(
        "churn: server RSS {started_mib:.1} MiB at start, {baseline_mib:.1} MiB after warm-up, \
         {peak_mib:.1} MiB peak, {after_mib:.1} MiB after; hub afterwards {settled}"
    );
    assert!(drops >= clients as u64 / 10, "the churners churned");
    assert!(received > sent, "room messages were delivered");
    let allowed = baseline_mib * 1.25 + 8.0;
    assert!(
        after_mib <= allowed,
        "memory did not come back: {after_mib:.1} MiB > {allowed:.1} MiB"
    );
}

/// Round trips of `echo` by `clients` clients for `length`; their latencies in microseconds.
async fn round_trips(url: &str, clients: usize, length: Duration) -> Vec<u64> {
    let until = Instant::now() + length;
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let url = url.to_owned();
            tokio::spawn(async move {
                let mut ws = connect(&url).await;
                let mut latencies = Vec::new();
                let mut n = 0u64;
                while Instant::now() < until {
                    n += 1;
                    let started = Instant::now();
                    let reply = call(&mut ws, &format!("{i}-{n}"), "echo", json!({"text": "ping"})).await;
                    assert_eq!(reply["payload"], "ping", "{reply}");
                    latencies.push(started.elapsed().as_micros() as u64);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                let _ = ws.close(None).await;
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all
}

/// The `percent`th percentile of `latencies`, sorting them.
fn percentile(latencies: &mut [u64], percent: usize) -> u64 {
    latencies.sort_unstable();
    latencies[(latencies.len() * percent / 100).min(latencies.len() - 1)]
}

/// Floods `echo` calls (or pings) as fast as the server reads them, while draining the
/// replies; returns (replies or pongs, refusals among them) when `stop` fires.
async fn flooder(addr: SocketAddr, pings: bool, stop: Instant) -> (u64, u64) {
    let client = RawClient::connect(addr, "/", "").await;
    let (mut read, mut write) = client.stream.into_split();
    let unit = if pings {
        raw::frame(true, raw::PING, b"flood")
    } else {
        raw::frame(
            true,
            raw::TEXT,
            br#"{"type":"echo","payload":{"text":"x"},"rpcId":"f"}"#,
        )
    };
    let chunk: Vec<u8> = unit.iter().copied().cycle().take(unit.len() * 1000).collect();
    // The flooder writes as fast as the server reads; once the server holds it to the limit,
    // its writes wait (TCP backpressure) with megabytes queued in the kernel. At `stop` the
    // connection is simply dropped, mid-frame or not.
    let writer = tokio::spawn(async move { while write.write_all(&chunk).await.is_ok() {} });
    let mut bytes = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    while Instant::now() < stop {
        match tokio::time::timeout(Duration::from_millis(100), read.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => bytes.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    writer.abort();
    // Count what came back: pongs, replies and refusals.
    let (mut accepted, mut refused, mut at) = (0, 0, 0);
    while at + 2 <= bytes.len() {
        let (len, start) = match bytes[at + 1] & 0x7F {
            126 => (usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]])), 4),
            127 => (
                u64::from_be_bytes(bytes[at + 2..at + 10].try_into().unwrap()) as usize,
                10,
            ),
            short => (usize::from(short), 2),
        };
        if at + start + len > bytes.len() {
            break;
        }
        let payload = &bytes[at + start..at + start + len];
        match bytes[at] & 0x0F {
            raw::PONG => accepted += 1,
            raw::TEXT if payload.windows(12).any(|w| w == b"RATE_LIMITED") => refused += 1,
            raw::TEXT => accepted += 1,
            _ => {}
        }
        at += start + len;
    }
    (accepted, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak test: run by scripts/soak"]
async fn flooders_are_held_to_the_rate_limit_and_others_stay_responsive() {
    let server = Server::start();
    let url = server.url();
    let phase = Duration::from_secs((soak_seconds() / 8).max(3));
    let clients = 20;
    let mut calm = Vec::new();
    let mut flooded = Vec::new();
    let (mut accepted, mut refused, mut pongs) = (0, 0, 0);
    for _ in 0..2 {
        calm.extend(round_trips(&url, clients, phase).await);
        let stop = Instant::now() + phase;
        let messages = tokio::spawn(flooder(server.addr, false, stop));
        let pings = tokio::spawn(flooder(server.addr, true, stop));
        flooded.extend(round_trips(&url, clients, phase).await);
        let (ok, no) = messages.await.unwrap();
        accepted += ok;
        refused += no;
        pongs += pings.await.unwrap().0;
    }
    let (calm_p50, flooded_p50) = (percentile(&mut calm, 50), percentile(&mut flooded, 50));
    let (calm_p99, flooded_p99) = (percentile(&mut calm, 99), percentile(&mut flooded, 99));
    let seconds = 2.0 * phase.as_secs_f64();
    println!(
        "flood: round trip p50/p99 {calm_p50}/{calm_p99} µs undisturbed ({} calls), \
         {flooded_p50}/{flooded_p99} µs beside the flooders ({} calls)",
        calm.len(),
        flooded.len()
    );
    println!(
        "flood: the message flooder got {accepted} calls through ({:.0}/s) and {refused} refusals; \
         the ping flooder {pongs} pongs ({:.0}/s); the limit is 1000/s in bursts of 1000",
        accepted as f64 / seconds,
        pongs as f64 / seconds
    );
    // Default limit: 1000/s, bursts of 1000 (one burst per flooder connection per phase).
    let limit = 2.0 * 1000.0 + 1000.0 * seconds * 1.1;
    assert!((accepted as f64) < limit, "{accepted} calls got through");
    assert!((pongs as f64) < limit, "{pongs} pongs");
    assert!(refused > 0, "the flooder was refused");
    // Others stay responsive. With the limiter off (measured on a 2-core VM) the flooders push
    // the median round trip from ~0.25 ms to ~5.5 ms and the p99 from ~1 ms to ~13-16 ms. The
    // median is the check that tells the two apart; the p99 at this sub-ms scale moves with the
    // machine's scheduling alone (4.2 ms beside 1.35 ms undisturbed, limiter on, on a CI run), so
    // it is only held to a loose bound against long stalls.
    assert!(
        flooded_p50 <= 2 * calm_p50 + 1000,
        "p50 {flooded_p50} µs beside the flooders, {calm_p50} µs without"
    );
    assert!(
        flooded_p99 <= 4 * calm_p99 + 4000,
        "p99 {flooded_p99} µs beside the flooders, {calm_p99} µs without"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak test: run by scripts/soak"]
async fn a_client_that_never_reads_is_closed_once_its_queue_fills() {
    let server = Server::start();
    let before_mib = server.rss_mib().await;
    let mut slow = connect(&server.url()).await;
    assert_eq!(
        call(&mut slow, "j", "join", json!({"room": "big"})).await["type"],
        "__rpc_res"
    );
    // From here on `slow` reads nothing.
    let mut driver = connect(&server.url()).await;
    let started = Instant::now();
    let blast = json!({"room": "big", "count": 200, "bytes": 1 << 20});
    let reply = call(&mut driver, "b", "blast", blast).await;
    let dropped = reply["payload"].as_u64().expect("a count");
    let peak_mib = server.rss_mib().await;
    server.settle(1, Duration::from_secs(15)).await;
    let took = started.elapsed();
    println!(
        "slow reader: of 200 messages of 1 MiB, {} were refused once its queue was full; closed after \
         {took:?}; server RSS {before_mib:.1} MiB before, {peak_mib:.1} MiB after the blast",
        dropped
    );
    assert!(
        dropped > 150,
        "only {dropped} refused: its queue took more than the bound"
    );
    assert!(
        peak_mib - before_mib < 64.0,
        "the server grew by {:.1} MiB",
        peak_mib - before_mib
    );
    drop(slow);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "soak test: run by scripts/soak"]
async fn five_hundred_slowloris_sockets_do_not_stop_new_clients() {
    let server = Server::start();
    let fds_before = server.stats().await["fds"].as_u64().unwrap();
    let mut sockets = Vec::new();
    for _ in 0..500 {
        let mut socket = TcpStream::connect(server.addr).await.unwrap();
        socket
            .write_all(b"GET /?token=abcd HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        sockets.push(socket);
    }
    let opened = Instant::now();
    let fds_during = server.stats().await["fds"].as_u64().unwrap();
    let mut latencies = Vec::new();
    for i in 0..200 {
        let started = Instant::now();
        let mut ws = connect(&server.url()).await;
        assert_eq!(
            call(&mut ws, &i.to_string(), "echo", json!({"text": "hi"})).await["payload"],
            "hi"
        );
        latencies.push(started.elapsed().as_micros() as u64);
        let _ = ws.close(None).await;
    }
    let worst = *latencies.iter().max().unwrap();
    let p99 = percentile(&mut latencies, 99);
    assert!(
        opened.elapsed() < Duration::from_secs(10),
        "the slowloris sockets were already cut off"
    );
    // The default deadline is 10 s: by 12 s every slowloris socket is closed by the server.
    let mut closed = 0;
    for socket in &mut sockets {
        let left = (opened + Duration::from_secs(12)).saturating_duration_since(Instant::now());
        let mut byte = [0; 1];
        if let Ok(Ok(0) | Err(_)) = tokio::time::timeout(left, socket.read(&mut byte)).await {
            closed += 1;
        }
    }
    let fds_after = server.stats().await["fds"].as_u64().unwrap();
    println!(
        "slowloris: 500 sockets held the server at {fds_during} fds (from {fds_before}); 200 new clients \
         connected and called with p99 {p99} µs (worst {worst} µs); {closed} sockets closed by the deadline, \
         {fds_after} fds after"
    );
    assert!(p99 < 500_000, "new clients waited: p99 {p99} µs");
    assert_eq!(closed, 500);
    assert!(fds_after < fds_before + 20, "{fds_after} fds remain");
}
