//! `zocket::testing`: in-memory clients run the real runtime against the conformance app.

#[path = "../examples/conformance.rs"]
#[allow(dead_code)]
mod conformance;

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

    assert_eq!(ada.call("math.add", json!({"a": 1, "b": 2})).await.unwrap(), 3.0);
    let whoami = bob.call("whoami", ()).await.unwrap();
    assert_eq!(whoami["clientId"], bob.id().as_str());

    ada.call("chat.message", json!({"text": "hi"})).await.unwrap();
    assert_eq!(bob.event("chat.onMessage").await, json!({"text": "hi", "from": "ada"}));
    assert_eq!(ada.event("chat.onMessage").await["from"], "ada");

    bob.call("rooms.join", json!({"room": "r"})).await.unwrap();
    ada.call("rooms.send", json!({"room": "r", "text": "in r"}))
        .await
        .unwrap();
    assert_eq!(bob.event("room.message").await["text"], "in r");

    let error = ada.call("math.add", json!({"a": "x"})).await.unwrap_err();
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
