// A call's reply is the declared reply type: reading it as another does not compile.
use serde::{Deserialize, Serialize};
use zocket_client::{Client, RawEvent, Route};

#[derive(Serialize, Deserialize, Route)]
#[zocket(route = "math.add", reply = f64)]
struct Add {
    a: f64,
    b: f64,
}

async fn call(client: Client<RawEvent>, test: &mut zocket::testing::TestClient) {
    let sum: String = client.call(Add { a: 1.0, b: 2.0 }).await.unwrap();
    let sum: String = test.call(Add { a: 1.0, b: 2.0 }).await.unwrap();
}

fn main() {}
