//! The typed Rust client resuming against the conformance server with `RESUME_WINDOW_MS` set:
//! its TCP connection is cut abruptly (no close frame, as a network drops it) by a proxy in the
//! test while messages flow to its room; it reconnects after 1-1.5 s, resumes, and gets every
//! message once and in order, without running the re-join hook. With resume off, the same cut
//! gives a fresh session and the hook runs, as before. With the `redis` feature (run by
//! `scripts/redis-tests`), the same across two conformance processes on one real Redis: the
//! proxy sends the reconnect to the other node, where the session resumes.

#[path = "../examples/support/conformance_api.rs"]
mod api;
#[path = "support/client.rs"]
mod client;
#[path = "support/process.rs"]
mod process;
#[cfg(feature = "redis")]
#[path = "support/redis.rs"]
mod redis;

use api::*;
use client::{WAIT, bounded, next};
use futures_util::StreamExt;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use zocket_client::{Backoff, Client, ConnectionState, Subscription};

/// The conformance binary with `env` added, on a free port; killed when dropped.
async fn start(env: &[(&str, &str)]) -> (Child, u16) {
    let mut command = Command::new(process::example("conformance"));
    command
        .env("PORT", "0")
        .env("RUST_LOG", "error")
        .env_remove("RESUME_WINDOW_MS")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("run the conformance example");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("the server did not listen in time")
        .unwrap()
        .expect("the server exited");
    let port = (line.strip_prefix("listening on ws://127.0.0.1:"))
        .and_then(|rest| rest.trim().trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line: {line}"));
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, port)
}

/// A TCP proxy on 127.0.0.1 to a port. `cut` drops every connection through it at once, both
/// sides: the client and the server each see the TCP connection end with no close frame.
/// `retarget` sends the connections made from then on to another port, as a load balancer
/// moves a client to another node.
struct Proxy {
    port: u16,
    cut: watch::Sender<u64>,
    target: watch::Sender<u16>,
}

impl Proxy {
    async fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, cuts) = watch::channel(0u64);
        let (target, targets) = watch::channel(target);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut cuts = cuts.clone();
                cuts.mark_unchanged();
                let target = *targets.borrow();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cuts.changed() => {}
                    }
                    // Both streams drop here, unflushed and without a close frame.
                });
            }
        });
        Proxy { port, cut, target }
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }

    fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    fn retarget(&self, port: u16) {
        self.target.send_replace(port);
    }
}

/// The reader's client through `proxy`, counting re-join hook runs; it is in room "busy".
async fn reader(proxy: &Proxy, hook_runs: Arc<AtomicUsize>) -> Client<Out> {
    let client = Client::<Out>::connect(proxy.url())
        .header("token", "reader")
        .reconnect(
            Backoff::default()
                .initial(Duration::from_millis(1_500))
                .max(Duration::from_millis(1_500)),
        )
        .on_reconnect(move |client| {
            let runs = hook_runs.clone();
            async move {
                let _ = client.call(Join { room: "busy".into() }).await;
                runs.fetch_add(1, Ordering::SeqCst);
            }
        })
        .await
        .unwrap();
    assert_eq!(client.call(Join { room: "busy".into() }).await.unwrap(), ["busy"]);
    client
}

