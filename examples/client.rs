//! A typed Rust client for the conformance server, resilient to restarts.
//!
//! Connects to `ZOCKET_URL` (default `ws://127.0.0.1:3000/`) with token `client-demo`,
//! subscribes to `system.tick` and `chat.onMessage`, calls `math.add` with `{a: i, b: 1}` every
//! 200 ms, and prints one line per happening, beginning with its kind:
//!
//! ```text
//! open
//! open resumed          (a server with resume on took the dropped session back)
//! closed CODE REASON
//! reconnecting ATTEMPT DELAY_MS
//! reply math.add RESULT
//! error CODE MESSAGE
//! event ROUTE JSON
//! ```
//!
//! Run the server (`cargo run --example conformance`), then `cargo run --example client`; kill
//! and restart the server meanwhile: `closed`, `reconnecting`, `open`, then replies again, and
//! no call is left hanging (each ends in a `reply` or an `error`).
#![allow(missing_docs)]

#[path = "support/conformance_api.rs"]
mod api;

use api::{Add, Out};
use futures_util::StreamExt;
use futures_util::stream::select;
use std::io::Write;
use std::time::Duration;
use zocket_client::{Client, ClientError, ConnectionState, Outgoing, PayloadOf};

/// One line to stdout, flushed at once (the output is read line by line).
fn say(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// A call's error as `CODE MESSAGE`.
fn describe(error: &ClientError) -> String {
    let code = match error {
        ClientError::Server(e) => return format!("{} {}", e.code, e.message),
        ClientError::Disconnected => "DISCONNECTED",
        ClientError::TimedOut(_) => "TIMED_OUT",
        ClientError::Closed => "CLOSED",
        ClientError::OutboxFull => "OUTBOX_FULL",
        ClientError::Refused { .. } => "REFUSED",
        ClientError::Connection(_) => "CONNECTION",
        ClientError::Decode { .. } => "DECODE",
        _ => "CLIENT",
    };
    format!("{code} {error}")
}

#[tokio::main]
async fn main() -> Result<(), ClientError> {
    let url = std::env::var("ZOCKET_URL").unwrap_or_else(|_| "ws://127.0.0.1:3000/".into());
    let client = Client::<Out>::connect(url).header("token", "client-demo").await?;
    say("open".into());

    let mut states = client.state_changes();
    tokio::spawn(async move {
        while let Some(state) = states.next().await {
            match state {
                ConnectionState::Open { resumed: false } => say("open".into()),
                ConnectionState::Open { resumed: true } => say("open resumed".into()),
                ConnectionState::Closed { code, reason } => say(format!("closed {code} {reason}")),
                ConnectionState::Reconnecting { attempt, delay } => {
                    say(format!("reconnecting {attempt} {}", delay.as_millis()));
                }
                other => say(format!("state {other:?}")),
            }
        }
    });

    let events = select(client.events_on("system.tick"), client.events_on("chat.onMessage"));
    tokio::spawn(events.for_each(|event| async move {
        let payload = serde_json::to_string(&PayloadOf(&event)).unwrap_or_default();
        say(format!("event {} {payload}", event.route()));
    }));

    let calls = {
        let client = client.clone();
        async move {
            let mut every = tokio::time::interval(Duration::from_millis(200));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for i in 0u64.. {
                every.tick().await;
                let add = Add { a: i as f64, b: 1.0 };
                match client.call(add).await {
                    Ok(sum) => say(format!("reply math.add {sum}")),
                    Err(error) => say(format!("error {}", describe(&error))),
                }
            }
        }
    };
    tokio::select! {
        () = calls => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    client.close().await;
    Ok(())
}
