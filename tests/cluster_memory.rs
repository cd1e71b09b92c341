//! Three nodes of the conformance app on one in-process [`MemoryBus`]: the cluster logic
//! (exactly once, rooms following membership, questions) without Redis. The same checks
//! against a real Redis are in `tests/cluster.rs`.

#[path = "../examples/conformance.rs"]
#[allow(dead_code)]
mod conformance;
mod support;

use conformance::Out;
use serde_json::{Value, json};
use std::time::Duration;
use support::{Client, start};
use zocket::cluster::MemoryBus;
use zocket::{ClientId, Handle, Location};

const QUIET: Duration = Duration::from_millis(200);
const ASK: Duration = Duration::from_secs(2);

async fn nodes(count: usize) -> Vec<(String, Handle<Out>)> {
    let bus = MemoryBus::new();
    let mut nodes = Vec::new();
    for _ in 0..count {
        let backplane = bus.node();
        let (addr, handle) = start(conformance::app_with(|zo| zo.backplane(backplane))).await;
        nodes.push((format!("ws://{addr}/"), handle));
    }
    nodes
}

async fn client(node: &(String, Handle<Out>), token: &str) -> (Client, ClientId) {
    let mut client = Client::connect(&format!("{}?token={token}", node.0)).await;
    let id = client.ok("whoami", Value::Null).await["clientId"]
        .as_str()
        .unwrap()
        .into();
    (client, id)
}

#[tokio::test]
async fn sends_reach_every_node_exactly_once() {
    let nodes = nodes(3).await;
    let (mut ada, ada_id) = client(&nodes[0], "ada").await;
    let (mut bob, bob_id) = client(&nodes[1], "bob").await;
    let (mut cyd, cyd_id) = client(&nodes[2], "cyd").await;

    bob.ok("chat.message", json!({"text": "hi"})).await;
    for c in [&mut ada, &mut bob, &mut cyd] {
        assert_eq!(c.event("chat.onMessage").await, json!({"text": "hi", "from": "bob"}));
    }
    ada.ok("rooms.join", json!({"room": "r1"})).await;
    bob.ok("rooms.join", json!({"room": "r1"})).await;
    bob.ok("rooms.join", json!({"room": "r2"})).await;
    cyd.ok("rooms.join", json!({"room": "r2"})).await;
    // Every member of either room once, bob (in both) included; not the excepted one.
    let two = Out::Announcement { text: "r1+r2".into() };
    nodes[2]
        .1
        .emit(two)
        .except(&ada_id)
        .to_room(["r1", "r2", "r1"])
        .unwrap();
    for c in [&mut bob, &mut cyd] {
        assert_eq!(c.event("system.announcement").await, json!({"text": "r1+r2"}));
    }
    ada.ok("direct.send", json!({"to": cyd_id, "text": "psst"})).await;
    assert_eq!(
        cyd.event("chat.onMessage").await,
        json!({"text": "psst", "from": "ada"})
    );
    // A send to several ids, one local and one remote.
    let many = Out::Tick { n: 1 };
    nodes[1]
        .1
        .emit(many)
        .to(vec![bob_id.clone(), cyd_id.clone(), "nobody".into()])
        .unwrap();
    for c in [&mut bob, &mut cyd] {
        assert_eq!(c.event("system.tick").await, json!({"n": 1}));
    }
    bob.ok("rooms.leave", json!({"room": "r2"})).await;
    ada.ok("rooms.send", json!({"room": "r2", "text": "only cyd"})).await;
    assert_eq!(cyd.event("room.message").await["text"], "only cyd");
    for c in [&mut ada, &mut bob, &mut cyd] {
        c.silent(QUIET).await;
    }

    let cluster = nodes[0].1.cluster();
    assert!(cluster.is_up());
    let mut r1 = vec![ada_id.clone(), bob_id.clone()];
    r1.sort();
    assert_eq!(cluster.room_members("r1", ASK).await.unwrap(), r1);
    assert_eq!(cluster.room_size("r2", ASK).await.unwrap(), 1);
    let node_2 = nodes[2].1.cluster().node_id().cloned().unwrap();
    assert_eq!(
        cluster.locate(&cyd_id, ASK).await.unwrap(),
        Some(Location::Node(node_2))
    );
    assert_eq!(cluster.locate(&ada_id, ASK).await.unwrap(), Some(Location::Here));
    assert!(!cluster.is_connected(&"nobody".into(), ASK).await.unwrap());

    cyd.close().await;
    for c in [&mut ada, &mut bob] {
        assert_eq!(
            c.event("presence.left").await,
            json!({"userId": "cyd", "rooms": ["r2"]})
        );
    }
    assert_eq!(cluster.room_size("r2", ASK).await.unwrap(), 0);
}

#[tokio::test]
async fn a_single_node_answers_cluster_questions_from_memory() {
    let (addr, handle) = start(conformance::app_with(|zo| zo)).await;
    let mut ada = Client::connect(&format!("ws://{addr}/?token=ada")).await;
    let id: ClientId = ada.ok("whoami", Value::Null).await["clientId"].as_str().unwrap().into();
    ada.ok("rooms.join", json!({"room": "lobby"})).await;
    let cluster = handle.cluster();
    assert!(cluster.is_up() && cluster.node_id().is_none());
    assert_eq!(
        cluster.room_members("lobby", ASK).await.unwrap(),
        std::slice::from_ref(&id)
    );
    assert_eq!(cluster.locate(&id, ASK).await.unwrap(), Some(Location::Here));
    assert_eq!(cluster.locate(&"nobody".into(), ASK).await.unwrap(), None);
}
