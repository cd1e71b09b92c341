// A route declared without input (a unit struct) takes a handler that reads no payload.
use garde::Validate;
use serde::{Deserialize, Serialize};
use zocket::{Input, Route, Router, TS};

#[derive(Serialize, Route)]
#[zocket(route = "whoami", reply = String)]
struct Whoami;

#[derive(Serialize, Deserialize, Validate, TS)]
#[garde(allow_unvalidated)]
struct Name {
    name: String,
}

async fn whoami(Input(n): Input<Name>) -> String {
    n.name
}

fn main() {
    let _ = Router::<()>::new().route(Whoami::ROUTE, whoami);
}
