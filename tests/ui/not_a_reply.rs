// A handler whose return value cannot be a reply (not serializable).
use zocket::Router;

struct Secret;

async fn handler() -> Secret {
    Secret
}

fn main() {
    let _ = Router::<(), ()>::new().route("x", handler);
}
