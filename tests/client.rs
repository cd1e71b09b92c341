//! The typed Rust client (`zocket-client`) against the real conformance binary over loopback:
//! every route through typed calls, typed errors for every error code, events as streams, in
//! JSON and MessagePack; and the same typed call on the in-memory test client.

// The server's own code, for the in-memory client; its `api` module declares the routes.
#[path = "support/client.rs"]
mod client;
#[path = "../examples/conformance.rs"]
#[allow(dead_code)]
mod conformance;
#[path = "support/process.rs"]
mod process;

use client::{WAIT, bounded, next};
use conformance::api::*;
use futures_util::StreamExt;
use process::Server;
use std::future::IntoFuture;
use std::time::Duration;
use zocket_client::{Client, ClientError, Codec, ConnectionState, ErrorCode, Route, Subscription};

async fn connect(server: &Server, token: &str, codec: Codec) -> Client<Out> {
    Client::<Out>::connect(server.url())
        .header("token", token)
        .codec(codec)
        .await
        .unwrap_or_else(|e| panic!("{token} could not connect: {e}"))
}

/// Asserts that nothing comes within a short while.
async fn quiet<T: std::fmt::Debug>(stream: &mut Subscription<T>) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(300), stream.next()).await {
        panic!("expected nothing, got {item:?}");
    }
}

#[tokio::test]
async fn every_conformance_route_through_the_typed_client() {
    bounded(async {
        let server = Server::start(0).await;
        for &codec in Codec::ALL {
            let ada = connect(&server, "ada", codec).await;
            let bob = connect(&server, "bob", codec).await;
            let mut ada_events = ada.events();
            let mut bob_events = bob.events();

            assert_eq!(ada.call(Greet { name: "Ada".into() }).await.unwrap(), "Hello, Ada!");
            let sum: f64 = ada.call(Add { a: 1.5, b: 2.0 }).await.unwrap();
            assert_eq!(sum, 3.5);
            let echo = SlowEcho {
                text: "later".into(),
                delay_ms: 50,
            };
            assert_eq!(ada.call(echo).await.unwrap(), "later");

            let whoami: Whoami = bob.call(GetWhoami).await.unwrap();
            assert_eq!(
                (whoami.user_id.as_str(), whoami.client_version.as_str()),
                ("bob", "1.0.0")
            );
            assert_eq!(whoami.client_id.len(), 32);

            // Broadcasts reach everyone, as typed events.
            ada.call(ChatText { text: "hi all".into() }).await.unwrap();
            let message = Out::ChatMessage {
                text: "hi all".into(),
                from: "ada".into(),
            };
            assert_eq!(next(&mut bob_events).await, message);
            assert_eq!(next(&mut ada_events).await, message);
            bob.call(Text { text: "news".into() }).await.unwrap();
            let news = Out::Announcement { text: "news".into() };
            assert_eq!(next(&mut ada_events).await, news);
            assert_eq!(next(&mut bob_events).await, news);

            // Rooms: join, send to the room, leave.
            assert_eq!(bob.call(Join { room: "r2".into() }).await.unwrap(), ["r2"]);
            assert_eq!(bob.call(Join { room: "r1".into() }).await.unwrap(), ["r1", "r2"]);
            ada.call(RoomSend {
                room: "r1".into(),
                text: "in r1".into(),
            })
            .await
            .unwrap();
            let in_room = Out::RoomMessage {
                room: "r1".into(),
                text: "in r1".into(),
                from: "ada".into(),
            };
            assert_eq!(next(&mut bob_events).await, in_room);
            quiet(&mut ada_events).await;
            assert_eq!(bob.call(Leave { room: "r2".into() }).await.unwrap(), ["r1"]);

            // A direct message reaches its addressee only.
            ada.call(Direct {
                to: whoami.client_id.clone(),
                text: "psst".into(),
            })
            .await
            .unwrap();
            let psst = Out::ChatMessage {
                text: "psst".into(),
                from: "ada".into(),
            };
            assert_eq!(next(&mut bob_events).await, psst);
            quiet(&mut ada_events).await;

            // The admin routes, behind their middleware; a push from outside any handler.
            let admin = connect(&server, "admin-token", codec).await;
            assert_eq!(admin.call(Secret).await.unwrap(), "top secret");
            admin.call(PushTick { n: 42 }).await.unwrap();
            assert_eq!(next(&mut ada_events).await, Out::Tick { n: 42 });
            assert_eq!(next(&mut bob_events).await, Out::Tick { n: 42 });

            // A client that leaves is announced with its rooms.
            bob.close().await;
            let left = Out::PresenceLeft {
                user_id: "bob".into(),
                rooms: vec!["r1".into()],
            };
            assert_eq!(next(&mut ada_events).await, left);
            admin.close().await;
            assert!(
                matches!(next(&mut ada_events).await, Out::PresenceLeft { user_id, .. } if user_id == "admin-token")
            );
            ada.close().await;
            assert_eq!(ada.last_error(), None, "{codec:?}");
        }
    })
    .await;
}

