//! The server the soak and abuse tests (`tests/soak.rs`, run by `scripts/soak`) drive: rooms,
//! room messages, an echo call and a large broadcast, with the library's default limits, and
//! `/stats` (clients and rooms in the hub, connections, resident memory) beside the WebSocket.
//!
//! Run: `cargo run --release --example soak_server` (port from `PORT`, default any free one);
//! it prints `listening on ws://127.0.0.1:PORT`.
#![allow(missing_docs)]

use garde::Validate;
use serde::Deserialize;
use serde_json::json;
use zocket::{CallError, Input, NoHeaders, Outgoing, Rooms, Sender, TS, Zocket};

#[derive(Debug, Outgoing)]
enum Out {
    #[zocket(route = "room.message")]
    RoomMessage { room: String, text: String },
    #[zocket(route = "big.blob")]
    Blob { data: String },
}

#[derive(Deserialize, Validate, TS)]
#[garde(allow_unvalidated)]
struct Room {
    room: String,
}

#[derive(Deserialize, Validate, TS)]
#[garde(allow_unvalidated)]
struct Say {
    room: String,
    text: String,
}

#[derive(Deserialize, Validate, TS)]
#[garde(allow_unvalidated)]
struct Blast {
    room: String,
    count: usize,
    bytes: usize,
}

async fn join(rooms: Rooms, Input(r): Input<Room>) -> Result<Vec<String>, CallError> {
    rooms.join(&r.room)?;
    Ok(rooms.current())
}

async fn say(send: Sender<Out>, Input(s): Input<Say>) -> Result<usize, CallError> {
    let delivery = send
        .emit(Out::RoomMessage {
            room: s.room.clone(),
            text: s.text,
        })
        .to_room(&s.room)?;
    Ok(delivery.delivered)
}

#[derive(Deserialize, Validate, TS)]
#[garde(allow_unvalidated)]
struct Text {
    text: String,
}

async fn echo(Input(t): Input<Text>) -> String {
    t.text
}

/// Sends `count` messages of `bytes` bytes each to a room; replies how many deliveries were
/// refused because a queue was full.
async fn blast(send: Sender<Out>, Input(b): Input<Blast>) -> Result<usize, CallError> {
    let data = "z".repeat(b.bytes.min(4 << 20));
    let mut dropped = 0;
    for _ in 0..b.count.min(1000) {
        dropped += send.emit(Out::Blob { data: data.clone() }).to_room(&b.room)?.dropped;
        tokio::task::yield_now().await;
    }
    Ok(dropped)
}

/// This process's resident memory in bytes (Linux), or 0.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse::<u64>().ok());
    kib.unwrap_or(0) * 1024
}

/// Open file descriptors of this process (Linux), or 0.
fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|dir| dir.count()).unwrap_or(0)
}

fn main() -> std::io::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(async {
        let zo = Zocket::<NoHeaders, Out>::new();
        let router = zo
            .router()
            .route("join", join)
            .route("say", say)
            .route("echo", echo)
            .route("blast", blast);
        let server = zo.server(router);
        let handle = server.handle();
        let stats = move || {
            let body = json!({
                "clients": handle.client_count(),
                "rooms": handle.room_names().len(),
                "rss": rss(),
                "fds": fds(),
            });
            std::future::ready(body.to_string())
        };
        let app = axum::Router::new()
            .route("/", server.method_router())
            .route("/stats", axum::routing::get(stats));
        let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(0);
        let listener = zocket::listen(("127.0.0.1", port)).await?;
        println!("listening on ws://127.0.0.1:{}", listener.local_addr()?.port());
        zocket::serve(listener, server)
            .with_app(app)
            .with_graceful_shutdown(async {
                tokio::signal::ctrl_c().await.ok();
            })
            .await
    })
}
