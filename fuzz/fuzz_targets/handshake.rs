//! See `zocket_fuzz::handshake`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zocket_fuzz::handshake::check(data));
