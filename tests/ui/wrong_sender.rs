// A handler asking for a sender of another server's messages.
use zocket::{Outgoing, Router, Sender};

#[derive(Outgoing)]
enum Out {
    #[zocket(route = "a.b")]
    A,
}

#[derive(Outgoing)]
enum Other {
    #[zocket(route = "c.d")]
    C,
}

async fn handler(_send: Sender<Other>) {}

fn main() {
    let _ = Router::<Out, ()>::new().route("x", handler);
}
