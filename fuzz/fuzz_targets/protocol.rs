//! See `zocket_fuzz::protocol`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zocket_fuzz::protocol::check(data));
