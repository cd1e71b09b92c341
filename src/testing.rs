//! Test utilities: clients connected to a [`Server`] in memory, through the real connection
//! runtime (the same frames, dispatch, validation, rooms and sends), with no socket or port.
//!
//! Calls are typed by the route's declaration ([`Route`]), as with the socket client
//! (`zocket-client`), so tests and production code use one API; [`TestClient::call_route`]
//! reaches any route by name with any payload.
//!
//! ```
//! use garde::Validate;
//! use serde::{Deserialize, Serialize};
//! use serde_json::json;
//! use zocket::{Input, NoHeaders, NoOutgoing, Route, TS, Zocket};
//!
//! #[derive(Serialize, Deserialize, Validate, TS, Route)]
//! #[zocket(route = "greet", reply = String)]
//! #[ts(crate = "zocket::ts_rs")]
//! struct Greet {
//!     #[garde(length(min = 1))]
//!     name: String,
//! }
//!
//! async fn greet(Input(g): Input<Greet>) -> String {
//!     format!("Hello, {}!", g.name)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let zo = Zocket::<NoHeaders, NoOutgoing>::new();
//! let router = zo.router().route(Greet::ROUTE, greet);
//! let server = zo.server(router);
//!
//! let mut client = server.test_client(NoHeaders {}).await.unwrap();
//! let greeting: String = client.call(Greet { name: "Ada".into() }).await.unwrap();
//! assert_eq!(greeting, "Hello, Ada!");
//! let error = client.call(Greet { name: "".into() }).await.unwrap_err();
//! assert_eq!(error.code, zocket::ErrorCode::InvalidInput);
//! assert_eq!(client.call_route("greet", json!({"name": "Bo"})).await.unwrap(), "Hello, Bo!");
//! # }
//! ```

use crate::connection::{Opening, Refused, Start, reserve};
use crate::transport::direct::Stream;
use crate::transport::frame::{self, opcode};
use crate::{Outgoing, Reject, Route, Server};
use bytes::{Buf, Bytes, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use zocket_protocol::{Codec, ErrorPayload, RPC_ERROR, RPC_RESULT};

/// How long a test client waits for a frame before it panics.
const WAIT: Duration = Duration::from_secs(10);

impl<H, O, C, S> Server<H, O, C, S>
where
    H: Send + 'static,
    O: Outgoing,
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    /// Connects a client in memory with these (already typed) headers, speaking JSON. It runs
    /// `on_connect` like any client; a refusal comes back as the [`Reject`] (503 while the
    /// server shuts down, is full or `on_connect` runs past its deadline, 500 if it panicked).
    pub async fn test_client(&self, headers: H) -> Result<TestClient, Reject> {
        self.test_client_with(headers, Codec::Json).await
    }

    /// [`test_client`](Self::test_client), speaking `codec`.
    pub async fn test_client_with(&self, headers: H, codec: Codec) -> Result<TestClient, Reject> {
        let admitted = async { reserve(&self.shared)?.admit(&self.shared, headers, codec).await }
            .await
            .map_err(Refused::into_reject)?;
        let id = admitted.conn.id.clone();
        let (client, server) = tokio::io::duplex(64 * 1024);
        let start = Start {
            admitted,
            shared: self.shared.clone(),
            opening: Opening::Open(Stream::Memory(server)),
            compression: None,
        };
        tokio::spawn(Box::new(start).run());
        Ok(TestClient {
            io: client,
            buf: BytesMut::new(),
            codec,
            next_id: 0,
            queued: VecDeque::new(),
            id,
        })
    }
}

/// A client connected in memory; see the [module docs](self). Every wait is bounded (10 s),
/// so a test that expects a frame which never comes fails instead of hanging.
#[derive(Debug)]
pub struct TestClient {
    io: DuplexStream,
    buf: BytesMut,
    codec: Codec,
    next_id: u64,
    /// Frames read while waiting for a reply, for [`next`](Self::next) and [`event`](Self::event).
    queued: VecDeque<Value>,
    id: crate::ClientId,
}

impl TestClient {
    /// The id the server gave this client.
    pub fn id(&self) -> &crate::ClientId {
        &self.id
    }

    /// Sends one raw message (a text frame for JSON, binary for MessagePack).
    pub async fn send_raw(&mut self, message: &[u8]) {
        let opcode = if self.codec.is_binary() {
            opcode::BINARY
        } else {
            opcode::TEXT
        };
        // A zero masking key: masked as the protocol requires, the bytes unchanged.
        let frame = frame::client_frame(true, opcode, [0; 4], message);
        self.io.write_all(&frame).await.expect("the server end is open");
    }