/// A route the server does not have (a client newer than its server).
#[derive(serde::Serialize, Route)]
#[zocket(route = "not.there", reply = String)]
struct NotThere;

#[tokio::test]
async fn typed_errors_for_every_error_code() {
    bounded(async {
        let server = Server::start(0).await;
        for &codec in Codec::ALL {
            let eve = connect(&server, "eve", codec).await;

            // INVALID_INPUT names each failing field.
            let error = eve.call(ChatText { text: String::new() }).await.unwrap_err();
            assert_eq!(error.code(), Some(ErrorCode::InvalidInput), "{error}");
            let paths: Vec<_> = error.issues().iter().map(|i| format!("{:?}", i.path)).collect();
            assert_eq!(paths, [r#"[Key("text")]"#]);
            let error = eve
                .call(SlowEcho {
                    text: "x".into(),
                    delay_ms: 9_999,
                })
                .await
                .unwrap_err();
            assert_eq!(error.code(), Some(ErrorCode::InvalidInput));

            assert_eq!(eve.call(NotThere).await.unwrap_err().code(), Some(ErrorCode::NotFound));
            let error = eve.call(Secret).await.unwrap_err();
            assert!(matches!(&error, ClientError::Server(e) if e.code == ErrorCode::Forbidden && e.message == "Admins only"), "{error}");

            for failing in [eve.call(Boom).await, eve.call(Panic).await] {
                let ClientError::Server(error) = failing.unwrap_err() else {
                    panic!("not a server error")
                };
                assert_eq!(error.code, ErrorCode::Internal);
                assert!(!error.message.contains("fire") && !error.message.contains("panic"), "{}", error.message);
            }

            // Over the 1 MiB limit (but under twice it): PAYLOAD_TOO_LARGE, and the
            // connection stays.
            let big = Greet {
                name: "x".repeat(1_500_000),
            };
            assert_eq!(eve.call(big).await.unwrap_err().code(), Some(ErrorCode::PayloadTooLarge));
            assert_eq!(eve.call(Greet { name: "ok".into() }).await.unwrap(), "Hello, ok!");

            // A failed fire-and-forget message comes back as the last error, with its route.
            eve.send(ChatText { text: String::new() }).unwrap();
            let deadline = tokio::time::Instant::now() + WAIT;
            let error = loop {
                if let Some(error) = eve.last_error() {
                    break error;
                }
                assert!(tokio::time::Instant::now() < deadline, "no __error came");
                tokio::time::sleep(Duration::from_millis(10)).await;
            };
            assert!(matches!(&error, ClientError::Server(e) if e.code == ErrorCode::InvalidInput && e.route.as_deref() == Some("chat.message")), "{error}");
            eve.close().await;
        }

        // RATE_LIMITED: a burst past the server's 1000 messages (its bucket refills at 1000/s).
        let hasty = Client::<Out>::connect(server.url())
            .header("token", "hasty")
            .outbox(4096)
            .max_in_flight(4096)
            .await
            .unwrap();
        let calls = (0..2500).map(|i| hasty.call(Add { a: f64::from(i), b: 0.0 }).into_future());
        let results = futures_util::future::join_all(calls).await;
        let limited = results
            .iter()
            .filter(|r| matches!(r, Err(e) if e.code() == Some(ErrorCode::RateLimited)))
            .count();
        let answered = results.iter().filter(|r| r.is_ok()).count();
        assert!(limited > 0 && answered >= 1000, "{limited} limited, {answered} answered");
        hasty.close().await;

        // Refusals before the upgrade: the server's status and message.
        let refused = Client::<Out>::connect(server.url()).header("token", "banned-eve").await.unwrap_err();
        assert_eq!(
            refused,
            ClientError::Refused {
                status: 401,
                message: "User is banned".into()
            }
        );
        let refused = Client::<Out>::connect(server.url()).header("token", "x").await.unwrap_err();
        assert!(matches!(refused, ClientError::Refused { status: 400, .. }), "{refused}");
    })
    .await;
}

#[tokio::test]
async fn events_as_streams_of_all_routes_or_one() {
    bounded(async {
        let server = Server::start(0).await;
        let client = connect(&server, "watcher", Codec::Json).await;
        let mut ticks = client.events_on("system.tick");
        let mut all = client.events();
        for n in 1..=3 {
            client.call(PushTick { n }).await.unwrap();
            client.call(Text { text: format!("a{n}") }).await.unwrap();
        }
        for n in 1..=3 {
            assert_eq!(next(&mut ticks).await, Out::Tick { n });
        }
        quiet(&mut ticks).await;
        let mut seen = Vec::new();
        for _ in 0..6 {
            seen.push(next(&mut all).await);
        }
        let announcements = seen.iter().filter(|e| matches!(e, Out::Announcement { .. })).count();
        assert_eq!(announcements, 3, "{seen:?}");
        assert_eq!((ticks.missed(), all.missed()), (0, 0));

        // Closing ends every stream.
        client.close().await;
        assert_eq!(tokio::time::timeout(WAIT, ticks.next()).await.unwrap(), None);
        assert!(matches!(client.state(), ConnectionState::Closed { code: 1000, .. }));
        let after = client.call(Greet { name: "late".into() }).await.unwrap_err();
        assert_eq!(after, ClientError::Closed);
    })
    .await;
}

#[test]
#[should_panic(expected = "\"system.nope\" is not a route of")]
fn subscribing_to_an_undeclared_route_panics() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let server = Server::start(0).await;
        let client = connect(&server, "typo", Codec::Json).await;
        let _ = client.events_on("system.nope");
    });
}

