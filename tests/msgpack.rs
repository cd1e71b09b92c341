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

/// A MessagePack string, as the test builds frames by hand.
fn packed_str(text: &str) -> Vec<u8> {
    let mut out = vec![0xd9, text.len() as u8];
    out.extend_from_slice(text.as_bytes());
    out
}

#[tokio::test]
async fn msgpack_payloads_are_read_as_their_json_form_would_be() {
    let (addr, _handle) = support::start(conformance::app()).await;
    let (mut packed, _) = connect(&format!("ws://{addr}/?token=pack"), "zocket.v1.msgpack").await;
    let mut plain = support::Client::connect(&format!("ws://{addr}/?token=plain")).await;
    let pack = |value: &serde_json::Value| rmp_serde::to_vec_named(value).unwrap();
    // (route, MessagePack payload, the JSON form a JSON client sends)
    let cases: Vec<(&str, Vec<u8>, serde_json::Value)> = vec![
        ("math.add", pack(&json!({"a": 2, "b": 3.5})), json!({"a": 2, "b": 3.5})),
        // A struct is an object, never an array, in both codecs.
        ("math.add", pack(&json!([2, 3])), json!([2, 3])),
        // Fields named as the client spelled them, every failing rule.
        (
            "slow.echo",
            pack(&json!({"text": 7, "delayMs": 6000})),
            json!({"text": 7, "delayMs": 6000}),
        ),
        (
            "slow.echo",
            pack(&json!({"text": "x", "delayMs": 6000})),
            json!({"text": "x", "delayMs": 6000}),
        ),
        // Integer keys are not field names (serde would take them for field indexes).
        ("math.add", vec![0x82, 0x00, 0x02, 0x01, 0x03], json!({"0": 2, "1": 3})),
        // Binary is not a number.
        (
            "math.add",
            [vec![0x82], packed_str("a"), vec![0xc4, 1, 2], packed_str("b"), vec![1]].concat(),
            json!({"a": [2], "b": 1}),
        ),
        (
            "greet",
            pack(&json!({"name": "Pat", "extra": [1, {"x": null}]})),
            json!({"name": "Pat", "extra": [1, {"x": null}]}),
        ),
    ];
    for (n, (route, payload, json_form)) in cases.into_iter().enumerate() {
        let id = format!("p{n}");
        let frame = [
            vec![0x83],
            packed_str("type"),
            packed_str(route),
            packed_str("payload"),
            payload,
            packed_str("rpcId"),
            packed_str(&id),
        ]
        .concat();
        packed.send(Message::Binary(frame.into())).await.unwrap();
        let from_packed = next(&mut packed).await;
        let from_plain = plain.call(route, json_form.clone()).await;
        assert_eq!(from_packed["rpcId"], id.as_str());
        assert_eq!(
            (&from_packed["type"], &from_packed["payload"]),
            (&from_plain["type"], &from_plain["payload"]),
            "case {n}: {route} {json_form}"
        );
    }
}
