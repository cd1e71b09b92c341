// A typed call sends a declared route's input; anything else does not compile, on the socket
// client and on the in-memory test client alike.
use serde::Serialize;
use zocket_client::{Client, RawEvent};

#[derive(Serialize)]
struct NotARoute {
    a: f64,
}

async fn call(client: Client<RawEvent>, test: &mut zocket::testing::TestClient) {
    let _ = client.call(NotARoute { a: 1.0 }).await;
    let _ = client.call(serde_json::json!({"a": 1, "b": 2})).await;
    let _ = test.call(NotARoute { a: 1.0 }).await;
}

fn main() {}
