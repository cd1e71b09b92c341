//! The conformance app's routes, declared once (`shared/conformance-app.md`): the server
//! (`examples/conformance.rs`) registers a handler for each, and the typed Rust client
//! (`examples/client.rs`, `tests/client*.rs`) calls them, from the same types.
//!
//! Inputs derive what the server needs (`Deserialize`, `Validate`, `TS`) and what a client
//! needs (`Serialize`), and `Route`; replies derive `Serialize` and `Deserialize`; the outgoing
//! enum derives `Outgoing`, which also decodes it on the client side. (No doc comments on the
//! wire types: ts-rs would copy them into the committed TypeScript types.)
#![allow(dead_code, missing_docs, unreachable_pub)]

use garde::Validate;
use serde::{Deserialize, Serialize};
use zocket::{Outgoing, Route, TS};

/// Everything the server sends.
#[derive(Debug, Clone, PartialEq, Outgoing)]
pub enum Out {
    #[zocket(route = "chat.onMessage")]
    ChatMessage { text: String, from: String },
    #[zocket(route = "system.announcement")]
    Announcement { text: String },
    #[zocket(route = "system.tick")]
    Tick { n: i64 },
    #[zocket(route = "presence.left")]
    #[serde(rename_all = "camelCase")]
    PresenceLeft { user_id: String, rooms: Vec<String> },
    #[zocket(route = "room.message")]
    RoomMessage { room: String, text: String, from: String },
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate, TS, Route)]
#[zocket(route = "chat.message")]
pub struct ChatText {
    #[garde(length(chars, min = 1, max = 500))]
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate, TS, Route)]
#[zocket(route = "system.announce")]
#[garde(allow_unvalidated)]
pub struct Text {
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate, TS, Route)]
#[zocket(route = "greet", reply = String)]
#[garde(allow_unvalidated)]
pub struct Greet {
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate, TS, Route)]
#[zocket(route = "math.add", reply = f64)]
#[garde(allow_unvalidated)]
pub struct Add {
    pub a: f64,
    pub b: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate, TS, Route)]
#[zocket(route = "slow.echo", reply = String)]
#[serde(rename_all = "camelCase")]
pub struct SlowEcho {
    #[garde(skip)]
    pub text: String,
    #[garde(range(min = 0, max = 5000))]
    pub delay_ms: u64,
}

// `whoami` takes no input: a unit struct.
#[derive(Debug, Clone, Serialize, Route)]
#[zocket(route = "whoami", reply = Whoami)]
pub struct GetWhoami;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Whoami {
    pub client_id: String,
    pub user_id: String,
    pub client_version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate, TS, Route)]
#[zocket(route = "rooms.join", reply = Vec<String>)]
pub struct Join {
    #[garde(length(chars, min = 1, max = 64))]
    pub room: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate, TS, Route)]
#[zocket(route = "rooms.leave", reply = Vec<String>)]
#[garde(allow_unvalidated)]
pub struct Leave {
    pub room: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate, TS, Route)]
#[zocket(route = "rooms.send")]
#[garde(allow_unvalidated)]
pub struct RoomSend {
    pub room: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate, TS, Route)]
#[zocket(route = "direct.send")]
#[garde(allow_unvalidated)]
pub struct Direct {
    pub to: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Route)]
#[zocket(route = "admin.secret", reply = String)]
pub struct Secret;

#[derive(Debug, Clone, Serialize, Deserialize, Validate, TS, Route)]
#[zocket(route = "admin.pushTick")]
#[garde(allow_unvalidated)]
pub struct PushTick {
    pub n: i64,
}

#[derive(Debug, Clone, Serialize, Route)]
#[zocket(route = "fail.boom")]
pub struct Boom;

#[derive(Debug, Clone, Serialize, Route)]
#[zocket(route = "fail.panic")]
pub struct Panic;
