use zocket::Outgoing;

#[derive(Outgoing)]
enum Out<T> {
    #[zocket(route = "a")]
    A(T),
}

#[derive(Outgoing)]
enum Borrowed<'a> {
    #[zocket(route = "a")]
    A(&'a str),
}

fn main() {}
