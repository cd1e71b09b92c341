//! See `zocket_fuzz::frames`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zocket_fuzz::frames::check(data));
