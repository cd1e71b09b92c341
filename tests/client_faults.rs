//! The typed Rust client when the server fails: killed mid-call, killed and restarted,
//! frozen (SIGSTOP); and the client's own reconnect and close. Real processes over loopback.

#[path = "../examples/support/conformance_api.rs"]
mod api;
#[path = "support/process.rs"]
mod process;

use api::*;
use futures_util::StreamExt;
use process::Server;
use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::time::Instant;
use zocket_client::{Backoff, Client, ClientError, ConnectionState, Heartbeat, Subscription};

const LIMIT: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(5);

async fn bounded<T>(test: impl Future<Output = T>) -> T {
    // Building the binaries (when cargo has not yet) is not part of the test's time.
    process::example("conformance");
    tokio::time::timeout(LIMIT, test).await.expect("the test took too long")
}

async fn next<T>(stream: &mut Subscription<T>) -> T {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("nothing came")
        .expect("the stream ended")
}

/// Quick backoff: 100 ms, doubling up to 400 ms.
fn quick() -> Backoff {
    Backoff::default()
        .initial(Duration::from_millis(100))
        .max(Duration::from_millis(400))
}

#[tokio::test]
async fn a_call_in_flight_fails_at_once_when_the_server_is_killed() {
    bounded(async {
        let server = Server::start(0).await;
        let client = Client::<Out>::connect(server.url())
            .header("token", "victim")
            .reconnect(quick())
            .await
            .unwrap();
        let mut states = client.state_changes();
        let slow = SlowEcho {
            text: "never".into(),
            delay_ms: 5_000,
        };
        let call = tokio::spawn(client.call(slow).into_future());
        tokio::time::sleep(Duration::from_millis(300)).await;
        let killed = Instant::now();
        server.kill().await;
        let failed = tokio::time::timeout(WAIT, call).await.expect("the call hung").unwrap();
        assert_eq!(failed.unwrap_err(), ClientError::Disconnected);
        assert!(
            killed.elapsed() < Duration::from_secs(1),
            "failed after {:?}",
            killed.elapsed()
        );
        assert!(matches!(
            next(&mut states).await,
            ConnectionState::Closed { code: 1006, .. }
        ));
        assert!(matches!(
            next(&mut states).await,
            ConnectionState::Reconnecting { attempt: 1, .. }
        ));
        client.close().await;
        assert!(matches!(client.state(), ConnectionState::Closed { code: 1000, .. }));
    })
    .await;
}

