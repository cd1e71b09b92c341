//! Ports the seed's "Complete Example" of creating an instance: a `token` header (at least one
//! character) and a `client-version` header defaulting to `"1.0.0"`; `on_connect` validates
//! the token (a fake `validate_token`) and builds the user's context; `on_disconnect` logs the
//! rooms the user was in and how long they were connected. Routes: `whoami`, `rooms.join`.
//!
//! Run: `RUST_LOG=info cargo run --example complete` (port from `PORT`, default 3000), connect
//! to `ws://127.0.0.1:3000/?token=valid-ada` and send `{"type":"whoami","rpcId":"1"}`.
#![allow(missing_docs)]

#[path = "support/run.rs"]
#[allow(dead_code)]
mod run;

use garde::Validate;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use zocket::{
    CallError, ClientId, Ctx, Disconnected, Handle, Input, Json, NoOutgoing, Reject, Rooms, Server, TS, Zocket,
};

#[derive(Debug, Deserialize, Validate, TS)]
pub(crate) struct Headers {
    #[garde(length(min = 1))]
    token: String,
    #[serde(rename = "client-version", default = "default_version")]
    #[garde(skip)]
    client_version: String,
}

fn default_version() -> String {
    "1.0.0".into()
}

/// A user record, as the (fake) token service returns it.
#[derive(Debug)]
struct UserRecord {
    id: String,
    name: String,
    role: &'static str,
    email: String,
}

/// Fake token check: `valid-NAME` is the user NAME (`valid-root` is an admin); anything else fails.
async fn validate_token(token: &str) -> Result<UserRecord, String> {
    let name = token
        .strip_prefix("valid-")
        .filter(|n| !n.is_empty())
        .ok_or("unknown token")?;
    Ok(UserRecord {
        id: format!("user-{name}"),
        name: name.to_owned(),
        role: if name == "root" { "admin" } else { "user" },
        email: format!("{name}@example.com"),
    })
}

/// The context of each connection.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub(crate) struct User {
    user_id: String,
    username: String,
    role: &'static str,
    email: String,
    client_version: String,
    #[serde(skip)]
    connected_at: Instant,
}

#[derive(Debug, Deserialize, Validate, TS)]
struct Join {
    #[garde(length(chars, min = 1, max = 64))]
    room: String,
}

async fn on_connect(headers: Headers, client_id: ClientId) -> Result<User, Reject> {
    let user = validate_token(&headers.token).await.map_err(|error| {
        tracing::error!(%error, "auth failed");
        Reject::unauthorized("Authentication failed")
    })?;
    tracing::info!(user = %user.name, %client_id, version = %headers.client_version, "connected");
    Ok(User {
        user_id: user.id,
        username: user.name,
        role: user.role,
        email: user.email,
        client_version: headers.client_version,
        connected_at: Instant::now(),
    })
}

async fn on_disconnect(gone: Disconnected<User>, _server: Handle<NoOutgoing>) {
    let duration_ms = gone.ctx.connected_at.elapsed().as_millis();
    tracing::info!(user = %gone.ctx.username, rooms = ?gone.rooms, duration_ms, "disconnected");
}

async fn whoami(user: Ctx<User>) -> Json<User> {
    Json(User::clone(&user))
}

async fn join(rooms: Rooms, Input(j): Input<Join>) -> Result<Vec<String>, CallError> {
    rooms.join(&j.room)?;
    Ok(rooms.current())
}

pub(crate) fn app() -> Server<Headers, NoOutgoing, User> {
    let zo = Zocket::<Headers, NoOutgoing>::new()
        .on_connect(on_connect)
        .on_disconnect(on_disconnect);
    let router = zo.router().route("whoami", whoami).route("rooms.join", join);
    zo.server(router)
}

#[allow(dead_code)]
fn main() -> std::io::Result<()> {
    run::serve(app)
}
