// An input type with no TypeScript type: its route could not be exported to clients.
use zocket::{Input, Router};

#[derive(serde::Deserialize, garde::Validate)]
struct Greet {
    #[garde(length(min = 1))]
    name: String,
}

async fn handler(Input(greet): Input<Greet>) -> String {
    greet.name
}

fn main() {
    let _ = Router::<(), ()>::new().route("greet", handler);
}
