//! The Rust client's permessage-deflate against the server's, over real sockets: a proxy in
//! between counts the bytes each way, so each test shows what went over the wire compressed
//! and what did not, for both codecs and both kinds of agreement (with and without context
//! takeover).

mod support;

use futures_util::StreamExt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::{TcpListener, TcpStream};
use zocket::{Compression, Config};
use zocket_client::{Client, Codec, RawEvent};

async fn server(compression: Option<Compression>) -> SocketAddr {
    support::echo::server(Config::default().compression(compression).max_message_size(1 << 20)).await
}

/// Bytes through the proxy: from the client, to the client.
#[derive(Default)]
struct Counted {
    up: AtomicU64,
    down: AtomicU64,
}

/// A TCP proxy on 127.0.0.1 to `backend` that counts what passes.
async fn proxy(backend: SocketAddr) -> (SocketAddr, Arc<Counted>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counted = Arc::new(Counted::default());
    let counts = counted.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(backend).await.unwrap();
            let counts = counts.clone();
            tokio::spawn(async move {
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let up = tokio::io::copy(&mut client_read, &mut server_write);
                let down = tokio::io::copy(&mut server_read, &mut client_write);
                let counted = counts.clone();
                let up = async move {
                    let n = up.await.unwrap_or(0);
                    counted.up.fetch_add(n, Ordering::SeqCst);
                };
                let down = async move {
                    let n = down.await.unwrap_or(0);
                    counts.down.fetch_add(n, Ordering::SeqCst);
                };
                tokio::join!(up, down);
            });
        }
    });
    (addr, counted)
}

/// Chat-like JSON text of about `len` bytes, compressible as real messages are.
fn text(len: usize, seed: usize) -> String {
    let mut text = String::new();
    let mut i = seed;
    while text.len() < len {
        text.push_str(&format!(
            "{{\"user\":\"user-{}\",\"text\":\"message number {i} in the room\"}},",
            i % 7
        ));
        i += 1;
    }
    text
}

/// Sends `messages` calls of about 16 KiB each and as many shouts, checks every reply and event,
/// closes, and returns the bytes that went up and down, with the payload bytes sent.
async fn exchange(backend: SocketAddr, codec: Codec, compression: bool) -> (u64, u64, u64) {
    let (addr, counted) = proxy(backend).await;
    let client = Client::<RawEvent>::connect(format!("ws://{addr}/"))
        .codec(codec)
        .compression(compression)
        .await
        .unwrap();
    let mut events = client.events_on("news");
    let mut payload = 0;
    for i in 0..8 {
        let text = text(16 * 1024, i * 1000);
        payload += text.len() as u64;
        let reply = client
            .call_route("echo", serde_json::json!({ "text": text }))
            .await
            .unwrap();
        assert_eq!(reply, serde_json::json!(text));
        client
            .call_route("shout", serde_json::json!({ "text": text }))
            .await
            .unwrap();
        let event = tokio::time::timeout(support::WAIT, events.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(event.payload["text"], serde_json::json!(text));
        // A short call goes uncompressed (under the threshold) and still works.
        let short = client
            .call_route("echo", serde_json::json!({ "text": "hi" }))
            .await
            .unwrap();
        assert_eq!(short, serde_json::json!("hi"));
    }
    client.close().await;
    // The proxy counts a direction when it ends.
    tokio::time::timeout(support::WAIT, async {
        while counted.down.load(Ordering::SeqCst) == 0 || counted.up.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    (
        counted.up.load(Ordering::SeqCst),
        counted.down.load(Ordering::SeqCst),
        payload,
    )
}

#[tokio::test]
async fn the_client_compresses_and_inflates_when_the_server_agrees() {
    for server_config in [
        Compression::default(),
        Compression::default().no_context_takeover(false),
    ] {
        let backend = server(Some(server_config)).await;
        for &codec in Codec::ALL {
            let (up, down, payload) = exchange(backend, codec, true).await;
            // Two calls per payload up (echo, shout); a reply and an event down.
            assert!(
                up * 4 < 2 * payload,
                "{codec:?} {server_config:?}: {up} bytes up for {payload} x 2"
            );
            assert!(
                down * 4 < 2 * payload,
                "{codec:?} {server_config:?}: {down} bytes down for {payload} x 2"
            );
        }
    }
}

#[tokio::test]
async fn without_agreement_messages_go_plain_and_still_arrive() {
    // The client does not offer; the server would compress.
    let compressing = server(Some(Compression::default())).await;
    let (up, down, payload) = exchange(compressing, Codec::Json, false).await;
    assert!(
        up > 2 * payload && down > 2 * payload,
        "{up} up, {down} down for {payload} x 2"
    );
    // The client offers; the server has compression off.
    let plain = server(None).await;
    let (up, down, payload) = exchange(plain, Codec::Json, true).await;
    assert!(
        up > 2 * payload && down > 2 * payload,
        "{up} up, {down} down for {payload} x 2"
    );
}
