//! Ports the seed's "With User Context" example: `on_connect` checks the `token` header against
//! a (tiny, in-memory) token table and returns `{userId, username, role, isAuthenticated}`,
//! which every handler then sees as its typed context. An unknown token is refused with HTTP
//! 401, a suspended account with HTTP 403.
//!
//! Run: `cargo run --example user_context` (port from `PORT`, default 3000), connect to
//! `ws://127.0.0.1:3000/?token=tok-ada` and send `{"type":"whoami","rpcId":"1"}`.
//! Other tokens: `tok-bob` (a member), `tok-eve` (suspended: 403), anything else: 401.
#![allow(missing_docs)]

#[path = "support/run.rs"]
#[allow(dead_code)]
mod run;

use garde::Validate;
use serde::{Deserialize, Serialize};
use zocket::{CallError, ClientId, Ctx, Json, NoOutgoing, Reject, Server, TS, Zocket};

#[derive(Debug, Deserialize, Validate, TS)]
pub(crate) struct Headers {
    #[garde(length(min = 1))]
    token: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    Admin,
    Member,
    Suspended,
}

/// The token store, a stand-in for a database: token, user id, name, role.
const TOKENS: &[(&str, &str, &str, Role)] = &[
    ("tok-ada", "u1", "Ada", Role::Admin),
    ("tok-bob", "u2", "Bob", Role::Member),
    ("tok-eve", "u3", "Eve", Role::Suspended),
];

/// Looks a token up: `(user id, name, role)`. An async fn, as a real store's would be.
async fn validate_token(token: &str) -> Option<(&'static str, &'static str, Role)> {
    let found = TOKENS.iter().find(|(t, ..)| *t == token);
    found.map(|&(_, id, name, role)| (id, name, role))
}

/// The context every handler of a connection sees.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub(crate) struct User {
    user_id: String,
    username: String,
    role: Role,
    is_authenticated: bool,
}

async fn on_connect(headers: Headers, _id: ClientId) -> Result<User, Reject> {
    let Some((id, name, role)) = validate_token(&headers.token).await else {
        return Err(Reject::unauthorized("Invalid token"));
    };
    if role == Role::Suspended {
        return Err(Reject::forbidden("Account suspended"));
    }
    Ok(User {
        user_id: id.to_owned(),
        username: name.to_owned(),
        role,
        is_authenticated: true,
    })
}

async fn whoami(user: Ctx<User>) -> Json<User> {
    Json(User::clone(&user))
}

/// Handlers read the context to decide what a caller may do.
async fn admin_stats(user: Ctx<User>) -> Result<String, CallError> {
    if user.role != Role::Admin {
        return Err(CallError::forbidden("Admins only"));
    }
    Ok(format!("{} is looking at the stats", user.username))
}

pub(crate) fn app() -> Server<Headers, NoOutgoing, User> {
    let zo = Zocket::<Headers, NoOutgoing>::new().on_connect(on_connect);
    let router = zo.router().route("whoami", whoami).route("admin.stats", admin_stats);
    zo.server(router)
}

#[allow(dead_code)]
fn main() -> std::io::Result<()> {
    run::serve(app)
}
