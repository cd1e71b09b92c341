//! A raw MessagePack client: offers a subprotocol, sends and reads binary MessagePack frames.

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Message, http::HeaderValue};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The MessagePack subprotocol.
pub const PROTOCOL: &str = "zocket.v1.msgpack";

/// Connects offering `protocol`; returns the socket and the subprotocol the server chose.
pub async fn connect_offering(url: &str, protocol: &str) -> (Ws, Option<String>) {
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_str(protocol).unwrap());
    let (ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    let chosen = response
        .headers()
        .get("sec-websocket-protocol")
        .map(|v| v.to_str().unwrap().to_owned());
    (ws, chosen)
}

/// Connects as a MessagePack client.
pub async fn connect(url: &str) -> Ws {
    connect_offering(url, PROTOCOL).await.0
}

pub async fn send(ws: &mut Ws, frame: &Value) {
    let bytes = rmp_serde::to_vec_named(frame).unwrap();
    ws.send(Message::Binary(bytes.into())).await.unwrap();
}

/// The next frame, which must be a binary MessagePack one.
pub async fn next(ws: &mut Ws) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a frame within 5 s")
            .expect("the socket is open")
            .unwrap();
        match message {
            Message::Binary(bytes) => return rmp_serde::from_slice(&bytes).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }
}