#[tokio::test]
async fn calls_time_out_by_default_or_per_call() {
    bounded(async {
        let server = Server::start(0).await;
        let client = Client::<Out>::connect(server.url())
            .header("token", "patient")
            .call_timeout(Duration::from_millis(300))
            .await
            .unwrap();
        let slow = || SlowEcho {
            text: "slow".into(),
            delay_ms: 1_000,
        };
        let started = tokio::time::Instant::now();
        assert_eq!(
            client.call(slow()).await.unwrap_err(),
            ClientError::TimedOut(Duration::from_millis(300))
        );
        assert!(started.elapsed() < Duration::from_millis(900));
        let quick = client
            .call(slow())
            .timeout(Duration::from_millis(100))
            .await
            .unwrap_err();
        assert_eq!(quick, ClientError::TimedOut(Duration::from_millis(100)));
        let longer = client.call(slow()).timeout(Duration::from_secs(3)).await.unwrap();
        assert_eq!(longer, "slow");
        // The connection is fine, and a late reply was not mistaken for another call's.
        assert_eq!(client.call(Add { a: 2.0, b: 2.0 }).await.unwrap(), 4.0);
        client.close().await;
    })
    .await;
}

#[tokio::test]
async fn headers_go_as_query_parameters_and_http_headers() {
    bounded(async {
        #[derive(serde::Serialize)]
        struct Headers {
            token: String,
            #[serde(rename = "client-version")]
            client_version: String,
        }
        let server = Server::start(0).await;
        let headers = Headers {
            token: "hdr".into(),
            client_version: "9.9.9".into(),
        };
        let both = Client::<Out>::connect(server.url()).headers(&headers).await.unwrap();
        assert_eq!(both.call(GetWhoami).await.unwrap().client_version, "9.9.9");
        // HTTP headers alone reach the server too.
        let http_only = Client::<Out>::connect(server.url())
            .headers(&headers)
            .headers_in_query(false)
            .codec(Codec::MsgPack)
            .await
            .unwrap();
        let whoami = http_only.call(GetWhoami).await.unwrap();
        assert_eq!(
            (whoami.user_id.as_str(), whoami.client_version.as_str()),
            ("hdr", "9.9.9")
        );
        both.close().await;
        http_only.close().await;
    })
    .await;
}

#[tokio::test]
async fn the_same_typed_call_works_in_memory_and_over_the_socket() {
    bounded(async {
        let server = Server::start(0).await;
        let socket = connect(&server, "twin", Codec::Json).await;
        let memory = conformance::app();
        let headers = serde_json::from_value(serde_json::json!({"token": "twin"})).unwrap();
        let mut in_memory = memory.test_client(headers).await.unwrap();

        let over_socket: f64 = socket.call(Add { a: 20.0, b: 22.0 }).await.unwrap();
        let over_memory: f64 = in_memory.call(Add { a: 20.0, b: 22.0 }).await.unwrap();
        assert_eq!((over_socket, over_memory), (42.0, 42.0));
        let error = socket.call(Secret).await.unwrap_err();
        let same = in_memory.call(Secret).await.unwrap_err();
        assert_eq!(error.code(), Some(same.code));
        socket.close().await;
    })
    .await;
}
