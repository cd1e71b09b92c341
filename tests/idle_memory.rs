//! What an idle connection holds on the heap, measured with a counting allocator: 200 real
//! loopback connections, each having made one call, against the same process before they
//! connected. The bound (issue 3: at most 4 KiB per idle connection, measured as server RSS by
//! `bench/run`) is checked here with the client side counted too, so that a buffer kept by
//! mistake (hyper's 8 KiB read buffer once was) fails a test, not only a benchmark.

#[path = "support/heap.rs"]
mod heap;
mod support;

use heap::live;

use serde_json::json;
use std::time::Duration;
use support::raw::{RawClient, TEXT, frame};
use zocket::{NoHeaders, NoOutgoing, Router, Zocket};

const CONNECTIONS: usize = 200;

async fn ping() -> &'static str {
    "pong"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_holds_under_five_kib_of_heap() {
    let zo = Zocket::<NoHeaders, NoOutgoing>::new();
    let (addr, handle) = support::start(zo.server(Router::new().route("ping", ping))).await;
    // Warm up what is made once per process (the runtime's, the router's, the first connection's).
    let mut first = RawClient::connect(addr, "/", "").await;
    call(&mut first).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = live();
    let mut clients = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let mut client = RawClient::connect(addr, "/", "").await;
        call(&mut client).await;
        clients.push(client);
    }
    assert_eq!(handle.client_count(), CONNECTIONS + 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let per = (live() - before) / CONNECTIONS as isize;
    println!("heap held per idle connection, server and client side: {per} B");
    assert!(per < 5 * 1024, "{per} B of heap per idle connection");
    drop(clients);
}

/// One call and its reply.
async fn call(client: &mut RawClient) {
    let message = json!({"type": "ping", "payload": null, "rpcId": "1"}).to_string();
    client.send(&frame(true, TEXT, message.as_bytes())).await;
    let reply = client.next(Duration::from_secs(5)).await.expect("a reply");
    assert!(String::from_utf8_lossy(&reply.payload).contains("pong"));
}
