//! The checks behind the fuzz targets (`fuzz_targets/`), one module per target. They are plain
//! functions of the input bytes that panic on a disagreement, so the same code replays the
//! seed corpora and every crash found (`tests/fuzz_regressions/`) in the project's stable
//! `cargo test` (`tests/fuzz_regressions.rs` includes these files), with no nightly or
//! libFuzzer.
//!
//! The files name their outside crates through `crate::` (`crate::http`, `crate::tungstenite`, `crate::miniz_oxide`,
//! `crate::rmp_serde`)
//! so that each includer provides them: this crate re-exports its own, the test its own.

pub use ::http;
pub use ::miniz_oxide;
pub use ::rmp_serde;
pub use ::tungstenite;

pub mod frames;
pub mod handshake;
pub mod inflate;
pub mod protocol;
