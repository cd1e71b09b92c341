//! An echo client for the Autobahn|Testsuite fuzzing server (`scripts/autobahn-client`): the
//! client's WebSocket layer (tungstenite with the client's permessage-deflate beneath it) on its
//! own, without the Zocket protocol. Every case echoes each message back as it came.
//!
//! `cargo run -p zocket-client --example autobahn_client -- ws://127.0.0.1:9001`

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use zocket_client::{Client, ClientError, RawEvent};

const AGENT: &str = "zocket-client";

async fn connect(
    url: String,
) -> Result<
    impl futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
    + futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error>
    + Unpin,
    ClientError,
> {
    Client::<RawEvent>::connect(url)
        .headers_in_query(false)
        .compression(true)
        .max_message_size(64 << 20)
        .websocket()
        .await
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), ClientError> {
    let base = std::env::args().nth(1).unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let mut counter = connect(format!("{base}/getCaseCount")).await?;
    let count: u32 = match counter.next().await {
        Some(Ok(Message::Text(text))) => text.parse().expect("a case count"),
        other => panic!("no case count: {other:?}"),
    };
    drop(counter);
    for case in 1..=count {
        let mut socket = match connect(format!("{base}/runCase?case={case}&agent={AGENT}")).await {
            Ok(socket) => socket,
            Err(error) => {
                eprintln!("case {case}: {error}");
                continue;
            }
        };
        while let Some(message) = socket.next().await {
            let echo = match message {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => message,
                Ok(_) => continue,
                Err(_) => break,
            };
            if socket.send(echo).await.is_err() {
                break;
            }
        }
    }
    let mut report = connect(format!("{base}/updateReports?agent={AGENT}")).await?;
    while let Some(Ok(_)) = report.next().await {}
    println!("{count} cases run");
    Ok(())
}
