//! The WebSocket transport over real sockets, byte by byte: fragmented messages, pings, the
//! closing handshake, and frames a server must refuse.

#[path = "../examples/conformance.rs"]
#[allow(dead_code)]
mod conformance;
mod support;

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A raw client: the handshake by hand, then frames as bytes.
async fn raw(addr: std::net::SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /?token=raw HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(stream.read_u8().await.unwrap());
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "the RFC's accept key: {head}"
    );
    stream
}

/// A masked client frame.
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [1, 2, 3, 4];
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    match payload.len() {
        len @ 0..=125 => out.push(0x80 | len as u8),
        len => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    out
}

/// Reads one server frame: (opcode, payload).
async fn read_frame(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    tokio::time::timeout(Duration::from_secs(5), async {
        let b0 = stream.read_u8().await.unwrap();
        let b1 = stream.read_u8().await.unwrap();
        assert_eq!(b1 & 0x80, 0, "server frames are not masked");
        let len = match b1 & 0x7f {
            126 => stream.read_u16().await.unwrap() as usize,
            127 => stream.read_u64().await.unwrap() as usize,
            short => short as usize,
        };
        let mut payload = vec![0; len];
        stream.read_exact(&mut payload).await.unwrap();
        (b0 & 0x0f, payload)
    })
    .await
    .expect("a frame within 5 s")
}

#[tokio::test]
async fn fragments_are_joined_and_pings_answered_in_between() {
    let (addr, _handle) = support::start(conformance::app()).await;
    let mut s = raw(addr).await;
    let text = br#"{"type":"greet","payload":{"name":"Frag"},"rpcId":"f1"}"#;
    let mut wire = frame(false, 0x1, &text[..10]);
    wire.extend(frame(true, 0x9, b"are you there"));
    wire.extend(frame(false, 0x0, &text[10..30]));
    wire.extend(frame(true, 0x0, &text[30..]));
    s.write_all(&wire).await.unwrap();
    assert_eq!(
        read_frame(&mut s).await,
        (0xA, b"are you there".to_vec()),
        "a pong echoes the ping"
    );
    let (opcode, reply) = read_frame(&mut s).await;
    assert_eq!(opcode, 0x1);
    assert_eq!(reply, br#"{"type":"__rpc_res","payload":"Hello, Frag!","rpcId":"f1"}"#);
}

#[tokio::test]
async fn a_client_close_is_echoed_with_its_code() {
    let (addr, _handle) = support::start(conformance::app()).await;
    let mut s = raw(addr).await;
    s.write_all(&frame(true, 0x8, &4000u16.to_be_bytes())).await.unwrap();
    let (opcode, payload) = read_frame(&mut s).await;
    assert_eq!((opcode, &payload[..2]), (0x8, &4000u16.to_be_bytes()[..]));
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the server ends the TCP connection after the handshake");
}

#[tokio::test]
async fn protocol_violations_close_with_1002_and_others_are_unaffected() {
    let (addr, _handle) = support::start(conformance::app()).await;
    let mut bystander = support::Client::connect(&format!("ws://{addr}/?token=bystander")).await;
    let cases: [(&str, Vec<u8>); 4] = [
        ("unmasked", vec![0x81, 0x02, b'{', b'}']),
        ("reserved bits", {
            let mut f = frame(true, 0x1, b"{}");
            f[0] |= 0x40;
            f
        }),
        ("continuation first", frame(true, 0x0, b"{}")),
        ("unknown opcode", frame(true, 0x3, b"")),
    ];
    for (name, wire) in cases {
        let mut s = raw(addr).await;
        s.write_all(&wire).await.unwrap();
        let (opcode, payload) = read_frame(&mut s).await;
        assert_eq!((opcode, &payload[..2]), (0x8, &1002u16.to_be_bytes()[..]), "{name}");
    }
    assert_eq!(
        bystander.ok("greet", serde_json::json!({"name": "B"})).await,
        "Hello, B!"
    );
}

/// Sends a raw HTTP request and reads the whole response (the server closes after it).
async fn http(addr: std::net::SocketAddr, version: &str, key: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /?token=abc HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: {version}\r\nSec-WebSocket-Key: {key}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut response))
        .await
        .expect("a response within 5 s")
        .unwrap();
    response
}

