// Only a handler's last argument may read the payload.
use garde::Validate;
use serde::Deserialize;
use zocket::{ClientId, Input, Router, TS};

#[derive(Deserialize, Validate, TS)]
struct Greet {
    #[garde(length(min = 1))]
    name: String,
}

async fn handler(Input(_greet): Input<Greet>, _id: ClientId) {}

fn main() {
    let _ = Router::<()>::new().route("greet", handler);
}
