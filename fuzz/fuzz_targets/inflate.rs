//! See `zocket_fuzz::inflate`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zocket_fuzz::inflate::check(data));
