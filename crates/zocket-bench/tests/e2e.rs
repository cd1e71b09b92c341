//! End to end: the `zocket-bench` binary against a small in-test server that speaks the bench app in
//! JSON and, when asked for subprotocol `zocket.v1.msgpack`, in MessagePack. Servers with planted
//! bugs show that wrong replies and wrong-room deliveries are caught.

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;

const MSGPACK: &str = "zocket.v1.msgpack";

/// How the mock server behaves.
#[derive(Clone, Copy, Default)]
struct Mock {
    /// Accepts subprotocol `zocket.v1.msgpack`.
    msgpack: bool,
    /// Sends room shouts to everyone.
    rooms_leak: bool,
    /// Echoes a changed `data` for every 10th call.
    echo_corrupts: bool,
    /// Never answers every 10th call.
    drops_calls: bool,
}

/// What the mock read, over all its connections: socket reads that returned data, and data frames.
#[derive(Default)]
struct Counts {
    reads: AtomicU64,
    frames: AtomicU64,
}

impl Counts {
    fn frames_per_read(&self) -> f64 {
        self.frames.load(Ordering::Relaxed) as f64 / self.reads.load(Ordering::Relaxed).max(1) as f64
    }
}

/// A TCP stream that counts the reads that returned data.
struct Counted {
    tcp: TcpStream,
    counts: Arc<Counts>,
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.tcp).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.counts.reads.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

type Clients = Arc<Mutex<HashMap<u64, (mpsc::UnboundedSender<Message>, HashSet<String>)>>>;

/// Starts the mock on a free port in a thread of its own; returns the port.
fn start(mock: Mock) -> u16 {
    start_counting(mock).0
}

/// [`start`], also returning what the mock reads.
fn start_counting(mock: Mock) -> (u16, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let shared = counts.clone();
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let port = std_listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = TcpListener::from_std(std_listener).unwrap();
            let clients = Clients::default();
            for id in 0u64.. {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let tcp = Counted {
                    tcp,
                    counts: shared.clone(),
                };
                tokio::spawn(connection(tcp, id, mock, clients.clone()));
            }
        });
    });
    (port, counts)
}

async fn connection(tcp: Counted, id: u64, mock: Mock, clients: Clients) {
    let counts = tcp.counts.clone();
    let mut binary = false;
    // The callback's error type is tungstenite's; its size is not ours to choose.
    #[allow(clippy::result_large_err)]
    let negotiate = |req: &Request, mut res: Response| {
        let offered = req
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok());
        if mock.msgpack && offered.is_some_and(|v| v.split(',').any(|p| p.trim() == MSGPACK)) {
            res.headers_mut()
                .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(MSGPACK));
            binary = true;
        }
        Ok(res)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, negotiate).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel();
    clients.lock().unwrap().insert(id, (tx.clone(), HashSet::new()));
    tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if sink.send(msg).await.is_err() {
                break;
            }
        }
    });
    let encode = |v: &Value| {
        if binary {
            Message::Binary(rmp_serde::to_vec_named(v).unwrap().into())
        } else {
            Message::Text(v.to_string().into())
        }
    };
    let mut calls = 0u64;
    while let Some(Ok(msg)) = stream.next().await {
        let frame: Value = match &msg {
            Message::Text(t) if !binary => serde_json::from_str(t).unwrap(),
            Message::Binary(b) if binary => rmp_serde::from_slice(b).unwrap(),
            Message::Close(_) => break,
            other => panic!("unexpected frame {other:?}"),
        };
        counts.frames.fetch_add(1, Ordering::Relaxed);
        let p = &frame["payload"];
        let reply = |payload: Value| {
            frame
                .get("rpcId")
                .map(|id| encode(&json!({"type": "__rpc_res", "payload": payload, "rpcId": id})))
        };
        let out = match frame["type"].as_str().unwrap() {
            "bench.echo" => {
                calls += 1;
                let mut echo = p.clone();
                if mock.echo_corrupts && calls.is_multiple_of(10) {
                    echo["data"] = json!("corrupted");
                }
                if mock.drops_calls && calls.is_multiple_of(10) {
                    None
                } else {
                    reply(echo)
                }
            }
            "bench.join" => {
                let room = p["room"].as_str().unwrap().to_owned();
                clients.lock().unwrap().get_mut(&id).unwrap().1.insert(room);
                reply(json!(true))
            }
            route @ ("bench.shout" | "bench.roomShout") => {
                let shouted = encode(&json!({"type": "bench.shouted", "payload": {"ts": p["ts"], "data": p["data"]}}));
                let room = (route == "bench.roomShout" && !mock.rooms_leak).then(|| p["room"].as_str().unwrap());
                for (tx, rooms) in clients.lock().unwrap().values() {
                    if room.is_none_or(|r| rooms.contains(r)) {
                        let _ = tx.send(shouted.clone());
                    }
                }
                reply(Value::Null)
            }
            other => panic!("unexpected route {other}"),
        };
        if let Some(out) = out {
            let _ = tx.send(out);
        }
    }
    clients.lock().unwrap().remove(&id);
}

