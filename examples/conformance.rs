//! The conformance app: every feature of zocket through its public API, exactly as
//! `shared/conformance-app.md` specifies. Outside test suites drive it with real clients.
//!
//! Run: `cargo run --example conformance` (port from `PORT`, default 3000; `ALLOWED_ORIGINS`, a
//! comma-separated list, turns the Origin allow-list on). With
//! `-- --export-ts PATH` it writes its TypeScript types to PATH instead (the committed copy is
//! `clients/typescript/test/conformance.gen.ts`, which the TypeScript client's tests use).
//!
//! With `REDIS_URL` set (and built with `--features redis`) it is one node of a cluster: every
//! conformance node on the same Redis reaches the clients of every other. With
//! `RESUME_WINDOW_MS` set too, a dropped client resumes its session on any of them.
#![allow(missing_docs)]

#[path = "support/run.rs"]
#[allow(dead_code)]
mod run;

/// The routes, declared once for this server and its typed clients.
#[path = "support/conformance_api.rs"]
pub(crate) mod api;

/// Everything the server sends (declared with the routes).
pub(crate) use api::Out;
use api::{
    Add, Boom, ChatText, Direct, GetWhoami, Greet, Join, Leave, Panic, PushTick, RoomSend, Secret, SlowEcho, Text,
    Whoami,
};
use garde::Validate;
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::mpsc;
use zocket::{
    Call, CallError, ClientId, Config, Ctx, Disconnected, FromCall, Handle, Input, Json, Reject, Resume, Rooms, Route,
    Sender, Server, TS, Zocket,
};

/// Connection headers (or query parameters).
#[derive(Debug, Deserialize, Validate, TS)]
pub(crate) struct Headers {
    #[garde(length(min = 3))]
    token: String,
    #[serde(rename = "client-version", default = "default_version")]
    #[garde(skip)]
    // It has a default, so clients may leave it out.
    #[ts(as = "Option<String>", optional)]
    client_version: String,
}

fn default_version() -> String {
    "1.0.0".into()
}

/// The context of each connection. Serializable, so that with both `REDIS_URL` and
/// `RESUME_WINDOW_MS` set a session resumes on any node of the cluster.
#[derive(Debug, serde::Serialize, Deserialize)]
pub(crate) struct User {
    user_id: String,
    client_version: String,
}

/// Middleware: only `admin-token` passes, and the handler sees a richer context.
struct Admin {
    user_id: String,
    is_admin: bool,
}

impl<S: Send + Sync> FromCall<Out, User, S> for Admin {
    async fn from_call(call: &Call<Out, User, S>) -> Result<Self, CallError> {
        let user = call.context();
        if user.user_id != "admin-token" {
            return Err(CallError::forbidden("Admins only"));
        }
        Ok(Admin {
            user_id: user.user_id.clone(),
            is_admin: true,
        })
    }
}

async fn chat_message(user: Ctx<User>, send: Sender<Out>, Input(m): Input<ChatText>) -> Result<(), CallError> {
    send.emit(Out::ChatMessage {
        text: m.text,
        from: user.user_id.clone(),
    })
    .broadcast()?;
    Ok(())
}

async fn announce(send: Sender<Out>, Input(a): Input<Text>) -> Result<(), CallError> {
    send.emit(Out::Announcement { text: a.text }).broadcast()?;
    Ok(())
}

async fn greet(Input(g): Input<Greet>) -> String {
    format!("Hello, {}!", g.name)
}

async fn add(Input(sum): Input<Add>) -> f64 {
    sum.a + sum.b
}

async fn slow_echo(Input(e): Input<SlowEcho>) -> String {
    tokio::time::sleep(Duration::from_millis(e.delay_ms)).await;
    e.text
}

async fn whoami(user: Ctx<User>) -> Json<Whoami> {
    Json(Whoami {
        client_id: user.client_id().to_string(),
        user_id: user.user_id.clone(),
        client_version: user.client_version.clone(),
    })
}

async fn join(rooms: Rooms, Input(j): Input<Join>) -> Result<Vec<String>, CallError> {
    rooms.join(&j.room)?;
    Ok(rooms.current())
}

async fn leave(rooms: Rooms, Input(l): Input<Leave>) -> Vec<String> {
    rooms.leave(&l.room);
    rooms.current()
}

async fn room_send(user: Ctx<User>, send: Sender<Out>, Input(m): Input<RoomSend>) -> Result<(), CallError> {
    let message = Out::RoomMessage {
        room: m.room.clone(),
        text: m.text,
        from: user.user_id.clone(),
    };
    send.emit(message).to_room(&m.room)?;
    Ok(())
}

