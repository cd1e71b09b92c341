// An input type that skips validation rules entirely.
use zocket::{Input, Router};

#[derive(serde::Deserialize)]
struct Raw {
    text: String,
}

async fn handler(Input(raw): Input<Raw>) -> String {
    raw.text
}

fn main() {
    let _ = Router::<(), ()>::new().route("x", handler);
}
