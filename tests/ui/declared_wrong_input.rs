// A handler for a declared route reads the declared input, nothing else.
use garde::Validate;
use serde::{Deserialize, Serialize};
use zocket::{Input, Route, Router, TS};

#[derive(Serialize, Deserialize, Validate, TS, Route)]
#[zocket(route = "math.add", reply = f64)]
#[garde(allow_unvalidated)]
struct Add {
    a: f64,
    b: f64,
}

#[derive(Serialize, Deserialize, Validate, TS)]
#[garde(allow_unvalidated)]
struct Greet {
    name: String,
}

async fn greet(Input(g): Input<Greet>) -> f64 {
    g.name.len() as f64
}

fn main() {
    let _ = Router::<()>::new().route(Add::ROUTE, greet);
}
