//! The bench app of `shared/bench-app.md` on plain tokio + tokio-tungstenite, without Zocket: the
//! "floor" the benchmarks compare against. Written the way a competent developer would write it by
//! hand: an accept loop, one task per connection plus one writer task draining a bounded queue
//! (writing what is queued, then flushing, like `StreamExt::forward`), a registry of client queues
//! and a room map behind one lock, serde_json for parsing, and every outgoing broadcast frame
//! serialized once and shared (cloning a text `Message` is a refcount bump). Connections use
//! tokio-tungstenite's default configuration.
//!
//! Run: `PORT=3003 target/release/bench-tungstenite` (port from `PORT`, default 3000).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// How many frames may wait for one client; a broadcast to a client whose queue is full is dropped.
const QUEUE: usize = 1024;

type ClientId = u64;

/// Everything connections share.
#[derive(Default)]
struct State {
    next_id: ClientId,
    clients: HashMap<ClientId, mpsc::Sender<Message>>,
    rooms: HashMap<String, HashSet<ClientId>>,
}

type Shared = Arc<Mutex<State>>;

/// An incoming frame: `{"type", "payload", "rpcId"?}`.
#[derive(Deserialize)]
struct Incoming {
    #[serde(rename = "type")]
    route: String,
    #[serde(default)]
    payload: Value,
    #[serde(rename = "rpcId")]
    rpc_id: Option<String>,
}

/// An outgoing frame.
#[derive(Serialize)]
struct Outgoing<'a, T> {
    #[serde(rename = "type")]
    route: &'a str,
    payload: T,
    #[serde(rename = "rpcId", skip_serializing_if = "Option::is_none")]
    rpc_id: Option<&'a str>,
}

#[derive(Serialize, Deserialize)]
struct Echo {
    seq: i64,
    data: String,
}

#[derive(Serialize, Deserialize)]
struct Shout {
    ts: f64,
    data: String,
}

#[derive(Deserialize)]
struct Join {
    room: String,
}

#[derive(Deserialize)]
struct RoomShout {
    room: String,
    ts: f64,
    data: String,
}

#[derive(Serialize)]
struct ErrorPayload<'a> {
    code: &'a str,
    message: String,
}

fn frame<T: Serialize>(route: &str, payload: T, rpc_id: Option<&str>) -> Message {
    let text = serde_json::to_string(&Outgoing { route, payload, rpc_id }).expect("frames serialize");
    Message::Text(text.into())
}

fn error(code: &str, message: String, rpc_id: Option<&str>) -> Message {
    let route = if rpc_id.is_some() { "__rpc_err" } else { "__error" };
    frame(route, ErrorPayload { code, message }, rpc_id)
}

/// Sends `msg` to every member of `room` (every client when `None`) without waiting on anyone.
fn fan_out(state: &Shared, room: Option<&str>, msg: Message) {
    let state = state.lock().unwrap();
    match room {
        None => {
            for tx in state.clients.values() {
                let _ = tx.try_send(msg.clone());
            }
        }
        Some(room) => {
            let Some(members) = state.rooms.get(room) else { return };
            for id in members {
                if let Some(tx) = state.clients.get(id) {
                    let _ = tx.try_send(msg.clone());
                }
            }
        }
    }
}

/// Handles one incoming text frame; returns the reply for the sender, if any.
fn handle(text: &str, id: ClientId, state: &Shared, joined: &mut Vec<String>) -> Option<Message> {
    let msg: Incoming = match serde_json::from_str(text) {
        Ok(msg) => msg,
        Err(e) => return Some(error("BAD_REQUEST", e.to_string(), None)),
    };
    let rpc_id = msg.rpc_id.as_deref();
    let reply = |payload: Value| rpc_id.map(|rpc_id| frame("__rpc_res", payload, Some(rpc_id)));
    let invalid = |e: serde_json::Error| Some(error("INVALID_INPUT", e.to_string(), rpc_id));
    match msg.route.as_str() {
        "bench.echo" => match serde_json::from_value::<Echo>(msg.payload) {
            Ok(echo) => rpc_id.map(|rpc_id| frame("__rpc_res", echo, Some(rpc_id))),
            Err(e) => invalid(e),
        },
        "bench.shout" => match serde_json::from_value::<Shout>(msg.payload) {
            Ok(shout) => {
                fan_out(state, None, frame("bench.shouted", shout, None));
                reply(Value::Null)
            }
            Err(e) => invalid(e),
        },
        "bench.join" => match serde_json::from_value::<Join>(msg.payload) {
            Ok(join) => {
                let mut state = state.lock().unwrap();
                if state.rooms.entry(join.room.clone()).or_default().insert(id) {
                    joined.push(join.room);
                }
                drop(state);
                reply(Value::Bool(true))
            }
            Err(e) => invalid(e),
        },
        "bench.roomShout" => match serde_json::from_value::<RoomShout>(msg.payload) {
            Ok(s) => {
                let shout = Shout { ts: s.ts, data: s.data };
                fan_out(state, Some(&s.room), frame("bench.shouted", shout, None));
                reply(Value::Null)
            }
            Err(e) => invalid(e),
        },
        other => Some(error("NOT_FOUND", format!("unknown route {other}"), rpc_id)),
    }
}

/// Accepts the upgrade only at path `/`.
#[allow(clippy::result_large_err)]
fn only_root(req: &Request, res: Response) -> Result<Response, ErrorResponse> {
    if req.uri().path() == "/" {
        return Ok(res);
    }
    let mut not_found = ErrorResponse::new(Some("not found".into()));
    *not_found.status_mut() = StatusCode::NOT_FOUND;
    Err(not_found)
}

async fn connection(stream: TcpStream, state: Shared) {
    let _ = stream.set_nodelay(true);
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, only_root).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Message>(QUEUE);
    let id = {
        let mut state = state.lock().unwrap();
        state.next_id += 1;
        let id = state.next_id;
        state.clients.insert(id, tx.clone());
        id
    };
    // Writes what is queued and flushes once the queue is empty, as `StreamExt::forward` does.
    let writer = tokio::spawn(async move {
        'write: while let Some(msg) = rx.recv().await {
            if sink.feed(msg).await.is_err() {
                break;
            }
            while let Ok(msg) = rx.try_recv() {
                if sink.feed(msg).await.is_err() {
                    break 'write;
                }
            }
            if sink.flush().await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });

    let mut joined = Vec::new();
    while let Some(Ok(msg)) = stream.next().await {
        let text = match msg {
            Message::Text(text) => text,
            Message::Binary(bytes) => match Utf8Bytes::try_from(bytes) {
                Ok(text) => text,
                Err(_) => break,
            },
            Message::Close(_) => break,
            _ => continue,
        };
        if let Some(reply) = handle(&text, id, &state, &mut joined) {
            if tx.send(reply).await.is_err() {
                break;
            }
        }
    }

    {
        let mut state = state.lock().unwrap();
        state.clients.remove(&id);
        for room in joined {
            if let Some(members) = state.rooms.get_mut(&room) {
                members.remove(&id);
                if members.is_empty() {
                    state.rooms.remove(&room);
                }
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000u16);
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on ws://127.0.0.1:{}", listener.local_addr()?.port());
    let state = Shared::default();
    // Ctrl-C ends the process (returning from main), so a profiler wrapping it can write its
    // results (`bench/callgrind`).
    let mut stop = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stop => return Ok(()),
        };
        match accepted {
            Ok((stream, _)) => drop(tokio::spawn(connection(stream, state.clone()))),
            Err(e) => {
                eprintln!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}
