//! The TypeScript types generated from the examples' routers match the committed copies that
//! the TypeScript client's tests and the chat page compile against, so drift fails CI.
// Each example includes the shared `examples/support/run.rs` as its own module.
#![allow(clippy::duplicate_mod)]

#[path = "../examples/chat.rs"]
#[allow(dead_code)]
mod chat;
#[path = "../examples/conformance.rs"]
#[allow(dead_code)]
mod conformance;

use std::path::Path;

/// Compares `generated` with the committed file `committed` (relative to the repository root).
/// With `ZOCKET_UPDATE_TS=1` in the environment, rewrites the file instead.
fn check(generated: &str, committed: &str, example: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(committed);
    if std::env::var_os("ZOCKET_UPDATE_TS").is_some_and(|v| v == "1") {
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    if on_disk != generated {
        let line = (on_disk.lines().zip(generated.lines()))
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| on_disk.lines().count().min(generated.lines().count()));
        panic!(
            "{committed} is out of date with the Rust router (first difference at line {}).\n\
             Regenerate it with:\n    cargo run --example {example} -- --export-ts {committed}\n\
             or run this test with ZOCKET_UPDATE_TS=1.\n--- generated:\n{generated}",
            line + 1
        );
    }
}

#[tokio::test]
async fn conformance_types_are_up_to_date() {
    let generated = conformance::app().typescript();
    check(&generated, "clients/typescript/test/conformance.gen.ts", "conformance");
}

#[tokio::test]
async fn chat_types_are_up_to_date() {
    let generated = chat::app().typescript();
    check(&generated, "examples/chat/chat.gen.ts", "chat");
}
