//! Ports the seed server document's "Outside Handlers (Server Push)" example: a task that is
//! no handler holds the server's `Handle` (the seed's `handlers.send`) and broadcasts
//! `system.announcement {text: "Tick"}` every minute. The period comes from `TICK_MS`
//! (milliseconds, default 60000). The task stops when the server shuts down.
//!
//! Run: `TICK_MS=2000 cargo run --example push` (port from `PORT`, default 3000) and connect to
//! `ws://127.0.0.1:3000/`: a `system.announcement` arrives every two seconds.
#![allow(missing_docs)]

#[path = "support/run.rs"]
#[allow(dead_code)]
mod run;

use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior, interval_at};
use zocket::{NoHeaders, Outgoing, Server, Zocket};

/// Everything this server sends.
#[derive(Debug, Outgoing)]
pub(crate) enum Out {
    #[zocket(route = "system.announcement")]
    Announcement { text: String },
}

/// The period from `TICK_MS`, or one minute.
fn period_from_env() -> Duration {
    let ms = std::env::var("TICK_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .filter(|&ms| ms > 0)
        .unwrap_or(60_000);
    Duration::from_millis(ms)
}

/// The server, with the ticker spawned; call it inside a tokio runtime.
#[allow(dead_code)]
pub(crate) fn app() -> Server<NoHeaders, Out, ()> {
    app_with_period(period_from_env())
}

/// The server, with a ticker broadcasting every `period`; call it inside a tokio runtime.
pub(crate) fn app_with_period(period: Duration) -> Server<NoHeaders, Out, ()> {
    let zo = Zocket::<NoHeaders, Out>::new();
    let router = zo.router();
    let server = zo.server(router);
    let push = server.handle();
    tokio::spawn(async move {
        // The first tick one period from now, not at once; a late tick is not made up for.
        let mut ticks = interval_at(Instant::now() + period, period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = push.shutting_down() => break,
            }
            let tick = Out::Announcement { text: "Tick".into() };
            match push.emit(tick).broadcast() {
                Ok(delivery) => tracing::debug!(?delivery, "tick"),
                Err(error) => tracing::error!(%error, "tick not sent"),
            }
        }
    });
    server
}

#[allow(dead_code)]
fn main() -> std::io::Result<()> {
    run::serve(app)
}
