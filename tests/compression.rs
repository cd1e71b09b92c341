//! permessage-deflate (RFC 7692) over real sockets: what the handshake answers, compressed
//! messages both ways, the threshold, a zip bomb refused, and nothing changed when it is off.
//!
//! The client here is a bare TCP socket, to see the server's frames byte by byte: the handshake
//! by hand, and the client's side of deflate with miniz_oxide. (The Rust client's own deflate is
//! tested in `tests/client_compression.rs`.)

mod support;

use support::raw::{self, Frame, RawClient};

use miniz_oxide::deflate::core::{CompressorOxide, create_comp_flags_from_zip_params};
use miniz_oxide::inflate::stream::InflateState;
use miniz_oxide::{DataFormat, MZFlush};
use std::net::SocketAddr;
use std::time::Duration;
use zocket::{Compression, Config};

/// A server with `echo` and `shout`, messages up to 64 KiB, compressing as `compression` says.
async fn server(compression: Option<Compression>) -> SocketAddr {
    server_with(Config::default().compression(compression)).await
}

async fn server_with(config: Config) -> SocketAddr {
    support::echo::server(config.max_message_size(64 * 1024)).await
}

const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];

struct Client {
    raw: RawClient,
    compressor: Box<CompressorOxide>,
    inflater: Box<InflateState>,
}

impl Client {
    /// Opens a WebSocket with these `Sec-WebSocket-Extensions` values (none if empty).
    async fn connect(addr: SocketAddr, offers: &[&str]) -> Client {
        let extensions: String = offers
            .iter()
            .map(|offer| format!("Sec-WebSocket-Extensions: {offer}\r\n"))
            .collect();
        Client {
            raw: RawClient::connect(addr, "/", &extensions).await,
            compressor: Box::new(CompressorOxide::new(create_comp_flags_from_zip_params(6, -15, 0))),
            inflater: InflateState::new_boxed(DataFormat::Raw),
        }
    }

    /// The `sec-websocket-extensions` answer, if any.
    fn extensions(&self) -> Option<&str> {
        self.raw
            .head
            .lines()
            .find_map(|line| line.strip_prefix("sec-websocket-extensions: "))
            .map(str::trim)
    }

    /// Sends one final frame (masked), with RSV1 if `rsv1`.
    async fn send_frame(&mut self, opcode: u8, rsv1: bool, payload: &[u8]) {
        let frame = match rsv1 {
            true => raw::compressed_frame(true, opcode, payload),
            false => raw::frame(true, opcode, payload),
        };
        self.raw.send(&frame).await;
    }

    /// Deflates `message` as a browser does (sync flush, the four-byte tail removed).
    fn deflate(&mut self, message: &[u8], reset: bool) -> Vec<u8> {
        if reset {
            self.compressor.reset();
        }
        let mut out = vec![0; message.len() + 1024];
        let result = miniz_oxide::deflate::stream::deflate(&mut self.compressor, message, &mut out, MZFlush::Sync);
        assert_eq!(result.bytes_consumed, message.len());
        out.truncate(result.bytes_written);
        assert!(out.ends_with(&TAIL));
        out.truncate(out.len() - 4);
        out
    }

    /// Sends a text message, compressed (RSV1) or not.
    async fn send_text(&mut self, text: &str, compressed: bool) {
        if compressed {
            let payload = self.deflate(text.as_bytes(), false);
            self.send_frame(0x1, true, &payload).await;
        } else {
            self.send_frame(0x1, false, text.as_bytes()).await;
        }
    }

    async fn next(&mut self) -> Frame {
        let frame = self
            .raw
            .next(Duration::from_secs(10))
            .await
            .expect("a frame within 10 s");
        assert_eq!(frame.first & 0x80, 0x80, "server frames are final");
        assert_eq!(frame.first & 0x30, 0, "RSV2 and RSV3 are never set");
        frame
    }

    /// A data frame's message, inflated if compressed (with the client's context, reset first
    /// if `reset`).
    fn message(&mut self, frame: &Frame, reset: bool) -> String {
        assert_eq!(frame.opcode, 0x1, "a text frame: {frame:?}");
        if !frame.rsv1() {
            return String::from_utf8(frame.payload.clone()).unwrap();
        }
        if reset {
            self.inflater.reset(DataFormat::Raw);
        }
        let mut input = frame.payload.clone();
        input.extend_from_slice(&TAIL);
        let mut out = vec![0; 1 << 20];
        let result = miniz_oxide::inflate::stream::inflate(&mut self.inflater, &input, &mut out, MZFlush::None);
        assert!(result.status.is_ok(), "{result:?}");
        assert_eq!(result.bytes_consumed, input.len());
        out.truncate(result.bytes_written);
        String::from_utf8(out).unwrap()
    }