fn bench(port: u16, args: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zocket-bench"))
        .arg("--url")
        .arg(format!("ws://127.0.0.1:{port}/"))
        .args(args.split_whitespace())
        .args(["--deadline", "60"])
        .output()
        .unwrap()
}

/// Runs the generator and returns its one JSON line.
fn results(port: u16, args: &str) -> Value {
    let out = bench(port, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args}: {:?}\n{stderr}", out.status);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "exactly one line on stdout: {stdout}");
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn rpc_over_msgpack_checks_every_reply() {
    let port = start(Mock {
        msgpack: true,
        ..Mock::default()
    });
    let r = results(
        port,
        "--scenario rpc --codec msgpack --clients 4 --in-flight 4 --duration 0.5 --warmup 0.1",
    );
    assert_eq!(r["codec"], "msgpack");
    assert_eq!(r["scenario"], "rpc");
    assert!(r["count"].as_u64().unwrap() > 100, "{r}");
    assert_eq!((r["wrong"].as_u64(), r["errors"].as_u64()), (Some(0), Some(0)), "{r}");
    assert!(r["latency_ms"]["p50"].as_f64().unwrap() > 0.0, "{r}");
    assert_eq!(r["unit"], "calls/s");
}

#[test]
fn broadcast_over_msgpack_loses_nothing_and_includes_the_sender() {
    let port = start(Mock {
        msgpack: true,
        ..Mock::default()
    });
    let r = results(
        port,
        "--scenario broadcast --codec msgpack --clients 20 --rate 100 --duration 0.5",
    );
    let sent = r["sent"].as_u64().unwrap();
    assert!(sent >= 40, "{r}");
    assert_eq!(r["expected"].as_u64(), Some(sent * 20), "{r}");
    assert_eq!(r["count"], r["expected"], "{r}");
    assert_eq!((r["lost"].as_u64(), r["wrong"].as_u64()), (Some(0), Some(0)), "{r}");
}

#[test]
fn rooms_in_json_deliver_only_within_the_room() {
    let port = start(Mock::default());
    let r = results(
        port,
        "--scenario rooms --clients 20 --rooms 4 --rate 100 --duration 0.5",
    );
    let sent = r["sent"].as_u64().unwrap();
    assert!(sent >= 40, "{r}");
    // 20 clients in 4 rooms: 5 members each, one sender per room.
    assert_eq!(r["expected"].as_u64(), Some(sent * 5), "{r}");
    assert_eq!((r["lost"].as_u64(), r["wrong"].as_u64()), (Some(0), Some(0)), "{r}");
}

#[test]
fn a_server_leaking_room_shouts_is_caught() {
    let port = start(Mock {
        rooms_leak: true,
        ..Mock::default()
    });
    let r = results(
        port,
        "--scenario rooms --clients 20 --rooms 4 --rate 100 --duration 0.5",
    );
    let sent = r["sent"].as_u64().unwrap();
    // Every shout reaches all 20 clients: 5 rightly, 15 wrongly.
    assert_eq!(r["wrong"].as_u64(), Some(sent * 15), "{r}");
    assert_eq!(r["lost"].as_u64(), Some(0), "{r}");
}

#[test]
fn corrupted_echoes_are_wrong() {
    let port = start(Mock {
        echo_corrupts: true,
        ..Mock::default()
    });
    let r = results(port, "--scenario rpc --clients 2 --duration 0.3 --warmup 0");
    let wrong = r["wrong"].as_u64().unwrap();
    assert!(wrong > 0 && wrong * 8 < r["count"].as_u64().unwrap(), "{r}");
}

#[test]
fn pipelined_rpc_coalesces_calls_and_checks_every_reply() {
    let (port, counts) = start_counting(Mock::default());
    let r = results(
        port,
        "--scenario rpc --pipelined --clients 4 --in-flight 16 --duration 0.5 --warmup 0.1",
    );
    assert_eq!(r["params"]["pipelined"], true, "{r}");
    assert!(r["count"].as_u64().unwrap() > 32, "{r}");
    assert_eq!(
        (r["wrong"].as_u64(), r["errors"].as_u64(), r["disconnects"].as_u64()),
        (Some(0), Some(0), Some(0)),
        "{r}"
    );
    assert_eq!(
        r["latency_ms"]["count"], r["count"],
        "one latency per counted call: {r}"
    );
    // The generator refills at least 8 of 16 slots per write ...
    let per_write = r["frames_per_write"].as_f64().unwrap();
    assert!((8.0..=16.0).contains(&per_write), "{r}");
    // ... and the server sees them arrive together (the mock answers each call in a write of its own,
    // so nothing on its side batches them).
    let per_read = counts.frames_per_read();
    eprintln!("pipelined: {per_write} frames per write, {per_read:.1} frames per read at the server");
    assert!(per_read >= 6.0, "frames per read at the server: {per_read}");
    // The generator's share of the machine is reported beside the server's.
    // (CPU time moves in 10 ms ticks: a short run on a busy machine may read 0.)
    let share = r["generator_cpu_share"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&share), "{r}");
}

