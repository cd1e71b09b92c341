// A handler asking for state the server was not given.
use zocket::{NoHeaders, NoOutgoing, State, Zocket};

#[derive(Clone)]
struct App;

#[derive(Clone)]
struct Db;

async fn handler(State(_db): State<Db>) {}

fn main() {
    let zo = Zocket::<NoHeaders, NoOutgoing>::new().with_state(App);
    let _ = zo.router().route("x", handler);
}
