use zocket::Outgoing;

#[derive(Outgoing)]
enum Out {
    #[zocket(route = "chat..message")]
    A,
    #[zocket(route = "chat message")]
    B,
    #[zocket(route = "chat.__rpc_res")]
    C,
    #[zocket(route = "")]
    D,
    #[zocket(nest = "ns.")]
    E(Other),
    #[zocket(route = "é")]
    F,
}

#[derive(Outgoing)]
enum Other {
    #[zocket(route = "x")]
    X,
}

fn main() {}
