use zocket::Outgoing;

#[derive(Outgoing)]
enum Inner {
    #[zocket(route = "x")]
    X,
}

#[derive(Outgoing)]
enum Out {
    #[zocket(route = "chat.message")]
    First,
    #[zocket(route = "chat.message")]
    Second(u32),
    #[zocket(nest = "inner")]
    A(Inner),
    #[zocket(nest = "inner")]
    B(Inner),
}

fn main() {}
