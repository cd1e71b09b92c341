// An outgoing message without a route.
use zocket::Outgoing;

#[derive(Outgoing)]
enum Out {
    #[zocket(route = "fine")]
    Fine,
    Forgotten { text: String },
}

fn main() {}
