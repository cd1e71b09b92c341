// Sending a message that the server's outgoing set does not declare.
use zocket::{Outgoing, Sender};

#[derive(Outgoing)]
enum Out {
    #[zocket(route = "system.announcement")]
    Announcement { text: String },
}

#[derive(serde::Serialize)]
struct Undeclared {
    text: String,
}

fn push(send: Sender<Out>) {
    let _ = send.emit(Undeclared { text: "nope".into() }).broadcast();
}

fn main() {}
