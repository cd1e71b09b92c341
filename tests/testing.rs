//! `zocket::testing`: in-memory clients run the real runtime against the conformance app.

#[path = "../examples/conformance.rs"]
#[allow(dead_code)]
mod conformance;

use conformance::api::{Add, ChatText, GetWhoami, Join, RoomSend, SlowEcho};
use serde_json::json;
use zocket::{Codec, ErrorCode};

fn headers(token: &str) -> conformance::Headers {
    serde_json::from_value(json!({ "token": token })).unwrap()
}

#[tokio::test]
async fn in_memory_clients_call_broadcast_and_join_rooms() {
    let server = conformance::app();
    let mut ada = server.test_client(headers("ada")).await.unwrap();
    let mut bob = server.test_client_with(headers("bob"), Codec::MsgPack).await.unwrap();

    // Typed calls, by the routes' declarations, as with the socket client.
    let sum: f64 = ada.call(Add { a: 1.0, b: 2.0 }).await.unwrap();
    assert_eq!(sum, 3.0);
    let whoami = bob.call(GetWhoami).await.unwrap();
    assert_eq!(
        (whoami.client_id.as_str(), whoami.user_id.as_str()),
        (bob.id().as_str(), "bob")
    );

    ada.call(ChatText { text: "hi".into() }).await.unwrap();
    assert_eq!(bob.event("chat.onMessage").await, json!({"text": "hi", "from": "ada"}));
    assert_eq!(ada.event("chat.onMessage").await["from"], "ada");

    assert_eq!(bob.call(Join { room: "r".into() }).await.unwrap(), ["r"]);
    ada.send(RoomSend {
        room: "r".into(),
        text: "in r".into(),
    })
    .await;
    assert_eq!(bob.event("room.message").await["text"], "in r");

    let invalid = SlowEcho {
        text: "x".into(),
        delay_ms: 9999,
    };
    assert_eq!(ada.call(invalid).await.unwrap_err().code, ErrorCode::InvalidInput);
    // Any route by name, with any payload.
    assert_eq!(ada.call_route("math.add", json!({"a": 1, "b": 2})).await.unwrap(), 3.0);
    let error = ada.call_route("math.add", json!({"a": "x"})).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::InvalidInput);
    assert_eq!(error.issues.len(), 2, "{error:?}");

    bob.close().await;
    let left = ada.event("presence.left").await;
    assert_eq!(left, json!({"userId": "bob", "rooms": ["r"]}));
}

#[tokio::test]
async fn on_connect_refusals_come_back_as_the_reject() {
    let server = conformance::app();
    let reject = server.test_client(headers("banned-eve")).await.unwrap_err();
    assert_eq!((reject.status(), reject.message()), (401, "User is banned"));
    server.handle().shutdown().await;
    let reject = server.test_client(headers("late")).await.unwrap_err();
    assert_eq!(reject.status(), 503);
}
