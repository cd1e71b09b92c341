//! A bare WebSocket echo server on zocket's own transport and HTTP stack (`zocket::listen`,
//! the handshake check, the frame decoder and the closing handshake every Zocket connection
//! uses), with no Zocket protocol on top: every text and binary message comes back unchanged.
//! It is what the Autobahn|Testsuite fuzzing client is run against (`scripts/autobahn`).
//!
//! Run: `PORT=9001 cargo run --example echo` and connect to `ws://127.0.0.1:9001/`.
//! Messages may be up to 64 MiB (the suite's largest are 16 MiB).
//!
//! permessage-deflate is accepted when a client offers it (Autobahn's cases 12 and 13), with
//! context takeover unless the client asks otherwise, and every message compressed (threshold
//! 0). `ECHO_NO_CONTEXT_TAKEOVER=1` answers every offer with no context takeover both ways (the
//! shared-compression path); `ECHO_DEFLATE=0` turns compression off.
#![allow(missing_docs)]

#[path = "support/run.rs"]
#[allow(dead_code)]
mod run;

use axum::extract::Request;
use axum::response::Response;
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use zocket::Compression;
use zocket::transport::{Closing, Incoming, RawSocket, ReadError, handshake};

/// The largest message echoed.
pub(crate) const MAX_MESSAGE: usize = 64 << 20;

/// How long the closing handshake may take.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The echo endpoint at `/`.
pub(crate) fn app() -> axum::Router {
    axum::Router::new().route("/", axum::routing::any(upgrade))
}

/// Checks the upgrade request (a JSON refusal otherwise), then echoes on the upgraded
/// connection.
async fn upgrade(mut request: Request) -> Response {
    let mut accepted = match handshake::check(&request) {
        Ok(accepted) => accepted,
        Err(refusal) => return refusal.into_response(),
    };
    accepted.negotiate_compression(request.headers(), compression().as_ref());
    let agreed = accepted.compression();
    let upgrading = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrading.await {
            let mut socket = RawSocket::new(TokioIo::new(upgraded), MAX_MESSAGE);
            if let Some(agreed) = agreed {
                socket.set_compression(agreed);
            }
            echo(socket).await;
        }
    });
    handshake::switching(&accepted)
}

/// The compression the server accepts (see the module's documentation).
fn compression() -> Option<Compression> {
    let on = |name: &str| std::env::var(name).is_ok_and(|value| value == "1");
    if std::env::var("ECHO_DEFLATE").is_ok_and(|value| value == "0") {
        return None;
    }
    let shared = on("ECHO_NO_CONTEXT_TAKEOVER");
    Some(Compression::default().threshold(0).no_context_takeover(shared))
}

/// Sends back every message and answers every ping until the connection ends, then closes it
/// as the transport says: echoing the client's close, or failing it with the violation's code.
async fn echo<IO: AsyncRead + AsyncWrite + Unpin>(mut socket: RawSocket<IO>) {
    let closing = loop {
        let sent = match socket.read().await {
            Ok(Incoming::Text(text)) => socket.send(false, &text).await,
            Ok(Incoming::Binary(bytes)) => socket.send(true, &bytes).await,
            Ok(Incoming::Ping(payload)) => socket.pong(&payload).await,
            Ok(Incoming::Pong(_)) => Ok(()),
            Ok(Incoming::Close(code)) => break Closing::Echo(code),
            Err(ReadError::Violation(violation)) => break Closing::Fail(violation),
            Err(ReadError::Io(_)) => break Closing::Gone,
        };
        if sent.is_err() {
            break Closing::Gone;
        }
    };
    socket.close(closing, CLOSE_GRACE).await;
}

fn main() -> std::io::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(async {
        let listener = run::listen("ws").await?;
        axum::serve(listener, app()).with_graceful_shutdown(run::ctrl_c()).await
    })
}