#[tokio::test]
async fn a_wrong_version_gets_426_naming_version_13_in_json() {
    let (addr, _handle) = support::start(conformance::app()).await;
    let response = http(addr, "8", "dGhlIHNhbXBsZSBub25jZQ==").await;
    assert!(response.starts_with("HTTP/1.1 426"), "{response}");
    assert!(
        response.to_ascii_lowercase().contains("sec-websocket-version: 13\r\n"),
        "{response}"
    );
    assert!(response.contains("application/json"), "{response}");
    assert!(
        response.ends_with(r#"{"error":"Sec-WebSocket-Version header must be '13'"}"#),
        "{response}"
    );
}

#[tokio::test]
async fn a_key_that_is_not_base64_of_16_bytes_gets_400_json() {
    let (addr, _handle) = support::start(conformance::app()).await;
    for key in [
        "x",
        "dGhlIHNhbXBsZSBub25j",
        "dGhlIHNhbXBsZSBub25jZSE=",
        "dGhlIHNhbXBsZSBub25jZQ",
    ] {
        let response = http(addr, "13", key).await;
        assert!(response.starts_with("HTTP/1.1 400"), "{key}: {response}");
        assert!(
            response.ends_with(r#"{"error":"Sec-WebSocket-Key header must be the base64 of 16 bytes"}"#),
            "{key}: {response}"
        );
    }
}

/// Sends `wire` on a fresh connection and returns the close frame's code, checking that it
/// comes first, and that the server then ends the TCP connection promptly (before the grace).
async fn closes_with(addr: std::net::SocketAddr, wire: &[u8]) -> (u16, Vec<u8>) {
    let mut s = raw(addr).await;
    s.write_all(wire).await.unwrap();
    let (opcode, payload) = read_frame(&mut s).await;
    assert_eq!(opcode, 0x8, "a close frame, not {payload:?}");
    assert!(payload.len() >= 2, "with a code");
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(1), s.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the server ends the TCP connection at once");
    (u16::from_be_bytes([payload[0], payload[1]]), payload[2..].to_vec())
}

#[tokio::test]
async fn reserved_and_unassigned_close_codes_get_1002_and_are_never_echoed() {
    let (addr, _handle) = support::start(conformance::app()).await;
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000] {
        let (reply, _) = closes_with(addr, &frame(true, 0x8, &code.to_be_bytes())).await;
        assert_eq!(reply, 1002, "close code {code}");
    }
    for code in [1000u16, 1001, 1003, 1011, 3000, 4999] {
        let (reply, _) = closes_with(addr, &frame(true, 0x8, &code.to_be_bytes())).await;
        assert_eq!(reply, code, "a valid code is echoed");
    }
    let (reply, _) = closes_with(addr, &frame(true, 0x8, &[0x03])).await;
    assert_eq!(reply, 1002, "half a code");
}

#[tokio::test]
async fn a_close_reason_that_is_not_utf8_gets_1007() {
    let (addr, _handle) = support::start(conformance::app()).await;
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"bye \xce\xba\xff");
    let (reply, reason) = closes_with(addr, &frame(true, 0x8, &payload)).await;
    assert_eq!((reply, &reason[..]), (1007, &b"invalid UTF-8"[..]));
}

#[tokio::test]
async fn invalid_utf8_fails_fast_in_a_first_fragment_and_mid_frame() {
    let (addr, _handle) = support::start(conformance::app()).await;
    // A first fragment, its message unfinished: the rest is never sent.
    let (reply, _) = closes_with(addr, &frame(false, 0x1, b"{\"type\":\"\xed\xa0\x80")).await;
    assert_eq!(reply, 1007);
    // The first bytes of a frame of 200: the other 190 are never sent.
    let mut payload = b"{\"type\":\xc0\xaf".to_vec();
    payload.resize(200, b' ');
    let whole = frame(true, 0x1, &payload);
    let (reply, _) = closes_with(addr, &whole[..whole.len() - 190]).await;
    assert_eq!(reply, 1007);
}

#[tokio::test]
async fn control_frames_in_a_message_are_not_held_to_its_budget() {
    // The server reads messages of up to twice the limit: 200 bytes.
    let zo = zocket::Zocket::<zocket::NoHeaders, zocket::NoOutgoing>::new()
        .config(zocket::Config::default().max_message_size(100));
    let router = zo.router();
    let (addr, _handle) = support::start(zo.server(router)).await;
    let mut s = raw(addr).await;
    let mut wire = frame(false, 0x1, &[b' '; 199]);
    wire.extend(frame(true, 0x9, &[b'p'; 125]));
    s.write_all(&wire).await.unwrap();
    assert_eq!(
        read_frame(&mut s).await,
        (0xA, vec![b'p'; 125]),
        "a full-size ping is answered"
    );
    // The message itself still may not pass its budget.
    s.write_all(&frame(true, 0x0, b"{}")).await.unwrap();
    let (opcode, payload) = read_frame(&mut s).await;
    assert_eq!((opcode, &payload[..2]), (0x8, &1009u16.to_be_bytes()[..]));
}
