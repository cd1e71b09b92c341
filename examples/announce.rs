//! Ports the seed server document's "Server Initialization" example: an optional
//! `authorization` header becomes the context's `user_id`, the server declares one outgoing
//! message, `system.announcement {text}`, and one incoming route, `system.announce {text}`,
//! which broadcasts it to every connected client. `on_disconnect` logs who left.
//!
//! Run: `cargo run --example announce` (port from `PORT`, default 3000), connect two clients to
//! `ws://127.0.0.1:3000/` and send `{"type":"system.announce","payload":{"text":"hi"}}` from
//! one: both receive `{"type":"system.announcement","payload":{"text":"hi"}}`.
#![allow(missing_docs)]

#[path = "support/run.rs"]
#[allow(dead_code)]
mod run;

use garde::Validate;
use serde::Deserialize;
use zocket::{CallError, ClientId, Disconnected, Handle, Input, Outgoing, Reject, Sender, Server, TS, Zocket};

#[derive(Debug, Deserialize, Validate, TS)]
pub(crate) struct Headers {
    #[garde(skip)]
    authorization: Option<String>,
}

/// The context: who the client says it is, if anyone.
#[derive(Debug)]
pub(crate) struct Conn {
    user_id: Option<String>,
}

/// Everything this server sends.
#[derive(Debug, Outgoing)]
pub(crate) enum Out {
    #[zocket(route = "system.announcement")]
    Announcement { text: String },
}

#[derive(Debug, Deserialize, Validate, TS)]
struct Announce {
    #[garde(length(chars, min = 1, max = 500))]
    text: String,
}

async fn announce(send: Sender<Out>, Input(a): Input<Announce>) -> Result<(), CallError> {
    send.emit(Out::Announcement { text: a.text }).broadcast()?;
    Ok(())
}

pub(crate) fn app() -> Server<Headers, Out, Conn> {
    let zo = Zocket::<Headers, Out>::new()
        .on_connect(|headers: Headers, _id: ClientId| async move {
            Ok::<_, Reject>(Conn {
                user_id: headers.authorization,
            })
        })
        .on_disconnect(|gone: Disconnected<Conn>, _send: Handle<Out>| async move {
            tracing::info!(client_id = %gone.client_id, user_id = ?gone.ctx.user_id, "client disconnected");
        });
    let router = zo.router().route("system.announce", announce);
    zo.server(router)
}

#[allow(dead_code)]
fn main() -> std::io::Result<()> {
    run::serve(app)
}