#[test]
fn pipelined_rpc_over_msgpack_catches_corrupted_echoes() {
    let port = start(Mock {
        msgpack: true,
        echo_corrupts: true,
        ..Mock::default()
    });
    let r = results(
        port,
        "--scenario rpc --pipelined --codec msgpack --clients 2 --in-flight 16 --duration 0.3 --warmup 0",
    );
    let wrong = r["wrong"].as_u64().unwrap();
    // Every 10th call comes back changed; replies that straddle the window's edges make the
    // share move a little around 10%.
    let total = wrong + r["count"].as_u64().unwrap();
    assert!(wrong > 0 && wrong * 5 < total, "{r}");
    assert_eq!(r["errors"].as_u64(), Some(0), "{r}");
}

#[test]
fn pipelined_rpc_counts_calls_never_answered() {
    let (port, counts) = start_counting(Mock {
        drops_calls: true,
        ..Mock::default()
    });
    let r = results(
        port,
        "--scenario rpc --pipelined --clients 2 --in-flight 16 --duration 0.3 --warmup 0",
    );
    // Each unanswered call holds its slot: once 9 of 16 are held, a client can no longer refill, and
    // what is still pending when the grace period ends is reported.
    let errors = r["errors"].as_u64().unwrap();
    assert!((2..=32).contains(&errors), "{r}");
    assert_eq!(r["wrong"].as_u64(), Some(0), "{r}");
    // Every frame the mock read is either answered (counted, or outside the window) or dropped.
    assert!(
        counts.frames.load(Ordering::Relaxed) >= r["count"].as_u64().unwrap() + errors,
        "{r}"
    );
}

#[test]
fn idle_reads_the_memory_of_the_given_pid() {
    let port = start(Mock::default());
    let pid = std::process::id().to_string();
    let r = results(port, &format!("--scenario idle --clients 50 --settle 0.2 --pid {pid}"));
    assert_eq!(r["connections"], 50);
    assert!(r["mem_per_conn_bytes"].is_number(), "{r}");
    assert!(r["server_rss_after_kib"].as_u64().unwrap() > 0, "{r}");
    assert!(r["throughput"].is_null());
}

