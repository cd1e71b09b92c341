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

#[tokio::test]
async fn a_plain_get_or_wrong_version_is_refused_with_json() {
    let (addr, _handle) = support::start(conformance::app()).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = "GET /?token=abc HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                   Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: x\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    assert!(response.contains("Sec-WebSocket-Version"), "{response}");
}