async fn direct(user: Ctx<User>, send: Sender<Out>, Input(d): Input<Direct>) -> Result<(), CallError> {
    send.emit(Out::ChatMessage {
        text: d.text,
        from: user.user_id.clone(),
    })
    .to(ClientId::from(d.to))?;
    Ok(())
}

async fn secret(admin: Admin) -> &'static str {
    debug_assert!(admin.is_admin, "{} passed the admin check", admin.user_id);
    "top secret"
}

async fn boom() -> Result<(), std::io::Error> {
    Err(std::io::Error::other(
        "the database is on fire (internal detail, never sent)",
    ))
}

async fn panic() {
    panic!("fail.panic was called");
}

/// The library's default limits, with the Origin allow-list from `ALLOWED_ORIGINS`
/// (comma-separated origins; unset or empty: every origin is allowed), and session resume on
/// when `RESUME_WINDOW_MS` is set (that window, and a budget of [`RESUME_BYTES`] per session).
fn config() -> Config {
    let config = Config::default();
    let config = match std::env::var("ALLOWED_ORIGINS") {
        Ok(list) if !list.trim().is_empty() => {
            config.allowed_origins(list.split(',').map(str::trim).filter(|origin| !origin.is_empty()))
        }
        _ => config,
    };
    match std::env::var("RESUME_WINDOW_MS") {
        Ok(window) => {
            let window = window
                .trim()
                .parse()
                .expect("RESUME_WINDOW_MS is a number of milliseconds");
            config.resume(Some(Resume::new(Duration::from_millis(window), RESUME_BYTES)))
        }
        Err(_) => config,
    }
}

/// The events kept per session for a replay with `RESUME_WINDOW_MS` set: 1 MiB.
const RESUME_BYTES: usize = 1024 * 1024;

/// The conformance server, one node of a cluster when `REDIS_URL` is set. Spawns the tick
/// pusher, so call it inside a tokio runtime.
pub(crate) fn app() -> Server<Headers, Out, User> {
    app_with(run::join_cluster_from_env)
}

/// The conformance server, with `cluster` applied to the instance (to join a cluster).
pub(crate) fn app_with(
    cluster: impl FnOnce(Zocket<Headers, Out, User>) -> Zocket<Headers, Out, User>,
) -> Server<Headers, Out, User> {
    let zo = Zocket::<Headers, Out>::new()
        .config(config())
        .on_connect(|headers: Headers, _id: ClientId| async move {
            if headers.token.starts_with("banned") {
                return Err(Reject::unauthorized("User is banned"));
            }
            Ok(User {
                user_id: headers.token,
                client_version: headers.client_version,
            })
        })
        .on_disconnect(|gone: Disconnected<User>, server: Handle<Out>| async move {
            let left = Out::PresenceLeft {
                user_id: gone.ctx.user_id.clone(),
                rooms: gone.rooms,
            };
            if let Err(error) = server.emit(left).broadcast() {
                tracing::error!(%error, "presence.left not sent");
            }
        });
    // Sessions move between nodes only with a backplane and resume both on: otherwise this
    // changes nothing.
    let zo = cluster(zo).resume_across_nodes();

    // `admin.pushTick` hands `n` to this task, which pushes from outside any handler.
    let (ticks, mut tick_rx) = mpsc::channel::<i64>(64);
    let push_tick = move |Input(t): Input<PushTick>| {
        let ticks = ticks.clone();
        async move { ticks.send(t.n).await.map_err(|_| CallError::internal()) }
    };

    // Each route by its declaration: a handler whose input or reply differs does not compile.
    let admin = zo
        .router()
        .route(Secret::ROUTE, secret)
        .route(PushTick::ROUTE, push_tick);
    let router = zo
        .router()
        .route(ChatText::ROUTE, chat_message)
        .route(Text::ROUTE, announce)
        .route(Greet::ROUTE, greet)
        .route(Add::ROUTE, add)
        .route(SlowEcho::ROUTE, slow_echo)
        .route(GetWhoami::ROUTE, whoami)
        .route(Join::ROUTE, join)
        .route(Leave::ROUTE, leave)
        .route(RoomSend::ROUTE, room_send)
        .route(Direct::ROUTE, direct)
        .merge(admin)
        .route(Boom::ROUTE, boom)
        .route(Panic::ROUTE, panic);

    let server = zo.server(router);
    let handle = server.handle();
    tokio::spawn(async move {
        while let Some(n) = tick_rx.recv().await {
            if let Err(error) = handle.emit(Out::Tick { n }).broadcast() {
                tracing::error!(%error, "system.tick not sent");
            }
        }
    });
    server
}

#[allow(dead_code)]
fn main() -> std::io::Result<()> {
    if let Some(exported) = run::export_ts(app) {
        return exported;
    }
    run::serve(app)
}
