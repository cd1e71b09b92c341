//! Ports the seed's "With Header Validation" and "Best Practices: 1. Validate Headers
//! Strictly" examples: `authorization` must match `^Bearer .+`, `api-key` must be a UUID and
//! `user-agent` is optional. A client whose headers fail gets HTTP 400 before any upgrade, with
//! `{"error": "Invalid headers", "details": [{path, message}, ...]}` naming every bad header.
//!
//! Run: `cargo run --example header_validation` (port from `PORT`, default 3000), then e.g.
//! `websocat -H 'authorization: Bearer abc' -H 'api-key: 6f1c2a4e-0b3d-4c5e-9f70-1a2b3c4d5e6f'
//! ws://127.0.0.1:3000` and send `{"type":"whoami","rpcId":"1"}`. Browsers cannot set
//! headers: query parameters (`?authorization=Bearer%20abc&api-key=...`) work too.
#![allow(missing_docs)]

#[path = "support/run.rs"]
#[allow(dead_code)]
mod run;

use garde::Validate;
use serde::{Deserialize, Serialize};
use zocket::{ClientId, Ctx, Json, NoOutgoing, Reject, Server, TS, Zocket};

/// Strict headers: a bearer token, an API key that is a UUID, and an optional user agent.
#[derive(Debug, Deserialize, Validate, TS)]
pub(crate) struct Headers {
    #[garde(pattern(r"^Bearer .+"))]
    authorization: String,
    #[serde(rename = "api-key")]
    // A UUID in its usual 8-4-4-4-12 hexadecimal form.
    #[garde(
        rename("api-key"),
        pattern(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
    )]
    api_key: String,
    #[serde(rename = "user-agent")]
    #[garde(rename("user-agent"), length(max = 256))]
    user_agent: Option<String>,
}

/// What the connection keeps of its headers (never the token itself).
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Client {
    api_key: String,
    user_agent: Option<String>,
}

async fn whoami(client: Ctx<Client>) -> Json<Client> {
    Json(Client::clone(&client))
}

pub(crate) fn app() -> Server<Headers, NoOutgoing, Client> {
    let zo = Zocket::<Headers, NoOutgoing>::new().on_connect(|headers: Headers, _id: ClientId| async move {
        Ok::<_, Reject>(Client {
            api_key: headers.api_key,
            user_agent: headers.user_agent,
        })
    });
    let router = zo.router().route("whoami", whoami);
    zo.server(router)
}

#[allow(dead_code)]
fn main() -> std::io::Result<()> {
    run::serve(app)
}
