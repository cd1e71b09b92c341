//! A real WebSocket client over loopback, and a server started on a free port.
#![allow(dead_code, missing_docs, unreachable_pub)]

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message, protocol::CloseFrame};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub mod echo;
pub mod msgpack;
pub mod raw;
pub mod resume;

pub const WAIT: Duration = Duration::from_secs(5);

/// Serves `server` on 127.0.0.1 with a free port; returns the address and a handle.
pub async fn start<H, O, C, S>(server: zocket::Server<H, O, C, S>) -> (SocketAddr, zocket::Handle<O>)
where
    H: serde::de::DeserializeOwned + garde::Validate + Send + 'static,
    H::Context: Default,
    O: zocket::Outgoing,
    C: Send + Sync + 'static,
    S: Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = server.handle();
    tokio::spawn(async move { zocket::serve(listener, server).await.unwrap() });
    (addr, handle)
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    backlog: VecDeque<Value>,
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .unwrap_or_else(|e| panic!("connect {url}: {e}"));
        Client {
            ws,
            next_id: 0,
            backlog: VecDeque::new(),
        }
    }

    /// Tries to connect; on an HTTP refusal returns its status and JSON body.
    pub async fn refused(url: &str) -> (u16, Value) {
        match tokio_tungstenite::connect_async(url).await {
            Ok(_) => panic!("{url} was accepted"),
            Err(tungstenite::Error::Http(response)) => {
                let body = response.body().clone().unwrap_or_default();
                let ct = response
                    .headers()
                    .get("content-type")
                    .map(|v| v.to_str().unwrap().to_owned());
                assert_eq!(ct.as_deref(), Some("application/json"));
                (response.status().as_u16(), serde_json::from_slice(&body).unwrap())
            }
            Err(other) => panic!("unexpected error {other}"),
        }
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws.send(Message::text(text.into())).await.unwrap();
    }

    pub async fn send_message(&mut self, message: Message) {
        self.ws.send(message).await.unwrap();
    }

    pub async fn send_json(&mut self, frame: Value) {
        self.send_text(frame.to_string()).await;
    }

    /// Sends a call with a fresh rpcId; returns the id.
    pub async fn start_call(&mut self, route: &str, payload: Value) -> String {
        self.next_id += 1;
        let id = format!("r{}", self.next_id);
        self.send_json(json!({"type": route, "payload": payload, "rpcId": id}))
            .await;
        id
    }

    /// Calls `route` and returns the whole reply frame (`__rpc_res` or `__rpc_err`); other
    /// frames that arrive meanwhile are kept for `event`.
    pub async fn call(&mut self, route: &str, payload: Value) -> Value {
        let id = self.start_call(route, payload).await;
        self.reply(&id).await
    }

    /// Calls and unwraps a success reply's payload.
    pub async fn ok(&mut self, route: &str, payload: Value) -> Value {
        let reply = self.call(route, payload).await;
        assert_eq!(reply["type"], "__rpc_res", "{route} failed: {reply}");
        reply["payload"].clone()
    }

    /// Calls and unwraps a failure reply's payload.
    pub async fn err(&mut self, route: &str, payload: Value) -> Value {
        let reply = self.call(route, payload).await;
        assert_eq!(reply["type"], "__rpc_err", "{route} did not fail: {reply}");
        reply["payload"].clone()
    }

    pub async fn reply(&mut self, id: &str) -> Value {
        if let Some(pos) = self.backlog.iter().position(|f| f["rpcId"] == id) {
            return self.backlog.remove(pos).unwrap();
        }
        loop {
            let frame = self.read().await;
            if frame["rpcId"] == id {
                return frame;
            }
            self.backlog.push_back(frame);
        }
    }

    /// The next frame of type `route` (kept frames first); returns its payload.
    pub async fn event(&mut self, route: &str) -> Value {
        if let Some(pos) = self.backlog.iter().position(|f| f["type"] == route) {
            return self.backlog.remove(pos).unwrap()["payload"].clone();
        }
        loop {
            let frame = self.read().await;
            if frame["type"] == route {
                return frame["payload"].clone();
            }
            self.backlog.push_back(frame);
        }
    }

    /// The next frame, whatever it is.
    pub async fn next_frame(&mut self) -> Value {
        match self.backlog.pop_front() {
            Some(frame) => frame,
            None => self.read().await,
        }
    }

    /// Asserts no frame arrives within `within`.
    pub async fn silent(&mut self, within: Duration) {
        assert!(self.backlog.is_empty(), "unexpected frames {:?}", self.backlog);
        let deadline = tokio::time::Instant::now() + within;
        while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, self.ws.next()).await {
            if !matches!(message, Message::Ping(_) | Message::Pong(_)) {
                panic!("unexpected frame {message:?}");
            }
        }
    }

    /// Waits for the server's close frame.
    pub async fn closed(&mut self) -> Option<CloseFrame> {
        tokio::time::timeout(WAIT, async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Close(frame))) => return frame,
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => return None,
                }
            }
        })
        .await
        .expect("the server did not close the connection")
    }

    async fn read(&mut self) -> Value {
        let message = tokio::time::timeout(WAIT, async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Text(text))) => {
                        return serde_json::from_str::<Value>(&text).unwrap();
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    other => panic!("expected a frame, got {other:?}"),
                }
            }
        })
        .await;
        message.expect("no frame arrived in time")
    }
}

/// How a connection ended after a refused message.
#[derive(Debug)]
pub enum Ending {
    Closed(u16),
    Frame(Value),
    Dropped,
}

impl Client {
    pub fn from_stream(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Client {
        Client {
            ws,
            next_id: 0,
            backlog: VecDeque::new(),
        }
    }

    /// Writes `frame` and a close frame in one flush, then waits for the server's close.
    pub async fn send_and_close(&mut self, frame: Value) {
        self.ws.feed(Message::text(frame.to_string())).await.unwrap();
        self.ws.feed(Message::Close(None)).await.unwrap();
        self.ws.flush().await.unwrap();
        let _ = tokio::time::timeout(WAIT, async { while let Some(Ok(_)) = self.ws.next().await {} }).await;
    }

    /// Starts the closing handshake and waits for the server's reply.
    pub async fn close(&mut self) {
        let _ = self.ws.close(None).await;
        let _ = tokio::time::timeout(WAIT, async { while let Some(Ok(_)) = self.ws.next().await {} }).await;
    }

    /// Sends, ignoring a failure (the server may close mid-send).
    pub async fn send_text_lossy(&mut self, text: String) {
        let _ = self.ws.send(Message::text(text)).await;
    }

    /// The next close frame, error frame, or the end of the stream.
    pub async fn closed_or_error(&mut self) -> Ending {
        tokio::time::timeout(WAIT, async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Close(Some(frame)))) => {
                        return Ending::Closed(frame.code.into());
                    }
                    Some(Ok(Message::Text(text))) => {
                        return Ending::Frame(serde_json::from_str(&text).unwrap());
                    }
                    Some(Ok(_)) => continue,
                    _ => return Ending::Dropped,
                }
            }
        })
        .await
        .expect("the server neither refused nor closed")
    }
}