/// Sends `m0`..`m{total-1}` to room "busy", one every 15 ms, cutting the proxy a third of the way
/// in (sending the reconnect to `reconnect_to`, if given); returns the texts sent.
async fn write_and_cut(writer: &Client<Out>, proxy: &Proxy, total: usize, reconnect_to: Option<u16>) -> Vec<String> {
    let mut sent = Vec::new();
    for i in 0..total {
        if i == total / 3 {
            if let Some(port) = reconnect_to {
                proxy.retarget(port);
            }
            proxy.cut();
        }
        let text = format!("m{i}");
        writer
            .call(RoomSend {
                room: "busy".into(),
                text: text.clone(),
            })
            .await
            .unwrap();
        sent.push(text);
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    sent
}

/// The next two states: the connection dropped without a close frame, then the first retry.
async fn dropped_then_reconnecting(states: &mut Subscription<ConnectionState>) {
    assert!(matches!(next(states).await, ConnectionState::Closed { code: 1006, .. }));
    assert!(matches!(
        next(states).await,
        ConnectionState::Reconnecting { attempt: 1, .. }
    ));
}

#[tokio::test]
async fn a_client_cut_mid_stream_resumes_with_every_message_once_in_order() {
    bounded(async {
        let (_server, port) = start(&[("RESUME_WINDOW_MS", "10000")]).await;
        let proxy = Proxy::start(port).await;
        cut_and_resume(&proxy, port, None).await;
    })
    .await;
}

/// The reader, through `proxy`, is cut a third of the way into a stream of messages that a
/// writer (on the server at `writer_port`) sends to its room, and reconnects (to `reconnect_to`
/// if given); it must resume with every message once and in order, then live ones, as the same
/// client in the same room, without the hook.
async fn cut_and_resume(proxy: &Proxy, writer_port: u16, reconnect_to: Option<u16>) {
    let hook_runs = Arc::new(AtomicUsize::new(0));
    let reader = reader(proxy, hook_runs.clone()).await;
    assert_eq!(reader.state(), ConnectionState::Open { resumed: false });
    let before = reader.call(GetWhoami).await.unwrap();
    let mut states = reader.state_changes();
    let mut messages = reader.events_on("room.message");
    let writer = Client::<Out>::connect(format!("ws://127.0.0.1:{writer_port}/"))
        .header("token", "writer")
        .await
        .unwrap();

    const TOTAL: usize = 150; // about 3 s of messages: the reader is away for 1.5 s of it
    let sent = write_and_cut(&writer, proxy, TOTAL, reconnect_to).await;
    dropped_then_reconnecting(&mut states).await;
    assert_eq!(next(&mut states).await, ConnectionState::Open { resumed: true });

    let mut got = Vec::new();
    while got.len() < TOTAL {
        let Ok(Some(message)) = tokio::time::timeout(WAIT, messages.next()).await else {
            panic!(
                "{} of {TOTAL} messages came, the last {:?}; state {:?}",
                got.len(),
                got.last(),
                reader.state()
            );
        };
        match message {
            Out::RoomMessage { room, text, from } => {
                assert_eq!((room.as_str(), from.as_str()), ("busy", "writer"));
                got.push(text);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, sent, "every message once, in order");
    // Nothing doubled arrives later: the next message is a live one.
    writer
        .call(RoomSend {
            room: "busy".into(),
            text: "live".into(),
        })
        .await
        .unwrap();
    assert!(matches!(next(&mut messages).await, Out::RoomMessage { text, .. } if text == "live"));
    // The same session: its client id and rooms, and the hook never ran.
    assert_eq!(reader.call(GetWhoami).await.unwrap().client_id, before.client_id);
    let rooms = reader.call(Leave { room: "nowhere".into() }).await.unwrap();
    assert_eq!(rooms, ["busy"]);
    assert_eq!(hook_runs.load(Ordering::SeqCst), 0);
    reader.close().await;
    writer.close().await;
}

/// Two conformance processes on one real Redis: the reader starts on node A, the writer is on
/// node B, and the cut sends the reader's reconnect to B, where its session resumes.
#[cfg(feature = "redis")]
#[tokio::test]
async fn a_client_cut_mid_stream_resumes_on_another_node() {
    bounded(async {
        let redis = redis::Redis::start();
        let env = [("REDIS_URL", redis.url()), ("RESUME_WINDOW_MS", "10000".to_owned())];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (_a, port_a) = start(&env).await;
        let (_b, port_b) = start(&env).await;
        redis.await_subscribers("zocket:all", 2).await;
        let proxy = Proxy::start(port_a).await;
        cut_and_resume(&proxy, port_b, Some(port_b)).await;
    })
    .await;
}

#[tokio::test]
async fn with_resume_off_a_cut_gives_a_fresh_session_and_the_hook_runs() {
    bounded(async {
        let (_server, port) = start(&[]).await;
        let proxy = Proxy::start(port).await;
        let hook_runs = Arc::new(AtomicUsize::new(0));
        let reader = reader(&proxy, hook_runs.clone()).await;
        let before = reader.call(GetWhoami).await.unwrap();
        let mut states = reader.state_changes();
        proxy.cut();
        dropped_then_reconnecting(&mut states).await;
        assert_eq!(next(&mut states).await, ConnectionState::Open { resumed: false });
        let deadline = tokio::time::Instant::now() + WAIT;
        while hook_runs.load(Ordering::SeqCst) == 0 {
            assert!(tokio::time::Instant::now() < deadline, "the hook did not run");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_ne!(reader.call(GetWhoami).await.unwrap().client_id, before.client_id);
        let rooms = reader.call(Leave { room: "nowhere".into() }).await.unwrap();
        assert_eq!(rooms, ["busy"], "joined again by the hook");
        reader.close().await;
    })
    .await;
}