#[test]
fn idle_fanout_reaches_every_connection_from_several_source_addresses() {
    let port = start(Mock::default());
    let pid = std::process::id().to_string();
    let r = results(
        port,
        &format!("--scenario idle --clients 60 --settle 0.1 --sources 3 --fanout --pid {pid}"),
    );
    assert_eq!(r["connections"], 60);
    assert_eq!(r["sources"], 3);
    let fanout = &r["fanout"];
    assert_eq!(fanout["delivered"], 60, "{r}");
    assert_eq!(fanout["lost"], 0, "{r}");
    assert!(
        fanout["last_ms"].as_f64().unwrap() >= fanout["p50_ms"].as_f64().unwrap(),
        "{r}"
    );
    assert!(
        r["server_peak_rss_kib"].as_u64().unwrap() >= r["server_rss_after_kib"].as_u64().unwrap(),
        "{r}"
    );
    // The closes are measured apart from the broadcast.
    assert!(fanout["server_cpu_s"].as_f64().unwrap() >= 0.0, "{r}");
    assert!(fanout["close_cpu_s"].as_f64().unwrap() >= 0.0, "{r}");
}

#[test]
fn a_listener_process_times_a_shout_another_process_sends() {
    let port = start(Mock::default());
    let dir = std::env::temp_dir().join(format!("zocket-bench-listen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (stderr_path, delays_path) = (dir.join("listener.err"), dir.join("delays"));
    let listener = Command::new(env!("CARGO_BIN_EXE_zocket-bench"))
        .arg("--url")
        .arg(format!("ws://127.0.0.1:{port}/"))
        .args(
            "--scenario idle --clients 30 --settle 0.1 --listen --drain 30 --hold 0.5 --deadline 60 --delays"
                .split(' '),
        )
        .arg(&delays_path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    // The sender shouts only once the listener holds its connections.
    let began = std::time::Instant::now();
    while !std::fs::read_to_string(&stderr_path)
        .unwrap()
        .contains("idle: listening")
    {
        assert!(began.elapsed().as_secs() < 30, "the listener never got ready");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let sent = results(port, "--scenario idle --clients 20 --settle 0.1 --fanout");
    assert_eq!(sent["fanout"]["delivered"], 20, "{sent}");
    // Held open after the shout: the sender's process is done before the listener lets go.
    let heard_at = std::time::Instant::now();
    let out = listener.wait_with_output().unwrap();
    assert!(
        heard_at.elapsed().as_secs_f64() >= 0.25,
        "the listener did not hold its connections"
    );
    assert!(
        out.status.success(),
        "{}",
        std::fs::read_to_string(&stderr_path).unwrap()
    );
    let heard: Value = serde_json::from_slice(&out.stdout).unwrap();
    let fanout = &heard["fanout"];
    assert_eq!(
        (fanout["delivered"].as_u64(), fanout["lost"].as_u64()),
        (Some(30), Some(0)),
        "{heard}"
    );
    let delays: Vec<f64> = std::fs::read_to_string(&delays_path)
        .unwrap()
        .lines()
        .map(|line| line.parse().unwrap())
        .collect();
    assert_eq!(delays.len(), 30);
    let last = fanout["last_ms"].as_f64().unwrap();
    // One wall clock for both processes: the shout's own timestamp, not the listener's start.
    assert!(
        delays.iter().all(|d| (0.0..=last + 0.001).contains(d)) && last < 10_000.0,
        "{delays:?} last {last}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_server_without_msgpack_is_refused_clearly() {
    let port = start(Mock::default());
    let out = bench(port, "--scenario rpc --codec msgpack --clients 2 --duration 0.2");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("did not accept WebSocket subprotocol \"zocket.v1.msgpack\""),
        "{stderr}"
    );
}

#[test]
fn setup_failures_and_bad_usage_exit_non_zero() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let out = bench(port, "--scenario rpc --clients 2");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("connections failed"));
    assert_eq!(bench(port, "--scenario nope").status.code(), Some(2));
}