#[tokio::test]
async fn a_restarted_server_is_reconnected_with_backoff_rejoined_and_sent_the_outbox() {
    bounded(async {
        let server = Server::start(0).await;
        let rejoined = Arc::new(AtomicUsize::new(0));
        let hook_count = rejoined.clone();
        let client = Client::<Out>::connect(server.url())
            .header("token", "phoenix")
            .reconnect(quick())
            .outbox(3)
            .on_reconnect(move |client| {
                let count = hook_count.clone();
                async move {
                    let rooms = client.call(Join { room: "lobby".into() }).await;
                    assert_eq!(rooms.unwrap(), ["lobby"]);
                    count.fetch_add(1, Ordering::SeqCst);
                }
            })
            .await
            .unwrap();
        let mut states = client.state_changes();
        let mut events = client.events();
        assert_eq!(client.call(Join { room: "lobby".into() }).await.unwrap(), ["lobby"]);

        let port = server.kill().await;
        assert!(matches!(
            next(&mut states).await,
            ConnectionState::Closed { code: 1006, .. }
        ));
        // The server is down: attempts fail, each delay the backoff's (jitter only shortens).
        for attempt in 1..=3u32 {
            let ConnectionState::Reconnecting { attempt: seen, delay } = next(&mut states).await else {
                panic!("expected attempt {attempt}")
            };
            let base = Duration::from_millis((100u64 << (attempt - 1)).min(400));
            assert_eq!(seen, attempt);
            assert!(delay <= base && delay >= base / 2, "attempt {attempt}: {delay:?}");
        }
        // Messages made meanwhile wait in the bounded outbox; past it they are refused.
        let queued = RoomSend {
            room: "lobby".into(),
            text: "queued".into(),
        };
        client.send(queued).unwrap();
        client
            .send(Text {
                text: "queued-2".into(),
            })
            .unwrap();
        client
            .send(Text {
                text: "queued-3".into(),
            })
            .unwrap();
        assert_eq!(
            client.send(Text {
                text: "one too many".into()
            }),
            Err(ClientError::OutboxFull)
        );

        let _server = Server::start(port).await;
        loop {
            match next(&mut states).await {
                ConnectionState::Open { resumed: false } => break,
                ConnectionState::Reconnecting { .. } | ConnectionState::Closed { .. } => {}
                other => panic!("{other:?}"),
            }
        }
        // The hook joined the room again before the queued messages went out: the room
        // message reaches this client, a member again.
        let room_message = Out::RoomMessage {
            room: "lobby".into(),
            text: "queued".into(),
            from: "phoenix".into(),
        };
        assert_eq!(next(&mut events).await, room_message);
        assert_eq!(
            next(&mut events).await,
            Out::Announcement {
                text: "queued-2".into()
            }
        );
        assert_eq!(
            next(&mut events).await,
            Out::Announcement {
                text: "queued-3".into()
            }
        );
        assert_eq!(rejoined.load(Ordering::SeqCst), 1);
        assert_eq!(client.call(Add { a: 1.0, b: 1.0 }).await.unwrap(), 2.0);
        client.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_frozen_server_is_noticed_within_the_deadline_and_the_connection_replaced() {
    bounded(async {
        let server = Server::start(0).await;
        let heartbeat = Heartbeat::new(Duration::from_millis(300), Duration::from_millis(300));
        let client = Client::<Out>::connect(server.url())
            .header("token", "sleeper")
            .heartbeat(Some(heartbeat))
            .connect_timeout(Duration::from_millis(500))
            .reconnect(quick())
            .await
            .unwrap();
        let before = client.call(GetWhoami).await.unwrap();
        let mut states = client.state_changes();

        server.freeze();
        let frozen = Instant::now();
        let ConnectionState::Closed { code, reason } = next(&mut states).await else {
            panic!("not closed")
        };
        let noticed = frozen.elapsed();
        assert_eq!(code, 1006);
        assert!(reason.contains("no traffic"), "{reason}");
        assert!(
            noticed >= heartbeat.deadline() - Duration::from_millis(50),
            "too early: {noticed:?}"
        );
        assert!(
            noticed < heartbeat.deadline() + Duration::from_millis(700),
            "too late: {noticed:?}"
        );
        // Attempts against the frozen server time out.
        assert!(matches!(
            next(&mut states).await,
            ConnectionState::Reconnecting { attempt: 1, .. }
        ));
        assert!(matches!(
            next(&mut states).await,
            ConnectionState::Reconnecting { attempt: 2, .. }
        ));
        assert!(matches!(client.last_error(), Some(ClientError::Connection(_))));

        server.thaw();
        loop {
            if next(&mut states).await == (ConnectionState::Open { resumed: false }) {
                break;
            }
        }
        let after = client.call(GetWhoami).await.unwrap();
        assert_ne!(before.client_id, after.client_id, "the connection was replaced");
        client.close().await;
    })
    .await;
}

#[tokio::test]
async fn reconnect_replaces_the_connection_and_dropping_every_handle_closes_it() {
    bounded(async {
        let server = Server::start(0).await;
        let observer = Client::<Out>::connect(server.url())
            .header("token", "observer")
            .await
            .unwrap();
        let mut left = observer.events_on("presence.left");
        let client = Client::<Out>::connect(server.url())
            .header("token", "restless")
            .await
            .unwrap();
        let first = client.call(GetWhoami).await.unwrap();
        let mut states = client.state_changes();
        client.reconnect();
        assert_eq!(
            next(&mut states).await,
            ConnectionState::Closed {
                code: 1000,
                reason: "reconnecting".into()
            }
        );
        assert_eq!(next(&mut states).await, ConnectionState::Open { resumed: false });
        let second = client.call(GetWhoami).await.unwrap();
        assert_ne!(first.client_id, second.client_id);
        assert!(matches!(next(&mut left).await, Out::PresenceLeft { user_id, .. } if user_id == "restless"));

        // The last handle gone, the connection closes and its task ends.
        let clone = client.clone();
        drop(client);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(clone.state().is_open(), "a clone keeps it open");
        drop(clone);
        assert!(matches!(next(&mut left).await, Out::PresenceLeft { user_id, .. } if user_id == "restless"));
        assert_eq!(
            tokio::time::timeout(WAIT, states.next()).await.unwrap(),
            Some(ConnectionState::Closed {
                code: 1000,
                reason: String::new()
            })
        );
        observer.close().await;
    })
    .await;
}
