// A handler asking for a context the server does not have.
use zocket::{Ctx, Router};

struct User;
struct Admin;

async fn handler(_user: Ctx<Admin>) {}

fn main() {
    let _ = Router::<(), User>::new().route("x", handler);
}
