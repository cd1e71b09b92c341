//! Resume after a dropped connection, against a scripted server (tokio-tungstenite on
//! 127.0.0.1) that speaks the resume wire: `__session` first, `seq` on events, `__session` and
//! `__seq` on the reconnect's URL. The same against the real conformance server is in the
//! workspace's `tests/client_resume.rs`.
#![allow(missing_docs)]
// tungstenite's handshake callback returns its large `ErrorResponse`.
#![allow(clippy::result_large_err)]

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use zocket_client::{Backoff, Client, Codec, ConnectionState, RawEvent, Subscription};

const WAIT: Duration = Duration::from_secs(5);
/// Long enough for a test to subscribe to events once connected.
const SUBSCRIBED: Duration = Duration::from_millis(150);

/// One connection the scripted server accepted.
struct Conn {
    /// Its URL's query parameters.
    query: Vec<(String, String)>,
    ws: WebSocketStream<TcpStream>,
    codec: Codec,
}

impl Conn {
    fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    async fn send(&mut self, frame: Value) {
        let message = match self.codec {
            Codec::MsgPack => Message::binary(rmp_serde::to_vec_named(&frame).unwrap()),
            _ => Message::text(frame.to_string()),
        };
        self.ws.send(message).await.unwrap();
    }

    async fn session(&mut self, token: &str, resumed: bool) {
        self.send(json!({"type": "__session", "payload": {"token": token, "resumed": resumed}}))
            .await;
    }

    async fn tick(&mut self, n: u64, seq: Option<u64>) {
        let mut frame = json!({"type": "system.tick", "payload": {"n": n}});
        if let Some(seq) = seq {
            frame["seq"] = seq.into();
        }
        self.send(frame).await;
    }

    /// The next frame from the client, as JSON.
    async fn recv(&mut self) -> Option<Value> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await.ok()?? {
                Ok(Message::Text(text)) => return serde_json::from_str(&text).ok(),
                Ok(Message::Binary(data)) => return rmp_serde::from_slice(&data).ok(),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }
}

/// A server on 127.0.0.1 that hands each accepted connection (and its index) to `script`; the
/// script drops it to cut it without a close frame. Returns its URL.
async fn scripted<F, Fut>(script: F) -> String
where
    F: Fn(usize, Conn) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        for index in 0.. {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let mut query = Vec::new();
            let mut codec = Codec::Json;
            let ws = tokio_tungstenite::accept_hdr_async(tcp, |request: &Request, mut response: Response| {
                let raw = request.uri().query().unwrap_or_default();
                query = form_urlencoded::parse(raw.as_bytes()).into_owned().collect();
                let offered = request.headers().get("sec-websocket-protocol");
                if offered.is_some_and(|p| p == Codec::MSGPACK_SUBPROTOCOL) {
                    codec = Codec::MsgPack;
                    (response.headers_mut()).insert(
                        "sec-websocket-protocol",
                        HeaderValue::from_static(Codec::MSGPACK_SUBPROTOCOL),
                    );
                }
                Ok(response)
            })
            .await;
            if let Ok(ws) = ws {
                tokio::spawn(script(index, Conn { query, ws, codec }));
            }
        }
    });
    url
}

async fn next<T>(stream: &mut Subscription<T>) -> T {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("nothing came")
        .expect("the stream ended")
}

async fn ticks(events: &mut Subscription<RawEvent>, count: usize) -> Vec<u64> {
    let mut seen = Vec::new();
    while seen.len() < count {
        let event = next(events).await;
        assert_eq!(event.route, "system.tick");
        seen.push(event.payload["n"].as_u64().unwrap());
    }
    seen
}

/// The next `Open` state, skipping `Closed` and `Reconnecting`.
async fn opened(states: &mut Subscription<ConnectionState>) -> ConnectionState {
    loop {
        match next(states).await {
            ConnectionState::Closed { .. } | ConnectionState::Reconnecting { .. } => {}
            open => return open,
        }
    }
}