    /// Reads until a close frame; its code.
    async fn close_code(&mut self) -> u16 {
        let code = self.raw.close_code(Duration::from_secs(10)).await;
        code.expect("a close frame with a code")
    }
}

fn call(route: &str, text: &str, id: u32) -> String {
    serde_json::json!({ "type": route, "payload": { "text": text }, "rpcId": id.to_string() }).to_string()
}

fn reply(text: &str, id: u32) -> String {
    format!(
        r#"{{"type":"__rpc_res","payload":{},"rpcId":"{id}"}}"#,
        serde_json::Value::from(text)
    )
}

/// Chat-like text that compresses well.
fn long_text(len: usize) -> String {
    "the quick brown fox jumps over the lazy dog; ".repeat(len / 45 + 1)[..len].to_owned()
}

#[tokio::test]
async fn with_compression_off_nothing_changes() {
    let addr = server(None).await;
    let mut client = Client::connect(addr, &["permessage-deflate; client_max_window_bits"]).await;
    assert_eq!(
        client.extensions(),
        None,
        "no extension in the answer: {}",
        client.raw.head
    );
    let text = long_text(2000);
    client.send_text(&call("echo", &text, 1), false).await;
    let frame = client.next().await;
    assert!(!frame.rsv1());
    assert_eq!(client.message(&frame, false), reply(&text, 1));
    // RSV1 without negotiation stays a protocol error.
    let payload = client.deflate(call("echo", "x", 2).as_bytes(), true);
    client.send_frame(0x1, true, &payload).await;
    assert_eq!(client.close_code().await, 1002);
}

#[tokio::test]
async fn offers_are_answered_and_malformed_ones_declined() {
    let shared = server(Some(Compression::default())).await;
    let takeover = server(Some(Compression::default().no_context_takeover(false))).await;
    let cases: [(SocketAddr, &[&str], Option<&str>); 7] = [
        (
            shared,
            &["permessage-deflate; client_max_window_bits"],
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        ),
        (
            takeover,
            &["permessage-deflate; client_max_window_bits"],
            Some("permessage-deflate"),
        ),
        (
            takeover,
            &["permessage-deflate; server_max_window_bits=10; client_no_context_takeover"],
            Some("permessage-deflate; client_no_context_takeover; server_max_window_bits=10"),
        ),
        // Declined, and the connection goes on without compression.
        (takeover, &["permessage-deflate; server_max_window_bits=16"], None),
        (takeover, &["permessage-deflate; mystery"], None),
        // The next acceptable offer is taken.
        (
            takeover,
            &[
                "permessage-deflate; server_max_window_bits",
                "permessage-deflate; server_no_context_takeover",
            ],
            Some("permessage-deflate; server_no_context_takeover"),
        ),
        // A server that compresses, and a client that offers nothing.
        (shared, &[], None),
    ];
    for (addr, offers, expected) in cases {
        let mut client = Client::connect(addr, offers).await;
        assert_eq!(client.extensions(), expected, "{offers:?}");
        // Whatever was agreed, the connection works.
        client.send_text(&call("echo", "ok", 1), false).await;
        let frame = client.next().await;
        assert!(!frame.rsv1(), "2 bytes are under the threshold");
        assert_eq!(client.message(&frame, true), reply("ok", 1), "{offers:?}");
    }
}

#[tokio::test]
async fn messages_round_trip_compressed_both_ways_above_the_threshold() {
    let addr = server(Some(Compression::default().threshold(512))).await;
    let mut client = Client::connect(addr, &["permessage-deflate"]).await;
    assert!(client.extensions().is_some());
    for (id, len) in [(1, 100), (2, 5000), (3, 40_000), (4, 300)] {
        let text = long_text(len);
        let expected = reply(&text, id);
        // The client compresses with context takeover off, as the server asked.
        let request = call("echo", &text, id);
        let payload = client.deflate(request.as_bytes(), true);
        client.send_frame(0x1, true, &payload).await;
        let frame = client.next().await;
        assert_eq!(frame.rsv1(), expected.len() >= 512, "reply of {} bytes", expected.len());
        if frame.rsv1() {
            assert!(
                frame.payload.len() < expected.len() / 4,
                "compressed: {} bytes",
                frame.payload.len()
            );
        }
        assert_eq!(client.message(&frame, true), expected);
    }
    // A compressed message may be fragmented: RSV1 on its first frame only.
    let request = call("echo", &long_text(3000), 5);
    let payload = client.deflate(request.as_bytes(), true);
    let (first, rest) = payload.split_at(payload.len() / 2);
    let mut wire = raw::compressed_frame(false, raw::TEXT, first);
    wire.extend(raw::frame(true, raw::CONTINUATION, rest));
    client.raw.send(&wire).await;
    let frame = client.next().await;
    assert_eq!(client.message(&frame, true), reply(&long_text(3000), 5));
}

