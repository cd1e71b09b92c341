//! The MessagePack codec end to end: a client that offers the `zocket.v1.msgpack` subprotocol
//! gets the same behaviour as a JSON client, in binary MessagePack frames, over real sockets.

#[path = "../examples/conformance.rs"]
#[allow(dead_code)]
mod conformance;
mod support;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::time::Duration;
use support::msgpack::{connect_offering as connect, next, send};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn msgpack_clients_get_the_same_behaviour_in_binary_frames() {
    let (addr, _handle) = support::start(conformance::app()).await;
    let url = format!("ws://{addr}/?token=ada");
    let (mut ws, chosen) = connect(&url, "zocket.v1.msgpack").await;
    assert_eq!(chosen.as_deref(), Some("zocket.v1.msgpack"));

    send(
        &mut ws,
        &json!({"type": "math.add", "payload": {"a": 2, "b": 3.5}, "rpcId": "m1"}),
    )
    .await;
    assert_eq!(
        next(&mut ws).await,
        json!({"type": "__rpc_res", "payload": 5.5, "rpcId": "m1"})
    );

    // Validation names the failing field, as for JSON clients.
    send(
        &mut ws,
        &json!({"type": "math.add", "payload": {"a": "x", "b": 1}, "rpcId": "m2"}),
    )
    .await;
    let error = next(&mut ws).await;
    assert_eq!(error["type"], "__rpc_err");
    assert_eq!(error["rpcId"], "m2");
    assert_eq!(error["payload"]["code"], "INVALID_INPUT");
    assert_eq!(error["payload"]["issues"][0]["path"], json!(["a"]));

    // Unknown routes and broken frames are answered, not dropped.
    send(&mut ws, &json!({"type": "nope", "rpcId": "m3"})).await;
    assert_eq!(next(&mut ws).await["payload"]["code"], "NOT_FOUND");
    ws.send(Message::Binary(vec![0xc1].into())).await.unwrap();
    let bad = next(&mut ws).await;
    assert_eq!(
        (bad["type"].as_str(), bad["payload"]["code"].as_str()),
        (Some("__error"), Some("BAD_REQUEST"))
    );
}

#[tokio::test]
async fn one_broadcast_reaches_json_and_msgpack_clients_each_in_its_codec() {
    let (addr, _handle) = support::start(conformance::app()).await;
    let (mut packed, _) = connect(&format!("ws://{addr}/?token=pack"), "zocket.v1.msgpack").await;
    let mut plain = support::Client::connect(&format!("ws://{addr}/?token=plain")).await;

    plain.ok("chat.message", json!({"text": "hello both"})).await;
    let expected = json!({"text": "hello both", "from": "plain"});
    assert_eq!(plain.event("chat.onMessage").await, expected);
    assert_eq!(
        next(&mut packed).await,
        json!({"type": "chat.onMessage", "payload": expected})
    );

    send(
        &mut packed,
        &json!({"type": "chat.message", "payload": {"text": "from pack"}}),
    )
    .await;
    assert_eq!(plain.event("chat.onMessage").await["from"], "pack");
    assert_eq!(next(&mut packed).await["payload"]["from"], "pack");
}

#[tokio::test]
async fn json_stays_the_default_and_can_be_asked_for() {
    let (addr, _handle) = support::start(conformance::app()).await;
    let (mut ws, chosen) = connect(&format!("ws://{addr}/?token=ada"), "other, zocket.v1.json").await;
    assert_eq!(chosen.as_deref(), Some("zocket.v1.json"));
    ws.send(Message::Text(
        r#"{"type":"greet","payload":{"name":"J"},"rpcId":"1"}"#.into(),
    ))
    .await
    .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        reply.into_text().unwrap().as_str(),
        r#"{"type":"__rpc_res","payload":"Hello, J!","rpcId":"1"}"#
    );
}