async fn eventually(what: &str, ok: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !ok() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn quick() -> Backoff {
    Backoff::default()
        .initial(Duration::from_millis(50))
        .max(Duration::from_millis(100))
}

/// Each connection's query, reported by the script.
type Queries = mpsc::UnboundedSender<Vec<(String, String)>>;

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn a_dropped_connection_resumes_in_both_codecs_without_the_rejoin_hook() {
    for codec in [Codec::Json, Codec::MsgPack] {
        let (queries, mut seen) = mpsc::unbounded_channel();
        let queries: Queries = queries;
        let url = scripted(move |index, mut conn| {
            let queries = queries.clone();
            async move {
                let _ = queries.send(conn.query.clone());
                match index {
                    0 => {
                        conn.session("token-1", false).await;
                        tokio::time::sleep(SUBSCRIBED).await;
                        for n in 1..=3 {
                            conn.tick(n, Some(n)).await;
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        // Dropped: the TCP connection closes without a close frame.
                    }
                    1 => {
                        let resumed = conn.param("__session") == Some("token-1") && conn.param("__seq") == Some("3");
                        conn.session("token-2", resumed).await;
                        for n in 4..=5 {
                            conn.tick(n, Some(n)).await;
                        }
                        while conn.recv().await.is_some() {}
                    }
                    _ => {}
                }
            }
        })
        .await;
        let hook_runs = Arc::new(AtomicUsize::new(0));
        let runs = hook_runs.clone();
        let client = Client::<RawEvent>::connect(url)
            .header("token", "resumer")
            .codec(codec)
            .reconnect(quick())
            .on_reconnect(move |_| {
                runs.fetch_add(1, Ordering::SeqCst);
                async {}
            })
            .await
            .unwrap();
        let mut states = client.state_changes();
        let mut events = client.events();
        assert_eq!(client.state(), ConnectionState::Open { resumed: false });
        assert_eq!(
            ticks(&mut events, 5).await,
            [1, 2, 3, 4, 5],
            "{codec:?}: once, in order"
        );
        assert!(matches!(
            next(&mut states).await,
            ConnectionState::Closed { code: 1006, .. }
        ));
        assert_eq!(opened(&mut states).await, ConnectionState::Open { resumed: true });
        let first = seen.recv().await.unwrap();
        assert_eq!(param(&first, "__session"), None, "a first connection asks for nothing");
        let second = seen.recv().await.unwrap();
        assert_eq!(param(&second, "__session"), Some("token-1"));
        assert_eq!(param(&second, "__seq"), Some("3"));
        assert_eq!(param(&second, "token"), Some("resumer"), "the headers still go");
        assert_eq!(hook_runs.load(Ordering::SeqCst), 0, "a resumed session keeps its rooms");
        client.close().await;
    }
}

#[tokio::test]
async fn a_refused_resume_is_a_fresh_session_the_hook_runs_and_seq_restarts() {
    let (queries, mut seen) = mpsc::unbounded_channel();
    let queries: Queries = queries;
    let url = scripted(move |index, mut conn| {
        let queries = queries.clone();
        async move {
            let _ = queries.send(conn.query.clone());
            match index {
                0 => {
                    conn.session("old", false).await;
                    tokio::time::sleep(SUBSCRIBED).await;
                    for n in 1..=4 {
                        conn.tick(n, Some(n)).await;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                1 => {
                    conn.session("new", false).await; // the window expired, say
                    // The hook's call arrives first; the reply lets it finish.
                    let call = conn.recv().await.unwrap();
                    assert_eq!(call["type"], "rooms.join");
                    let id = call["rpcId"].clone();
                    conn.send(json!({"type": "__rpc_res", "payload": ["lobby"], "rpcId": id}))
                        .await;
                    conn.tick(10, Some(1)).await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                _ => {
                    conn.session("newer", false).await;
                    while conn.recv().await.is_some() {}
                }
            }
        }
    })
    .await;
    let hook_runs = Arc::new(AtomicUsize::new(0));
    let runs = hook_runs.clone();
    let client = Client::<RawEvent>::connect(url)
        .header("token", "fresh")
        .reconnect(quick())
        .on_reconnect(move |client| {
            let runs = runs.clone();
            async move {
                let joined = client.call_route("rooms.join", json!({"room": "lobby"})).await;
                assert_eq!(joined.unwrap(), json!(["lobby"]));
                runs.fetch_add(1, Ordering::SeqCst);
            }
        })
        .await
        .unwrap();
    let mut states = client.state_changes();
    let mut events = client.events();
    assert_eq!(ticks(&mut events, 5).await, [1, 2, 3, 4, 10]);
    assert_eq!(opened(&mut states).await, ConnectionState::Open { resumed: false });
    eventually("a fresh session re-joins", || hook_runs.load(Ordering::SeqCst) == 1).await;
    // The next drop asks with the new session's token and seq, not the old one's 4.
    assert_eq!(opened(&mut states).await, ConnectionState::Open { resumed: false });
    let _first = seen.recv().await.unwrap();
    let second = seen.recv().await.unwrap();
    assert_eq!(
        (param(&second, "__session"), param(&second, "__seq")),
        (Some("old"), Some("4"))
    );
    let third = seen.recv().await.unwrap();
    assert_eq!(
        (param(&third, "__session"), param(&third, "__seq")),
        (Some("new"), Some("1"))
    );
    client.close().await;
}

#[tokio::test]
async fn a_server_without_resume_changes_nothing_and_one_that_lost_it_gives_a_fresh_session() {
    let (queries, mut seen) = mpsc::unbounded_channel();
    let queries: Queries = queries;
    let url = scripted(move |index, mut conn| {
        let queries = queries.clone();
        async move {
            let _ = queries.send(conn.query.clone());
            match index {
                0 => {
                    conn.session("t1", false).await;
                    tokio::time::sleep(SUBSCRIBED).await;
                    conn.tick(1, Some(1)).await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                // Restarted with resume off: no `__session`, no `seq`; an event first.
                1 => {
                    conn.tick(2, None).await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                _ => while conn.recv().await.is_some() {},
            }
        }
    })
    .await;
    let hook_runs = Arc::new(AtomicUsize::new(0));
    let runs = hook_runs.clone();
    let client = Client::<RawEvent>::connect(url)
        .header("token", "plain")
        .reconnect(quick())
        .connect_timeout(Duration::from_millis(400))
        .on_reconnect(move |_| {
            runs.fetch_add(1, Ordering::SeqCst);
            async {}
        })
        .await
        .unwrap();
    let mut states = client.state_changes();
    let mut events = client.events();
    assert_eq!(ticks(&mut events, 2).await, [1, 2], "the first frame is not lost");
    assert_eq!(opened(&mut states).await, ConnectionState::Open { resumed: false });
    assert_eq!(opened(&mut states).await, ConnectionState::Open { resumed: false });
    eventually("the hook after each fresh session", || {
        hook_runs.load(Ordering::SeqCst) == 2
    })
    .await;
    let _ = seen.recv().await.unwrap();
    assert_eq!(param(&seen.recv().await.unwrap(), "__session"), Some("t1"));
    assert_eq!(
        param(&seen.recv().await.unwrap(), "__session"),
        None,
        "the stale token is forgotten"
    );
    client.close().await;
}

#[tokio::test]
async fn nothing_queued_goes_before_the_session_frame_and_a_call_in_flight_still_fails() {
    let (frames, mut received) = mpsc::unbounded_channel::<(usize, Value, bool)>();
    let url = scripted(move |index, mut conn| {
        let frames = frames.clone();
        async move {
            if index == 0 {
                conn.session("t1", false).await;
                // The call arrives; the connection drops before any reply.
                let call = conn.recv().await.unwrap();
                let _ = frames.send((0, call, true));
                return;
            }
            // Anything sent before `__session` would already be here.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let early = tokio::time::timeout(Duration::from_millis(1), conn.ws.next())
                .await
                .is_ok();
            conn.session("t2", true).await;
            while let Some(frame) = conn.recv().await {
                let _ = frames.send((index, frame.clone(), early));
                if let Some(id) = frame.get("rpcId") {
                    conn.send(json!({"type": "__rpc_res", "payload": "hi", "rpcId": id}))
                        .await;
                }
            }
        }
    })
    .await;
    let client = Client::<RawEvent>::connect(url)
        .header("token", "caller")
        .reconnect(quick())
        .await
        .unwrap();
    let in_flight = client.call_route("slow.echo", json!({"text": "lost", "delayMs": 10_000}));
    let in_flight = tokio::spawn(std::future::IntoFuture::into_future(in_flight));
    let (_, call, _) = received.recv().await.unwrap();
    assert_eq!(call["type"], "slow.echo");
    assert_eq!(
        tokio::time::timeout(WAIT, in_flight).await.unwrap().unwrap(),
        Err(zocket_client::ClientError::Disconnected)
    );
    let reply = client.call_route("greet", json!({"name": "queued"})).await.unwrap();
    assert_eq!(reply, "hi");
    let (index, frame, early) = received.recv().await.unwrap();
    assert_eq!(
        (index, &frame["type"]),
        (1, &json!("greet")),
        "the call in flight is not sent again"
    );
    assert!(!early, "nothing was sent before the server said how the session went");
    assert_eq!(client.state(), ConnectionState::Open { resumed: true });
    client.close().await;
}

#[tokio::test]
async fn reconnect_and_resume_off_ask_for_no_session() {
    let (queries, mut seen) = mpsc::unbounded_channel();
    let queries: Queries = queries;
    let url = scripted(move |index, mut conn| {
        let queries = queries.clone();
        async move {
            let _ = queries.send(conn.query.clone());
            conn.session(&format!("t{index}"), false).await;
            if index == 2 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                return; // dropped
            }
            while conn.recv().await.is_some() {}
        }
    })
    .await;
    let client = Client::<RawEvent>::connect(&url).reconnect(quick()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await; // the `__session` frame arrives
    let mut states = client.state_changes();
    client.reconnect(); // a close frame: the server ends the session
    assert_eq!(opened(&mut states).await, ConnectionState::Open { resumed: false });
    let _ = seen.recv().await.unwrap();
    assert_eq!(param(&seen.recv().await.unwrap(), "__session"), None);
    client.close().await;

    let off = Client::<RawEvent>::connect(&url)
        .reconnect(quick())
        .resume(false)
        .await
        .unwrap();
    let mut states = off.state_changes();
    assert_eq!(opened(&mut states).await, ConnectionState::Open { resumed: false });
    let _ = seen.recv().await.unwrap();
    assert_eq!(param(&seen.recv().await.unwrap(), "__session"), None);
    off.close().await;
}
