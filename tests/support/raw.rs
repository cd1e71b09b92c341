//! A WebSocket client on a bare TCP socket, for what a well-behaved client library will not
//! do: trickle a frame, flood pings, leave a fragmented message unfinished, stop reading.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const TEXT: u8 = 0x1;
pub const CONTINUATION: u8 = 0x0;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// A client frame, masked with a zero key (so the payload bytes go out as they are).
pub fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = frame_header(fin, opcode, payload.len());
    out.extend_from_slice(payload);
    out
}

/// [`frame`] with RSV1 set: a compressed message's first frame (permessage-deflate).
pub fn compressed_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = frame(fin, opcode, payload);
    out[0] |= 0x40;
    out
}

/// The header (with its zero mask key) of a client frame of `len` bytes.
pub fn frame_header(fin: bool, opcode: u8, len: usize) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    match len {
        0..=125 => out.push(0x80 | len as u8),
        126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&[0; 4]);
    out
}

/// A frame from the server.
#[derive(Debug)]
pub struct Frame {
    /// The frame's first byte: FIN, RSV1-3 and the opcode.
    pub first: u8,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    /// RSV1: compressed (permessage-deflate).
    pub fn rsv1(&self) -> bool {
        self.first & 0x40 != 0
    }

    /// The code of a close frame.
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == CLOSE && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

pub struct RawClient {
    pub stream: TcpStream,
    /// The response to the upgrade, lower-cased.
    pub head: String,
    buf: Vec<u8>,
}

impl RawClient {
    /// Opens a WebSocket at `path` (with its query) with these extra request header lines.
    pub async fn connect(addr: SocketAddr, path: &str, extra: &str) -> RawClient {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let mut chunk = [0; 1024];
            let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
                .await
                .expect("no response to the upgrade")
                .unwrap();
            assert!(n > 0, "closed during the handshake");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 101"), "not upgraded: {head}");
        buf.drain(..head_end);
        RawClient { stream, head, buf }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Sends, ignoring a failure (the server may have closed).
    pub async fn send_lossy(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).await.is_ok()
    }

    /// The next frame from the server, or `None` once the connection ends or `within` passes.
    pub async fn next(&mut self, within: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(frame) = self.parse() {
                return Some(frame);
            }
            let mut chunk = [0; 64 * 1024];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => self.buf.extend_from_slice(&chunk[..n]),
                _ => return None,
            }
        }
    }

    /// Reads frames until a close frame arrives (its code), the connection ends without one
    /// (`None`), or `within` passes (panics).
    pub async fn close_code(&mut self, within: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                panic!("the server did not close within {within:?}");
            }
            match self.next(left).await {
                Some(frame) if frame.opcode == CLOSE => return frame.close_code(),
                Some(_) => continue,
                None if tokio::time::Instant::now() >= deadline => panic!("the server did not close within {within:?}"),
                None => return None,
            }
        }
    }

    fn parse(&mut self) -> Option<Frame> {
        let buf = &self.buf;
        if buf.len() < 2 {
            return None;
        }
        let (len, start) = match buf[1] & 0x7F {
            126 if buf.len() >= 4 => (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
            127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize, 10),
            126 | 127 => return None,
            short => (usize::from(short), 2),
        };
        if buf.len() < start + len {
            return None;
        }
        let first = buf[0];
        let payload = buf[start..start + len].to_vec();
        self.buf.drain(..start + len);
        Some(Frame {
            first,
            opcode: first & 0x0F,
            payload,
        })
    }
}
