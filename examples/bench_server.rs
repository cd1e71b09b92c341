//! The bench app of `shared/bench-app.md`: the server every load-generator run measures.
//!
//! Run: `cargo run --release --example bench_server` (port from `PORT`, default 3000;
//! `BENCH_THREADS=1` for a single-threaded runtime).
//!
//! The per-client rate limit is off (a load generator is one client sending as fast as the
//! server answers), and a client may fall 16 384 frames behind (about a MiB of small frames; Bun
//! buffers up to its backpressure limit) before it is closed as too slow; every other limit
//! keeps its default.
#![allow(missing_docs)]

#[path = "support/run.rs"]
#[allow(dead_code)]
mod run;

use garde::Validate;
use serde::{Deserialize, Serialize};
use zocket::{CallError, Config, Input, Json, Outgoing, Rooms, Sender, Server, TS, Zocket};

/// Connection headers: an optional token, never checked.
#[derive(Debug, Deserialize, Validate, TS)]
pub(crate) struct Headers {
    #[garde(skip)]
    #[allow(dead_code)]
    token: Option<String>,
}

/// A shout's payload, sent to everyone (or a room) as `bench.shouted`.
#[derive(Debug, Serialize, Deserialize, Validate, TS)]
#[garde(allow_unvalidated)]
pub(crate) struct Shout {
    ts: f64,
    data: String,
}

/// Everything the server sends.
#[derive(Debug, Outgoing)]
pub(crate) enum Out {
    #[zocket(route = "bench.shouted")]
    Shouted(Shout),
}

#[derive(Serialize, Deserialize, Validate, TS)]
#[garde(allow_unvalidated)]
struct Echo {
    seq: i64,
    data: String,
}

#[derive(Deserialize, Validate, TS)]
#[garde(allow_unvalidated)]
struct Join {
    room: String,
}

#[derive(Deserialize, Validate, TS)]
#[garde(allow_unvalidated)]
struct RoomShout {
    room: String,
    ts: f64,
    data: String,
}

async fn echo(Input(e): Input<Echo>) -> Json<Echo> {
    Json(e)
}

async fn shout(send: Sender<Out>, Input(s): Input<Shout>) -> Result<(), CallError> {
    send.emit(s).broadcast()?;
    Ok(())
}

async fn join(rooms: Rooms, Input(j): Input<Join>) -> Result<bool, CallError> {
    rooms.join(&j.room)?;
    Ok(true)
}

async fn room_shout(send: Sender<Out>, Input(s): Input<RoomShout>) -> Result<(), CallError> {
    let shout = Shout { ts: s.ts, data: s.data };
    send.emit(shout).to_room(&s.room)?;
    Ok(())
}

/// The bench server; with `REDIS_URL` set (and `--features redis`), one node of a cluster.
pub(crate) fn app() -> Server<Headers, Out> {
    // Benchmarks measure the server at loads past its production defaults: no rate limit, deep
    // queues, and as many connections as the machine's open-files limit allows (bench/scale).
    let config = Config::default()
        .rate_limit(None)
        .outbound_queue(16_384)
        .max_connections(1_000_000);
    let zo = Zocket::<Headers, Out>::new().config(config);
    let zo = run::join_cluster_from_env(zo);
    let router = zo
        .router()
        .route("bench.echo", echo)
        .route("bench.shout", shout)
        .route("bench.join", join)
        .route("bench.roomShout", room_shout);
    zo.server(router)
}

#[allow(dead_code)]
fn main() -> std::io::Result<()> {
    // `BENCH_THREADS=1`: one thread runs everything, as Bun's event loop does (`zocket-1t` in
    // bench/run); otherwise tokio's default, a worker per core.
    if std::env::var("BENCH_THREADS").is_ok_and(|threads| threads == "1") {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        return run::serve_on(runtime, app);
    }
    run::serve(app)
}
