//! Replays the fuzz targets' seed corpora (`fuzz/corpus/TARGET/`) and every input a fuzzer
//! found failing (`tests/fuzz_regressions/TARGET/`) through the very checks the targets run
//! (`fuzz/src/`, included here), on stable and without libFuzzer.

// The check files name their outside crates through `crate::`.
use axum::http;
#[allow(clippy::single_component_path_imports)]
use miniz_oxide;
#[cfg(feature = "msgpack")]
#[allow(clippy::single_component_path_imports)]
use rmp_serde;
use tokio_tungstenite::tungstenite;

#[path = "../fuzz/src/frames.rs"]
#[allow(dead_code, unreachable_pub)]
mod frames;
#[path = "../fuzz/src/handshake.rs"]
#[allow(dead_code, unreachable_pub)]
mod handshake;
#[path = "../fuzz/src/inflate.rs"]
#[allow(dead_code, unreachable_pub)]
mod inflate;
// The protocol target decodes MessagePack frames too.
#[cfg(feature = "msgpack")]
#[path = "../fuzz/src/protocol.rs"]
#[allow(dead_code, unreachable_pub)]
mod protocol;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

/// Runs `check` on every file of the target's seed corpus and regressions; all must pass.
fn replay(target: &str, check: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut inputs = 0;
    let mut failed = Vec::new();
    for dir in [root.join("fuzz/corpus"), root.join("tests/fuzz_regressions")] {
        let Ok(entries) = std::fs::read_dir(dir.join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            inputs += 1;
            if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
                failed.push(path.display().to_string());
            }
        }
    }
    assert!(inputs >= 5, "the {target} seeds are there ({inputs} inputs)");
    assert!(failed.is_empty(), "{target} fails on {failed:#?}");
}

#[test]
fn frame_parser_inputs_pass() {
    replay("frame_parser", frames::check);
}

#[test]
fn inflate_inputs_pass() {
    replay("inflate", inflate::check);
}

#[test]
fn handshake_inputs_pass() {
    replay("handshake", handshake::check);
}

#[cfg(feature = "msgpack")]
#[test]
fn protocol_inputs_pass() {
    replay("protocol", protocol::check);
}
