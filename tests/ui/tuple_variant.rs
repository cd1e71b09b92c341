use zocket::Outgoing;

#[derive(Outgoing)]
enum Out {
    #[zocket(route = "pair")]
    Pair(u32, String),
}

fn main() {}