    /// Calls a declared route and waits for its reply, read as the declared reply type; or the
    /// error payload of `__rpc_err`. Events that arrive meanwhile are kept for
    /// [`next`](Self::next) and [`event`](Self::event). Panics if the reply does not have the
    /// declared type.
    pub async fn call<R>(&mut self, input: R) -> Result<R::Reply, ErrorPayload>
    where
        R: Route + Serialize,
        R::Reply: DeserializeOwned,
    {
        let reply = self.call_frame(R::NAME, R::HAS_INPUT.then_some(&input)).await?;
        Ok(serde_json::from_value(reply).unwrap_or_else(|error| {
            panic!(
                "the reply of \"{}\" is not a {}: {error}",
                R::NAME,
                std::any::type_name::<R::Reply>()
            )
        }))
    }

    /// Sends a declared route's message without waiting for a reply.
    pub async fn send<R: Route + Serialize>(&mut self, input: R) {
        let frame = self.encode(R::NAME, R::HAS_INPUT.then_some(&input), None);
        self.send_raw(&frame).await;
    }

    /// Sends a message to any route, by name, without waiting for a reply.
    pub async fn send_route(&mut self, route: &str, payload: impl Serialize) {
        let frame = self.encode(route, Some(&payload), None);
        self.send_raw(&frame).await;
    }

    /// Calls any route, by name, with any payload, and waits for its reply: the result, or the
    /// error payload of `__rpc_err`. Events that arrive meanwhile are kept for
    /// [`next`](Self::next) and [`event`](Self::event).
    pub async fn call_route(&mut self, route: &str, payload: impl Serialize) -> Result<Value, ErrorPayload> {
        self.call_frame(route, Some(&payload)).await
    }

    async fn call_frame<P: Serialize>(&mut self, route: &str, payload: Option<&P>) -> Result<Value, ErrorPayload> {
        self.next_id += 1;
        let id = format!("t{}", self.next_id);
        let frame = self.encode(route, payload, Some(&id));
        self.send_raw(&frame).await;
        loop {
            let frame = self.read_frame().await.expect("the connection closed before the reply");
            if frame["rpcId"] == id.as_str() {
                let payload = frame["payload"].clone();
                return match frame["type"].as_str() {
                    Some(RPC_RESULT) => Ok(payload),
                    Some(RPC_ERROR) => Err(serde_json::from_value(payload).expect("an error payload")),
                    other => panic!("a reply of type {other:?}"),
                };
            }
            self.queued.push_back(frame);
        }
    }

    /// The next frame the server sent (as a JSON value whatever the codec), or `None` once
    /// the connection is closed.
    pub async fn next(&mut self) -> Option<Value> {
        match self.queued.pop_front() {
            Some(frame) => Some(frame),
            None => self.read_frame().await,
        }
    }

    /// The payload of the next event on `route`; other frames before it are kept.
    pub async fn event(&mut self, route: &str) -> Value {
        if let Some(at) = self.queued.iter().position(|f| f["type"] == route) {
            return self.queued.remove(at).expect("found")["payload"].clone();
        }
        loop {
            let frame = self.read_frame().await.expect("the connection closed before the event");
            if frame["type"] == route {
                return frame["payload"].clone();
            }
            self.queued.push_back(frame);
        }
    }

    /// The payload bytes of the next frame, as the server encoded them; `None` once closed.
    pub async fn next_raw(&mut self) -> Option<Bytes> {
        loop {
            let (opcode, payload) = self.read_raw().await?;
            match opcode {
                0x1 | 0x2 => return Some(payload),
                0x8 => return None,
                _ => continue,
            }
        }
    }

    /// Closes the connection (the server sees the client leave).
    pub async fn close(mut self) {
        let _ = self.io.write_all(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8]).await;
        while self.read_raw().await.is_some() {}
    }

    fn encode<P: Serialize>(&self, route: &str, payload: Option<&P>, rpc_id: Option<&str>) -> Vec<u8> {
        let mut out = Vec::new();
        self.codec
            .write_message(&mut out, route, payload, rpc_id)
            .expect("a serializable payload");
        out
    }

    async fn read_frame(&mut self) -> Option<Value> {
        let payload = self.next_raw().await?;
        #[cfg(feature = "msgpack")]
        if self.codec.is_binary() {
            return Some(rmp_serde::from_slice(&payload).expect("the server sends MessagePack"));
        }
        Some(serde_json::from_slice(&payload).expect("the server sends JSON"))
    }

    /// One server frame: (opcode, payload); `None` once the connection is closed.
    async fn read_raw(&mut self) -> Option<(u8, Bytes)> {
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some(frame) = self.parse() {
                    return Some(frame);
                }
                match self.io.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        })
        .await
        .expect("the server sent nothing within 10 s")
    }

    fn parse(&mut self) -> Option<(u8, Bytes)> {
        let buf = &self.buf;
        if buf.len() < 2 {
            return None;
        }
        let (len, header) = match buf[1] & 0x7F {
            126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
            127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().expect("8")) as usize, 10),
            126 | 127 => return None,
            short => (short as usize, 2),
        };
        if buf.len() < header + len {
            return None;
        }
        let opcode = buf[0] & 0x0F;
        self.buf.advance(header);
        Some((opcode, self.buf.split_to(len).freeze()))
    }
}
