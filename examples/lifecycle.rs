//! Ports the seed's "Connection Lifecycle" (`onConnect` / `onDisconnect`) and "Best Practices:
//! 4. Log Connection Events" examples: `on_connect` logs the new connection and stamps the
//! context with the time it connected; `on_disconnect` logs who left, the rooms they were in
//! and how long they stayed. Logging goes through `tracing`.
//!
//! Run: `RUST_LOG=info cargo run --example lifecycle` (port from `PORT`, default 3000), connect
//! to `ws://127.0.0.1:3000/?user=ada`, send `{"type":"rooms.join","payload":{"room":"lobby"}}`
//! and disconnect: the server logs `connected` and then `disconnected` with the rooms and the
//! connection's duration.
#![allow(missing_docs)]

#[path = "support/run.rs"]
#[allow(dead_code)]
mod run;

use garde::Validate;
use serde::Deserialize;
use std::time::Instant;
use zocket::{CallError, ClientId, Disconnected, Handle, Input, NoOutgoing, Reject, Rooms, Server, TS, Zocket};

#[derive(Debug, Deserialize, Validate, TS)]
pub(crate) struct Headers {
    #[garde(length(chars, min = 1, max = 32))]
    user: String,
}

/// The context: who is connected, and since when (a monotonic clock, for the duration).
#[derive(Debug)]
pub(crate) struct Session {
    user: String,
    connected_at: Instant,
}

#[derive(Debug, Deserialize, Validate, TS)]
struct Join {
    #[garde(length(chars, min = 1, max = 64))]
    room: String,
}

async fn on_connect(headers: Headers, client_id: ClientId) -> Result<Session, Reject> {
    tracing::info!(%client_id, user = %headers.user, "connected");
    // A real app might record the connection in a database here.
    Ok(Session {
        user: headers.user,
        connected_at: Instant::now(),
    })
}

async fn on_disconnect(gone: Disconnected<Session>, _server: Handle<NoOutgoing>) {
    let duration_ms = u64::try_from(gone.ctx.connected_at.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(
        client_id = %gone.client_id,
        user = %gone.ctx.user,
        rooms = ?gone.rooms,
        duration_ms,
        "disconnected"
    );
    // ... and clean up whatever it kept for this user here.
}

async fn join(rooms: Rooms, Input(j): Input<Join>) -> Result<Vec<String>, CallError> {
    rooms.join(&j.room)?;
    Ok(rooms.current())
}

pub(crate) fn app() -> Server<Headers, NoOutgoing, Session> {
    let zo = Zocket::<Headers, NoOutgoing>::new()
        .on_connect(on_connect)
        .on_disconnect(on_disconnect);
    let router = zo.router().route("rooms.join", join);
    zo.server(router)
}

#[allow(dead_code)]
fn main() -> std::io::Result<()> {
    run::serve(app)
}
