// A handler for a declared route returns the declared reply.
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

async fn add_as_text(Input(sum): Input<Add>) -> String {
    (sum.a + sum.b).to_string()
}

fn main() {
    let _ = Router::<()>::new().route(Add::ROUTE, add_as_text);
}