#[tokio::test]
async fn context_takeover_keeps_state_across_messages_both_ways() {
    let addr = server(Some(Compression::default().threshold(0).no_context_takeover(false))).await;
    let mut client = Client::connect(addr, &["permessage-deflate"]).await;
    assert_eq!(client.extensions(), Some("permessage-deflate"));
    let mut sizes = Vec::new();
    for id in 1..=3 {
        let text = "hello from a chat client, the same words again";
        // The client's compressor keeps its context: the second message refers to the first.
        client.send_text(&call("echo", text, id), true).await;
        let frame = client.next().await;
        assert!(frame.rsv1());
        sizes.push(frame.payload.len());
        assert_eq!(client.message(&frame, false), reply(text, id));
    }
    assert!(
        sizes[1] < sizes[0] / 2,
        "the server's context shrinks repeats: {sizes:?}"
    );
}

#[tokio::test]
async fn a_broadcast_reaches_every_recipient_compressed_the_same_way() {
    let addr = server(Some(Compression::default())).await;
    let mut plain = Client::connect(addr, &[]).await;
    let mut a = Client::connect(addr, &["permessage-deflate"]).await;
    let mut b = Client::connect(addr, &["permessage-deflate"]).await;
    let text = long_text(4000);
    a.send_text(&call("shout", &text, 1), true).await;
    let news = format!(
        r#"{{"type":"news","payload":{{"text":{}}}}}"#,
        serde_json::Value::from(text.as_str())
    );
    let from_a = loop {
        let frame = a.next().await;
        let message = a.message(&frame, true);
        if message.contains("\"news\"") {
            break (frame, message);
        }
    };
    let from_b = b.next().await;
    let from_plain = plain.next().await;
    assert!(from_a.0.rsv1() && from_b.rsv1() && !from_plain.rsv1());
    assert_eq!(from_a.0.payload, from_b.payload, "the same compressed bytes");
    assert_eq!(from_a.1, news);
    assert_eq!(b.message(&from_b, true), news);
    assert_eq!(plain.message(&from_plain, true), news);
}

#[tokio::test]
async fn with_resume_on_each_recipient_gets_its_sequenced_event_compressed() {
    let config = Config::default()
        .compression(Some(Compression::default()))
        .resume(Some(zocket::Resume::new(Duration::from_secs(30), 1 << 20)));
    let addr = server_with(config).await;
    let mut a = Client::connect(addr, &["permessage-deflate"]).await;
    let mut b = Client::connect(addr, &["permessage-deflate"]).await;
    // Each first gets its `__session` frame (short: uncompressed).
    for client in [&mut a, &mut b] {
        let frame = client.next().await;
        assert!(client.message(&frame, true).contains("__session"));
    }
    let text = long_text(4000);
    a.send_text(&call("shout", &text, 1), true).await;
    for client in [&mut a, &mut b] {
        let event = loop {
            let frame = client.next().await;
            let message = client.message(&frame, true);
            if message.contains("\"news\"") {
                assert!(frame.rsv1(), "compressed");
                break message;
            }
        };
        assert!(event.contains(&text));
        assert!(
            event.ends_with(",\"seq\":1}"),
            "its sequence number: {}",
            &event[event.len() - 20..]
        );
    }
}

#[tokio::test]
async fn a_zip_bomb_is_closed_with_1009() {
    // The server reads messages of up to twice max_message_size (128 KiB here).
    let addr = server(Some(Compression::default())).await;
    let mut client = Client::connect(addr, &["permessage-deflate"]).await;
    let mut bomb = br#"{"type":"echo","payload":{"text":""#.to_vec();
    bomb.resize(bomb.len() + (16 << 20), b'a');
    bomb.extend_from_slice(br#""},"rpcId":"1"}"#);
    let payload = client.deflate(&bomb, true);
    assert!(payload.len() < 100_000, "16 MiB deflate to {} bytes", payload.len());
    client.send_frame(0x1, true, &payload).await;
    assert_eq!(client.close_code().await, 1009);
    // Compressed data that is not deflate fails the connection too.
    let mut client = Client::connect(addr, &["permessage-deflate"]).await;
    client.send_frame(0x1, true, &[0xff; 32]).await;
    assert_eq!(client.close_code().await, 1002);
}
