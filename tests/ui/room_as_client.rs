// A room name where client ids are expected, and a client id where room names are.
use zocket::{ClientId, Outgoing, Sender};

#[derive(Outgoing)]
enum Out {
    #[zocket(route = "chat.message")]
    Message { text: String },
}

async fn handler(send: Sender<Out>, id: ClientId) {
    let _ = send.emit(Out::Message { text: "hi".into() }).to("lobby");
    let _ = send.emit(Out::Message { text: "hi".into() }).to_room(&id);
}

fn main() {
    let _ = handler;
}
